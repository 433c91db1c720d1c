//! The one test kit of the certcentral workspace (dev-only, never published).
//!
//! Every crate's tests take their fixtures from here rather than keeping a copy: the test API key,
//! fresh keys and CSRs, the seed's example order, sandbox starters on 127.0.0.1 port 0, a small
//! HTTP helper for talking to the sandbox by hand, clients for it ([`client`]), and certificate
//! helpers (chains, subjects, public keys) for checking what was issued.
//!
//! Tests may `unwrap`: a fixture that cannot be built is a broken test, not an input error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod client;
pub mod pkilint;

use certcentral_sandbox::{RateLimit, RunningSandbox, Sandbox, SandboxBuilder};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::{Value, json};

/// The API key every test sandbox accepts. Distinctive, so that a test can search output and
/// logs for it and be sure a hit is a leak.
pub const API_KEY: &str = "testkit-key-7f3a9c2e51d84b6f";

/// The seed's example person, as the seed page writes her (with its "Lock" spelling).
pub const SEED_COMMON_NAME: &str = "Lock Cole";

/// The seed's example email address.
pub const SEED_EMAIL: &str = "locke.cole@example.com";

/// A fresh P-256 key pair.
pub fn p256_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// A fresh key pair for `alg` (any algorithm rcgen can generate).
pub fn key_for(alg: &'static rcgen::SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).unwrap()
}

/// The PEM CSR of `key` with an empty subject (CertCentral takes the subject from the order).
pub fn csr_of(key: &KeyPair) -> String {
    CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(key)
        .unwrap()
        .pem()
        .unwrap()
}

/// A fresh P-256 key and its CSR (PEM, empty subject).
pub fn csr() -> (KeyPair, String) {
    let key = p256_key();
    let csr = csr_of(&key);
    (key, csr)
}

/// A fresh P-256 CSR (PEM) naming `common_name` and `email`, and the DER SubjectPublicKeyInfo of
/// its key (to check which key a certificate was issued for).
pub fn csr_for(common_name: &str, email: &str) -> (String, Vec<u8>) {
    use rcgen::PublicKeyData;
    let key = p256_key();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(email.try_into().unwrap())];
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    (csr, key.subject_public_key_info())
}

/// The seed's example order body (`POST /order/certificate/client_premium_sha2`) for
/// `common_name` and `email`, with `csr` in place of the seed's `<csr>`.
pub fn order_body(common_name: &str, email: &str, csr: &str) -> Value {
    json!({
        "certificate": {
            "common_name": common_name,
            "emails": [email],
            "signature_hash": "sha256",
            "organization_units": ["Accounting"],
            "csr": csr
        },
        "skip_approval": true,
        "organization": {"id": 112233},
        "container": {"id": 445566},
        "validity_years": 1,
        "payment_method": "balance"
    })
}

/// The seed's example order body exactly as the seed page gives it, with `csr` in place of
/// `<csr>`.
pub fn seed_body(csr: &str) -> Value {
    order_body(SEED_COMMON_NAME, SEED_EMAIL, csr)
}

/// The seed's example order body without a CSR (valid, with a `csr_missing` warning).
pub fn seed_body_without_csr() -> Value {
    let mut body = seed_body("");
    if let Some(certificate) = body["certificate"].as_object_mut() {
        certificate.remove("csr");
    }
    body
}

/// The Secure Email contract's example body (`secure_email_sponsor`: a person with given name
/// and surname, signing key, strict profile) without a CSR (valid, with a `csr_missing`
/// warning).
pub fn secure_email_body_without_csr() -> Value {
    json!({
        "certificate": {
            "emails": [SEED_EMAIL],
            "signature_hash": "sha256",
            "common_name_indicator": "given_name_surname",
            "individual": {"first_name": "Locke", "last_name": "Cole"},
            "usage_designation": {"primary_usage": "signing"},
            "profile_type": "strict"
        },
        "organization": {"id": 112233},
        "validity_years": 1,
        "skip_approval": true
    })
}

/// A sandbox builder for tests: [`API_KEY`], no rate limit, otherwise the sandbox's defaults
/// (manual approval). Tests add what they exercise (approval mode, faults, limits, seed).
pub fn sandbox() -> SandboxBuilder {
    Sandbox::builder()
        .api_key(API_KEY)
        .rate_limit(RateLimit::Off)
}

