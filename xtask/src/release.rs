//! `cargo xtask release-check`: everything a release needs, in one command.
//!
//! 1. one shared version across the publishable crates;
//! 2. lean reuse: no HTTP, async runtime or TLS crate among the normal dependencies of
//!    `certcentral-types` and `certcentral-validate` (with and without default features);
//! 3. packaging: `cargo package --list` of every publishable crate holds what it needs and
//!    nothing surprising, and no file over the size limit;
//! 4. `cargo publish --dry-run --no-verify` for the workspace;
//! 5. docs: `cargo doc --workspace --no-deps` with `RUSTDOCFLAGS=-D warnings`;
//! 6. the `certcentral-validate` stdin example (as the test build made it) says valid and invalid;
//! 7. every documented feature combination builds (`cargo check`);
//! 8. the CLI without its default features has no embedded sandbox and says how to get one.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Crates that are published, in dependency order.
pub const PUBLISHED: &[&str] = &[
    "certcentral-types",
    "certcentral-validate",
    "certcentral-sandbox",
    "certcentral-client",
    "certcentral-keys",
    "certcentral-bulk",
    "certcentral-cli",
];

/// Crates reused by programs that never make an HTTP call.
pub const LEAN: &[&str] = &[
    "certcentral-types",
    "certcentral-validate",
    "certcentral-keys",
];

/// Dependencies that must never reach a lean crate's normal dependencies.
pub const FORBIDDEN_IN_LEAN: &[&str] = &[
    "reqwest",
    "tokio",
    "hyper",
    "hyper-util",
    "rustls",
    "axum",
    "h2",
    "native-tls",
    "openssl",
];

/// Feature combinations that must build, as `cargo check` arguments.
pub const FEATURE_MATRIX: &[&[&str]] = &[
    &["-p", "certcentral-types", "--no-default-features"],
    &["-p", "certcentral-validate", "--no-default-features"],
    // Default features, without `clap` (which only the CLI enables).
    &["-p", "certcentral-validate"],
    &["-p", "certcentral-validate", "--all-features"],
    &["-p", "certcentral-client", "--no-default-features"],
    &["-p", "certcentral-client", "--all-features"],
    &["-p", "certcentral-sandbox"],
    &["-p", "certcentral-keys", "--no-default-features"],
    &["-p", "certcentral-cli"],
];

/// What the CLI built without its default features (no embedded sandbox) must say to
/// `--sandbox`: checked by [`no_sandbox_build`].
pub const NO_SANDBOX_HINT: &str = "built without the embedded sandbox";

