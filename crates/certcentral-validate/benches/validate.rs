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
        // The engine's cheapest pass (a verdict, no error), for reference.
        group.bench_function("jsonschema_is_valid", |b| {
            b.iter(|| {
                let doc: Value = serde_json::from_slice(black_box(&bytes)).expect("json");
                validator.is_valid(&doc)
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
        // `BENCH_INTERLEAVED=0` skips it (e.g. to profile one side under valgrind).
        if std::env::var("BENCH_INTERLEAVED").map_or(true, |v| v != "0") {
            interleaved(name, &bytes, &ctx, &validator);
        }
    }
}

/// Both sides timed in alternating blocks of the same length (a few hundred microseconds
/// each), so a change of machine load hits both alike; prints the median over the blocks of
/// the time ratio ours ÷ bare. The bare side is `validate` (first error) on a valid order
/// and `iter_errors` with every message formatted on an invalid one.
fn interleaved(name: &str, bytes: &[u8], ctx: &Context, validator: &jsonschema::Validator) {
    use std::time::Instant;
    const ROUNDS: usize = 400;
    let valid = validate_json(bytes, ctx).is_valid();
    let bare = || {
        let doc: Value = serde_json::from_slice(black_box(bytes)).expect("json");
        if valid {
            black_box(validator.validate(&doc).is_ok());
        } else {
            black_box(
                validator
                    .iter_errors(&doc)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>(),
            );
        }
    };
    let ours = || {
        black_box(validate_json(black_box(bytes), ctx));
    };
    // Block length: about 200 µs of the bare side.
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(20) {
        bare();
        calls += 1;
    }
    let block = (calls / 100).max(1);
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..block {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut total_ours, mut total_bare) = (0.0, 0.0);
    for round in 0..ROUNDS {
        // Alternate which side goes first.
        let (o, b) = if round % 2 == 0 {
            let o = time(&ours);
            (o, time(&bare))
        } else {
            let b = time(&bare);
            (time(&ours), b)
        };
        total_ours += o;
        total_bare += b;
        ratios.push(o / b);
    }
    ratios.sort_by(f64::total_cmp);
    let per = |total: f64| total / f64::from(block) / ROUNDS as f64 * 1e6;
    println!(
        "{name}/interleaved: ours {:.2} µs, bare {:.2} µs, ratio median {:.3} (quartiles {:.3}–{:.3}), ratio of totals {:.3}",
        per(total_ours),
        per(total_bare),
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4],
        total_ours / total_bare
    );
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
