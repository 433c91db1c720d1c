//! Every kind of body the sandbox answers, checked against `schema/order-response.schema.json`
//! and `schema/error.schema.json` with the JSON Schema engine.
//!
//! The response schemas are lenient (servers add members), so each body is checked against a
//! strict copy too (`additionalProperties: false` on every object): the sandbox must not send a
//! member the schema does not document. The one exception is the sandbox's own `sandbox_note`
//! on an order.

use crate::common::{Api, builder, csr, seed_body, start};
use certcentral_sandbox::{Approval, FaultKind, RateLimit};
use certcentral_types::{ProductId, schema};
use serde_json::{Value, json};

/// The schema of `$defs.NAME` of `root` (or the root itself), lenient and strict.
struct Shape {
    lenient: jsonschema::Validator,
    strict: jsonschema::Validator,
}

fn tighten(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(tighten);
        }
        Value::Array(items) => items.iter_mut().for_each(tighten),
        _ => {}
    }
}

fn shape(root_text: &str, def: Option<&str>) -> Shape {
    let root: Value = serde_json::from_str(root_text).unwrap();
    let mut schema = root.clone();
    if let Some(def) = def {
        let map = schema.as_object_mut().unwrap();
        map.retain(|k, _| k == "$schema" || k == "$defs");
        map.insert("$ref".into(), json!(format!("#/$defs/{def}")));
    }
    let lenient = jsonschema::validator_for(&schema).unwrap();
    tighten(&mut schema);
    // The sandbox's own note on an order.
    if let Some(info) = schema.pointer_mut("/$defs/OrderInfo/properties") {
        info.as_object_mut()
            .unwrap()
            .insert("sandbox_note".into(), json!({"type": "string"}));
    }
    let strict = jsonschema::validator_for(&schema).unwrap();
    Shape { lenient, strict }
}

struct Shapes {
    created: Shape,
    info: Shape,
    list: Shape,
    changes: Shape,
    product: Shape,
    email: Shape,
    reissued: Shape,
    reissues: Shape,
    revoke_request: Shape,
    expiring: Shape,
    error: Shape,
}

impl Shapes {
    fn new() -> Self {
        let response = schema::ORDER_RESPONSE;
        Self {
            created: shape(response, None),
            info: shape(response, Some("OrderInfo")),
            list: shape(response, Some("OrderList")),
            changes: shape(response, Some("StatusChanges")),
            product: shape(response, Some("ProductInfo")),
            email: shape(response, Some("EmailValidation")),
            reissued: shape(response, Some("ReissueResponse")),
            reissues: shape(response, Some("ReissueList")),
            revoke_request: shape(response, Some("RevokeRequestInfo")),
            expiring: shape(response, Some("ExpiringReport")),
            error: shape(schema::ERROR, None),
        }
    }
}

