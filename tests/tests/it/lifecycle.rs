//! The whole life of an order across crates: validate, order through the client, follow,
//! download, and check the certificate against the CSR and the sandbox's test CA.

use std::time::Duration;

use certcentral_client::{PollPolicy, WaitOutcome};
use certcentral_sandbox::Approval;
use certcentral_types::{DownloadFormat, ProductId};
use x509_parser::prelude::*;

use certcentral_testkit::client::{client_for, fast_poll, order_request_with, wait_issued};
use certcentral_testkit::{common_names, csr_for, pem_certs, san_emails, sandbox, start};

#[tokio::test]
async fn skip_approval_order_issues_a_certificate_over_the_csr_key() {
    let sandbox = start(sandbox()).await;
    let client = client_for(&sandbox);
    let (csr, public_key) = csr_for("Lock Cole", "locke.cole@example.com");
    let body = order_request_with("Lock Cole", "locke.cole@example.com", &csr, true);

    let ctx = certcentral_validate::Context::new(ProductId::ClientPremiumSha2);
    assert!(certcentral_validate::validate(&body, &ctx).is_valid());

    let mut order = client
        .order_client_certificate(ProductId::ClientPremiumSha2, &body)
        .await
        .expect("order placed");
    assert!(order.id() > 0);
    assert_eq!(order.requests().len(), 1);
    wait_issued(&mut order).await;
    let pem = order
        .download(DownloadFormat::PemAll)
        .await
        .expect("download");
    let chain = pem_certs(&pem);
    assert_eq!(chain.len(), 3, "pem_all holds leaf, intermediate and root");

    let (_, leaf) = X509Certificate::from_der(&chain[0]).expect("leaf parses");
    let (_, intermediate) = X509Certificate::from_der(&chain[1]).expect("intermediate parses");
    let (_, root) = X509Certificate::from_der(&chain[2]).expect("root parses");
    assert_eq!(
        leaf.public_key().raw,
        public_key.as_slice(),
        "leaf carries the CSR's key"
    );
    assert_eq!(common_names(&leaf), ["Lock Cole"]);
    assert_eq!(san_emails(&leaf), ["locke.cole@example.com"]);
    leaf.verify_signature(Some(intermediate.public_key()))
        .expect("leaf signed by the intermediate");
    intermediate
        .verify_signature(Some(root.public_key()))
        .expect("intermediate signed by the root");
    let sandbox_root = sandbox.root_ca_pem();
    let (_, expected_root) = parse_x509_pem(sandbox_root.as_bytes()).expect("root PEM");
    assert_eq!(
        expected_root.contents, chain[2],
        "chain ends at the sandbox's root"
    );
    // Validity: one year, ending at 23:59:59 UTC.
    let not_after = leaf.validity().not_after.to_datetime();
    assert_eq!(
        (not_after.hour(), not_after.minute(), not_after.second()),
        (23, 59, 59)
    );
    assert_eq!(sandbox.order_count(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn manual_approval_flow_and_reattach() {
    let sandbox = start(sandbox().approval(Approval::Manual)).await;
    let client = client_for(&sandbox);
    let (csr, _) = csr_for("Terra Branford", "terra@example.com");
    let body = order_request_with("Terra Branford", "terra@example.com", &csr, false);
    let order = client
        .order_client_certificate(ProductId::ClientEmailSecurityPlus, &body)
        .await
        .expect("order placed");
    assert_eq!(order.certificate_id(), None, "not approved yet");

    // Not issued before approval: the deadline passes with the order still pending.
    let mut again = client.order(order.id()).await.expect("re-attach");
    let short = PollPolicy {
        initial_interval: Duration::from_millis(5),
        ..fast_poll()
    }
    .with_deadline(Duration::from_millis(60));
    match again.wait_until_issued(&short).await.expect("followed") {
        WaitOutcome::Pending { order_id, .. } => assert_eq!(order_id, order.id()),
        other => panic!("expected pending, got {other:?}"),
    }

    again
        .approve(Some("approved by e2e test"))
        .await
        .expect("approve");
    wait_issued(&mut again).await;
    let leaf_only = again
        .download(DownloadFormat::PemNointermediate)
        .await
        .expect("download");
    assert_eq!(pem_certs(&leaf_only).len(), 1);
    assert_eq!(sandbox.order_count(), 1);
    sandbox.shutdown().await;
}

/// The yearly cycle: order, a year later find what expires, renew it with a new key, revoke
/// the old certificate (a request, then approved), and the CRL signed by the issuing CA lists
/// its serial.
#[tokio::test]
async fn a_year_later_renew_what_expires_and_revoke_the_old_certificate() {
    let sandbox = start(sandbox().approval(Approval::Auto)).await;
    let client = client_for(&sandbox);
    let mut ordered = Vec::new();
    for (cn, email) in [
        ("Locke Cole", "locke.cole@example.com"),
        ("Celes Chere", "celes.chere@example.com"),
    ] {
        let (csr, _) = csr_for(cn, email);
        let mut order = client
            .order_client_certificate(
                ProductId::ClientPremiumSha2,
                &order_request_with(cn, email, &csr, false),
            )
            .await
            .expect("order");
        wait_issued(&mut order).await;
        ordered.push(order.id());
    }
    let within = Duration::from_secs(30 * 86_400);
    assert!(
        client
            .expiring(within)
            .collect_all()
            .await
            .expect("list")
            .is_empty()
    );

    let later = sandbox.now() + chrono::Duration::days(345);
    sandbox.set_now(later);
    let expiring = client
        .expiring_at(within, later, false)
        .collect_all()
        .await
        .expect("list");
    assert_eq!(expiring.iter().map(|o| o.id).collect::<Vec<_>>(), ordered);

    // Renew the first with a new key; it no longer shows as expiring.
    let mut old = client.order(ordered[0]).await.expect("order");
    let old_serial = old
        .info()
        .and_then(|i| i.certificate.as_ref())
        .and_then(|c| c.serial_number.clone())
        .expect("serial");
    let (new_csr, new_spki) = csr_for("Locke Cole", "locke.cole@example.com");
    let mut renewal = old.renew(&new_csr, None).await.expect("renew");
    wait_issued(&mut renewal).await;
    let pem = renewal
        .download(DownloadFormat::PemAll)
        .await
        .expect("download");
    let chain = pem_certs(&pem);
    let (_, leaf) = X509Certificate::from_der(&chain[0]).expect("leaf");
    assert_eq!(leaf.public_key().raw, new_spki.as_slice());
    let still = client
        .expiring_at(within, later, false)
        .collect_all()
        .await
        .expect("list");
    assert_eq!(still.iter().map(|o| o.id).collect::<Vec<_>>(), [ordered[1]]);

    // Revoke the old certificate: a request first (no skip_approval), approved by id.
    let outcome = old
        .revoke_certificate(Some("renewed"), false)
        .await
        .expect("revoke");
    let certcentral_client::Revocation::Requested(request) = outcome else {
        panic!("expected a revoke request, got {outcome:?}");
    };
    client
        .update_request_status(
            request.id,
            &certcentral_types::RequestStatusUpdate {
                status: certcentral_types::RequestDecision::Approved,
                processor_comment: Some("ok".into()),
            },
        )
        .await
        .expect("approve");
    let crl = reqwest::get(format!("http://{}/_sandbox/crl", sandbox.addr()))
        .await
        .expect("crl")
        .bytes()
        .await
        .expect("crl body");
    let (_, crl) = CertificateRevocationList::from_der(&crl).expect("a DER CRL");
    let (_, issuer) = X509Certificate::from_der(&chain[1]).expect("intermediate");
    crl.verify_signature(issuer.public_key())
        .expect("signed by the issuing CA");
    let listed: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial_as_string().replace(':', "").to_uppercase())
        .collect();
    assert_eq!(listed, [old_serial]);
    assert_eq!(sandbox.order_count(), 3);
    sandbox.shutdown().await;
}
