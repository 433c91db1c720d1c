//! HTTP routes and handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use certcentral_types::WireEnum;
use certcentral_types::catalog::STATUS_CHANGES_MAX_MINUTES;
use certcentral_types::{
    ApiErrorEntry, DownloadFormat, ErrorBody, ExpiringCount, ExpiringReport, OrderBody, OrderInfo,
    OrderList, OrderRequestRef, OrderResponse, OrderStatus, OrderStatusUpdate, Page, ProductId,
    ReissueCertificateInfo, ReissueList, ReissueRequest, ReissueResponse, RequestDecision,
    RequestStatus, RequestStatusUpdate, Requester, RevokeRequest, RevokeRequestInfo, StatusChanges,
};
use certcentral_validate::{Context, validate_json};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::body::Body as _;
use crate::ca::{CertContents, CsrError, CsrKey, IssuedCert, parse_csr, pem_cert};
use crate::server::ConnectionKill;
use crate::state::{
    ChangeError, Decision, NewOrder, ReissueAsk, RevokeTarget, Shared, leaf_spec, rfc3339,
};
use crate::{Approval, EmailValidation, KeyRole, lock};

type AppState = Arc<Shared>;

/// An API error: status and `{"errors":[{"code","message"}]}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    errors: Vec<(String, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![(code.into(), message.into())],
        }
    }

    fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found(what: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("not_found|{what}"), message)
    }
}

impl ApiError {
    /// The body: DigiCert's [`ErrorBody`].
    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            errors: self
                .errors
                .iter()
                .map(|(code, message)| ApiErrorEntry {
                    code: code.clone(),
                    message: message.clone(),
                })
                .collect(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.status, axum::Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The whole application: the API under `/services/v2`, inspection under `/_sandbox`.
pub(crate) fn router(shared: AppState) -> Router {
    let api = Router::new()
        .route("/order/certificate", get(list_orders))
        .route("/order/certificate/status-changes", get(status_changes))
        .route(
            "/order/certificate/{id}",
            get(order_info).post(create_order),
        )
        .route("/order/certificate/{id}/status", put(cancel_order))
        .route(
            "/order/certificate/{id}/reissue",
            get(list_reissues).post(reissue),
        )
        .route("/order/certificate/{id}/revoke", put(revoke_order))
        .route("/certificate/{id}/revoke", put(revoke_certificate))
        .route("/report/order/expiring", get(expiring_report))
        .route(
            "/order/certificate/{id}/email-validation",
            get(email_validation),
        )
        .route("/request/{id}/status", put(decide_request))
        .route(
            "/certificate/{id}/download/format/{format}",
            get(download_by_certificate),
        )
        .route(
            "/certificate/download/order/{id}/format/{format}",
            get(download_by_order),
        )
        .route("/product/{name_id}", get(product_info))
        .fallback(route_not_found)
        .method_not_allowed_fallback(route_not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared.clone());
    let inspect = Router::new()
        .route("/orders", get(inspect_orders))
        .route("/orders/{id}/validate-emails", post(validate_emails))
        .route("/stats", get(inspect_stats))
        .route(
            crate::ca::CA_ISSUERS_PATH.trim_start_matches("/_sandbox"),
            get(ca_certificate),
        )
        // The CRL distribution point of every leaf and the inspection route serve one CRL.
        .route(
            crate::ca::CRL_PATH.trim_start_matches("/_sandbox"),
            get(inspect_crl),
        )
        .route("/crl", get(inspect_crl))
        .route("/clock", get(get_clock).post(set_clock))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared.clone());
    Router::new()
        .nest("/services/v2", api)
        .nest("/_sandbox", inspect)
        .fallback(outside_api)
        .layer(middleware::from_fn_with_state(shared.clone(), edge))
        .with_state(shared)
}

/// Longest request target (path and query) the sandbox serves: longer is 414.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest total size of the request's header fields: larger is 431.
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields in one request: more is 431.
pub(crate) const MAX_HEADER_COUNT: usize = 100;

/// Marks a response already counted in `/_sandbox/stats`.
#[derive(Clone, Copy, Debug)]
struct Counted;

fn counted(mut response: Response) -> Response {
    response.extensions_mut().insert(Counted);
    response
}

/// The outermost layer: refuses oversized request lines and headers (414, 431) with
/// DigiCert-shaped errors, turns any other error answer that is not JSON (413 from the body
/// limit, 405, ...) into one, and counts every error answer not counted yet.
async fn edge(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let response = if target > MAX_URI_BYTES {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("The request target is {target} bytes; at most {MAX_URI_BYTES} are allowed"),
        )
        .into_response()
    } else if header_bytes > MAX_HEADER_BYTES || request.headers().len() > MAX_HEADER_COUNT {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            format!(
                "The request has {} header fields of {header_bytes} bytes; at most \
                 {MAX_HEADER_COUNT} fields and {MAX_HEADER_BYTES} bytes are allowed",
                request.headers().len()
            ),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let already = response.extensions().get::<Counted>().is_some();
    let response = if status.is_client_error() && !is_json {
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                "request_too_large".to_string(),
                "The request body is too large".to_string(),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed".to_string(),
                "This method is not allowed on this resource".to_string(),
            ),
            other => (
                format!("http_{}", other.as_u16()),
                other
                    .canonical_reason()
                    .unwrap_or("The request was refused")
                    .to_string(),
            ),
        };
        ApiError::new(status, code, message).into_response()
    } else {
        response
    };
    if !already && (status.is_client_error() || status.is_server_error()) {
        shared.record_status(status.as_u16());
    }
    response
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn too_many_requests() -> Response {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "request_limit_exceeded",
        "Service unavailable, please limit request volume",
    )
    .into_response()
}

