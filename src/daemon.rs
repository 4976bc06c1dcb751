//! `chipwatch daemon`: poll every feed on its own schedule until told to
//! stop.
//!
//! One process per database, held by an advisory lock on `<db>.lock`
//! (which also holds the pid, for `chipwatch reload` and `status`). The
//! loop: poll the feeds that are due through the crawl pipeline
//! ([`crawl::crawl_until`]), classify and place stories as `crawl` does,
//! store each polled feed's next poll ([`crate::schedule`]) and broken
//! state, log one line, then sleep until the earliest next poll, a signal
//! or a reload. One [`CancellationToken`] and one [`TaskTracker`] are made
//! here and passed down; SIGINT/SIGTERM cancel the token, no new feed
//! starts, and the feeds in flight get `shutdown_timeout` to finish.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::{self, Config, Locations};
use crate::crawl;
use crate::fetch::Fetcher;
use crate::model::FeedId;
use crate::schedule::{self, FeedTiming};
use crate::store::Db;
use crate::{Exit, UsageError};

/// How long to sleep when no feed is configured (a reload wakes it).
const IDLE: Duration = Duration::from_secs(3600);

/// The lock file of the daemon for the database at `db`: `<db>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The held lock: one daemon per database while this lives.
#[derive(Debug)]
struct DaemonLock {
    _file: File,
}

