//! A local emulator of DigiCert's CertCentral Services API v2 for client certificates.
//!
//! DigiCert offers no public sandbox. This crate serves the documented endpoints over real
//! HTTP (axum/hyper), validates order bodies with `certcentral-validate`, and issues real X.509
//! certificates from an in-memory test CA (root + intermediate generated at start) over the
//! public key of each order's CSR. Rate limits, approval, issuance delay and faults
//! (5xx, 429, dropped connections, latency, HTML error pages) are configurable.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use certcentral_sandbox::{Approval, RateLimit, Sandbox};
//!
//! let sandbox = Sandbox::builder()
//!     .api_key("test-key")
//!     .rate_limit(RateLimit::Off)
//!     .approval(Approval::Auto)
//!     .issue_delay(Duration::ZERO)
//!     .seed(42)
//!     .start("127.0.0.1:0".parse()?)
//!     .await?;
//! println!("{}", sandbox.base_url()); // http://127.0.0.1:PORT/services/v2
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See `docs/sandbox.md` in the repository for the HTTP surface and the command line.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use certcentral_types::{OrderStatus, ProductId, RequestStatus};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod api;
mod body;
mod ca;
mod limits;
mod persist;
mod server;
mod smime;
mod state;

/// How the sandbox rate-limits requests (per API key, rolling windows).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum RateLimit {
    /// The documented limits: 100 requests per 5 seconds and 1000 per 3 minutes.
    #[default]
    Real,
    /// No rate limit.
    Off,
    /// The documented limits with both windows' durations divided by the factor
    /// (`Scaled(100.0)`: 100 per 50 ms and 1000 per 1.8 s). The factor must be finite and > 0.
    Scaled(f64),
}

impl FromStr for RateLimit {
    type Err = SandboxError;

    /// Parses `real`, `off` or `scale=F`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "real" => Ok(Self::Real),
            "off" => Ok(Self::Off),
            other => {
                let factor = other
                    .strip_prefix("scale=")
                    .and_then(|f| f.parse::<f64>().ok())
                    .ok_or_else(|| {
                        SandboxError::InvalidOption(format!(
                            "rate limit {other:?} is not understood; allowed: real, off, scale=F (F a number > 0)"
                        ))
                    })?;
                let limit = Self::Scaled(factor);
                limit.check()?;
                Ok(limit)
            }
        }
    }
}

impl RateLimit {
    fn check(&self) -> Result<(), SandboxError> {
        match self {
            Self::Scaled(factor) if !(factor.is_finite() && *factor > 0.0) => {
                Err(SandboxError::InvalidOption(format!(
                    "rate limit scale factor {factor} is invalid; it must be a finite number > 0"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Whether new requests are approved automatically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Approval {
    /// Requests stay `pending` (order `needs_approval`) unless the order says
    /// `skip_approval: true` or someone calls `PUT /request/{id}/status`.
    #[default]
    Manual,
    /// Every new request is approved at once, as if `skip_approval` were set.
    Auto,
}

impl FromStr for Approval {
    type Err = SandboxError;

    /// Parses `auto` or `manual`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(if parse_auto(text, "approval")? {
            Self::Auto
        } else {
            Self::Manual
        })
    }
}

/// Parses the value of an `auto|manual` option named `what`: `true` for `auto`.
fn parse_auto(text: &str, what: &str) -> Result<bool, SandboxError> {
    match text.trim() {
        "auto" => Ok(true),
        "manual" => Ok(false),
        other => Err(SandboxError::InvalidOption(format!(
            "{what} {other:?} is not understood; allowed: auto, manual"
        ))),
    }
}

/// How the addresses of an S/MIME order are validated (DigiCert emails a link to each one;
/// the order waits, `pending`, until every address is validated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmailValidation {
    /// Every address is validated when the order is created.
    #[default]
    Auto,
    /// Addresses stay `unvalidated` (and the order `pending`, never issued) until
    /// `POST /_sandbox/orders/{id}/validate-emails` validates them.
    Manual,
}

impl FromStr for EmailValidation {
    type Err = SandboxError;

    /// Parses `auto` or `manual`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(if parse_auto(text, "email validation")? {
            Self::Auto
        } else {
            Self::Manual
        })
    }
}

/// What the sandbox's API key may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyRole {
    /// An administrator's key: `skip_approval` on a revoke revokes at once (answer `204`).
    #[default]
    Administrator,
    /// A user's key: `skip_approval` on a revoke is ignored; the revoke request stays
    /// pending until approved with `PUT /request/{id}/status`.
    User,
}

