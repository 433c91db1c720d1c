//! The client, its builder and the hand-written transport core every endpoint method calls.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use tracing::field::Empty;
use url::{Host, Url};

use crate::error::{Error, TransportError, TransportKind, snippet};
use crate::limiter::{Limiter, RateLimits};

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "X-DC-DEVKEY";

/// The user agent sent with every request: `certcentral/<version>`.
pub const USER_AGENT: &str = concat!("certcentral/", env!("CARGO_PKG_VERSION"));

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default total timeout of one HTTP exchange.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The CertCentral instance to talk to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Region {
    /// United States: `https://www.digicert.com/services/v2`.
    #[default]
    Us,
    /// Europe: `https://certcentral.digicert.eu/services/v2`.
    Eu,
}

impl Region {
    /// The region's API base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Us => "https://www.digicert.com/services/v2",
            Self::Eu => "https://certcentral.digicert.eu/services/v2",
        }
    }
}

/// How failed calls are retried (see the crate documentation for which calls and failures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles on each retry, with jitter.
    pub base_delay: Duration,
    /// Longest backoff between two attempts.
    pub max_delay: Duration,
    /// Longest server `Retry-After` the client waits for; a longer one ends the call with
    /// [`Error::RateLimited`] at once.
    pub max_retry_after: Duration,
    /// Wall-clock budget of one call across all its attempts, `Retry-After` waits and
    /// backoffs included, counted from the call's start: a wait that would end after it is
    /// not slept, the call ends with the error at hand (e.g. [`Error::RateLimited`]) instead.
    /// No attempt starts after the deadline; one in flight is answered (bounded by the
    /// client's timeout).
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The policy as the client applies it: at least one attempt.
    fn normalized(self) -> Self {
        Self {
            max_attempts: self.max_attempts.max(1),
            ..self
        }
    }

    /// The wait before retry number `retry` (1-based) of a request the server provably did
    /// not process (`429`, or no connection: `retry_after` is then `None`): the server's
    /// `Retry-After`, else [`RetryPolicy::backoff`]. `None` when the server asks for longer
    /// than `max_retry_after`: the call ends at once. The client's own rule, for callers
    /// that retry such a request themselves (`certcentral bulk`), so there is one rule.
    pub fn not_processed_wait(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        match retry_after {
            Some(d) if d > self.max_retry_after => None,
            Some(d) => Some(d),
            None => Some(self.backoff(retry)),
        }
    }

    /// Whether an attempt after waiting `wait`, `elapsed` into a call, still starts within
    /// the deadline (no attempt starts after it).
    pub fn starts_in_time(&self, elapsed: Duration, wait: Duration) -> bool {
        elapsed.saturating_add(wait) <= self.deadline
    }

    /// The jittered backoff before retry number `retry` (1-based): a uniform draw from the
    /// upper half of `min(max_delay, base_delay * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = full / 2;
        let jitter_ms = half.as_millis().min(u128::from(u64::MAX)) as u64;
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
        };
        half + jitter
    }
}

/// One endpoint of the API, as described in `schema/endpoints.json` (generated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The client method's name.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template below the base URL, e.g. `/order/certificate/{order_id}`.
    pub path: &'static str,
    /// Documented success status (any 2xx is accepted).
    pub success: u16,
    /// Whether a retry is harmless (see [`RetryPolicy`]).
    pub idempotent: bool,
}

