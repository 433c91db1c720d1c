//! After issuance: renew (a new paid order), reissue (new key, same order), revoke, and the
//! paged list of what expires.

use std::time::Duration;

use certcentral_types::catalog::BodyKind;
use certcentral_types::{
    OrderBody, OrderCertificate, OrderInfo, OrderRequest, OrderStatus, ProductId,
    ReissueCertificate, ReissueRequest, ReissueResponse, RevokeRequest, RevokeRequestInfo,
    WireEnum,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::Client;
use crate::endpoints::ListOrdersFilters;
use crate::error::{Error, UnknownOutcome};
use crate::order::{CLOCK_SKEW_ALLOWANCE, Order, ambiguous_outcome, parse_server_time};

/// What a revoke did.
#[derive(Clone, Debug, PartialEq)]
pub enum Revocation {
    /// A revoke request was created and waits for an approver
    /// (`PUT /request/{id}/status`, e.g. [`Client::update_request_status`]).
    Requested(RevokeRequestInfo),
    /// Revoked at once (`skip_approval` on an administrator key): the server answered nothing.
    Revoked,
    /// The answer was lost; looking the order up afterwards showed the revocation (or its
    /// request) in place, so it must not be sent again.
    Reconciled,
}

/// What to revoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeTarget {
    /// One certificate; the order stays active (`PUT /certificate/{id}/revoke`).
    Certificate(i64),
    /// Every certificate of the order, reissues included
    /// (`PUT /order/certificate/{id}/revoke`).
    Order(i64),
}

/// A renewal body ([`Order::renewal_body`]) built from an order's info: the members every
/// product takes, then those of the product's body kind.
struct Renewal<'a> {
    order: &'a Order,
    info: &'a OrderInfo,
    cert: &'a OrderCertificate,
    product: ProductId,
    /// The body's `certificate`.
    certificate: Value,
    /// The body, without its `certificate`.
    body: Value,
}

impl Renewal<'_> {
    /// The seed's body: the common name (unless the product takes none), departments and
    /// the organization.
    fn person_parts(&mut self) {
        if let Some(indicator) = &self.cert.common_name_indicator {
            self.certificate["common_name_indicator"] = json!(indicator);
        }
        if let Some(person) = &self.cert.individual {
            self.certificate["individual"] = serde_json::to_value(person).unwrap_or(Value::Null);
        }
    }

    /// The seed's body: the common name (unless the product takes none), departments and
    /// the organization.
    fn seed_parts(&mut self) -> Result<(), Error> {
        let cert = self.cert;
        // A product that takes no common name (`class1_smime`) gets none: its order info
        // shows the first email address there.
        let common_name =
            certcentral_validate::member_rule(self.product, "/certificate/common_name");
        if !matches!(common_name, certcentral_validate::MemberRule::Forbidden(_)) {
            self.certificate["common_name"] = json!(
                cert.common_name
                    .as_deref()
                    .ok_or_else(|| self.order.not_renewable("certificate.common_name"))?
            );
        }
        if !cert.organization_units.is_empty() {
            self.certificate["organization_units"] = json!(cert.organization_units);
        }
        let organization = self
            .info
            .organization
            .as_ref()
            .ok_or_else(|| self.order.not_renewable("organization"))?;
        self.body["organization"] = json!({"id": organization.id});
        Ok(())
    }

    /// The Secure Email body: the usage designation (`dual_use` when the order info has
    /// none), the profile type and the organization, when known.
    fn secure_email_parts(&mut self) {
        let usage = self.cert.usage_designation.clone().unwrap_or_default();
        let mut designation = json!({
            "primary_usage": usage.primary_usage.as_deref().unwrap_or("dual_use"),
        });
        if !usage.additional_usages.is_empty() {
            designation["additional_usages"] = json!(usage.additional_usages);
        }
        self.certificate["usage_designation"] = designation;
        if let Some(profile) = &self.cert.profile_type {
            self.certificate["profile_type"] = json!(profile);
        }
        if let Some(organization) = &self.info.organization {
            self.body["organization"] = json!({"id": organization.id});
        }
    }

    /// The body with the CSR, container and payment method.
    fn finish(mut self, csr: Option<&str>) -> Value {
        let info = self.info;
        if let Some(csr) = csr {
            self.certificate["csr"] = Value::String(csr.to_string());
        }
        self.body["certificate"] = self.certificate;
        if let Some(container) = &info.container {
            self.body["container"] = json!({"id": container.id});
        }
        if let Some(payment) = &info.payment_method {
            self.body["payment_method"] = Value::String(payment.clone());
        }
        self.body
    }
}

