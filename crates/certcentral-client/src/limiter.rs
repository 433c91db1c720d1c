//! Client-side rate limiting: sliding windows shared by every clone of a client.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// One rolling window: at most `max` requests in any `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Requests allowed in the window.
    pub max: u32,
    /// Window length.
    pub period: Duration,
}

/// The request budget the client keeps under. Every clone of a [`crate::Client`] shares it.
///
/// CertCentral allows, per API key, 100 requests per 5 seconds and 1000 per 3 minutes
/// (rolling); over either limit every request gets 429. The limiter spaces requests so neither
/// window is exceeded as the server counts them: the server sees a request arrive somewhere
/// between its start and its response, so a request occupies its slot from its start until
/// one window length after its response, plus a safety margin for clock and scheduler jitter
/// between this host and the server: 1 % of the window, at least 25 ms (a percentage alone is
/// thinner than that jitter on short windows) and at most 100 ms. The price is a rate of
/// `max / (period + margin + latency)` instead of `max / period`.
///
/// ```
/// use std::time::Duration;
/// use certcentral_client::RateLimits;
///
/// // Tests against a sandbox started with `RateLimit::Scaled(10.0)` / `--rate-limit scale=10`:
/// let limits = RateLimits::scaled(10.0);
/// assert_eq!(limits.windows()[0].max, 100);
/// assert_eq!(limits.windows()[0].period, Duration::from_millis(500));
/// assert_eq!(limits.windows()[1].period, Duration::from_secs(18));
/// assert!(RateLimits::off().is_off());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    windows: Vec<Window>,
}

impl RateLimits {
    /// The documented limits (100 requests per 5 s and 1000 per 3 min), from the catalog
    /// (`certcentral_types::catalog::RATE_LIMITS`, the definition the sandbox uses too).
    pub fn documented() -> Self {
        Self {
            windows: certcentral_types::catalog::RATE_LIMITS
                .iter()
                .map(|w| Window {
                    max: w.requests,
                    period: w.period,
                })
                .collect(),
        }
    }

    /// The documented limits with both windows divided by `factor` (the same counts in
    /// shorter windows), matching the sandbox's `RateLimit::Scaled(factor)` / `--rate-limit
    /// scale=F`. A factor that is not finite and positive gives [`RateLimits::documented`].
    pub fn scaled(factor: f64) -> Self {
        let mut limits = Self::documented();
        if factor.is_finite() && factor > 0.0 {
            for w in &mut limits.windows {
                w.period = w.period.div_f64(factor);
            }
        }
        limits
    }

    /// No client-side limit (the server's 429 answers are still handled).
    pub fn off() -> Self {
        Self {
            windows: Vec::new(),
        }
    }

    /// Custom windows; windows with `max == 0` or a zero period are ignored.
    pub fn custom(windows: impl IntoIterator<Item = Window>) -> Self {
        Self {
            windows: windows
                .into_iter()
                .filter(|w| w.max > 0 && !w.period.is_zero())
                .collect(),
        }
    }

    /// The windows enforced.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Whether no window is enforced.
    pub fn is_off(&self) -> bool {
        self.windows.is_empty()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::documented()
    }
}

/// Sliding-window log limiter.
///
/// The server counts a request when it arrives, which is somewhere between the moment the
/// client starts sending it and the moment the response is back. To stay under the server's
/// count whatever the network does, each request occupies the windows from its start until
/// `period` after its response arrived (in-flight requests always count).
///
/// Waiters never poll: a waiter sleeps until the earliest instant a slot can free (a
/// completed request leaving a window), and is woken early by [`Notify`] whenever a permit is
/// released (an in-flight request completing changes when slots free up).
#[derive(Debug)]
pub(crate) struct Limiter {
    windows: Vec<(u32, Duration)>,
    log: Mutex<Log>,
    /// Signalled whenever a permit is released.
    released: Notify,
}

#[derive(Debug, Default)]
struct Log {
    next_id: u64,
    /// `(id, completion time)`; `None` while in flight.
    entries: VecDeque<(u64, Option<Instant>)>,
    /// Scratch space of [`Limiter::try_acquire`] (when slots free up), kept between calls
    /// so a request allocates nothing.
    frees: Vec<Instant>,
}

/// A slot in the limiter, held for the duration of one HTTP exchange; its completion time is
/// recorded when dropped.
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
    id: Option<u64>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let now = Instant::now();
            let mut log = self.limiter.lock();
            if let Some(entry) = log.entries.iter_mut().find(|(i, _)| *i == id) {
                entry.1 = Some(now);
            }
            drop(log);
            self.limiter.released.notify_waiters();
        }
    }
}

/// Smallest safety margin added to a window. A percentage alone is too thin for short
/// windows (1 % of a 500 ms sandbox window is 5 ms, less than the timer and scheduling
/// jitter of a loaded host, which caused a 429 in a bulk run); 25 ms covers that jitter
/// while costing under 1 % of throughput on the documented 5 s window.
const MARGIN_FLOOR: Duration = Duration::from_millis(25);