/// Builds a [`Client`]. Start with [`Client::builder`].
pub struct ClientBuilder {
    api_key: Option<SecretString>,
    region: Region,
    base_url: Option<String>,
    connect_timeout: Duration,
    timeout: Duration,
    rate_limits: RateLimits,
    retry: RetryPolicy,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("rate_limits", &self.rate_limits)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            region: Region::Us,
            base_url: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            rate_limits: RateLimits::documented(),
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// The API key (required). Sent as the `X-DC-DEVKEY` header, marked sensitive.
    pub fn api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    /// The region (default [`Region::Us`]); ignored when [`ClientBuilder::base_url`] is set.
    pub fn region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// A custom base URL, e.g. a sandbox's `http://127.0.0.1:PORT/services/v2`. Must be
    /// `https://`, or plain `http://` to a loopback host (127.0.0.0/8, `::1`, `localhost`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total timeout of one HTTP exchange, body included (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client-side rate limits (default [`RateLimits::documented`]).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client.
    ///
    /// Fails with [`Error::InvalidArgument`] when the key is missing or empty or not valid in a
    /// header, or the base URL is not acceptable (see [`ClientBuilder::base_url`]).
    pub fn build(self) -> Result<Client, Error> {
        let Some(key) = self.api_key else {
            return Err(Error::InvalidArgument(
                "an api key is required: call ClientBuilder::api_key".into(),
            ));
        };
        if key.expose_secret().trim().is_empty() {
            return Err(Error::InvalidArgument("the api key is empty".into()));
        }
        let mut key_header = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
            Error::InvalidArgument(
                "the api key contains characters not allowed in an http header (control \
                 characters or non-ascii)"
                    .into(),
            )
        })?;
        key_header.set_sensitive(true);

        let base_text = self
            .base_url
            .unwrap_or_else(|| self.region.base_url().to_string());
        let base = check_base_url(&base_text)
            .map_err(|err| Error::InvalidArgument(format!("base url {base_text:?}: {err}")))?;
        let loopback_http = base.scheme() == "http";

        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "timeouts must be greater than zero".into(),
            ));
        }
        let mut http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .use_rustls_tls()
            .https_only(!loopback_http);
        if loopback_http {
            // Never hand a plain-http request (and its key) to a proxy.
            http = http.no_proxy();
        }
        let http = http.build().map_err(|err| {
            Error::InvalidArgument(format!("the http client cannot be built: {err}"))
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                key_header,
                key,
                limiter: Limiter::new(&self.rate_limits),
                rate_limits: self.rate_limits,
            }),
            retry: self.retry.normalized(),
        })
    }
}

/// Why a base URL is refused by [`check_base_url`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// Not a URL at all.
    #[error("not a valid url ({0}); expected e.g. https://www.digicert.com/services/v2")]
    Parse(String),
    /// A user name or password in the URL.
    #[error("credentials in the url are not allowed; the api key is given separately")]
    Credentials,
    /// A `?query` or `#fragment`.
    #[error("a query or fragment is not allowed")]
    QueryOrFragment,
    /// No host.
    #[error("the url has no host")]
    NoHost,
    /// Plain http to a host that is not loopback.
    #[error(
        "plain http is allowed only to loopback hosts (127.0.0.0/8, ::1, localhost); use https"
    )]
    PlainHttp,
    /// Another scheme.
    #[error("scheme {0:?} is not allowed; use https")]
    Scheme(String),
}

/// Checks a base URL the way [`ClientBuilder::build`] does: an absolute `https` URL without
/// credentials, query or fragment, or plain `http` to a loopback host only (127.0.0.0/8, `::1`,
/// `localhost`), so the API key never crosses a network in clear. Programs that take a base
/// URL from their user call this to refuse it early, with the same rule.
pub fn check_base_url(text: &str) -> Result<Url, BaseUrlError> {
    let url = Url::parse(text.trim()).map_err(|err| BaseUrlError::Parse(err.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlError::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BaseUrlError::QueryOrFragment);
    }
    let host = url.host().ok_or(BaseUrlError::NoHost)?;
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match host {
                Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
                Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
            };
            if loopback {
                Ok(url)
            } else {
                Err(BaseUrlError::PlainHttp)
            }
        }
        other => Err(BaseUrlError::Scheme(other.to_string())),
    }
}

