//! The part of the CertCentral API the bulk engine uses, as a trait: implemented for
//! [`certcentral_client::Client`] (the real thing, rate limiter included) and by fakes in
//! unit tests.

use std::future::Future;
use std::time::Duration;

use certcentral_client::RetryPolicy;
use certcentral_types::{OrderBody, OrderInfo, ProductId, StatusChange};
use chrono::{DateTime, Utc};

/// What the order POST answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Order id.
    pub order_id: i64,
    /// Request ids.
    pub request_ids: Vec<i64>,
    /// First request's status (`pending`, `submitted`, `approved`, …).
    pub request_status: Option<String>,
    /// Certificate id, when the request is already approved.
    pub certificate_id: Option<i64>,
    /// The issued certificate and its chain (PEM, leaf first), when the answer carried them
    /// (`certificate_chain` in a `201`: immediate issuance): no download is needed.
    pub chain: Option<String>,
}

/// What a revocation of an order left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The order is revoked.
    Revoked,
    /// A revoke request waits for an approver (its id, when the server showed it).
    Requested(Option<i64>),
}

/// How a call failed, as far as "may I send it again?" is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiFailure {
    /// The request provably was not processed (429, connection never established): sending
    /// it again cannot create a second order.
    NotProcessed {
        /// Server's `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// What happened.
        message: String,
    },
    /// The connection to the API could not be established (refused, DNS, connect timeout):
    /// the request provably was not processed. Several in a row stop the run (see
    /// [`crate::exec::UNREACHABLE_LIMIT`]).
    Unreachable {
        /// What happened.
        message: String,
    },
    /// The server refused the request with a definite answer (4xx): nothing was created.
    Refused {
        /// What the server said (every error code and message).
        message: String,
    },
    /// The request may have been processed (connection lost after sending, 5xx, timeout,
    /// unreadable success): for an order, the order may exist.
    Unknown {
        /// What happened.
        message: String,
    },
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotProcessed { message, .. } => write!(f, "not processed: {message}"),
            Self::Unreachable { message } => write!(f, "unreachable: {message}"),
            Self::Refused { message } => write!(f, "refused: {message}"),
            Self::Unknown { message } => write!(f, "outcome unknown: {message}"),
        }
    }
}

/// The calls bulk ordering makes. Every call goes through the implementation's rate limiter.
pub trait BulkApi: Send + Sync + 'static {
    /// The retry policy of the implementation's calls. The engine retries an order POST
    /// provably not processed by the same rule ([`RetryPolicy::not_processed_wait`]), so
    /// there is one policy; the default is [`RetryPolicy::default`].
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }

    /// `POST /order/certificate/{product}`: places one paid order. Never retried by the engine
    /// unless the failure is [`ApiFailure::NotProcessed`] or [`ApiFailure::Unreachable`].
    /// `product` is a catalog id, or (a row allowed with `--allow-unknown`) one the catalog
    /// does not know: the body is then sent as given. `patience` is what is left of the
    /// row's patience ([`crate::exec::ExecOptions::not_processed_patience`]): the
    /// implementation's own retries start no attempt after it (the client's per-call
    /// deadline).
    fn order(
        &self,
        product: &str,
        request: &OrderBody,
        patience: Duration,
    ) -> impl Future<Output = Result<Placed, ApiFailure>> + Send;

    /// `GET /order/certificate/status-changes?minutes=N`.
    fn status_changes(
        &self,
        minutes: u32,
    ) -> impl Future<Output = Result<Vec<StatusChange>, ApiFailure>> + Send;

    /// `GET /order/certificate/{order_id}`.
    fn order_info(
        &self,
        order_id: i64,
    ) -> impl Future<Output = Result<OrderInfo, ApiFailure>> + Send;

    /// Orders of `product` for `common_name` and `emails` created since `since` (list-orders
    /// filters), to reconcile a POST whose outcome is unknown.
    fn find_recent_orders(
        &self,
        product: &str,
        common_name: &str,
        emails: &[String],
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<OrderInfo>, ApiFailure>> + Send;

    /// The certificate (PEM, leaf first then the chain).
    fn download(
        &self,
        certificate_id: i64,
    ) -> impl Future<Output = Result<Vec<u8>, ApiFailure>> + Send;

    /// The body of a renewal of order `order_id` with the new key's `csr`: the original's
    /// product and details from its order info, `renewal_of_order_id` set
    /// in the body the product takes (`certcentral_client::Order::renewal_body`: a Secure
    /// Email order renews with its person, usage and profile). Reads only; the renewal itself is
    /// placed with [`BulkApi::order`].
    fn renewal_request(
        &self,
        order_id: i64,
        csr: &str,
    ) -> impl Future<Output = Result<(ProductId, OrderBody), ApiFailure>> + Send;

    /// `PUT /order/certificate/{order_id}/revoke`: revokes every certificate of the order
    /// (`certcentral_client::Client::revoke`, which reconciles a lost answer from the order
    /// info instead of sending again). Not idempotent: the engine journals it first and
    /// looks the order up before sending it again.
    fn revoke_order(
        &self,
        order_id: i64,
        comment: &str,
        skip_approval: bool,
    ) -> impl Future<Output = Result<RevokeOutcome, ApiFailure>> + Send;
}

/// What the order info says about a revocation: revoked, or a revoke request in place
/// (pending or approved), with its id; `None` when neither (nothing to reconcile).
pub(crate) fn revocation_in(info: &OrderInfo) -> Option<RevokeOutcome> {
    if info.status == Some(certcentral_types::OrderStatus::Revoked) {
        return Some(RevokeOutcome::Revoked);
    }
    info.requests
        .iter()
        .filter(|r| r.type_.as_deref() == Some("revoke"))
        .find(|r| r.status != Some(certcentral_types::RequestStatus::Rejected))
        .map(|r| RevokeOutcome::Requested(Some(r.id)))
}
