//! Ordering, the [`Order`] handle, polling and reconciliation.

use std::time::Duration;

use certcentral_types::{
    ChainCertificate, DownloadFormat, OrderBody, OrderInfo, OrderRequest, OrderRequestRef,
    OrderResponse, OrderStatus, OrderStatusChange, OrderStatusUpdate, ProductId, RequestDecision,
    RequestStatus, RequestStatusUpdate,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::Client;
use crate::endpoints::ListOrdersFilters;
use crate::error::{Error, UnknownOutcome};

/// How [`Order::wait_until_issued`] polls: exponential backoff with a cap and a deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    /// Wait before the second look (the first is immediate).
    pub initial_interval: Duration,
    /// Longest wait between two looks.
    pub max_interval: Duration,
    /// Factor applied to the wait after each look (at least 1).
    pub multiplier: f64,
    /// Total time to wait before giving up with [`WaitOutcome::Pending`].
    pub deadline: Duration,
}

impl Default for PollPolicy {
    /// First look at once, then 2 s, 4 s, 8 s… capped at 60 s, for at most 15 minutes.
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(60),
            multiplier: 2.0,
            deadline: Duration::from_secs(15 * 60),
        }
    }
}

impl PollPolicy {
    /// The same policy with another deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    fn next_interval(&self, current: Duration) -> Duration {
        let factor = if self.multiplier.is_finite() && self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        current.mul_f64(factor).min(self.max_interval)
    }
}

/// How waiting for an order ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOutcome {
    /// The certificate is issued and can be downloaded.
    Issued {
        /// The order id.
        order_id: i64,
        /// The certificate id, when the server reported it.
        certificate_id: Option<i64>,
    },
    /// The deadline passed first; resume later with [`Client::order`] and this id.
    Pending {
        /// The order id.
        order_id: i64,
        /// The last status seen.
        status: Option<OrderStatus>,
    },
    /// The order (or its request) was rejected.
    Rejected {
        /// The order id.
        order_id: i64,
    },
    /// The order was canceled.
    Canceled {
        /// The order id.
        order_id: i64,
    },
    /// The order reached another final status (revoked, expired).
    Ended {
        /// The order id.
        order_id: i64,
        /// The final status.
        status: OrderStatus,
    },
}

impl WaitOutcome {
    /// The final outcome of order `order_id` as the server shows it (its status, certificate
    /// id and its requests' statuses), `None` while it is not final: issued, rejected (the
    /// order, or every request), canceled, or ended (revoked, expired). The one rule for
    /// "is this order settled?": [`Order::wait_until_issued`] and bulk ordering use it.
    pub fn from_status<'a>(
        order_id: i64,
        status: Option<&OrderStatus>,
        certificate_id: Option<i64>,
        request_statuses: impl IntoIterator<Item = Option<&'a RequestStatus>>,
    ) -> Option<Self> {
        match status {
            Some(OrderStatus::Issued) => {
                return Some(Self::Issued {
                    order_id,
                    certificate_id,
                });
            }
            Some(OrderStatus::Rejected) => return Some(Self::Rejected { order_id }),
            Some(OrderStatus::Canceled) => return Some(Self::Canceled { order_id }),
            Some(status @ (OrderStatus::Revoked | OrderStatus::Expired)) => {
                return Some(Self::Ended {
                    order_id,
                    status: status.clone(),
                });
            }
            _ => {}
        }
        let mut requests = request_statuses.into_iter().peekable();
        let all_rejected =
            requests.peek().is_some() && requests.all(|r| r == Some(&RequestStatus::Rejected));
        all_rejected.then_some(Self::Rejected { order_id })
    }

    /// The order id.
    pub fn order_id(&self) -> i64 {
        match self {
            Self::Issued { order_id, .. }
            | Self::Pending { order_id, .. }
            | Self::Rejected { order_id }
            | Self::Canceled { order_id }
            | Self::Ended { order_id, .. } => *order_id,
        }
    }

    /// Whether the certificate was issued.
    pub fn is_issued(&self) -> bool {
        matches!(self, Self::Issued { .. })
    }
}

