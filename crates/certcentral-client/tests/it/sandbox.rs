//! The client against the sandbox over real HTTP on 127.0.0.1.

use std::time::Duration;

use crate::common::*;
use certcentral_client::{
    Client, Error, ListOrdersFilters, RateLimits, RetryPolicy, TransportKind, WaitOutcome,
};
use certcentral_sandbox::{Approval, FaultKind, RateLimit};
use certcentral_types::{DownloadFormat, OrderStatus, ProductId, RequestStatus};
use secrecy::SecretString;

const PRODUCT: ProductId = ProductId::ClientPremiumSha2;

#[tokio::test]
async fn happy_path_order_approve_wait_download() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut order = placed(&client, "Lock Cole", "locke.cole@example.com", false).await;
    assert_eq!(order.requests().len(), 1);
    assert_eq!(order.requests()[0].status, Some(RequestStatus::Pending));
    assert_eq!(order.certificate_id(), None);

    // Not issued yet: a short deadline gives Pending with the id to resume with.
    let pending = order
        .wait_until_issued(&fast_poll().with_deadline(Duration::from_millis(30)))
        .await
        .unwrap();
    assert_eq!(
        pending,
        WaitOutcome::Pending {
            order_id: order.id(),
            status: Some(OrderStatus::NeedsApproval)
        }
    );

    order.approve(Some("approved by test")).await.unwrap();
    assert_eq!(order.requests()[0].status, Some(RequestStatus::Approved));
    let outcome = order.wait_until_issued(&fast_poll()).await.unwrap();
    assert!(outcome.is_issued(), "{outcome:?}");
    assert_eq!(order.status(), Some(&OrderStatus::Issued));
    let certificate_id = order
        .certificate_id()
        .expect("issued orders have a certificate id");
    assert_eq!(
        outcome,
        WaitOutcome::Issued {
            order_id: order.id(),
            certificate_id: Some(certificate_id)
        }
    );

    let pem = String::from_utf8(order.download(DownloadFormat::PemAll).await.unwrap()).unwrap();
    assert_eq!(
        pem.matches("-----BEGIN CERTIFICATE-----").count(),
        3,
        "{pem}"
    );
    assert!(pem.contains(sandbox.root_ca_pem().trim()));
    let leaf = String::from_utf8(
        client
            .download_by_order(order.id(), DownloadFormat::PemNointermediate)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(leaf.matches("-----BEGIN CERTIFICATE-----").count(), 1);
    let p7b = client
        .download_by_certificate(certificate_id, DownloadFormat::P7b)
        .await
        .unwrap();
    assert!(!p7b.is_empty());

    // Re-attach by id.
    let again = client.order(order.id()).await.unwrap();
    assert_eq!(again.status(), Some(&OrderStatus::Issued));
    assert_eq!(again.certificate_id(), Some(certificate_id));
    let info = again.info().unwrap();
    assert_eq!(
        info.certificate.as_ref().unwrap().common_name.as_deref(),
        Some("Lock Cole")
    );

    // Lists, status changes, email validation, product info.
    let list = client
        .list_orders(&ListOrdersFilters {
            common_name: Some("Lock Cole".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.orders.len(), 1);
    let changes = client.status_changes(60).await.unwrap();
    assert!(changes.orders.iter().any(|c| c.order_id == order.id()));
    let emails = client.email_validation(order.id()).await.unwrap();
    assert_eq!(emails.emails.len(), 1);
    let product = client.product_info(PRODUCT).await.unwrap();
    assert_eq!(product.name_id, "client_premium_sha2");
    assert_eq!(sandbox.order_count(), 1);
    assert_eq!(sandbox.stats().count(429), 0);
}

#[tokio::test]
async fn skip_approval_issues_at_once() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut order = placed(&client, "Lock Cole", "locke.cole@example.com", true).await;
    assert_eq!(order.requests()[0].status, Some(RequestStatus::Approved));
    assert!(order.certificate_id().is_some());
    // (The sandbox sends no `certificate_chain`; tests/it/local.rs covers one.)
    let outcome = order.wait_until_issued(&fast_poll()).await.unwrap();
    assert!(outcome.is_issued());
}

#[tokio::test]
async fn reject_and_cancel() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut rejected = placed(&client, "A", "a@example.com", false).await;
    rejected.reject(Some("no")).await.unwrap();
    let outcome = rejected.wait_until_issued(&fast_poll()).await.unwrap();
    assert_eq!(
        outcome,
        WaitOutcome::Rejected {
            order_id: rejected.id()
        }
    );

    let mut canceled = placed(&client, "B", "b@example.com", false).await;
    canceled.cancel(Some("changed my mind")).await.unwrap();
    let outcome = canceled.wait_until_issued(&fast_poll()).await.unwrap();
    assert_eq!(
        outcome,
        WaitOutcome::Canceled {
            order_id: canceled.id()
        }
    );
    let statuses: Vec<OrderStatus> = sandbox.orders().into_iter().map(|o| o.status).collect();
    assert_eq!(statuses, vec![OrderStatus::Rejected, OrderStatus::Canceled]);
}

