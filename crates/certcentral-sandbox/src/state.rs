//! In-memory state: orders, requests, certificates, counters.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use certcentral_types::catalog::BodyKind;
use certcentral_types::catalog::signature_hash_name;
use certcentral_types::{
    ChainCertificate, EmailValidation, EmailValidationEntry, HashType, NamedRef, OrderBody,
    OrderCertificate, OrderCertificateIndividual, OrderCertificateUsageDesignation, OrderInfo,
    OrderRequestInfo, OrderRequestRef, OrderResponse, OrderStatus, ProductId, ProductInfo,
    ProductRef, RequestStatus, SignatureHash, SignatureHashTypes, StatusChange,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::ca::{CertContents, CsrKey, IssuedCert, LeafSpec, RevokedSerial, TestCa, pem_cert};
use crate::limits::{FaultPlan, RateLimiter};
use crate::{Approval, KeyRole, SandboxOrder, Stats, lock};

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
    pub email_validation: crate::EmailValidation,
    pub chain_in_response: bool,
    pub key_role: KeyRole,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub config: Config,
    pub ca: TestCa,
    pub store: Mutex<Store>,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultPlan>,
    pub stats: Mutex<Stats>,
    /// Added to the real time: the sandbox's "now" (`POST /_sandbox/clock`, `--now`).
    pub clock_offset: Mutex<chrono::Duration>,
    /// Where the state is kept between runs, if anywhere.
    pub state_file: Option<crate::persist::StateFile>,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        ca: TestCa,
        limiter: RateLimiter,
        faults: FaultPlan,
        persisted: Option<(crate::persist::StateFile, Option<Store>)>,
    ) -> Self {
        let (state_file, store) = match persisted {
            Some((file, store)) => (Some(file), store.unwrap_or_default()),
            None => (None, Store::default()),
        };
        Self {
            state_file,
            config,
            ca,
            store: Mutex::new(store),
            limiter: Mutex::new(limiter),
            faults: Mutex::new(faults),
            stats: Mutex::new(Stats::default()),
            clock_offset: Mutex::new(chrono::Duration::zero()),
        }
    }

    /// The sandbox's current time: the real time plus the clock offset.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = *lock(&self.clock_offset);
        Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Sets the clock offset.
    pub(crate) fn set_clock_offset(&self, offset: chrono::Duration) {
        *lock(&self.clock_offset) = offset;
        self.persist();
    }

    /// Writes what changed since the last write to the state file, when there is one.
    pub(crate) fn persist(&self) {
        if let Some(file) = &self.state_file {
            let offset = lock(&self.clock_offset).num_seconds();
            let mut store = lock(&self.store);
            file.save(&mut store, offset);
        }
    }

    pub(crate) fn order_count(&self) -> usize {
        lock(&self.store).orders().len()
    }

    pub(crate) fn snapshot(&self) -> Vec<SandboxOrder> {
        let mut store = lock(&self.store);
        store.advance_all(&self.ca, self.now());
        store.orders().values().map(OrderRecord::snapshot).collect()
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
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    pub id: i64,
    pub product: ProductId,
    /// The order as it was ordered, in its request profile's shape.
    #[serde(deserialize_with = "crate::body::deserialize")]
    pub order: OrderBody,
    /// What the certificate will hold (from the request JSON, at creation).
    pub contents: CertContents,
    pub created: DateTime<Utc>,
    pub request_id: i64,
    pub request_status: RequestStatus,
    pub processor_comment: Option<String>,
    pub status: OrderStatus,
    pub status_changed: DateTime<Utc>,
    pub certificate_id: Option<i64>,
    /// Rebuilt from the order's CSR when a state file is loaded, for an order not issued yet
    /// ([`Store::after_load`]; an issued order needs it no more).
    #[serde(skip)]
    pub key: Option<CsrKey>,
    /// When an approved order with a CSR becomes `issued`.
    pub issue_at: Option<DateTime<Utc>>,
    pub issued: Option<IssuedCert>,
    /// When the current certificate was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Each email address and when its control was proven (`None`: not yet).
    pub mailboxes: Vec<Mailbox>,
    /// The order that renews this one (`renewal_of_order_id` pointing here).
    pub renewed_by: Option<i64>,
    /// Earlier certificates of the order, replaced by reissues (oldest first).
    pub past: Vec<PastCertificate>,
    /// A reissue waiting for approval.
    pub reissue: Option<PendingReissue>,
    /// Reissue and revoke requests of the order, for its `requests` list.
    pub other_requests: Vec<OrderRequestInfo>,
}

/// One email address of an order and its validation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Mailbox {
    pub email: String,
    pub validated: Option<DateTime<Utc>>,
}

/// A certificate of an order replaced by a reissue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PastCertificate {
    pub id: i64,
    pub issued: IssuedCert,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A decision on a pending request ([`Store::decide`]).
#[derive(Debug)]
pub(crate) struct Decision {
    pub request_id: i64,
    /// Approved (else rejected).
    pub approve: bool,
    /// The processor's comment.
    pub comment: Option<String>,
    pub now: DateTime<Utc>,
}