/// A handle on one order: its id, requests, certificate id and last known status.
///
/// Obtained from [`Client::order_client_certificate`] or, for an existing order, from
/// [`Client::order`].
#[derive(Clone, Debug)]
pub struct Order {
    client: Client,
    id: i64,
    requests: Vec<OrderRequestRef>,
    certificate_id: Option<i64>,
    status: Option<OrderStatus>,
    certificate_chain: Vec<ChainCertificate>,
    info: Option<OrderInfo>,
}

impl Order {
    fn from_response(client: Client, response: OrderResponse) -> Self {
        // A `201` carrying the chain (immediate issuance) is an issued order: nothing needs
        // polling or downloading.
        let issued = chain_pem(&response.certificate_chain).is_some();
        Self {
            client,
            id: response.id,
            requests: response.requests,
            certificate_id: response.certificate_id,
            status: issued.then_some(OrderStatus::Issued),
            certificate_chain: response.certificate_chain,
            info: None,
        }
    }

    fn from_info(client: Client, info: OrderInfo) -> Self {
        let mut order = Self {
            client,
            id: info.id,
            requests: Vec::new(),
            certificate_id: None,
            status: None,
            certificate_chain: Vec::new(),
            info: None,
        };
        order.apply(info);
        order
    }

    fn apply(&mut self, info: OrderInfo) {
        if !info.requests.is_empty() {
            self.requests = info
                .requests
                .iter()
                .map(|r| OrderRequestRef {
                    id: r.id,
                    status: r.status.clone(),
                })
                .collect();
        }
        if let Some(id) = info.certificate.as_ref().and_then(|c| c.id) {
            self.certificate_id = Some(id);
        }
        if info.status.is_some() {
            self.status = info.status.clone();
        }
        self.info = Some(info);
    }

    /// The order id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The order's requests with their last known status.
    pub fn requests(&self) -> &[OrderRequestRef] {
        &self.requests
    }

    /// The certificate id, once known (approved requests).
    pub fn certificate_id(&self) -> Option<i64> {
        self.certificate_id
    }

    /// The order status from the last [`Order::refresh`] (`None` right after ordering: the
    /// order response carries only request statuses).
    pub fn status(&self) -> Option<&OrderStatus> {
        self.status.as_ref()
    }

    /// The issued chain, when the order response included one (immediate issuance).
    pub fn certificate_chain(&self) -> &[ChainCertificate] {
        &self.certificate_chain
    }

    /// The issued certificate and its chain as PEM (leaf first), when the order response
    /// carried them (`certificate_chain` in a `201`: immediate issuance); no request is made.
    pub fn issued_pem(&self) -> Option<String> {
        chain_pem(&self.certificate_chain)
    }

    /// The full order details from the last [`Order::refresh`].
    pub fn info(&self) -> Option<&OrderInfo> {
        self.info.as_ref()
    }