const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>503 Service Temporarily Unavailable</title></head>\n<body><h1>503 Service Temporarily Unavailable</h1><p>The server is temporarily unable to service your request. Please try again later.</p><hr><p>edge-cache (certcentral sandbox fault: html_error)</p></body></html>\n";

/// Faults, authentication and rate limits, in that order; counts every response.
async fn guard(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let faults = lock(&shared.faults).before();
    if let Some(delay) = faults.latency {
        tokio::time::sleep(delay).await;
    }
    let response = if faults.html_error {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            HTML_ERROR_PAGE,
        )
            .into_response()
    } else if faults.error_5xx {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An internal error occurred (certcentral sandbox fault: error_5xx)",
        )
        .into_response()
    } else if faults.rate_limit {
        too_many_requests()
    } else {
        let authorized = request
            .headers()
            .get("x-dc-devkey")
            .is_some_and(|key| constant_time_eq(key.as_bytes(), shared.config.api_key.as_bytes()));
        if !authorized {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied|access_denied_invalid_key",
                "The X-DC-DEVKEY header is missing or does not hold a valid API key",
            )
            .into_response()
        } else if !lock(&shared.limiter).admit(Instant::now()) {
            too_many_requests()
        } else {
            let response = next.run(request).await;
            shared.persist();
            response
        }
    };
    shared.record_status(response.status().as_u16());
    counted(response)
}

async fn route_not_found(request: Request) -> ApiError {
    ApiError::not_found(
        "route",
        format!("no route {} {}", request.method(), request.uri().path()),
    )
}

async fn outside_api(State(shared): State<AppState>, request: Request) -> Response {
    let response = route_not_found(request).await.into_response();
    shared.record_status(response.status().as_u16());
    counted(response)
}

fn parse_id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::not_found(
                what,
                format!("{what} id {text:?} is not a positive integer"),
            )
        })
}

fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

// ---------------------------------------------------------------- orders

async fn create_order(
    State(shared): State<AppState>,
    Path(product): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    body: Bytes,
) -> ApiResult {
    let product = order_product(&product)?;
    let new = NewOrder::from_request(&shared, product, &body, shared.now())?;
    let created = new.commit(&shared)?;
    drop_after_commit(&shared, kill).await;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// The product of `POST /order/certificate/{product}`: a client certificate product.
fn order_product(product: &str) -> Result<ProductId, ApiError> {
    product.parse().map_err(|_| {
        ApiError::not_found(
            "product",
            format!(
                "product {product:?} is not a client certificate product; allowed: {}",
                ProductId::allowed()
            ),
        )
    })
}

/// An order body checked as the validator checks it, then read as `product`'s body and its
/// certificate's contents.
fn order_body(
    product: ProductId,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(OrderBody, CertContents), ApiError> {
    let ctx = Context::new(product).with_today(now.date_naive());
    let report = validate_json(body, &ctx);
    if !report.errors.is_empty() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            errors: report
                .errors
                .iter()
                .map(|v| (v.digicert_code(), v.message.to_string()))
                .collect(),
        });
    }
    let raw: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request(
            "bad_request_format",
            format!("the body is not valid JSON: {err}"),
        )
    })?;
    let contents = crate::smime::contents(product.as_str(), &raw);
    let order = OrderBody::from_value(product.spec().profile.body, raw).map_err(|err| {
        ApiError::bad_request(
            "bad_request_format",
            format!("the body does not match the order format: {err}"),
        )
    })?;
    Ok((order, contents))
}

/// The key of an order's CSR, as `product`'s key policy allows it.
fn csr_key(csr: &str, product: ProductId) -> Result<CsrKey, ApiError> {
    parse_csr(csr, product.spec().profile.key_policy).map_err(|err| match err {
        CsrError::CannotParse(message) => {
            ApiError::bad_request("csr_invalid_cannot_parse", message)
        }
        CsrError::UnsupportedKey(message) => {
            ApiError::bad_request("invalid_value:certificate.csr", message)
        }
    })
}