/// Largest file a package may carry.
pub const MAX_PACKAGED_FILE: u64 = 512 * 1024;

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn run(root: &Path, cmd: &mut Command, what: &str) -> Result<String> {
    eprintln!("release-check: {what}");
    let out = cmd
        .current_dir(root)
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs every check; the first failure stops the run.
pub fn release_check(root: &Path) -> Result<()> {
    check_versions(root)?;
    for krate in LEAN {
        for features in [&[][..], &["--no-default-features"][..]] {
            let deps = normal_dependencies(root, krate, features)?;
            let bad = forbidden_dependencies(&deps);
            if !bad.is_empty() {
                bail!("{krate} ({features:?}) pulls in {bad:?} among its normal dependencies");
            }
        }
    }
    for krate in PUBLISHED {
        let files = run(
            root,
            cargo().args(["package", "--list", "--allow-dirty", "-p", krate]),
            &format!("cargo package --list -p {krate}"),
        )?;
        let files: Vec<&str> = files.lines().collect();
        let problems = package_problems(krate, &files);
        if !problems.is_empty() {
            bail!("package {krate}:\n  {}", problems.join("\n  "));
        }
        let dir = root.join("crates").join(krate);
        for file in &files {
            let path = dir.join(file);
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.len() > MAX_PACKAGED_FILE
            {
                bail!(
                    "package {krate}: {file} is {} bytes (limit {MAX_PACKAGED_FILE})",
                    meta.len()
                );
            }
        }
    }
    run(
        root,
        cargo().args([
            "publish",
            "--dry-run",
            "--no-verify",
            "--allow-dirty",
            "--workspace",
        ]),
        "cargo publish --dry-run --workspace",
    )?;
    run(
        root,
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
        "cargo doc --workspace --no-deps (RUSTDOCFLAGS=-D warnings)",
    )?;
    validate_example_smoke(root)?;
    for args in FEATURE_MATRIX {
        run(
            root,
            cargo().arg("check").args(*args),
            &format!("cargo check {}", args.join(" ")),
        )?;
    }
    no_sandbox_build(root)?;
    eprintln!("release-check: all checks passed");
    Ok(())
}

/// Runs `certcentral-validate`'s stdin example on the seed order for the seed's product
/// (valid: exit 0) and on a
/// broken order (invalid: exit 1). The example is built as `cargo test --workspace` builds it
/// (so CI reuses that build instead of compiling the validator's dependencies again with other
/// features); that the crate builds alone, with and without its features, is the feature
/// matrix's job.
pub fn validate_example_smoke(root: &Path) -> Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    run(
        root,
        cargo().args(["build", "--quiet", "--workspace", "--examples"]),
        "cargo build --workspace --examples",
    )?;
    let example = target_dir(root)?.join("debug/examples/validate_stdin");
    let seed = std::fs::read(root.join("crates/certcentral-types/tests/fixtures/seed-order.json"))?;
    for (input, expected) in [(seed, 0), (br#"{"certificate": {}}"#.to_vec(), 1)] {
        eprintln!("release-check: validate_stdin example (expect exit {expected})");
        // The seed's product: the default product (a Secure Email one) takes another body.
        let mut child = Command::new(&example)
            .arg("client_premium_sha2")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", example.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&input)?;
        }
        let out = child.wait_with_output()?;
        if out.status.code() != Some(expected) {
            bail!(
                "validate_stdin example exited {:?}, expected {expected}:\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    Ok(())
}

/// Builds the CLI without default features (no embedded sandbox: no axum, hyper or test CA)
/// and checks that `--sandbox` and `sandbox` are usage errors saying how to get them. The
/// default build is restored afterwards (same target directory).
pub fn no_sandbox_build(root: &Path) -> Result<()> {
    run(
        root,
        cargo().args([
            "build",
            "--quiet",
            "-p",
            "certcentral-cli",
            "--no-default-features",
        ]),
        "cargo build -p certcentral-cli --no-default-features",
    )?;
    let binary = target_dir(root)?.join("debug/certcentral");
    let tree = run(
        root,
        cargo().args([
            "tree",
            "-p",
            "certcentral-cli",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ]),
        "cargo tree -p certcentral-cli --no-default-features",
    )?;
    let names = parse_tree_names(&tree);
    for server in ["axum", "certcentral-sandbox"] {
        if names.iter().any(|n| n == server) {
            bail!("certcentral-cli --no-default-features still depends on {server}");
        }
    }
    for args in [
        &[
            "order",
            "--sandbox",
            "--first-name",
            "A",
            "--last-name",
            "B",
            "--email",
            "a@example.com",
            "--org-id",
            "1",
        ][..],
        &["sandbox"][..],
    ] {
        eprintln!(
            "release-check: certcentral {} (no sandbox: expect exit 2)",
            args.join(" ")
        );
        let out = Command::new(&binary)
            .args(args)
            .env_remove("DIGICERT_API_KEY")
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) || !stderr.contains(NO_SANDBOX_HINT) {
            bail!(
                "certcentral {} without the sandbox feature exited {:?}:\n{stderr}",
                args.join(" "),
                out.status.code()
            );
        }
    }
    run(
        root,
        cargo().args(["build", "--quiet", "-p", "certcentral-cli"]),
        "cargo build -p certcentral-cli (default features again)",
    )?;
    Ok(())
}

/// `cargo metadata --no-deps` of the workspace, parsed.
fn metadata(root: &Path) -> Result<Value> {
    let meta = run(
        root,
        cargo().args(["metadata", "--format-version", "1", "--no-deps"]),
        "cargo metadata",
    )?;
    Ok(serde_json::from_str(&meta)?)
}

/// The workspace's target directory (`cargo metadata`).
fn target_dir(root: &Path) -> Result<std::path::PathBuf> {
    let meta = metadata(root)?;
    let target = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(std::path::PathBuf::from(target))
}

/// Fails unless every published crate has the workspace's one version.
pub fn check_versions(root: &Path) -> Result<()> {
    let meta = metadata(root)?;
    let mut versions = std::collections::BTreeMap::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let name = pkg["name"].as_str().unwrap_or_default();
        if PUBLISHED.contains(&name) {
            versions.insert(
                name.to_string(),
                pkg["version"].as_str().unwrap_or_default().to_string(),
            );
        }
    }
    let distinct: std::collections::BTreeSet<_> = versions.values().collect();
    if versions.len() != PUBLISHED.len() || distinct.len() != 1 {
        bail!("published crates must share one version: {versions:?}");
    }
    Ok(())
}

/// Names of the normal (non-dev, non-build) dependencies of `krate`, transitively.
pub fn normal_dependencies(root: &Path, krate: &str, features: &[&str]) -> Result<Vec<String>> {
    let out = run(
        root,
        cargo()
            .args([
                "tree", "-p", krate, "-e", "normal", "--prefix", "none", "--format", "{p}",
            ])
            .args(features),
        &format!("cargo tree -p {krate} -e normal {}", features.join(" ")),
    )?;
    Ok(parse_tree_names(&out))
}

/// Package names from `cargo tree --prefix none --format {p}` output.
pub fn parse_tree_names(out: &str) -> Vec<String> {
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The forbidden crates among `deps`.
pub fn forbidden_dependencies(deps: &[String]) -> Vec<String> {
    deps.iter()
        .filter(|d| FORBIDDEN_IN_LEAN.contains(&d.as_str()))
        .cloned()
        .collect()
}

/// What is wrong with a package's file list: required files missing, unexpected files present.
pub fn package_problems(krate: &str, files: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut required = vec!["Cargo.toml", "README.md", "LICENSE-MIT", "LICENSE-APACHE"];
    match krate {
        "certcentral-types" => required.extend([
            "src/lib.rs",
            "src/generated.rs",
            "schema/order-request.schema.json",
            "schema/order-response.schema.json",
            "schema/error.schema.json",
            "schema/catalog.json",
        ]),
        "certcentral-client" => required.extend(["src/lib.rs", "src/generated.rs"]),
        "certcentral-cli" => required.push("src/main.rs"),
        _ => required.push("src/lib.rs"),
    }
    for need in required {
        if !files.contains(&need) {
            problems.push(format!("missing {need}"));
        }
    }
    for file in files {
        if !expected_in_package(file) {
            problems.push(format!("unexpected {file}"));
        }
    }
    problems
}

fn expected_in_package(file: &str) -> bool {
    const EXACT: &[&str] = &[
        "Cargo.toml",
        "Cargo.toml.orig",
        "Cargo.lock",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        ".cargo_vcs_info.json",
    ];
    if EXACT.contains(&file) {
        return true;
    }
    let (dir, rest) = file.split_once('/').unwrap_or(("", file));
    match dir {
        "src" => rest.ends_with(".rs") || rest.ends_with(".snap"),
        "examples" | "benches" => rest.ends_with(".rs"),
        "schema" => rest.ends_with(".json"),
        // Tests and their fixtures ship (size-limited by MAX_PACKAGED_FILE).
        "tests" => true,
        "proptest-regressions" => rest.ends_with(".txt"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lean_check_flags_forbidden_crates() {
        let names = parse_tree_names("serde v1.0.0\nreqwest v0.12.0 (proc-macro)\ntokio v1.0.0\n");
        assert_eq!(forbidden_dependencies(&names), vec!["reqwest", "tokio"]);
        assert!(forbidden_dependencies(&parse_tree_names("serde v1\nchrono v0.4\n")).is_empty());
    }

    #[test]
    fn package_lists_are_checked_both_ways() {
        let good = [
            "Cargo.toml",
            "README.md",
            "LICENSE-MIT",
            "LICENSE-APACHE",
            "src/lib.rs",
            "tests/snapshots/a.snap",
        ];
        assert!(package_problems("certcentral-validate", &good).is_empty());
        let bad = ["Cargo.toml", "src/lib.rs", "target/debug/x", "notes.txt"];
        let problems = package_problems("certcentral-validate", &bad);
        assert!(
            problems.contains(&"missing README.md".to_string()),
            "{problems:?}"
        );
        assert!(
            problems.contains(&"unexpected target/debug/x".to_string()),
            "{problems:?}"
        );
        assert!(
            problems.contains(&"unexpected notes.txt".to_string()),
            "{problems:?}"
        );
        let types = package_problems("certcentral-types", &good);
        assert!(
            types.contains(&"missing src/generated.rs".to_string()),
            "{types:?}"
        );
    }

    /// The real dependency graph of the lean crates (reads `cargo tree`; no build).
    #[test]
    fn lean_crates_have_no_http_async_or_tls_dependencies() {
        let root = crate::repo_root();
        for krate in LEAN {
            for features in [&[][..], &["--no-default-features"][..]] {
                let deps = normal_dependencies(&root, krate, features).expect("cargo tree runs");
                assert!(deps.iter().any(|d| d == "serde"), "{krate}: {deps:?}");
                let bad = forbidden_dependencies(&deps);
                assert!(bad.is_empty(), "{krate} {features:?} depends on {bad:?}");
            }
        }
    }
}
