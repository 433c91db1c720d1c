//! The commands that act on existing orders and read the catalogue: `status`, `approve`,
//! `reject`, `cancel`, `download`, `orders`, `products`, `product`.

use std::io::Write;
use std::path::PathBuf;

use certcentral_client::Client;
use certcentral_keys::files;
use certcentral_types::catalog::DEFAULT_PRODUCT;
use certcentral_types::catalog::Status;
use certcentral_types::{
    DownloadFormat, OrderInfo, OrderStatusChange, OrderStatusUpdate, ProductId, ProductInfo,
    RequestDecision, RequestStatusUpdate, WireEnum,
};
use certcentral_validate::fields::wire_enum_parser;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::connect::{ApiArgs, Connection, client_error};
use crate::error::CliError;
use crate::output::Report;
use crate::request::{product_parser, product_summary};

/// Arguments of `certcentral status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The order id (printed by `certcentral order`, also in NAME.order.json).
    #[arg(value_name = "ORDER_ID")]
    pub order_id: i64,
}

/// Arguments of `certcentral approve` and `certcentral reject`.
#[derive(Debug, clap::Args)]
pub struct DecisionArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The request id (shown by `certcentral status ORDER_ID`).
    #[arg(value_name = "REQUEST_ID")]
    pub request_id: i64,
    /// A comment recorded with the decision.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

/// Arguments of `certcentral cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The order id.
    #[arg(value_name = "ORDER_ID")]
    pub order_id: i64,
    /// A note recorded with the cancellation.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

/// Arguments of `certcentral download`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The order id (or use --certificate-id).
    #[arg(
        value_name = "ORDER_ID",
        required_unless_present = "certificate_id",
        conflicts_with = "certificate_id"
    )]
    pub order_id: Option<i64>,
    /// Download by certificate id instead of order id.
    #[arg(long, value_name = "ID")]
    pub certificate_id: Option<i64>,
    /// Download format: pem_all (leaf, intermediate and root), pem_noroot, pem_nointermediate
    /// (leaf only) or p7b.
    #[arg(long, value_name = "FORMAT", default_value = "pem_all", value_parser = wire_enum_parser::<DownloadFormat>())]
    pub format: DownloadFormat,
    /// Write to this file (created exclusively) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Your private key (PKCS#8 PEM), CSR or public key (PEM): the certificate is written only
    /// if it carries this public key; otherwise nothing is written and the exit code is 1.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Arguments of `certcentral orders`.
#[derive(Debug, clap::Args)]
pub struct OrdersArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Orders for this common name.
    #[arg(long, value_name = "NAME")]
    pub common_name: String,
    /// Orders that carry this email address (repeatable: all must match).
    #[arg(long = "email", value_name = "ADDRESS")]
    pub emails: Vec<String>,
    /// Product of the orders.
    #[arg(long, value_name = "ID", default_value_t = DEFAULT_PRODUCT, value_parser = product_parser())]
    pub product: ProductId,
    /// Orders created at or after this time (RFC 3339, e.g. 2026-11-28T20:00:00Z); default:
    /// the last 24 hours.
    #[arg(long, value_name = "TIME")]
    pub since: Option<DateTime<Utc>>,
}

/// Arguments of `certcentral products`.
#[derive(Debug, clap::Args)]
pub struct ProductsArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `certcentral product`.
#[derive(Debug, clap::Args)]
pub struct ProductArgs {
    /// Endpoint and credentials.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The product id.
    #[arg(value_name = "ID", value_parser = product_parser())]
    pub product: ProductId,
}

/// Connects, runs `f` with the client, and closes the connection (stopping an embedded
/// sandbox) whatever the outcome.
pub(crate) async fn with_client<T, F>(api: &ApiArgs, f: F) -> Result<T, CliError>
where
    F: AsyncFnOnce(&Client, &Connection) -> Result<T, CliError>,
{
    let conn = api.connect().await?;
    let result = f(&conn.client, &conn).await;
    conn.close().await;
    result
}