impl NewOrder {
    /// The order a request body asks for, under the sandbox's approval, delay and
    /// email-validation settings; signed here (outside the store's lock) when the
    /// certificate is due at once.
    fn from_request(
        shared: &Shared,
        product: ProductId,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let (order, contents) = order_body(product, body, now)?;
        let key = order.csr().map(|csr| csr_key(csr, product)).transpose()?;
        let approved = order.skip_approval() || shared.config.approval == Approval::Auto;
        // Mailbox control is proven for S/MIME products only.
        let emails_validated = shared.config.email_validation == EmailValidation::Auto
            || crate::smime::smime_product(product.as_str()).is_none();
        let mut new = Self {
            product,
            order,
            contents,
            key,
            approved,
            issue_delay: shared.config.issue_delay,
            issued: None,
            emails_validated,
            now,
        };
        new.issued = new.issue_at_once(shared)?;
        Ok(new)
    }

    /// The certificate, when it is due at once: approved, with a CSR, no issue delay and
    /// the email addresses validated.
    fn issue_at_once(&self, shared: &Shared) -> Result<Option<IssuedCert>, ApiError> {
        let due = self.approved && self.issue_delay.is_zero() && self.emails_validated;
        let Some(key) = self.key.as_ref().filter(|_| due) else {
            return Ok(None);
        };
        let spec = leaf_spec(&self.contents, &self.order, self.now);
        shared.ca.issue(&spec, key).map(Some).map_err(|err| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                format!("the sandbox CA failed to issue: {err}"),
            )
        })
    }

    /// Stores the order (a renewal only of an order that exists) and answers as DigiCert
    /// does to its creation.
    fn commit(self, shared: &Shared) -> Result<OrderResponse, ApiError> {
        let mut store = lock(&shared.store);
        if let Some(old) = self.order.renewal_of_order_id() {
            let exists = i64::try_from(old.get()).is_ok_and(|id| store.orders().contains_key(&id));
            if !exists {
                return Err(ApiError::bad_request(
                    "invalid_value:renewal_of_order_id",
                    format!("renewal_of_order_id {old}: no such order to renew"),
                ));
            }
        }
        let now = self.now;
        let id = store.insert(self);
        let chain_from = shared.config.chain_in_response.then_some(&shared.ca);
        Ok(store
            .order(&shared.ca, id, now)
            .map(|record| record.created(chain_from))
            .unwrap_or(OrderResponse {
                id,
                requests: Vec::new(),
                certificate_id: None,
                certificate_chain: Vec::new(),
                organization: None,
            }))
    }
}

/// The `drop_after_commit` fault: after a change was committed, closes the connection
/// without an answer (when the fault fires).
async fn drop_after_commit(shared: &Shared, kill: Option<axum::Extension<ConnectionKill>>) {
    let drop_connection = lock(&shared.faults).drop_after_commit();
    if let (true, Some(axum::Extension(ConnectionKill(kill)))) = (drop_connection, kill) {
        shared.persist();
        shared.record_drop();
        kill.notify_one();
        // The connection task drops this future together with the connection.
        std::future::pending::<()>().await;
    }
}

async fn order_info(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let mut store = lock(&shared.store);
    let record = store
        .order(&shared.ca, id, shared.now())
        .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?;
    Ok(json_response(StatusCode::OK, &record.info(shared.now())))
}

async fn email_validation(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let mut store = lock(&shared.store);
    let record = store
        .order(&shared.ca, id, shared.now())
        .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?;
    Ok(json_response(StatusCode::OK, &record.email_validation()))
}

/// `POST /_sandbox/orders/{id}/validate-emails`: proves control of the order's email
/// addresses, as clicking the emailed link would: every address, or those of an optional
/// body `{"emails": [...]}`. Answers the order's email validation, as `GET
/// /order/certificate/{id}/email-validation` does.
async fn validate_emails(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        emails: Vec<String>,
    }
    let id = parse_id(&id, "order")?;
    let emails = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body: Body = serde_json::from_slice(&body).map_err(|err| {
            ApiError::bad_request(
                "bad_request_format",
                format!("{err}; expected no body (every address) or {{\"emails\": [\"...\"]}}"),
            )
        })?;
        Some(body.emails)
    };
    let mut store = lock(&shared.store);
    let record = store
        .validate_emails(&shared.ca, id, emails.as_deref(), Utc::now())
        .map_err(|err| match err {
            ChangeError::NotFound => {
                ApiError::not_found("order", format!("order {id} does not exist"))
            }
            ChangeError::WrongState(message) => {
                ApiError::bad_request("invalid_order_status", message)
            }
            ChangeError::Invalid(message) => ApiError::bad_request("invalid_value:emails", message),
        })?;
    Ok(json_response(StatusCode::OK, &record.email_validation()))
}

/// A `filters[date_created]` expression.
#[derive(Debug, PartialEq)]
enum DateFilter {
    Range(DateTime<Utc>, DateTime<Utc>),
}

fn parse_instant(text: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let time = if end_of_day {
        day.and_hms_milli_opt(23, 59, 59, 999)?
    } else {
        day.and_hms_opt(0, 0, 0)?
    };
    Some(time.and_utc())
}

