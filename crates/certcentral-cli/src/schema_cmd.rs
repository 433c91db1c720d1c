//! `certcentral schema`: print the bundled JSON Schema, so tools in other languages can
//! validate with the same rules.

use std::io::Write;

use certcentral_cli::request::product_parser;
use certcentral_types::{ProductId, schema};

/// Which schema document to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The order request body (and the other request bodies, under `$defs`).
    Request,
    /// The order response (and the other response bodies, under `$defs`).
    Response,
    /// The error body `{"errors":[{"code","message"}]}`.
    Error,
}

/// Arguments of `certcentral schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema to print.
    #[arg(value_enum, default_value = "request")]
    pub which: Which,
    /// With `request`: print the schema of this product's order body (its request profile's
    /// body joined with the product's own rules), the document certcentral validates with.
    #[arg(long, value_name = "ID", value_parser = product_parser())]
    pub product: Option<ProductId>,
}

/// The schema text for `which`, exactly as bundled.
pub fn text(which: Which) -> &'static str {
    match which {
        Which::Request => schema::ORDER_REQUEST,
        Which::Response => schema::ORDER_RESPONSE,
        Which::Error => schema::ERROR,
    }
}

/// Prints the schema; returns the exit code.
pub fn run(args: Args) -> u8 {
    let product_text = match (args.which, args.product) {
        (Which::Request, Some(product)) => Some(
            serde_json::to_string_pretty(&certcentral_validate::product_schema(product))
                .unwrap_or_default()
                + "\n",
        ),
        (_, Some(_)) => {
            let line = "error: --product applies to `certcentral schema request` only";
            crate::logging::stderr_line(crate::logging::Level::Error, line, line, None);
            return crate::exit::USAGE;
        }
        (_, None) => None,
    };
    let text = product_text.as_deref().unwrap_or(text(args.which));
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => crate::exit::OK,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => crate::exit::OK,
        Err(err) => {
            let line = format!("error: cannot write the schema: {err}");
            crate::logging::stderr_line(crate::logging::Level::Error, &line, &line, None);
            crate::exit::FAILED
        }
    }
}
