//! Async client for DigiCert's CertCentral Services API v2, for client certificates (S/MIME,
//! client authentication, document signing).
//!
//! ```no_run
//! use certcentral_client::{Client, PollPolicy, WaitOutcome};
//! use certcentral_types::{DownloadFormat, OrderRequest, ProductId};
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder()
//!     .api_key(SecretString::from(std::env::var("DIGICERT_API_KEY")?))
//!     .build()?;
//! let request: OrderRequest = serde_json::from_str(r#"{
//!     "certificate": {
//!         "common_name": "Lock Cole",
//!         "emails": ["locke.cole@example.com"],
//!         "signature_hash": "sha256"
//!     },
//!     "organization": {"id": 112233},
//!     "validity_years": 1
//! }"#)?;
//! let mut order = client
//!     .order_client_certificate(ProductId::ClientPremiumSha2, &request)
//!     .await?;
//! if let WaitOutcome::Issued { .. } = order.wait_until_issued(&PollPolicy::default()).await? {
//!     let pem = order.download(DownloadFormat::PemAll).await?;
//!     println!("{}", String::from_utf8_lossy(&pem));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour
//!
//! - **Validation first**: [`Client::order_client_certificate`] checks the order with
//!   `certcentral-validate`; an invalid order is [`Error::Invalid`] and nothing is sent.
//! - **Retries**: reads and idempotent `PUT`s are retried on 429, 5xx, timeouts and connect
//!   errors, with jittered exponential backoff, a bounded number of attempts and a wall-clock
//!   deadline across them ([`RetryPolicy`]); a `Retry-After` header is honoured. The order `POST` costs money and is
//!   retried only on 429 and on connect failures (the request provably never reached the
//!   server). When it was sent and no usable answer arrived the result is
//!   [`Error::OutcomeUnknown`]: check with [`Client::find_recent_orders`] (or
//!   [`Client::reconcile`]) before ordering again.
//! - **Rate limits**: one client-side limiter, shared by every clone, keeps under the documented
//!   windows (100 requests / 5 s and 1000 / 3 min); see [`RateLimits`].
//! - **Endpoints**: one method per endpoint, generated from the repository's
//!   `schema/endpoints.json` (see [`endpoints`]).
//! - **Secrets**: the API key is a [`secrecy::SecretString`], sent as a sensitive
//!   `X-DC-DEVKEY` header, never logged and never shown by `Debug`.
//! - **Transport**: TLS is rustls (ring); redirects are never followed; plain `http://` only to
//!   loopback hosts; user agent `certcentral/<version>`.
//! - **Tracing**: one `certcentral.request` span per attempt with `endpoint`, `method`, `path`
//!   (the template), `attempt`, `status` and `latency_ms`.

#![deny(missing_docs)]

mod client;
mod error;
mod lifecycle;
mod limiter;
mod order;

/// The generated endpoint surface: one [`Endpoint`] constant per endpoint, [`endpoints::ALL`],
/// the query types, and the endpoint methods of [`Client`].
#[allow(clippy::all)]
#[rustfmt::skip]
#[path = "generated.rs"]
pub mod endpoints;

pub use client::{
    API_KEY_HEADER, BaseUrlError, Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT,
    Endpoint, Region, RetryPolicy, USER_AGENT, check_base_url,
};
pub use endpoints::ListOrdersFilters;
pub use error::{ApiError, Error, SNIPPET_CHARS, TransportError, TransportKind, UnknownOutcome};
pub use lifecycle::{Expiring, Revocation, RevokeTarget};
pub use limiter::{RateLimits, Window};
pub use order::{CLOCK_SKEW_ALLOWANCE, Order, PollPolicy, WaitOutcome, parse_server_time};

pub use certcentral_types as types;
pub use certcentral_validate::Report;
pub use secrecy;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
