//! Cross-crate guarantees: an ambiguous order outcome is reported and reconciled, never
//! retried into a second paid order; the sandbox and the validation library agree on what is
//! wrong with an order, because they share one implementation.

use std::time::Duration;

use certcentral_client::Error;
use certcentral_sandbox::FaultKind;
use certcentral_types::{ErrorBody, ProductId};
use serde_json::json;

use certcentral_testkit::client::{client_builder, order_request};
use certcentral_testkit::{API_KEY as KEY, sandbox, start};

#[tokio::test]
async fn dropped_response_is_outcome_unknown_and_reconciles_to_the_one_order() {
    let sandbox = start(sandbox().fault(FaultKind::DropAfterCommit, 1.0).seed(7)).await;
    let client = client_builder(&sandbox)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let body = order_request("Celes Chere", "celes@example.com", true);
    let err = client
        .order_client_certificate(ProductId::ClientPremiumSha2, &body)
        .await
        .expect_err("the response is dropped");
    let Error::OutcomeUnknown(unknown) = err else {
        panic!("expected OutcomeUnknown, got {err:?}");
    };
    assert_eq!(sandbox.order_count(), 1, "the POST was sent exactly once");

    let candidates = client.reconcile(&unknown).await.expect("reconcile");
    assert_eq!(
        candidates.len(),
        1,
        "reconciliation finds the order: {candidates:?}"
    );
    assert_eq!(candidates[0].id, sandbox.orders()[0].id);

    // Someone else's order with another name is not a candidate.
    let other = client
        .find_recent_orders(
            ProductId::ClientPremiumSha2.as_str(),
            "Sabin Figaro",
            &["sabin@example.com".to_string()],
            unknown.sent_at,
        )
        .await
        .expect("list");
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(sandbox.order_count(), 1);
    sandbox.shutdown().await;
}

/// The sandbox answers an invalid order with exactly the violations the validation library
/// reports, in DigiCert's code vocabulary, all in one `errors` array.
#[tokio::test]
async fn sandbox_errors_match_the_validation_library() {
    let sandbox = start(sandbox()).await;
    let http = reqwest::Client::new();
    let bodies = [
        json!({"certificate": {"emails": ["a@example.com"], "signature_hash": "sha1"},
               "organization": {"id": 1}, "validity_years": 3}),
        json!({"certificate": {"common_name": "A", "emails": [], "signature_hash": "sha256"},
               "organization": {"id": 0}, "validity_year": 1}),
        json!({"certificate": {"common_name": "A", "emails": ["not-an-email", "b@example.com", "B@example.com"],
               "signature_hash": "sha256"}, "organization": {"id": 1}, "validity_years": 1,
               "auto_renew": 150, "payment_method": "card"}),
    ];
    for body in bodies {
        let bytes = serde_json::to_vec(&body).unwrap();
        let ctx = certcentral_validate::Context::new(ProductId::ClientPremiumSha2);
        let report = certcentral_validate::validate_json(&bytes, &ctx);
        assert!(
            report.errors.len() >= 2,
            "the library finds several problems in {body}"
        );
        let mut expected: Vec<String> = report.errors.iter().map(|v| v.digicert_code()).collect();

        let response = http
            .post(format!(
                "{}/order/certificate/client_premium_sha2",
                sandbox.base_url()
            ))
            .header("X-DC-DEVKEY", KEY)
            .header("Content-Type", "application/json")
            .body(bytes)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 400);
        let errors: ErrorBody = response.json().await.expect("error body");
        let mut got: Vec<String> = errors.errors.into_iter().map(|e| e.code).collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "for {body}");
    }
    assert_eq!(sandbox.order_count(), 0, "no invalid order was created");
    sandbox.shutdown().await;
}
