//! Building the order body: from command-line flags or from a JSON file, always typed
//! ([`OrderRequest`]) and always validated with `certcentral-validate` before anything is sent.

use std::io::Read;
use std::path::PathBuf;

use certcentral_types::catalog::{PRODUCTS, Status};
use certcentral_types::{OrderBody, OrderRequest, ProductId, WireEnum};
use certcentral_validate::fields::{FieldError, Naming, OrderFields};
use certcentral_validate::{Context, MAX_ORDER_BODY_BYTES, Report};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde_json::Value;

use crate::error::{CliError, Failure};

/// The placeholder DigiCert's documentation puts in `certificate.csr`; an order file holding
/// it gets the locally generated CSR instead.
pub const CSR_PLACEHOLDER: &str = "<csr>";

/// The order body, as flags or as a file (`--order-file`); the two are exclusive.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct OrderFlags {
    /// A complete order body (JSON) instead of the flags below; `-` reads standard input.
    /// A `"csr": "<csr>"` placeholder (as in DigiCert's docs) or a missing `csr` gets the
    /// locally generated CSR.
    // Each field by id: a conflict with the `OrderFields` group would list all 19 flags in
    // the error instead of the ones given.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = [
        "common_name", "emails", "organization_units", "org_id", "container_id", "validity_years",
        "custom_expiration_date", "payment_method", "skip_approval", "auto_renew",
        "renewal_of_order_id", "custom_fields", "first_name", "last_name", "pseudonym",
        "cn_indicator", "usage", "additional_usages", "profile",
    ])]
    pub order_file: Option<String>,
    /// The order's fields, one flag each (`certcentral-validate`'s [`OrderFields`]).
    #[command(flatten)]
    pub fields: OrderFields,
}

/// One line about a catalog product: its name, family and status, e.g.
/// `Client Certificate: Premium (S/MIME)`.
pub fn product_summary(product: ProductId) -> String {
    let spec = product.spec();
    match spec.status {
        Status::Current => format!("{} ({})", spec.name, spec.family),
        Status::Deprecated { since, replacement } => format!(
            "{} ({}; deprecated since {since}, replaced by {replacement})",
            spec.name, spec.family
        ),
    }
}

/// The clap value parser of `--product` (and the bulk `product` column's values): the
/// catalog's products, each with its summary in `--help`.
pub fn product_parser() -> impl TypedValueParser<Value = ProductId> {
    PossibleValuesParser::new(
        PRODUCTS
            .iter()
            .map(|p| PossibleValue::new(p.id.as_str()).help(product_summary(p.id))),
    )
    .try_map(|s| {
        ProductId::from_wire(&s).ok_or_else(|| format!("allowed: {}", ProductId::allowed()))
    })
}

/// `--product`'s value for `validate` and `order`: a catalog product, or an id the catalog
/// does not know (DigiCert added it before certcentral did), which only `--allow-unknown`
/// lets through (see [`ProductChoice::refusal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProductChoice {
    /// A product of the catalog.
    Catalog(ProductId),
    /// An id the catalog does not know, as given.
    Unknown(String),
}

impl ProductChoice {
    /// The product id the order goes to (`POST /order/certificate/{id}`).
    pub fn as_str(&self) -> &str {
        match self {
            ProductChoice::Catalog(product) => product.as_str(),
            ProductChoice::Unknown(id) => id,
        }
    }

    /// The validation context of an order for this product ([`Context::for_product_id`]:
    /// an unknown id is [`Context::unknown_product`]).
    pub fn context(&self) -> Context {
        match self {
            ProductChoice::Catalog(product) => Context::new(*product),
            ProductChoice::Unknown(id) => Context::for_product_id(id),
        }
    }

    /// For an id the catalog does not know, the usage error `--product` gave before
    /// `--allow-unknown` existed, word for word (invalid value, the catalog's ids): what
    /// `validate` and `order` answer without `--allow-unknown`. `cmd` is the subcommand
    /// (built, so its usage line is right). `None` for a catalog product.
    pub fn refusal(&self, cmd: &clap::Command) -> Option<clap::Error> {
        let ProductChoice::Unknown(id) = self else {
            return None;
        };
        let arg = cmd.get_arguments().find(|a| a.get_id() == "product");
        product_parser()
            .parse_ref(cmd, arg, std::ffi::OsStr::new(id))
            .err()
    }
}

impl std::fmt::Display for ProductChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ProductId> for ProductChoice {
    fn from(product: ProductId) -> Self {
        ProductChoice::Catalog(product)
    }
}

