//! Executor tests that look inside the engine: what the journal holds when an order POST
//! arrives, and downloads waiting for a permit while orders are sent. (The engine's
//! behaviour against a scripted fake API is tested in `crate::tests`.)

use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, Weak};

use certcentral_types::{OrderBody, OrderInfo, ProductId, StatusChange};

use super::*;
use crate::api::{Placed, RevokeOutcome};
use crate::progress::{LineSink, ProgressMode};
use crate::tests::{config, roster};

/// A fake API that reads the engine's journal when an order POST arrives, and holds every
/// certificate download until `release_after` POSTs have arrived.
#[derive(Default)]
struct Watcher {
    journal: Mutex<Weak<Mutex<Journal>>>,
    /// For each POST, the rows in state `intent` when it arrived.
    intents_seen: Mutex<Vec<u64>>,
    posts: AtomicUsize,
    release_after: usize,
    released: Notify,
}

fn no<T>() -> Result<T, ApiFailure> {
    Err(ApiFailure::Unknown {
        message: "not used in this test".into(),
    })
}

impl BulkApi for Watcher {
    async fn order(
        &self,
        _product: &str,
        _request: &OrderBody,
        _patience: Duration,
    ) -> Result<Placed, ApiFailure> {
        let journal = self.journal.lock().unwrap().upgrade().expect("the journal");
        let intents = lock(&journal)
            .counts()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == RowState::Intent)
            .map(|(_, n)| *n)
            .sum();
        drop(journal);
        self.intents_seen.lock().unwrap().push(intents);
        let n = self.posts.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.release_after {
            self.released.notify_waiters();
        }
        Ok(Placed {
            order_id: n as i64,
            request_ids: vec![n as i64 + 5000],
            request_status: Some("approved".into()),
            certificate_id: Some(n as i64 + 1000),
            chain: None,
        })
    }

    async fn status_changes(&self, _minutes: u32) -> Result<Vec<StatusChange>, ApiFailure> {
        Ok(Vec::new())
    }

    async fn order_info(&self, _order_id: i64) -> Result<OrderInfo, ApiFailure> {
        no()
    }

    async fn find_recent_orders(
        &self,
        _product: &str,
        _common_name: &str,
        _emails: &[String],
        _since: DateTime<Utc>,
    ) -> Result<Vec<OrderInfo>, ApiFailure> {
        Ok(Vec::new())
    }

    async fn download(&self, _certificate_id: i64) -> Result<Vec<u8>, ApiFailure> {
        loop {
            let released = self.released.notified();
            if self.posts.load(Ordering::SeqCst) >= self.release_after {
                break;
            }
            released.await;
        }
        Err(ApiFailure::Unknown {
            message: "no certificate in this test".into(),
        })
    }

    async fn renewal_request(
        &self,
        _order_id: i64,
        _csr: &str,
    ) -> Result<(ProductId, OrderBody), ApiFailure> {
        no()
    }

    async fn revoke_order(
        &self,
        _order_id: i64,
        _comment: &str,
        _skip_approval: bool,
    ) -> Result<RevokeOutcome, ApiFailure> {
        no()
    }
}

/// Each order POST finds its own intent committed (and only it: the rows before are
/// ordered, the rows after still new); one download permit, held by a download that waits
/// for the last POST, never holds up the POSTs behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intent_is_committed_before_the_post_and_downloads_never_stall_it() {
    const ROWS: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), ROWS));
    cfg.exec.download_concurrency = 1;
    cfg.exec.wait = false;
    let (staged, _, _) = crate::prepare(&cfg).unwrap();
    let api = Arc::new(Watcher {
        release_after: ROWS,
        ..Watcher::default()
    });
    files::ensure_dir(&cfg.exec.out_dir).unwrap();
    let progress = Progress::new(
        ProgressMode::Quiet,
        ROWS as u64,
        Duration::from_secs(60),
        LineSink::default(),
    );
    let shared = Arc::new(Shared::new(
        Arc::clone(&api),
        staged.journal,
        cfg.exec.clone(),
        progress,
    ));
    *api.journal.lock().unwrap() = Arc::downgrade(&shared.journal);
    let (_, stats, stopped) = tokio::time::timeout(Duration::from_secs(60), drive(shared))
        .await
        .expect("a download waiting for a permit stalled the order POSTs")
        .unwrap();
    assert_eq!(stopped, None);
    assert_eq!(stats.new_orders, ROWS as u64);
    assert_eq!(*api.intents_seen.lock().unwrap(), vec![1; ROWS]);
}
