//! Typed bodies of DigiCert's CertCentral Services API v2 for client certificates.
//!
//! Every type in this crate is generated from the JSON Schema in the repository's `schema/`
//! folder by `cargo xtask codegen` (typify), so the schema is the single source of truth:
//!
//! - [`OrderRequest`] is the body of `POST /order/certificate/{client_certificate_id}`,
//!   strict: unknown fields, unknown enum values and impossible dates are rejected when
//!   deserializing. Constraints serde cannot express (integer ranges, `minItems`, email
//!   syntax, "validity_years or custom_expiration_date") are checked by `certcentral-validate`.
//! - [`OrderResponse`], [`OrderInfo`], [`OrderList`], [`StatusChanges`], [`ProductInfo`] and
//!   the other response bodies are lenient: unknown fields are ignored and unknown status
//!   values are kept ([`RequestStatus::Other`], [`OrderStatus::Other`]).
//! - [`ErrorBody`] is the `{"errors": [{"code", "message"}]}` body of every error.
//!
//! ```
//! use certcentral_types::{OrderRequest, RequestStatus, OrderResponse};
//!
//! let order: OrderRequest = serde_json::from_str(r#"{
//!     "certificate": {
//!         "common_name": "Lock Cole",
//!         "emails": ["locke.cole@example.com"],
//!         "signature_hash": "sha256"
//!     },
//!     "organization": {"id": 112233},
//!     "validity_years": 1
//! }"#).unwrap();
//! assert_eq!(order.certificate.common_name.as_str(), "Lock Cole");
//!
//! // A typo is caught, not silently dropped.
//! assert!(serde_json::from_str::<OrderRequest>(r#"{"validity_year": 1}"#).is_err());
//!
//! // Responses keep status values this version does not know.
//! let response: OrderResponse =
//!     serde_json::from_str(r#"{"id": 1, "requests": [{"id": 2, "status": "on_hold"}]}"#).unwrap();
//! assert_eq!(response.requests[0].status, Some(RequestStatus::Other("on_hold".into())));
//! ```

#![deny(missing_docs)]

#[allow(clippy::all, missing_docs, unused_qualifications)]
mod generated;

pub use generated::*;

mod extra;

/// The JSON Schema files the types are generated from, as bundled text.
pub mod schema {
    /// `schema/order-request.schema.json`: the order body and the other request bodies.
    pub const ORDER_REQUEST: &str = include_str!("../schema/order-request.schema.json");
    /// `schema/order-response.schema.json`: the order response and the other response bodies.
    pub const ORDER_RESPONSE: &str = include_str!("../schema/order-response.schema.json");
    /// `schema/error.schema.json`: the error body.
    pub const ERROR: &str = include_str!("../schema/error.schema.json");
}
