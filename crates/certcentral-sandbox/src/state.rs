//! In-memory state: orders, requests, certificates, counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use certcentral_types::catalog::signature_hash_name;
use certcentral_types::{
    HashType, NamedRef, OrderCertificate, OrderInfo, OrderRequest, OrderRequestInfo,
    OrderRequestRef, OrderResponse, OrderStatus, ProductId, ProductInfo, ProductRef, RequestStatus,
    SignatureHash, SignatureHashTypes, StatusChange,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use crate::ca::{CsrKey, IssuedCert, LeafSpec, TestCa};
use crate::limits::{FaultPlan, RateLimiter};
use crate::{Approval, SandboxOrder, Stats, lock};

/// First ids: orders, requests and certificates live in distinct ranges so that a client
/// mixing them up gets `not_found` instead of the wrong object.
const FIRST_ORDER_ID: i64 = 100_001;
const FIRST_REQUEST_ID: i64 = 200_001;
const FIRST_CERTIFICATE_ID: i64 = 300_001;

/// The note carried by orders placed without a CSR.
pub(crate) const NO_CSR_NOTE: &str = "no CSR was sent: the recipient generates the key and certificate in a browser, so this order stays pending and cannot be issued through the API";

/// Start-time settings.
#[derive(Clone)]
pub(crate) struct Config {
    pub api_key: String,
    pub approval: Approval,
    pub issue_delay: Duration,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub config: Config,
    pub ca: TestCa,
    pub store: Mutex<Store>,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultPlan>,
    pub stats: Mutex<Stats>,
}

impl Shared {
    pub(crate) fn new(config: Config, ca: TestCa, limiter: RateLimiter, faults: FaultPlan) -> Self {
        Self {
            config,
            ca,
            store: Mutex::new(Store::default()),
            limiter: Mutex::new(limiter),
            faults: Mutex::new(faults),
            stats: Mutex::new(Stats::default()),
        }
    }

    pub(crate) fn order_count(&self) -> usize {
        lock(&self.store).orders.len()
    }

    pub(crate) fn snapshot(&self) -> Vec<SandboxOrder> {
        let mut store = lock(&self.store);
        store.advance_all(&self.ca, Utc::now());
        store.orders.values().map(OrderRecord::snapshot).collect()
    }

    pub(crate) fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub(crate) fn record_status(&self, status: u16) {
        let mut stats = lock(&self.stats);
        stats.total += 1;
        *stats.by_status.entry(status).or_default() += 1;
    }

    pub(crate) fn record_drop(&self) {
        let mut stats = lock(&self.stats);
        stats.total += 1;
        stats.dropped += 1;
    }
}

/// One order.
#[derive(Debug)]
pub(crate) struct OrderRecord {
    pub id: i64,
    pub product: ProductId,
    pub order: OrderRequest,
    pub created: DateTime<Utc>,
    pub request_id: i64,
    pub request_status: RequestStatus,
    pub processor_comment: Option<String>,
    pub status: OrderStatus,
    pub status_changed: DateTime<Utc>,
    pub certificate_id: Option<i64>,
    pub key: Option<CsrKey>,
    /// When an approved order with a CSR becomes `issued`.
    pub issue_at: Option<DateTime<Utc>>,
    pub issued: Option<IssuedCert>,
    pub note: Option<String>,
}

/// What to record for a new order; ids are assigned by [`Store::insert`].
pub(crate) struct NewOrder {
    pub product: ProductId,
    pub order: OrderRequest,
    pub key: Option<CsrKey>,
    pub approved: bool,
    pub issue_delay: Duration,
    /// A certificate issued before taking the lock (approved, CSR, no delay).
    pub issued: Option<IssuedCert>,
    pub now: DateTime<Utc>,
}

/// The order store. Ids are assigned under the lock: unique and increasing.
#[derive(Debug)]
pub(crate) struct Store {
    next_order: i64,
    next_request: i64,
    next_certificate: i64,
    pub orders: BTreeMap<i64, OrderRecord>,
    by_request: HashMap<i64, i64>,
    by_certificate: HashMap<i64, i64>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            next_order: FIRST_ORDER_ID,
            next_request: FIRST_REQUEST_ID,
            next_certificate: FIRST_CERTIFICATE_ID,
            orders: BTreeMap::new(),
            by_request: HashMap::new(),
            by_certificate: HashMap::new(),
        }
    }
}

/// Why a state change was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChangeError {
    NotFound,
    WrongState(String),
}