impl Order {
    /// The body of a renewal of this order, in the shape its product takes (the seed's body
    /// or the Secure Email body): the product and details of its order info (emails, signature
    /// hash, organization, container, validity, payment method; the common name and
    /// departments of a seed-shaped order; the common name indicator and person, and for a
    /// Secure Email product the usage designation and profile type), `csr` as the new key's
    /// CSR (`None`: the caller adds it later) and `renewal_of_order_id` set to this order.
    /// `product` replaces the original's product (a deprecated one's replacement); a Secure
    /// Email product whose order info has no usage designation gets `dual_use` (sign and
    /// encrypt mail, the CLI's default).
    ///
    /// Needs the order info ([`Order::refresh`] or [`Client::order`]); a detail missing from
    /// it is an error naming the field, found before anything is sent.
    pub fn renewal_body(
        &self,
        csr: Option<&str>,
        product: Option<ProductId>,
    ) -> Result<(ProductId, OrderBody), Error> {
        let info = self.info().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "order {}: the order details are needed to renew it; refresh the order first",
                self.id()
            ))
        })?;
        let product = match product {
            Some(product) => product,
            None => self.renewal_product(info)?,
        };
        let cert = info
            .certificate
            .as_ref()
            .ok_or_else(|| self.not_renewable("certificate"))?;
        let mut renewal = Renewal {
            order: self,
            info,
            cert,
            product,
            certificate: json!({
                "emails": cert.emails,
                "signature_hash": cert.signature_hash.as_deref().unwrap_or("sha256"),
            }),
            body: json!({
                "validity_years": info.validity_years.unwrap_or(1),
                "renewal_of_order_id": info.id,
            }),
        };
        renewal.person_parts();
        let kind = product.spec().profile.body;
        match kind {
            BodyKind::ClientCertificate => renewal.seed_parts()?,
            BodyKind::SecureEmail => renewal.secure_email_parts(),
        }
        let body = renewal.finish(csr);
        let body = OrderBody::from_value(kind, body).map_err(|err| {
            Error::InvalidArgument(format!(
                "order {}: its details do not make a valid renewal order for {product}: {err}",
                self.id()
            ))
        })?;
        Ok((product, body))
    }

    /// The product of the order info, when this version knows it.
    fn renewal_product(&self, info: &OrderInfo) -> Result<ProductId, Error> {
        let name = info
            .product
            .as_ref()
            .and_then(|p| p.name_id.as_deref())
            .ok_or_else(|| self.not_renewable("product.name_id"))?;
        name.parse::<ProductId>().map_err(|_| {
            Error::InvalidArgument(format!(
                "order {} is for product {name:?}, which is not a client certificate \
                 product this version knows; allowed: {}",
                self.id(),
                ProductId::allowed()
            ))
        })
    }

    /// The error of a renewal whose order info lacks `field`.
    fn not_renewable(&self, field: &str) -> Error {
        Error::InvalidArgument(format!(
            "order {} cannot be renewed: its order info has no {field}",
            self.id()
        ))
    }

    /// [`Order::renewal_body`] for a product that takes the seed's body; a product taking
    /// the Secure Email body is an error (use [`Order::renewal_body`]).
    pub fn renewal_request(
        &self,
        csr: Option<&str>,
        product: Option<ProductId>,
    ) -> Result<(ProductId, OrderRequest), Error> {
        match self.renewal_body(csr, product)? {
            (product, OrderBody::ClientCertificate(request)) => Ok((product, request)),
            (product, OrderBody::SecureEmail(_)) => Err(Error::InvalidArgument(format!(
                "{product} takes the Secure Email order body: renew it with renewal_body"
            ))),
        }
    }

    /// Renews this order: a new, paid order (see [`Order::renewal_body`]) with the new key's
    /// `csr`, placed with [`Client::order_certificate`] and its rules: validated first,
    /// never retried once it may have reached the server; an ambiguous outcome is
    /// [`Error::OutcomeUnknown`] (reconcile with [`Client::reconcile`] before renewing again).
    pub async fn renew(&mut self, csr: &str, product: Option<ProductId>) -> Result<Order, Error> {
        if self.info().is_none() {
            self.refresh().await?;
        }
        let (product, body) = self.renewal_body(Some(csr), product)?;
        self.client().order_certificate(product, &body).await
    }

    /// Reissues the certificate with a new key (`csr`) on the same order: not paid, but not
    /// idempotent either (a second call asks for a second reissue). The body repeats the
    /// order's common name, emails, departments and signature hash (fetched when the handle
    /// has no details). When the answer is lost the order is looked up: a reissue request made
    /// since the call (or a new certificate) counts as done; otherwise the result is
    /// [`Error::OutcomeUnknown`].
    pub async fn reissue(&mut self, csr: &str) -> Result<ReissueResponse, Error> {
        let before = self.refresh().await?.clone();
        let cert = before.certificate.clone().unwrap_or_default();
        let body = ReissueRequest {
            certificate: ReissueCertificate {
                csr: csr.parse().map_err(|err| {
                    Error::InvalidArgument(format!("the reissue CSR is invalid: {err}"))
                })?,
                common_name: cert.common_name.as_deref().and_then(|cn| cn.parse().ok()),
                emails: cert.emails.clone(),
                organization_units: cert.organization_units.clone(),
                signature_hash: cert.signature_hash.clone(),
            },
            skip_approval: None,
        };
        let sent_at = Utc::now();
        let error = match self.client().raw_reissue(self.id(), &body).await {
            Ok(response) => {
                self.refresh().await.ok();
                return Ok(response);
            }
            Err(err) => ambiguous_outcome(err)?,
        };
        let after = self.refresh().await?.clone();
        let new_request = new_request_since(&after, &before, "reissue", sent_at);
        let new_certificate = after.certificate.as_ref().and_then(|c| c.id) != cert.id;
        if new_request.is_some() || new_certificate {
            return Ok(ReissueResponse {
                id: after.id,
                requests: new_request.into_iter().collect(),
                certificate_id: after.certificate.as_ref().and_then(|c| c.id),
                certificate_chain: Vec::new(),
            });
        }
        Err(unknown_for(&after, sent_at, error, "reissue"))
    }

    /// Revokes every certificate of this order (see [`Client::revoke`]).
    pub async fn revoke(
        &mut self,
        comment: Option<&str>,
        skip_approval: bool,
    ) -> Result<Revocation, Error> {
        let outcome = self
            .client()
            .revoke(RevokeTarget::Order(self.id()), comment, skip_approval)
            .await?;
        self.refresh().await.ok();
        Ok(outcome)
    }

    /// Revokes the order's current certificate only; the order stays active (see
    /// [`Client::revoke`]).
    pub async fn revoke_certificate(
        &mut self,
        comment: Option<&str>,
        skip_approval: bool,
    ) -> Result<Revocation, Error> {
        if self.certificate_id().is_none() {
            self.refresh().await?;
        }
        let id = self.certificate_id().ok_or_else(|| {
            Error::InvalidArgument(format!("order {} has no certificate to revoke", self.id()))
        })?;
        let outcome = self
            .client()
            .revoke(RevokeTarget::Certificate(id), comment, skip_approval)
            .await?;
        self.refresh().await.ok();
        Ok(outcome)
    }
}