/// Parses `DATE`, `FROM...TO`, `>=DATE`, `>DATE`, `<=DATE`, `<DATE` (dates `YYYY-MM-DD`,
/// or date-times `YYYY-MM-DDTHH:MM:SS[Z|±hh:mm]`, `YYYY-MM-DD HH:MM:SS`; UTC). Bounds inclusive.
fn parse_date_filter(text: &str) -> Option<DateFilter> {
    let text = text.trim();
    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    let one_second = chrono::Duration::seconds(1);
    if let Some((from, to)) = text.split_once("...") {
        return Some(DateFilter::Range(
            parse_instant(from, false)?,
            parse_instant(to, true)?,
        ));
    }
    if let Some(rest) = text.strip_prefix(">=") {
        return Some(DateFilter::Range(parse_instant(rest, false)?, max));
    }
    if let Some(rest) = text.strip_prefix('>') {
        return Some(DateFilter::Range(
            parse_instant(rest, true)?.checked_add_signed(one_second)?,
            max,
        ));
    }
    if let Some(rest) = text.strip_prefix("<=") {
        return Some(DateFilter::Range(min, parse_instant(rest, true)?));
    }
    if let Some(rest) = text.strip_prefix('<') {
        return Some(DateFilter::Range(
            min,
            parse_instant(rest, false)?.checked_sub_signed(one_second)?,
        ));
    }
    Some(DateFilter::Range(
        parse_instant(text, false)?,
        parse_instant(text, true)?,
    ))
}

const DEFAULT_LIMIT: usize = 1000;

/// A `sort` field of the order list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortField {
    Id,
    DateCreated,
    ValidTill,
}

impl SortField {
    /// `field` or `-field` (descending).
    fn parse(text: &str) -> Option<(Self, bool)> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let field = match name {
            "id" => Self::Id,
            "date_created" => Self::DateCreated,
            "valid_till" => Self::ValidTill,
            _ => return None,
        };
        Some((field, descending))
    }
}

fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(23, 59, 59)
        .map(|at| at.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

async fn list_orders(
    State(shared): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|err| {
        ApiError::bad_request(
            "bad_request_format",
            format!("the query string is malformed: {err}"),
        )
    })?;
    let list = ListQuery::parse(&query)?;
    let now = shared.now();
    let mut store = lock(&shared.store);
    store.advance_all(&shared.ca, now);
    let mut matching: Vec<&crate::state::OrderRecord> = store
        .orders()
        .values()
        .filter(|r| list.matches(r))
        .collect();
    list.sort(&mut matching);
    let matching: Vec<OrderInfo> = matching.into_iter().map(|r| r.info(now).info).collect();
    drop(store);
    Ok(json_response(StatusCode::OK, &list.page(matching)))
}

/// The query of `GET /order/certificate`: filters, sort order and page.
#[derive(Debug)]
struct ListQuery {
    status: Option<OrderStatus>,
    product: Option<String>,
    common_name: Option<String>,
    /// Lowercase.
    email: Option<String>,
    date: Option<DateFilter>,
    valid_till: Option<DateFilter>,
    is_renewed: Option<bool>,
    sort: Option<(SortField, bool)>,
    offset: usize,
    limit: usize,
}

/// A query parameter's error: code and message.
type QueryError = (String, String);

