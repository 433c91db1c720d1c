//! The commands for issued certificates: `expiring`, `revoke` and `reissue`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use certcentral_client::{Client, Order, Revocation, RevokeTarget};
use certcentral_keys::files::{self, OrderFiles};
use certcentral_keys::keys::{self, ExpectedKey, KeyAndCsr, KeyType};
use certcentral_types::catalog::Status;
use certcentral_types::{DownloadFormat, OrderInfo, ProductId};
use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};

use crate::commands::lifecycle::{describe_order, with_client};
use crate::connect::{ApiArgs, client_error};
use crate::error::CliError;
use crate::output::{Output, Report};

/// Arguments of `certcentral expiring`.
#[derive(Debug, clap::Args)]
pub struct ExpiringArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The window: certificates whose last day is at most this far ahead (`30d`, `12h`, ...;
    /// already expired ones are included).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = super::parse_duration)]
    pub within: Duration,
    /// List orders already renewed too (default: only those not renewed yet).
    #[arg(long)]
    pub include_renewed: bool,
    /// The day the window starts (YYYY-MM-DD, UTC); default: today.
    #[arg(long, value_name = "DATE")]
    pub today: Option<NaiveDate>,
}

/// Arguments of `certcentral revoke`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["certificate_id", "order_id"])))]
pub struct RevokeArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Revoke this one certificate (the order stays active).
    #[arg(long, value_name = "ID")]
    pub certificate_id: Option<i64>,
    /// Revoke every certificate of this order, reissues included.
    #[arg(long, value_name = "ID")]
    pub order_id: Option<i64>,
    /// Why (recorded with the revoke request).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Revoke at once without a revoke request to approve (administrator keys only; with
    /// other keys the request stays pending: approve it with `certcentral approve`).
    #[arg(long)]
    pub skip_approval: bool,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Show what would be revoked and stop.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `certcentral reissue`.
#[derive(Debug, clap::Args)]
pub struct ReissueArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The order to reissue (same order, new key).
    #[arg(value_name = "ORDER_ID")]
    pub order_id: i64,
    /// Type of the new key.
    #[arg(long, value_enum, value_name = "TYPE", default_value_t = KeyType::default())]
    pub key_type: KeyType,
    /// Directory for the new key, CSR and certificate (`<name>-reissue-<order>.key|csr|crt`).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Wait for the reissued certificate and write it.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = super::parse_duration)]
    pub timeout: Duration,
    /// Show what would be done and stop (nothing is generated or sent).
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `certcentral renew`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("original").required(true).args(["order_id", "order_record"])))]
pub struct RenewArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The order to renew.
    #[arg(value_name = "ORDER_ID")]
    pub order_id: Option<i64>,
    /// The order to renew, from its `<name>.order.json`.
    #[arg(long, value_name = "FILE")]
    pub order_record: Option<PathBuf>,
    /// Order this product instead of the original's (e.g. the replacement of a deprecated
    /// product).
    #[arg(long, value_name = "ID", value_parser = crate::request::product_parser())]
    pub product: Option<ProductId>,
    /// Type of the new key.
    #[arg(long, value_enum, value_name = "TYPE", default_value_t = KeyType::default())]
    pub key_type: KeyType,
    /// Directory for the new key, CSR, order record and certificate.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Stem of the new files (default: `<common name>-renewal-<order id>`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Wait for the new certificate and download it.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = super::parse_duration)]
    pub timeout: Duration,
    /// Print the renewal order that would be sent and stop (nothing is generated or sent).
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
}