    /// The client this handle uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetches the order's details and updates the handle.
    pub async fn refresh(&mut self) -> Result<&OrderInfo, Error> {
        let info = self.client.order_info(self.id).await?;
        self.apply(info);
        self.info
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("order details missing after refresh".into()))
    }

    /// Polls until the order is issued, ends otherwise, or `policy.deadline` passes
    /// ([`WaitOutcome::Pending`], carrying the id to resume with). A server `Retry-After`
    /// lengthens the next wait; transient failures (rate limits, 5xx, network) are polled
    /// through until the deadline.
    pub async fn wait_until_issued(&mut self, policy: &PollPolicy) -> Result<WaitOutcome, Error> {
        // Issued at once (the order response carried the chain): no request needed.
        if self.issued_pem().is_some()
            && let Some(outcome) = self.final_outcome()
        {
            return Ok(outcome);
        }
        let start = tokio::time::Instant::now();
        let mut interval = policy.initial_interval;
        loop {
            let mut wait = interval;
            match self.refresh().await {
                Ok(_) => {
                    if let Some(outcome) = self.final_outcome() {
                        return Ok(outcome);
                    }
                }
                Err(Error::RateLimited { retry_after }) => {
                    wait = retry_after.unwrap_or(interval).max(interval);
                }
                Err(err) if err.is_retryable() => {
                    tracing::debug!(order_id = self.id, error = %err, "poll failed; will retry");
                }
                Err(err) => return Err(err),
            }
            let elapsed = start.elapsed();
            if elapsed >= policy.deadline {
                return Ok(WaitOutcome::Pending {
                    order_id: self.id,
                    status: self.status.clone(),
                });
            }
            tokio::time::sleep(wait.min(policy.deadline - elapsed)).await;
            interval = policy.next_interval(interval);
        }
    }

    /// The outcome if the last known state is final ([`WaitOutcome::from_status`]).
    fn final_outcome(&self) -> Option<WaitOutcome> {
        WaitOutcome::from_status(
            self.id,
            self.status.as_ref(),
            self.certificate_id,
            self.requests.iter().map(|r| r.status.as_ref()),
        )
    }

    /// Requests a decision applies to: the pending ones (or those of unknown status); when
    /// none is left, the first request, so the server can tell what is wrong.
    async fn undecided_requests(&mut self) -> Result<Vec<i64>, Error> {
        if self.requests.is_empty() {
            self.refresh().await?;
        }
        let undecided: Vec<i64> = self
            .requests
            .iter()
            .filter(|r| {
                !matches!(
                    r.status,
                    Some(
                        RequestStatus::Approved
                            | RequestStatus::Rejected
                            | RequestStatus::Submitted
                    )
                )
            })
            .map(|r| r.id)
            .collect();
        if !undecided.is_empty() {
            return Ok(undecided);
        }
        match self.requests.first() {
            Some(r) => Ok(vec![r.id]),
            None => Err(Error::InvalidArgument(format!(
                "order {} has no request to approve or reject",
                self.id
            ))),
        }
    }

    async fn decide(
        &mut self,
        decision: RequestDecision,
        comment: Option<&str>,
    ) -> Result<(), Error> {
        let body = RequestStatusUpdate {
            status: decision,
            processor_comment: comment.map(str::to_string),
        };
        for request_id in self.undecided_requests().await? {
            self.client.update_request_status(request_id, &body).await?;
            let status = match decision {
                RequestDecision::Approved => RequestStatus::Approved,
                RequestDecision::Rejected => RequestStatus::Rejected,
            };
            for r in self.requests.iter_mut().filter(|r| r.id == request_id) {
                r.status = Some(status.clone());
            }
        }
        Ok(())
    }

    /// Approves the order's pending request(s), with an optional comment. Needs an approver's
    /// API key.
    pub async fn approve(&mut self, comment: Option<&str>) -> Result<(), Error> {
        self.decide(RequestDecision::Approved, comment).await
    }

    /// Rejects the order's pending request(s), with an optional comment.
    pub async fn reject(&mut self, comment: Option<&str>) -> Result<(), Error> {
        self.decide(RequestDecision::Rejected, comment).await
    }

    /// Cancels the order (only while it is pending), with an optional note.
    pub async fn cancel(&mut self, note: Option<&str>) -> Result<(), Error> {
        let body = OrderStatusUpdate {
            status: OrderStatusChange::Canceled,
            note: note.map(str::to_string),
        };
        self.client.cancel_order(self.id, &body).await?;
        self.status = Some(OrderStatus::Canceled);
        Ok(())
    }

    /// Downloads the issued certificate: by certificate id when known, else by order id.
    /// When the order response already carried the chain ([`Order::issued_pem`]) a PEM
    /// format is built from it and no request is spent (`pem_all` and `pem_noroot` give the
    /// chain as sent, `pem_nointermediate` the leaf alone).
    pub async fn download(&self, format: DownloadFormat) -> Result<Vec<u8>, Error> {
        if let Some(pem) = match format {
            DownloadFormat::PemAll | DownloadFormat::PemNoroot => self.issued_pem(),
            DownloadFormat::PemNointermediate => {
                chain_pem(&self.certificate_chain[..1.min(self.certificate_chain.len())])
            }
            DownloadFormat::P7b => None,
        } {
            return Ok(pem.into_bytes());
        }
        match self.certificate_id {
            Some(id) => self.client.download_by_certificate(id, format).await,
            None => self.client.download_by_order(self.id, format).await,
        }
    }
}

/// The PEM blocks of a chain, leaf first, joined; `None` when no entry carries a PEM.
fn chain_pem(chain: &[ChainCertificate]) -> Option<String> {
    let blocks: Vec<&str> = chain
        .iter()
        .filter_map(|c| c.pem.as_deref())
        .map(str::trim)
        .filter(|pem| pem.starts_with("-----BEGIN CERTIFICATE-----"))
        .collect();
    (!blocks.is_empty()).then(|| {
        let mut out = blocks.join("\n");
        out.push('\n');
        out
    })
}