#[tokio::test]
async fn error_mappings() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);

    // 403 for a wrong key.
    let wrong = Client::builder()
        .api_key(SecretString::from("wrong-key"))
        .base_url(sandbox.base_url())
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let err = wrong.order_info(1).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert_eq!(
        err.api_codes(),
        vec!["access_denied|access_denied_invalid_key"]
    );
    assert!(!err.is_retryable());
    let err = wrong
        .order_client_certificate(PRODUCT, &order_request("A", "a@example.com", false))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 403, .. }), "{err}");

    // 404 for an unknown order, on reads and on writes.
    let err = client.order_info(424242).await.unwrap_err();
    assert!(matches!(&err, Error::Api { status: 404, .. }), "{err}");
    assert_eq!(err.api_codes(), vec!["not_found|order"]);
    let err = client.order(424242).await.unwrap_err();
    assert_eq!(err.api_codes(), vec!["not_found|order"]);

    // 400 with several errors: every one is kept.
    let err = client
        .list_orders(&ListOrdersFilters {
            date_created: Some("yesterday-ish".into()),
            limit: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let Error::Api { status, errors } = &err else {
        panic!("expected an api error, got {err:?}");
    };
    assert_eq!(*status, 400);
    let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(
        codes,
        vec!["invalid_value:filters.date_created", "invalid_value:limit"]
    );
    assert!(
        err.to_string()
            .starts_with("api error (http 400): invalid_value:")
    );

    // Nothing was retried: each definitive error was answered once.
    assert_eq!(sandbox.stats().count(403), 2);
    assert_eq!(sandbox.stats().count(404), 2);
    assert_eq!(sandbox.stats().count(400), 1);
}

#[tokio::test]
async fn invalid_order_sends_nothing() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut request = order_request("Lock Cole", "locke.cole@example.com", false);
    request.certificate.emails = vec!["not an email".into()];
    request.certificate.csr = Some("-----BEGIN CERTIFICATE REQUEST-----\nnope\n".into());
    let err = client
        .order_client_certificate(PRODUCT, &request)
        .await
        .unwrap_err();
    let Error::Invalid(report) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert!(report.errors.len() >= 2, "{report:?}");
    assert!(err.to_string().starts_with("the order is invalid"));
    assert_eq!(sandbox.stats().total, 0, "no request may reach the server");
    assert_eq!(sandbox.order_count(), 0);
}

#[tokio::test]
async fn server_429_is_recovered_from() {
    // The server limits at 100 per 500 ms; the client does not limit itself, so a burst of
    // 250 concurrent reads meets 429s and must retry through them.
    let sandbox = start(sandbox().rate_limit(RateLimit::Scaled(10.0))).await;
    let client = client_builder(&sandbox)
        .retry_policy(RetryPolicy {
            max_attempts: 40,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(2),
            deadline: Duration::from_secs(60),
        })
        .build()
        .unwrap();
    let calls = (0..250).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.product_info(PRODUCT).await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let stats = sandbox.stats();
    assert!(
        stats.count(429) > 0,
        "the burst should have met the server limit"
    );
    assert_eq!(stats.count(200), 250);
}

#[tokio::test]
async fn client_limiter_matching_the_sandbox_scale_sees_no_429() {
    // The same burst that meets 429s without a client limit (server_429_is_recovered_from)
    // meets none when the client keeps the sandbox's scaled windows; no retries allowed.
    let sandbox = start(sandbox().rate_limit(RateLimit::Scaled(10.0))).await;
    let client = client_builder(&sandbox)
        .rate_limits(RateLimits::scaled(10.0))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let calls = (0..250).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.product_info(PRODUCT).await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(sandbox.stats().count(429), 0);
    assert_eq!(sandbox.stats().count(200), 250);
}

