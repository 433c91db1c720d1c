//! Client-side rate limiting: sliding windows shared by every clone of a client.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

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
/// window is exceeded, with a small safety margin on the window length for network jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    windows: Vec<Window>,
}

impl RateLimits {
    /// The documented limits: 100 requests per 5 s and 1000 per 3 min.
    pub fn documented() -> Self {
        Self {
            windows: vec![
                Window {
                    max: 100,
                    period: Duration::from_secs(5),
                },
                Window {
                    max: 1000,
                    period: Duration::from_secs(180),
                },
            ],
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
#[derive(Debug)]
pub(crate) struct Limiter {
    windows: Vec<(u32, Duration)>,
    /// Send times of recent requests, oldest first, as long as the longest window.
    log: Mutex<VecDeque<Instant>>,
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let windows = limits
            .windows
            .iter()
            .map(|w| {
                // The server counts arrivals; allow for jitter between our send and its clock.
                let margin = (w.period / 50).min(Duration::from_millis(250));
                (w.max, w.period + margin)
            })
            .collect();
        Self {
            windows,
            log: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request fits in every window, then records it.
    pub(crate) async fn acquire(&self) {
        if self.windows.is_empty() {
            return;
        }
        loop {
            let wait = match self.try_acquire(Instant::now()) {
                None => return,
                Some(wait) => wait,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Records a request at `now` if it fits, else returns how long to wait.
    fn try_acquire(&self, now: Instant) -> Option<Duration> {
        let mut log = match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        };
        let longest = self.windows.iter().map(|w| w.1).max().unwrap_or_default();
        while let Some(&oldest) = log.front() {
            if now.duration_since(oldest) >= longest {
                log.pop_front();
            } else {
                break;
            }
        }
        let mut wait = Duration::ZERO;
        for &(max, period) in &self.windows {
            // Requests inside this window are the newest ones in the log.
            let in_window = log
                .iter()
                .rev()
                .take_while(|&&t| now.duration_since(t) < period)
                .count();
            if in_window >= max as usize {
                // The window frees up when the oldest of its last `max` requests leaves it.
                let idx = log.len() - max as usize;
                let frees_at = log[idx] + period;
                wait = wait.max(frees_at.saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            log.push_back(now);
            None
        } else {
            Some(wait.max(Duration::from_millis(1)))
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
        let mut sent = Vec::new();
        // Simulated clock: advance by whatever the limiter asks for.
        while sent.len() < 12 {
            match limiter.try_acquire(now) {
                None => sent.push(now),
                Some(wait) => now += wait,
            }
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_1s = sent[..=i]
                .iter()
                .filter(|&&s| t.duration_since(s) < Duration::from_secs(1))
                .count();
            let in_10s = sent[..=i]
                .iter()
                .filter(|&&s| t.duration_since(s) < Duration::from_secs(10))
                .count();
            assert!(in_1s <= 3, "request {i}: {in_1s} in 1 s");
            assert!(in_10s <= 5, "request {i}: {in_10s} in 10 s");
        }
        // The first three go at once; the budget of 5 per 10 s then dominates.
        assert_eq!(sent[2], start);
        assert!(sent[5].duration_since(start) >= Duration::from_secs(10));
    }
}