#[track_caller]
fn conforms(shape: &Shape, what: &str, body: &Value) {
    let errors: Vec<String> = shape
        .lenient
        .iter_errors(body)
        .chain(shape.strict.iter_errors(body))
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{body:#}");
}

/// An error body: valid, with at least one entry.
#[track_caller]
fn is_error(shapes: &Shapes, what: &str, status: u16, expected: u16, body: &Value) {
    assert_eq!(status, expected, "{what}: {body}");
    conforms(&shapes.error, what, body);
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
}

/// The checker refuses what it should: a test that cannot fail is no test.
#[test]
fn the_checks_catch_wrong_bodies() {
    let shapes = Shapes::new();
    let bad = [
        (&shapes.created, json!({"requests": []})),
        (&shapes.created, json!({"id": 1, "undocumented": true})),
        (&shapes.info, json!({"id": 1, "status": 7})),
        (&shapes.list, json!({"orders": [{"status": "issued"}]})),
        (&shapes.changes, json!({"orders": [{"order_id": "1"}]})),
        (
            &shapes.product,
            json!({"name_id": "x", "allowed_validity_years": ["1"]}),
        ),
        (&shapes.email, json!({"emails": [{"email": 1}]})),
        (&shapes.reissued, json!({"requests": [{"id": 1}]})),
        (
            &shapes.reissues,
            json!({"certificates": [{"serial_number": "01"}]}),
        ),
        (
            &shapes.revoke_request,
            json!({"id": 1, "requester": {"id": "x"}}),
        ),
        (
            &shapes.expiring,
            json!({"expiring_orders": [{"days_expiring": "30"}]}),
        ),
        (&shapes.error, json!({"errors": [{"code": "x"}]})),
        (&shapes.error, json!({"message": "x"})),
    ];
    for (shape, body) in bad {
        let invalid = !shape.lenient.is_valid(&body) || !shape.strict.is_valid(&body);
        assert!(invalid, "accepted {body}");
    }
}

#[tokio::test]
async fn every_success_body_matches_the_response_schema() {
    let shapes = Shapes::new();
    let sandbox = start(builder().approval(Approval::Manual)).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();

    // Created: approved and issued at once (certificate_id), and pending (no id yet).
    let (status, issued) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert_eq!(status, 201, "{issued}");
    conforms(&shapes.created, "created (skip_approval)", &issued);
    let mut pending_body = seed_body(&csr);
    pending_body["skip_approval"] = json!(false);
    let (status, pending) = api.order("client_authentication_plus", &pending_body).await;
    assert_eq!(status, 201, "{pending}");
    conforms(&shapes.created, "created (pending)", &pending);
    // Without a CSR: the order carries a sandbox note.
    let mut no_csr = seed_body(&csr);
    no_csr["certificate"].as_object_mut().unwrap().remove("csr");
    let (status, noted) = api.order("client_email_security_plus", &no_csr).await;
    assert_eq!(status, 201, "{noted}");

    // Order info in each state.
    for (what, created) in [
        ("issued", &issued),
        ("pending", &pending),
        ("no csr", &noted),
    ] {
        let id = created["id"].as_i64().unwrap();
        let (status, info) = api.send(api.get(&format!("/order/certificate/{id}"))).await;
        assert_eq!(status, 200, "{info}");
        conforms(&shapes.info, &format!("order info ({what})"), &info);
        let (status, emails) = api
            .send(api.get(&format!("/order/certificate/{id}/email-validation")))
            .await;
        assert_eq!(status, 200, "{emails}");
        conforms(&shapes.email, "email validation", &emails);
    }
    let (_, issued_info) = api
        .send(api.get(&format!("/order/certificate/{}", issued["id"])))
        .await;
    assert!(issued_info["certificate"]["serial_number"].is_string());

    // A rejected request carries the approver's comment.
    let request_id = pending["requests"][0]["id"].as_i64().unwrap();
    let (status, _) = api
        .send(api.put(
            &format!("/request/{request_id}/status"),
            &json!({"status": "rejected", "processor_comment": "not this one"}),
        ))
        .await;
    assert_eq!(status, 204);
    let (_, rejected) = api
        .send(api.get(&format!("/order/certificate/{}", pending["id"])))
        .await;
    conforms(&shapes.info, "order info (rejected)", &rejected);
    assert_eq!(rejected["requests"][0]["processor_comment"], "not this one");

    // Lists: a page, and an empty one.
    let (status, list) = api.send(api.get("/order/certificate")).await;
    assert_eq!(status, 200, "{list}");
    conforms(&shapes.list, "order list", &list);
    assert_eq!(list["orders"].as_array().map(Vec::len), Some(3));
    let (status, empty) = api
        .send(api.get("/order/certificate?filters[common_name]=nobody"))
        .await;
    assert_eq!(status, 200, "{empty}");
    conforms(&shapes.list, "empty order list", &empty);

    // Status changes.
    let (status, changes) = api
        .send(api.get("/order/certificate/status-changes?minutes=60"))
        .await;
    assert_eq!(status, 200, "{changes}");
    conforms(&shapes.changes, "status changes", &changes);
    assert!(!changes["orders"].as_array().unwrap().is_empty());

    // After issuance: a reissue (pending, then the certificate list), a revoke request, the
    // expiring report, and an order list with the expiry filters.
    let issued_id = issued["id"].as_i64().unwrap();
    let (_key2, csr2) = crate::common::csr();
    let (status, reissued) = api
        .send(api.post(
            &format!("/order/certificate/{issued_id}/reissue"),
            &json!({"certificate": {"csr": csr2}}),
        ))
        .await;
    assert_eq!(status, 201, "{reissued}");
    conforms(&shapes.reissued, "reissue", &reissued);
    let (_, pending_reissue) = api
        .send(api.get(&format!("/order/certificate/{issued_id}")))
        .await;
    conforms(
        &shapes.info,
        "order info (reissue_pending)",
        &pending_reissue,
    );
    let reissue_request = reissued["requests"][0]["id"].as_i64().unwrap();
    let (status, _) = api.decide(reissue_request, "approved").await;
    assert_eq!(status, 204);
    let (status, reissues) = api
        .send(api.get(&format!("/order/certificate/{issued_id}/reissue")))
        .await;
    assert_eq!(status, 200, "{reissues}");
    conforms(&shapes.reissues, "reissue list", &reissues);
    let (status, revoke) = api
        .send(api.put(
            &format!("/order/certificate/{issued_id}/revoke"),
            &json!({"comments": "left"}),
        ))
        .await;
    assert_eq!(status, 201, "{revoke}");
    conforms(&shapes.revoke_request, "revoke request", &revoke);
    let (status, report) = api.send(api.get("/report/order/expiring")).await;
    assert_eq!(status, 200, "{report}");
    conforms(&shapes.expiring, "expiring report", &report);
    let (status, filtered) = api
        .send(api.get(
            "/order/certificate?filters[valid_till]=>=2000-01-01&filters[is_renewed]=false&sort=-valid_till",
        ))
        .await;
    assert_eq!(status, 200, "{filtered}");
    conforms(&shapes.list, "order list (expiry filters)", &filtered);
    assert_eq!(filtered["orders"].as_array().map(Vec::len), Some(1));

    // Every product of the catalog.
    for product in ProductId::ALL {
        let (status, info) = api.send(api.get(&format!("/product/{product}"))).await;
        assert_eq!(status, 200, "{info}");
        conforms(&shapes.product, "product", &info);
        assert_eq!(info["name"], product.spec().name);
        assert_eq!(
            info["allowed_validity_years"],
            json!(product.spec().profile.validity_years)
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_error_body_matches_the_error_schema() {
    let shapes = Shapes::new();
    let sandbox = start(builder()).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();

    let mut invalid = seed_body(&csr);
    invalid["validity_years"] = json!(3);
    let (status, body) = api.order("client_premium_sha2", &invalid).await;
    is_error(&shapes, "invalid order", status, 400, &body);
    let (status, body) = api.order("ssl_plus", &seed_body(&csr)).await;
    is_error(&shapes, "unknown product (order)", status, 404, &body);
    let (status, body) = api.send(api.get("/product/ssl_plus")).await;
    is_error(&shapes, "unknown product", status, 404, &body);
    let (status, body) = api.send(api.get("/order/certificate/999999")).await;
    is_error(&shapes, "unknown order", status, 404, &body);
    let (status, body) = api.send(api.get("/order/certificate/abc")).await;
    is_error(&shapes, "bad id", status, 404, &body);
    let (status, body) = api.send(api.get("/nowhere")).await;
    is_error(&shapes, "unknown route", status, 404, &body);
    let (status, body) = api
        .send(api.get("/order/certificate/status-changes?minutes=99999"))
        .await;
    is_error(&shapes, "time frame too long", status, 400, &body);
    let (status, body) = api
        .send(api.get("/order/certificate?filters[date_created]=yesterday"))
        .await;
    is_error(&shapes, "bad filter", status, 400, &body);
    let (status, body) = api.decide(200001, "maybe").await;
    is_error(&shapes, "bad decision", status, 400, &body);

    let mut pending = seed_body(&csr);
    pending["skip_approval"] = json!(false);
    let (_, created) = api.order("client_premium_sha2", &pending).await;
    let id = created["id"].as_i64().unwrap();
    let (status, body) = api
        .send(api.get(&format!("/certificate/download/order/{id}/format/pem_all")))
        .await;
    is_error(&shapes, "not issued yet", status, 400, &body);
    let (status, body) = api
        .send(api.get(&format!("/certificate/download/order/{id}/format/zip")))
        .await;
    is_error(&shapes, "bad format", status, 400, &body);
    let request_id = created["requests"][0]["id"].as_i64().unwrap();
    for _ in 0..2 {
        let (status, body) = api.decide(request_id, "rejected").await;
        if status != 204 {
            is_error(&shapes, "decided twice", status, 400, &body);
        }
    }
    let (status, body) = api
        .send(api.put(
            &format!("/order/certificate/{id}/status"),
            &json!({"status": "canceled"}),
        ))
        .await;
    is_error(&shapes, "cancel a rejected order", status, 400, &body);

    let (status, body) = api
        .send(
            api.client
                .get(format!("{}/product/client_premium_sha2", api.base))
                .header("X-DC-DEVKEY", "wrong"),
        )
        .await;
    is_error(&shapes, "bad key", status, 403, &body);
    sandbox.shutdown().await;

    // Injected faults and the rate limit.
    for (kind, expected) in [(FaultKind::Error5xx, 500), (FaultKind::RateLimit, 429)] {
        let sandbox = start(builder().fault(kind, 1.0)).await;
        let api = Api::new(&sandbox);
        let (status, body) = api.send(api.get("/product/client_premium_sha2")).await;
        is_error(&shapes, &format!("{kind:?}"), status, expected, &body);
        sandbox.shutdown().await;
    }
    let sandbox = start(builder().rate_limit(RateLimit::Scaled(0.01))).await;
    let api = Api::new(&sandbox);
    let mut limited = None;
    for _ in 0..=100 {
        let (status, body) = api.send(api.get("/product/client_premium_sha2")).await;
        if status == 429 {
            limited = Some(body);
            break;
        }
    }
    let body = limited.expect("the 101st request is limited");
    is_error(&shapes, "rate limited", 429, 429, &body);
    sandbox.shutdown().await;
}