impl FromStr for KeyRole {
    type Err = SandboxError;

    /// Parses `administrator` (or `admin`) or `user`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "administrator" | "admin" => Ok(Self::Administrator),
            "user" => Ok(Self::User),
            other => Err(SandboxError::InvalidOption(format!(
                "key role {other:?} is not understood; allowed: administrator, user"
            ))),
        }
    }
}

/// A fault the sandbox injects, each with its own probability (see [`SandboxBuilder::fault`]).
///
/// Faults apply to the API under `/services/v2` only, never to `/_sandbox/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `500` with a JSON error body (code `internal_error`), before the request is processed.
    Error5xx,
    /// `429 request_limit_exceeded`, before the request is processed.
    RateLimit,
    /// For requests that change something (order and reissue POSTs, revoke PUTs) only: the
    /// change is committed, then the connection is closed without any HTTP response.
    DropAfterCommit,
    /// The response is delayed by this much (the request is then processed normally).
    Latency(Duration),
    /// `503` with a non-JSON HTML page, as a CDN in front of the API would send, before the
    /// request is processed.
    HtmlError,
}

/// Parses a command-line fault: `KIND=P` with KIND one of `error_5xx`, `rate_limit`,
/// `drop_after_commit`, `html_error` and P a probability in 0..=1; or `latency_ms=MS`
/// (always) / `latency_ms=MS@P`.
///
/// ```
/// use std::time::Duration;
/// use certcentral_sandbox::{parse_fault, FaultKind};
/// assert_eq!(parse_fault("error_5xx=0.25").unwrap(), (FaultKind::Error5xx, 0.25));
/// assert_eq!(
///     parse_fault("latency_ms=200@0.5").unwrap(),
///     (FaultKind::Latency(Duration::from_millis(200)), 0.5)
/// );
/// assert!(parse_fault("error_5xx=2").is_err());
/// ```
pub fn parse_fault(spec: &str) -> Result<(FaultKind, f64), SandboxError> {
    const ALLOWED: &str = "allowed: error_5xx=P, rate_limit=P, drop_after_commit=P, html_error=P, latency_ms=MS or latency_ms=MS@P (P a probability 0..1)";
    let (kind, value) = spec.split_once('=').ok_or_else(|| {
        SandboxError::InvalidOption(format!("fault {spec:?} has no '='; {ALLOWED}"))
    })?;
    let probability = |text: &str| -> Result<f64, SandboxError> {
        let p = text.trim().parse::<f64>().map_err(|_| {
            SandboxError::InvalidOption(format!(
                "fault {spec:?}: probability {text:?} is not a number; {ALLOWED}"
            ))
        })?;
        check_probability(p)?;
        Ok(p)
    };
    match kind.trim() {
        "error_5xx" => Ok((FaultKind::Error5xx, probability(value)?)),
        "rate_limit" => Ok((FaultKind::RateLimit, probability(value)?)),
        "drop_after_commit" => Ok((FaultKind::DropAfterCommit, probability(value)?)),
        "html_error" => Ok((FaultKind::HtmlError, probability(value)?)),
        "latency_ms" => {
            let (ms, p) = match value.split_once('@') {
                Some((ms, p)) => (ms, probability(p)?),
                None => (value, 1.0),
            };
            let ms = ms.trim().parse::<u64>().map_err(|_| {
                SandboxError::InvalidOption(format!(
                    "fault {spec:?}: latency {ms:?} is not a whole number of milliseconds; {ALLOWED}"
                ))
            })?;
            Ok((FaultKind::Latency(Duration::from_millis(ms)), p))
        }
        other => Err(SandboxError::InvalidOption(format!(
            "fault kind {other:?} is unknown; {ALLOWED}"
        ))),
    }
}

fn check_probability(p: f64) -> Result<(), SandboxError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SandboxError::InvalidOption(format!(
            "fault probability {p} is outside 0..=1"
        )))
    }
}

/// Errors starting the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The test CA could not be generated.
    #[error("cannot create the test CA: {0}")]
    Ca(String),
    /// An option value is invalid.
    #[error("{0}")]
    InvalidOption(String),
    /// The state file cannot be opened, locked, read or written.
    #[error("sandbox state file {0}")]
    State(String),
}