pub(crate) fn delay(issue_delay: Duration) -> chrono::Duration {
    chrono::Duration::from_std(issue_delay).unwrap_or(chrono::Duration::MAX)
}

impl Store {
    /// Inserts a new order and returns its id.
    pub(crate) fn insert(&mut self, new: NewOrder) -> i64 {
        let id = self.next_order;
        self.next_order += 1;
        let request_id = self.next_request;
        self.next_request += 1;
        let has_key = new.key.is_some();
        let mut record = OrderRecord {
            id,
            product: new.product,
            order: new.order,
            created: new.now,
            request_id,
            request_status: RequestStatus::Pending,
            processor_comment: None,
            status: OrderStatus::NeedsApproval,
            status_changed: new.now,
            certificate_id: None,
            key: new.key,
            issue_at: None,
            issued: None,
            note: (!has_key).then(|| NO_CSR_NOTE.to_string()),
        };
        if new.approved {
            self.approve(&mut record, new.now, new.issue_delay);
            if let Some(cert) = new.issued {
                record.issued = Some(cert);
                record.status = OrderStatus::Issued;
            }
        }
        self.by_request.insert(request_id, id);
        self.orders.insert(id, record);
        id
    }

    fn approve(&mut self, record: &mut OrderRecord, now: DateTime<Utc>, issue_delay: Duration) {
        let certificate_id = self.next_certificate;
        self.next_certificate += 1;
        self.by_certificate.insert(certificate_id, record.id);
        record.request_status = RequestStatus::Approved;
        record.certificate_id = Some(certificate_id);
        record.status = OrderStatus::Pending;
        record.status_changed = now;
        if record.key.is_some() {
            record.issue_at = Some(
                now.checked_add_signed(delay(issue_delay))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            );
        }
    }

    /// Issues every order whose time has come.
    pub(crate) fn advance_all(&mut self, ca: &TestCa, now: DateTime<Utc>) {
        for record in self.orders.values_mut() {
            record.advance(ca, now);
        }
    }

    /// Looks an order up (after issuing it if its time has come).
    pub(crate) fn order(
        &mut self,
        ca: &TestCa,
        id: i64,
        now: DateTime<Utc>,
    ) -> Option<&OrderRecord> {
        let record = self.orders.get_mut(&id)?;
        record.advance(ca, now);
        Some(record)
    }

    /// The order holding a certificate id.
    pub(crate) fn order_by_certificate(
        &mut self,
        ca: &TestCa,
        certificate_id: i64,
        now: DateTime<Utc>,
    ) -> Option<&OrderRecord> {
        let id = *self.by_certificate.get(&certificate_id)?;
        self.order(ca, id, now)
    }

    /// Approves or rejects a pending request.
    pub(crate) fn decide(
        &mut self,
        request_id: i64,
        approve: bool,
        comment: Option<String>,
        now: DateTime<Utc>,
        issue_delay: Duration,
    ) -> Result<(), ChangeError> {
        let order_id = *self
            .by_request
            .get(&request_id)
            .ok_or(ChangeError::NotFound)?;
        let mut record = self.orders.remove(&order_id).ok_or(ChangeError::NotFound)?;
        let result = if record.request_status != RequestStatus::Pending {
            Err(ChangeError::WrongState(format!(
                "request {request_id} is already {}; only pending requests can be approved or rejected",
                record.request_status
            )))
        } else if record.status != OrderStatus::NeedsApproval {
            Err(ChangeError::WrongState(format!(
                "request {request_id} can no longer be approved or rejected: its order {} is {}",
                record.id, record.status
            )))
        } else {
            record.processor_comment = comment;
            if approve {
                self.approve(&mut record, now, issue_delay);
            } else {
                record.request_status = RequestStatus::Rejected;
                record.status = OrderStatus::Rejected;
                record.status_changed = now;
            }
            Ok(())
        };
        self.orders.insert(order_id, record);
        result
    }