/// A request of `kind` in `after` that `before` did not have, dated at or after `since` (less
/// [`CLOCK_SKEW_ALLOWANCE`]; an undated one counts).
fn new_request_since(
    after: &OrderInfo,
    before: &OrderInfo,
    kind: &str,
    since: DateTime<Utc>,
) -> Option<certcentral_types::OrderRequestRef> {
    let not_before = since - chrono::Duration::from_std(CLOCK_SKEW_ALLOWANCE).unwrap_or_default();
    after
        .requests
        .iter()
        .filter(|r| r.type_.as_deref() == Some(kind))
        .filter(|r| before.requests.iter().all(|b| b.id != r.id))
        .find(|r| {
            r.date
                .as_deref()
                .and_then(parse_server_time)
                .is_none_or(|at| at >= not_before)
        })
        .map(|r| certcentral_types::OrderRequestRef {
            id: r.id,
            status: r.status.clone(),
        })
}

fn unknown_for(
    info: &OrderInfo,
    sent_at: DateTime<Utc>,
    (status, cause): (Option<u16>, String),
    what: &str,
) -> Error {
    let cert = info.certificate.clone().unwrap_or_default();
    let product = info
        .product
        .as_ref()
        .and_then(|p| p.name_id.clone())
        .unwrap_or_default();
    Error::OutcomeUnknown(Box::new(UnknownOutcome {
        product,
        common_name: cert.common_name.unwrap_or_default(),
        emails: cert.emails,
        sent_at,
        status,
        cause: format!(
            "{what} of order {}: {cause}; the order shows no {what} yet, look again before \
             asking again",
            info.id
        ),
    }))
}