/// How far back of `since` [`Client::find_recent_orders`] still matches, to allow for clock
/// differences between this machine and the server.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// Page size [`Client::find_recent_orders`] asks for.
const RECONCILE_PAGE: i64 = 100;
/// Upper bound of pages [`Client::find_recent_orders`] reads.
const RECONCILE_MAX_PAGES: i64 = 100;

impl Client {
    /// Orders a client certificate.
    ///
    /// The order is validated first with `certcentral-validate`; an invalid order returns
    /// [`Error::Invalid`] and nothing is sent. The POST is retried only when the server answers
    /// 429 or the connection could not be made; when it was sent and no usable answer came
    /// back (timeout, reset, 5xx, unreadable success body) the result is
    /// [`Error::OutcomeUnknown`]: look the order up with [`Client::find_recent_orders`]
    /// before ordering again.
    pub async fn order_client_certificate(
        &self,
        product: ProductId,
        request: &OrderRequest,
    ) -> Result<Order, Error> {
        self.order_certificate(product, &OrderBody::ClientCertificate(request.clone()))
            .await
    }

    /// Orders a certificate of any catalog product, with the body its request profile takes
    /// (`product.spec().profile.body`: the seed's [`OrderRequest`] or the Secure Email body),
    /// through the same path as [`Client::order_client_certificate`]: validated first (the
    /// product's rules; [`Error::Invalid`] and nothing sent), never retried once it may have
    /// reached the server ([`Error::OutcomeUnknown`]).
    pub async fn order_certificate(
        &self,
        product: ProductId,
        body: &OrderBody,
    ) -> Result<Order, Error> {
        let report =
            certcentral_validate::validate_body(body, &certcentral_validate::Context::new(product));
        if !report.is_valid() {
            return Err(Error::Invalid(report));
        }
        let sent_at = Utc::now();
        let unknown = |status: Option<u16>, cause: String| {
            Error::OutcomeUnknown(Box::new(UnknownOutcome {
                product: product.to_string(),
                common_name: body.subject_name(),
                emails: body.emails().to_vec(),
                sent_at,
                status,
                cause,
            }))
        };
        match self.raw_order_client_certificate(product, body).await {
            Ok(response) => Ok(Order::from_response(self.clone(), response)),
            Err(err) => {
                let (status, cause) = ambiguous_outcome(err)?;
                Err(unknown(status, cause))
            }
        }
    }