/// A client that retries through a fault hitting about every other request.
fn patient_client(sandbox: &certcentral_sandbox::RunningSandbox) -> Client {
    client_builder(sandbox)
        .retry_policy(RetryPolicy {
            max_attempts: 30,
            ..fast_retry()
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn fault_rate_limit_post_is_retried_and_creates_one_order() {
    let sandbox = start(sandbox().fault(FaultKind::RateLimit, 0.6)).await;
    let client = patient_client(&sandbox);
    for i in 0..5 {
        let request = order_request(&format!("P{i}"), &format!("p{i}@example.com"), true);
        client
            .order_client_certificate(PRODUCT, &request)
            .await
            .unwrap();
    }
    assert_eq!(sandbox.order_count(), 5);
    assert!(sandbox.stats().count(429) > 0);
}

#[tokio::test]
async fn fault_error_5xx_reads_retry_post_is_unknown_and_never_retried() {
    let sandbox = start(sandbox().fault(FaultKind::Error5xx, 1.0)).await;
    let client = client_for(&sandbox);
    let err = client.product_info(PRODUCT).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err}");
    assert!(err.is_retryable());
    // Reads were retried up to the policy's bound.
    assert_eq!(
        sandbox.stats().count(500),
        u64::from(fast_retry().max_attempts)
    );

    let request = order_request("Lock Cole", "locke.cole@example.com", false);
    let err = client
        .order_client_certificate(PRODUCT, &request)
        .await
        .unwrap_err();
    let Error::OutcomeUnknown(unknown) = &err else {
        panic!("expected OutcomeUnknown, got {err:?}");
    };
    assert_eq!(unknown.status, Some(500));
    assert_eq!(unknown.common_name, "Lock Cole");
    assert!(!err.is_retryable());
    // Exactly one more request: the POST, not retried.
    assert_eq!(
        sandbox.stats().count(500),
        u64::from(fast_retry().max_attempts) + 1
    );
    assert_eq!(sandbox.order_count(), 0);
}

#[tokio::test]
async fn fault_error_5xx_at_half_is_retried_through_on_reads() {
    let sandbox = start(sandbox().fault(FaultKind::Error5xx, 0.5)).await;
    let client = patient_client(&sandbox);
    for _ in 0..10 {
        client.product_info(PRODUCT).await.unwrap();
    }
    assert!(sandbox.stats().count(500) > 0);
}

#[tokio::test]
async fn fault_html_error_is_a_decode_error_with_a_snippet() {
    let sandbox = start(sandbox().fault(FaultKind::HtmlError, 1.0)).await;
    let client = client_for(&sandbox);
    let err = client.order_info(1).await.unwrap_err();
    let Error::Decode { status, snippet } = &err else {
        panic!("expected Decode, got {err:?}");
    };
    assert_eq!(*status, 503);
    assert!(
        !snippet.is_empty() && snippet.chars().count() <= certcentral_client::SNIPPET_CHARS + 1
    );
    assert!(!snippet.contains(KEY));
    let err = client
        .order_client_certificate(PRODUCT, &order_request("A", "a@example.com", false))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutcomeUnknown(u) if u.status == Some(503)),
        "{err:?}"
    );
    assert_eq!(sandbox.order_count(), 0);
}

