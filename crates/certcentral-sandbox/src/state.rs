//! In-memory state: orders, requests, certificates, counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use certcentral_types::{OrderRequest, OrderStatus, ProductId, RequestStatus};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};

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

fn product_name(product: ProductId) -> &'static str {
    match product {
        ProductId::ClientPremiumSha2 => "Client Certificate: Premium",
        ProductId::ClientEmailSecurityPlus => "Client Certificate: Email Security Plus",
        ProductId::ClientAuthenticationPlus => "Client Certificate: Authentication Plus",
        ProductId::ClientDigitalSignaturePlusSha2 => "Client Certificate: Digital Signature Plus",
    }
}

/// `GET /product/{name_id}`.
pub(crate) fn product_json(product: ProductId) -> Value {
    json!({
        "name_id": product.to_string(),
        "name": product_name(product),
        "type": "client_certificate",
        "allowed_validity_years": [1, 2],
        "csr_required": false,
        "custom_expiration_date_allowed": true,
        "allow_auto_renew": true,
        "signature_hash_types": {
            "allowed_hash_types": [{"id": "sha256", "name": "SHA-256"}],
            "default_hash_type_id": "sha256"
        }
    })
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
            common_name: self.order.certificate.common_name.to_string(),
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
    pub(crate) fn created_json(&self) -> Value {
        let mut body = json!({
            "id": self.id,
            "requests": [{"id": self.request_id, "status": self.request_status.as_str()}],
        });
        if let (Some(certificate_id), Some(map)) = (self.certificate_id, body.as_object_mut()) {
            map.insert("certificate_id".into(), json!(certificate_id));
        }
        body
    }

    /// `GET /order/certificate/{id}` (and list entries).
    pub(crate) fn info_json(&self) -> Value {
        let order = &self.order;
        let cert = &order.certificate;
        let mut certificate = json!({
            "common_name": cert.common_name.to_string(),
            "emails": cert.emails,
            "organization_units": cert.organization_units.iter().map(|ou| ou.to_string()).collect::<Vec<_>>(),
            "signature_hash": cert.signature_hash.to_string(),
        });
        let mut request = json!({
            "id": self.request_id,
            "date": rfc3339(self.created),
            "type": "new_request",
            "status": self.request_status.as_str(),
        });
        if let (Some(comment), Some(map)) = (&self.processor_comment, request.as_object_mut()) {
            map.insert("processor_comment".into(), json!(comment));
        }
        if let Some(map) = certificate.as_object_mut() {
            if let Some(id) = self.certificate_id {
                map.insert("id".into(), json!(id));
            }
            if let Some(csr) = &cert.csr {
                map.insert("csr".into(), json!(csr));
            }
            if let Some(issued) = &self.issued {
                map.insert("serial_number".into(), json!(issued.serial_hex));
                map.insert("valid_from".into(), json!(issued.valid_from.to_string()));
                map.insert("valid_till".into(), json!(issued.valid_till.to_string()));
            }
        }
        let mut body = json!({
            "id": self.id,
            "status": self.status.as_str(),
            "certificate": certificate,
            "requests": [request],
            "product": {
                "name_id": self.product.to_string(),
                "name": product_name(self.product),
                "type": "client_certificate",
            },
            "organization": {"id": order.organization.id.get()},
            "payment_method": order.payment_method.to_string(),
            "date_created": rfc3339(self.created),
            "skip_approval": order.skip_approval,
        });
        if let Some(map) = body.as_object_mut() {
            if let Some(container) = order.container.as_ref().and_then(|c| c.id) {
                map.insert("container".into(), json!({"id": container.get()}));
            }
            if let Some(years) = &order.validity_years {
                map.insert("validity_years".into(), json!(**years));
            }
            if let Some(date) = order.custom_expiration_date {
                map.insert("custom_expiration_date".into(), json!(date.to_string()));
            }
            if let Some(renewals) = order.auto_renew {
                map.insert("auto_renew".into(), json!(renewals));
            }
            if let Some(previous) = order.renewal_of_order_id {
                map.insert("renewal_of_order_id".into(), json!(previous.get()));
            }
            if let Some(note) = &self.note {
                map.insert("sandbox_note".into(), json!(note));
            }
        }
        body
    }

    /// `status-changes` entry.
    pub(crate) fn change_json(&self) -> Value {
        let mut entry = json!({"order_id": self.id, "status": self.status.as_str()});
        if let (Some(certificate_id), Some(map)) = (self.certificate_id, entry.as_object_mut()) {
            map.insert("certificate_id".into(), json!(certificate_id));
        }
        entry
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
        common_name: order.certificate.common_name.to_string(),
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

fn add_years(day: NaiveDate, years: i64) -> NaiveDate {
    let months = u32::try_from(years.clamp(0, 100) * 12).unwrap_or(12);
    day.checked_add_months(chrono::Months::new(months))
        .unwrap_or(day)
}