/// A reissue asked for ([`Store::reissue`]): the new key and its CSR.
#[derive(Debug)]
pub(crate) struct ReissueAsk {
    pub key: CsrKey,
    pub csr: String,
    /// Approved at once (`skip_approval`, or the sandbox approves automatically).
    pub approved: bool,
}

/// A reissue waiting for approval.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PendingReissue {
    pub request_id: i64,
    /// Rebuilt from `csr` when a state file is loaded.
    #[serde(skip)]
    pub key: Option<CsrKey>,
    pub csr: String,
}

/// What a revoke request revokes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RevokeTarget {
    /// One certificate (`PUT /certificate/{id}/revoke`).
    Certificate(i64),
    /// Every certificate of an order (`PUT /order/certificate/{id}/revoke`).
    Order(i64),
}

/// A revoke request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RevokeRecord {
    pub id: i64,
    pub order_id: i64,
    pub target: RevokeTarget,
    pub comments: Option<String>,
    pub status: RequestStatus,
    pub date: DateTime<Utc>,
}

/// What to record for a new order; ids are assigned by [`Store::insert`].
pub(crate) struct NewOrder {
    pub product: ProductId,
    pub order: OrderBody,
    pub contents: CertContents,
    pub key: Option<CsrKey>,
    pub approved: bool,
    pub issue_delay: Duration,
    /// A certificate issued before taking the lock (approved, CSR, no delay, emails
    /// validated).
    pub issued: Option<IssuedCert>,
    /// Whether the email addresses are validated at creation (else they wait for
    /// `POST /_sandbox/orders/{id}/validate-emails`).
    pub emails_validated: bool,
    pub now: DateTime<Utc>,
}

/// The order store. Ids are assigned under the lock: unique and increasing. A state file
/// (`persist.rs`) keeps each order and revoke request in a row of its own and the counters in
/// another; the store remembers which of them changed since the last write ([`Changes`]), so
/// that a request writes only what it changed. The indexes are rebuilt from the orders
/// ([`Store::from_parts`]).
#[derive(Debug)]
pub(crate) struct Store {
    next_order: i64,
    next_request: i64,
    next_certificate: i64,
    /// Changed only through [`Store::order_mut`] (or where the change is recorded).
    orders: BTreeMap<i64, OrderRecord>,
    by_request: HashMap<i64, i64>,
    by_certificate: HashMap<i64, i64>,
    /// Reissue request id -> order id.
    reissue_requests: HashMap<i64, i64>,
    /// Revoke requests by id.
    revoke_requests: BTreeMap<i64, RevokeRecord>,
    /// How many CRLs were published (the next CRL number).
    crl_count: u64,
    /// What changed since the state file was last written.
    changes: Changes,
}

/// What changed in a [`Store`] since the state file was last written.
#[derive(Debug, Default)]
struct Changes {
    orders: BTreeSet<i64>,
    revoke_requests: BTreeSet<i64>,
    counters: bool,
}

/// The id counters and the CRL number of a [`Store`]: the state file's `counters` row (and
/// what a reset keeps of it).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct IdCounters {
    next_order: i64,
    next_request: i64,
    next_certificate: i64,
    #[serde(default)]
    crl_count: u64,
}

/// The whole store as the first state files kept it, in one JSON row (`store`); read once, to
/// migrate the file (the indexes it also held are rebuilt from the orders).
#[derive(Debug, Deserialize)]
pub(crate) struct StoreV1 {
    next_order: i64,
    next_request: i64,
    next_certificate: i64,
    orders: BTreeMap<i64, OrderRecord>,
    #[serde(default)]
    revoke_requests: BTreeMap<i64, RevokeRecord>,
    #[serde(default)]
    crl_count: u64,
}

/// The rows of a store that changed, serialized (`None`: the row is to be removed).
#[derive(Debug, Default)]
pub(crate) struct ChangedRows {
    pub orders: Vec<(i64, Option<String>)>,
    pub revoke_requests: Vec<(i64, Option<String>)>,
    pub counters: Option<String>,
}

impl Store {
    /// An empty store whose ids continue after `counters` (a reset never reuses an id; the
    /// CRL numbers of the new CA start again).
    pub(crate) fn continuing(counters: IdCounters) -> Self {
        Self {
            next_order: counters.next_order.max(FIRST_ORDER_ID),
            next_request: counters.next_request.max(FIRST_REQUEST_ID),
            next_certificate: counters.next_certificate.max(FIRST_CERTIFICATE_ID),
            ..Self::default()
        }
    }

