//! Poll scheduling: when to fetch a feed next, and why. Pure: the caller
//! hands in the time, the feed's history and a jitter sample; nothing here
//! reads a clock or does IO.
//!
//! The rules (README, "Daemon"):
//! - a failing feed backs off: `backoff × 2^(failures − 1)`, capped at
//!   `max_interval`; it is never given up on;
//! - otherwise the configured `interval`, else an adaptive one: 7 days ÷
//!   items per week, clamped to `[min_interval, max_interval]`;
//! - never sooner than the feed's `<ttl>`, `sy:updatePeriod` or
//!   Cache-Control `max-age` (each capped at `max_interval`), nor than a
//!   Retry-After it sent;
//! - ±10% jitter, so feeds added together drift apart.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How far jitter moves an interval: ±10%.
pub const JITTER: f64 = 0.10;
/// The interval for a feed whose items carry no dates.
pub const UNKNOWN_RATE_INTERVAL: Duration = Duration::from_secs(3600);
/// How much history the publication rate is measured over.
pub const RATE_WINDOW: Duration = Duration::from_secs(28 * 86_400);
const WEEK: Duration = Duration::from_secs(7 * 86_400);
const DAY: Duration = Duration::from_secs(86_400);

/// Why a feed's next poll is when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The feed's `interval` in the config.
    Configured,
    /// From how often the feed publishes.
    Adaptive,
    /// The feed's `<ttl>`.
    Ttl,
    /// The feed's `sy:updatePeriod` / `sy:updateFrequency`.
    UpdatePeriod,
    /// The server's Cache-Control `max-age`.
    CacheControl,
    /// The server's Retry-After.
    RetryAfter,
    /// Exponential backoff after failures.
    Backoff,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Configured,
        Reason::Adaptive,
        Reason::Ttl,
        Reason::UpdatePeriod,
        Reason::CacheControl,
        Reason::RetryAfter,
        Reason::Backoff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Configured => "configured",
            Reason::Adaptive => "adaptive",
            Reason::Ttl => "ttl",
            Reason::UpdatePeriod => "update-period",
            Reason::CacheControl => "cache-control",
            Reason::RetryAfter => "retry-after",
            Reason::Backoff => "backoff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounds from the `[daemon]` config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// The first retry after a failure; doubles with each further failure.
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(5 * 60),
            max_interval: DAY,
            backoff: Duration::from_secs(5 * 60),
        }
    }
}

/// What the schedule knows about one feed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FeedTiming {
    /// The feed's `interval` in the config.
    pub configured: Option<Duration>,
    /// Publication rate, from [`items_per_week`].
    pub items_per_week: Option<f64>,
    pub ttl: Option<Duration>,
    pub update_period: Option<Duration>,
    pub max_age: Option<Duration>,
    pub retry_after: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
}

/// The next poll of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub at: DateTime<Utc>,
    pub interval: Duration,
    pub reason: Reason,
}