impl ListQuery {
    /// Reads every parameter; the error lists each one that is not understood.
    fn parse(query: &[(String, String)]) -> Result<Self, ApiError> {
        let mut list = Self {
            status: None,
            product: None,
            common_name: None,
            email: None,
            date: None,
            valid_till: None,
            is_renewed: None,
            sort: None,
            offset: 0,
            limit: DEFAULT_LIMIT,
        };
        let errors: Vec<QueryError> = query
            .iter()
            .filter_map(|(key, value)| list.take(key, value).err())
            .collect();
        if !errors.is_empty() {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                errors,
            });
        }
        Ok(list)
    }

    /// Takes one parameter (unknown parameters other than filters are ignored).
    fn take(&mut self, key: &str, value: &str) -> Result<(), QueryError> {
        let error = |code: &str, message: String| (code.to_string(), message);
        match key {
            "filters[status]" => self.status = Some(OrderStatus::from(value)),
            "filters[product_name_id]" => self.product = Some(value.to_string()),
            "filters[common_name]" => self.common_name = Some(value.to_string()),
            "filters[email]" => self.email = Some(value.to_lowercase()),
            "filters[date_created]" => {
                self.date = Some(parse_date_filter(value).ok_or_else(|| error(
                    "invalid_value:filters.date_created",
                    format!("date filter {value:?} is not understood; use YYYY-MM-DD, FROM...TO, >=DATE, >DATE, <=DATE or <DATE (dates YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"),
                ))?);
            }
            "filters[valid_till]" => {
                self.valid_till = Some(parse_date_filter(value).ok_or_else(|| error(
                    "invalid_value:filters.valid_till",
                    format!("date filter {value:?} is not understood; use YYYY-MM-DD, FROM...TO, >=DATE, >DATE, <=DATE or <DATE"),
                ))?);
            }
            "filters[is_renewed]" => {
                self.is_renewed = Some(match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(error(
                            "invalid_value:filters.is_renewed",
                            format!(
                                "filters[is_renewed] {value:?} is not a boolean; allowed: true, false, 1, 0"
                            ),
                        ));
                    }
                });
            }
            "sort" => {
                self.sort = Some(SortField::parse(value).ok_or_else(|| error(
                    "invalid_value:sort",
                    format!("sort {value:?} is not understood; allowed: id, date_created, valid_till, each optionally prefixed with - (descending)"),
                ))?);
            }
            "offset" => {
                self.offset = value.parse::<usize>().map_err(|_| {
                    error(
                        "invalid_value:offset",
                        format!("offset {value:?} is not a non-negative integer"),
                    )
                })?;
            }
            "limit" => {
                self.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=DEFAULT_LIMIT).contains(n))
                    .ok_or_else(|| {
                        error(
                            "invalid_value:limit",
                            format!("limit {value:?} is not an integer from 1 to {DEFAULT_LIMIT}"),
                        )
                    })?;
            }
            other if other.starts_with("filters[") => {
                return Err((
                    format!("invalid_value:{other}"),
                    format!(
                        "unknown filter {other}; allowed: filters[status], filters[product_name_id], filters[common_name], filters[email], filters[date_created], filters[valid_till], filters[is_renewed]"
                    ),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether an order passes every filter.
    fn matches(&self, r: &crate::state::OrderRecord) -> bool {
        self.status.as_ref().is_none_or(|s| *s == r.status)
            && self
                .product
                .as_deref()
                .is_none_or(|p| p == r.product.to_string())
            && self
                .common_name
                .as_deref()
                .is_none_or(|cn| cn == r.order.subject_name())
            && self
                .email
                .as_deref()
                .is_none_or(|e| r.order.emails().iter().any(|x| x.to_lowercase() == e))
            && self
                .date
                .as_ref()
                .is_none_or(|DateFilter::Range(from, to)| *from <= r.created && r.created <= *to)
            && self
                .valid_till
                .as_ref()
                .is_none_or(|DateFilter::Range(from, to)| {
                    r.issued.as_ref().is_some_and(|c| {
                        let end = end_of_day(c.valid_till);
                        *from <= end && end <= *to
                    })
                })
            && self
                .is_renewed
                .is_none_or(|want| want == r.renewed_by.is_some())
    }

    /// Sorts the matching orders as `sort` asks (else they stay in id order).
    fn sort(&self, matching: &mut [&crate::state::OrderRecord]) {
        let Some((field, descending)) = self.sort else {
            return;
        };
        matching.sort_by(|a, b| {
            let order = match field {
                SortField::Id => a.id.cmp(&b.id),
                SortField::DateCreated => a.created.cmp(&b.created).then(a.id.cmp(&b.id)),
                SortField::ValidTill => a
                    .issued
                    .as_ref()
                    .map(|c| c.valid_till)
                    .cmp(&b.issued.as_ref().map(|c| c.valid_till))
                    .then(a.id.cmp(&b.id)),
            };
            if descending { order.reverse() } else { order }
        });
    }

    /// The page of the matching orders that `offset` and `limit` ask for.
    fn page(&self, matching: Vec<OrderInfo>) -> OrderList {
        let total = matching.len();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        // An empty page omits `orders`, as DigiCert does.
        OrderList {
            orders: matching
                .into_iter()
                .skip(self.offset)
                .take(self.limit)
                .collect(),
            page: Some(Page {
                total: Some(count(total)),
                limit: Some(count(self.limit)),
                offset: Some(count(self.offset)),
            }),
        }
    }
}

const MAX_MINUTES: i64 = STATUS_CHANGES_MAX_MINUTES as i64;

async fn status_changes(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let minutes = match query.get("minutes") {
        None => 60,
        Some(text) => text.parse::<i64>().ok().filter(|m| *m > 0).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_value:minutes",
                format!("minutes {text:?} is not a positive integer"),
            )
        })?,
    };
    if minutes > MAX_MINUTES {
        return Err(ApiError::bad_request(
            "time_frame_too_long",
            format!("minutes {minutes} exceeds the maximum of {MAX_MINUTES} (7 days)"),
        ));
    }
    let now = shared.now();
    let since = now - chrono::Duration::minutes(minutes);
    let mut store = lock(&shared.store);
    store.advance_all(&shared.ca, now);
    let orders = store
        .orders()
        .values()
        .filter(|r| r.status_changed >= since)
        .map(|r| r.change())
        .collect();
    Ok(json_response(StatusCode::OK, &StatusChanges { orders }))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], allowed: &str) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request(
            "bad_request_format",
            format!("the body is not valid JSON: {err}"),
        )
    })?;
    serde_json::from_value(value)
        .map_err(|err| ApiError::bad_request("invalid_value:status", format!("{err}; {allowed}")))
}