    /// The store held by a state file: its counters, orders and revoke requests. Rebuilds the
    /// indexes and what [`Store::after_load`] rebuilds; nothing is marked as changed.
    pub(crate) fn from_parts(
        counters: IdCounters,
        orders: impl IntoIterator<Item = OrderRecord>,
        revoke_requests: impl IntoIterator<Item = RevokeRecord>,
    ) -> Self {
        let mut store = Self {
            crl_count: counters.crl_count,
            ..Self::continuing(counters)
        };
        for record in orders {
            store.by_request.insert(record.request_id, record.id);
            for id in record
                .certificate_id
                .into_iter()
                .chain(record.past.iter().map(|p| p.id))
            {
                store.by_certificate.insert(id, record.id);
            }
            for request in &record.other_requests {
                if request.type_.as_deref() == Some(REISSUE) {
                    store.reissue_requests.insert(request.id, record.id);
                }
            }
            store.orders.insert(record.id, record);
        }
        store.revoke_requests = revoke_requests.into_iter().map(|r| (r.id, r)).collect();
        store.after_load();
        store
    }

    /// The store of a first-layout state file; every row is marked as changed, so the next
    /// write stores all of it in the current layout.
    pub(crate) fn from_v1(v1: StoreV1) -> Self {
        let counters = IdCounters {
            next_order: v1.next_order,
            next_request: v1.next_request,
            next_certificate: v1.next_certificate,
            crl_count: v1.crl_count,
        };
        let mut store = Self::from_parts(
            counters,
            v1.orders.into_values(),
            v1.revoke_requests.into_values(),
        );
        store.changes = Changes {
            orders: store.orders.keys().copied().collect(),
            revoke_requests: store.revoke_requests.keys().copied().collect(),
            counters: true,
        };
        store
    }

    /// The counters as stored.
    pub(crate) fn counters(&self) -> IdCounters {
        IdCounters {
            next_order: self.next_order,
            next_request: self.next_request,
            next_certificate: self.next_certificate,
            crl_count: self.crl_count,
        }
    }

    /// Every order by id (to change one: [`Store::order_mut`]).
    pub(crate) fn orders(&self) -> &BTreeMap<i64, OrderRecord> {
        &self.orders
    }

    /// An order to change; it is written with the next write of the state file.
    fn order_mut(&mut self, id: i64) -> Option<&mut OrderRecord> {
        let record = self.orders.get_mut(&id)?;
        self.changes.orders.insert(id);
        Some(record)
    }

    /// Whether anything changed since the state file was last written.
    pub(crate) fn has_changes(&self) -> bool {
        let c = &self.changes;
        c.counters || !c.orders.is_empty() || !c.revoke_requests.is_empty()
    }

    /// The changed rows, serialized.
    pub(crate) fn changed_rows(&self) -> Result<ChangedRows, serde_json::Error> {
        let c = &self.changes;
        Ok(ChangedRows {
            orders: c
                .orders
                .iter()
                .map(|id| {
                    Ok((
                        *id,
                        self.orders.get(id).map(serde_json::to_string).transpose()?,
                    ))
                })
                .collect::<Result<_, serde_json::Error>>()?,
            revoke_requests: c
                .revoke_requests
                .iter()
                .map(|id| {
                    let row = self.revoke_requests.get(id).map(serde_json::to_string);
                    Ok((*id, row.transpose()?))
                })
                .collect::<Result<_, serde_json::Error>>()?,
            counters: c
                .counters
                .then(|| serde_json::to_string(&self.counters()))
                .transpose()?,
        })
    }

    /// After the changed rows were written.
    pub(crate) fn clear_changes(&mut self) {
        self.changes = Changes::default();
    }
}

/// The `type` of a reissue request in an order's `requests`.
const REISSUE: &str = "reissue";

impl Default for Store {
    fn default() -> Self {
        Self {
            next_order: FIRST_ORDER_ID,
            next_request: FIRST_REQUEST_ID,
            next_certificate: FIRST_CERTIFICATE_ID,
            orders: BTreeMap::new(),
            by_request: HashMap::new(),
            by_certificate: HashMap::new(),
            reissue_requests: HashMap::new(),
            revoke_requests: BTreeMap::new(),
            crl_count: 0,
            changes: Changes::default(),
        }
    }
}

/// Why a state change was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChangeError {
    NotFound,
    WrongState(String),
    /// The change names something the order does not have.
    Invalid(String),
}

pub(crate) fn delay(issue_delay: Duration) -> chrono::Duration {
    chrono::Duration::from_std(issue_delay).unwrap_or(chrono::Duration::MAX)
}

impl Store {
    /// Inserts a new order and returns its id.
    pub(crate) fn insert(&mut self, new: NewOrder) -> i64 {
        let id = self.next_order;
        self.next_order += 1;
        let request_id = self.next_request_id();
        let has_key = new.key.is_some();
        let mailboxes = new
            .contents
            .emails
            .iter()
            .map(|email| Mailbox {
                email: email.clone(),
                validated: new.emails_validated.then_some(new.now),
            })
            .collect();
        let mut record = OrderRecord {
            id,
            product: new.product,
            order: new.order,
            contents: new.contents,
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
            revoked_at: None,
            note: (!has_key).then(|| NO_CSR_NOTE.to_string()),
            mailboxes,
            renewed_by: None,
            past: Vec::new(),
            reissue: None,
            other_requests: Vec::new(),
        };
        if new.approved {
            self.approve(&mut record, new.now, new.issue_delay);
            if let Some(cert) = new.issued {
                record.issued = Some(cert);
                record.status = OrderStatus::Issued;
            }
        }
        let renews = record
            .order
            .renewal_of_order_id()
            .and_then(|old| i64::try_from(old.get()).ok());
        self.by_request.insert(request_id, id);
        self.orders.insert(id, record);
        self.changes.orders.insert(id);
        if let Some(old) = renews.and_then(|old| self.order_mut(old)) {
            old.renewed_by = Some(id);
        }
        id
    }