/// Page size of [`Expiring`].
const EXPIRING_PAGE: i64 = 100;

/// The orders whose certificate ends within a window, one page at a time (see
/// [`Client::expiring`]).
#[derive(Debug)]
pub struct Expiring {
    client: Client,
    filters: ListOrdersFilters,
    offset: i64,
    done: bool,
}

impl Expiring {
    /// The next page (sorted by `valid_till`, soonest first), or `None` once every page was
    /// read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<OrderInfo>>, Error> {
        if self.done {
            return Ok(None);
        }
        self.filters.offset = Some(self.offset);
        let page = self.client.list_orders(&self.filters).await?;
        let count = page.orders.len() as i64;
        self.offset += count;
        let total = page.page.as_ref().and_then(|p| p.total);
        if count == 0 || count < EXPIRING_PAGE || total.is_some_and(|t| self.offset >= t) {
            self.done = true;
        }
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(page.orders))
    }

    /// Every remaining page, concatenated.
    pub async fn collect_all(mut self) -> Result<Vec<OrderInfo>, Error> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }
}

impl Client {
    /// Revokes a certificate or every certificate of an order. Cannot be undone: callers show
    /// what will be revoked first. Without `skip_approval` (or with a key that is not an
    /// administrator's) the answer is a pending revoke request ([`Revocation::Requested`]).
    ///
    /// Not retried once it may have reached the server: when the answer is lost the order is
    /// looked up, and a revoke request made since the call or a revoked order counts as done
    /// ([`Revocation::Reconciled`]); otherwise the result is [`Error::OutcomeUnknown`].
    pub async fn revoke(
        &self,
        target: RevokeTarget,
        comment: Option<&str>,
        skip_approval: bool,
    ) -> Result<Revocation, Error> {
        let body = RevokeRequest {
            comments: comment.map(str::to_string),
            skip_approval: skip_approval.then_some(true),
        };
        // The order, before: to tell a new revoke request from an old one afterwards.
        let order_id = match target {
            RevokeTarget::Order(id) => Some(id),
            RevokeTarget::Certificate(_) => None,
        };
        let before = match order_id {
            Some(id) => Some(self.order_info(id).await?),
            None => None,
        };
        let sent_at = Utc::now();
        let result = match target {
            RevokeTarget::Certificate(id) => self.revoke_certificate(id, &body).await,
            RevokeTarget::Order(id) => self.revoke_order(id, &body).await,
        };
        let error = match result {
            Ok(Some(request)) => return Ok(Revocation::Requested(request)),
            Ok(None) => return Ok(Revocation::Revoked),
            Err(err) => ambiguous_outcome(err)?,
        };
        if let (Some(id), Some(before)) = (order_id, before) {
            let after = self.order_info(id).await?;
            if after.status == Some(OrderStatus::Revoked)
                || new_request_since(&after, &before, "revoke", sent_at).is_some()
            {
                return Ok(Revocation::Reconciled);
            }
            return Err(unknown_for(&after, sent_at, error, "revocation"));
        }
        Err(Error::OutcomeUnknown(Box::new(UnknownOutcome {
            product: String::new(),
            common_name: String::new(),
            emails: Vec::new(),
            sent_at,
            status: error.0,
            cause: format!(
                "revocation of {target:?}: {}; check the certificate before asking again",
                error.1
            ),
        })))
    }

    /// Orders whose certificate ends within `within` from now (by the local clock), not
    /// renewed yet, soonest first; read page by page with [`Expiring::next_page`]. Uses the
    /// list filters `valid_till` (`<=` the window's last day), `is_renewed=false` and
    /// `status=issued` (which includes expired orders), sorted by `valid_till`.
    pub fn expiring(&self, within: Duration) -> Expiring {
        self.expiring_at(within, Utc::now(), false)
    }

    /// [`Client::expiring`] with an explicit `now`, and renewed orders too when
    /// `include_renewed`.
    pub fn expiring_at(
        &self,
        within: Duration,
        now: DateTime<Utc>,
        include_renewed: bool,
    ) -> Expiring {
        let last_day = (now + chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX))
            .date_naive();
        Expiring {
            client: self.clone(),
            filters: ListOrdersFilters {
                status: Some(OrderStatus::Issued),
                valid_till: Some(format!("<={last_day}")),
                is_renewed: (!include_renewed).then_some(false),
                sort: Some("valid_till".to_string()),
                limit: Some(EXPIRING_PAGE),
                ..ListOrdersFilters::default()
            },
            offset: 0,
            done: false,
        }
    }
}