/// The clap value parser of `validate`'s and `order`'s `--product`: [`product_parser`]'s
/// values (and `--help`), and any other non-empty value as [`ProductChoice::Unknown`], which
/// the command refuses unless `--allow-unknown` is given ([`ProductChoice::refusal`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProductChoiceParser;

impl TypedValueParser for ProductChoiceParser {
    type Value = ProductChoice;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ProductChoice, clap::Error> {
        match product_parser().parse_ref(cmd, arg, value) {
            Ok(product) => Ok(ProductChoice::Catalog(product)),
            Err(err) => match value.to_str() {
                Some(id) if !id.is_empty() => Ok(ProductChoice::Unknown(id.to_owned())),
                _ => Err(err),
            },
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(PRODUCTS.iter().map(|p| {
            PossibleValue::new(p.id.as_str()).help(product_summary(p.id))
        })))
    }
}

impl From<FieldError> for CliError {
    fn from(e: FieldError) -> Self {
        CliError::usage(e.message)
    }
}

impl OrderFlags {
    /// Builds `product`'s order body from the flags (`csr` left empty): the body its request
    /// profile takes ([`OrderFields::to_body`]). A flag the product forbids or ignores is a
    /// usage error naming the product's rule; a missing required flag is a usage error naming
    /// it.
    pub fn to_body(&self, product: ProductId) -> Result<OrderBody, CliError> {
        Ok(self.fields.to_body(product, Naming::Flags)?)
    }

    /// Builds the seed's order body from the flags (`csr` left empty). Fails with a usage
    /// error naming the missing flag, or a flag `product` forbids.
    pub fn to_request(&self, product: ProductId) -> Result<OrderRequest, CliError> {
        Ok(self.fields.to_request(product, Naming::Flags)?)
    }
}

/// Where an order file comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// `-` is standard input, anything else a path.
    pub fn parse(arg: &str) -> Self {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// Reads the whole input, at most [`MAX_ORDER_BODY_BYTES`]: a larger input (or an endless
    /// one such as `/dev/zero`) stops after that many bytes with a usage error; a folder is a
    /// usage error too.
    pub fn read(&self) -> Result<Vec<u8>, CliError> {
        match self {
            Source::Stdin => read_bounded(std::io::stdin().lock(), "standard input"),
            Source::File(path) => {
                let what = format!("order file {}", path.display());
                if path.is_dir() {
                    return Err(CliError::usage(format!(
                        "cannot read {what}: it is a folder, not a file"
                    )));
                }
                let file = std::fs::File::open(path)
                    .map_err(|e| CliError::usage(format!("cannot read {what}: {e}")))?;
                read_bounded(file, &what)
            }
        }
    }
}

/// Reads `reader` to its end, failing once more than [`MAX_ORDER_BODY_BYTES`] arrive.
fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    reader
        .take(MAX_ORDER_BODY_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::usage(format!("cannot read {what}: {e}")))?;
    if buf.len() > MAX_ORDER_BODY_BYTES {
        return Err(CliError::usage(format!(
            "{what} is larger than {} KiB: an order body is a few KiB at most, so this is not one",
            MAX_ORDER_BODY_BYTES / 1024
        )));
    }
    Ok(buf)
}

/// Turns a validation report with errors into the exit-1 failure that lists them all.
pub fn invalid(report: Report) -> CliError {
    CliError::Failed(Box::new(Failure {
        message: format!(
            "the order is invalid ({} error(s)); nothing was sent",
            report.errors.len()
        ),
        violations: report.errors,
        ..Failure::default()
    }))
}

/// An order file read: its typed body and, when it holds members the schema does not know
/// (allowed by [`Context::allow_unknown`]) or is for a product the catalog does not know, the
/// document as written, to be sent as given.
#[derive(Clone, Debug)]
pub struct OrderFile {
    /// The body, without the unknown members (names, emails and CSR are read from it).
    pub body: OrderBody,
    /// The document as written (placeholder CSR removed), when it has unknown members or is
    /// for an unknown product.
    pub as_given: Option<Value>,
}

/// `doc` without the members at `pointers` (JSON Pointers to object members).
fn without_members(mut doc: Value, pointers: &[&str]) -> Value {
    for pointer in pointers {
        let Some((parent, member)) = pointer.rsplit_once('/') else {
            continue;
        };
        let member = member.replace("~1", "/").replace("~0", "~");
        if let Some(object) = doc.pointer_mut(parent).and_then(Value::as_object_mut) {
            object.remove(&member);
        }
    }
    doc
}

