//! `certcentral bulk ROSTER`: argument handling and output; the engine is
//! the `certcentral-bulk` crate.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use certcentral_bulk::exec::{ExecOptions, StopHandle, Stopped, UNREACHABLE_LIMIT};
use certcentral_bulk::journal::RowState;
use certcentral_bulk::progress::{ProgressMode, describe};
use certcentral_bulk::revoke::{RevokeLine, RevokeOptions};
use certcentral_bulk::spec::OrderDefaults;
use certcentral_bulk::{BulkConfig, BulkError, Outcome, Verdict};
use certcentral_cli::commands::parse_duration;
use certcentral_cli::connect::ApiArgs;
use certcentral_cli::request::product_parser;
use certcentral_cli::{CliError, Output, exit};
use certcentral_client::{RateLimits, RetryPolicy};
use certcentral_keys::keys::KeyType;
use certcentral_types::catalog::DEFAULT_PRODUCT;
use certcentral_types::{PaymentMethod, ProductId};
use certcentral_validate::fields::{validity_years_parser, wire_enum_parser};
use clap::builder::TypedValueParser;
use serde_json::json;

/// Exit codes of `certcentral bulk`.
pub const AFTER_HELP: &str = "\
Roster: CSV with a header (or JSON Lines). Required column: emails (';'-separated).
Optional: product (any id of `certcentral products`; default --product), id (stable identity),
first_name, last_name, pseudonym, cn_indicator, usage, additional_usage (';'-separated),
profile (the person and the key's use, as the order flags of the same names), common_name
(required by the products that take one, e.g. client_premium_sha2), organization_units
(';'-separated), validity_years, custom_expiration_date (yyyy-MM-dd), csr (path of an
existing CSR, relative to the roster), name (output file stem).

Every run is journaled (--journal, default <out>/certcentral-journal.sqlite): the intent to
order is committed before each order is sent, so rerunning the same command after a crash
resumes without ordering anyone twice. Ctrl-C stops after the request in flight is answered
and journaled (exit 130); after 3 API calls in a row that cannot connect the run stops too
(exit 3): rerun to resume.

A new row sharing an email address with a row already ordered (or an earlier row) is held
back as possible_duplicate and not ordered, unless --allow-similar.

--report FILE (.csv or .json) replaces only a report certcentral wrote earlier, never another
file nor through a symbolic link; every output path is checked before anything is ordered.

The yearly cycle: --renew-within 30d renews, once, every finished row whose certificate ends
within the window (a paid order per row, journaled, reconciled and capped by
--max-new-orders like a first order; new key and files NAME-renewal-ORDERID.*).
--revoke-removed revokes the orders of journaled people no longer on the roster: --dry-run
lists them; a real run needs --yes and refuses more than --max-revocations (default 10).";

fn parse_rate_limit(s: &str) -> Result<RateLimits, String> {
    match s {
        "real" => Ok(RateLimits::documented()),
        "off" => Ok(RateLimits::off()),
        _ => s
            .strip_prefix("scale=")
            .and_then(|f| f.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(RateLimits::scaled)
            .ok_or_else(|| "allowed: real, off, scale=F (F > 0)".to_string()),
    }
}

/// Arguments of `certcentral bulk`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The roster: a .csv file with a header, or a .jsonl file (one JSON object per line).
    #[arg(value_name = "ROSTER")]
    pub roster: PathBuf,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Product for rows without a product column.
    #[arg(long, value_name = "ID", default_value_t = DEFAULT_PRODUCT, value_parser = product_parser())]
    pub product: ProductId,
    /// A product column naming a product certcentral does not know (DigiCert added it before
    /// certcentral did) is an `unknown_product` warning instead of an invalid row: the row is
    /// built and checked as a --product row and sent to that product as given.
    #[arg(long)]
    pub allow_unknown: bool,
    /// Organization id every order is placed in.
    #[arg(long, value_name = "ID")]
    pub org_id: u64,
    /// Container (division) id.
    #[arg(long, value_name = "ID")]
    pub container_id: Option<u64>,
    /// Skip the approval step (administrator or manager API keys).
    #[arg(long)]
    pub skip_approval: bool,
    /// Payment method (server default balance).
    #[arg(long, value_name = "METHOD", value_parser = wire_enum_parser::<PaymentMethod>())]
    pub payment_method: Option<PaymentMethod>,
    /// Validity for rows with neither validity_years nor custom_expiration_date.
    #[arg(long, value_name = "YEARS", default_value = "1", value_parser = validity_years_parser().map(i64::from))]
    pub validity_years: i64,
    /// Key type of generated keys (rows with a csr column use their own CSR).
    #[arg(long, value_enum, default_value_t = KeyType::Rsa2048)]
    pub key_type: KeyType,
    /// Folder for keys (mode 0600), CSRs, certificates and the default journal.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// The journal (SQLite). Default: certcentral-journal.sqlite in the --out directory.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Refuse to start when any row is invalid (the default).
    #[arg(long, overrides_with = "no_strict")]
    pub strict: bool,
    /// Order the valid rows even when some rows are invalid (they are reported).
    #[arg(long, overrides_with = "strict")]
    pub no_strict: bool,
    /// Validate and print the plan (orders to place, resume, skip, invalid); order nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Place at most N new paid orders in this run (rerun to continue).
    #[arg(long, value_name = "N")]
    pub max_new_orders: Option<u64>,
    /// Follow the orders until every certificate is issued and downloaded (or --timeout).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait follows.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Time between status polls (one status-changes call covers every order).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Write a report with one line per roster row (FILE ends in .csv or .json). It replaces
    /// only a report certcentral wrote earlier.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Order new rows even when they share an email address with a row already ordered
    /// (otherwise they are held back as possible duplicates).
    #[arg(long)]
    pub allow_similar: bool,
    /// Renew, once, every finished row whose certificate ends within DURATION (e.g. 30d): a
    /// new paid order per row (renewal_of_order_id set, product and details from the
    /// original's order info), a new key and files NAME-renewal-ORDERID.*.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub renew_within: Option<Duration>,
    /// Revoke the orders the journal holds for people no longer on the roster (people who
    /// left). Destructive: --dry-run lists them; a real run needs --yes.
    #[arg(long)]
    pub revoke_removed: bool,
    /// Confirm --revoke-removed (revocation cannot be undone).
    #[arg(long, requires = "revoke_removed")]
    pub yes: bool,
    /// With --revoke-removed: more candidates than N refuses the whole revocation step
    /// (nothing revoked), so a truncated roster cannot revoke an organization.
    #[arg(long, value_name = "N", default_value_t = certcentral_bulk::revoke::DEFAULT_MAX, requires = "revoke_removed")]
    pub max_revocations: u64,
    /// Downloads in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, hide = true)]
    pub download_concurrency: usize,
    /// Client-side rate limits: real (default), off, or scale=F to match a sandbox started
    /// with --rate-limit scale=F.
    #[arg(long, value_name = "LIMITS", value_parser = parse_rate_limit, hide = true)]
    pub rate_limit: Option<RateLimits>,
    /// Interval of the plain progress lines printed when stderr is not a terminal.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, hide = true)]
    pub progress_interval: Duration,
}

fn config(args: &Args, out: &Output) -> BulkConfig {
    BulkConfig {
        roster: args.roster.clone(),
        journal: args
            .journal
            .clone()
            .unwrap_or_else(|| args.out.join(certcentral_bulk::DEFAULT_JOURNAL)),
        strict: !args.no_strict,
        dry_run: args.dry_run,
        report: args.report.clone(),
        allow_similar: args.allow_similar,
        progress: if out.quiet || out.json {
            ProgressMode::Quiet
        } else {
            ProgressMode::Auto
        },
        progress_interval: args.progress_interval,
        progress_sink: certcentral_bulk::progress::LineSink::new(|line| {
            certcentral_cli::logging::stderr_line(
                certcentral_cli::logging::Level::Info,
                line,
                line,
                None,
            )
        }),
        exec: ExecOptions {
            defaults: OrderDefaults {
                product: args.product,
                org_id: args.org_id,
                container_id: args.container_id,
                skip_approval: args.skip_approval,
                payment_method: args.payment_method,
                validity_years: args.validity_years,
                today: chrono::Utc::now().date_naive(),
                allow_unknown: args.allow_unknown,
            },
            out_dir: args.out.clone(),
            key_type: args.key_type,
            max_new_orders: args.max_new_orders,
            wait: args.wait,
            timeout: args.timeout,
            poll_interval: args.poll_interval,
            download_concurrency: args.download_concurrency.max(1),
            not_processed_patience: Duration::from_secs(120),
            stop: StopHandle::default(),
            renew_until: args.renew_within.map(|within| {
                let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX);
                chrono::Utc::now()
                    .checked_add_signed(within)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
                    .timestamp()
            }),
        },
        revoke: args.revoke_removed.then_some(RevokeOptions {
            yes: args.yes,
            max: args.max_revocations,
            skip_approval: args.skip_approval,
        }),
    }
}