    /// After loading a state file: rebuilds the CSR keys (not stored) of the orders that may
    /// still issue a certificate (not issued yet, or a reissue pending; parsing the CSRs of
    /// every issued order would make a start slow for nothing), and brings Secure Email
    /// orders an older file kept in the seed's shape back to their own
    /// ([`crate::body::migrate_legacy_secure_email`]; marked as changed).
    fn after_load(&mut self) {
        for (id, record) in &mut self.orders {
            let profile = record.product.spec().profile;
            if let (BodyKind::SecureEmail, OrderBody::ClientCertificate(legacy)) =
                (profile.body, &record.order)
            {
                record.order = OrderBody::SecureEmail(crate::body::migrate_legacy_secure_email(
                    legacy,
                    &record.contents,
                ));
                self.changes.orders.insert(*id);
            }
            let policy = profile.key_policy;
            if record.issued.is_none() {
                record.key = record
                    .order
                    .csr()
                    .and_then(|csr| crate::ca::parse_csr(csr, policy).ok());
            }
            if let Some(pending) = &mut record.reissue {
                pending.key = crate::ca::parse_csr(&pending.csr, policy).ok();
            }
        }
    }

    fn next_request_id(&mut self) -> i64 {
        let id = self.next_request;
        self.next_request += 1;
        self.changes.counters = true;
        id
    }

    fn next_certificate_id(&mut self) -> i64 {
        let id = self.next_certificate;
        self.next_certificate += 1;
        self.changes.counters = true;
        id
    }

    /// Asks for a reissue of an issued order with a new key; approved at once when
    /// `approved`, else the order is `reissue_pending` until the request is decided.
    pub(crate) fn reissue(
        &mut self,
        ca: &TestCa,
        order_id: i64,
        ask: ReissueAsk,
        now: DateTime<Utc>,
    ) -> Result<(i64, RequestStatus), ChangeError> {
        let ReissueAsk { key, csr, approved } = ask;
        let request_id = {
            let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
            record.advance(ca, now);
            if record.status != OrderStatus::Issued || record.revoked_at.is_some() {
                return Err(ChangeError::WrongState(format!(
                    "order {order_id} is {}{}; only issued orders can be reissued",
                    record.status,
                    if record.revoked_at.is_some() {
                        " and its certificate is revoked"
                    } else {
                        ""
                    }
                )));
            }
            if self
                .revoke_requests
                .values()
                .any(|r| r.order_id == order_id && r.status == RequestStatus::Pending)
            {
                return Err(ChangeError::WrongState(format!(
                    "order {order_id} has a pending revoke request; it cannot be reissued"
                )));
            }
            let request_id = self.next_request_id();
            let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
            record.reissue = Some(PendingReissue {
                request_id,
                key: Some(key),
                csr,
            });
            record.status = OrderStatus::ReissuePending;
            record.status_changed = now;
            record.other_requests.push(OrderRequestInfo {
                id: request_id,
                date: Some(rfc3339(now)),
                type_: Some(REISSUE.to_owned()),
                status: Some(RequestStatus::Pending),
                processor_comment: None,
            });
            request_id
        };
        self.reissue_requests.insert(request_id, order_id);
        if approved {
            self.complete_reissue(ca, order_id, None, now)?;
            return Ok((request_id, RequestStatus::Approved));
        }
        Ok((request_id, RequestStatus::Pending))
    }

    /// Issues the pending reissue of `order_id`: the current certificate becomes a past one.
    fn complete_reissue(
        &mut self,
        ca: &TestCa,
        order_id: i64,
        comment: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), ChangeError> {
        let certificate_id = self.next_certificate;
        let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
        let pending = record.reissue.take().ok_or_else(|| {
            ChangeError::WrongState(format!("order {order_id} has no pending reissue"))
        })?;
        let key = pending.key.ok_or_else(|| {
            ChangeError::WrongState(format!(
                "the CSR of order {order_id}'s reissue cannot be read"
            ))
        })?;
        let cert = ca
            .issue(&record.leaf_spec(now), &key)
            .map_err(|err| ChangeError::WrongState(format!("the sandbox CA failed: {err}")))?;
        if let (Some(id), Some(issued)) = (record.certificate_id, record.issued.take()) {
            record.past.push(PastCertificate {
                id,
                issued,
                revoked_at: record.revoked_at.take(),
            });
        }
        record.certificate_id = Some(certificate_id);
        record.issued = Some(cert);
        record.key = Some(key);
        record.order.set_csr(pending.csr);
        record.status = OrderStatus::Issued;
        record.status_changed = now;
        set_request_status(
            &mut record.other_requests,
            pending.request_id,
            RequestStatus::Approved,
            comment,
        );
        self.next_certificate_id();
        self.by_certificate.insert(certificate_id, order_id);
        Ok(())
    }

