//! Orders a client certificate from an in-process sandbox, approves it, waits for issuance and
//! downloads the chain: `cargo run -p certcentral-client --example order`.
//!
//! Against the real API the flow is the same; only the builder changes
//! (`.region(Region::Us)` and your key instead of `.base_url(..)`).

use std::time::Duration;

use certcentral_client::{Client, Error, PollPolicy, RateLimits, WaitOutcome};
use certcentral_sandbox::{RateLimit, Sandbox};
use certcentral_types::{DownloadFormat, OrderRequest, ProductId};
use rcgen::{CertificateParams, KeyPair};
use secrecy::SecretString;

#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder()
        .rate_limit(RateLimit::Real)
        .start("127.0.0.1:0".parse()?)
        .await?;
    println!("sandbox listening at {}", sandbox.base_url());

    let client = Client::builder()
        .api_key(SecretString::from(sandbox.api_key().to_string()))
        .base_url(sandbox.base_url())
        .rate_limits(RateLimits::documented())
        .build()?;

    // The key stays with you: only the CSR (public key) is sent.
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let csr = CertificateParams::new(Vec::<String>::new())?
        .serialize_request(&key)?
        .pem()?;
    let request: OrderRequest = serde_json::from_value(serde_json::json!({
        "certificate": {
            "common_name": "Lock Cole",
            "emails": ["locke.cole@example.com"],
            "signature_hash": "sha256",
            "organization_units": ["Accounting"],
            "csr": csr,
        },
        "organization": {"id": 112233},
        "validity_years": 1,
        "payment_method": "balance"
    }))?;

    let mut order = match client
        .order_client_certificate(ProductId::ClientPremiumSha2, &request)
        .await
    {
        Ok(order) => order,
        Err(Error::OutcomeUnknown(unknown)) => {
            // The order may exist: look before ordering again.
            let found = client.reconcile(&unknown).await?;
            eprintln!("outcome unknown; {} matching order(s) found", found.len());
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "order {} placed; requests: {:?}",
        order.id(),
        order.requests()
    );

    order.approve(Some("approved by the example")).await?;
    let policy = PollPolicy {
        initial_interval: Duration::from_millis(100),
        ..PollPolicy::default().with_deadline(Duration::from_secs(30))
    };
    match order.wait_until_issued(&policy).await? {
        WaitOutcome::Issued { certificate_id, .. } => {
            println!("issued: certificate {certificate_id:?}");
            let pem = order.download(DownloadFormat::PemAll).await?;
            let pem = String::from_utf8_lossy(&pem);
            println!(
                "downloaded {} certificate(s), {} bytes",
                pem.matches("BEGIN CERTIFICATE").count(),
                pem.len()
            );
        }
        WaitOutcome::Pending { order_id, .. } => {
            println!("still pending; resume later with client.order({order_id})");
        }
        other => println!("order ended: {other:?}"),
    }
    sandbox.shutdown().await;
    Ok(())
}