#[tokio::test]
async fn fault_drop_after_commit_is_outcome_unknown_with_exactly_one_order() {
    let sandbox = start(sandbox().fault(FaultKind::DropAfterCommit, 1.0)).await;
    let client = client_for(&sandbox);
    let request = order_request("Lock Cole", "locke.cole@example.com", true);
    let err = client
        .order_client_certificate(PRODUCT, &request)
        .await
        .unwrap_err();
    let Error::OutcomeUnknown(unknown) = &err else {
        panic!("expected OutcomeUnknown, got {err:?}");
    };
    assert_eq!(unknown.product, PRODUCT.as_str());
    assert_eq!(unknown.emails, vec!["locke.cole@example.com".to_string()]);
    assert_eq!(unknown.status, None);
    assert!(err.to_string().contains("find_recent_orders"), "{err}");
    // Never two: the POST was not retried.
    assert_eq!(sandbox.order_count(), 1);
    assert_eq!(sandbox.stats().dropped, 1);

    // Reconciliation finds the order (reads are not dropped: the fault is for POSTs only).
    let found = client.reconcile(unknown).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, sandbox.orders()[0].id);
    let none = client
        .find_recent_orders(
            PRODUCT.as_str(),
            "Somebody Else",
            &unknown.emails,
            unknown.sent_at,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn fault_latency_beyond_the_timeout() {
    let sandbox = start(sandbox().fault(FaultKind::Latency(Duration::from_millis(400)), 1.0)).await;
    let client = client_builder(&sandbox)
        .retry_policy(RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        })
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = client.product_info(PRODUCT).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if t.kind() == TransportKind::Timeout),
        "{err:?}"
    );
    let err = client
        .order_client_certificate(PRODUCT, &order_request("A", "a@example.com", false))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutcomeUnknown(u) if u.status.is_none()),
        "{err:?}"
    );
    assert!(
        sandbox.order_count() <= 1,
        "a timed-out POST is never retried"
    );
}

#[tokio::test]
async fn fault_latency_within_the_timeout_succeeds() {
    let sandbox = start(sandbox().fault(FaultKind::Latency(Duration::from_millis(20)), 1.0)).await;
    let client = client_for(&sandbox);
    let order = placed(&client, "A", "a@example.com", true).await;
    assert_eq!(order.id(), sandbox.orders()[0].id);
}

#[tokio::test]
async fn auto_approval_sandbox_issues_without_approve() {
    let sandbox = start(sandbox().approval(Approval::Auto)).await;
    let client = client_for(&sandbox);
    let mut order = placed(&client, "A", "a@example.com", false).await;
    wait_issued(&mut order).await;
}

// ---------------------------------------------------------------- after issuance

/// An order issued at once (`skip_approval`), as a handle with its details.
async fn issued(client: &Client, common_name: &str, email: &str) -> certcentral_client::Order {
    let mut order = placed(client, common_name, email, true).await;
    wait_issued(&mut order).await;
    order.refresh().await.unwrap();
    order
}

/// The seed's order for `common_name` and `email`, placed.
async fn placed(
    client: &Client,
    common_name: &str,
    email: &str,
    skip_approval: bool,
) -> certcentral_client::Order {
    client
        .order_client_certificate(PRODUCT, &order_request(common_name, email, skip_approval))
        .await
        .unwrap()
}

#[tokio::test]
async fn renew_places_a_linked_order_with_the_new_csr() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut old = issued(&client, "Lock Cole", "locke.cole@example.com").await;
    let new_csr = csr();
    let mut renewal = old.renew(&new_csr, None).await.unwrap();
    assert_ne!(renewal.id(), old.id());
    let info = renewal.refresh().await.unwrap().clone();
    assert_eq!(info.renewal_of_order_id, Some(old.id()));
    let cert = info.certificate.unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("Lock Cole"));
    assert_eq!(cert.emails, ["locke.cole@example.com"]);
    assert_eq!(cert.csr.as_deref(), Some(new_csr.as_str()));
    assert_eq!(old.refresh().await.unwrap().is_renewed, Some(true));
    assert_eq!(sandbox.order_count(), 2);
    // A bad CSR is refused before anything is sent.
    let err = old.renew("not a csr", None).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(sandbox.order_count(), 2);
    sandbox.shutdown().await;
}

/// Orders `body` for `product` (auto approval), renews it with a new CSR and returns the
/// renewal's order info (checked to be linked to the old order) and the new CSR.
async fn renewed(
    client: &Client,
    product: ProductId,
    body: serde_json::Value,
) -> (certcentral_types::OrderInfo, String) {
    let body = certcentral_types::OrderBody::from_value(product.spec().profile.body, body).unwrap();
    let mut old = client.order_certificate(product, &body).await.unwrap();
    old.refresh().await.unwrap();
    let new_csr = csr();
    let mut renewal = old.renew(&new_csr, None).await.unwrap();
    let info = renewal.refresh().await.unwrap().clone();
    assert_eq!(info.renewal_of_order_id, Some(old.id()));
    assert_eq!(
        info.product.as_ref().and_then(|p| p.name_id.as_deref()),
        Some(product.as_str())
    );
    (info, new_csr)
}

