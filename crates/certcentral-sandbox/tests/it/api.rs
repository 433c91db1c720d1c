//! The sandbox over real HTTP: shapes, lifecycle, errors, certificates.

use std::time::Duration;

use crate::common::{Api, KEY, builder, codes, csr, seed_body, start};
use certcentral_sandbox::{Approval, EmailValidation, SandboxOrder, Stats};
use certcentral_testkit::{common_names, pem_certs, pkilint, san_emails};
use certcentral_types::catalog::Family;
use certcentral_types::{
    ErrorBody, OrderInfo, OrderList, OrderResponse, OrderStatus, ProductId, ProductInfo,
    RequestStatus, StatusChanges,
};
use der::{Decode, Encode};
use serde_json::{Value, json};
use x509_parser::prelude::*;

#[tokio::test]
async fn seed_example_body_with_a_real_csr_is_created_approved_and_issued() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let (status, body) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert_eq!(status, 201, "{body}");
    // The seed's third stage: approved, with certificate_id. Ids are deterministic.
    insta::assert_json_snapshot!("created_skip_approval", body);
    let typed: OrderResponse = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(typed.requests[0].status, Some(RequestStatus::Approved));
    let certificate_id = typed.certificate_id.unwrap();

    let (status, info) = api
        .send(api.get(&format!("/order/certificate/{}", typed.id)))
        .await;
    assert_eq!(status, 200);
    let info: OrderInfo = serde_json::from_value(info).unwrap();
    assert_eq!(info.status, Some(OrderStatus::Issued));
    let cert = info.certificate.unwrap();
    assert_eq!(cert.id, Some(certificate_id));
    assert_eq!(cert.common_name.as_deref(), Some("Lock Cole"));
    assert_eq!(cert.emails, ["locke.cole@example.com"]);
    assert_eq!(cert.organization_units, ["Accounting"]);
    assert!(cert.serial_number.is_some() && cert.valid_till.is_some());
    assert_eq!(
        info.product.unwrap().name_id.as_deref(),
        Some("client_premium_sha2")
    );
    assert_eq!(info.organization.unwrap().id, 112233);
    assert_eq!(info.container.unwrap().id, 445566);
    assert_eq!(sandbox.order_count(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn manual_approval_flow_goes_pending_to_issued() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let mut body = seed_body(&csr);
    body["skip_approval"] = json!(false);
    let (status, created) = api.order("client_email_security_plus", &body).await;
    assert_eq!(status, 201);
    // The seed's first stage: pending, no certificate_id.
    insta::assert_json_snapshot!("created_pending", created);
    let created: OrderResponse = serde_json::from_value(created).unwrap();
    let order_path = format!("/order/certificate/{}", created.id);

    let (_, info) = api.send(api.get(&order_path)).await;
    assert_eq!(info["status"], "needs_approval");
    assert_eq!(info["requests"][0]["status"], "pending");

    let request_id = created.requests[0].id;
    let (status, _) = api
        .send(api.put(
            &format!("/request/{request_id}/status"),
            &json!({"status": "approved", "processor_comment": "ok"}),
        ))
        .await;
    assert_eq!(status, 204);
    let (_, info) = api.send(api.get(&order_path)).await;
    let info: OrderInfo = serde_json::from_value(info).unwrap();
    assert_eq!(info.status, Some(OrderStatus::Issued));
    assert_eq!(info.requests[0].status, Some(RequestStatus::Approved));

    // A second decision on the same request is refused.
    let (status, err) = api.decide(request_id, "rejected").await;
    assert_eq!(status, 400);
    assert_eq!(codes(&err), ["invalid_request_status"]);
    // An issued order cannot be canceled.
    let (status, err) = api
        .send(api.put(
            &format!("{order_path}/status"),
            &json!({"status": "canceled"}),
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(codes(&err), ["invalid_order_status"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rejection_and_cancellation() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let mut body = seed_body(&csr);
    body["skip_approval"] = json!(false);
    let (_, first) = api.order("client_premium_sha2", &body).await;
    let (_, second) = api.order("client_premium_sha2", &body).await;

    let request_id = first["requests"][0]["id"].as_i64().unwrap();
    let (status, _) = api.decide(request_id, "rejected").await;
    assert_eq!(status, 204);
    let (_, info) = api
        .send(api.get(&format!("/order/certificate/{}", first["id"])))
        .await;
    assert_eq!(info["status"], "rejected");
    assert_eq!(info["requests"][0]["status"], "rejected");

    let (status, _) = api
        .send(api.put(
            &format!("/order/certificate/{}/status", second["id"]),
            &json!({"status": "canceled", "note": "duplicate"}),
        ))
        .await;
    assert_eq!(status, 204);
    let (_, info) = api
        .send(api.get(&format!("/order/certificate/{}", second["id"])))
        .await;
    assert_eq!(info["status"], "canceled");

    // Deciding a request of a canceled order: the message does not contradict itself.
    let second_request = second["requests"][0]["id"].as_i64().unwrap();
    let (status, err) = api.decide(second_request, "approved").await;
    assert!(status >= 400, "{err}");
    let message = err["errors"][0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "request {second_request} can no longer be approved or rejected: its order {} is canceled",
            second["id"]
        )
    );
    // Deciding twice: the request is no longer pending.
    let (_, err) = api.decide(request_id, "approved").await;
    assert_eq!(
        err["errors"][0]["message"],
        format!(
            "request {request_id} is already rejected; only pending requests can be approved or rejected"
        )
    );

    // Unknown request, bad decision.
    let (status, err) = api.decide(999999, "approved").await;
    assert_eq!(
        (status, codes(&err)),
        (404, vec!["not_found|request".to_string()])
    );
    let (status, err) = api.decide(request_id, "maybe").await;
    assert_eq!(
        (status, codes(&err)),
        (400, vec!["invalid_value:status".to_string()])
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn auto_approval_approves_without_skip_approval() {
    let sandbox = start(builder().approval(Approval::Auto)).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let mut body = seed_body(&csr);
    body["skip_approval"] = json!(false);
    let (status, created) = api.order("client_authentication_plus", &body).await;
    assert_eq!(status, 201);
    assert_eq!(created["requests"][0]["status"], "approved");
    assert!(created["certificate_id"].is_i64());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn auth_errors_are_403_access_denied_invalid_key() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let url = format!("{}/product/client_premium_sha2", sandbox.base_url());
    for request in [
        api.client.get(&url),
        api.client.get(&url).header("X-DC-DEVKEY", "wrong"),
        api.client
            .get(&url)
            .header("X-DC-DEVKEY", format!("{KEY}x")),
    ] {
        let (status, body) = api.send(request).await;
        assert_eq!(status, 403);
        assert_eq!(codes(&body), ["access_denied|access_denied_invalid_key"]);
        let typed: ErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(typed.errors.len(), 1);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn not_found_codes() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let cases = [
        (
            api.post("/order/certificate/ssl_plus", &seed_body(&csr)),
            "not_found|product",
        ),
        (api.get("/order/certificate/424242"), "not_found|order"),
        (api.get("/order/certificate/abc"), "not_found|order"),
        (api.get("/no/such/route"), "not_found|route"),
        (
            api.client
                .delete(format!("{}/order/certificate/1", api.base))
                .header("X-DC-DEVKEY", KEY),
            "not_found|route",
        ),
        (api.get("/product/ssl_plus"), "not_found|product"),
        (
            api.get("/certificate/777/download/format/pem_all"),
            "not_found|certificate",
        ),
        (
            api.get("/certificate/download/order/777/format/pem_all"),
            "not_found|order",
        ),
    ];
    for (request, code) in cases {
        let (status, body) = api.send(request).await;
        assert_eq!(status, 404, "{code}: {body}");
        assert_eq!(codes(&body), [code]);
    }
    // Outside the API prefix too.
    let (status, body) = api
        .send(api.client.get(format!("http://{}/nope", sandbox.addr())))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (404, vec!["not_found|route".to_string()])
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn malformed_json_is_bad_request_format() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let response = api
        .client
        .post(format!(
            "{}/order/certificate/client_premium_sha2",
            api.base
        ))
        .header("X-DC-DEVKEY", KEY)
        .header("Content-Type", "application/json")
        .body("{\"certificate\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(codes(&body), ["bad_request_format"]);
    assert_eq!(sandbox.order_count(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_violation_is_reported_in_one_errors_array() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let body = json!({
        "certificate": {"emails": ["locke.cole@example.com"], "signature_hash": "sha256"},
        "organization": {"id": 112233},
        "validity_years": 3
    });
    let (status, errors) = api.order("client_premium_sha2", &body).await;
    assert_eq!(status, 400, "{errors}");
    let codes = codes(&errors);
    assert!(
        codes.contains(&"required_param:certificate.common_name".to_string()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"invalid_value:validity_years".to_string()),
        "{codes:?}"
    );
    // Exactly these two, each with a message (the wording belongs to certcentral-validate).
    assert_eq!(codes.len(), 2, "{errors}");
    let typed: ErrorBody = serde_json::from_value(errors).unwrap();
    assert!(typed.errors.iter().all(|e| !e.message.trim().is_empty()));
    assert_eq!(sandbox.order_count(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_broken_csr_is_csr_invalid_cannot_parse() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let garbage = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBfzCCASUCAQAw\n-----END CERTIFICATE REQUEST-----\n";
    let (status, errors) = api.order("client_premium_sha2", &seed_body(garbage)).await;
    assert_eq!(status, 400, "{errors}");
    assert_eq!(codes(&errors), ["csr_invalid_cannot_parse"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn downloads_carry_the_ordered_subject_emails_and_csr_key() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (key, csr) = csr();
    let mut body = seed_body(&csr);
    body["certificate"]["emails"] = json!(["locke.cole@example.com", "lc@example.org"]);
    body["certificate"]["organization_units"] = json!(["Accounting", "Payroll"]);
    body["validity_years"] = json!(2);
    let (_, created) = api.order("client_premium_sha2", &body).await;
    let order_id = created["id"].as_i64().unwrap();
    let certificate_id = created["certificate_id"].as_i64().unwrap();

    let fetch = |path: String| {
        let request = api.get(&path);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.bytes().await.unwrap().to_vec()
        }
    };
    let pem_all = fetch(format!(
        "/certificate/{certificate_id}/download/format/pem_all"
    ))
    .await;
    let by_order = fetch(format!(
        "/certificate/download/order/{order_id}/format/pem_all"
    ))
    .await;
    assert_eq!(pem_all, by_order);
    let chain = pem_certs(&pem_all);
    assert_eq!(chain.len(), 3);
    let noroot = fetch(format!(
        "/certificate/{certificate_id}/download/format/pem_noroot"
    ))
    .await;
    assert_eq!(pem_certs(&noroot), chain[..2]);
    let leaf_only = fetch(format!(
        "/certificate/{certificate_id}/download/format/pem_nointermediate"
    ))
    .await;
    assert_eq!(pem_certs(&leaf_only), chain[..1]);

    let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
    let (_, intermediate) = X509Certificate::from_der(&chain[1]).unwrap();
    let (_, root) = X509Certificate::from_der(&chain[2]).unwrap();
    assert_eq!(common_names(&leaf), ["Lock Cole"]);
    let ous: Vec<_> = leaf
        .subject()
        .iter_organizational_unit()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(ous, ["Accounting", "Payroll"]);
    assert_eq!(
        san_emails(&leaf),
        ["locke.cole@example.com", "lc@example.org"]
    );
    assert_eq!(
        leaf.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.email_protection);
    // Two years, ending 23:59:59 UTC.
    let not_after = leaf.validity().not_after.to_datetime();
    assert_eq!(
        (not_after.hour(), not_after.minute(), not_after.second()),
        (23, 59, 59)
    );
    let days =
        (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp()) / 86_400;
    assert!((729..=732).contains(&days), "{days} days");

    // The chain verifies up to the root the sandbox reports.
    leaf.verify_signature(Some(intermediate.public_key()))
        .unwrap();
    intermediate
        .verify_signature(Some(root.public_key()))
        .unwrap();
    root.verify_signature(None).unwrap();
    let reported = ::pem::parse(sandbox.root_ca_pem()).unwrap();
    assert_eq!(reported.contents(), chain[2].as_slice());

    // p7b: a degenerate PKCS#7 SignedData holding the same three certificates.
    let p7b = fetch(format!("/certificate/{certificate_id}/download/format/p7b")).await;
    let info = cms::content_info::ContentInfo::from_der(&p7b).unwrap();
    assert_eq!(
        info.content_type,
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2")
    );
    let signed = info
        .content
        .decode_as::<cms::signed_data::SignedData>()
        .unwrap();
    assert!(signed.signer_infos.0.is_empty());
    let mut in_p7b: Vec<Vec<u8>> = signed
        .certificates
        .unwrap()
        .0
        .iter()
        .map(|choice| match choice {
            cms::cert::CertificateChoices::Certificate(cert) => cert.to_der().unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let mut expected = chain.clone();
    in_p7b.sort();
    expected.sort();
    assert_eq!(in_p7b, expected);

    let (status, err) = api
        .send(api.get(&format!(
            "/certificate/{certificate_id}/download/format/der"
        )))
        .await;
    assert_eq!(
        (status, codes(&err)),
        (400, vec!["invalid_value:format".to_string()])
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn custom_expiration_date_ends_that_day_at_23_59_59() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let end = chrono::Utc::now().date_naive() + chrono::Duration::days(100);
    let mut body = seed_body(&csr);
    body.as_object_mut().unwrap().remove("validity_years");
    body["custom_expiration_date"] = json!(end.to_string());
    let (status, created) = api.order("client_digital_signature_plus_sha2", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["certificate_id"].as_i64().unwrap();
    let pem_text = api
        .text(&format!(
            "/certificate/{id}/download/format/pem_nointermediate"
        ))
        .await;
    let der = ::pem::parse(pem_text).unwrap().into_contents();
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    let expected = end.and_hms_opt(23, 59, 59).unwrap().and_utc().timestamp();
    assert_eq!(leaf.validity().not_after.timestamp(), expected);
    let ku = leaf.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.non_repudiation());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_order_without_csr_stays_pending_and_says_so() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let mut body = seed_body("");
    body["certificate"].as_object_mut().unwrap().remove("csr");
    let (status, created) = api.order("client_premium_sha2", &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["requests"][0]["status"], "approved");
    let (_, info) = api
        .send(api.get(&format!("/order/certificate/{}", created["id"])))
        .await;
    assert_eq!(info["status"], "pending");
    assert!(
        info["sandbox_note"].as_str().unwrap().contains("no CSR"),
        "{info}"
    );
    let (status, err) = api
        .send(api.get(&format!(
            "/certificate/download/order/{}/format/pem_all",
            created["id"]
        )))
        .await;
    assert_eq!(
        (status, codes(&err)),
        (400, vec!["cert_unavailable_for_download".to_string()])
    );
    assert!(!sandbox.orders()[0].has_csr);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn issue_delay_keeps_orders_pending_until_it_passes() {
    let sandbox = start(builder().issue_delay(Duration::from_millis(300))).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let (_, created) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    let path = format!("/order/certificate/{}", created["id"]);
    let (_, info) = api.send(api.get(&path)).await;
    assert_eq!(info["status"], "pending");
    let mut status = String::new();
    for _ in 0..100 {
        let (_, info) = api.send(api.get(&path)).await;
        status = info["status"].as_str().unwrap().to_string();
        if status == "issued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "issued");
    let (_, changes) = api
        .send(api.get("/order/certificate/status-changes?minutes=5"))
        .await;
    let changes: StatusChanges = serde_json::from_value(changes).unwrap();
    assert_eq!(changes.orders.len(), 1);
    assert_eq!(changes.orders[0].status, Some(OrderStatus::Issued));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn list_orders_filters_and_pages() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    for (name, email, skip) in [
        ("Lock Cole", "locke.cole@example.com", true),
        ("Terra Branford", "terra@example.com", false),
        ("Lock Cole", "other@example.com", false),
    ] {
        let mut body = seed_body(&csr);
        body["certificate"]["common_name"] = json!(name);
        body["certificate"]["emails"] = json!([email]);
        body["skip_approval"] = json!(skip);
        assert_eq!(api.order("client_premium_sha2", &body).await.0, 201);
    }
    let list = |query: &str| {
        let request = api.get(&format!("/order/certificate{query}"));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            let typed: OrderList = serde_json::from_value(body.clone()).unwrap();
            (body, typed)
        }
    };
    let (_, all) = list("").await;
    assert_eq!(all.orders.len(), 3);
    assert_eq!(all.page.as_ref().unwrap().total, Some(3));
    let (_, lock) = list("?filters[common_name]=Lock%20Cole").await;
    assert_eq!(lock.orders.len(), 2);
    let (_, by_email) = list("?filters[email]=TERRA@example.com").await;
    assert_eq!(by_email.orders.len(), 1);
    assert_eq!(
        by_email.orders[0]
            .certificate
            .as_ref()
            .unwrap()
            .common_name
            .as_deref(),
        Some("Terra Branford")
    );
    let (_, issued) = list("?filters[status]=issued").await;
    assert_eq!(issued.orders.len(), 1);
    let (_, waiting) =
        list("?filters[status]=needs_approval&filters[product_name_id]=client_premium_sha2").await;
    assert_eq!(waiting.orders.len(), 2);
    let today = chrono::Utc::now().date_naive();
    let (_, recent) = list(&format!("?filters[date_created]={today}")).await;
    assert_eq!(recent.orders.len(), 3);
    let (_, paged) = list("?offset=1&limit=1").await;
    assert_eq!(paged.orders.len(), 1);
    assert_eq!(paged.orders[0].id, all.orders[1].id);
    let page = paged.page.unwrap();
    assert_eq!(
        (page.total, page.limit, page.offset),
        (Some(3), Some(1), Some(1))
    );
    // An empty result omits `orders`.
    let (raw, none) = list("?filters[common_name]=Nobody").await;
    assert!(raw.get("orders").is_none(), "{raw}");
    assert!(none.orders.is_empty());

    let (status, err) = api
        .send(api.get("/order/certificate?filters[colour]=red&limit=0"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        codes(&err),
        ["invalid_value:filters[colour]", "invalid_value:limit"]
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn status_changes_and_product_info() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    api.order("client_premium_sha2", &seed_body(&csr)).await;
    let (status, changes) = api
        .send(api.get("/order/certificate/status-changes?minutes=10"))
        .await;
    assert_eq!(status, 200);
    let changes: StatusChanges = serde_json::from_value(changes).unwrap();
    assert_eq!(changes.orders.len(), 1);
    assert!(changes.orders[0].certificate_id.is_some());
    let (status, err) = api
        .send(api.get("/order/certificate/status-changes?minutes=10081"))
        .await;
    assert_eq!(
        (status, codes(&err)),
        (400, vec!["time_frame_too_long".to_string()])
    );

    for product in [
        "client_premium_sha2",
        "client_email_security_plus",
        "client_authentication_plus",
        "client_digital_signature_plus_sha2",
    ] {
        let (status, body) = api.send(api.get(&format!("/product/{product}"))).await;
        assert_eq!(status, 200);
        let info: ProductInfo = serde_json::from_value(body).unwrap();
        assert_eq!(info.name_id, product);
        assert_eq!(info.allowed_validity_years, [1, 2]);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn fifty_concurrent_orders_are_fifty_distinct_orders() {
    let sandbox = start(builder()).await;
    let api = std::sync::Arc::new(Api::new(&sandbox));
    let (_key, csr) = csr();
    let body = std::sync::Arc::new(seed_body(&csr));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            tokio::spawn(async move { api.order("client_premium_sha2", &body).await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut certificate_ids = Vec::new();
    for task in tasks {
        let (status, created) = task.await.unwrap();
        assert_eq!(status, 201);
        ids.push(created["id"].as_i64().unwrap());
        certificate_ids.push(created["certificate_id"].as_i64().unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    certificate_ids.sort_unstable();
    certificate_ids.dedup();
    assert_eq!((ids.len(), certificate_ids.len()), (50, 50));
    assert_eq!(sandbox.order_count(), 50);
    let listed: Vec<i64> = sandbox.orders().iter().map(|o| o.id).collect();
    assert_eq!(listed, ids);
    // Contiguous: no id lost or reused.
    assert_eq!(ids[49] - ids[0], 49);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn inspection_endpoints_need_no_key() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    api.order("client_premium_sha2", &seed_body(&csr)).await;
    api.send(api.get("/order/certificate/1")).await;
    let root = format!("http://{}", sandbox.addr());
    let orders: Value = api
        .client
        .get(format!("{root}/_sandbox/orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orders: Vec<SandboxOrder> = serde_json::from_value(orders["orders"].clone()).unwrap();
    assert_eq!(orders, sandbox.orders());
    assert_eq!(orders[0].common_name, "Lock Cole");
    assert_eq!(orders[0].status, OrderStatus::Issued);
    let stats: Stats = api
        .client
        .get(format!("{root}/_sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, sandbox.stats());
    assert_eq!((stats.count(201), stats.count(404), stats.total), (1, 1, 2));
    sandbox.shutdown().await;
}

/// Shutdown closes the connections the server holds. (Connecting to the old address again
/// proves nothing: a sandbox started meanwhile by another test may have been given the same
/// port.)
#[tokio::test]
async fn shutdown_stops_the_server() {
    use tokio::io::AsyncReadExt;
    let sandbox = start(builder()).await;
    let mut open = tokio::net::TcpStream::connect(sandbox.addr())
        .await
        .unwrap();
    sandbox.shutdown().await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), open.read_to_end(&mut rest))
        .await
        .expect("the connection is closed by the shutdown, not left open");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed without an answer: {read:?}"
    );
}

/// 413, 414, 431 and 405 answers are DigiCert-shaped JSON errors, counted in
/// `/_sandbox/stats` like every other answer.
#[tokio::test]
async fn oversized_requests_and_wrong_methods_get_counted_json_errors() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let root = format!("http://{}", sandbox.addr());
    let mut many_headers = api.get("/product/client_premium_sha2");
    for i in 0..150 {
        many_headers = many_headers.header(format!("x-extra-{i}"), "1");
    }
    let cases = [
        (
            api.get(&format!(
                "/order/certificate?filters={}",
                "a".repeat(10 * 1024)
            )),
            414,
            "uri_too_long",
        ),
        (
            api.get("/product/client_premium_sha2")
                .header("x-big", "b".repeat(70 * 1024)),
            431,
            "request_header_fields_too_large",
        ),
        (many_headers, 431, "request_header_fields_too_large"),
        (
            api.client
                .post(format!(
                    "{}/order/certificate/client_premium_sha2",
                    api.base
                ))
                .header("X-DC-DEVKEY", KEY)
                .header("content-type", "application/json")
                .body(vec![b' '; 2 * 1024 * 1024 + 1024]),
            413,
            "request_too_large",
        ),
        (
            api.client.post(format!("{root}/_sandbox/stats")),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, expected, code) in cases {
        let (status, body) = api.send(request).await;
        assert_eq!(status, expected, "{code}: {body}");
        assert_eq!(codes(&body), [code]);
        assert!(body["errors"][0]["message"].as_str().is_some(), "{body}");
    }
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.count(413),
            stats.count(414),
            stats.count(431),
            stats.count(405)
        ),
        (1, 1, 2, 1),
        "{stats:?}"
    );
    assert_eq!(stats.total, 5, "{stats:?}");
    sandbox.shutdown().await;
}

/// The paths of the URIs in the leaf's CRL distribution points and AIA caIssuers.
fn crl_and_ca_issuer_paths(leaf: &X509Certificate<'_>) -> (Vec<String>, Vec<String>) {
    let path = |uri: &str| {
        let rest = uri.strip_prefix("http://").unwrap();
        rest[rest.find('/').unwrap()..].to_string()
    };
    let (mut crl, mut ca_issuers) = (Vec::new(), Vec::new());
    for ext in leaf.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        for name in names {
                            if let GeneralName::URI(uri) = name {
                                crl.push(path(uri));
                            }
                        }
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for access in aia.iter() {
                    if let GeneralName::URI(uri) = &access.access_location {
                        ca_issuers.push(path(uri));
                    }
                }
            }
            _ => {}
        }
    }
    (crl, ca_issuers)
}

#[tokio::test]
async fn smime_certificates_carry_their_policy_and_the_ca_urls_the_sandbox_serves() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let origin = sandbox
        .base_url()
        .trim_end_matches("/services/v2")
        .to_string();
    let client = crate::common::http();
    // (product, reserved policy OID or none, client auth): the legacy S/MIME products are
    // sponsor-validated multipurpose; client authentication is not S/MIME.
    let products = [
        ("client_premium_sha2", Some("2.23.140.1.5.3.2"), true),
        ("client_email_security_plus", Some("2.23.140.1.5.3.2"), true),
        (
            "client_digital_signature_plus_sha2",
            Some("2.23.140.1.5.3.2"),
            true,
        ),
        ("client_authentication_plus", None, true),
    ];
    for (product, policy, client_auth) in products {
        let (_, csr) = csr();
        let (status, created) = api.order(product, &seed_body(&csr)).await;
        assert_eq!(status, 201, "{product}: {created}");
        let id = created["id"].as_i64().unwrap();
        let response = api
            .get(&format!("/certificate/download/order/{id}/format/pem_all"))
            .send()
            .await
            .unwrap();
        let chain = pem_certs(response.text().await.unwrap());
        let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();

        let policies: Vec<String> = leaf
            .extensions()
            .iter()
            .filter_map(|ext| match ext.parsed_extension() {
                ParsedExtension::CertificatePolicies(list) => Some(list),
                _ => None,
            })
            .flat_map(|list| list.iter().map(|p| p.policy_id.to_id_string()))
            .collect();
        assert_eq!(
            policies,
            policy.into_iter().collect::<Vec<_>>(),
            "{product}"
        );
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert_eq!(
            (eku.email_protection, eku.client_auth),
            (policy.is_some(), client_auth),
            "{product}"
        );
        if policy.is_some() {
            let subject = certcentral_testkit::subject_of(&leaf);
            let expected = [
                ("2.5.4.10", "Sandbox Organization 112233"),
                ("2.5.4.97", "NTRUS-112233"),
                ("2.5.4.11", "Accounting"),
                ("2.5.4.42", "Lock"),
                ("2.5.4.4", "Cole"),
                ("2.5.4.3", "Lock Cole"),
            ]
            .map(|(oid, value)| (oid.to_string(), value.to_string()));
            assert_eq!(subject, expected, "{product}");
        }

        // The CRL distribution point and AIA paths are served by the sandbox: the issuing
        // CA's certificate (the chain's second) and a CRL it signed.
        let (crl, ca_issuers) = crl_and_ca_issuer_paths(&leaf);
        assert_eq!(crl, ["/_sandbox/ca/intermediate.crl"], "{product}");
        assert_eq!(ca_issuers, ["/_sandbox/ca/intermediate.crt"], "{product}");
        let fetch = |path: String| {
            let request = client.get(format!("{origin}{path}"));
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 200, "{path}");
                response.bytes().await.unwrap().to_vec()
            }
        };
        assert_eq!(fetch(ca_issuers[0].clone()).await, chain[1]);
        let crl_der = fetch(crl[0].clone()).await;
        let (_, crl) = CertificateRevocationList::from_der(&crl_der).unwrap();
        let (_, intermediate) = X509Certificate::from_der(&chain[1]).unwrap();
        assert_eq!(crl.issuer(), intermediate.subject());
        crl.verify_signature(intermediate.public_key()).unwrap();
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn manual_email_validation_keeps_smime_orders_pending_until_every_address_is_validated() {
    let sandbox = start(builder().email_validation(EmailValidation::Manual)).await;
    let api = Api::new(&sandbox);
    let inspect = format!(
        "{}/_sandbox/orders",
        sandbox.base_url().trim_end_matches("/services/v2")
    );
    let client = crate::common::http();
    // `POST /_sandbox/orders/{id}/validate-emails`, with or without a body.
    let validate = |id: i64, body: Option<Value>| {
        let mut request = client.post(format!("{inspect}/{id}/validate-emails"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (_, csr) = csr();
    let mut body = seed_body(&csr);
    body["certificate"]["emails"] = json!(["locke.cole@example.com", "lc@example.org"]);
    let (status, created) = api.order("client_premium_sha2", &body).await;
    assert_eq!(status, 201, "{created}");
    let created: OrderResponse = serde_json::from_value(created).unwrap();
    assert_eq!(created.requests[0].status, Some(RequestStatus::Approved));
    assert!(created.certificate_chain.is_empty());
    let id = created.id;
    let validation_path = format!("/order/certificate/{id}/email-validation");
    let statuses = |body: &Value| -> Vec<(String, String)> {
        body["emails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let emailed = e["date_emailed"].as_str().unwrap();
                assert!(chrono::DateTime::parse_from_rfc3339(emailed).is_ok(), "{e}");
                (
                    e["email"].as_str().unwrap().to_string(),
                    e["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |email: &str, status: &str| (email.to_string(), status.to_string());

    let (status, validation) = api.send(api.get(&validation_path)).await;
    assert_eq!(status, 200);
    assert_eq!(
        statuses(&validation),
        [
            pair("locke.cole@example.com", "unvalidated"),
            pair("lc@example.org", "unvalidated")
        ]
    );
    let order_status = || async {
        let (_, info) = api.send(api.get(&format!("/order/certificate/{id}"))).await;
        info["status"].as_str().unwrap().to_string()
    };
    assert_eq!(order_status().await, "pending");
    let (status, err) = api
        .send(api.get(&format!("/certificate/download/order/{id}/format/pem_all")))
        .await;
    assert_eq!(
        (status, codes(&err)),
        (400, vec!["cert_unavailable_for_download".to_string()])
    );

    // One address validated (any case): still pending.
    let (status, answered) = validate(id, Some(json!({"emails": ["LC@example.org"]}))).await;
    assert_eq!(status, 200);
    assert_eq!(
        statuses(&answered),
        [
            pair("locke.cole@example.com", "unvalidated"),
            pair("lc@example.org", "validated")
        ]
    );
    assert_eq!(order_status().await, "pending");

    // An address the order does not have, or an unknown order, is refused.
    let (status, err) = validate(id, Some(json!({"emails": ["terra@example.com"]}))).await;
    assert_eq!(status, 400);
    assert_eq!(codes(&err), ["invalid_value:emails"]);
    assert!(
        err["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("locke.cole@example.com, lc@example.org"),
        "{err}"
    );
    assert_eq!(validate(999_999, None).await.0, 404);

    // No body: every address; the order is issued at once.
    assert_eq!(validate(id, None).await.0, 200);
    let (_, validation) = api.send(api.get(&validation_path)).await;
    assert_eq!(
        statuses(&validation),
        [
            pair("locke.cole@example.com", "validated"),
            pair("lc@example.org", "validated")
        ]
    );
    assert_eq!(order_status().await, "issued");
    let response = api
        .get(&format!("/certificate/download/order/{id}/format/pem_all"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(pem_certs(response.text().await.unwrap()).len(), 3);

    // Client authentication is not S/MIME: no mailbox validation, issued at once.
    let (_, created) = api
        .order("client_authentication_plus", &seed_body(&csr))
        .await;
    let id = created["id"].as_i64().unwrap();
    let (_, info) = api.send(api.get(&format!("/order/certificate/{id}"))).await;
    assert_eq!(info["status"], "issued");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn automatic_email_validation_validates_every_address_at_once() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_, csr) = csr();
    let mut body = seed_body(&csr);
    body["skip_approval"] = json!(false);
    let (_, created) = api.order("client_email_security_plus", &body).await;
    let id = created["id"].as_i64().unwrap();
    let (status, validation) = api
        .send(api.get(&format!("/order/certificate/{id}/email-validation")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(validation["emails"][0]["email"], "locke.cole@example.com");
    assert_eq!(validation["emails"][0]["status"], "validated");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn chain_in_response_puts_the_issued_chain_in_the_201() {
    let sandbox = start(builder().chain_in_response(true)).await;
    let api = Api::new(&sandbox);
    let (key, csr) = csr();
    let (status, created) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert_eq!(status, 201, "{created}");
    let typed: OrderResponse = serde_json::from_value(created.clone()).unwrap();
    let names: Vec<Option<&str>> = typed
        .certificate_chain
        .iter()
        .map(|entry| entry.subject_common_name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            Some("Lock Cole"),
            Some("certcentral Sandbox Test Client CA"),
            Some("certcentral Sandbox Test Root CA")
        ]
    );
    // The same certificates the download gives, one PEM block each.
    let in_response: Vec<Vec<u8>> = typed
        .certificate_chain
        .iter()
        .flat_map(|entry| pem_certs(entry.pem.as_deref().unwrap()))
        .collect();
    let response = api
        .get(&format!(
            "/certificate/download/order/{}/format/pem_all",
            typed.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(in_response, pem_certs(response.text().await.unwrap()));
    let (_, leaf) = X509Certificate::from_der(&in_response[0]).unwrap();
    assert_eq!(
        leaf.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );

    // Not issued at once (needs approval): no chain, the seed's shape.
    let mut body = seed_body(&csr);
    body["skip_approval"] = json!(false);
    let (_, pending) = api.order("client_premium_sha2", &body).await;
    assert!(pending.get("certificate_chain").is_none(), "{pending}");
    sandbox.shutdown().await;

    // Without the option, an order issued at once carries no chain either.
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_, created) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert!(created["certificate_id"].is_i64(), "{created}");
    assert!(created.get("certificate_chain").is_none(), "{created}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn chain_in_response_waits_for_manual_email_validation() {
    let sandbox = start(
        builder()
            .chain_in_response(true)
            .email_validation(EmailValidation::Manual),
    )
    .await;
    let api = Api::new(&sandbox);
    let (_, csr) = csr();
    let (status, created) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert_eq!(status, 201);
    assert!(created.get("certificate_chain").is_none(), "{created}");
    assert!(created["certificate_id"].is_i64(), "{created}");
    sandbox.shutdown().await;
}

/// Order bodies for `product` beyond the seed's: each profile x indicator, with and without
/// `common_name`. Only those the validator accepts are ordered (members the schema does not
/// know yet are `unknown_param` and skipped).
fn smime_bodies(csr: &str) -> Vec<Value> {
    // The legacy body without a name (`class1_smime`: mailbox-validated, no common name).
    let mut nameless = seed_body(csr);
    if let Some(members) = nameless["certificate"].as_object_mut() {
        members.remove("common_name");
        members.remove("organization_units");
    }
    let mut bodies = vec![nameless];
    for profile in [None, Some("strict"), Some("multipurpose")] {
        for (indicator, individual) in [
            (
                "given_name_surname",
                json!({"first_name": "Locke", "last_name": "Cole"}),
            ),
            ("pseudonym", json!({"pseudonym": "Blackjack"})),
            (
                "email_address",
                json!({"first_name": "Locke", "last_name": "Cole"}),
            ),
            ("organization_name", json!({})),
        ] {
            for keep_common_name in [true, false] {
                let mut body = seed_body(csr);
                let certificate = &mut body["certificate"];
                certificate["common_name_indicator"] = json!(indicator);
                certificate["individual"] = individual.clone();
                certificate["usage_designation"] = json!({"primary_usage": "dual_use"});
                if let Some(profile) = profile {
                    certificate["profile_type"] = json!(profile);
                }
                // The Secure Email body takes neither a common name nor OUs.
                if let (false, Some(members)) = (keep_common_name, certificate.as_object_mut()) {
                    members.remove("common_name");
                    members.remove("organization_units");
                }
                // The legacy body (current spellings of the seed's products) takes the
                // indicator and the person, but no usage designation or profile.
                if keep_common_name {
                    let mut legacy = body.clone();
                    if let Some(members) = legacy["certificate"].as_object_mut() {
                        members.remove("usage_designation");
                        members.remove("profile_type");
                    }
                    if !bodies.contains(&legacy) {
                        bodies.push(legacy);
                    }
                }
                bodies.push(body);
            }
        }
    }
    bodies
}

#[tokio::test]
async fn smime_certificates_ordered_over_http_pass_pkilint() {
    let Some(exe) = pkilint::executable() else {
        return;
    };
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_, csr) = csr();
    let mut issued = Vec::new();
    let mut skipped = 0;
    let smime = ProductId::ALL.iter().filter(|product| {
        matches!(
            product.spec().family,
            Family::Smime | Family::DocumentSigning
        )
    });
    for product in smime.clone() {
        let mut bodies = Vec::new();
        for body in std::iter::once(seed_body(&csr)).chain(smime_bodies(&csr)) {
            let report = certcentral_validate::validate_value(
                &body,
                &certcentral_validate::Context::new(*product),
            );
            if report.is_valid() {
                bodies.push(body);
            } else {
                skipped += 1;
            }
        }
        assert!(
            !bodies.is_empty(),
            "no candidate body is valid for {product}"
        );
        for (n, body) in bodies.iter().enumerate() {
            let (status, created) = api.order(product.as_str(), body).await;
            assert_eq!(status, 201, "{product} {body}: {created}");
            let id = created["id"].as_i64().unwrap();
            let response = api
                .get(&format!(
                    "/certificate/download/order/{id}/format/pem_nointermediate"
                ))
                .send()
                .await
                .unwrap();
            let leaf = pem_certs(response.text().await.unwrap()).remove(0);
            issued.push((format!("{product}-{n:02}"), leaf));
        }
    }
    assert!(
        issued.len() >= smime.count(),
        "{} certificates",
        issued.len()
    );
    eprintln!(
        "pkilint: {} certificates ordered over HTTP; {skipped} bodies skipped (not valid for \
         the schema yet)",
        issued.len()
    );
    let failures = pkilint::lint_all(&exe, &issued);
    assert!(
        failures.is_empty(),
        "{} of {} certificates have ERROR/FATAL findings:\n{}",
        failures.len(),
        issued.len(),
        failures.join("\n")
    );
    sandbox.shutdown().await;
}

// ---------------------------------------------------------------- after issuance

/// Orders the seed body (issued at once: `skip_approval`); returns (order id, certificate id).
pub(crate) async fn issued_order(api: &Api) -> (i64, i64) {
    let (_key, csr) = csr();
    let (status, created) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_i64().unwrap(),
        created["certificate_id"].as_i64().unwrap(),
    )
}

async fn info(api: &Api, order_id: i64) -> OrderInfo {
    let (status, body) = api
        .send(api.get(&format!("/order/certificate/{order_id}")))
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// The serial numbers (upper-case hex) a DER CRL lists, after checking its signature with the
/// issuing CA taken from a `pem_all` download.
async fn crl_serials(
    api: &Api,
    sandbox: &certcentral_sandbox::RunningSandbox,
    certificate_id: i64,
) -> Vec<String> {
    let response = crate::common::http()
        .get(format!("http://{}/_sandbox/crl", sandbox.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pkix-crl"
    );
    let der = response.bytes().await.unwrap().to_vec();
    let chain = api
        .text(&format!(
            "/certificate/{certificate_id}/download/format/pem_all"
        ))
        .await;
    let chain = pem_certs(&chain);
    let (_, issuer) = X509Certificate::from_der(&chain[1]).unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
    crl.verify_signature(issuer.public_key())
        .expect("the CRL is signed by the issuing CA");
    assert_eq!(crl.issuer(), issuer.subject());
    // openssl reads it too (the relying party's view).
    let dir = tempfile_dir();
    let path = dir.join("sandbox.crl");
    std::fs::write(&path, &der).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&path)
        .output();
    if let Ok(out) = out {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_uppercase();
        for revoked in crl.iter_revoked_certificates() {
            let hex: String = revoked
                .serial()
                .to_bytes_be()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            assert!(text.contains(&hex), "openssl shows {hex}: {text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    crl.iter_revoked_certificates()
        .map(|r| {
            r.serial()
                .to_bytes_be()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect()
        })
        .collect()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "certcentral-sandbox-crl-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn reissue_goes_reissue_pending_then_issued_with_the_new_key() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (order_id, first_cert) = issued_order(&api).await;
    let first_serial = info(&api, order_id)
        .await
        .certificate
        .unwrap()
        .serial_number
        .unwrap();

    let (new_key, new_csr) = csr();
    let (status, body) = api
        .send(api.post(
            &format!("/order/certificate/{order_id}/reissue"),
            &json!({"certificate": {"csr": new_csr, "common_name": "Lock Cole"}}),
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], order_id);
    assert_eq!(body["requests"][0]["status"], "pending");
    let request_id = body["requests"][0]["id"].as_i64().unwrap();
    assert_eq!(
        info(&api, order_id).await.status,
        Some(OrderStatus::ReissuePending)
    );

    // A certificate with a pending reissue cannot be revoked; a second reissue is refused.
    let (status, body) = api
        .revoke_at_once(&format!("/certificate/{first_cert}"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pending reissue")
    );

    let (status, _) = api.decide(request_id, "approved").await;
    assert_eq!(status, 204);
    let after = info(&api, order_id).await;
    assert_eq!(after.status, Some(OrderStatus::Issued));
    let cert = after.certificate.unwrap();
    let second_cert = cert.id.unwrap();
    assert_ne!(second_cert, first_cert);
    assert_ne!(cert.serial_number.unwrap(), first_serial);
    assert_eq!(after.requests.len(), 2);
    assert_eq!(after.requests[1].type_.as_deref(), Some("reissue"));
    assert_eq!(after.requests[1].status, Some(RequestStatus::Approved));

    // The new certificate carries the new key.
    let pem = api
        .text(&format!(
            "/certificate/download/order/{order_id}/format/pem_noroot"
        ))
        .await;
    let leaf = &pem_certs(&pem)[0];
    let (_, parsed) = X509Certificate::from_der(leaf).unwrap();
    assert_eq!(
        parsed.public_key().subject_public_key.data.as_ref(),
        new_key.public_key_raw()
    );

    let (status, list) = api
        .send(api.get(&format!("/order/certificate/{order_id}/reissue")))
        .await;
    assert_eq!(status, 200);
    let list: certcentral_types::ReissueList = serde_json::from_value(list).unwrap();
    let ids: Vec<i64> = list.certificates.iter().map(|c| c.id).collect();
    assert_eq!(ids, [first_cert, second_cert]);

    // A reissue can be canceled: the order is issued again and the request rejected.
    let (_k, csr3) = csr();
    let (status, body) = api
        .send(api.post(
            &format!("/order/certificate/{order_id}/reissue"),
            &json!({"certificate": {"csr": csr3}}),
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = api
        .send(api.put(
            &format!("/order/certificate/{order_id}/status"),
            &json!({"status": "canceled", "note": "wrong key"}),
        ))
        .await;
    assert_eq!(status, 204);
    let after = info(&api, order_id).await;
    assert_eq!(after.status, Some(OrderStatus::Issued));
    assert_eq!(after.certificate.unwrap().id, Some(second_cert));
    assert_eq!(after.requests[2].status, Some(RequestStatus::Rejected));

    // Only issued orders are reissued; a bad CSR is refused.
    let (status, body) = api
        .send(api.post(
            &format!("/order/certificate/{order_id}/reissue"),
            &json!({"certificate": {"csr": "nope"}}),
        ))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (400, vec!["csr_invalid_cannot_parse".to_string()])
    );
    let (status, body) = api
        .send(api.post(
            "/order/certificate/999999/reissue",
            &json!({"certificate": {"csr": "x"}}),
        ))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (404, vec!["not_found|order".to_string()])
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn revoke_with_skip_approval_is_immediate_and_the_crl_lists_the_serial() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (order_id, cert_id) = issued_order(&api).await;
    let (keep_order, keep_cert) = issued_order(&api).await;
    let serial = info(&api, order_id)
        .await
        .certificate
        .unwrap()
        .serial_number
        .unwrap();
    assert!(crl_serials(&api, &sandbox, keep_cert).await.is_empty());

    let (status, body) = api
        .send(api.put(
            &format!("/order/certificate/{order_id}/revoke"),
            &json!({"comments": "left the company", "skip_approval": true}),
        ))
        .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(
        info(&api, order_id).await.status,
        Some(OrderStatus::Revoked)
    );
    assert_eq!(
        info(&api, keep_order).await.status,
        Some(OrderStatus::Issued)
    );
    assert_eq!(crl_serials(&api, &sandbox, keep_cert).await, [serial]);

    // Twice is refused; so is a reissue of a revoked order.
    let (status, body) = api.revoke_at_once(&format!("/certificate/{cert_id}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already revoked")
    );
    let (_k, csr2) = csr();
    let (status, _) = api
        .send(api.post(
            &format!("/order/certificate/{order_id}/reissue"),
            &json!({"certificate": {"csr": csr2}}),
        ))
        .await;
    assert_eq!(status, 400);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn revoke_without_skip_approval_is_a_pending_request_until_approved() {
    // A user's key: skip_approval is ignored.
    let sandbox = start(builder().key_role(certcentral_sandbox::KeyRole::User)).await;
    let api = Api::new(&sandbox);
    let (order_id, cert_id) = issued_order(&api).await;
    let serial = info(&api, order_id)
        .await
        .certificate
        .unwrap()
        .serial_number
        .unwrap();
    let (status, body) = api
        .send(api.put(
            &format!("/certificate/{cert_id}/revoke"),
            &json!({"comments": "laptop stolen", "skip_approval": true}),
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    let request: certcentral_types::RevokeRequestInfo =
        serde_json::from_value(body.clone()).unwrap();
    assert_eq!(request.type_.as_deref(), Some("revoke"));
    assert_eq!(request.status, Some(RequestStatus::Pending));
    assert_eq!(request.comments.as_deref(), Some("laptop stolen"));
    assert!(request.requester.is_some() && request.date.is_some());
    assert!(crl_serials(&api, &sandbox, cert_id).await.is_empty());
    // A second request for the same certificate is refused while one is pending.
    let (status, _) = api
        .send(api.put(&format!("/certificate/{cert_id}/revoke"), &json!({})))
        .await;
    assert_eq!(status, 400);

    let (status, _) = api
        .send(api.put(
            &format!("/request/{}/status", request.id),
            &json!({"status": "approved", "processor_comment": "ok"}),
        ))
        .await;
    assert_eq!(status, 204);
    assert_eq!(crl_serials(&api, &sandbox, cert_id).await, [serial]);
    // A certificate-level revoke leaves the order's status alone.
    let after = info(&api, order_id).await;
    assert_eq!(after.status, Some(OrderStatus::Issued));
    assert_eq!(after.requests[1].status, Some(RequestStatus::Approved));
    let (status, list) = api
        .send(api.get(&format!("/order/certificate/{order_id}/reissue")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["certificates"][0]["status"], "revoked");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn renewals_link_orders_and_expiry_follows_the_moved_clock() {
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (old_id, _) = issued_order(&api).await;
    let (other_id, _) = issued_order(&api).await;
    let (_k, csr) = csr();
    let mut body = seed_body(&csr);
    body["renewal_of_order_id"] = json!(old_id);
    let (status, created) = api.order("client_premium_sha2", &body).await;
    assert_eq!(status, 201, "{created}");
    let new_id = created["id"].as_i64().unwrap();
    let new_info = info(&api, new_id).await;
    assert_eq!(new_info.renewal_of_order_id, Some(old_id));
    assert_eq!(info(&api, old_id).await.is_renewed, Some(true));
    assert_eq!(new_info.is_renewed, Some(false));
    body["renewal_of_order_id"] = json!(999_999);
    let (status, err) = api.order("client_premium_sha2", &body).await;
    assert_eq!(
        (status, codes(&err)),
        (400, vec!["invalid_value:renewal_of_order_id".to_string()])
    );

    let list = |query: &'static str| {
        let api = &api;
        async move {
            let (status, body) = api
                .send(api.get(&format!("/order/certificate?{query}")))
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            let list: OrderList = serde_json::from_value(body).unwrap();
            list.orders.iter().map(|o| o.id).collect::<Vec<i64>>()
        }
    };
    assert_eq!(list("filters[is_renewed]=true").await, [old_id]);
    assert_eq!(
        list("filters[is_renewed]=false&sort=-id").await,
        [new_id, other_id]
    );
    // Nothing expires within 30 days today.
    let soon = (sandbox.now() + chrono::Duration::days(30)).date_naive();
    assert!(
        list(Box::leak(
            format!("filters[valid_till]=<={soon}").into_boxed_str()
        ))
        .await
        .is_empty()
    );
    let days = info(&api, other_id)
        .await
        .certificate
        .unwrap()
        .days_remaining
        .unwrap();
    assert!((364..=366).contains(&days), "{days}");

    // Eleven months later the three orders expire within 30 days.
    sandbox.set_now(sandbox.now() + chrono::Duration::days(340));
    let soon = (sandbox.now() + chrono::Duration::days(30)).date_naive();
    let query: &'static str = Box::leak(
        format!("filters[valid_till]=<={soon}&filters[is_renewed]=false&sort=valid_till")
            .into_boxed_str(),
    );
    assert_eq!(list(query).await, [other_id, new_id]);
    let left = info(&api, other_id)
        .await
        .certificate
        .unwrap()
        .days_remaining
        .unwrap();
    assert_eq!(left, days - 340);
    let (status, report) = api.send(api.get("/report/order/expiring")).await;
    assert_eq!(status, 200);
    let report: certcentral_types::ExpiringReport = serde_json::from_value(report).unwrap();
    let counts: Vec<(Option<i64>, Option<i64>)> = report
        .expiring_orders
        .iter()
        .map(|c| (c.days_expiring, c.order_count))
        .collect();
    assert_eq!(
        counts,
        [
            (Some(90), Some(3)),
            (Some(60), Some(3)),
            (Some(30), Some(3)),
            (Some(-7), Some(0))
        ]
    );
    // The clock is visible and settable over HTTP.
    let clock = crate::common::http()
        .post(format!("http://{}/_sandbox/clock", sandbox.addr()))
        .json(&json!({"advance_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(clock.status(), 200);
    let clock: Value = clock.json().await.unwrap();
    assert!(clock["offset_seconds"].as_i64().unwrap() >= 370 * 86_400 - 5);
    let (_, report) = api.send(api.get("/report/order/expiring")).await;
    assert_eq!(report["expiring_orders"][3]["order_count"], 3, "{report}");
    let bad = crate::common::http()
        .post(format!("http://{}/_sandbox/clock", sandbox.addr()))
        .json(&json!({"now": "tomorrow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let (status, body) = api.send(api.get("/order/certificate?sort=color")).await;
    assert_eq!(
        (status, codes(&body)),
        (400, vec!["invalid_value:sort".to_string()])
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_state_file_keeps_orders_certificates_ca_and_clock_across_restarts() {
    let dir = tempfile_dir();
    let state = dir.join("sandbox.sqlite");
    let first = start(builder().state_file(&state)).await;
    let api = Api::new(&first);
    let (order_id, cert_id) = issued_order(&api).await;
    let (revoked_order, revoked_cert) = issued_order(&api).await;
    let (status, _) = api
        .revoke_at_once(&format!("/order/certificate/{revoked_order}"))
        .await;
    assert_eq!(status, 204);
    let (_k, new_csr) = csr();
    let (status, reissue) = api
        .send(api.post(
            &format!("/order/certificate/{order_id}/reissue"),
            &json!({"certificate": {"csr": new_csr}}),
        ))
        .await;
    assert_eq!(status, 201, "{reissue}");
    let later = first.now() + chrono::Duration::days(100);
    first.set_now(later);
    let before = info(&api, order_id).await;
    let root = first.root_ca_pem();
    // A second sandbox on the same file is refused while the first runs.
    let err = builder()
        .state_file(&state)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another sandbox"), "{err}");
    drop(api);
    first.shutdown().await;

    let second = start(builder().state_file(&state)).await;
    let api = Api::new(&second);
    assert_eq!(second.root_ca_pem(), root, "the same CA");
    assert!(
        (second.now() - later).num_seconds().abs() < 5,
        "the same clock"
    );
    let after = info(&api, order_id).await;
    assert_eq!(after.status, Some(OrderStatus::ReissuePending));
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    // The pending reissue (its CSR key rebuilt) can still be approved and issued.
    let request_id = reissue["requests"][0]["id"].as_i64().unwrap();
    let (status, _) = api.decide(request_id, "approved").await;
    assert_eq!(status, 204);
    let reissued = info(&api, order_id).await;
    assert_eq!(reissued.status, Some(OrderStatus::Issued));
    assert_ne!(reissued.certificate.unwrap().id, Some(cert_id));
    // The revoked serial is still in the CRL, which verifies with the stored CA.
    let serial = info(&api, revoked_order)
        .await
        .certificate
        .unwrap()
        .serial_number
        .unwrap();
    assert_eq!(crl_serials(&api, &second, revoked_cert).await, [serial]);
    // New ids continue after the stored ones.
    let (next_order, _) = issued_order(&api).await;
    assert!(next_order > revoked_order);
    assert_eq!(second.order_count(), 3);
    drop(api);
    second.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
