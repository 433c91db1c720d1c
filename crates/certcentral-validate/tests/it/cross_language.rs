//! Each product's exported request schema (what `certcentral schema request --product ID`
//! prints: `certcentral_validate::product_schema`) run through an independent validator in
//! another language — Python's `jsonschema` with its format checker — over the catalogue of
//! example orders and the per-product cases: it must agree with us on every case except
//! those only a custom keyword (or the body reader) catches, listed in [`CUSTOM_ONLY`] and in
//! `schema/README.md`. Cases validated with unknown members allowed (`--allow-unknown`) are
//! not about the schema and are left out.
//!
//! The interpreter comes from `CERTCENTRAL_PYTHON` (set by `.ci/run`, which creates a virtual
//! environment with `jsonschema`). Under `CI=true` a missing interpreter fails the test;
//! locally the test is skipped with a message.

#![cfg(feature = "csr")]

use std::collections::BTreeMap;
use std::process::Command;

use base64::Engine;
use certcentral_types::ProductId;
use certcentral_validate::{Context, validate_json};

/// Catalogue cases only a custom keyword (or the body reader) rejects: Python accepts them,
/// we refuse them. Kept equal to the table in `schema/README.md`.
const CUSTOM_ONLY: &[(&str, &str)] = &[
    ("validity_years_written_as_float", "x-plain-integer"),
    ("custom_expiration_date_in_the_past", "x-max-days-ahead"),
    ("custom_expiration_date_825_days_ahead", "x-max-days-ahead"),
    (
        "duplicate_emails_case_insensitive",
        "x-unique-ignoring-case",
    ),
    ("csr_placeholder", "x-csr"),
    ("csr_wrong_pem_label", "x-csr"),
    ("csr_bad_signature", "x-csr"),
    ("csr_rsa_1024", "x-csr"),
    ("csr_ecdsa_p521", "x-csr"),
    ("csr_ed25519", "x-csr"),
    (
        "duplicate_json_member",
        "the body reader (a JSON parser keeps the last value)",
    ),
    (
        "sponsor_custom_expiration_date_825_days_ahead",
        "x-max-days-ahead",
    ),
];

const SCRIPT: &str = r#"
import base64, json, sys
from jsonschema import Draft202012Validator

schemas = json.load(open(sys.argv[1], encoding="utf-8"))
validators = {}
for product, schema in schemas.items():
    Draft202012Validator.check_schema(schema)
    validators[product] = Draft202012Validator(
        schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
verdicts = {}
for case in json.load(open(sys.argv[2], encoding="utf-8")):
    validator = validators[case["product"]]
    body = base64.b64decode(case["body"])
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except ValueError:
        verdicts[case["name"]] = False
        continue
    verdicts[case["name"]] = validator.is_valid(doc)
json.dump(verdicts, sys.stdout)
"#;

fn python() -> Option<String> {
    match std::env::var("CERTCENTRAL_PYTHON") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but CERTCENTRAL_PYTHON is not set: .ci/run must create the Python venv \
                 with `jsonschema` and export CERTCENTRAL_PYTHON"
            );
            None
        }
    }
}

#[test]
fn python_jsonschema_agrees_except_on_custom_keywords() {
    let Some(python) = python() else {
        println!(
            "skipped: set CERTCENTRAL_PYTHON to a Python with `jsonschema` installed (.ci/run does)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schemas: BTreeMap<&str, serde_json::Value> = ProductId::ALL
        .iter()
        .map(|p| (p.as_str(), certcentral_validate::product_schema(*p)))
        .collect();
    let schema_path = dir.path().join("schemas.json");
    std::fs::write(&schema_path, serde_json::to_vec(&schemas).unwrap()).unwrap();
    let script_path = dir.path().join("verdicts.py");
    std::fs::write(&script_path, SCRIPT).unwrap();

    let seed_product = crate::kit::ctx().product;
    let orders: Vec<(&str, ProductId, Vec<u8>)> = crate::kit::orders()
        .into_iter()
        .map(|(name, body, _)| (name, seed_product, body))
        .chain(
            crate::kit::product_orders()
                .into_iter()
                .filter(|(_, _, allow_unknown, _, _)| !allow_unknown)
                .map(|(name, product, _, body, _)| (name, product, body)),
        )
        .collect();
    let cases: Vec<serde_json::Value> = orders
        .iter()
        .map(|(name, product, body)| {
            serde_json::json!({
                "name": name,
                "product": product.as_str(),
                "body": base64::engine::general_purpose::STANDARD.encode(body),
            })
        })
        .collect();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();

    let output = Command::new(&python)
        .arg(&script_path)
        .arg(&schema_path)
        .arg(&cases_path)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {python}: {err}"));
    assert!(
        output.status.success(),
        "{python} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: BTreeMap<String, bool> = serde_json::from_slice(&output.stdout).unwrap();

    let mut disagreements = Vec::new();
    let mut agreed = 0;
    for (name, product, body) in &orders {
        let ctx = Context::new(*product).with_today(crate::kit::today());
        let ours = validate_json(body, &ctx).is_valid();
        let python_valid = theirs[*name];
        let custom_only = CUSTOM_ONLY.iter().any(|(n, _)| n == name);
        if custom_only {
            // Listed: Python must accept it and we must refuse it, so the list stays exact.
            if !python_valid || ours {
                disagreements.push(format!(
                    "{name}: listed as custom-keyword only, but python valid={python_valid}, ours valid={ours}"
                ));
            }
        } else if python_valid != ours {
            disagreements.push(format!(
                "{name}: python valid={python_valid}, ours valid={ours}"
            ));
        } else {
            agreed += 1;
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    println!(
        "python jsonschema agrees on {agreed} of {} cases; {} are custom-keyword only",
        orders.len(),
        CUSTOM_ONLY.len()
    );
}

/// The list above is the one `schema/README.md` publishes.
#[test]
fn the_custom_keyword_list_is_documented() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/README.md"
    ))
    .unwrap();
    let section = readme
        .split("## Agreement with an independent validator")
        .nth(1)
        .expect("schema/README.md has the agreement section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let documented: Vec<(String, String)> = section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let [name, by] = cells.as_slice() else {
                return None;
            };
            let name = name.trim().strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), by.trim().trim_matches('`').to_owned()))
        })
        .collect();
    let listed: Vec<(String, String)> = CUSTOM_ONLY
        .iter()
        .map(|(n, b)| ((*n).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(documented, listed);
}