    /// The escape hatch for what DigiCert adds before certcentral does (`--allow-unknown`):
    /// orders `body` exactly as given for `product_name_id`, members the schema does not know
    /// included. The body is validated first with unknown members allowed
    /// ([`certcentral_validate::Context::allow_unknown`]: errors are [`Error::Invalid`] and
    /// nothing is sent): by the product's rules, or for a product id the catalog does not
    /// know ([`certcentral_validate::Context::for_product_id`]) as the known body it has the
    /// members of, without any product's rules (an `unknown_product` warning). Like
    /// [`Client::order_certificate`], never retried once it may have reached the server
    /// ([`Error::OutcomeUnknown`]: the common name and emails are read from the body).
    pub async fn order_as_given(
        &self,
        product_name_id: &str,
        body: &serde_json::Value,
    ) -> Result<Order, Error> {
        if product_name_id.is_empty() || product_name_id.contains(['/', '?', '#']) {
            return Err(Error::InvalidArgument(format!(
                "{product_name_id:?} is not a product id (letters, digits and `_`)"
            )));
        }
        let ctx =
            certcentral_validate::Context::for_product_id(product_name_id).with_allow_unknown(true);
        let report = certcentral_validate::validate_value(body, &ctx);
        if !report.is_valid() {
            return Err(Error::Invalid(report));
        }
        let sent_at = Utc::now();
        let text = |pointer: &str| body.pointer(pointer).and_then(serde_json::Value::as_str);
        let emails: Vec<String> = body
            .pointer("/certificate/emails")
            .and_then(serde_json::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let path = [("client_certificate_id", product_name_id.to_owned())];
        match self
            .call_json::<OrderResponse>(
                &crate::endpoints::RAW_ORDER_CLIENT_CERTIFICATE,
                &path,
                &[],
                Some(Client::encode(body)?),
            )
            .await
        {
            Ok(response) => Ok(Order::from_response(self.clone(), response)),
            Err(err) => {
                let (status, cause) = ambiguous_outcome(err)?;
                Err(Error::OutcomeUnknown(Box::new(UnknownOutcome {
                    product: product_name_id.to_owned(),
                    // Missing, it matches any: a false candidate costs a look.
                    common_name: text("/certificate/common_name")
                        .unwrap_or_default()
                        .to_owned(),
                    emails,
                    sent_at,
                    status,
                    cause,
                })))
            }
        }
    }

    /// Re-attaches to an existing order (fetches its details).
    pub async fn order(&self, order_id: i64) -> Result<Order, Error> {
        let info = self.order_info(order_id).await?;
        Ok(Order::from_info(self.clone(), info))
    }

    /// Orders of `product` for `common_name` carrying every address of `emails`, created at or
    /// after `since` (less [`CLOCK_SKEW_ALLOWANCE`]): the candidates to check after
    /// [`Error::OutcomeUnknown`] before ordering again. Uses the list-orders filters
    /// (`product_name_id`, `common_name`, `email`, `date_created`) and checks every field
    /// again locally.
    ///
    /// ```no_run
    /// # use certcentral_client::{Client, Error};
    /// # async fn run(client: Client, request: certcentral_client::types::OrderRequest) -> Result<(), Error> {
    /// use certcentral_client::types::ProductId;
    /// match client.order_client_certificate(ProductId::ClientPremiumSha2, &request).await {
    ///     Err(Error::OutcomeUnknown(unknown)) => {
    ///         let found = client
    ///             .find_recent_orders(&unknown.product, &unknown.common_name, &unknown.emails, unknown.sent_at)
    ///             .await?;
    ///         match found.as_slice() {
    ///             [] => println!("no order was created: safe to order again"),
    ///             [order] => println!("the order exists: {}", order.id),
    ///             more => println!("{} candidates: check by hand", more.len()),
    ///         }
    ///     }
    ///     other => { other?; }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn find_recent_orders(
        &self,
        product: &str,
        common_name: &str,
        emails: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<OrderInfo>, Error> {
        let not_before =
            since - chrono::Duration::from_std(CLOCK_SKEW_ALLOWANCE).unwrap_or_default();
        let mut filters = ListOrdersFilters {
            product_name_id: (!product.is_empty()).then(|| product.to_string()),
            common_name: (!common_name.is_empty()).then(|| common_name.to_string()),
            email: emails.first().cloned(),
            date_created: Some(format!(">={}", not_before.date_naive())),
            limit: Some(RECONCILE_PAGE),
            ..ListOrdersFilters::default()
        };
        let mut found = Vec::new();
        let mut offset = 0i64;
        for _ in 0..RECONCILE_MAX_PAGES {
            filters.offset = Some(offset);
            let page = self.list_orders(&filters).await?;
            let count = page.orders.len() as i64;
            found.extend(
                page.orders
                    .into_iter()
                    .filter(|o| order_matches(o, product, common_name, emails, not_before)),
            );
            offset += count;
            let total = page.page.as_ref().and_then(|p| p.total);
            if count == 0 || total.is_some_and(|t| offset >= t) || count < RECONCILE_PAGE {
                break;
            }
        }
        Ok(found)
    }

    /// [`Client::find_recent_orders`] for the order behind an [`Error::OutcomeUnknown`].
    pub async fn reconcile(&self, unknown: &UnknownOutcome) -> Result<Vec<OrderInfo>, Error> {
        self.find_recent_orders(
            &unknown.product,
            &unknown.common_name,
            &unknown.emails,
            unknown.sent_at,
        )
        .await
    }
}

/// Sorts the error of a call that is not idempotent: `Ok((status, cause))` when the request
/// may have been processed (sent with no answer, a 5xx, an unreadable success body), so the
/// outcome must be reconciled; `Err(err)` when it provably was not (or the answer is final).
pub(crate) fn ambiguous_outcome(err: Error) -> Result<(Option<u16>, String), Error> {
    match err {
        Error::Transport(err) if err.maybe_reached_server() => Ok((
            None,
            format!("the request was sent and no response arrived: {err}"),
        )),
        err @ (Error::Api { .. } | Error::Decode { .. })
            if err.status().is_some_and(|s| s >= 500) =>
        {
            Ok((err.status(), format!("the server failed: {err}")))
        }
        Error::Decode { status, snippet } if (200..300).contains(&status) => Ok((
            Some(status),
            format!(
                "the server accepted the request (http {status}) but its answer could not be \
                 read: {snippet}"
            ),
        )),
        err => Err(err),
    }
}

/// Whether a listed order is a candidate for the given order details. Missing fields count as
/// matching: a false candidate costs a look, a missed one costs a duplicate paid order.
fn order_matches(
    order: &OrderInfo,
    product: &str,
    common_name: &str,
    emails: &[String],
    not_before: DateTime<Utc>,
) -> bool {
    let product_ok = order
        .product
        .as_ref()
        .and_then(|p| p.name_id.as_deref())
        .is_none_or(|id| product.is_empty() || id == product);
    let certificate = order.certificate.as_ref();
    let cn_ok = certificate
        .and_then(|c| c.common_name.as_deref())
        .is_none_or(|cn| common_name.is_empty() || cn == common_name);
    let emails_ok = certificate.is_none_or(|c| {
        c.emails.is_empty()
            || emails
                .iter()
                .all(|e| c.emails.iter().any(|have| have.eq_ignore_ascii_case(e)))
    });
    let date_ok = order
        .date_created
        .as_deref()
        .and_then(parse_server_time)
        .is_none_or(|created| created >= not_before);
    product_ok && cn_ok && emails_ok && date_ok
}

/// Parses the server's timestamps: RFC 3339, `yyyy-MM-dd HH:mm:ss` (UTC) or `yyyy-MM-dd`.
pub fn parse_server_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_times() {
        let t = parse_server_time("2026-11-28T20:30:00+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-28T20:30:00+00:00");
        assert_eq!(parse_server_time("2026-11-28 20:30:00"), Some(t));
        assert_eq!(parse_server_time("2026-11-28T21:30:00+01:00"), Some(t));
        assert!(parse_server_time("2026-11-28").is_some());
        assert_eq!(parse_server_time("yesterday"), None);
    }

