//! The whole life of an order across crates: validate, order through the client, follow,
//! download, and check the certificate against the CSR and the sandbox's test CA.

use std::time::Duration;

use certcentral_client::{Client, PollPolicy, RateLimits, WaitOutcome};
use certcentral_sandbox::{Approval, RateLimit, Sandbox};
use certcentral_types::{DownloadFormat, OrderRequest, ProductId};
use secrecy::SecretString;
use x509_parser::prelude::*;

use certcentral_testkit::{API_KEY as KEY, csr_for};

fn order_body(common_name: &str, email: &str, csr: &str, skip_approval: bool) -> OrderRequest {
    let mut body = certcentral_testkit::order_body(common_name, email, csr);
    body["skip_approval"] = skip_approval.into();
    serde_json::from_value(body).expect("order body")
}

fn client_for(base_url: &str) -> Client {
    Client::builder()
        .api_key(SecretString::from(KEY.to_string()))
        .base_url(base_url)
        .rate_limits(RateLimits::off())
        .build()
        .expect("client")
}

fn fast_poll() -> PollPolicy {
    PollPolicy {
        initial_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(50),
        multiplier: 2.0,
        deadline: Duration::from_secs(20),
    }
}

fn pem_certs(bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(bytes).expect("PEM is text");
    let mut out = Vec::new();
    for block in text.split("-----END CERTIFICATE-----") {
        if let Some(start) = block.find("-----BEGIN CERTIFICATE-----") {
            let pem = format!("{}-----END CERTIFICATE-----\n", &block[start..]);
            let (_, parsed) = parse_x509_pem(pem.as_bytes()).expect("PEM block parses");
            out.push(parsed.contents);
        }
    }
    out
}

#[tokio::test]
async fn skip_approval_order_issues_a_certificate_over_the_csr_key() {
    let sandbox = Sandbox::builder()
        .api_key(KEY)
        .rate_limit(RateLimit::Off)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let client = client_for(sandbox.base_url());
    let (csr, public_key) = csr_for("Lock Cole", "locke.cole@example.com");
    let body = order_body("Lock Cole", "locke.cole@example.com", &csr, true);

    let ctx = certcentral_validate::Context::new(ProductId::ClientPremiumSha2);
    assert!(certcentral_validate::validate(&body, &ctx).is_valid());

    let mut order = client
        .order_client_certificate(ProductId::ClientPremiumSha2, &body)
        .await
        .expect("order placed");
    assert!(order.id() > 0);
    assert_eq!(order.requests().len(), 1);
    match order
        .wait_until_issued(&fast_poll())
        .await
        .expect("followed")
    {
        WaitOutcome::Issued { .. } => {}
        other => panic!("expected issued, got {other:?}"),
    }
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
    let cn: Vec<_> = leaf
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .collect();
    assert_eq!(cn, ["Lock Cole"]);
    let emails: Vec<String> = leaf
        .subject_alternative_name()
        .expect("SAN parses")
        .expect("SAN present")
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::RFC822Name(email) => Some(email.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(emails, ["locke.cole@example.com"]);
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
    let sandbox = Sandbox::builder()
        .api_key(KEY)
        .rate_limit(RateLimit::Off)
        .approval(Approval::Manual)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    let client = client_for(sandbox.base_url());
    let (csr, _) = csr_for("Terra Branford", "terra@example.com");
    let body = order_body("Terra Branford", "terra@example.com", &csr, false);
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
    match again
        .wait_until_issued(&fast_poll())
        .await
        .expect("followed")
    {
        WaitOutcome::Issued { .. } => {}
        other => panic!("expected issued, got {other:?}"),
    }
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
    let sandbox = Sandbox::builder()
        .api_key(KEY)
        .rate_limit(RateLimit::Off)
        .approval(Approval::Auto)
        .start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sandbox");
    let client = client_for(sandbox.base_url());
    let mut ordered = Vec::new();
    for (cn, email) in [
        ("Locke Cole", "locke.cole@example.com"),
        ("Celes Chere", "celes.chere@example.com"),
    ] {
        let (csr, _) = csr_for(cn, email);
        let mut order = client
            .order_client_certificate(
                ProductId::ClientPremiumSha2,
                &order_body(cn, email, &csr, false),
            )
            .await
            .expect("order");
        assert!(
            order
                .wait_until_issued(&fast_poll())
                .await
                .expect("wait")
                .is_issued()
        );
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
    assert!(
        renewal
            .wait_until_issued(&fast_poll())
            .await
            .expect("wait")
            .is_issued()
    );
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