fn human(outcome: &Outcome) -> String {
    let mut summary = Summary {
        outcome,
        lines: Vec::new(),
    };
    summary.plan();
    summary.this_run();
    summary.revocations();
    summary.rows_and_files();
    summary.ending();
    summary.lines.join("\n")
}

/// The text report of a bulk run (or of its plan, `--dry-run`), section by section.
struct Summary<'a> {
    outcome: &'a Outcome,
    lines: Vec<String>,
}

impl Summary<'_> {
    /// What the roster asks for: rows, orders and renewals to place, rows to resume or skip,
    /// possible duplicates held back.
    fn plan(&mut self) {
        let outcome = self.outcome;
        let p = &outcome.plan;
        let lines = &mut self.lines;
        if outcome.dry_run {
            lines.push("plan (dry run: nothing ordered)".to_string());
        } else {
            lines.push("bulk run finished".to_string());
        }
        lines.push(format!(
            "  rows: {} ({} valid, {} invalid)",
            p.rows, p.valid, p.invalid
        ));
        let capped = if p.capped > 0 {
            format!(
                " ({} more left for later runs by --max-new-orders)",
                p.capped
            )
        } else {
            String::new()
        };
        lines.push(format!("  paid orders to place: {}{capped}", p.new_orders));
        self.renewals();
        let lines = &mut self.lines;
        lines.push(format!(
            "  resume: {} unknown outcome(s) to look up first, {} order(s) to follow",
            p.reconcile, p.follow
        ));
        lines.push(format!(
            "  skip: {} finished, {} ended without a certificate",
            p.done, p.failed
        ));
        if p.possible_duplicates > 0 {
            lines.push(format!(
                "  held back: {} possible duplicate(s) (sharing an email address with a row already ordered or an earlier row; --allow-similar orders them)",
                p.possible_duplicates
            ));
        }
    }

    /// `--renew-within`: how many renewals, and the first rows to renew.
    fn renewals(&mut self) {
        let outcome = self.outcome;
        let p = &outcome.plan;
        let lines = &mut self.lines;
        if p.renewals > 0 {
            lines.push(format!(
                "  renewals to place (certificates ending within --renew-within): {}",
                p.renewals
            ));
        }
        for r in &outcome.to_renew {
            lines.push(format!(
                "    renew: row {} {} <{}> order {} valid till {}",
                r.row,
                r.common_name,
                r.emails.join(", "),
                r.order_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                r.valid_till.as_deref().unwrap_or("-"),
            ));
        }
        if (outcome.to_renew.len() as u64) < p.renewals && !outcome.to_renew.is_empty() {
            lines.push(format!(
                "    … and {} more (--report lists every row's valid_till)",
                p.renewals - outcome.to_renew.len() as u64
            ));
        }
    }

    /// What a real run did: orders, downloads, lookups, and the rows' states now.
    fn this_run(&mut self) {
        if self.outcome.dry_run {
            return;
        }
        let s = &self.outcome.stats;
        self.lines.push(format!(
            "  this run: {} new order(s), {} certificate(s) downloaded, lookups: {} found / {} absent / {} ambiguous",
            s.new_orders, s.downloaded, s.reconciled_found, s.reconciled_absent, s.reconciled_ambiguous
        ));
        if s.renewals > 0 {
            self.lines
                .push(format!("  renewals placed: {}", s.renewals));
        }
        self.lines
            .push(format!("  now: {}", describe(&self.outcome.states)));
    }

    /// `--revoke-removed`: the certificates of people no longer on the roster, one line each.
    fn revocations(&mut self) {
        let outcome = self.outcome;
        if outcome.revocations.is_empty() {
            return;
        }
        self.lines.push(if outcome.dry_run {
            format!(
                "  would revoke {} certificate(s) of people no longer on the roster (a real run needs --yes):",
                outcome.revocations.len()
            )
        } else {
            format!(
                "  revocations of people no longer on the roster: {}",
                outcome.revocations.len()
            )
        });
        for line in &outcome.revocations {
            self.lines.push(revocation_line(line, outcome.dry_run));
        }
    }

    /// Invalid rows, rows with a problem, and the journal and report files.
    fn rows_and_files(&mut self) {
        let (outcome, lines) = (self.outcome, &mut self.lines);
        for e in &outcome.invalid_rows {
            lines.push(format!("  invalid: {e}"));
        }
        for l in &outcome.problems {
            lines.push(format!(
                "  {}: row {} ({}): {}",
                l.state,
                l.row,
                l.common_name,
                l.error.as_deref().unwrap_or_default()
            ));
        }
        if let Some(j) = &outcome.journal {
            lines.push(format!("  journal: {}", j.display()));
        }
        if let Some(r) = &outcome.report {
            lines.push(format!("  report: {}", r.display()));
        }
        if let Some(e) = &outcome.report_error {
            lines.push(format!(
                "  report NOT written: {e} (every row's state is in the journal: rerun with another --report to write it; nothing is ordered again)"
            ));
        }
    }

    /// Why the run stopped early, or what its verdict asks of the user.
    fn ending(&mut self) {
        let (outcome, lines) = (self.outcome, &mut self.lines);
        match &outcome.stopped {
            Some(Stopped::Interrupted) => {
                lines.push(
                    "interrupted: stopped after journaling the request in flight; rerun the same command to resume (ordered rows are followed, never ordered again)".into(),
                );
                return;
            }
            Some(Stopped::Unreachable(e)) => {
                lines.push(format!(
                    "stopped: the API is unreachable ({UNREACHABLE_LIMIT} calls in a row could not connect; last: {e}); nothing more was sent. Rerun the same command to resume once it is reachable"
                ));
                return;
            }
            None => {}
        }
        let details = match &outcome.report {
            Some(r) => format!("see the report {}", r.display()),
            None => "rerun with --report FILE.csv for every row's details".to_owned(),
        };
        match outcome.verdict {
            Verdict::Pending => lines.push(
                "some rows are still pending: rerun the same command to resume (ordered rows are followed, never ordered again)".into(),
            ),
            Verdict::Unknown => lines.push(format!(
                "some rows have an unknown outcome: an order may exist; check them ({details}) before ordering again; a rerun looks them up again and never re-orders an ambiguous row"
            )),
            Verdict::Partial | Verdict::Failed if !outcome.dry_run => {
                lines.push(format!("some rows failed or were held back: {details}"))
            }
            _ => {}
        }
    }
}