/// `certcentral renew ORDER_ID | --order-record FILE`: a new paid order with the original's
/// product and details and `renewal_of_order_id` set, through `certcentral order`'s flow (new
/// key 0600 never overwritten, record written, never retried blindly, `--wait`, download).
pub async fn renew(args: RenewArgs, out: &Output) -> Result<Report, CliError> {
    let order_id = match (&args.order_record, args.order_id) {
        (Some(path), _) => crate::record::OrderRecord::load(path)?.order_id,
        (None, Some(id)) => id,
        (None, None) => return Err(CliError::usage("give ORDER_ID or --order-record FILE")),
    };
    let (product, body) = with_client(&args.api, async |client, _| {
        let order = client.order(order_id).await.map_err(client_error)?;
        order.renewal_body(None, args.product).map_err(client_error)
    })
    .await?;
    if let (None, Status::Deprecated { since, replacement }) = (args.product, product.spec().status)
    {
        out.progress(&format!(
            "order {order_id} is for {product}, deprecated since {since}: renewing with the same \
             product; pass --product {replacement} (and the fields it needs) to move to its \
             replacement"
        ));
    }
    let name = match &args.name {
        Some(name) => name.clone(),
        None => format!(
            "{}-renewal-{order_id}",
            files::derive_name(&body.subject_name()).unwrap_or_else(|| "certificate".into())
        ),
    };
    let order_args = crate::commands::order::Args {
        api: args.api,
        product: product.into(),
        order: crate::request::OrderFlags::default(),
        csr: None,
        key_type: args.key_type,
        out: args.out,
        name: Some(name),
        dry_run: args.dry_run,
        wait: args.wait,
        approve: false,
        timeout: args.timeout,
        p12: false,
        p12_password_file: None,
        resume: None,
        allow_unknown: false,
        allow_other_endpoint: false,
    };
    crate::commands::order::run_request(order_args, body, None, out).await
}

/// One line of `certcentral expiring`.
fn expiring_line(info: &OrderInfo) -> Value {
    let cert = info.certificate.clone().unwrap_or_default();
    json!({
        "order_id": info.id,
        "certificate_id": cert.id,
        "common_name": cert.common_name,
        "emails": cert.emails,
        "valid_till": cert.valid_till,
        "days_remaining": cert.days_remaining,
        "is_renewed": info.is_renewed,
        "product": info.product.as_ref().and_then(|p| p.name_id.clone()),
    })
}