/// A Secure Email order renews as one: the same person, indicator, usage and profile, from
/// its order info, in the Secure Email body.
#[tokio::test]
async fn renew_a_secure_email_order_keeps_what_was_ordered() {
    let sandbox = start(sandbox().approval(Approval::Auto)).await;
    let client = client_for(&sandbox);
    let body = serde_json::json!({
        "certificate": {
            "emails": ["celes@example.com"],
            "csr": csr(),
            "signature_hash": "sha256",
            "common_name_indicator": "given_name_surname",
            "individual": {"first_name": "Celes", "last_name": "Chere"},
            "usage_designation": {"primary_usage": "signing", "additional_usages": ["non_repudiation"]},
            "profile_type": "multipurpose"
        },
        "organization": {"id": 112233},
        "validity_years": 1
    });
    let (info, new_csr) = renewed(&client, ProductId::SecureEmailSponsor, body).await;
    // The seed-shaped renewal_request refuses a Secure Email product instead of a wrong body.
    let old = client
        .order(info.renewal_of_order_id.unwrap())
        .await
        .unwrap();
    assert!(old.renewal_request(None, None).is_err());
    let cert = info.certificate.unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("Celes Chere"));
    assert_eq!(
        cert.common_name_indicator.as_deref(),
        Some("given_name_surname")
    );
    let person = cert.individual.unwrap();
    assert_eq!(
        (person.first_name.as_deref(), person.last_name.as_deref()),
        (Some("Celes"), Some("Chere"))
    );
    let usage = cert.usage_designation.unwrap();
    assert_eq!(usage.primary_usage.as_deref(), Some("signing"));
    assert_eq!(usage.additional_usages, ["non_repudiation"]);
    assert_eq!(cert.profile_type.as_deref(), Some("multipurpose"));
    assert_eq!(cert.csr.as_deref(), Some(new_csr.as_str()));
    assert_eq!(sandbox.order_count(), 2);
    sandbox.shutdown().await;
}

