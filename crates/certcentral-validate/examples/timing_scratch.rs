use certcentral_types::ProductId;
use certcentral_validate::*;
use serde_json::json;
use std::time::Instant;
fn main() {
    let ctx = Context::new(ProductId::ClientPremiumSha2);
    let five = json!({"certificate": {"common_name": "Lock Cole", "emails": ["locke.cole@example", "x@example.com"], "signature_hash": "sha1", "organization_units": ["Accounting"]},
      "skip_approval": true, "skip_aproval": true, "organization": {"id": 0}, "container": {"id": 445566}, "validity_years": 3, "payment_method": "balance"});
    let bytes = serde_json::to_vec(&five).unwrap();
    let n = 100_000;
    let t = Instant::now(); for _ in 0..n { std::hint::black_box(validate_json(&bytes, &ctx)); } println!("validate_json {:?}", t.elapsed() / n);
    let t = Instant::now(); for _ in 0..n { std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()); } println!("parse {:?}", t.elapsed() / n);
    let t = Instant::now(); for _ in 0..n { std::hint::black_box(validate_value(&five, &ctx)); } println!("validate_value {:?}", t.elapsed() / n);
    let t = Instant::now(); for _ in 0..n { std::hint::black_box(schema_violations(&five)); } println!("schema_violations {:?}", t.elapsed() / n);
}