async fn decide_request(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id, "request")?;
    let update: RequestStatusUpdate = json_body(
        &body,
        "expected {\"status\": \"approved\"|\"rejected\", \"processor_comment\": \"...\"}",
    )?;
    let approve = update.status == RequestDecision::Approved;
    let now = shared.now();
    let mut store = lock(&shared.store);
    store
        .decide(
            Decision {
                request_id: id,
                approve,
                comment: update.processor_comment,
                now,
            },
            shared.config.issue_delay,
            &shared.ca,
        )
        .map_err(|err| match err {
            ChangeError::NotFound => {
                ApiError::not_found("request", format!("request {id} does not exist"))
            }
            ChangeError::WrongState(message) | ChangeError::Invalid(message) => {
                ApiError::bad_request("invalid_request_status", message)
            }
        })?;
    // Issue at once when there is no delay.
    store.advance_all(&shared.ca, now);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn cancel_order(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let update: OrderStatusUpdate = json_body(
        &body,
        "expected {\"status\": \"canceled\", \"note\": \"...\"}",
    )?;
    let mut store = lock(&shared.store);
    store
        .cancel(&shared.ca, id, update.note, shared.now())
        .map_err(|err| match err {
            ChangeError::NotFound => {
                ApiError::not_found("order", format!("order {id} does not exist"))
            }
            ChangeError::WrongState(message) | ChangeError::Invalid(message) => {
                ApiError::bad_request("invalid_order_status", message)
            }
        })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- after issuance

fn change_error(what: &str, id: i64) -> impl Fn(ChangeError) -> ApiError + '_ {
    move |err| match err {
        ChangeError::NotFound => ApiError::not_found(what, format!("{what} {id} does not exist")),
        ChangeError::WrongState(message) | ChangeError::Invalid(message) => {
            ApiError::bad_request(format!("invalid_{what}_status"), message)
        }
    }
}

async fn reissue(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let request: ReissueRequest = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(
            "bad_request_format",
            format!(
                "the body does not match the reissue format {{\"certificate\": {{\"csr\": ..., \"common_name\"?, \"emails\"?, \"organization_units\"?, \"signature_hash\"?}}, \"skip_approval\"?}}: {err}"
            ),
        )
    })?;
    let now = shared.now();
    let product = {
        let mut store = lock(&shared.store);
        store
            .order(&shared.ca, id, now)
            .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?
            .product
    };
    let csr = request.certificate.csr.to_string();
    let key = csr_key(&csr, product)?;
    let approved =
        request.skip_approval.unwrap_or(false) || shared.config.approval == Approval::Auto;
    let (request_id, status, certificate_id) = {
        let mut store = lock(&shared.store);
        let (request_id, status) = store
            .reissue(&shared.ca, id, ReissueAsk { key, csr, approved }, now)
            .map_err(change_error("order", id))?;
        let certificate_id = store
            .order(&shared.ca, id, now)
            .and_then(|r| (status == RequestStatus::Approved).then_some(r.certificate_id)?);
        (request_id, status, certificate_id)
    };
    drop_after_commit(&shared, kill).await;
    let body = ReissueResponse {
        id,
        requests: vec![OrderRequestRef {
            id: request_id,
            status: Some(status),
        }],
        certificate_id,
        certificate_chain: Vec::new(),
    };
    Ok(json_response(StatusCode::CREATED, &body))
}

async fn list_reissues(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let now = shared.now();
    let mut store = lock(&shared.store);
    let record = store
        .order(&shared.ca, id, now)
        .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?;
    let common_name = record.order.subject_name();
    let entry =
        |cert_id: i64, issued: &crate::ca::IssuedCert, revoked: bool| ReissueCertificateInfo {
            id: cert_id,
            serial_number: Some(issued.serial_hex.clone()),
            status: Some(if revoked { "revoked" } else { "issued" }.to_owned()),
            common_name: Some(common_name.clone()),
            date_created: Some(issued.valid_from.to_string()),
            date_issued: Some(issued.valid_from.to_string()),
            valid_from: Some(issued.valid_from.to_string()),
            valid_till: Some(issued.valid_till.to_string()),
            days_remaining: Some((issued.valid_till - now.date_naive()).num_days()),
        };
    let mut certificates: Vec<ReissueCertificateInfo> = record
        .past
        .iter()
        .map(|p| entry(p.id, &p.issued, p.revoked_at.is_some()))
        .collect();
    if let (Some(cert_id), Some(issued)) = (record.certificate_id, record.issued.as_ref()) {
        certificates.push(entry(cert_id, issued, record.revoked_at.is_some()));
    }
    Ok(json_response(StatusCode::OK, &ReissueList { certificates }))
}

async fn revoke(
    shared: &Shared,
    target: RevokeTarget,
    body: &[u8],
    kill: Option<axum::Extension<ConnectionKill>>,
) -> ApiResult {
    let request: RevokeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|err| {
            ApiError::bad_request(
                "bad_request_format",
                format!(
                    "the body does not match the revoke format {{\"comments\"?: \"...\", \"skip_approval\"?: bool}}: {err}"
                ),
            )
        })?
    };
    let immediate =
        request.skip_approval.unwrap_or(false) && shared.config.key_role == KeyRole::Administrator;
    let now = shared.now();
    let (what, id) = match target {
        RevokeTarget::Certificate(id) => ("certificate", id),
        RevokeTarget::Order(id) => ("order", id),
    };
    let created = lock(&shared.store)
        .revoke(&shared.ca, target, request.comments, immediate, now)
        .map_err(change_error(what, id))?;
    drop_after_commit(shared, kill).await;
    match created {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(record) => Ok(json_response(
            StatusCode::CREATED,
            &RevokeRequestInfo {
                id: record.id,
                date: Some(rfc3339(record.date)),
                type_: Some("revoke".to_owned()),
                status: Some(record.status),
                requester: Some(Requester {
                    id: Some(1),
                    first_name: Some("Sandbox".to_owned()),
                    last_name: Some("User".to_owned()),
                    email: Some("sandbox@example.com".to_owned()),
                }),
                comments: record.comments,
            },
        )),
    }
}