    /// Cancels an order that is not issued yet.
    pub(crate) fn cancel(
        &mut self,
        ca: &TestCa,
        order_id: i64,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), ChangeError> {
        let record = self
            .orders
            .get_mut(&order_id)
            .ok_or(ChangeError::NotFound)?;
        record.advance(ca, now);
        match record.status {
            OrderStatus::NeedsApproval | OrderStatus::Pending => {
                record.status = OrderStatus::Canceled;
                record.status_changed = now;
                record.issue_at = None;
                if let Some(note) = note {
                    record.note = Some(note);
                }
                Ok(())
            }
            ref other => Err(ChangeError::WrongState(format!(
                "order {order_id} is {other}; only needs_approval or pending orders can be canceled"
            ))),
        }
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The product's `type` in product and order bodies: the group of the order endpoint.
const PRODUCT_TYPE: &str = "client_certificate";

/// `GET /product/{name_id}`: the catalog entry, as DigiCert shapes it.
pub(crate) fn product_info(product: ProductId) -> ProductInfo {
    let spec = product.spec();
    ProductInfo {
        name_id: product.to_string(),
        name: Some(spec.name.to_owned()),
        type_: Some(PRODUCT_TYPE.to_owned()),
        allowed_validity_years: spec.profile.validity_years.to_vec(),
        csr_required: Some(false),
        custom_expiration_date_allowed: Some(true),
        allow_auto_renew: Some(true),
        signature_hash_types: Some(SignatureHashTypes {
            allowed_hash_types: SignatureHash::ALL
                .iter()
                .map(|h| HashType {
                    id: Some(h.as_str().to_owned()),
                    name: Some(signature_hash_name(*h).to_owned()),
                })
                .collect(),
            default_hash_type_id: SignatureHash::ALL.first().map(|h| h.as_str().to_owned()),
        }),
    }
}

/// `GET /order/certificate/{id}` as the sandbox answers it: DigiCert's [`OrderInfo`] plus the
/// sandbox's own `sandbox_note` (why an order cannot progress), which lenient clients ignore.
#[derive(Debug, Serialize)]
pub(crate) struct SandboxOrderInfo {
    #[serde(flatten)]
    pub info: OrderInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_note: Option<String>,
}

impl OrderRecord {
    /// Issues the certificate once `issue_at` has passed.
    fn advance(&mut self, ca: &TestCa, now: DateTime<Utc>) {
        let (Some(issue_at), Some(key)) = (self.issue_at, self.key.as_ref()) else {
            return;
        };
        if self.status != OrderStatus::Pending || self.issued.is_some() || issue_at > now {
            return;
        }
        match ca.issue(&self.leaf_spec(issue_at), key) {
            Ok(cert) => {
                self.issued = Some(cert);
                self.status = OrderStatus::Issued;
                self.status_changed = issue_at;
            }
            Err(err) => {
                tracing::error!(order_id = self.id, %err, "sandbox could not issue a certificate");
                self.issue_at = None;
                self.note = Some(format!("the sandbox CA failed to issue: {err}"));
            }
        }
    }

    /// The leaf certificate's contents, issued at `at`.
    pub(crate) fn leaf_spec(&self, at: DateTime<Utc>) -> LeafSpec {
        leaf_spec(self.product, &self.order, at)
    }

    pub(crate) fn snapshot(&self) -> SandboxOrder {
        SandboxOrder {
            id: self.id,
            product: self.product,
            common_name: subject_name(&self.order),
            emails: self.order.certificate.emails.clone(),
            organization_units: self
                .order
                .certificate
                .organization_units
                .iter()
                .map(|ou| ou.to_string())
                .collect(),
            status: self.status.clone(),
            request_ids: vec![self.request_id],
            request_status: self.request_status.clone(),
            certificate_id: self.certificate_id,
            has_csr: self.key.is_some(),
            date_created: rfc3339(self.created),
        }
    }

    /// `POST` response: the seed's shape.
    pub(crate) fn created(&self) -> OrderResponse {
        OrderResponse {
            id: self.id,
            requests: vec![OrderRequestRef {
                id: self.request_id,
                status: Some(self.request_status.clone()),
            }],
            certificate_id: self.certificate_id,
            certificate_chain: Vec::new(),
            organization: None,
        }
    }

    /// `GET /order/certificate/{id}` (and list entries).
    pub(crate) fn info(&self) -> SandboxOrderInfo {
        let order = &self.order;
        let cert = &order.certificate;
        let issued = self.issued.as_ref();
        let info = OrderInfo {
            id: self.id,
            status: Some(self.status.clone()),
            certificate: Some(OrderCertificate {
                id: self.certificate_id,
                common_name: Some(subject_name(order)),
                emails: cert.emails.clone(),
                organization_units: cert
                    .organization_units
                    .iter()
                    .map(|ou| ou.to_string())
                    .collect(),
                signature_hash: Some(cert.signature_hash.to_string()),
                csr: cert.csr.clone(),
                serial_number: issued.map(|c| c.serial_hex.clone()),
                valid_from: issued.map(|c| c.valid_from.to_string()),
                valid_till: issued.map(|c| c.valid_till.to_string()),
            }),
            requests: vec![OrderRequestInfo {
                id: self.request_id,
                date: Some(rfc3339(self.created)),
                type_: Some("new_request".to_owned()),
                status: Some(self.request_status.clone()),
                processor_comment: self.processor_comment.clone(),
            }],
            product: Some(ProductRef {
                name_id: Some(self.product.to_string()),
                name: Some(self.product.spec().name.to_owned()),
                type_: Some(PRODUCT_TYPE.to_owned()),
            }),
            organization: Some(NamedRef {
                id: i64::try_from(order.organization.id.get()).unwrap_or(i64::MAX),
                name: None,
            }),
            container: order
                .container
                .as_ref()
                .and_then(|c| c.id)
                .map(|id| NamedRef {
                    id: i64::try_from(id.get()).unwrap_or(i64::MAX),
                    name: None,
                }),
            payment_method: Some(order.payment_method.to_string()),
            date_created: Some(rfc3339(self.created)),
            validity_years: order.validity_years.as_ref().map(|y| **y),
            custom_expiration_date: order.custom_expiration_date.map(|d| d.to_string()),
            skip_approval: Some(order.skip_approval),
            auto_renew: order.auto_renew,
            renewal_of_order_id: order
                .renewal_of_order_id
                .map(|id| i64::try_from(id.get()).unwrap_or(i64::MAX)),
        };
        SandboxOrderInfo {
            info,
            sandbox_note: self.note.clone(),
        }
    }

    /// `status-changes` entry.
    pub(crate) fn change(&self) -> StatusChange {
        StatusChange {
            order_id: self.id,
            certificate_id: self.certificate_id,
            status: Some(self.status.clone()),
        }
    }
}

/// The leaf certificate's contents for an order issued at `at`: validity from
/// `custom_expiration_date` or `validity_years` (default 1), ending 23:59:59 UTC.
pub(crate) fn leaf_spec(product: ProductId, order: &OrderRequest, at: DateTime<Utc>) -> LeafSpec {
    let today = at.date_naive();
    let last_day = order.custom_expiration_date.unwrap_or_else(|| {
        let years = order.validity_years.as_ref().map(|y| **y).unwrap_or(1);
        add_years(today, years)
    });
    LeafSpec {
        product,
        common_name: subject_name(order),
        organization_units: order
            .certificate
            .organization_units
            .iter()
            .map(|ou| ou.to_string())
            .collect(),
        organization_id: order.organization.id.get(),
        emails: order.certificate.emails.clone(),
        not_before: at,
        last_day,
    }
}

/// The subject common name of a legacy order: its `common_name`, or (for `class1_smime`,
/// which takes none) the first email address.
pub(crate) fn subject_name(order: &OrderRequest) -> String {
    match &order.certificate.common_name {
        Some(name) => name.to_string(),
        None => order
            .certificate
            .emails
            .first()
            .cloned()
            .unwrap_or_default(),
    }
}

/// A Secure Email order in the record shape the sandbox keeps (a stopgap until the sandbox
/// models Secure Email certificates itself): the common name follows
/// `common_name_indicator` ([`certcentral_types::OrderBody::subject_name`]),
/// and a mailbox order without organization is recorded under organization 1.
pub(crate) fn secure_email_record(
    body: certcentral_types::SecureEmailOrderRequest,
) -> OrderRequest {
    let name = certcentral_types::OrderBody::SecureEmail(body.clone()).subject_name();
    let cert = body.certificate;
    OrderRequest {
        auto_renew: None,
        certificate: certcentral_types::CertificateRequest {
            common_name: name.chars().take(64).collect::<String>().parse().ok(),
            common_name_indicator: None,
            csr: cert.csr,
            emails: cert.emails,
            individual: cert.individual,
            organization_units: Vec::new(),
            signature_hash: cert.signature_hash,
        },
        container: body.container,
        custom_expiration_date: body.custom_expiration_date,
        custom_fields: body.custom_fields,
        order_validity: None,
        organization: body
            .organization
            .unwrap_or(certcentral_types::OrganizationRef {
                id: std::num::NonZeroU64::MIN,
            }),
        organization_contact: Default::default(),
        payment_method: body.payment_method,
        renewal_of_order_id: body.renewal_of_order_id,
        skip_approval: body.skip_approval,
        validity_days: None,
        validity_years: body.validity_years,
    }
}

fn add_years(day: NaiveDate, years: i64) -> NaiveDate {
    let months = u32::try_from(years.clamp(0, 100) * 12).unwrap_or(12);
    day.checked_add_months(chrono::Months::new(months))
        .unwrap_or(day)
}