/// Parses and validates an order file's bytes. A `csr` equal to [`CSR_PLACEHOLDER`] is
/// removed (the caller fills in a CSR). Every violation is reported at once.
pub fn parse_order_file(bytes: &[u8], ctx: &Context) -> Result<OrderBody, CliError> {
    read_order_file(bytes, ctx).map(|file| file.body)
}

/// [`parse_order_file`], keeping the document as written when [`Context::allow_unknown`]
/// let members the schema does not know through (`unknown_param` warnings, logged here), or
/// when the order is for a product the catalog does not know ([`Context::unknown_product`]:
/// the body is read as the known body [`certcentral_validate::body_kind`] names; the
/// `unknown_product` warning is logged here).
pub fn read_order_file(bytes: &[u8], ctx: &Context) -> Result<OrderFile, CliError> {
    let mut doc: Value = match serde_json::from_slice(bytes) {
        Ok(doc) => doc,
        Err(_) => return Err(invalid(certcentral_validate::validate_json(bytes, ctx))),
    };
    if let Some(cert) = doc.get_mut("certificate").and_then(Value::as_object_mut)
        && cert.get("csr").and_then(Value::as_str) == Some(CSR_PLACEHOLDER)
    {
        cert.remove("csr");
    }
    let report = certcentral_validate::validate_json(doc.to_string().as_bytes(), ctx);
    if !report.is_valid() {
        return Err(invalid(report));
    }
    use certcentral_validate::codes::{UNKNOWN_PARAM, UNKNOWN_PRODUCT};
    let unknown: Vec<&str> = report
        .warnings
        .iter()
        .filter(|w| w.code == UNKNOWN_PARAM)
        .map(|w| &*w.path)
        .collect();
    // An unknown product's order always goes as written (the client has no typed path for it).
    let as_given = (!unknown.is_empty() || ctx.unknown_product.is_some()).then(|| doc.clone());
    for warning in report
        .warnings
        .iter()
        .filter(|w| w.code == UNKNOWN_PARAM || w.code == UNKNOWN_PRODUCT)
    {
        tracing::warn!(path = %warning.path, code = %warning.code, "{}", warning.message);
    }
    let kind = certcentral_validate::body_kind(&doc, ctx);
    let body = OrderBody::from_value(kind, without_members(doc, &unknown)).map_err(|e| {
        CliError::failed(format!(
            "the order file does not match the order schema: {e}"
        ))
    })?;
    Ok(OrderFile { body, as_given })
}