/// One revocation of `--revoke-removed`: the person, the certificate, and what happened to
/// it (or would, in a dry run).
fn revocation_line(l: &RevokeLine, dry_run: bool) -> String {
    let what = match (dry_run, l.result, l.request_id) {
        (true, _, _) => "to revoke".to_owned(),
        (false, RowState::RevokeRequested, Some(id)) => {
            format!("revoke request {id} waits for approval")
        }
        (false, RowState::RevokeRequested, None) => {
            "a revoke request waits for approval".to_owned()
        }
        (false, RowState::Revoked, _) => "revoked".to_owned(),
        _ => format!(
            "NOT settled: {}",
            l.error.as_deref().unwrap_or("see the journal")
        ),
    };
    let renewed = match (&l.renewed_order, l.row.renewal_of) {
        (Some(what), _) => format!(" ({what})"),
        (None, Some(old)) if dry_run => {
            format!(" (and order {old}, which it renewed, unless ended)")
        }
        _ => String::new(),
    };
    format!(
        "    {} <{}> order {} serial {} valid till {}: {what}{renewed}",
        l.row.common_name,
        l.row.emails.join(", "),
        l.row.order_id,
        l.row.serial.as_deref().unwrap_or("-"),
        l.row.valid_till.as_deref().unwrap_or("-"),
    )
}