    /// Revokes `target` at once (`immediate`: `skip_approval` with an administrator key) or
    /// records a pending revoke request and returns it.
    pub(crate) fn revoke(
        &mut self,
        ca: &TestCa,
        target: RevokeTarget,
        comments: Option<String>,
        immediate: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<RevokeRecord>, ChangeError> {
        let order_id = self.revocable(ca, target, now)?;
        let id = self.next_request_id();
        let request = RevokeRecord {
            id,
            order_id,
            target,
            comments,
            status: if immediate {
                RequestStatus::Approved
            } else {
                RequestStatus::Pending
            },
            date: now,
        };
        if let Some(record) = self.order_mut(order_id) {
            record.other_requests.push(OrderRequestInfo {
                id,
                date: Some(rfc3339(now)),
                type_: Some("revoke".to_owned()),
                status: Some(request.status.clone()),
                processor_comment: None,
            });
        }
        self.revoke_requests.insert(id, request.clone());
        self.changes.revoke_requests.insert(id);
        if immediate {
            self.apply_revoke(target, order_id, now);
            return Ok(None);
        }
        Ok(Some(request))
    }

    /// The order of `target`, when `target` can be revoked: issued and not revoked, no
    /// pending reissue, no revoke request for it pending.
    fn revocable(
        &mut self,
        ca: &TestCa,
        target: RevokeTarget,
        now: DateTime<Utc>,
    ) -> Result<i64, ChangeError> {
        let order_id = match target {
            RevokeTarget::Certificate(id) => {
                *self.by_certificate.get(&id).ok_or(ChangeError::NotFound)?
            }
            RevokeTarget::Order(id) => id,
        };
        let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
        record.advance(ca, now);
        record.check_revocable(target)?;
        if let Some(pending) = self
            .revoke_requests
            .values()
            .find(|r| r.target == target && r.status == RequestStatus::Pending)
        {
            return Err(ChangeError::WrongState(format!(
                "revoke request {} for this {} is already pending approval",
                pending.id,
                match target {
                    RevokeTarget::Certificate(_) => "certificate",
                    RevokeTarget::Order(_) => "order",
                }
            )));
        }
        Ok(order_id)
    }

    fn apply_revoke(&mut self, target: RevokeTarget, order_id: i64, now: DateTime<Utc>) {
        let Some(record) = self.order_mut(order_id) else {
            return;
        };
        match target {
            RevokeTarget::Certificate(id) => {
                if record.certificate_id == Some(id) {
                    record.revoked_at.get_or_insert(now);
                } else if let Some(past) = record.past.iter_mut().find(|p| p.id == id) {
                    past.revoked_at.get_or_insert(now);
                }
            }
            RevokeTarget::Order(_) => {
                if record.issued.is_some() {
                    record.revoked_at.get_or_insert(now);
                }
                for past in &mut record.past {
                    past.revoked_at.get_or_insert(now);
                }
                record.status = OrderStatus::Revoked;
                record.status_changed = now;
            }
        }
    }

    /// Every revoked certificate's serial, for the CRL.
    pub(crate) fn revoked_serials(&self) -> Vec<RevokedSerial> {
        let mut out = Vec::new();
        for record in self.orders.values() {
            let current = record.issued.as_ref().zip(record.revoked_at).into_iter();
            let past = record
                .past
                .iter()
                .filter_map(|p| Some((&p.issued, p.revoked_at?)));
            for (cert, at) in current.chain(past) {
                out.push(RevokedSerial {
                    serial_hex: cert.serial_hex.clone(),
                    revoked_at: at,
                });
            }
        }
        out
    }

    /// The next CRL number (1, 2, ...).
    pub(crate) fn next_crl_number(&mut self) -> u64 {
        self.crl_count += 1;
        self.changes.counters = true;
        self.crl_count
    }

    fn approve(&mut self, record: &mut OrderRecord, now: DateTime<Utc>, issue_delay: Duration) {
        let certificate_id = self.next_certificate_id();
        self.by_certificate.insert(certificate_id, record.id);
        self.changes.orders.insert(record.id);
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
        for (id, record) in &mut self.orders {
            if record.advance(ca, now) {
                self.changes.orders.insert(*id);
            }
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
        if record.advance(ca, now) {
            self.changes.orders.insert(id);
        }
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

    /// Approves or rejects a pending request: a reissue, a revoke request or an order's own
    /// request (approved orders issue after `issue_delay`).
    pub(crate) fn decide(
        &mut self,
        decision: Decision,
        issue_delay: Duration,
        ca: &TestCa,
    ) -> Result<(), ChangeError> {
        if let Some(&order_id) = self.reissue_requests.get(&decision.request_id) {
            return self.decide_reissue(ca, order_id, decision);
        }
        if self.revoke_requests.contains_key(&decision.request_id) {
            return self.decide_revoke(decision);
        }
        let Decision {
            request_id,
            approve,
            comment,
            now,
        } = decision;
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
        self.changes.orders.insert(order_id);
        result
    }

    /// [`Store::decide`] for a revoke request: approved, it revokes at once.
    fn decide_revoke(&mut self, decision: Decision) -> Result<(), ChangeError> {
        let (request_id, approve) = (decision.request_id, decision.approve);
        let request = self
            .revoke_requests
            .get_mut(&request_id)
            .ok_or(ChangeError::NotFound)?;
        self.changes.revoke_requests.insert(request_id);
        if request.status != RequestStatus::Pending {
            return Err(ChangeError::WrongState(format!(
                "revoke request {request_id} is already {}; only pending requests can be \
                 approved or rejected",
                request.status
            )));
        }
        request.status = if approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Rejected
        };
        let (target, order_id, status) = (request.target, request.order_id, request.status.clone());
        if let Some(record) = self.order_mut(order_id) {
            set_request_status(
                &mut record.other_requests,
                request_id,
                status,
                decision.comment,
            );
        }
        if approve {
            self.apply_revoke(target, order_id, decision.now);
        }
        Ok(())
    }

    /// [`Store::decide`] for the pending reissue of `order_id`.
    fn decide_reissue(
        &mut self,
        ca: &TestCa,
        order_id: i64,
        decision: Decision,
    ) -> Result<(), ChangeError> {
        let request_id = decision.request_id;
        let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
        if record.reissue.as_ref().map(|r| r.request_id) != Some(request_id) {
            return Err(ChangeError::WrongState(format!(
                "reissue request {request_id} is no longer pending"
            )));
        }
        if decision.approve {
            return self.complete_reissue(ca, order_id, decision.comment, decision.now);
        }
        record.drop_reissue(decision.comment, decision.now);
        Ok(())
    }

    /// Validates the email addresses `emails` of an order (every address when `None`), then
    /// issues it if its time has come.
    pub(crate) fn validate_emails(
        &mut self,
        ca: &TestCa,
        order_id: i64,
        emails: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<&OrderRecord, ChangeError> {
        let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
        if matches!(record.status, OrderStatus::Rejected | OrderStatus::Canceled) {
            return Err(ChangeError::WrongState(format!(
                "order {order_id} is {}; its email addresses can no longer be validated",
                record.status
            )));
        }
        let wanted: Vec<usize> = match emails {
            None => (0..record.mailboxes.len()).collect(),
            Some(emails) => emails
                .iter()
                .map(|email| {
                    record
                        .mailboxes
                        .iter()
                        .position(|m| m.email.eq_ignore_ascii_case(email))
                        .ok_or_else(|| {
                            let known: Vec<&str> =
                                record.mailboxes.iter().map(|m| m.email.as_str()).collect();
                            ChangeError::Invalid(format!(
                                "{email:?} is not an email address of order {order_id}; its \
                                 addresses: {}",
                                known.join(", ")
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        for index in wanted {
            if let Some(mailbox) = record.mailboxes.get_mut(index) {
                mailbox.validated.get_or_insert(now);
            }
        }
        record.advance(ca, now);
        Ok(record)
    }

    /// Cancels an order that is not issued yet, or the pending reissue of an order (which is
    /// then `issued` again, the reissue request `rejected`).
    pub(crate) fn cancel(
        &mut self,
        ca: &TestCa,
        order_id: i64,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), ChangeError> {
        let record = self.order_mut(order_id).ok_or(ChangeError::NotFound)?;
        record.advance(ca, now);
        match record.status {
            OrderStatus::ReissuePending => {
                record.drop_reissue(note, now);
                Ok(())
            }
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
                "order {order_id} is {other}; only needs_approval, pending or reissue_pending orders can be canceled"
            ))),
        }
    }
}

fn set_request_status(
    requests: &mut [OrderRequestInfo],
    id: i64,
    status: RequestStatus,
    comment: Option<String>,
) {
    if let Some(request) = requests.iter_mut().find(|r| r.id == id) {
        request.status = Some(status);
        request.processor_comment = comment;
    }
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
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
    /// Rejects the pending reissue (rejected or canceled): the order is `issued` again.
    fn drop_reissue(&mut self, comment: Option<String>, now: DateTime<Utc>) {
        if let Some(pending) = self.reissue.take() {
            set_request_status(
                &mut self.other_requests,
                pending.request_id,
                RequestStatus::Rejected,
                comment,
            );
        }
        self.status = OrderStatus::Issued;
        self.status_changed = now;
    }

    /// Issues the certificate once `issue_at` has passed; whether the order changed.
    fn advance(&mut self, ca: &TestCa, now: DateTime<Utc>) -> bool {
        let (Some(issue_at), Some(key)) = (self.issue_at, self.key.as_ref()) else {
            return false;
        };
        if self.status != OrderStatus::Pending || self.issued.is_some() || issue_at > now {
            return false;
        }
        // The order waits until every address is validated.
        let Some(validated) = self.emails_validated_at() else {
            return false;
        };
        let at = issue_at.max(validated);
        match ca.issue(&self.leaf_spec(at), key) {
            Ok(cert) => {
                self.issued = Some(cert);
                self.status = OrderStatus::Issued;
                self.status_changed = at;
            }
            Err(err) => {
                tracing::error!(order_id = self.id, %err, "sandbox could not issue a certificate");
                self.issue_at = None;
                self.note = Some(format!("the sandbox CA failed to issue: {err}"));
            }
        }
        true
    }

    /// When the last email address was validated; `None` while one is not.
    fn emails_validated_at(&self) -> Option<DateTime<Utc>> {
        self.mailboxes
            .iter()
            .try_fold(self.created, |last, mailbox| {
                mailbox.validated.map(|at| last.max(at))
            })
    }

    /// `GET /order/certificate/{id}/email-validation`.
    /// (The contract's `delivery_options` is not in the response schema yet, so not sent.)
    pub(crate) fn email_validation(&self) -> EmailValidation {
        let date_emailed = rfc3339(self.created);
        EmailValidation {
            emails: self
                .mailboxes
                .iter()
                .map(|mailbox| EmailValidationEntry {
                    email: Some(mailbox.email.clone()),
                    status: Some(
                        if mailbox.validated.is_some() {
                            "validated"
                        } else {
                            "unvalidated"
                        }
                        .to_owned(),
                    ),
                    date_emailed: Some(date_emailed.clone()),
                })
                .collect(),
        }
    }

    /// The leaf certificate's contents, issued at `at`.
    pub(crate) fn leaf_spec(&self, at: DateTime<Utc>) -> LeafSpec {
        leaf_spec(&self.contents, &self.order, at)
    }

    pub(crate) fn snapshot(&self) -> SandboxOrder {
        SandboxOrder {
            id: self.id,
            product: self.product,
            common_name: self.order.subject_name(),
            emails: self.order.emails().to_vec(),
            organization_units: self.order.organization_units(),
            status: self.status.clone(),
            request_ids: vec![self.request_id],
            request_status: self.request_status.clone(),
            certificate_id: self.certificate_id,
            has_csr: self.order.csr().is_some(),
            date_created: rfc3339(self.created),
        }
    }

    /// `POST` response: the seed's shape; with `chain_from` (`--chain-in-response`) and a
    /// certificate issued at once, also `certificate_chain` (leaf, intermediate, root).
    pub(crate) fn created(&self, chain_from: Option<&TestCa>) -> OrderResponse {
        let certificate_chain = match (chain_from, &self.issued) {
            (Some(ca), Some(cert)) => ca
                .named_chain(&cert.der)
                .into_iter()
                .map(|(subject_common_name, der)| ChainCertificate {
                    subject_common_name,
                    pem: Some(pem_cert(der)),
                })
                .collect(),
            _ => Vec::new(),
        };
        OrderResponse {
            id: self.id,
            requests: vec![OrderRequestRef {
                id: self.request_id,
                status: Some(self.request_status.clone()),
            }],
            certificate_id: self.certificate_id,
            certificate_chain,
            organization: None,
        }
    }

    /// The certificate `id` of this order, issued, with its revocation time.
    pub(crate) fn certificate(&self, id: i64) -> Option<(&IssuedCert, Option<DateTime<Utc>>)> {
        if self.certificate_id == Some(id) {
            return self.issued.as_ref().map(|c| (c, self.revoked_at));
        }
        self.past
            .iter()
            .find(|p| p.id == id)
            .map(|p| (&p.issued, p.revoked_at))
    }

    /// Whether `target` (this order or one of its certificates) can be revoked: issued, not
    /// revoked yet, no pending reissue.
    fn check_revocable(&self, target: RevokeTarget) -> Result<(), ChangeError> {
        let order_id = self.id;
        if self.reissue.is_some() {
            return Err(ChangeError::WrongState(format!(
                "order {order_id} has a pending reissue; a certificate with a pending reissue \
                 cannot be revoked (cancel the reissue first)"
            )));
        }
        match target {
            RevokeTarget::Order(_) => {
                if self.status != OrderStatus::Issued {
                    return Err(ChangeError::WrongState(format!(
                        "order {order_id} is {}; only issued orders can be revoked",
                        self.status
                    )));
                }
            }
            RevokeTarget::Certificate(id) => match self.certificate(id) {
                Some((_, None)) => {}
                Some((_, Some(at))) => {
                    return Err(ChangeError::WrongState(format!(
                        "certificate {id} was already revoked at {}",
                        rfc3339(at)
                    )));
                }
                None => {
                    return Err(ChangeError::WrongState(format!(
                        "certificate {id} is not issued (order {order_id} is {}); only issued \
                         certificates can be revoked",
                        self.status
                    )));
                }
            },
        }
        Ok(())
    }

    /// Days from `now`'s day to the current certificate's last day (negative once expired).
    pub(crate) fn days_remaining(&self, now: DateTime<Utc>) -> Option<i64> {
        self.issued
            .as_ref()
            .map(|c| (c.valid_till - now.date_naive()).num_days())
    }

    /// `GET /order/certificate/{id}` (and list entries), as at `now`: what was ordered (a
    /// Secure Email order with its indicator, person, usage and profile) and where it stands.
    pub(crate) fn info(&self, now: DateTime<Utc>) -> SandboxOrderInfo {
        let order = &self.order;
        let to_i64 = |id: std::num::NonZeroU64| i64::try_from(id.get()).unwrap_or(i64::MAX);
        let info = OrderInfo {
            id: self.id,
            status: Some(self.status.clone()),
            certificate: Some(self.certificate_info(now)),
            requests: self.requests(),
            product: Some(ProductRef {
                name_id: Some(self.product.to_string()),
                name: Some(self.product.spec().name.to_owned()),
                type_: Some(PRODUCT_TYPE.to_owned()),
            }),
            organization: order.organization_id().map(|id| NamedRef {
                id: to_i64(id),
                name: None,
            }),
            container: order.container_id().map(|id| NamedRef {
                id: to_i64(id),
                name: None,
            }),
            payment_method: Some(order.payment_method().to_string()),
            date_created: Some(rfc3339(self.created)),
            validity_years: order.validity_years(),
            custom_expiration_date: order.custom_expiration_date().map(|d| d.to_string()),
            skip_approval: Some(order.skip_approval()),
            auto_renew: order.auto_renew(),
            renewal_of_order_id: order.renewal_of_order_id().map(to_i64),
            is_renewed: Some(self.renewed_by.is_some()),
        };
        SandboxOrderInfo {
            info,
            sandbox_note: self.note.clone(),
        }
    }

    /// The order info's `requests`: the order's own request, then its reissue and revoke
    /// requests.
    fn requests(&self) -> Vec<OrderRequestInfo> {
        std::iter::once(OrderRequestInfo {
            id: self.request_id,
            date: Some(rfc3339(self.created)),
            type_: Some("new_request".to_owned()),
            status: Some(self.request_status.clone()),
            processor_comment: self.processor_comment.clone(),
        })
        .chain(self.other_requests.iter().cloned())
        .collect()
    }

    /// The order info's `certificate`: what was ordered and, once issued, the current
    /// certificate's serial number and validity.
    fn certificate_info(&self, now: DateTime<Utc>) -> OrderCertificate {
        let order = &self.order;
        let issued = self.issued.as_ref();
        let mut certificate = OrderCertificate {
            id: self.certificate_id,
            common_name: Some(order.subject_name()),
            emails: order.emails().to_vec(),
            organization_units: order.organization_units(),
            signature_hash: Some(order.signature_hash().to_string()),
            csr: order.csr().map(str::to_owned),
            serial_number: issued.map(|c| c.serial_hex.clone()),
            valid_from: issued.map(|c| c.valid_from.to_string()),
            valid_till: issued.map(|c| c.valid_till.to_string()),
            days_remaining: self.days_remaining(now),
            ..OrderCertificate::default()
        };
        let (indicator, individual) = match order {
            OrderBody::ClientCertificate(b) => (
                b.certificate
                    .common_name_indicator
                    .as_ref()
                    .map(ToString::to_string),
                b.certificate.individual.as_ref(),
            ),
            OrderBody::SecureEmail(b) => (
                b.certificate
                    .common_name_indicator
                    .as_ref()
                    .map(ToString::to_string),
                b.certificate.individual.as_ref(),
            ),
        };
        certificate.common_name_indicator = indicator;
        certificate.individual = individual.map(|i| OrderCertificateIndividual {
            first_name: i.first_name.as_ref().map(|n| n.as_str().to_owned()),
            last_name: i.last_name.as_ref().map(|n| n.as_str().to_owned()),
            pseudonym: i.pseudonym.as_ref().map(|n| n.as_str().to_owned()),
        });
        if let OrderBody::SecureEmail(b) = order {
            let usage = &b.certificate.usage_designation;
            certificate.usage_designation = Some(OrderCertificateUsageDesignation {
                primary_usage: Some(usage.primary_usage.to_string()),
                additional_usages: usage.additional_usages.clone(),
            });
            certificate.profile_type = b.certificate.profile_type.map(|p| p.to_string());
        }
        certificate
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

/// The leaf certificate for an order issued at `at`: `contents`, validity from
/// `custom_expiration_date` or `validity_years` (default 1), ending 23:59:59 UTC.
pub(crate) fn leaf_spec(contents: &CertContents, order: &OrderBody, at: DateTime<Utc>) -> LeafSpec {
    let today = at.date_naive();
    let last_day = order.custom_expiration_date().unwrap_or_else(|| {
        let years = order.validity_years().unwrap_or(1);
        add_years(today, years)
    });
    LeafSpec {
        contents: contents.clone(),
        not_before: at,
        last_day,
    }
}

fn add_years(day: NaiveDate, years: i64) -> NaiveDate {
    let months = u32::try_from(years.clamp(0, 100) * 12).unwrap_or(12);
    day.checked_add_months(chrono::Months::new(months))
        .unwrap_or(day)
}