/// An async CertCentral client. Cheap to clone: clones share one connection pool and one rate
/// limiter.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// The retry policy of the calls made through this handle (see
    /// [`Client::with_retry_policy`]).
    retry: RetryPolicy,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    key_header: HeaderValue,
    key: SecretString,
    limiter: Limiter,
    rate_limits: RateLimits,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("api_key", &"[redacted]")
            .field("rate_limits", &self.inner.rate_limits)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A response with a success status.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Client {
    /// A builder with the defaults: region US, documented rate limits, 10 s connect and 60 s
    /// total timeouts, 5 attempts.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The rate limits this client (and its clones) keep under.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.rate_limits
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The same client (connection pool, rate limiter, key) whose calls, and those of the
    /// [`crate::Order`] handles they return, retry by `retry` instead: e.g. a per-call
    /// deadline, the time left of a caller's own budget (`certcentral bulk` passes the
    /// patience left for a POST not processed). Cheap: nothing is built or connected.
    pub fn with_retry_policy(&self, retry: RetryPolicy) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            retry: retry.normalized(),
        }
    }

    /// The full URL of `endpoint` with `path` parameters substituted (percent-encoded) and
    /// `query` appended.
    pub(crate) fn endpoint_url(
        &self,
        endpoint: &Endpoint,
        path: &[(&str, String)],
        query: &[(&str, String)],
    ) -> Result<Url, Error> {
        let mut url = self.inner.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| Error::InvalidArgument("the base url cannot take a path".into()))?;
            segments.pop_if_empty();
            for segment in endpoint.path.split('/').filter(|s| !s.is_empty()) {
                match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => {
                        let value = path
                            .iter()
                            .find(|(n, _)| *n == name)
                            .map(|(_, v)| v.as_str())
                            .ok_or_else(|| {
                                Error::InvalidArgument(format!(
                                    "path parameter {name} of {} is missing",
                                    endpoint.name
                                ))
                            })?;
                        if value.is_empty() || value == "." || value == ".." {
                            return Err(Error::InvalidArgument(format!(
                                "path parameter {name} of {} must not be empty, `.` or `..`",
                                endpoint.name
                            )));
                        }
                        segments.push(value);
                    }
                    None => {
                        segments.push(segment);
                    }
                }
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// Sends one call with the retry policy that fits the endpoint; returns a 2xx response or
    /// the error.
    pub(crate) async fn execute(
        &self,
        endpoint: &Endpoint,
        path: &[(&str, String)],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, Error> {
        let url = self.endpoint_url(endpoint, path, query)?;
        let method = reqwest::Method::from_bytes(endpoint.method.as_bytes()).map_err(|_| {
            Error::InvalidArgument(format!("bad http method {:?}", endpoint.method))
        })?;
        let retry = &self.retry;
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let span = tracing::debug_span!(
                "certcentral.request",
                endpoint = endpoint.name,
                method = endpoint.method,
                path = endpoint.path,
                attempt,
                status = Empty,
                latency_ms = Empty,
            );
            let outcome = self
                .attempt(&method, &url, body.as_ref())
                .instrument(span.clone())
                .await;
            let _enter = span.enter();
            // The wait before the next attempt, or the end of the call.
            let (wait, error) = match self.next_step(endpoint, attempt, outcome) {
                Step::Done(result) => return result,
                Step::Retry { wait, error } => (wait, error),
            };
            if !retry.starts_in_time(started.elapsed(), wait) {
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    deadline_ms = retry.deadline.as_millis() as u64,
                    "the next attempt would start after the retry deadline"
                );
                return Err(error);
            }
            tracing::debug!(wait_ms = wait.as_millis() as u64, "retrying");
            drop(_enter);
            tokio::time::sleep(wait).await;
        }
    }

    /// What an attempt's outcome leads to: the end of the call, or another attempt after a
    /// wait (with the error to end the call with if that attempt would start too late).
    fn next_step(
        &self,
        endpoint: &Endpoint,
        attempt: u32,
        outcome: Result<(u16, Vec<u8>, Option<Duration>), TransportError>,
    ) -> Step {
        let retry = &self.retry;
        let last = attempt >= retry.max_attempts;
        match outcome {
            Ok((status, body, _)) if (200..300).contains(&status) => {
                if status != endpoint.success {
                    tracing::debug!(
                        expected = endpoint.success,
                        status,
                        "success status differs from the documented one"
                    );
                }
                Step::Done(Ok(RawResponse { status, body }))
            }
            Ok((429, _, retry_after)) => {
                let error = Error::RateLimited { retry_after };
                match retry.not_processed_wait(attempt, retry_after) {
                    Some(wait) if !last => Step::Retry { wait, error },
                    _ => Step::Done(Err(error)),
                }
            }
            Ok((status, body, retry_after)) => {
                let error = self.error_from_response(status, &body);
                if status < 500 || !endpoint.idempotent || last {
                    return Step::Done(Err(error));
                }
                let wait = retry_after
                    .filter(|d| *d <= retry.max_retry_after)
                    .unwrap_or_else(|| retry.backoff(attempt));
                Step::Retry { wait, error }
            }
            Err(err) => {
                let retry_ok = !err.maybe_reached_server() || endpoint.idempotent;
                if !retry_ok || last {
                    return Step::Done(Err(Error::Transport(err)));
                }
                tracing::debug!(error = %err, "transport error");
                Step::Retry {
                    wait: retry.backoff(attempt),
                    error: Error::Transport(err),
                }
            }
        }
    }

    /// One HTTP exchange: waits for the limiter, sends, reads the whole body.
    async fn attempt(
        &self,
        method: &reqwest::Method,
        url: &Url,
        body: Option<&Vec<u8>>,
    ) -> Result<(u16, Vec<u8>, Option<Duration>), TransportError> {
        // Held until the body is read: the limiter counts the request until it completes.
        let _permit = self.inner.limiter.acquire().await;
        let span = tracing::Span::current();
        let start = std::time::Instant::now();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(API_KEY_HEADER, self.inner.key_header.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let result = async {
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status().as_u16();
            span.record("status", status);
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            let body = response.bytes().await.map_err(|err| {
                let mut err = transport_error(err);
                if err.kind() == TransportKind::Connect {
                    err = TransportError::new(
                        TransportKind::Interrupted,
                        "reading the response body failed",
                        None,
                    );
                }
                err
            })?;
            Ok((status, body.to_vec(), retry_after))
        }
        .await;
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        span.record("latency_ms", latency_ms);
        match &result {
            Ok((status, _, _)) => tracing::debug!(status, latency_ms, "response"),
            Err(err) => tracing::debug!(error = %err, latency_ms, "no response"),
        }
        result
    }

    /// Maps an error status and body to [`Error::Api`] or [`Error::Decode`].
    pub(crate) fn error_from_response(&self, status: u16, body: &[u8]) -> Error {
        match serde_json::from_slice::<certcentral_types::ErrorBody>(body) {
            Ok(parsed) => Error::Api {
                status,
                errors: parsed.errors.into_iter().map(Into::into).collect(),
            },
            Err(_) => self.decode_error(status, body),
        }
    }

    /// [`Error::Decode`] with a safe snippet of `body`.
    pub(crate) fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        Error::Decode {
            status,
            snippet: snippet(body, self.inner.key.expose_secret()),
        }
    }

    /// Serializes a request body.
    pub(crate) fn encode<B: Serialize>(body: &B) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(body).map_err(|err| {
            Error::InvalidArgument(format!("the request body cannot be serialized: {err}"))
        })
    }

    /// Calls a JSON endpoint.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &[(&str, String)],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let response = self.execute(endpoint, path, query, body).await?;
        serde_json::from_slice(&response.body)
            .map_err(|_| self.decode_error(response.status, &response.body))
    }

    /// Calls an endpoint answering a JSON body or nothing (`204`, or an empty `2xx` body):
    /// `None` for the empty answer.
    pub(crate) async fn call_json_or_empty<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &[(&str, String)],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Option<T>, Error> {
        let response = self.execute(endpoint, path, query, body).await?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&response.body)
            .map(Some)
            .map_err(|_| self.decode_error(response.status, &response.body))
    }

    /// Calls an endpoint answering raw bytes.
    pub(crate) async fn call_bytes(
        &self,
        endpoint: &Endpoint,
        path: &[(&str, String)],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.execute(endpoint, path, query, body).await?.body)
    }

    /// Calls an endpoint answering no body.
    pub(crate) async fn call_empty(
        &self,
        endpoint: &Endpoint,
        path: &[(&str, String)],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(), Error> {
        self.execute(endpoint, path, query, body).await.map(|_| ())
    }
}