/// Text lines describing an order.
pub fn describe_order(info: &OrderInfo) -> String {
    let mut lines = vec![format!(
        "order {}: {}",
        info.id,
        info.status
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or("(status unknown)")
    )];
    if let Some(product) = info.product.as_ref().and_then(|p| p.name_id.as_deref()) {
        lines.push(format!("  product      {product}"));
    }
    if let Some(cert) = &info.certificate {
        if let Some(cn) = &cert.common_name {
            lines.push(format!("  common name  {cn}"));
        }
        if !cert.emails.is_empty() {
            lines.push(format!("  emails       {}", cert.emails.join(", ")));
        }
        if let Some(person) = &cert.individual {
            let name = [person.first_name.as_deref(), person.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let pseudonym = person
                .pseudonym
                .as_deref()
                .map(|p| format!("pseudonym {p}"));
            let text = [(!name.is_empty()).then_some(name), pseudonym]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            if !text.is_empty() {
                lines.push(format!("  person       {text}"));
            }
        }
        if let Some(usage) = &cert.usage_designation {
            let usages: Vec<&str> = usage
                .primary_usage
                .as_deref()
                .into_iter()
                .chain(usage.additional_usages.iter().map(String::as_str))
                .collect();
            lines.push(format!("  usage        {}", usages.join(", ")));
        }
        if let Some(profile) = &cert.profile_type {
            lines.push(format!("  profile      {profile}"));
        }
        if let Some(id) = cert.id {
            lines.push(format!("  certificate  {id}"));
        }
        if let (Some(from), Some(till)) = (&cert.valid_from, &cert.valid_till) {
            lines.push(format!("  valid        {from} to {till}"));
        }
    }
    if let Some(date) = &info.date_created {
        lines.push(format!("  created      {date}"));
    }
    if let Some(old) = info.renewal_of_order_id {
        lines.push(format!("  renews       order {old}"));
    }
    if info.is_renewed == Some(true) {
        lines.push("  renewed      yes (a later order renews it)".to_owned());
    }
    for r in &info.requests {
        lines.push(format!(
            "  request {}  {}",
            r.id,
            r.status
                .as_ref()
                .map(|s| s.as_str())
                .unwrap_or("(status unknown)")
        ));
    }
    lines.join("\n")
}

/// `certcentral status ORDER_ID`.
pub async fn status(args: StatusArgs) -> Result<Report, CliError> {
    with_client(&args.api, async |client, _| {
        let info = client
            .order_info(args.order_id)
            .await
            .map_err(client_error)?;
        Ok(Report::new(describe_order(&info), json!(info)))
    })
    .await
}

/// `certcentral approve REQUEST_ID` / `certcentral reject REQUEST_ID`.
pub async fn decide(args: DecisionArgs, decision: RequestDecision) -> Result<Report, CliError> {
    with_client(&args.api, async |client, _| {
        let body = RequestStatusUpdate {
            status: decision,
            processor_comment: args.comment.clone(),
        };
        client
            .update_request_status(args.request_id, &body)
            .await
            .map_err(client_error)?;
        Ok(Report::new(
            format!("request {} {decision}", args.request_id),
            json!({"request_id": args.request_id, "status": decision}),
        ))
    })
    .await
}

/// `certcentral cancel ORDER_ID`.
pub async fn cancel(args: CancelArgs) -> Result<Report, CliError> {
    with_client(&args.api, async |client, _| {
        let body = OrderStatusUpdate {
            status: OrderStatusChange::Canceled,
            note: args.note.clone(),
        };
        client
            .cancel_order(args.order_id, &body)
            .await
            .map_err(client_error)?;
        Ok(Report::new(
            format!("order {} canceled", args.order_id),
            json!({"order_id": args.order_id, "status": "canceled"}),
        ))
    })
    .await
}

/// `certcentral download ORDER_ID | --certificate-id ID`.
pub async fn download(args: DownloadArgs, json_mode: bool) -> Result<Report, CliError> {
    if let Some(path) = &args.out {
        files::refuse_existing([path.as_path()])?;
    }
    let expected = match &args.key {
        Some(_) if args.format == DownloadFormat::P7b => {
            return Err(CliError::usage(
                "--key checks PEM certificates: use a pem_* --format with --key",
            ));
        }
        Some(path) => Some(certcentral_keys::keys::ExpectedKey::from_file(path)?),
        None => None,
    };
    let bytes = with_client(&args.api, async |client, _| {
        match (args.certificate_id, args.order_id) {
            (Some(id), _) => client.download_by_certificate(id, args.format).await,
            (None, Some(id)) => client.download_by_order(id, args.format).await,
            (None, None) => return Err(CliError::usage("give ORDER_ID or --certificate-id ID")),
        }
        .map_err(client_error)
    })
    .await?;
    if let Some(expected) = &expected {
        let chain = String::from_utf8_lossy(&bytes);
        certcentral_keys::keys::check_certificate_key(&chain, expected)?;
    }
    let mut result = json!({
        "order_id": args.order_id,
        "certificate_id": args.certificate_id,
        "format": args.format,
        "bytes": bytes.len(),
    });
    match &args.out {
        Some(path) => {
            files::create_new(path, &bytes)?;
            result["file"] = json!(path.display().to_string());
            Ok(Report::new(
                format!(
                    "wrote {} ({}, {} bytes)",
                    path.display(),
                    args.format,
                    bytes.len()
                ),
                result,
            ))
        }
        None if json_mode => {
            match String::from_utf8(bytes) {
                Ok(text) => result["content"] = json!(text),
                Err(_) => {
                    return Err(CliError::usage(
                        "this format is binary: use --out FILE with --json",
                    ));
                }
            }
            Ok(Report::new(String::new(), result))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| CliError::failed(format!("cannot write to standard output: {e}")))?;
            Ok(Report::new(String::new(), result))
        }
    }
}