/// A product that takes no common name (`class1_smime`) renews without one.
#[tokio::test]
async fn renew_a_product_without_common_name() {
    let sandbox = start(sandbox().approval(Approval::Auto)).await;
    let client = client_for(&sandbox);
    let body = serde_json::json!({
        "certificate": {
            "emails": ["gau@example.com"],
            "csr": csr(),
            "signature_hash": "sha256"
        },
        "organization": {"id": 112233},
        "validity_years": 1
    });
    let (info, _) = renewed(&client, ProductId::Class1Smime, body).await;
    let cert = info.certificate.unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("gau@example.com"));
    assert_eq!(cert.emails, ["gau@example.com"]);
    assert_eq!(sandbox.order_count(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn reissue_gives_a_new_certificate_on_the_same_order() {
    let sandbox = start(sandbox().approval(Approval::Auto)).await;
    let client = client_for(&sandbox);
    let mut order = issued(&client, "Lock Cole", "locke.cole@example.com").await;
    let first = order.certificate_id().unwrap();
    let response = order.reissue(&csr()).await.unwrap();
    assert_eq!(response.id, order.id());
    assert_eq!(response.requests[0].status, Some(RequestStatus::Approved));
    let second = response.certificate_id.unwrap();
    assert_ne!(first, second);
    assert_eq!(order.certificate_id(), Some(second));
    assert_eq!(order.status(), Some(&OrderStatus::Issued));
    let list = client.list_reissues(order.id()).await.unwrap();
    let ids: Vec<i64> = list.certificates.iter().map(|c| c.id).collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(sandbox.order_count(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn reissue_and_revoke_with_a_lost_answer_are_reconciled_not_repeated() {
    // Every change is committed, then its connection closed without an answer.
    let sandbox = start(
        sandbox()
            .approval(Approval::Auto)
            .fault(FaultKind::DropAfterCommit, 1.0),
    )
    .await;
    let client = client_for(&sandbox);
    // drop_after_commit also drops the order POST: find the order the way callers do.
    let request = order_request("Lock Cole", "locke.cole@example.com", true);
    let err = client
        .order_client_certificate(PRODUCT, &request)
        .await
        .unwrap_err();
    let Error::OutcomeUnknown(unknown) = err else {
        panic!("expected OutcomeUnknown, got {err}");
    };
    let found = client.reconcile(&unknown).await.unwrap();
    assert_eq!(found.len(), 1);
    let mut order = client.order(found[0].id).await.unwrap();
    let first = order.certificate_id().unwrap();

    let response = order.reissue(&csr()).await.unwrap();
    assert_eq!(response.requests.len(), 1, "the reissue request was found");
    assert_ne!(response.certificate_id, Some(first));
    assert_eq!(
        client
            .list_reissues(order.id())
            .await
            .unwrap()
            .certificates
            .len(),
        2
    );

    let outcome = order.revoke(Some("left"), false).await.unwrap();
    assert_eq!(outcome, certcentral_client::Revocation::Reconciled);
    assert_eq!(sandbox.stats().dropped, 3);
    assert_eq!(sandbox.order_count(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn revoke_with_and_without_approval() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut now = issued(&client, "Lock Cole", "locke.cole@example.com").await;
    let outcome = now.revoke(Some("left"), true).await.unwrap();
    assert_eq!(outcome, certcentral_client::Revocation::Revoked);
    assert_eq!(now.status(), Some(&OrderStatus::Revoked));

    let mut later = issued(&client, "Celes Chere", "celes.chere@example.com").await;
    let outcome = later
        .revoke_certificate(Some("lost laptop"), false)
        .await
        .unwrap();
    let certcentral_client::Revocation::Requested(request) = outcome else {
        panic!("expected a revoke request, got {outcome:?}");
    };
    assert_eq!(request.status, Some(RequestStatus::Pending));
    client
        .update_request_status(
            request.id,
            &certcentral_types::RequestStatusUpdate {
                status: certcentral_types::RequestDecision::Approved,
                processor_comment: None,
            },
        )
        .await
        .unwrap();
    let list = client.list_reissues(later.id()).await.unwrap();
    assert_eq!(list.certificates[0].status.as_deref(), Some("revoked"));
    // Revoking again is the server's error, not a silent success.
    let err = later.revoke_certificate(None, true).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn expiring_pages_through_orders_ending_within_the_window() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut ids = Vec::new();
    for i in 0..3 {
        let order = issued(
            &client,
            &format!("User {i}"),
            &format!("user{i}@example.com"),
        )
        .await;
        ids.push(order.id());
    }
    let within = Duration::from_secs(30 * 86_400);
    assert!(
        client
            .expiring(within)
            .collect_all()
            .await
            .unwrap()
            .is_empty()
    );
    // Renew the first: it no longer counts as expiring.
    let mut first = client.order(ids[0]).await.unwrap();
    first.renew(&csr(), None).await.unwrap();
    let later = sandbox.now() + chrono::Duration::days(350);
    sandbox.set_now(later);
    let found: Vec<i64> = client
        .expiring_at(within, later, false)
        .collect_all()
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(found, [ids[1], ids[2]]);
    let with_renewed = client
        .expiring_at(within, later, true)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(with_renewed.len(), 3);
    sandbox.shutdown().await;
}

/// `order_as_given` for a product id the catalog does not know: the body is validated first
/// (as the known body it has the members of; an error sends nothing), then sent once to the
/// id's path; the sandbox, which knows no more products than certcentral, answers 404, which
/// is an API error (the order provably does not exist), not an unknown outcome.
#[tokio::test]
async fn order_as_given_checks_an_unknown_products_body_then_sends_it_once() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let mut body = certcentral_testkit::secure_email_body_without_csr();
    body["certificate"]["usage_designation"]["primary_usage"] = serde_json::json!("everything");
    let err = client
        .order_as_given("secure_email_individual", &body)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(report)
            if report.errors[0].path == "/certificate/usage_designation/primary_usage"),
        "{err:?}"
    );
    assert_eq!(sandbox.stats().total, 0, "nothing sent");

    let body = certcentral_testkit::secure_email_body_without_csr();
    let err = client
        .order_as_given("secure_email_individual", &body)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Api { status: 404, .. }), "{err:?}");
    assert!(err.to_string().contains("secure_email_individual"), "{err}");
    assert_eq!(sandbox.stats().total, 1, "sent once");
}
