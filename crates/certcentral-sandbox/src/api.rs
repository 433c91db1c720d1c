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
use axum::routing::{get, put};
use certcentral_types::WireEnum;
use certcentral_types::catalog::STATUS_CHANGES_MAX_MINUTES;
use certcentral_types::{
    ApiErrorEntry, DownloadFormat, EmailValidation, EmailValidationEntry, ErrorBody, OrderBody,
    OrderInfo, OrderList, OrderResponse, OrderStatus, OrderStatusUpdate, Page, ProductId,
    RequestDecision, RequestStatusUpdate, StatusChanges,
};
use certcentral_validate::{Context, validate_json};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::ca::{CsrError, parse_csr, pem_cert};
use crate::server::ConnectionKill;
use crate::state::{ChangeError, NewOrder, Shared, leaf_spec};
use crate::{Approval, lock};

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
        .route("/stats", get(inspect_stats))
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
            next.run(request).await
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
    let product: ProductId = product.parse().map_err(|_| {
        ApiError::not_found(
            "product",
            format!(
                "product {product:?} is not a client certificate product; allowed: {}",
                ProductId::allowed()
            ),
        )
    })?;
    let now = Utc::now();
    let ctx = Context::new(product).with_today(now.date_naive());
    let report = validate_json(&body, &ctx);
    if !report.errors.is_empty() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            errors: report
                .errors
                .iter()
                .map(|v| (v.digicert_code(), v.message.clone()))
                .collect(),
        });
    }
    let order = serde_json::from_slice::<serde_json::Value>(&body)
        .and_then(|doc| OrderBody::from_value(product.spec().profile.body, doc))
        .map(|body| match body {
            OrderBody::ClientCertificate(order) => order,
            OrderBody::SecureEmail(body) => crate::state::secure_email_record(body),
        })
        .map_err(|err| {
            ApiError::bad_request(
                "bad_request_format",
                format!("the body does not match the order format: {err}"),
            )
        })?;
    let key = match order.certificate.csr.as_deref() {
        None => None,
        Some(csr) => Some(parse_csr(csr, product.spec().profile.key_policy).map_err(
            |err| match err {
                CsrError::CannotParse(message) => {
                    ApiError::bad_request("csr_invalid_cannot_parse", message)
                }
                CsrError::UnsupportedKey(message) => {
                    ApiError::bad_request("invalid_value:certificate.csr", message)
                }
            },
        )?),
    };
    let approved = order.skip_approval || shared.config.approval == Approval::Auto;
    let issue_delay = shared.config.issue_delay;
    // Sign outside the lock when the certificate is due at once.
    let issued = match (&key, approved && issue_delay.is_zero()) {
        (Some(key), true) => Some(
            shared
                .ca
                .issue(&leaf_spec(product, &order, now), key)
                .map_err(|err| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        format!("the sandbox CA failed to issue: {err}"),
                    )
                })?,
        ),
        _ => None,
    };
    let created = {
        let mut store = lock(&shared.store);
        let id = store.insert(NewOrder {
            product,
            order,
            key,
            approved,
            issue_delay,
            issued,
            now,
        });
        store
            .order(&shared.ca, id, now)
            .map(|record| record.created())
            .unwrap_or(OrderResponse {
                id,
                requests: Vec::new(),
                certificate_id: None,
                certificate_chain: Vec::new(),
                organization: None,
            })
    };
    let drop_connection = lock(&shared.faults).drop_after_commit();
    if let (true, Some(axum::Extension(ConnectionKill(kill)))) = (drop_connection, kill) {
        shared.record_drop();
        kill.notify_one();
        // The connection task drops this future together with the connection.
        std::future::pending::<()>().await;
    }
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn order_info(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let mut store = lock(&shared.store);
    let record = store
        .order(&shared.ca, id, Utc::now())
        .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?;
    Ok(json_response(StatusCode::OK, &record.info()))
}