    #[test]
    fn matching_is_conservative() {
        let since = parse_server_time("2026-11-28T20:30:00Z").unwrap();
        let order: OrderInfo = serde_json::from_value(serde_json::json!({
            "id": 7,
            "date_created": "2026-11-28T20:31:00+00:00",
            "product": {"name_id": "client_premium_sha2"},
            "certificate": {"common_name": "Lock Cole", "emails": ["Locke.Cole@example.com", "b@example.com"]}
        }))
        .unwrap();
        let emails = vec!["locke.cole@example.com".to_string()];
        let p = ProductId::ClientPremiumSha2.as_str();
        assert!(order_matches(&order, p, "Lock Cole", &emails, since));
        assert!(!order_matches(
            &order,
            ProductId::ClientAuthenticationPlus.as_str(),
            "Lock Cole",
            &emails,
            since
        ));
        assert!(!order_matches(&order, p, "Other", &emails, since));
        assert!(!order_matches(
            &order,
            p,
            "Lock Cole",
            &["x@example.com".into()],
            since
        ));
        let later = parse_server_time("2026-11-28T21:00:00Z").unwrap();
        assert!(!order_matches(&order, p, "Lock Cole", &emails, later));
        // Missing details never rule a candidate out.
        let bare: OrderInfo = serde_json::from_value(serde_json::json!({"id": 8})).unwrap();
        assert!(order_matches(&bare, p, "Lock Cole", &emails, later));
    }

    #[test]
    fn poll_intervals_grow_to_the_cap() {
        let p = PollPolicy {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5),
            multiplier: 2.0,
            deadline: Duration::from_secs(60),
        };
        let mut d = p.initial_interval;
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(d.as_secs());
            d = p.next_interval(d);
        }
        assert_eq!(seen, vec![1, 2, 4, 5, 5]);
        let flat = PollPolicy {
            multiplier: f64::NAN,
            ..p
        };
        assert_eq!(
            flat.next_interval(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}
