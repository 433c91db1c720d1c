//! `certcentral schema`: print the bundled JSON Schema, so tools in other languages can
//! validate with the same rules.

use std::io::Write;

use certcentral_types::schema;

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
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text(args.which).as_bytes())
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