/// Entry point: `Sandbox::builder()`.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// A builder with the defaults: random API key, real rate limits, manual approval,
    /// no issuance delay, no faults, seed 0.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }
}

/// Configures and starts a sandbox.
#[derive(Clone, Default)]
pub struct SandboxBuilder {
    api_key: Option<String>,
    rate_limit: RateLimit,
    approval: Approval,
    issue_delay: Duration,
    email_validation: EmailValidation,
    chain_in_response: bool,
    faults: Vec<(FaultKind, f64)>,
    seed: u64,
    key_role: KeyRole,
    clock_offset: chrono::Duration,
    state_file: Option<std::path::PathBuf>,
    state_wait: Duration,
    state_reset: bool,
}

impl std::fmt::Debug for SandboxBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("rate_limit", &self.rate_limit)
            .field("approval", &self.approval)
            .field("issue_delay", &self.issue_delay)
            .field("email_validation", &self.email_validation)
            .field("chain_in_response", &self.chain_in_response)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("key_role", &self.key_role)
            .field("clock_offset", &self.clock_offset)
            .field("state_file", &self.state_file)
            .field("state_wait", &self.state_wait)
            .field("state_reset", &self.state_reset)
            .finish()
    }
}

impl SandboxBuilder {
    /// The API key clients must send in `X-DC-DEVKEY` (default: a random key).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The rate limit (default [`RateLimit::Real`]).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// The approval mode (default [`Approval::Manual`]).
    pub fn approval(mut self, approval: Approval) -> Self {
        self.approval = approval;
        self
    }

    /// How long after approval an order with a CSR is issued (default zero: at once).
    pub fn issue_delay(mut self, delay: Duration) -> Self {
        self.issue_delay = delay;
        self
    }

    /// How S/MIME orders' email addresses are validated (default [`EmailValidation::Auto`]).
    pub fn email_validation(mut self, mode: EmailValidation) -> Self {
        self.email_validation = mode;
        self
    }

    /// Whether the `201` of an order issued at once already carries `certificate_chain`
    /// (`[{subject_common_name, pem}]`, leaf, intermediate, root), as DigiCert may answer
    /// (default `false`: the certificate must be downloaded).
    pub fn chain_in_response(mut self, chain: bool) -> Self {
        self.chain_in_response = chain;
        self
    }

    /// Adds a fault firing with `probability` (0..=1). May be called several times.
    pub fn fault(mut self, kind: FaultKind, probability: f64) -> Self {
        self.faults.push((kind, probability));
        self
    }

    /// Seed of the fault RNG (default 0): the same seed and request order give the same faults.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// What the API key may do (default [`KeyRole::Administrator`]).
    pub fn key_role(mut self, role: KeyRole) -> Self {
        self.key_role = role;
        self
    }

    /// Starts the sandbox's clock at `now` instead of the real time (it then runs at the
    /// real pace). Orders, certificates, expiry and the CRL use this clock; it can be moved
    /// later with [`RunningSandbox::set_now`] or `POST /_sandbox/clock`.
    pub fn now(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        self.clock_offset = now - chrono::Utc::now();
        self
    }

    /// Keeps the sandbox's CA, orders, requests, certificates and clock in this SQLite file:
    /// a sandbox started again on it serves what the last one left (see `persist.rs`). The
    /// file is locked while the sandbox runs: a second sandbox on it fails to start. A clock
    /// set with [`SandboxBuilder::now`] replaces the stored one.
    pub fn state_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// How long [`SandboxBuilder::start`] waits for another sandbox to release the state file
    /// before failing (default zero: fail at once). Commands that each run a sandbox on one
    /// file for a short time wait for each other this way, so their changes never mix.
    pub fn state_file_wait(mut self, wait: Duration) -> Self {
        self.state_wait = wait;
        self
    }

    /// With a state file: start from an empty state (new CA, no orders, the real clock). The
    /// file is emptied once the sandbox holds its lock, so a command running on it is never
    /// disturbed; the id counters carry over, so no order, request or certificate id is handed
    /// out twice by one file.
    pub fn reset_state(mut self, reset: bool) -> Self {
        self.state_reset = reset;
        self
    }

