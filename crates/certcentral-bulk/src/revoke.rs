//! `--revoke-removed`: revokes the orders the journal holds for people no longer on the
//! roster (identity: the journal's row key), the leavers of the yearly cycle.
//!
//! Destructive, so guarded: a roster with invalid rows is refused (a row that cannot be read
//! may be a person still there); a real run needs `--yes`; more candidates than
//! `--max-revocations` refuses the whole step (a truncated roster must not wipe out an
//! organization); `--dry-run` lists them and sends nothing. Each revocation is journaled
//! (`revoke_pending`, synced to disk) before it is sent; a row found `revoke_pending` (a
//! crash, a lost answer) is looked up in the order info first and never sent again when the
//! order is revoked or a revoke request exists.

use serde::Serialize;

use super::BulkError;
use super::api::{ApiFailure, BulkApi, RevokeOutcome, revocation_in};
use super::exec::StopHandle;
use super::journal::{Journal, Removed, RowState, Update};

/// The comment sent with each revocation.
pub(crate) const COMMENT: &str = "certcentral bulk --revoke-removed: no longer on the roster";

/// Default of `--max-revocations`.
pub const DEFAULT_MAX: u64 = 10;

/// How `--revoke-removed` behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeOptions {
    /// `--yes`: a real run revokes without asking (without it, it refuses).
    pub yes: bool,
    /// `--max-revocations`: more candidates than this refuses the whole step.
    pub max: u64,
    /// `--skip-approval`: revoke at once (administrator keys) instead of a revoke request.
    pub skip_approval: bool,
}

/// One revocation of a run (or of a dry run's list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevokeLine {
    /// The journaled row and its order.
    #[serde(flatten)]
    pub row: Removed,
    /// The row's state after the run: `revoked`, `revoke_requested`, or `revoke_pending`
    /// (not settled: see `error`; a rerun looks it up before sending anything). In a dry
    /// run, the state it has now.
    pub result: RowState,
    /// The revoke request waiting for approval, when one was made.
    pub request_id: Option<i64>,
    /// Why it is not settled.
    pub error: Option<String>,
    /// What became of the order the row's order renews (`revoked`, `revoke_requested`, or
    /// `ended`: its certificate is past its end, nothing to revoke), when there is one.
    pub renewed_order: Option<String>,
}

/// Refuses the revocation step, before anything is ordered or sent, when it must not run:
/// invalid roster rows, no `--yes` on a real run, or more candidates than `--max-revocations`.
pub(crate) fn check(
    removed: &[Removed],
    opts: &RevokeOptions,
    invalid: u64,
    dry_run: bool,
) -> Result<(), BulkError> {
    if dry_run || removed.is_empty() {
        return Ok(());
    }
    let n = removed.len();
    if invalid > 0 {
        return Err(BulkError::Usage(format!(
            "--revoke-removed: the roster has {invalid} invalid row(s); a row that cannot be read may be a person still there, so nothing is revoked (fix the rows first; {n} certificate(s) would be revoked)"
        )));
    }
    if n as u64 > opts.max {
        return Err(BulkError::Usage(format!(
            "--revoke-removed: {n} certificate(s) belong to people no longer on the roster, more than --max-revocations {}; nothing was revoked. Check the roster is complete (see them with --dry-run), then raise --max-revocations if they all left",
            opts.max
        )));
    }
    if !opts.yes {
        return Err(BulkError::Usage(format!(
            "--revoke-removed would revoke {n} certificate(s) of people no longer on the roster; revocation cannot be undone: list them with --dry-run, then rerun with --yes"
        )));
    }
    Ok(())
}

/// The lines of a dry run: each candidate as it stands.
pub(crate) fn planned(removed: Vec<Removed>) -> Vec<RevokeLine> {
    removed
        .into_iter()
        .map(|row| RevokeLine {
            result: row.state,
            row,
            request_id: None,
            error: None,
            renewed_order: None,
        })
        .collect()
}

/// Revokes every `removed` row's order, each journaled before it is sent; stops early when
/// `stop` is set (what is journaled is looked up by the next run).
pub(crate) async fn revoke_all<A: BulkApi>(
    api: &A,
    journal: &mut Journal,
    removed: Vec<Removed>,
    opts: &RevokeOptions,
    stop: &StopHandle,
) -> Result<Vec<RevokeLine>, BulkError> {
    let mut lines = Vec::with_capacity(removed.len());
    for row in removed {
        if stop.is_interrupted() {
            break;
        }
        let line = revoke_one(api, journal, row, opts).await?;
        lines.push(line);
    }
    Ok(lines)
}

