//! Helpers shared by the sandbox's HTTP tests.
#![allow(dead_code)]

use certcentral_sandbox::{Approval, RateLimit, RunningSandbox, Sandbox, SandboxBuilder};
use rcgen::{CertificateParams, KeyPair};
use serde_json::{Value, json};

pub const KEY: &str = "test-key";

/// A builder for tests: fixed key, no rate limit, manual approval.
pub fn builder() -> SandboxBuilder {
    Sandbox::builder()
        .api_key(KEY)
        .rate_limit(RateLimit::Off)
        .approval(Approval::Manual)
}

pub async fn start(builder: SandboxBuilder) -> RunningSandbox {
    builder.start("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// A fresh P-256 key and its CSR (PEM).
pub fn csr() -> (KeyPair, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    (key, csr)
}

/// The seed's example body with `csr` in place of `<csr>`.
pub fn seed_body(csr: &str) -> Value {
    json!({
        "certificate": {
            "common_name": "Lock Cole",
            "emails": ["locke.cole@example.com"],
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

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(sandbox: &RunningSandbox) -> Self {
        Self {
            base: sandbox.base_url().to_string(),
            client: http(),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .header("X-DC-DEVKEY", KEY)
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("X-DC-DEVKEY", KEY)
            .json(body)
    }

    pub fn put(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .put(format!("{}{path}", self.base))
            .header("X-DC-DEVKEY", KEY)
            .json(body)
    }

    /// Sends and returns (status, JSON body).
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
