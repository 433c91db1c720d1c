//! The documentation cannot drift: what README.md (and the CLI crate's README) and `--help`
//! state about products, validity bounds, payment methods, rate limits and exit codes is
//! checked against the catalog (`certcentral_types::catalog`) and the code (`exit`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use certcentral_cli::exit;
use certcentral_types::catalog::{DEFAULT_PRODUCT, PRODUCTS, RATE_LIMITS, Status};
use certcentral_types::{PaymentMethod, ProductId, ValidityYears, WireEnum};

fn read(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const DOCS: [&str; 2] = ["README.md", "crates/certcentral-cli/README.md"];

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_certcentral"))
        .args(args)
        .env_remove("CERTCENTRAL_API_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The text right after each occurrence of `marker`, up to the first of `ends`.
fn after<'a>(text: &'a str, marker: &str, ends: &[char]) -> Vec<&'a str> {
    text.match_indices(marker)
        .map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            &rest[..rest.find(ends).unwrap_or(rest.len())]
        })
        .collect()
}

/// The rows `| a | b | ... |` of the first table after `heading`, cells trimmed.
fn table(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn readme_products_table_is_the_catalog() {
    let readme = read("README.md");
    let rows = table(&readme, "### Products");
    let expected: Vec<Vec<String>> = PRODUCTS
        .iter()
        .map(|p| {
            let default = if p.id == DEFAULT_PRODUCT {
                " (default)"
            } else {
                ""
            };
            let status = match p.status {
                Status::Current => "current".to_string(),
                Status::Deprecated { since, replacement } => {
                    format!("deprecated since {since}, replaced by `{replacement}`")
                }
            };
            vec![
                format!("`{}`{default}", p.id),
                p.name.to_string(),
                p.family.name().to_string(),
                status,
            ]
        })
        .collect();
    assert_eq!(rows, expected, "README.md's products table");
}

#[test]
fn readme_flags_and_bounds_match_the_catalog() {
    let years: Vec<String> = ValidityYears::ALLOWED.iter().map(i64::to_string).collect();
    let windows: BTreeSet<u64> = PRODUCTS
        .iter()
        .map(|p| p.profile.custom_expiration_days_below)
        .collect();
    assert_eq!(
        windows.len(),
        1,
        "README states one window for every product"
    );
    let window = windows.first().copied().unwrap_or_default().to_string();
    for doc in DOCS {
        let text = read(doc);
        let mut checked = 0;
        for default in after(&text, "`--product` (default `", &['`']) {
            assert_eq!(default, DEFAULT_PRODUCT.as_str(), "{doc}: default product");
            checked += 1;
        }
        for listed in after(&text, "`--validity-years ", &['`']) {
            assert_eq!(listed, years.join("|"), "{doc}: --validity-years");
            checked += 1;
        }
        for listed in after(&text, "`--payment-method ", &['`']) {
            assert_eq!(listed, PaymentMethod::allowed().replace(", ", "|"), "{doc}");
            checked += 1;
        }
        for days in after(&text, "less than ", &[' '])
            .into_iter()
            .chain(after(&text, "(the ", &['-']))
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()) && !d.is_empty())
        {
            assert_eq!(days, window, "{doc}: custom expiration window");
            checked += 1;
        }
        for listed in after(&text, "| `validity_years` | no | ", &['(']) {
            let quoted: Vec<String> = years.iter().map(|y| format!("`{y}`")).collect();
            assert_eq!(listed.trim(), quoted.join(" or "), "{doc}: roster column");
            checked += 1;
        }
        assert!(
            checked >= 3,
            "{doc}: found only {checked} statements to check"
        );
    }
    // The rate-limit windows, as the README states them.
    let readme = read("README.md");
    let stated = format!(
        "{} requests per {} s and {} per {} min",
        RATE_LIMITS[0].requests,
        RATE_LIMITS[0].period.as_secs(),
        RATE_LIMITS[1].requests,
        RATE_LIMITS[1].period.as_secs() / 60
    );
    assert_eq!(RATE_LIMITS.len(), 2);
    assert!(
        readme.contains(&stated),
        "README.md should state {stated:?}"
    );
}

fn codes_of(rows: &[Vec<String>]) -> BTreeSet<u8> {
    rows.iter()
        .filter_map(|r| r.first()?.parse().ok())
        .collect()
}

fn help_codes(help: &str) -> BTreeSet<u8> {
    help.split("Exit codes:")
        .nth(1)
        .unwrap_or_else(|| panic!("no exit codes in:\n{help}"))
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn exit_codes_in_readme_and_help_match_the_code() {
    let code: BTreeSet<u8> = exit::CODES.iter().map(|c| c.code).collect();
    for constant in [
        exit::OK,
        exit::FAILED,
        exit::USAGE,
        exit::PENDING,
        exit::UNKNOWN,
        exit::PARTIAL,
        exit::INTERRUPTED,
    ] {
        assert!(code.contains(&constant), "{constant} is not in exit::CODES");
    }
    let readme = read("README.md");
    assert_eq!(
        codes_of(&table(&readme, "### Exit codes")),
        code,
        "README.md"
    );
    let bulk_section = &readme[readme.find("## Ordering for a whole roster").unwrap_or(0)..];
    assert_eq!(
        codes_of(&table(bulk_section, "Exit codes:")),
        code,
        "README.md, bulk"
    );
    let main_help = help(&["--help"]);
    assert!(main_help.contains(&exit::help()), "{main_help}");
    assert_eq!(help_codes(&exit::help()), code);
    let bulk_help = help(&["bulk", "--help"]);
    assert!(bulk_help.contains(&exit::bulk_help()), "{bulk_help}");
    for command in ["order", "status", "validate", "sandbox", "products"] {
        assert_eq!(
            help_codes(&help(&[command, "--help"])),
            code,
            "{command} --help"
        );
    }
}

#[test]
fn help_lists_the_catalog() {
    let window = DEFAULT_PRODUCT
        .spec()
        .profile
        .custom_expiration_days_below
        .to_string();
    for command in [
        &["order", "--help"][..],
        &["bulk", "--help"],
        &["validate", "--help"],
    ] {
        let text = help(command);
        for product in ProductId::ALL {
            assert!(text.contains(product.as_str()), "{command:?}: {product}");
            assert!(text.contains(product.spec().name), "{command:?}: name");
        }
        assert!(
            text.contains(&format!("[default: {DEFAULT_PRODUCT}]")),
            "{command:?}:\n{text}"
        );
    }
    let order = help(&["order", "--help"]);
    assert!(
        order.contains(&format!("less than {window} days away")),
        "{order}"
    );
    for method in PaymentMethod::ALL {
        assert!(order.contains(method.as_str()), "{order}");
    }
    let years: Vec<String> = ValidityYears::ALLOWED.iter().map(i64::to_string).collect();
    assert!(
        order.contains(&format!("[possible values: {}]", years.join(", "))),
        "{order}"
    );
}
