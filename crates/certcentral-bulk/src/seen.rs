//! What staging remembers about the rows staged so far, for the checks that compare roster
//! rows with each other: the same identity or output name as an earlier row (refused), an
//! email shared with an earlier row (held back as a possible duplicate).
//!
//! Staging used to enforce these with unique indexes on the staging tables. Their keys are
//! digests, so every insert landed on a random index page: a 512-row batch dirtied, journaled
//! and wrote back hundreds of pages, and that was most of a dry run's staging time. Now each
//! staged row leaves 32-bit fingerprints here (12 bytes a row, 8 an email), and
//! [`crate::journal::Journal::finish_staging`] compares them once, over the whole roster: rows
//! sharing a fingerprint are only candidates, compared again on their exact text in roster
//! order, so a fingerprint collision costs a lookup and never a wrong answer.

use std::hash::{BuildHasher, RandomState};

/// A staged row: its roster row number and the fingerprints of its identity and output name
/// (12 bytes: a roster of more than `u32::MAX` rows is refused).
#[derive(Clone, Copy, Debug)]
struct SeenRow {
    row: u32,
    key: u32,
    name: u32,
}

/// The rows staged in this run, in staging (roster) order.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Seeded per run, so no roster can be written to collide on purpose.
    hasher: RandomState,
    rows: Vec<SeenRow>,
    /// Whether each row is still to be ordered (only those are held back): one bit a row.
    to_order: Vec<u64>,
    /// Every normalized email of every row: (fingerprint, index in `rows`).
    emails: Vec<(u32, u32)>,
    /// Rows (index in `rows`) with an email that a journaled row of an earlier run already
    /// ordered: the email's position among the row's normalized emails, and the hold reason.
    ordered: Vec<(u32, usize, String)>,
    /// Rows refused at the end of staging ([`Seen::refuse`]): one bit a row. They take no
    /// identity, name or email from the rows after them.
    refused: Vec<u64>,
}

/// A row index of [`Seen`].
pub(crate) type Index = u32;

impl Seen {
    fn fingerprint(&self, text: &str) -> u32 {
        // The low half of a 64-bit SipHash: evenly spread.
        self.hasher.hash_one(text) as u32
    }

    /// Remembers a staged row: its row number, identity `key`, output `name`, whether it is
    /// still to be ordered and its normalized `emails`. Returns its index (`None` past
    /// `u32::MAX` rows).
    pub(crate) fn add(
        &mut self,
        row: u64,
        (key, name): (&str, &str),
        to_order: bool,
        emails: &[String],
    ) -> Option<Index> {
        let index = Index::try_from(self.rows.len()).ok()?;
        self.rows.push(SeenRow {
            row: u32::try_from(row).ok()?,
            key: self.fingerprint(key),
            name: self.fingerprint(name),
        });
        set_bit(&mut self.to_order, index, to_order);
        for email in emails {
            let fingerprint = self.fingerprint(email);
            self.emails.push((fingerprint, index));
        }
        Some(index)
    }

    /// Notes that the email at `position` of row `index`'s normalized emails belongs to a
    /// row already ordered (the first such email of the row), with the hold `reason`. Noted
    /// for the row added last.
    pub(crate) fn ordered_email(&mut self, index: Index, position: usize, reason: String) {
        debug_assert!(self.ordered.last().is_none_or(|(i, ..)| *i < index));
        self.ordered.push((index, position, reason));
    }

    /// The roster row number of row `index`.
    pub(crate) fn row(&self, index: Index) -> u64 {
        u64::from(self.rows[index as usize].row)
    }

    /// Whether row `index` is still to be ordered.
    pub(crate) fn to_order(&self, index: Index) -> bool {
        bit(&self.to_order, index)
    }

    /// Whether row `index` is still staged (not refused).
    fn kept(&self, index: Index) -> bool {
        !bit(&self.refused, index)
    }

    /// The first email of row `index` already ordered by another journaled row: its
    /// position among the row's normalized emails, and the hold reason.
    pub(crate) fn ordered_of(&self, index: Index) -> Option<(usize, &str)> {
        // Noted right after each row is added: sorted by index.
        let at = self
            .ordered
            .binary_search_by_key(&index, |(i, ..)| *i)
            .ok()?;
        let (_, position, reason) = &self.ordered[at];
        Some((*position, reason.as_str()))
    }

