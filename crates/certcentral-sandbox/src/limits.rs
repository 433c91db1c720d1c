//! Rolling-window rate limits and seeded fault injection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use certcentral_types::catalog::{RATE_LIMITS, RateWindow};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use crate::{FaultKind, RateLimit};

/// The documented windows (100 requests per 5 s and 1000 per 3 min): the catalog's, which
/// the client's limiter uses too.
const WINDOWS: &[RateWindow] = RATE_LIMITS;

/// `window` divided by `factor`, saturating: a tiny factor gives windows of (nearly)
/// forever instead of a panic, a huge one windows of zero.
fn scale_window(window: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(window.as_secs_f64() / factor.max(f64::MIN_POSITIVE))
        .unwrap_or(Duration::MAX)
}

/// Rolling-window limiter for one API key. Rejected requests are not counted.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    windows: Vec<(usize, Duration)>,
    accepted: VecDeque<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let windows = match limit {
            RateLimit::Off => Vec::new(),
            RateLimit::Real => WINDOWS
                .iter()
                .map(|w| (w.requests as usize, w.period))
                .collect(),
            RateLimit::Scaled(factor) => WINDOWS
                .iter()
                .map(|w| (w.requests as usize, scale_window(w.period, factor)))
                .collect(),
        };
        Self {
            windows,
            accepted: VecDeque::new(),
        }
    }

    /// Records a request at `now`; `false` when either window is full.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        let Some(longest) = self.windows.iter().map(|(_, d)| *d).max() else {
            return true;
        };
        while let Some(front) = self.accepted.front() {
            if now.saturating_duration_since(*front) >= longest {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        for (limit, window) in &self.windows {
            let inside = self
                .accepted
                .iter()
                .rev()
                .take_while(|at| now.saturating_duration_since(**at) < *window)
                .take(*limit)
                .count();
            if inside >= *limit {
                return false;
            }
        }
        self.accepted.push_back(now);
        true
    }
}

/// Which faults fire for one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Faults {
    pub latency: Option<Duration>,
    pub html_error: bool,
    pub error_5xx: bool,
    pub rate_limit: bool,
}

/// The configured faults and their seeded random source.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    faults: Vec<(FaultKind, f64)>,
    rng: ChaCha8Rng,
}

impl FaultPlan {
    pub(crate) fn new(faults: Vec<(FaultKind, f64)>, rng: ChaCha8Rng) -> Self {
        Self { faults, rng }
    }

    fn fires(rng: &mut ChaCha8Rng, probability: f64) -> bool {
        // Always draw, so the sequence of decisions depends only on the seed and the
        // order of requests.
        let draw: f64 = rng.random();
        draw < probability
    }

    /// Draws the faults that happen before a request is processed.
    pub(crate) fn before(&mut self) -> Faults {
        let mut out = Faults::default();
        for (kind, probability) in &self.faults {
            match kind {
                FaultKind::Latency(delay) => {
                    if Self::fires(&mut self.rng, *probability) {
                        out.latency = Some(out.latency.unwrap_or_default() + *delay);
                    }
                }
                FaultKind::HtmlError => out.html_error |= Self::fires(&mut self.rng, *probability),
                FaultKind::Error5xx => out.error_5xx |= Self::fires(&mut self.rng, *probability),
                FaultKind::RateLimit => out.rate_limit |= Self::fires(&mut self.rng, *probability),
                FaultKind::DropAfterCommit => {}
            }
        }
        out
    }