async fn email_validation(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "order")?;
    let mut store = lock(&shared.store);
    let record = store
        .order(&shared.ca, id, Utc::now())
        .ok_or_else(|| ApiError::not_found("order", format!("order {id} does not exist")))?;
    let validated = matches!(record.status, OrderStatus::Pending | OrderStatus::Issued);
    let emails = record
        .order
        .certificate
        .emails
        .iter()
        .map(|email| EmailValidationEntry {
            email: Some(email.clone()),
            status: Some(
                if validated {
                    "validated"
                } else {
                    "unvalidated"
                }
                .to_owned(),
            ),
            date_emailed: Some(
                record
                    .created
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            ),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &EmailValidation { emails }))
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
    let mut errors = Vec::new();
    let mut status = None;
    let mut product = None;
    let mut common_name = None;
    let mut email = None;
    let mut date = None;
    let mut offset = 0usize;
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in &query {
        match key.as_str() {
            "filters[status]" => status = Some(OrderStatus::from(value.as_str())),
            "filters[product_name_id]" => product = Some(value.clone()),
            "filters[common_name]" => common_name = Some(value.clone()),
            "filters[email]" => email = Some(value.to_lowercase()),
            "filters[date_created]" => match parse_date_filter(value) {
                Some(filter) => date = Some(filter),
                None => errors.push((
                    "invalid_value:filters.date_created".to_string(),
                    format!("date filter {value:?} is not understood; use YYYY-MM-DD, FROM...TO, >=DATE, >DATE, <=DATE or <DATE (dates YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"),
                )),
            },
            "offset" => match value.parse::<usize>() {
                Ok(n) => offset = n,
                Err(_) => errors.push((
                    "invalid_value:offset".to_string(),
                    format!("offset {value:?} is not a non-negative integer"),
                )),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=DEFAULT_LIMIT).contains(&n) => limit = n,
                _ => errors.push((
                    "invalid_value:limit".to_string(),
                    format!("limit {value:?} is not an integer from 1 to {DEFAULT_LIMIT}"),
                )),
            },
            other if other.starts_with("filters[") => errors.push((
                format!("invalid_value:{other}"),
                format!("unknown filter {other}; allowed: filters[status], filters[product_name_id], filters[common_name], filters[email], filters[date_created]"),
            )),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            errors,
        });
    }
    let mut store = lock(&shared.store);
    store.advance_all(&shared.ca, Utc::now());
    let matching: Vec<OrderInfo> = store
        .orders
        .values()
        .filter(|r| status.as_ref().is_none_or(|s| *s == r.status))
        .filter(|r| {
            product
                .as_deref()
                .is_none_or(|p| p == r.product.to_string())
        })
        .filter(|r| {
            common_name
                .as_deref()
                .is_none_or(|cn| cn == crate::state::subject_name(&r.order))
        })
        .filter(|r| {
            email.as_deref().is_none_or(|e| {
                r.order
                    .certificate
                    .emails
                    .iter()
                    .any(|x| x.to_lowercase() == e)
            })
        })
        .filter(|r| match &date {
            None => true,
            Some(DateFilter::Range(from, to)) => *from <= r.created && r.created <= *to,
        })
        .map(|r| r.info().info)
        .collect();
    drop(store);
    let total = matching.len();
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    // An empty page omits `orders`, as DigiCert does.
    let body = OrderList {
        orders: matching.into_iter().skip(offset).take(limit).collect(),
        page: Some(Page {
            total: Some(count(total)),
            limit: Some(count(limit)),
            offset: Some(count(offset)),
        }),
    };
    Ok(json_response(StatusCode::OK, &body))
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
    let now = Utc::now();
    let since = now - chrono::Duration::minutes(minutes);
    let mut store = lock(&shared.store);
    store.advance_all(&shared.ca, now);
    let orders = store
        .orders
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
    let now = Utc::now();
    let mut store = lock(&shared.store);
    store
        .decide(
            id,
            approve,
            update.processor_comment,
            now,
            shared.config.issue_delay,
        )
        .map_err(|err| match err {
            ChangeError::NotFound => {
                ApiError::not_found("request", format!("request {id} does not exist"))
            }
            ChangeError::WrongState(message) => {
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
        .cancel(&shared.ca, id, update.note, Utc::now())
        .map_err(|err| match err {
            ChangeError::NotFound => {
                ApiError::not_found("order", format!("order {id} does not exist"))
            }
            ChangeError::WrongState(message) => {
                ApiError::bad_request("invalid_order_status", message)
            }
        })?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
            let mut response = Body::from(der).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pkcs7-certificates"),
            );
            return Ok(response);
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
            .order_by_certificate(&shared.ca, id, Utc::now())
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
            .order(&shared.ca, id, Utc::now())
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