/// Validates a complete order; errors become an exit-1 failure listing every violation.
/// Returns the report's warnings.
pub fn check(
    order: &OrderBody,
    ctx: &Context,
) -> Result<Vec<certcentral_validate::Violation>, CliError> {
    let report = certcentral_validate::validate_body(order, ctx);
    if report.is_valid() {
        Ok(report.warnings)
    } else {
        Err(invalid(report))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use certcentral_types::{CommonNameIndicator, PrimaryUsage, ProfileType};
    use chrono::NaiveDate;

    use super::*;

    fn flags() -> OrderFlags {
        OrderFlags {
            fields: OrderFields {
                common_name: Some("Locke Cole".parse().unwrap()),
                emails: vec!["locke.cole@example.com".into()],
                org_id: NonZeroU64::new(112233),
                ..OrderFields::default()
            },
            ..OrderFlags::default()
        }
    }

    #[test]
    fn flags_build_a_typed_order() {
        let order = flags()
            .to_request(ProductId::ClientAuthenticationPlus)
            .unwrap();
        insta::assert_json_snapshot!(order, @r#"
        {
          "certificate": {
            "common_name": "Locke Cole",
            "emails": [
              "locke.cole@example.com"
            ],
            "signature_hash": "sha256"
          },
          "organization": {
            "id": 112233
          },
          "payment_method": "balance",
          "skip_approval": false,
          "validity_years": 1
        }
        "#);
    }

    fn person() -> OrderFlags {
        OrderFlags {
            fields: OrderFields {
                first_name: Some("Locke".parse().unwrap()),
                last_name: Some("Cole".parse().unwrap()),
                emails: vec!["locke.cole@example.com".into()],
                org_id: NonZeroU64::new(112233),
                ..OrderFields::default()
            },
            ..OrderFlags::default()
        }
    }

    /// The issue's command line builds the contract's Secure Email body: the indicator is
    /// inferred from the names, the usage defaults to `dual_use`, and it validates.
    #[test]
    fn secure_email_flags_build_the_secure_email_body() {
        let product = ProductId::SecureEmailSponsor;
        let body = person().to_body(product).unwrap();
        insta::assert_json_snapshot!(body, @r#"
        {
          "certificate": {
            "common_name_indicator": "given_name_surname",
            "emails": [
              "locke.cole@example.com"
            ],
            "individual": {
              "first_name": "Locke",
              "last_name": "Cole"
            },
            "signature_hash": "sha256",
            "usage_designation": {
              "primary_usage": "dual_use"
            }
          },
          "organization": {
            "id": 112233
          },
          "payment_method": "balance",
          "skip_approval": false,
          "validity_years": 1
        }
        "#);
        assert!(certcentral_validate::validate_body(&body, &Context::new(product)).is_valid());
        // --pseudonym → pseudonym; nothing → email_address; an explicit one wins.
        let mut f = person();
        f.fields.first_name = None;
        f.fields.last_name = None;
        f.fields.pseudonym = Some("Locke".parse().unwrap());
        let OrderBody::SecureEmail(b) = f.to_body(product).unwrap() else {
            panic!()
        };
        assert_eq!(
            b.certificate.common_name_indicator,
            Some(CommonNameIndicator::Pseudonym)
        );
        f.fields.pseudonym = None;
        let OrderBody::SecureEmail(b) = f.to_body(ProductId::SecureEmailOrganization).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            b.certificate.common_name_indicator,
            Some(CommonNameIndicator::EmailAddress)
        );
        f.fields.cn_indicator = Some(CommonNameIndicator::OrganizationName);
        f.fields.usage = Some(PrimaryUsage::Signing);
        f.fields.profile = Some(ProfileType::Strict);
        f.fields.additional_usages = vec!["non_repudiation".into()];
        let OrderBody::SecureEmail(b) = f.to_body(ProductId::SecureEmailOrganization).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            b.certificate.common_name_indicator,
            Some(CommonNameIndicator::OrganizationName)
        );
        assert_eq!(b.certificate.profile_type, Some(ProfileType::Strict));
        assert_eq!(
            b.certificate.usage_designation.primary_usage,
            PrimaryUsage::Signing
        );
    }

    /// A flag the product forbids or ignores is a usage error naming the product's rule.
    #[test]
    fn flags_a_product_refuses_are_usage_errors() {
        let usage = |flags: OrderFlags, product: ProductId| {
            let err = flags.to_body(product).unwrap_err();
            assert_eq!(err.exit_code(), crate::exit::USAGE, "{err}");
            err.to_string()
        };
        let mut f = person();
        f.fields.common_name = Some("Locke Cole".parse().unwrap());
        let text = usage(f, ProductId::SecureEmailSponsor);
        assert!(
            text.contains("--common-name cannot be used with --product secure_email_sponsor"),
            "{text}"
        );
        assert!(
            text.contains("--first-name/--last-name or --pseudonym"),
            "{text}"
        );
        let text = usage(person(), ProductId::SecureEmailMailbox);
        assert!(
            text.contains("mailbox-validated certificate holds only the email address"),
            "{text}"
        );
        let mut f = flags();
        f.fields.usage = Some(PrimaryUsage::Signing);
        let text = usage(f, ProductId::ClientPremium);
        assert!(
            text.contains("--usage cannot be used with --product client_premium"),
            "{text}"
        );
        let text = usage(flags(), ProductId::Class1Smime);
        assert!(text.contains("first email address"), "{text}");
        let mut f = person();
        f.fields.cn_indicator = Some(CommonNameIndicator::EmailAddress);
        f.fields.common_name = Some("Locke Cole".parse().unwrap());
        let text = usage(f, ProductId::ClientPremium);
        assert!(
            text.contains("`given_name_surname` or `pseudonym`"),
            "{text}"
        );
        // The current legacy spellings take the person and infer the indicator.
        let mut f = person();
        f.fields.common_name = Some("Locke Cole".parse().unwrap());
        let body = f.to_body(ProductId::ClientPremium).unwrap();
        assert!(
            certcentral_validate::validate_body(&body, &Context::new(ProductId::ClientPremium))
                .is_valid()
        );
        // class1_smime: no common name needed.
        let mut f = flags();
        f.fields.common_name = None;
        assert!(f.to_body(ProductId::Class1Smime).is_ok());
    }

    #[test]
    fn custom_expiration_replaces_default_validity() {
        let mut f = flags();
        f.fields.custom_expiration_date = NaiveDate::from_ymd_opt(2027, 1, 1);
        let order = f.to_request(ProductId::ClientAuthenticationPlus).unwrap();
        assert_eq!(order.validity_years, None);
    }

    fn parse_with<P: TypedValueParser>(parser: P, text: &str) -> Result<P::Value, String> {
        parser
            .parse_ref(&clap::Command::new("t"), None, std::ffi::OsStr::new(text))
            .map_err(|err| err.to_string())
    }

    /// `--product` accepts exactly the catalog's products, and lists them when refused (the
    /// field flags' parsers are tested in `certcentral_validate::fields`).
    #[test]
    fn product_parser_comes_from_the_catalog() {
        for product in ProductId::ALL {
            assert_eq!(parse_with(product_parser(), product.as_str()), Ok(*product));
        }
        let err = parse_with(product_parser(), "ssl_plus").unwrap_err();
        for product in ProductId::ALL {
            assert!(err.contains(product.as_str()), "{err}");
        }
        assert!(
            product_summary(ProductId::ClientAuthenticationPlus).contains("Client authentication")
        );
    }

    /// `validate`'s and `order`'s `--product` takes any id (an unknown one as such); its
    /// refusal without `--allow-unknown` is the catalog parser's error, word for word.
    #[test]
    fn product_choice_takes_any_id_and_refuses_like_the_catalog_parser() {
        assert_eq!(
            parse_with(ProductChoiceParser, "secure_email_sponsor"),
            Ok(ProductChoice::Catalog(ProductId::SecureEmailSponsor))
        );
        assert_eq!(
            parse_with(ProductChoiceParser, "secure_email_individual"),
            Ok(ProductChoice::Unknown("secure_email_individual".into()))
        );
        assert!(parse_with(ProductChoiceParser, "").is_err());
        let mut cmd = clap::Command::new("t").arg(clap::Arg::new("product").long("product"));
        cmd.build();
        let strict = product_parser()
            .parse_ref(
                &cmd,
                cmd.get_arguments().next(),
                std::ffi::OsStr::new("ssl_basic"),
            )
            .unwrap_err()
            .to_string();
        let refusal = ProductChoice::Unknown("ssl_basic".into())
            .refusal(&cmd)
            .map(|e| e.to_string());
        assert_eq!(refusal.as_deref(), Some(strict.as_str()));
        assert!(
            ProductChoice::from(ProductId::ClientPremium)
                .refusal(&cmd)
                .is_none()
        );
        assert_eq!(
            ProductChoice::Unknown("x".into())
                .context()
                .product_name_id(),
            "x"
        );
    }

    #[test]
    fn order_bodies_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b'['; MAX_ORDER_BODY_BYTES + 1]).unwrap();
        let err = Source::File(big.clone()).read().unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::USAGE);
        assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
        std::fs::write(&big, vec![b' '; MAX_ORDER_BODY_BYTES]).unwrap();
        assert_eq!(
            Source::File(big).read().unwrap().len(),
            MAX_ORDER_BODY_BYTES
        );
        let err = Source::File(dir.path().to_path_buf()).read().unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        #[cfg(unix)]
        {
            let err = Source::parse("/dev/zero").read().unwrap_err();
            assert!(err.to_string().contains("larger than"), "{err}");
        }
    }

    #[test]
    fn order_file_placeholder_and_errors() {
        let ctx = Context::new(ProductId::ClientPremiumSha2);
        let seed =
            br#"{"certificate":{"common_name":"Lock Cole","emails":["locke.cole@example.com"],
            "signature_hash":"sha256","organization_units":["Accounting"],"csr":"<csr>"},
            "skip_approval":true,"organization":{"id":112233},"container":{"id":445566},
            "validity_years":1,"payment_method":"balance"}"#;
        let OrderBody::ClientCertificate(order) = parse_order_file(seed, &ctx).unwrap() else {
            panic!("the seed's body");
        };
        assert_eq!(order.certificate.csr, None);
        assert!(order.skip_approval);

        let err = parse_order_file(br#"{"certificate":{}}"#, &ctx).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        let text = err.render();
        assert!(
            text.contains("required_param:certificate.common_name"),
            "{text}"
        );
        assert!(text.contains("required_param:organization"), "{text}");

        let err = parse_order_file(b"{nope", &ctx).unwrap_err();
        assert!(
            err.render().contains("bad_request_format"),
            "{}",
            err.render()
        );
    }
}