    /// Binds `addr` (port 0 picks a free port), generates the test CA and starts serving.
    pub async fn start(mut self, addr: SocketAddr) -> Result<RunningSandbox, SandboxError> {
        self.rate_limit.check()?;
        for (_, p) in &self.faults {
            check_probability(*p)?;
        }
        let api_key = match self.api_key.take() {
            Some(key) if key.trim().is_empty() => {
                return Err(SandboxError::InvalidOption("the API key is empty".into()));
            }
            Some(key) => key,
            None => random_key(),
        };
        let (ca, persisted, stored_clock) = self.open_state()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let url_addr = loopback_if_unspecified(local);
        let base_url = format!("http://{url_addr}/services/v2");
        let shared = Arc::new(state::Shared::new(
            state::Config {
                api_key: api_key.clone(),
                approval: self.approval,
                issue_delay: self.issue_delay,
                email_validation: self.email_validation,
                chain_in_response: self.chain_in_response,
                key_role: self.key_role,
            },
            ca,
            limits::RateLimiter::new(self.rate_limit),
            limits::FaultPlan::new(self.faults, ChaCha8Rng::seed_from_u64(self.seed)),
            persisted,
        ));
        let offset = match (self.clock_offset.is_zero(), stored_clock) {
            (true, Some(seconds)) => chrono::Duration::try_seconds(seconds).unwrap_or_default(),
            _ => self.clock_offset,
        };
        shared.set_clock_offset(offset);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let router = api::router(shared.clone());
        let task = tokio::spawn(server::serve(listener, router, shutdown_rx));
        tracing::info!(%base_url, "certcentral sandbox listening");
        Ok(RunningSandbox {
            addr: local,
            base_url,
            api_key,
            shared,
            shutdown_tx,
            task: Mutex::new(Some(task)),
        })
    }
}

/// A state file's contents as [`SandboxBuilder::start`] uses them: the CA, the file and its
/// store, the clock offset it recorded.
type OpenedState = (
    ca::TestCa,
    Option<(persist::StateFile, Option<state::Store>)>,
    Option<i64>,
);

impl SandboxBuilder {
    /// The test CA and what the state file holds (a new CA, saved there, when it holds none);
    /// without a state file, a new CA only.
    fn open_state(&self) -> Result<OpenedState, SandboxError> {
        let Some(path) = &self.state_file else {
            let ca = ca::TestCa::generate(ca::CaUrls::under(ca::PKI_ORIGIN))
                .map_err(|err| SandboxError::Ca(err.to_string()))?;
            return Ok((ca, None, None));
        };
        let (file, loaded) = persist::StateFile::open(path, self.state_wait, self.state_reset)?;
        let ca = match &loaded.ca {
            Some(parts) => ca::TestCa::from_parts(parts, ca::CaUrls::under(ca::PKI_ORIGIN)),
            None => ca::TestCa::generate(ca::CaUrls::under(ca::PKI_ORIGIN)),
        }
        .map_err(|err| SandboxError::Ca(err.to_string()))?;
        if loaded.ca.is_none() {
            file.save_ca(&ca.to_parts())?;
        }
        Ok((ca, Some((file, loaded.store)), loaded.clock_offset_seconds))
    }
}

/// The address clients reach a listener on: loopback for an unspecified address.
fn loopback_if_unspecified(local: SocketAddr) -> SocketAddr {
    if !local.ip().is_unspecified() {
        return local;
    }
    let ip = match local.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, local.port())
}

fn random_key() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 24];
    // The operating system's source, as for every secret (it panics only when the OS has no
    // random source at all).
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running sandbox. Dropping it stops the server too; [`RunningSandbox::shutdown`] waits
/// for open connections to finish.
pub struct RunningSandbox {
    addr: SocketAddr,
    base_url: String,
    api_key: String,
    shared: Arc<state::Shared>,
    shutdown_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSandbox")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RunningSandbox {
    /// The API base URL: `http://127.0.0.1:PORT/services/v2`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key clients must send in `X-DC-DEVKEY`.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// How many orders were ever created (for duplicate checks).
    pub fn order_count(&self) -> usize {
        self.shared.order_count()
    }

    /// A snapshot of every order, in id order.
    pub fn orders(&self) -> Vec<SandboxOrder> {
        self.shared.snapshot()
    }

    /// Request counts by HTTP status.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The test CA's root certificate (PEM), to verify issued chains.
    pub fn root_ca_pem(&self) -> String {
        self.shared.ca.root_pem()
    }

