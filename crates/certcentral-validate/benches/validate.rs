//! `validate_json` (which runs the `jsonschema` engine on the embedded schema, with the
//! schema's custom keywords and the error mapping) against the bare engine compiled from the
//! same schema file without custom keywords (bytes → `serde_json::Value` → validate), in the
//! same run. The target: at most 1.25× the bare engine on the valid seed order and on the
//! 5-violation order. Results go to BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use certcentral_types::ProductId;
use certcentral_validate::{Context, validate_json};
use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn seed(csr: Option<String>) -> Value {
    let mut doc = json!({
        "certificate": {
            "common_name": "Lock Cole",
            "emails": ["locke.cole@example.com"],
            "signature_hash": "sha256",
            "organization_units": ["Accounting"]
        },
        "skip_approval": true,
        "organization": {"id": 112233},
        "container": {"id": 445566},
        "validity_years": 1,
        "payment_method": "balance"
    });
    if let Some(csr) = csr {
        doc["certificate"]["csr"] = json!(csr);
    }
    doc
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut five = seed(None);
    five["certificate"]["emails"] = json!(["locke.cole@example", "x@example.com"]);
    five["certificate"]["signature_hash"] = json!("sha1");
    five["organization"]["id"] = json!(0);
    five["validity_years"] = json!(3);
    five["skip_aproval"] = json!(true);

    let mut hundred = seed(None);
    hundred["certificate"]["emails"] = (0..100)
        .map(|i| json!(format!("user.{i}@mail{}.example.com", i % 7)))
        .collect();

    vec![
        (
            "valid_without_csr",
            serde_json::to_vec(&seed(None)).expect("json"),
        ),
        (
            "valid_with_rsa2048_csr",
            serde_json::to_vec(&seed(Some(fixture("rsa2048.csr")))).expect("json"),
        ),
        (
            "valid_with_p256_csr",
            serde_json::to_vec(&seed(Some(fixture("prime256v1.csr")))).expect("json"),
        ),
        ("five_violations", serde_json::to_vec(&five).expect("json")),
        (
            "hundred_emails",
            serde_json::to_vec(&hundred).expect("json"),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let schema: Value =
        serde_json::from_str(certcentral_types::schema::ORDER_REQUEST).expect("schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("validator");
    let ctx = Context::new(ProductId::ClientPremiumSha2)
        .with_today(NaiveDate::from_ymd_opt(2026, 1, 15).expect("date"));

    for (name, bytes) in inputs() {
        // Sanity: both sides agree on the verdict before anything is timed (CSR content is
        // checked by the custom keyword only, and these CSRs are valid).
        let doc: Value = serde_json::from_slice(&bytes).expect("json");
        let ours = validate_json(&bytes, &ctx);
        assert_eq!(ours.is_valid(), validator.is_valid(&doc), "{name}");
        if name == "five_violations" {
            assert_eq!(ours.errors.len(), 5, "{:#?}", ours.errors);
        }

        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("validate_json", |b| {
            b.iter(|| validate_json(black_box(&bytes), &ctx))
        });
        group.bench_function("jsonschema_validate", |b| {
            b.iter(|| {
                let doc: Value = serde_json::from_slice(black_box(&bytes)).expect("json");
                validator.validate(&doc).is_ok()
            })
        });
        if name == "five_violations" {
            group.bench_function("jsonschema_iter_errors", |b| {
                b.iter(|| {
                    let doc: Value = serde_json::from_slice(black_box(&bytes)).expect("json");
                    validator
                        .iter_errors(&doc)
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