/// Take the database's daemon lock and write our pid into it, or say who
/// holds it.
fn acquire_lock(db: &Path) -> anyhow::Result<DaemonLock> {
    let path = lock_path(db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = read_pid(&mut file).map_or("unknown".to_owned(), |p| p.to_string());
            return Err(UsageError(format!(
                "another chipwatch daemon (pid {pid}) is running on {} (lock {})",
                db.display(),
                path.display()
            ))
            .into());
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the pid to {}", path.display()))?;
    Ok(DaemonLock { _file: file })
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The pid of the daemon running on the database at `db`, if one holds
/// its lock.
pub fn running_pid(db: &Path) -> anyhow::Result<Option<u32>> {
    let path = lock_path(db);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    match file.try_lock_shared() {
        // Nobody holds it: no daemon (the lock drops with the file).
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(read_pid(&mut file).unwrap_or(0))),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot check {}", path.display())),
    }
}

/// `chipwatch reload`: send SIGHUP to the daemon on the database at `db`.
pub fn send_reload(db: &Path) -> anyhow::Result<u32> {
    let pid = running_pid(db)?.filter(|p| *p > 0).ok_or_else(|| {
        anyhow::anyhow!(
            "no chipwatch daemon is running on {} (nothing holds {})",
            db.display(),
            lock_path(db).display()
        )
    })?;
    let target = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .with_context(|| format!("pid {pid} in {} is not valid", lock_path(db).display()))?;
    rustix::process::kill_process(target, rustix::process::Signal::HUP)
        .with_context(|| format!("cannot signal the daemon (pid {pid})"))?;
    Ok(pid)
}

/// What the daemon runs with; replaced as a whole on reload.
struct Setup {
    cfg: Config,
    profile: Arc<crawl::LazyProfile>,
    fetcher: Fetcher,
    /// Configured interval per feed URL.
    intervals: HashMap<String, Option<Duration>>,
}

impl Setup {
    fn new(cfg: Config) -> anyhow::Result<Self> {
        let profile = Arc::new(crawl::LazyProfile::ready(Arc::new(crate::load_profile(
            &cfg, None,
        )?)));
        let fetcher = Fetcher::new(&cfg.http)?.with_host_gap(cfg.daemon.host_gap);
        let intervals = cfg.feeds.iter().map(|f| (f.url.clone(), f.interval)).collect();
        Ok(Self {
            cfg,
            profile,
            fetcher,
            intervals,
        })
    }
}

/// Run the daemon until SIGINT or SIGTERM. `path` and `loc` say where the
/// configuration came from, to read it again on SIGHUP.
pub async fn run(cfg: Config, path: Option<PathBuf>, loc: Locations) -> anyhow::Result<Exit> {
    // Handlers first: from here on SIGHUP and SIGTERM no longer kill the process.
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let _lock = acquire_lock(&cfg.database)?;
    let db = Db::open(cfg.database.clone())
        .await
        .with_context(|| format!("cannot use the database at {}", cfg.database.display()))?;
    let mut setup = Setup::new(cfg)?;
    let feeds = setup.cfg.feeds.clone();
    let rows = db.call(move |s| s.sync_feeds(&feeds)).await?;
    let pid = std::process::id();
    db.call(move |s| s.daemon_started(pid, Utc::now())).await?;
    info!(
        pid,
        database = %setup.cfg.database.display(),
        feeds = rows.len(),
        config = %setup.cfg.source,
        "daemon started"
    );
    if rows.is_empty() {
        warn!("no enabled feeds are configured; add some and run `chipwatch reload`");
    }

    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(shutdown_signal(term, int, token.clone()));
    let mut rng = fastrand::Rng::new();
    loop {
        if let Err(err) = cycle(&db, &setup, &token, &mut rng).await {
            // A failed cycle (the database, most likely) is logged and retried.
            let error = format!("{err:#}");
            error!(error = %error, "poll cycle failed");
            tokio::select! {
                () = token.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        if token.is_cancelled() {
            break;
        }
        let next = db.call(|s| s.next_poll()).await?;
        let wait = next.map_or(IDLE, |t| until(t, Utc::now()));
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            Some(()) = hangup.recv() => reload(&db, &mut setup, path.as_deref(), &loc).await,
        }
    }
    tracker.close();
    if tokio::time::timeout(setup.cfg.daemon.shutdown_timeout, tracker.wait())
        .await
        .is_err()
    {
        warn!("tasks still running at the shutdown deadline");
    }
    db.call(|s| s.daemon_stopped(Utc::now())).await?;
    info!("daemon stopped");
    Ok(Exit::Ok)
}

/// How long from `now` until `t` (zero when past). Stored poll times have
/// one-second resolution, so wake just after the second turns.
fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (t - now)
        .to_std()
        .map_or(Duration::ZERO, |d| d + Duration::from_millis(5))
}

/// Cancel `token` on SIGINT or SIGTERM.
async fn shutdown_signal(mut term: Signal, mut int: Signal, token: CancellationToken) {
    let name = tokio::select! {
        () = token.cancelled() => return,
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!(
        signal = name,
        "shutting down: no new polls; feeds in flight may finish"
    );
    token.cancel();
}

/// One poll cycle over the feeds that are due. On cancellation, the feeds
/// in flight get `shutdown_timeout`; the others keep their due time and
/// are polled first at the next start.
async fn cycle(
    db: &Db,
    setup: &Setup,
    token: &CancellationToken,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let due = db.call(move |s| s.due_feeds(now)).await?;
    if due.is_empty() {
        return Ok(());
    }
    let jitter: Vec<f64> = due.iter().map(|_| rng.f64() * 2.0 - 1.0).collect();
    let work = poll(db, setup, due, jitter, token);
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => r,
        () = token.cancelled() => {
            let deadline = setup.cfg.daemon.shutdown_timeout;
            match tokio::time::timeout(deadline, &mut work).await {
                Ok(r) => r,
                Err(_) => {
                    warn!(
                        deadline_ms = deadline.as_millis() as u64,
                        "feeds still in flight at the shutdown deadline were cancelled; they are polled first at the next start"
                    );
                    Ok(())
                }
            }
        }
    }
}

async fn poll(
    db: &Db,
    setup: &Setup,
    due: Vec<crate::store::FeedRow>,
    jitter: Vec<f64>,
    token: &CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let reports = crawl::crawl_until(
        db,
        &setup.fetcher,
        &setup.profile,
        due,
        setup.cfg.http.concurrency,
        |_| {},
        token.cancelled(),
    )
    .await;
    // As `crawl` does: anything left without a decision, then stories and
    // their alerts (logged one line each).
    crawl::classify_pending(db, setup.profile.clone()).await?;
    let stories = crawl::assign_stories(db).await?;

    let limits = setup.cfg.daemon.limits;
    let broken_after = setup.cfg.daemon.broken_after;
    let polled: Vec<(FeedId, Option<Duration>, f64)> = reports
        .iter()
        .zip(jitter)
        .map(|(r, j)| (r.feed.id, setup.intervals.get(&r.feed.url).copied().flatten(), j))
        .collect();
    let broken = db
        .call(move |s| -> Result<_, crate::store::StoreError> {
            let now = Utc::now();
            let mut next = Vec::with_capacity(polled.len());
            for (id, configured, jitter) in polled {
                let f = s.schedule_facts(id)?;
                let timing = FeedTiming {
                    configured,
                    items_per_week: schedule::items_per_week(&f.published, now),
                    ttl: f.ttl_minutes.map(|m| Duration::from_secs(u64::from(m) * 60)),
                    update_period: f.update_period_secs.map(Duration::from_secs),
                    max_age: f.max_age_secs.map(Duration::from_secs),
                    retry_after: f.retry_after,
                    consecutive_failures: f.consecutive_failures,
                };
                next.push((id, schedule::next_poll(now, &timing, &limits, jitter)));
            }
            s.save_schedules(&next)?;
            s.update_broken(now, broken_after)
        })
        .await?;
    let mut feed_alerts = 0;
    for b in &broken {
        if b.broken {
            if let Some(alert) = b.alert {
                feed_alerts += 1;
                info!(alert, kind = "feed-broken", feed_id = %b.feed, feed = %b.label, "alert");
            }
            warn!(feed_id = %b.feed, feed = %b.label, "feed marked broken after {broken_after} failures in a row");
        } else {
            info!(feed_id = %b.feed, feed = %b.label, "feed works again; its feed-broken alert is resolved");
        }
    }
    let t = crawl::Tally::of(&reports);
    let alerts = stories.alerts + feed_alerts;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    info!(
        polled = t.polled,
        not_modified = t.not_modified,
        failed = t.failed,
        new_articles = t.new_articles,
        alerts,
        elapsed_ms,
        "poll cycle"
    );
    let summary = serde_json::to_string(&CycleSummary {
        polled: t.polled,
        not_modified: t.not_modified,
        failed: t.failed,
        new_articles: t.new_articles,
        alerts,
        elapsed_ms,
    })?;
    db.call(move |s| s.daemon_cycle(Utc::now(), &summary)).await?;
    Ok(())
}

/// Read the configuration and topic profile again. A bad one is refused
/// with a log line and the running one stays in force.
async fn reload(db: &Db, setup: &mut Setup, path: Option<&Path>, loc: &Locations) {
    info!("SIGHUP: reading the configuration again");
    let fresh = config::load(path, loc)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            if cfg.database != setup.cfg.database {
                anyhow::bail!(
                    "the database cannot change while the daemon runs ({} → {}); restart it instead",
                    setup.cfg.database.display(),
                    cfg.database.display()
                );
            }
            Setup::new(cfg)
        });
    let fresh = match fresh {
        Ok(f) => f,
        Err(err) => {
            let error = format!("{err:#}");
            error!(error = %error, "the new configuration is refused; the running one stays in force");
            return;
        }
    };
    let feeds = fresh.cfg.feeds.clone();
    let before: Vec<String> = setup
        .cfg
        .feeds
        .iter()
        .filter(|f| f.enabled)
        .map(|f| f.url.clone())
        .collect();
    match db.call(move |s| s.sync_feeds(&feeds)).await {
        Ok(rows) => {
            let added = rows.iter().filter(|r| !before.contains(&r.url)).count();
            let removed = before
                .iter()
                .filter(|u| !rows.iter().any(|r| &r.url == *u))
                .count();
            info!(feeds = rows.len(), added, removed, "configuration reloaded");
            *setup = fresh;
        }
        Err(err) => {
            let error = crawl::error_chain(&err);
            error!(error = %error, "cannot apply the new feed list; the running configuration stays in force");
        }
    }
}