    /// The rows still staged that may repeat an earlier row's identity or output name (they
    /// share a fingerprint with another such row), in staging order.
    pub(crate) fn identity_candidates(&self) -> Vec<Index> {
        let rows = || (0..).zip(&self.rows).filter(|(i, _)| self.kept(*i));
        let mut out = shared(rows().map(|(i, r)| (r.key, i)));
        out.extend(shared(rows().map(|(i, r)| (r.name, i))));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The rows still staged that may share an email with another such row, or hold one
    /// already ordered, in staging order.
    pub(crate) fn email_candidates(&self) -> Vec<Index> {
        let mut out = shared(self.emails.iter().copied().filter(|(_, i)| self.kept(*i)));
        out.extend(
            self.ordered
                .iter()
                .map(|(i, ..)| *i)
                .filter(|i| self.kept(*i)),
        );
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Marks the rows `refused` (indexes): the candidates leave them out from now on.
    pub(crate) fn refuse(&mut self, refused: &[Index]) {
        for &index in refused {
            set_bit(&mut self.refused, index, true);
        }
    }
}

/// Bit `index` of `bits` (unset past its end).
fn bit(bits: &[u64], index: Index) -> bool {
    bits.get(index as usize / 64)
        .is_some_and(|word| word & (1 << (index % 64)) != 0)
}

/// Sets bit `index` of `bits` (grown as needed) to `value`.
fn set_bit(bits: &mut Vec<u64>, index: Index, value: bool) {
    let word = index as usize / 64;
    if bits.len() <= word {
        bits.resize(word + 1, 0);
    }
    let mask = 1 << (index % 64);
    if value {
        bits[word] |= mask;
    } else {
        bits[word] &= !mask;
    }
}

/// The indexes of the `(fingerprint, index)` pairs whose fingerprint another index shares.
fn shared(pairs: impl Iterator<Item = (u32, Index)>) -> Vec<Index> {
    let mut pairs: Vec<(u32, Index)> = pairs.collect();
    pairs.sort_unstable();
    let mut out = Vec::new();
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        if group.iter().any(|p| p.1 != group[0].1) {
            out.extend(group.iter().map(|p| p.1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(list: &[&str]) -> Vec<String> {
        list.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn only_rows_sharing_a_fingerprint_are_candidates() {
        let mut seen = Seen::default();
        seen.add(1, ("k1", "a"), true, &emails(&["a@example.com"]));
        seen.add(2, ("k2", "b"), true, &emails(&["b@example.com"]));
        seen.add(
            4,
            ("k1", "c"),
            true,
            &emails(&["c@example.com", "a@example.com"]),
        );
        seen.add(5, ("k5", "b"), false, &emails(&["e@example.com"]));
        seen.add(6, ("k6", "f"), true, &emails(&["f@example.com"]));
        assert_eq!(seen.identity_candidates(), vec![0, 1, 2, 3]);
        assert_eq!(seen.email_candidates(), vec![0, 2]);
        seen.ordered_email(4, 0, "held".into());
        assert_eq!(seen.email_candidates(), vec![0, 2, 4]);
        assert_eq!(seen.ordered_of(4), Some((0, "held")));
        assert_eq!(seen.row(2), 4);
        assert!(!seen.to_order(3));
    }

    #[test]
    fn refused_rows_are_left_out() {
        let mut seen = Seen::default();
        seen.add(1, ("k1", "a"), true, &emails(&["a@example.com"]));
        seen.add(2, ("k1", "b"), true, &emails(&["a@example.com"]));
        seen.add(3, ("k3", "c"), false, &emails(&["c@example.com"]));
        seen.ordered_email(2, 0, "held".into());
        seen.add(4, ("k4", "d"), true, &emails(&["d@example.com"]));
        seen.ordered_email(3, 0, "held".into());
        seen.refuse(&[1, 3]);
        assert_eq!(seen.identity_candidates(), Vec::<Index>::new());
        assert_eq!(seen.email_candidates(), vec![2]);
        assert_eq!((seen.row(0), seen.row(2)), (1, 3));
        assert!(seen.to_order(0) && !seen.to_order(2));
        assert_eq!(seen.ordered_of(2), Some((0, "held")));
    }
}