/// Runs `certcentral bulk` and returns the exit code.
pub fn run(args: Args, out: &Output) -> u8 {
    let config = config(&args, out);
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            return out.fail(&CliError::failed(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    runtime.block_on(async {
        // Ctrl-C: stop after the request in flight is answered and journaled; a second
        // Ctrl-C quits at once (the journal survives that too: it is written before each
        // order is sent).
        let stop = config.exec.stop.clone();
        certcentral_cli::interrupt::watch_ctrl_c("saving the journal", move || stop.interrupt());
        if args.dry_run {
            return finish(out, certcentral_bulk::dry_run(&config));
        }
        // The hidden `--rate-limit` sets the client-side limits (ignored with `--sandbox`,
        // whose embedded server enforces the documented ones).
        let limits = args.rate_limit.clone().unwrap_or_default();
        // One client call (its own 429 / connect retries included) never outlasts the
        // patience for a POST not processed.
        let retry = RetryPolicy {
            deadline: config.exec.not_processed_patience,
            ..RetryPolicy::default()
        };
        let connection = match args.api.connect_with(limits, retry).await {
            Ok(c) => c,
            Err(e) => return out.fail(&e),
        };
        let result = certcentral_bulk::run(Arc::new(connection.client.clone()), &config).await;
        connection.close().await;
        finish(out, result)
    })
}

fn finish(out: &Output, result: Result<Outcome, BulkError>) -> u8 {
    match result {
        Ok(outcome) => {
            let code = exit::of_verdict(outcome.verdict);
            // A closed stdout (`| head -1`) loses the summary, not the exit code: no panic.
            let mut stdout = std::io::stdout().lock();
            if out.json {
                let _ = writeln!(
                    stdout,
                    "{}",
                    json!({
                        "dry_run": outcome.dry_run,
                        "plan": outcome.plan,
                        "stats": outcome.stats,
                        "states": outcome.states.iter().map(|(s, n)| (s.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                        "invalid_rows": outcome.invalid_rows,
                        "problems": outcome.problems,
                        "stopped": outcome.stopped,
                        "journal": outcome.journal,
                        "report": outcome.report,
                        "report_error": outcome.report_error,
                        "revocations": outcome.revocations,
                        "to_renew": outcome.to_renew,
                        "exit_code": code,
                    })
                );
            } else if !out.quiet || code != exit::OK {
                let _ = writeln!(stdout, "{}", human(&outcome));
            }
            code
        }
        Err(e) => out.fail(&e.into()),
    }
}
