//! Reconciliation: rows whose order POST has an unknown outcome are looked up in the API
//! (the client's one matching rule) and resolved to the order found, to "never ordered"
//! (ordered again) or to ambiguous (reported, never ordered again).

use std::collections::HashSet;
use std::sync::Arc;

use certcentral_types::OrderInfo;
use chrono::Utc;

use super::{Pages, Shared, parse_time};
use crate::BulkError;
use crate::api::{ApiFailure, BulkApi};
use crate::journal::{Class, Entry, Update};

fn normalize_pem(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether `info`, a candidate the client's [`certcentral_client::Client::find_recent_orders`]
/// matched (product, common name, emails, creation time: the client's one rule), can be the
/// order placed for `entry`: it also carries the CSR recorded with the intent, when the
/// server shows one (the client does not know the CSR).
fn same_csr(entry: &Entry, info: &OrderInfo) -> bool {
    match (
        info.certificate.as_ref().and_then(|c| c.csr.as_ref()),
        &entry.csr,
    ) {
        (Some(theirs), Some(ours)) => normalize_pem(theirs) == normalize_pem(ours),
        _ => true,
    }
}

/// One reconciliation pass over the rows whose outcome is unknown.
pub(super) struct Reconciler<'a, A> {
    shared: &'a Arc<Shared<A>>,
    /// Rows found ambiguous in this run: not looked up again.
    ambiguous: &'a mut HashSet<String>,
}

impl<'a, A: BulkApi> Reconciler<'a, A> {
    pub(super) fn new(shared: &'a Arc<Shared<A>>, ambiguous: &'a mut HashSet<String>) -> Self {
        Self { shared, ambiguous }
    }

    /// Looks up every row to reconcile and journals what was found.
    pub(super) async fn run(mut self) -> Result<(), BulkError> {
        let mut pages = Pages::new(Class::Reconcile);
        while let Some(page) = pages.next(self.shared).await? {
            for entry in page {
                if self.shared.must_stop() {
                    return Ok(());
                }
                if self.ambiguous.contains(&entry.spec.key) {
                    continue;
                }
                let Some(update) = self.row(&entry).await? else {
                    // Left as it was (outcome unknown): the next run looks it up again.
                    return Ok(());
                };
                self.shared.journal(move |j| j.commit([update])).await?;
            }
            self.shared.tick(false).await;
        }
        Ok(())
    }

    /// What the lookup says about `entry`; `None` when the run must stop (the API is
    /// unreachable).
    async fn row(&mut self, entry: &Entry) -> Result<Option<Update>, BulkError> {
        // Created no earlier than the intent: the client allows for clock skew
        // (`CLOCK_SKEW_ALLOWANCE`), once.
        let since = entry
            .intent_at
            .as_deref()
            .and_then(parse_time)
            .unwrap_or_else(Utc::now);
        // Look for exactly what the order POST carried (the roster's spelling may have
        // changed since; the identity ignores case and spacing, the server does not).
        let (common_name, emails) = entry
            .sent
            .clone()
            .unwrap_or_else(|| (entry.spec.common_name.clone(), entry.spec.emails.clone()));
        let product = entry
            .sent_product
            .as_deref()
            .unwrap_or(entry.spec.product_name());
        let found = self
            .shared
            .api
            .find_recent_orders(product, &common_name, &emails, since)
            .await;
        self.shared.observe(&found);
        if matches!(found, Err(ApiFailure::Unreachable { .. })) && self.shared.must_stop() {
            return Ok(None);
        }
        let key = entry.spec.key.clone();
        let update = match found {
            Err(e) => self.ambiguous(
                key,
                format!(
                    "the order POST outcome is unknown and looking it up failed ({e}); not ordered again"
                ),
            ),
            Ok(orders) => {
                let candidates = self.candidates(entry, orders).await?;
                self.verdict(key, candidates)
            }
        };
        Ok(Some(update))
    }

    /// The orders found that can be `entry`'s: its CSR, and not another row's order.
    async fn candidates(
        &self,
        entry: &Entry,
        orders: Vec<OrderInfo>,
    ) -> Result<Vec<OrderInfo>, BulkError> {
        let orders: Vec<OrderInfo> = orders
            .into_iter()
            .filter(|info| same_csr(entry, info))
            .collect();
        self.shared
            .journal(move |j| {
                let mut candidates = Vec::new();
                for info in orders {
                    if !j.order_known(info.id)? {
                        candidates.push(info);
                    }
                }
                Ok(candidates)
            })
            .await
    }

    /// The row's update for the `candidates` found: none (ordered again), one (this order),
    /// more (ambiguous).
    fn verdict(&mut self, key: String, candidates: Vec<OrderInfo>) -> Update {
        match candidates.as_slice() {
            [] => {
                self.shared.stat(|s| s.reconciled_absent += 1);
                Update::Retry { key }
            }
            [info] => {
                self.shared.stat(|s| s.reconciled_found += 1);
                Update::Ordered {
                    key,
                    order_id: info.id,
                    request_ids: info.requests.iter().map(|r| r.id).collect(),
                    request_status: info
                        .requests
                        .first()
                        .and_then(|r| r.status.as_ref())
                        .map(|s| s.as_str().to_owned()),
                    order_status: info.status.as_ref().map(|s| s.as_str().to_owned()),
                    certificate_id: info.certificate.as_ref().and_then(|c| c.id),
                }
            }
            more => {
                let ids = more
                    .iter()
                    .map(|o| o.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let n = more.len();
                self.ambiguous(
                    key,
                    format!(
                        "the order POST outcome is unknown and {n} matching orders exist ({ids}); not ordered again: check them in CertCentral"
                    ),
                )
            }
        }
    }

    /// Marks row `key` ambiguous in this run: reported, never ordered again.
    fn ambiguous(&mut self, key: String, error: String) -> Update {
        self.ambiguous.insert(key.clone());
        self.shared.stat(|s| s.reconciled_ambiguous += 1);
        Update::Unknown { key, error }
    }
}