/// When to poll a feed next. `jitter` is a sample in `[-1, 1]` (clamped).
pub fn next_poll(now: DateTime<Utc>, feed: &FeedTiming, limits: &Limits, jitter: f64) -> Next {
    let jitter = if jitter.is_finite() {
        jitter.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let jittered = |d: Duration| d.mul_f64(1.0 + JITTER * jitter);
    let (mut interval, mut reason) = if feed.consecutive_failures > 0 {
        let doublings = (feed.consecutive_failures - 1).min(30);
        let base = limits
            .backoff
            .saturating_mul(1u32 << doublings)
            .min(limits.max_interval);
        (jittered(base).min(limits.max_interval), Reason::Backoff)
    } else {
        let (base, reason) = match feed.configured {
            Some(c) => (c, Reason::Configured),
            None => (adaptive_interval(feed.items_per_week, limits), Reason::Adaptive),
        };
        let mut interval = jittered(base);
        let mut reason = reason;
        for (floor, why) in [
            (feed.ttl, Reason::Ttl),
            (feed.update_period, Reason::UpdatePeriod),
            (feed.max_age, Reason::CacheControl),
        ] {
            if let Some(floor) = floor.map(|f| f.min(limits.max_interval))
                && floor > interval
            {
                interval = floor;
                reason = why;
            }
        }
        (interval, reason)
    };
    let mut at = now + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
    if let Some(retry) = feed.retry_after
        && retry > at
    {
        at = retry;
        interval = (retry - now).to_std().unwrap_or(interval);
        reason = Reason::RetryAfter;
    }
    Next { at, interval, reason }
}

/// 7 days ÷ items per week, clamped to the limits; an hour (clamped) when
/// the rate is unknown.
pub fn adaptive_interval(items_per_week: Option<f64>, limits: &Limits) -> Duration {
    let raw = match items_per_week {
        None => UNKNOWN_RATE_INTERVAL,
        Some(r) if !(r.is_finite() && r > 0.0) => limits.max_interval,
        Some(r) => Duration::try_from_secs_f64(WEEK.as_secs_f64() / r).unwrap_or(limits.max_interval),
    };
    raw.clamp(limits.min_interval, limits.max_interval.max(limits.min_interval))
}

/// Items per week over the last four weeks (or the feed's whole history
/// when it is younger, but at least a day). `None` when no item is dated.
pub fn items_per_week(published: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<f64> {
    let oldest = published.iter().min()?;
    let window = chrono::Duration::from_std(RATE_WINDOW).expect("four weeks fit");
    let span = (now - *oldest)
        .to_std()
        .unwrap_or_default()
        .clamp(DAY, RATE_WINDOW);
    let recent = published.iter().filter(|t| **t > now - window).count();
    Some(recent as f64 / (span.as_secs_f64() / WEEK.as_secs_f64()))
}

/// The usual gap between a feed's items: the median gap between its
/// newest 30 dated items. `None` with fewer than three.
pub fn usual_gap(published: &[DateTime<Utc>]) -> Option<Duration> {
    let mut times = published.to_vec();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times.truncate(30);
    let mut gaps: Vec<Duration> = times
        .windows(2)
        .map(|w| (w[0] - w[1]).to_std().unwrap_or_default())
        .collect();
    if gaps.len() < 2 {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// A feed that publishes about daily or more often (usual gap ≤ 36 h) and
/// has published nothing for three times its usual gap. The gap counts as
/// at least a day, so a busy feed's quiet night is not flagged.
pub fn is_silent(published: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
    let (Some(gap), Some(newest)) = (usual_gap(published), published.iter().max()) else {
        return false;
    };
    if gap > Duration::from_secs(36 * 3600) {
        return false;
    }
    let quiet = (now - *newest).to_std().unwrap_or_default();
    quiet > gap.max(DAY) * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }
    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[track_caller]
    fn check(feed: FeedTiming, jitter: f64, interval: Duration, reason: Reason) {
        let next = next_poll(t0(), &feed, &Limits::default(), jitter);
        assert_eq!((next.interval, next.reason), (interval, reason), "{feed:?}");
        assert_eq!(next.at, t0() + chrono::Duration::from_std(interval).unwrap());
    }

    #[test]
    fn configured_interval_is_used_as_is() {
        let feed = FeedTiming {
            configured: Some(Duration::from_secs(2)),
            items_per_week: Some(1000.0),
            ..Default::default()
        };
        check(feed, 0.0, Duration::from_secs(2), Reason::Configured);
    }

    #[test]
    fn adaptive_is_a_week_over_the_rate_clamped() {
        let rate = |r| FeedTiming {
            items_per_week: r,
            ..Default::default()
        };
        check(rate(Some(7.0)), 0.0, 24 * HOUR, Reason::Adaptive);
        check(rate(Some(14.0)), 0.0, 12 * HOUR, Reason::Adaptive);
        check(rate(Some(168.0)), 0.0, HOUR, Reason::Adaptive);
        // A very busy feed is not polled more than every 5 minutes.
        check(rate(Some(100_000.0)), 0.0, 5 * MIN, Reason::Adaptive);
        // A quiet or dead one at least daily.
        check(rate(Some(0.5)), 0.0, 24 * HOUR, Reason::Adaptive);
        check(rate(Some(0.0)), 0.0, 24 * HOUR, Reason::Adaptive);
        // No dated items: an hour.
        check(rate(None), 0.0, HOUR, Reason::Adaptive);
    }

    #[test]
    fn floors_win_over_a_shorter_interval() {
        let base = FeedTiming {
            configured: Some(10 * MIN),
            ..Default::default()
        };
        let with = |f: fn(&mut FeedTiming)| {
            let mut t = base;
            f(&mut t);
            t
        };
        check(with(|t| t.ttl = Some(HOUR)), 0.0, HOUR, Reason::Ttl);
        check(
            with(|t| t.update_period = Some(2 * HOUR)),
            0.0,
            2 * HOUR,
            Reason::UpdatePeriod,
        );
        check(
            with(|t| t.max_age = Some(30 * MIN)),
            0.0,
            30 * MIN,
            Reason::CacheControl,
        );
        // The largest floor wins.
        check(
            with(|t| {
                t.ttl = Some(HOUR);
                t.max_age = Some(3 * HOUR);
            }),
            0.0,
            3 * HOUR,
            Reason::CacheControl,
        );
        // A floor below the interval changes nothing.
        check(with(|t| t.ttl = Some(MIN)), 0.0, 10 * MIN, Reason::Configured);
        // A floor is capped at max_interval: a week-long ttl still polls daily.
        check(with(|t| t.ttl = Some(7 * 24 * HOUR)), 0.0, 24 * HOUR, Reason::Ttl);
    }

    #[test]
    fn retry_after_is_honoured_and_scoped_to_the_feed() {
        let later = t0() + chrono::Duration::hours(2);
        let feed = FeedTiming {
            configured: Some(10 * MIN),
            retry_after: Some(later),
            ..Default::default()
        };
        check(feed, 0.0, 2 * HOUR, Reason::RetryAfter);
        // With a failure too: the later of backoff and Retry-After.
        let failing = FeedTiming {
            consecutive_failures: 1,
            ..feed
        };
        check(failing, 0.0, 2 * HOUR, Reason::RetryAfter);
        // A Retry-After in the past is ignored.
        let past = FeedTiming {
            configured: Some(10 * MIN),
            retry_after: Some(t0() - chrono::Duration::hours(1)),
            ..Default::default()
        };
        check(past, 0.0, 10 * MIN, Reason::Configured);
    }

    #[test]
    fn backoff_doubles_and_caps_at_a_day() {
        let failing = |n| FeedTiming {
            configured: Some(Duration::from_secs(2)),
            ttl: Some(HOUR),
            consecutive_failures: n,
            ..Default::default()
        };
        check(failing(1), 0.0, 5 * MIN, Reason::Backoff);
        check(failing(2), 0.0, 10 * MIN, Reason::Backoff);
        check(failing(3), 0.0, 20 * MIN, Reason::Backoff);
        check(failing(9), 0.0, 1280 * MIN, Reason::Backoff);
        check(failing(10), 0.0, 24 * HOUR, Reason::Backoff);
        check(failing(10_000), 1.0, 24 * HOUR, Reason::Backoff);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let feed = FeedTiming {
            configured: Some(HOUR),
            ..Default::default()
        };
        check(feed, 1.0, HOUR.mul_f64(1.1), Reason::Configured);
        check(feed, -1.0, HOUR.mul_f64(0.9), Reason::Configured);
        // Out-of-range samples are clamped; NaN means none.
        check(feed, 7.0, HOUR.mul_f64(1.1), Reason::Configured);
        check(feed, f64::NAN, HOUR, Reason::Configured);
    }

    #[test]
    fn publication_rate() {
        let now = t0();
        let days_ago = |d: i64| now - chrono::Duration::days(d);
        assert_eq!(items_per_week(&[], now), None);
        // 28 items over four weeks: 7 a week.
        let daily: Vec<_> = (0..28).map(days_ago).collect();
        assert!((items_per_week(&daily, now).unwrap() - 7.0).abs() < 0.3);
        // A young feed: its history is the window (10 items in 2 days).
        let young: Vec<_> = (0..10).map(|h| now - chrono::Duration::hours(h * 4)).collect();
        let r = items_per_week(&young, now).unwrap();
        assert!((r - 10.0 / (36.0 / 168.0)).abs() < 1.0 || r > 30.0, "{r}");
        // Only old items: rate zero.
        assert_eq!(items_per_week(&[days_ago(60), days_ago(90)], now), Some(0.0));
    }

    #[test]
    fn silence_is_flagged_for_daily_feeds_only() {
        let now = t0();
        let daily_until = |last: i64| -> Vec<_> {
            (last..last + 20)
                .map(|d| now - chrono::Duration::days(d))
                .collect()
        };
        assert!(!is_silent(&daily_until(0), now));
        assert!(!is_silent(&daily_until(2), now));
        assert!(is_silent(&daily_until(4), now));
        // Weekly feeds are never flagged.
        let weekly: Vec<_> = (1..10).map(|w| now - chrono::Duration::weeks(w)).collect();
        assert!(!is_silent(&weekly, now));
        // An hourly feed quiet for a night is not silent; for four days it is.
        let hourly = |from_h: i64| -> Vec<_> {
            (from_h..from_h + 40)
                .map(|h| now - chrono::Duration::hours(h))
                .collect()
        };
        assert!(!is_silent(&hourly(10), now));
        assert!(is_silent(&hourly(96), now));
        assert!(!is_silent(&[], now));
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }

    /// The scheduler loop over paused tokio time: one feed scripted to
    /// publish, fail for a while, send a Retry-After, then come back with a
    /// ttl. Sleeping until each computed poll time must land the polls at
    /// exactly the intervals the rules give.
    #[tokio::test(start_paused = true)]
    async fn paused_time_loop_follows_the_rules() {
        #[derive(Clone, Copy, Debug)]
        enum Outcome {
            Ok,
            Fail,
            RetryAfter(u64),
            OkWithTtl(u64),
        }
        let script: Vec<Outcome> = std::iter::repeat_n(Outcome::Ok, 3)
            .chain([Outcome::Fail, Outcome::RetryAfter(7200)])
            .chain(std::iter::repeat_n(Outcome::Fail, 11))
            .chain(std::iter::repeat_n(Outcome::OkWithTtl(240), 3))
            .collect();
        let limits = Limits::default();
        let start = tokio::time::Instant::now();
        let base = t0();
        let clock = || base + chrono::Duration::from_std(start.elapsed()).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut feed = FeedTiming {
            // 48 items a week: adaptive 3.5 h.
            items_per_week: Some(48.0),
            ..Default::default()
        };
        let mut polls = Vec::new();
        let mut planned = Vec::new();
        for outcome in script {
            let now = clock();
            polls.push(now);
            match outcome {
                Outcome::Ok => feed.consecutive_failures = 0,
                Outcome::Fail => {
                    feed.consecutive_failures += 1;
                    feed.retry_after = None;
                }
                Outcome::RetryAfter(s) => {
                    feed.consecutive_failures += 1;
                    feed.retry_after = Some(now + chrono::Duration::seconds(s as i64));
                }
                Outcome::OkWithTtl(min) => {
                    feed.consecutive_failures = 0;
                    feed.retry_after = None;
                    feed.ttl = Some(Duration::from_secs(min * 60));
                }
            }
            let next = next_poll(now, &feed, &limits, rng.f64() * 2.0 - 1.0);
            planned.push(next);
            tokio::time::sleep_until(start + (next.at - base).to_std().unwrap()).await;
        }
        let gaps: Vec<Duration> = polls
            .windows(2)
            .map(|w| (w[1] - w[0]).to_std().unwrap())
            .collect();
        // Each poll happened when the previous one planned it (the timer
        // wheel has millisecond resolution).
        for (gap, plan) in gaps.iter().zip(&planned) {
            assert!(
                gap.abs_diff(plan.interval) <= Duration::from_millis(1),
                "{gap:?} {plan:?}"
            );
        }
        let within = |d: Duration, nominal: Duration| {
            d >= nominal.mul_f64(0.9) && d <= nominal.mul_f64(1.1) + Duration::from_millis(1)
        };
        // Healthy: adaptive 3.5 h ± 10%.
        for p in &planned[..3] {
            assert_eq!(p.reason, Reason::Adaptive);
            assert!(within(p.interval, Duration::from_secs(12_600)), "{p:?}");
        }
        // First failure: 5 minutes. Then a 429 with Retry-After of 2 h:
        // later than the 10-minute backoff, so it wins, for this feed.
        assert_eq!(planned[3].reason, Reason::Backoff);
        assert!(within(planned[3].interval, 5 * MIN), "{:?}", planned[3]);
        assert_eq!(
            (planned[4].reason, planned[4].interval),
            (Reason::RetryAfter, 2 * HOUR)
        );
        // Still failing: 20, 40, 80 ... minutes, never beyond a day, never stopping.
        for (i, p) in planned[5..16].iter().enumerate() {
            let n = i as u32 + 2;
            assert_eq!(p.reason, Reason::Backoff);
            let nominal = (5 * MIN * (1 << n)).min(24 * HOUR);
            assert!(
                within(p.interval, nominal) && p.interval <= 24 * HOUR,
                "{n}: {p:?}"
            );
        }
        // The cap is reached: the last failures all plan about a day ahead.
        assert!(planned[12..16].iter().all(|p| within(p.interval, 24 * HOUR)));
        // Back with a 4 h ttl: above adaptive 3.5 h ± 10%, so the ttl rules.
        for p in &planned[16..] {
            assert_eq!((p.reason, p.interval), (Reason::Ttl, 4 * HOUR), "{p:?}");
        }
        assert_eq!(polls.len(), 19);
    }
}