    /// The sandbox's current time (the real time plus the clock offset).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.now()
    }

    /// Moves the sandbox's clock to `now` (it then runs on at the real pace).
    pub fn set_now(&self, now: chrono::DateTime<chrono::Utc>) {
        self.shared.set_clock_offset(now - chrono::Utc::now());
    }

    /// Stops accepting connections, lets open requests finish, and waits for the server.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

/// One order as the sandbox holds it (inspection; also `GET /_sandbox/orders`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxOrder {
    /// Order id.
    pub id: i64,
    /// The product ordered.
    pub product: ProductId,
    /// `certificate.common_name`.
    pub common_name: String,
    /// `certificate.emails`.
    pub emails: Vec<String>,
    /// `certificate.organization_units`.
    pub organization_units: Vec<String>,
    /// Current order status (`needs_approval`, `pending`, `issued`, `rejected`, `canceled`).
    pub status: OrderStatus,
    /// The order's request ids (one per order in this sandbox).
    pub request_ids: Vec<i64>,
    /// Status of the order's request.
    pub request_status: RequestStatus,
    /// Certificate id, once the request was approved.
    pub certificate_id: Option<i64>,
    /// Whether the order carried a CSR (without one it can never be issued through the API).
    pub has_csr: bool,
    /// Creation time, RFC 3339 UTC.
    pub date_created: String,
}

/// Request counts by HTTP status (API routes only; `/_sandbox/*` is not counted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every API request answered or dropped.
    pub total: u64,
    /// Responses by HTTP status code (as a decimal string key in JSON).
    pub by_status: BTreeMap<u16, u64>,
    /// Connections closed without a response by the `drop_after_commit` fault.
    pub dropped: u64,
}

impl Stats {
    /// How many responses had `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rate_limits() {
        assert_eq!("real".parse::<RateLimit>().unwrap(), RateLimit::Real);
        assert_eq!("off".parse::<RateLimit>().unwrap(), RateLimit::Off);
        assert_eq!(
            "scale=60".parse::<RateLimit>().unwrap(),
            RateLimit::Scaled(60.0)
        );
        for bad in ["scale=0", "scale=-1", "scale=x", "fast", "scale=inf"] {
            let err = bad.parse::<RateLimit>().unwrap_err().to_string();
            assert!(
                err.contains("scale") || err.contains("allowed"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn parses_email_validation() {
        assert_eq!(
            "auto".parse::<EmailValidation>().unwrap(),
            EmailValidation::Auto
        );
        assert_eq!(
            " manual".parse::<EmailValidation>().unwrap(),
            EmailValidation::Manual
        );
        let err = "later".parse::<EmailValidation>().unwrap_err().to_string();
        assert!(err.contains("allowed: auto, manual"), "{err}");
    }

    #[test]
    fn parses_approval() {
        assert_eq!("auto".parse::<Approval>().unwrap(), Approval::Auto);
        assert_eq!("manual".parse::<Approval>().unwrap(), Approval::Manual);
        assert!("yes".parse::<Approval>().is_err());
    }

    #[test]
    fn parses_faults() {
        assert_eq!(
            parse_fault("rate_limit=1").unwrap(),
            (FaultKind::RateLimit, 1.0)
        );
        assert_eq!(
            parse_fault("html_error=0").unwrap(),
            (FaultKind::HtmlError, 0.0)
        );
        assert_eq!(
            parse_fault("drop_after_commit=0.5").unwrap(),
            (FaultKind::DropAfterCommit, 0.5)
        );
        assert_eq!(
            parse_fault("latency_ms=40").unwrap(),
            (FaultKind::Latency(Duration::from_millis(40)), 1.0)
        );
        for bad in [
            "error_5xx",
            "boom=0.1",
            "error_5xx=-0.1",
            "latency_ms=x",
            "latency_ms=5@3",
        ] {
            assert!(parse_fault(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let builder = Sandbox::builder().api_key("super-secret-key");
        assert!(!format!("{builder:?}").contains("super-secret-key"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        #[test]
        fn fault_probabilities_are_checked(p in -2.0f64..3.0, kind in 0usize..4) {
            let name = ["error_5xx", "rate_limit", "drop_after_commit", "html_error"][kind];
            let parsed = parse_fault(&format!("{name}={p}"));
            proptest::prop_assert_eq!(parsed.is_ok(), (0.0..=1.0).contains(&p));
        }

        #[test]
        fn parsers_never_panic(text in "\\PC{0,24}") {
            let _ = parse_fault(&text);
            let _ = text.parse::<RateLimit>();
        }
    }
}