/// Largest safety margin added to a window (long windows need no more).
const MARGIN_CAP: Duration = Duration::from_millis(100);

/// The safety margin for a window of length `period`: 1 % of it, clamped to
/// [`MARGIN_FLOOR`]..=[`MARGIN_CAP`].
fn margin(period: Duration) -> Duration {
    (period / 100).clamp(MARGIN_FLOOR, MARGIN_CAP)
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let windows = limits
            .windows
            .iter()
            .map(|w| {
                // A little extra for clock and scheduling jitter between this host and the
                // server.
                (w.max, w.period + margin(w.period))
            })
            .collect();
        Self {
            windows,
            log: Mutex::new(Log::default()),
            released: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Waits until one more request fits in every window, then records it as in flight.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        if self.windows.is_empty() {
            return Permit {
                limiter: self,
                id: None,
            };
        }
        loop {
            // Registered before looking, so a release between the look and the wait is not
            // missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            match self.try_acquire(Instant::now()) {
                Ok(id) => {
                    return Permit {
                        limiter: self,
                        id: Some(id),
                    };
                }
                Err(Some(wait)) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = &mut released => {}
                    }
                }
                Err(None) => released.await,
            }
        }
    }

    /// Records a request at `now` if it fits; else returns how long to wait: `Some(d)` when a
    /// slot frees by itself after `d` (a completed request leaves a window), `None` when only
    /// in-flight requests fill a window (nothing frees until one of them is released).
    fn try_acquire(&self, now: Instant) -> Result<u64, Option<Duration>> {
        let mut log = self.lock();
        let longest = self.windows.iter().map(|w| w.1).max().unwrap_or_default();
        // Completed requests older than the longest window no longer count anywhere.
        log.entries
            .retain(|(_, done)| done.is_none_or(|d| now.saturating_duration_since(d) < longest));
        let mut wait = Duration::ZERO;
        let mut blocked_in_flight = false;
        let Log { entries, frees, .. } = &mut *log;
        for &(max, period) in &self.windows {
            let mut counted = 0usize;
            frees.clear();
            for (_, done) in entries.iter() {
                match done {
                    None => counted += 1,
                    Some(d) if now.saturating_duration_since(*d) < period => {
                        counted += 1;
                        frees.push(*d + period);
                    }
                    Some(_) => {}
                }
            }
            if counted >= max as usize {
                // Enough slots free up when the `excess + 1` earliest completions leave the
                // window; if in-flight requests fill it, only a release can change that.
                let excess = counted - max as usize;
                if frees.len() > excess {
                    let (_, at, _) = frees.select_nth_unstable(excess);
                    let until = at.saturating_duration_since(now);
                    wait = wait.max(until.min(period).max(Duration::from_millis(1)));
                } else {
                    blocked_in_flight = true;
                }
            }
        }
        if blocked_in_flight {
            Err(None)
        } else if wait.is_zero() {
            let id = log.next_id;
            log.next_id += 1;
            log.entries.push_back((id, None));
            Ok(id)
        } else {
            Err(Some(wait))
        }
    }

    /// Marks request `id` complete at `at` (tests drive the clock by hand).
    #[cfg(test)]
    fn complete(&self, id: u64, at: Instant) {
        let mut log = self.lock();
        if let Some(entry) = log.entries.iter_mut().find(|(i, _)| *i == id) {
            entry.1 = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_divides_periods() {
        let s = RateLimits::scaled(10.0);
        assert_eq!(s.windows()[0].period, Duration::from_millis(500));
        assert_eq!(s.windows()[1].period, Duration::from_secs(18));
        assert_eq!(s.windows()[0].max, 100);
        assert_eq!(RateLimits::scaled(f64::NAN), RateLimits::documented());
        assert!(RateLimits::off().is_off());
        assert!(
            RateLimits::custom([Window {
                max: 0,
                period: Duration::from_secs(1)
            }])
            .is_off()
        );
    }

    #[test]
    fn never_more_than_max_in_any_window() {
        let limiter = Limiter::new(&RateLimits::custom([
            Window {
                max: 3,
                period: Duration::from_secs(1),
            },
            Window {
                max: 5,
                period: Duration::from_secs(10),
            },
        ]));
        let start = Instant::now();
        let mut now = start;
        let latency = Duration::from_millis(30);
        // (start, completion) of every request; each completes `latency` after it starts.
        let mut sent: Vec<(Instant, Instant)> = Vec::new();
        // Simulated clock: advance by whatever the limiter asks for.
        while sent.len() < 12 {
            match limiter.try_acquire(now) {
                Ok(id) => {
                    limiter.complete(id, now + latency);
                    sent.push((now, now + latency));
                }
                Err(wait) => now += wait.expect("every request completes, none stays in flight"),
            }
        }
        // Whatever instant in [start, completion] the server saw each request arrive, no
        // window ever holds more than allowed: check the worst case, where every earlier
        // request arrived as late as possible and the new one as early as possible.
        for (i, &(t, _)) in sent.iter().enumerate() {
            let in_1s = sent[..i]
                .iter()
                .filter(|&&(_, done)| t.saturating_duration_since(done) < Duration::from_secs(1))
                .count()
                + 1;
            let in_10s = sent[..i]
                .iter()
                .filter(|&&(_, done)| t.saturating_duration_since(done) < Duration::from_secs(10))
                .count()
                + 1;
            assert!(in_1s <= 3, "request {i}: {in_1s} in 1 s");
            assert!(in_10s <= 5, "request {i}: {in_10s} in 10 s");
        }
        // The first three go at once; the budget of 5 per 10 s then dominates.
        assert_eq!(sent[2].0, start);
        assert!(sent[5].0.duration_since(start) >= Duration::from_secs(10));
    }

    #[test]
    fn in_flight_requests_count_until_they_complete() {
        let limiter = Limiter::new(&RateLimits::custom([Window {
            max: 2,
            period: Duration::from_secs(1),
        }]));
        let now = Instant::now();
        let a = limiter.try_acquire(now).unwrap();
        let _b = limiter.try_acquire(now).unwrap();
        // Both in flight: even much later, a third must wait for a release.
        let later = now + Duration::from_secs(60);
        assert_eq!(limiter.try_acquire(later), Err(None));
        // One completes: its slot frees one period (plus the 25 ms margin floor) after its
        // completion.
        limiter.complete(a, later);
        let wait = limiter.try_acquire(later).unwrap_err().unwrap();
        assert_eq!(wait, Duration::from_millis(1025));
        assert!(limiter.try_acquire(later + wait).is_ok());
    }

    #[test]
    fn margin_has_a_floor_for_short_windows_and_a_percentage_for_long_ones() {
        assert_eq!(margin(Duration::from_millis(500)), MARGIN_FLOOR);
        assert_eq!(margin(Duration::from_secs(5)), Duration::from_millis(50));
        assert_eq!(margin(Duration::from_secs(180)), MARGIN_CAP);
        // Simulated clock: a 500 ms window (sandbox scale 10) frees its slot 525 ms after the
        // completion, not 505 ms; a 5 s window frees it 5.05 s after.
        for (period, expected) in [
            (Duration::from_millis(500), Duration::from_millis(525)),
            (Duration::from_secs(5), Duration::from_millis(5050)),
        ] {
            let limiter = Limiter::new(&RateLimits::custom([Window { max: 1, period }]));
            let now = Instant::now();
            let id = limiter.try_acquire(now).unwrap();
            limiter.complete(id, now);
            assert_eq!(limiter.try_acquire(now), Err(Some(expected)));
            assert_eq!(
                limiter.try_acquire(now + expected - Duration::from_millis(1)),
                Err(Some(Duration::from_millis(1)))
            );
            assert!(limiter.try_acquire(now + expected).is_ok());
        }
    }

    /// A waiter blocked by in-flight requests is woken by the release, not by a poll, and
    /// acquires exactly when the released slot leaves the window (paused clock: no time
    /// passes unless every task is idle, so the instants are exact).
    #[tokio::test(start_paused = true)]
    async fn waiter_wakes_when_a_slot_frees() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};

        let limiter = Arc::new(Limiter::new(&RateLimits::custom([Window {
            max: 1,
            period: Duration::from_secs(1),
        }])));
        let start = Instant::now();
        let held = limiter.acquire().await;
        let polls = Arc::new(AtomicU32::new(0));
        let waiter = {
            let limiter = Arc::clone(&limiter);
            let polls = Arc::clone(&polls);
            tokio::spawn(async move {
                // Counts how often the acquire future is polled: a polling limiter would be
                // polled every few milliseconds while it waits.
                let mut acquire = Box::pin(limiter.acquire());
                std::future::poll_fn(|cx| {
                    polls.fetch_add(1, Ordering::SeqCst);
                    acquire.as_mut().poll(cx).map(|_permit| Instant::now())
                })
                .await
            })
        };
        // The in-flight request holds the slot for a long time; the waiter sleeps through it.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiter.is_finished());
        assert_eq!(
            polls.load(Ordering::SeqCst),
            1,
            "the waiter polled while blocked"
        );
        let released_at = Instant::now();
        drop(held);
        let acquired_at = waiter.await.unwrap();
        // The slot frees one period plus the 25 ms margin after the release, not later.
        assert_eq!(
            acquired_at.duration_since(released_at),
            Duration::from_millis(1025)
        );
        // Woken once by the release, once by the timer: no polling in between.
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        assert!(acquired_at.duration_since(start) >= Duration::from_secs(31));
    }
}