/// Classifies a reqwest error.
fn transport_error(err: reqwest::Error) -> TransportError {
    let kind = if err.is_connect() {
        TransportKind::Connect
    } else if err.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Interrupted
    };
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    TransportError::new(kind, message, Some(Box::new(err)))
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date.
pub(crate) fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// What one attempt of [`Client::execute`] leads to.
enum Step {
    /// The call ends with this.
    Done(Result<RawResponse, Error>),
    /// Another attempt after `wait`; `error` ends the call if it would start too late.
    Retry { wait: Duration, error: Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Result<Client, Error> {
        Client::builder()
            .api_key(SecretString::from("k-123"))
            .base_url(base)
            .build()
    }

    #[test]
    fn base_url_rules() {
        for ok in [
            "https://www.digicert.com/services/v2",
            "http://127.0.0.1:8080/services/v2",
            "http://127.9.9.9/services/v2/",
            "http://[::1]:1/services/v2",
            "http://localhost:3000/x",
            "http://LOCALHOST:3000/x",
        ] {
            assert!(client(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "http://example.com/services/v2",
            "http://10.0.0.1/services/v2",
            "http://[::2]/x",
            "http://localhost.example.com/x",
            "ftp://127.0.0.1/x",
            "https://user:pw@example.com/x",
            "https://example.com/x?a=b",
            "not a url",
        ] {
            let err = client(bad).expect_err(bad);
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad}: {err}");
        }
        let err = client("http://example.com/services/v2").unwrap_err();
        assert!(
            err.to_string()
                .contains("plain http is allowed only to loopback")
        );
    }

    #[test]
    fn key_rules_and_debug() {
        let err = Client::builder().build().unwrap_err();
        assert!(err.to_string().contains("api key is required"));
        let err = Client::builder()
            .api_key(SecretString::from(" "))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("empty"));
        let err = Client::builder()
            .api_key(SecretString::from("bad\nkey-SECRET"))
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
        let c = Client::builder()
            .api_key(SecretString::from("very-secret-key"))
            .region(Region::Eu)
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "https://certcentral.digicert.eu/services/v2");
        let debug = format!(
            "{c:?} {:?}",
            Client::builder().api_key(SecretString::from("very-secret-key"))
        );
        assert!(!debug.contains("very-secret-key"), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert_eq!(
            Client::builder()
                .api_key(SecretString::from("k"))
                .build()
                .unwrap()
                .base_url(),
            "https://www.digicert.com/services/v2"
        );
    }

    #[test]
    fn urls_are_built_from_templates() {
        let c = client("http://127.0.0.1:9/services/v2/").unwrap();
        let ep = Endpoint {
            name: "x",
            method: "GET",
            path: "/certificate/{certificate_id}/download/format/{format}",
            success: 200,
            idempotent: true,
        };
        let url = c
            .endpoint_url(
                &ep,
                &[
                    ("certificate_id", "a/b c?".into()),
                    ("format", "p7b".into()),
                ],
                &[("filters[common_name]", "Lock Cole&x=1".into())],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/services/v2/certificate/a%2Fb%20c%3F/download/format/p7b\
             ?filters%5Bcommon_name%5D=Lock+Cole%26x%3D1"
        );
        assert!(
            c.endpoint_url(&ep, &[("format", "p7b".into())], &[])
                .is_err()
        );
        assert!(
            c.endpoint_url(
                &ep,
                &[("certificate_id", "..".into()), ("format", "p7b".into())],
                &[]
            )
            .is_err()
        );
    }

    fn percent_decode(segment: &str) -> Vec<u8> {
        let bytes = segment.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Any path parameter becomes exactly one segment that decodes back to itself.
        #[test]
        fn path_params_stay_one_segment(value in "\\PC{1,24}") {
            proptest::prop_assume!(value != "." && value != "..");
            let c = client("http://127.0.0.1:9/services/v2").unwrap();
            let ep = Endpoint {
                name: "x",
                method: "GET",
                path: "/order/certificate/{order_id}/status",
                success: 200,
                idempotent: true,
            };
            let url = c.endpoint_url(&ep, &[("order_id", value.clone())], &[]).unwrap();
            let reparsed = Url::parse(url.as_str()).unwrap();
            let segments: Vec<&str> = reparsed.path_segments().unwrap().collect();
            proptest::prop_assert_eq!(segments.len(), 6, "{}", url);
            proptest::prop_assert_eq!(segments[5], "status");
            proptest::prop_assert_eq!(percent_decode(segments[4]), value.as_bytes().to_vec());
        }

        /// The Retry-After parser never panics and reads any delay in seconds.
        #[test]
        fn retry_after_never_panics(text in "\\PC{0,40}", secs in 0u64..1_000_000) {
            let now = chrono::Utc::now();
            let _ = parse_retry_after(&text, now);
            proptest::prop_assert_eq!(
                parse_retry_after(&secs.to_string(), now),
                Some(Duration::from_secs(secs))
            );
        }
    }

    #[test]
    fn retry_after_parsing() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    /// Backoffs of 100 ms doubling to 1 s, Retry-After up to 1 s, a 10 s deadline.
    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = policy();
        for retry in 1..30 {
            let d = p.backoff(retry);
            let full = Duration::from_millis(100 * (1u64 << (retry - 1).min(20))).min(p.max_delay);
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
        }
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }

    /// One rule for a request not processed: the server's Retry-After unless longer than the
    /// policy waits for, else the backoff; an attempt never starts after the deadline.
    #[test]
    fn not_processed_waits_follow_the_policy() {
        let p = policy();
        assert_eq!(
            p.not_processed_wait(3, Some(Duration::from_millis(700))),
            Some(Duration::from_millis(700))
        );
        assert_eq!(p.not_processed_wait(3, Some(Duration::from_secs(2))), None);
        let backoff = p.not_processed_wait(2, None).unwrap();
        assert!(backoff >= Duration::from_millis(100) && backoff <= Duration::from_millis(200));
        assert!(p.starts_in_time(Duration::from_secs(9), Duration::from_secs(1)));
        assert!(!p.starts_in_time(Duration::from_secs(9), Duration::from_millis(1001)));
    }
}