async fn revoke_one<A: BulkApi>(
    api: &A,
    journal: &mut Journal,
    row: Removed,
    opts: &RevokeOptions,
) -> Result<RevokeLine, BulkError> {
    let pending = row.state == RowState::RevokePending;
    if !pending {
        journal.commit_durable([Update::RevokeIntent {
            key: row.row_id.clone(),
        }])?;
    }
    // The order a renewal replaced may still hold a valid certificate: revoked too (always
    // looked up first, so a rerun never sends it twice).
    let mut renewed_order = None;
    if let Some(old) = row.renewal_of {
        match revoke_renewed(api, old, opts).await {
            Ok(what) => renewed_order = Some(what),
            Err(error) => return unsettled(journal, row, error),
        }
    }
    let mut line = revoke_current(api, journal, row, opts, pending).await?;
    line.renewed_order = renewed_order;
    Ok(line)
}

/// Revokes order `old` (an order a renewal replaced) unless it is revoked already, a
/// revoke request exists, or its certificate has ended; says which.
async fn revoke_renewed<A: BulkApi>(
    api: &A,
    old: i64,
    opts: &RevokeOptions,
) -> Result<String, String> {
    let said = |done: RevokeOutcome| match done {
        RevokeOutcome::Revoked => format!("order {old}: revoked"),
        RevokeOutcome::Requested(Some(id)) => format!("order {old}: revoke request {id}"),
        RevokeOutcome::Requested(None) => format!("order {old}: revoke requested"),
    };
    let look = |e: ApiFailure| {
        format!("looking up order {old} (the order renewed) failed ({e}); nothing sent")
    };
    let info = api.order_info(old).await.map_err(look)?;
    if let Some(done) = revocation_in(&info) {
        return Ok(said(done));
    }
    let ended = info
        .certificate
        .as_ref()
        .and_then(|c| c.valid_till.as_deref())
        .and_then(certcentral_client::parse_server_time)
        .is_some_and(|end| end < chrono::Utc::now());
    if ended || info.status != Some(certcentral_types::OrderStatus::Issued) {
        return Ok(format!("order {old}: ended, nothing to revoke"));
    }
    match api.revoke_order(old, COMMENT, opts.skip_approval).await {
        Ok(done) => Ok(said(done)),
        Err(e) => match api
            .order_info(old)
            .await
            .ok()
            .and_then(|i| revocation_in(&i))
        {
            Some(done) => Ok(said(done)),
            None => Err(format!(
                "revocation of order {old} (the order renewed): {e}; a rerun looks it up first"
            )),
        },
    }
}

/// Revokes the row's current order (journaled `revoke_pending` by the caller).
async fn revoke_current<A: BulkApi>(
    api: &A,
    journal: &mut Journal,
    row: Removed,
    opts: &RevokeOptions,
    pending: bool,
) -> Result<RevokeLine, BulkError> {
    let order_id = row.order_id;
    if pending {
        // Journaled before: it may have been sent. Look first, never send twice.
        match api.order_info(order_id).await {
            Ok(info) => {
                if let Some(done) = revocation_in(&info) {
                    return settle(journal, row, done);
                }
            }
            Err(e) => {
                return unsettled(
                    journal,
                    row,
                    format!(
                        "looking up order {order_id} before revoking it again failed ({e}); nothing sent"
                    ),
                );
            }
        }
    }
    match api
        .revoke_order(order_id, COMMENT, opts.skip_approval)
        .await
    {
        Ok(done) => settle(journal, row, done),
        Err(e) => {
            // A refusal may mean it is done already (revoked, a request pending); an unknown
            // outcome may have been processed: the order info tells.
            let found = api
                .order_info(order_id)
                .await
                .ok()
                .and_then(|info| revocation_in(&info));
            match found {
                Some(done) => settle(journal, row, done),
                None => {
                    let what = match e {
                        ApiFailure::Unknown { .. } => {
                            "outcome unknown; a rerun looks it up before sending anything"
                        }
                        _ => "not revoked; a rerun tries again",
                    };
                    unsettled(
                        journal,
                        row,
                        format!("revocation of order {order_id}: {e} ({what})"),
                    )
                }
            }
        }
    }
}

fn settle(
    journal: &mut Journal,
    row: Removed,
    done: RevokeOutcome,
) -> Result<RevokeLine, BulkError> {
    let (requested, request_id) = match done {
        RevokeOutcome::Revoked => (false, None),
        RevokeOutcome::Requested(id) => (true, id),
    };
    journal.commit([Update::RevokeDone {
        key: row.row_id.clone(),
        request_id,
        requested,
    }])?;
    Ok(RevokeLine {
        result: if requested {
            RowState::RevokeRequested
        } else {
            RowState::Revoked
        },
        row,
        request_id,
        error: None,
        renewed_order: None,
    })
}

fn unsettled(journal: &mut Journal, row: Removed, error: String) -> Result<RevokeLine, BulkError> {
    journal.commit([Update::Note {
        key: row.row_id.clone(),
        error: error.clone(),
    }])?;
    Ok(RevokeLine {
        row,
        result: RowState::RevokePending,
        request_id: None,
        error: Some(error),
        renewed_order: None,
    })
}