async fn revoke_certificate(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id, "certificate")?;
    revoke(&shared, RevokeTarget::Certificate(id), &body, kill).await
}

async fn revoke_order(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    kill: Option<axum::Extension<ConnectionKill>>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id, "order")?;
    revoke(&shared, RevokeTarget::Order(id), &body, kill).await
}

/// The windows of the expiring-orders report, in days (`-7`: expired in the last 7 days).
const EXPIRING_WINDOWS: [i64; 4] = [90, 60, 30, -7];

async fn expiring_report(State(shared): State<AppState>) -> ApiResult {
    let now = shared.now();
    let mut store = lock(&shared.store);
    store.advance_all(&shared.ca, now);
    let days: Vec<i64> = store
        .orders()
        .values()
        .filter(|r| r.status == OrderStatus::Issued && r.revoked_at.is_none())
        .filter_map(|r| r.days_remaining(now))
        .collect();
    let expiring_orders = EXPIRING_WINDOWS
        .iter()
        .map(|&window| {
            let count = days
                .iter()
                .filter(|&&d| {
                    if window < 0 {
                        (window..0).contains(&d)
                    } else {
                        (0..=window).contains(&d)
                    }
                })
                .count();
            ExpiringCount {
                days_expiring: Some(window),
                order_count: Some(i64::try_from(count).unwrap_or(i64::MAX)),
            }
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &ExpiringReport { expiring_orders },
    ))
}

// ---------------------------------------------------------------- downloads

fn parse_format(text: &str) -> Result<DownloadFormat, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_value:format",
            format!(
                "download format {text:?} is not supported; allowed: {}",
                DownloadFormat::allowed()
            ),
        )
    })
}

fn download(shared: &Shared, leaf: &[u8], format: DownloadFormat) -> ApiResult {
    let (with_int, with_root) = match format {
        DownloadFormat::PemAll => (true, true),
        DownloadFormat::PemNoroot => (true, false),
        DownloadFormat::PemNointermediate => (false, false),
        DownloadFormat::P7b => {
            let der = shared.ca.p7b(leaf).map_err(|err| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    format!("cannot encode PKCS#7: {err}"),
                )
            })?;
            return Ok(binary_response(der, "application/x-pkcs7-certificates"));
        }
    };
    let pem: String = shared
        .ca
        .chain(leaf, with_int, with_root)
        .into_iter()
        .map(pem_cert)
        .collect();
    let mut response = Body::from(pem).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    Ok(response)
}

/// A `200` with `body` as `content_type`.
fn binary_response(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = Body::from(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn issued_leaf(record: &crate::state::OrderRecord) -> Result<Vec<u8>, ApiError> {
    match &record.issued {
        Some(cert) => Ok(cert.der.clone()),
        None => Err(ApiError::bad_request(
            "cert_unavailable_for_download",
            match &record.note {
                Some(note) if record.key.is_none() => format!(
                    "order {} is {} and has no certificate to download: {note}",
                    record.id, record.status
                ),
                _ => format!(
                    "order {} is {}; a certificate can be downloaded once the order is issued",
                    record.id, record.status
                ),
            },
        )),
    }
}

async fn download_by_certificate(
    State(shared): State<AppState>,
    Path((id, format)): Path<(String, String)>,
) -> ApiResult {
    let id = parse_id(&id, "certificate")?;
    let format = parse_format(&format)?;
    let leaf = {
        let mut store = lock(&shared.store);
        let record = store
            .order_by_certificate(&shared.ca, id, shared.now())
            .ok_or_else(|| {
                ApiError::not_found("certificate", format!("certificate {id} does not exist"))
            })?;
        issued_leaf(record)?
    };
    download(&shared, &leaf, format)
}

async fn download_by_order(
    State(shared): State<AppState>,
    Path((id, format)): Path<(String, String)>,
) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let format = parse_format(&format)?;
    let leaf = {
        let mut store = lock(&shared.store);
        let record = store
            .order(&shared.ca, id, shared.now())
            .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?;
        issued_leaf(record)?
    };
    download(&shared, &leaf, format)
}

async fn product_info(Path(name_id): Path<String>) -> ApiResult {
    let product: ProductId = name_id.parse().map_err(|_| {
        ApiError::not_found(
            "product",
            format!(
                "product {name_id:?} does not exist; client certificate products: {}",
                ProductId::allowed()
            ),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &crate::state::product_info(product),
    ))
}

// ---------------------------------------------------------------- inspection

/// `GET /_sandbox/orders`.
#[derive(serde::Serialize)]
struct InspectOrders {
    orders: Vec<crate::SandboxOrder>,
}

async fn inspect_orders(State(shared): State<AppState>) -> Response {
    axum::Json(InspectOrders {
        orders: shared.snapshot(),
    })
    .into_response()
}

async fn inspect_stats(State(shared): State<AppState>) -> Response {
    axum::Json(shared.stats()).into_response()
}

/// The issuing CA's certificate, DER (the leaves' AIA caIssuers URL).
async fn ca_certificate(State(shared): State<AppState>) -> Response {
    binary_response(
        shared.ca.intermediate_der().to_vec(),
        "application/pkix-cert",
    )
}

/// `GET /_sandbox/crl` and the leaves' CRL distribution point (`/_sandbox/ca/intermediate.crl`):
/// the revoked serials as a DER CRL signed by the issuing (intermediate) test CA.
async fn inspect_crl(State(shared): State<AppState>) -> ApiResult {
    let now = shared.now();
    let (revoked, number) = {
        let mut store = lock(&shared.store);
        (store.revoked_serials(), store.next_crl_number())
    };
    let der = shared.ca.crl(&revoked, now, number).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("cannot sign the CRL: {err}"),
        )
    })?;
    Ok(binary_response(der, "application/pkix-crl"))
}