/// `certcentral orders --common-name NAME`: recent orders for a person, e.g. to check whether
/// an order whose outcome was unknown exists.
pub async fn orders(args: OrdersArgs) -> Result<Report, CliError> {
    let since = args
        .since
        .unwrap_or_else(|| Utc::now() - chrono::Duration::hours(24));
    with_client(&args.api, async |client, _| {
        let found = client
            .find_recent_orders(
                args.product.as_str(),
                &args.common_name,
                &args.emails,
                since,
            )
            .await
            .map_err(client_error)?;
        let human = if found.is_empty() {
            format!(
                "no {} order for {:?} since {}",
                args.product,
                args.common_name,
                since.to_rfc3339()
            )
        } else {
            found
                .iter()
                .map(describe_order)
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(Report::new(human, json!({"orders": found})))
    })
    .await
}

fn describe_product(p: &ProductInfo) -> String {
    let mut out = format!("{}  {}", p.name_id, p.name.as_deref().unwrap_or(""));
    if let Some(product) = ProductId::from_wire(&p.name_id) {
        out.push_str(&format!(
            "\n  catalog              {}",
            product_summary(product)
        ));
        let status = match product.spec().status {
            Status::Current => "current".to_owned(),
            Status::Deprecated { since, replacement } => {
                format!("deprecated since {since}; order {replacement} instead")
            }
        };
        out.push_str(&format!("\n  status               {status}"));
    }
    if !p.allowed_validity_years.is_empty() {
        let years: Vec<String> = p
            .allowed_validity_years
            .iter()
            .map(i64::to_string)
            .collect();
        out.push_str(&format!("\n  validity years       {}", years.join(", ")));
    }
    if let Some(v) = p.csr_required {
        out.push_str(&format!("\n  csr required         {v}"));
    }
    if let Some(v) = p.custom_expiration_date_allowed {
        out.push_str(&format!("\n  custom expiration    {v}"));
    }
    if let Some(v) = p.allow_auto_renew {
        out.push_str(&format!("\n  auto renew           {v}"));
    }
    if let Some(hashes) = &p.signature_hash_types {
        let ids: Vec<&str> = hashes
            .allowed_hash_types
            .iter()
            .filter_map(|h| h.id.as_deref())
            .collect();
        if !ids.is_empty() {
            out.push_str(&format!("\n  signature hashes     {}", ids.join(", ")));
        }
    }
    out
}

/// A product's settings as the API reports them, plus the catalog's `status` and, for a
/// deprecated product, `deprecated_on` and `replacement`.
fn product_json(info: &ProductInfo) -> serde_json::Value {
    let mut value = json!(info);
    if let (Some(product), Some(obj)) = (ProductId::from_wire(&info.name_id), value.as_object_mut())
    {
        let status = product.spec().status;
        obj.insert("status".into(), json!(status.as_str()));
        if let Status::Deprecated { since, replacement } = status {
            obj.insert("deprecated_on".into(), json!(since));
            obj.insert("replacement".into(), json!(replacement.as_str()));
        }
    }
    value
}

/// `certcentral products`: the settings of every product of the catalog.
pub async fn products(args: ProductsArgs) -> Result<Report, CliError> {
    with_client(&args.api, async |client, _| {
        let mut infos = Vec::new();
        for product in ProductId::ALL {
            infos.push(client.product_info(*product).await.map_err(client_error)?);
        }
        let human = infos
            .iter()
            .map(describe_product)
            .collect::<Vec<_>>()
            .join("\n");
        let entries: Vec<serde_json::Value> = infos.iter().map(product_json).collect();
        Ok(Report::new(human, json!({"products": entries})))
    })
    .await
}

/// `certcentral product ID`.
pub async fn product(args: ProductArgs) -> Result<Report, CliError> {
    with_client(&args.api, async |client, _| {
        let info = client
            .product_info(args.product)
            .await
            .map_err(client_error)?;
        Ok(Report::new(describe_product(&info), product_json(&info)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_order_shows_what_a_secure_email_order_asked_for() {
        let info: OrderInfo = serde_json::from_value(json!({
            "id": 100002,
            "status": "issued",
            "product": {"name_id": "secure_email_sponsor"},
            "certificate": {
                "common_name": "Locke Cole",
                "emails": ["locke.cole@example.com"],
                "individual": {"first_name": "Locke", "last_name": "Cole"},
                "usage_designation": {"primary_usage": "signing", "additional_usages": ["non_repudiation"]},
                "profile_type": "strict"
            },
            "renewal_of_order_id": 100001,
            "is_renewed": true
        }))
        .unwrap();
        let text = describe_order(&info);
        for line in [
            "  person       Locke Cole",
            "  usage        signing, non_repudiation",
            "  profile      strict",
            "  renews       order 100001",
            "  renewed      yes",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
        let info: OrderInfo = serde_json::from_value(json!({
            "id": 1,
            "certificate": {"individual": {"pseudonym": "Blackjack"}}
        }))
        .unwrap();
        assert!(describe_order(&info).contains("  person       pseudonym Blackjack"));
    }
}
