//! `cargo xtask`: project automation. Run `cargo xtask help` for the commands.

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  codegen          regenerate code from schema/
  codegen --check  fail (exit 1) when committed generated code is stale
  release-check    version, lean-dependency, packaging, publish dry-run, docs and feature checks
  help             print this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = xtask::repo_root();
    let result = match args.as_slice() {
        ["codegen"] => xtask::write_all(&root).map(|changed| {
            if changed.is_empty() {
                eprintln!("codegen: up to date");
            }
            for path in changed {
                eprintln!("codegen: wrote {path}");
            }
            true
        }),
        ["codegen", "--check"] => xtask::stale_files(&root).map(|stale| {
            for path in &stale {
                eprintln!("codegen: {path} is stale; run `cargo xtask codegen`");
            }
            stale.is_empty()
        }),
        ["release-check"] => xtask::release::release_check(&root).map(|()| true),
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