/// Starts `builder` on 127.0.0.1, port 0.
pub async fn start(builder: SandboxBuilder) -> RunningSandbox {
    builder.start("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// Starts `builder` on 127.0.0.1 port 0 on a runtime of its own, for tests that are not async
/// (the CLI's tests run the binary as a child process). Keep the returned runtime alive as long
/// as the sandbox is used.
pub fn start_blocking(builder: SandboxBuilder) -> (tokio::runtime::Runtime, RunningSandbox) {
    let rt = runtime(1);
    let sandbox = rt.block_on(start(builder));
    (rt, sandbox)
}

/// A multi-threaded runtime with `workers` worker threads and every driver enabled (for tests
/// that are not async, and for benchmarks).
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// An HTTP client that never follows redirects (as the certcentral client).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Raw HTTP against a running sandbox, with the test key: for tests of the sandbox's own wire
/// behaviour, below the client library.
pub struct Api {
    /// The sandbox's base URL (`http://127.0.0.1:PORT/services/v2`).
    pub base: String,
    /// The HTTP client.
    pub client: reqwest::Client,
}

impl Api {
    /// An API helper for `sandbox`.
    pub fn new(sandbox: &RunningSandbox) -> Self {
        Self {
            base: sandbox.base_url().to_string(),
            client: http(),
        }
    }

    /// `GET base+path` with the key.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .header("X-DC-DEVKEY", API_KEY)
    }

    /// `POST base+path` with the key and a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("X-DC-DEVKEY", API_KEY)
            .json(body)
    }

    /// `PUT base+path` with the key and a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .put(format!("{}{path}", self.base))
            .header("X-DC-DEVKEY", API_KEY)
            .json(body)
    }

    /// Sends and returns (status, JSON body; `null` when empty).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
        };
        (status, body)
    }

    /// `GET base+path` with the key; the body as text (whatever the status).
    pub async fn text(&self, path: &str) -> String {
        self.get(path).send().await.unwrap().text().await.unwrap()
    }

    /// Decides request `request_id` (`PUT /request/{id}/status` with `{"status": status}`);
    /// returns (status, JSON body).
    pub async fn decide(&self, request_id: i64, status: &str) -> (u16, Value) {
        let path = format!("/request/{request_id}/status");
        self.send(self.put(&path, &json!({ "status": status })))
            .await
    }

    /// Revokes at once (`skip_approval`) what `target` names: `/certificate/{id}` or
    /// `/order/certificate/{id}`; returns (status, JSON body).
    pub async fn revoke_at_once(&self, target: &str) -> (u16, Value) {
        let path = format!("{target}/revoke");
        self.send(self.put(&path, &json!({"skip_approval": true})))
            .await
    }

    /// Orders `body` as `product`; returns (status, JSON body).
    pub async fn order(&self, product: &str, body: &Value) -> (u16, Value) {
        self.send(self.post(&format!("/order/certificate/{product}"), body))
            .await
    }
}

/// The `errors[].code` values of an error body.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {body}"))
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

/// The SubjectPublicKeyInfo (DER) of the first certificate in a PEM chain.
pub fn leaf_spki(chain_pem: &str) -> Vec<u8> {
    with_leaf(chain_pem, |cert| cert.public_key().raw.to_vec())
}

/// `f` of the first certificate in a PEM chain, parsed.
pub fn with_leaf<T>(
    chain_pem: &str,
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> T {
    let blocks = pem::parse_many(chain_pem).unwrap();
    let leaf = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .expect("a certificate");
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.contents()).unwrap();
    f(&cert)
}

/// The SubjectPublicKeyInfo (DER) of a PEM CSR.
pub fn csr_spki(csr_pem: &str) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let block = pem::parse(csr_pem).unwrap();
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
            .unwrap();
    csr.certification_request_info.subject_pki.raw.to_vec()
}

/// The SubjectPublicKeyInfo (DER) of a PKCS#8 PEM private key.
pub fn key_spki(key_pem: &str) -> Vec<u8> {
    use rcgen::PublicKeyData;
    KeyPair::from_pem(key_pem)
        .unwrap()
        .subject_public_key_info()
}

/// The subject of the first certificate in a PEM chain, attribute by attribute: (OID in
/// dotted form, value), in certificate order (e.g. `("2.5.4.42", "Locke")` for givenName).
pub fn leaf_subject(chain_pem: &str) -> Vec<(String, String)> {
    with_leaf(chain_pem, subject_of)
}

/// A certificate's subject, attribute by attribute: (OID in dotted form, value), in
/// certificate order.
pub fn subject_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<(String, String)> {
    cert.subject()
        .iter_attributes()
        .map(|a| {
            (
                a.attr_type().to_id_string(),
                a.as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The DER of every certificate of a PEM bundle, in order (any other block is an error).
pub fn pem_certs(chain_pem: impl AsRef<[u8]>) -> Vec<Vec<u8>> {
    pem::parse_many(chain_pem)
        .unwrap()
        .into_iter()
        .inspect(|block| assert_eq!(block.tag(), "CERTIFICATE"))
        .map(|block| block.into_contents())
        .collect()
}

/// The common names of a certificate's subject.
pub fn common_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    cert.subject()
        .iter_common_name()
        .map(|cn| cn.as_str().unwrap().to_string())
        .collect()
}

/// The email addresses (rfc822Name) of a certificate's subjectAltName, which must be there.
pub fn san_emails(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let san = cert
        .subject_alternative_name()
        .unwrap()
        .expect("a subjectAltName");
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::RFC822Name(email) => Some(email.to_string()),
            _ => None,
        })
        .collect()
}