/// `certcentral expiring [--within 30d]`: certificates ending within the window, soonest first.
pub async fn expiring(args: ExpiringArgs) -> Result<Report, CliError> {
    let now = match args.today {
        Some(day) => day
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_else(Utc::now),
        None => Utc::now(),
    };
    let orders = with_client(&args.api, async |client, _| {
        client
            .expiring_at(args.within, now, args.include_renewed)
            .collect_all()
            .await
            .map_err(client_error)
    })
    .await?;
    let lines: Vec<Value> = orders.iter().map(expiring_line).collect();
    let window = super::human_duration(args.within);
    let human = if lines.is_empty() {
        format!("no certificate expires within {window}")
    } else {
        let mut text = format!(
            "{} certificate(s) expire within {window}:\n{:<9} {:<11} {:>5}  {:<8} {:<24} emails",
            lines.len(),
            "order",
            "valid till",
            "days",
            "renewed",
            "common name"
        );
        for line in &lines {
            text.push_str(&format!(
                "\n{:<9} {:<11} {:>5}  {:<8} {:<24} {}",
                line["order_id"],
                line["valid_till"].as_str().unwrap_or("-"),
                line["days_remaining"]
                    .as_i64()
                    .map_or_else(|| "-".to_string(), |d| d.to_string()),
                if line["is_renewed"] == json!(true) {
                    "yes"
                } else {
                    "no"
                },
                line["common_name"].as_str().unwrap_or("-"),
                line["emails"]
                    .as_array()
                    .map(|e| e
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ));
        }
        text
    };
    Ok(Report::new(
        human,
        json!({"within_seconds": args.within.as_secs(), "orders": lines}),
    ))
}

/// What a revoke will revoke, read from the API before anything is sent.
async fn revoke_subject(
    client: &Client,
    target: RevokeTarget,
) -> Result<(String, Value), CliError> {
    match target {
        RevokeTarget::Order(id) => {
            let info = client.order_info(id).await.map_err(client_error)?;
            let certificates = client
                .list_reissues(id)
                .await
                .map(|l| l.certificates)
                .unwrap_or_default();
            let mut text = format!("every certificate of {}", describe_order(&info));
            for c in &certificates {
                text.push_str(&format!(
                    "\n  certificate {}  serial {}  valid till {}  {}",
                    c.id,
                    c.serial_number.as_deref().unwrap_or("-"),
                    c.valid_till.as_deref().unwrap_or("-"),
                    c.status.as_deref().unwrap_or("")
                ));
            }
            if certificates.is_empty()
                && let Some(serial) = info
                    .certificate
                    .as_ref()
                    .and_then(|c| c.serial_number.clone())
            {
                text.push_str(&format!("\n  serial       {serial}"));
            }
            Ok((text, json!({"order": info, "certificates": certificates})))
        }
        RevokeTarget::Certificate(id) => {
            let pem = client
                .download_by_certificate(id, DownloadFormat::PemNointermediate)
                .await
                .map_err(client_error)?;
            let subject = keys::describe_certificate(&String::from_utf8_lossy(&pem))?;
            let text = format!(
                "certificate {id}\n  common name  {}\n  emails       {}\n  serial       {}\n  valid till   {}",
                subject.common_name,
                subject.emails.join(", "),
                subject.serial_hex,
                subject.not_after
            );
            Ok((text, json!({"certificate_id": id, "certificate": subject})))
        }
    }
}

/// Asks on the terminal; `Ok(false)` when the answer is not `yes`. Without a terminal and
/// without `--yes` it refuses (usage error, exit 2).
fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::usage(
            "refusing to revoke without confirmation: standard input is not a terminal; pass \
             --yes to revoke, or --dry-run to only show what would be revoked",
        ));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [type yes to confirm] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::failed(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

/// `certcentral revoke --certificate-id ID | --order-id ID`.
pub async fn revoke(args: RevokeArgs, out: &Output) -> Result<Report, CliError> {
    let target = match (args.certificate_id, args.order_id) {
        (Some(id), None) => RevokeTarget::Certificate(id),
        (None, Some(id)) => RevokeTarget::Order(id),
        _ => {
            return Err(CliError::usage(
                "give exactly one of --certificate-id or --order-id",
            ));
        }
    };
    with_client(&args.api, async |client, _| {
        let (what, subject) = revoke_subject(client, target).await?;
        let mut result = json!({"target": subject, "dry_run": args.dry_run});
        if args.dry_run {
            return Ok(Report::new(
                format!("would revoke {what}\n(dry run: nothing sent)"),
                result,
            ));
        }
        out.progress(&format!("about to revoke {what}"));
        if !args.yes && !confirm("Revoke? This cannot be undone.")? {
            return Err(CliError::usage("not revoked: not confirmed"));
        }
        let outcome = client
            .revoke(target, args.comment.as_deref(), args.skip_approval)
            .await
            .map_err(client_error)?;
        let human = match &outcome {
            Revocation::Revoked => format!("revoked {what}"),
            Revocation::Reconciled => format!(
                "revoked (or revoke request made) {what}\n(the answer was lost; the order shows it)"
            ),
            Revocation::Requested(request) => format!(
                "revoke request {} is {}: approve it with `certcentral approve {}`\n{what}",
                request.id,
                request.status.as_ref().map_or("pending", |s| s.as_str()),
                request.id
            ),
        };
        result["outcome"] = match &outcome {
            Revocation::Revoked => json!("revoked"),
            Revocation::Reconciled => json!("reconciled"),
            Revocation::Requested(_) => json!("requested"),
        };
        if let Revocation::Requested(request) = &outcome {
            result["request"] = json!(request);
        }
        Ok(Report::new(human, result))
    })
    .await
}

/// `reissue --wait`: follows the reissue until a new certificate (not `old_certificate`) is
/// issued, checks that it carries the new key, and writes it.
async fn fetch_reissued(
    order: &mut Order,
    args: &ReissueArgs,
    old_certificate: Option<i64>,
    key: &KeyAndCsr,
    paths: &OrderFiles,
) -> Result<(), CliError> {
    let policy = certcentral_client::PollPolicy::default().with_deadline(args.timeout);
    let outcome = order
        .wait_until_issued(&policy)
        .await
        .map_err(client_error)?;
    if !outcome.is_issued() || order.certificate_id() == old_certificate {
        return Err(CliError::Pending {
            order_id: args.order_id,
            message: format!(
                "order {} reissue is not issued yet; download it later with `certcentral download {} --key {}`",
                args.order_id,
                args.order_id,
                paths.key.display()
            ),
        });
    }
    let chain = order
        .download(DownloadFormat::PemAll)
        .await
        .map_err(client_error)?;
    let chain = String::from_utf8_lossy(&chain).into_owned();
    keys::check_certificate_key(&chain, &ExpectedKey::generated(key, &paths.key))?;
    files::create_new(&paths.crt, chain.as_bytes())?;
    Ok(())
}

/// `certcentral reissue ORDER_ID`: a new key and CSR (written first, 0600, never
/// overwriting), then the reissue; with `--wait` the new certificate, checked against the key.
pub async fn reissue(args: ReissueArgs, out: &Output) -> Result<Report, CliError> {
    with_client(&args.api, async |client, _| {
        let mut order = client.order(args.order_id).await.map_err(client_error)?;
        let cert = order
            .info()
            .and_then(|info| info.certificate.clone())
            .unwrap_or_default();
        let common_name = cert.common_name.clone().unwrap_or_default();
        let stem = format!(
            "{}-reissue-{}",
            files::derive_name(&common_name).unwrap_or_else(|| "certificate".to_string()),
            args.order_id
        );
        let paths = OrderFiles::new(&args.out, &stem);
        files::refuse_existing([paths.key.as_path(), paths.csr.as_path(), paths.crt.as_path()])?;
        let mut result = json!({
            "order_id": args.order_id,
            "key_type": args.key_type,
            "files": {"key": paths.key, "csr": paths.csr, "crt": paths.crt},
            "dry_run": args.dry_run,
        });
        if args.dry_run {
            return Ok(Report::new(
                format!(
                    "would reissue order {} ({common_name}) with a new {} key written to {}\n(dry run: nothing generated or sent)",
                    args.order_id,
                    args.key_type,
                    paths.key.display()
                ),
                result,
            ));
        }
        let key = keys::generate(args.key_type, &common_name, &cert.emails)?;
        files::ensure_dir(&args.out)?;
        files::create_private(&paths.key, &keys::key_file_bytes(&key))?;
        files::create_new(&paths.csr, key.csr_pem.as_bytes())?;
        out.progress(&format!("new key in {}; reissuing order {}", paths.key.display(), args.order_id));
        let response = order.reissue(&key.csr_pem).await.map_err(client_error)?;
        result["reissue"] = json!(response);
        if !args.wait {
            return Ok(Report::new(
                format!(
                    "order {} reissue requested (request {}); the new key is {}",
                    args.order_id,
                    response.requests.first().map_or(0, |r| r.id),
                    paths.key.display()
                ),
                result,
            ));
        }
        fetch_reissued(&mut order, &args, cert.id, &key, &paths).await?;
        result["certificate_id"] = json!(order.certificate_id());
        Ok(Report::new(
            format!(
                "order {} reissued: certificate {} in {}, key {}",
                args.order_id,
                order.certificate_id().unwrap_or_default(),
                paths.crt.display(),
                paths.key.display()
            ),
            result,
        ))
    })
    .await
}