/// `GET`/`POST /_sandbox/clock`: the sandbox's time and its offset from the real clock.
#[derive(serde::Serialize)]
struct ClockState {
    now: String,
    offset_seconds: i64,
}

/// `POST /_sandbox/clock` body: exactly one of `now` (RFC 3339), `offset_seconds` or
/// `advance_days` (added to the current offset).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    now: Option<String>,
    offset_seconds: Option<i64>,
    advance_days: Option<i64>,
}

fn clock_state(shared: &Shared) -> Response {
    let offset = *lock(&shared.clock_offset);
    axum::Json(ClockState {
        now: rfc3339(shared.now()),
        offset_seconds: offset.num_seconds(),
    })
    .into_response()
}

async fn get_clock(State(shared): State<AppState>) -> Response {
    clock_state(&shared)
}

async fn set_clock(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    const FORMAT: &str = "expected exactly one of {\"now\": \"RFC 3339 time\"}, {\"offset_seconds\": N} or {\"advance_days\": N}";
    let change: ClockChange = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request("bad_request_format", format!("{err}; {FORMAT}")))?;
    let offset = match (change.now, change.offset_seconds, change.advance_days) {
        (Some(now), None, None) => {
            let at = DateTime::parse_from_rfc3339(&now).map_err(|err| {
                ApiError::bad_request(
                    "invalid_value:now",
                    format!("now {now:?} is not an RFC 3339 time: {err}"),
                )
            })?;
            at.with_timezone(&Utc) - Utc::now()
        }
        (None, Some(seconds), None) => chrono::Duration::try_seconds(seconds).ok_or_else(|| {
            ApiError::bad_request("invalid_value:offset_seconds", "offset out of range")
        })?,
        (None, None, Some(days)) => chrono::Duration::try_days(days)
            .and_then(|d| lock(&shared.clock_offset).checked_add(&d))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_value:advance_days", "offset out of range")
            })?,
        _ => return Err(ApiError::bad_request("bad_request_format", FORMAT)),
    };
    shared.set_clock_offset(offset);
    Ok(clock_state(&shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn date_filters() {
        assert_eq!(
            parse_date_filter("2026-11-28"),
            Some(DateFilter::Range(
                at("2026-11-28T00:00:00Z"),
                at("2026-11-28T23:59:59.999Z")
            ))
        );
        assert_eq!(
            parse_date_filter("2026-11-01...2026-11-28"),
            Some(DateFilter::Range(
                at("2026-11-01T00:00:00Z"),
                at("2026-11-28T23:59:59.999Z")
            ))
        );
        assert_eq!(
            parse_date_filter(">=2026-11-28T10:00:00Z"),
            Some(DateFilter::Range(
                at("2026-11-28T10:00:00Z"),
                DateTime::<Utc>::MAX_UTC
            ))
        );
        assert_eq!(
            parse_date_filter("<2026-11-28 10:00:00"),
            Some(DateFilter::Range(
                DateTime::<Utc>::MIN_UTC,
                at("2026-11-28T09:59:59Z")
            ))
        );
        assert_eq!(parse_date_filter("yesterday"), None);
        assert_eq!(parse_date_filter("2026-13-01"), None);
    }

    #[test]
    fn key_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        #[test]
        fn date_filter_never_panics(text in "\\PC{0,40}") {
            let _ = parse_date_filter(&text);
        }

        #[test]
        fn a_day_filter_covers_exactly_that_day(days in 0i64..40_000) {
            let day = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
            let Some(DateFilter::Range(from, to)) = parse_date_filter(&day.to_string()) else {
                return Err(proptest::test_runner::TestCaseError::fail("not parsed"));
            };
            proptest::prop_assert_eq!(from.date_naive(), day);
            proptest::prop_assert_eq!(to.date_naive(), day);
            proptest::prop_assert!(from < to);
        }
    }
}