/// The counts of one poll cycle, stored as JSON in the daemon's status row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CycleSummary {
    pub polled: usize,
    pub not_modified: usize,
    pub failed: usize,
    pub new_articles: usize,
    pub alerts: usize,
    pub elapsed_ms: u64,
}

/// `chipwatch status`: the daemon and the feeds, as stored.
#[derive(Debug, Clone)]
pub struct Status {
    pub running: bool,
    pub pid: Option<u32>,
    pub started: Option<DateTime<Utc>>,
    pub uptime: Option<Duration>,
    pub stopped: Option<DateTime<Utc>>,
    pub last_cycle: Option<DateTime<Utc>>,
    /// `None` also when the stored summary cannot be read.
    pub last_summary: Option<CycleSummary>,
    /// Configured feeds by health (ok, not modified, failing, broken, never fetched).
    pub feeds: Vec<(&'static str, usize)>,
}

pub async fn status(cfg: &Config) -> anyhow::Result<Status> {
    let pid = running_pid(&cfg.database)?;
    let db = Db::open(cfg.database.clone())
        .await
        .with_context(|| format!("cannot use the database at {}", cfg.database.display()))?;
    let all = cfg.feeds.clone();
    let (row, feeds) = db
        .call(move |s| -> Result<_, crate::store::StoreError> {
            s.sync_feeds(&all)?;
            Ok((s.daemon_status()?, s.feeds()?))
        })
        .await?;
    let mut counts: Vec<(&'static str, usize)> = ["ok", "not modified", "failing", "broken", "never fetched"]
        .into_iter()
        .map(|k| (k, 0))
        .collect();
    for f in feeds.iter().filter(|f| f.active) {
        if let Some(c) = counts.iter_mut().find(|(k, _)| *k == f.health()) {
            c.1 += 1;
        }
    }
    let running = pid.is_some();
    let now = Utc::now();
    Ok(Status {
        running,
        pid: pid.or(row.as_ref().map(|r| r.pid)).filter(|_| running),
        started: row.as_ref().map(|r| r.started),
        uptime: row
            .as_ref()
            .filter(|_| running)
            .and_then(|r| (now - r.started).to_std().ok()),
        stopped: row.as_ref().and_then(|r| r.stopped),
        last_cycle: row.as_ref().and_then(|r| r.last_cycle),
        last_summary: row
            .and_then(|r| r.last_summary)
            .and_then(|j| serde_json::from_str(&j).ok()),
        feeds: counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_per_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        assert_eq!(running_pid(&db).unwrap(), None);
        let held = acquire_lock(&db).unwrap();
        assert_eq!(running_pid(&db).unwrap(), Some(std::process::id()));
        let err = acquire_lock(&db).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(held);
        assert_eq!(running_pid(&db).unwrap(), None);
        // A stale lock file left by a killed daemon does not block a new one.
        let again = acquire_lock(&db).unwrap();
        drop(again);
        assert_eq!(lock_path(&db), dir.path().join("x.db.lock"));
    }

    #[test]
    fn wake_after_the_second_turns() {
        let now = Utc::now();
        assert_eq!(until(now - chrono::Duration::seconds(3), now), Duration::ZERO);
        let d = until(now + chrono::Duration::seconds(2), now);
        assert!(
            d > Duration::from_secs(2) && d < Duration::from_millis(2100),
            "{d:?}"
        );
    }
}