    /// Draws whether the connection is dropped after an order was committed.
    pub(crate) fn drop_after_commit(&mut self) -> bool {
        let mut drop = false;
        for (kind, probability) in &self.faults {
            if *kind == FaultKind::DropAfterCommit {
                drop |= Self::fires(&mut self.rng, *probability);
            }
        }
        drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn real_limits_allow_100_per_5_seconds() {
        let mut limiter = RateLimiter::new(RateLimit::Real);
        let start = Instant::now();
        for _ in 0..100 {
            assert!(limiter.admit(start));
        }
        assert!(!limiter.admit(start));
        assert!(!limiter.admit(start + Duration::from_millis(4999)));
        assert!(limiter.admit(start + Duration::from_secs(5)));
    }

    #[test]
    fn real_limits_allow_1000_per_3_minutes() {
        let mut limiter = RateLimiter::new(RateLimit::Real);
        let start = Instant::now();
        let mut admitted = 0;
        // 100 every 5 s: the 3-minute window fills after 10 bursts.
        for burst in 0..12u64 {
            let at = start + Duration::from_secs(5 * burst);
            for _ in 0..100 {
                if limiter.admit(at) {
                    admitted += 1;
                }
            }
        }
        assert_eq!(admitted, 1000);
        assert!(limiter.admit(start + Duration::from_secs(180)));
    }

    #[test]
    fn extreme_scale_factors_do_not_panic() {
        // 180 s / 1e-18 does not fit in a Duration: the window saturates.
        let mut limiter = RateLimiter::new("scale=1e-18".parse().unwrap());
        let now = Instant::now();
        assert!((0..100).all(|_| limiter.admit(now)));
        assert!(!limiter.admit(now + Duration::from_secs(3600)));
        let mut limiter = RateLimiter::new(RateLimit::Scaled(1e300));
        assert!((0..2000).all(|i| limiter.admit(now + Duration::from_nanos(i))));
    }

    #[test]
    fn scaled_limits_shrink_the_windows() {
        let mut limiter = RateLimiter::new(RateLimit::Scaled(100.0));
        let start = Instant::now();
        for _ in 0..100 {
            assert!(limiter.admit(start));
        }
        assert!(!limiter.admit(start + Duration::from_millis(49)));
        assert!(limiter.admit(start + Duration::from_millis(50)));
    }

    #[test]
    fn off_never_limits() {
        let mut limiter = RateLimiter::new(RateLimit::Off);
        let start = Instant::now();
        assert!((0..5000).all(|_| limiter.admit(start)));
    }

    #[test]
    fn faults_are_reproducible_from_the_seed() {
        let plan = || {
            FaultPlan::new(
                vec![
                    (FaultKind::Error5xx, 0.5),
                    (FaultKind::Latency(Duration::from_millis(3)), 0.5),
                ],
                ChaCha8Rng::seed_from_u64(7),
            )
        };
        let (mut a, mut b) = (plan(), plan());
        let draws_a: Vec<_> = (0..64).map(|_| a.before()).collect();
        let draws_b: Vec<_> = (0..64).map(|_| b.before()).collect();
        assert_eq!(draws_a, draws_b);
        let fired = draws_a.iter().filter(|f| f.error_5xx).count();
        assert!(fired > 10 && fired < 54, "{fired} of 64");
        assert!(
            draws_a
                .iter()
                .any(|f| f.latency == Some(Duration::from_millis(3)))
        );
    }

    #[test]
    fn probability_bounds_hold() {
        let mut never = FaultPlan::new(
            vec![(FaultKind::DropAfterCommit, 0.0)],
            ChaCha8Rng::seed_from_u64(1),
        );
        let mut always = FaultPlan::new(
            vec![(FaultKind::DropAfterCommit, 1.0)],
            ChaCha8Rng::seed_from_u64(1),
        );
        for _ in 0..100 {
            assert!(!never.drop_after_commit());
            assert!(always.drop_after_commit());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the arrival pattern, no rolling window ever admits more than its limit,
        /// and a request is refused only when a window is full.
        #[test]
        fn windows_never_overflow(gaps in proptest::collection::vec(0u64..40, 1..600)) {
            let mut limiter = RateLimiter::new(RateLimit::Scaled(1000.0)); // 100 per 5 ms, 1000 per 180 ms
            let start = Instant::now();
            let mut at = start;
            let mut admitted: Vec<Instant> = Vec::new();
            for gap in gaps {
                at += Duration::from_micros(gap * 10);
                let in_window = |window: Duration| {
                    admitted.iter().filter(|t| at.saturating_duration_since(**t) < window).count()
                };
                let full = in_window(Duration::from_millis(5)) >= 100
                    || in_window(Duration::from_millis(180)) >= 1000;
                let ok = limiter.admit(at);
                proptest::prop_assert_eq!(ok, !full);
                if ok {
                    admitted.push(at);
                }
            }
        }
    }
}
