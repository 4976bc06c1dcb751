//! Storage: the only module that knows SQL. One SQLite file in WAL mode,
//! versioned migrations (`PRAGMA user_version`), one transaction per feed.
//!
//! Times are stored as Unix seconds (UTC).

mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::FeedConfig;
use crate::dedup;
use crate::model::{ArticleId, FeedId, FeedState, ParsedFeed, ParsedItem, Reference};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot migrate the database {path} to the current schema")]
    Migrate {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },
    #[error("the write batch could not be committed: {message}")]
    Batch { message: String },
    #[error("`{query}` is not a valid search: {message} (words, \"a phrase\", AND, OR, NOT, prefix*)")]
    BadSearch { query: String, message: String },
    #[error("database query failed: {what}")]
    Query {
        what: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

trait Ctx<T> {
    fn ctx(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { what, source })
    }
}

/// A feed row with its fetch state.
#[derive(Debug, Clone)]
pub struct FeedRow {
    pub id: FeedId,
    pub url: String,
    pub name: Option<String>,
    pub title: Option<String>,
    pub lang: Option<String>,
    pub active: bool,
    pub state: FeedState,
    pub last_fetch: Option<DateTime<Utc>>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub retry_after: Option<DateTime<Utc>>,
    pub discovered_url: Option<String>,
    pub articles: u64,
    /// When the daemon polls it next, at what interval and why.
    pub next_poll: Option<DateTime<Utc>>,
    pub interval: Option<Duration>,
    pub interval_reason: Option<String>,
    /// Set when the feed was marked broken (too many failures in a row).
    pub broken_since: Option<DateTime<Utc>>,
}

impl FeedRow {
    /// ok, not modified, failing, broken, or never fetched.
    pub fn health(&self) -> &'static str {
        if self.broken_since.is_some() {
            "broken"
        } else if self.consecutive_failures > 0 {
            "failing"
        } else {
            match self.last_status.as_deref() {
                None => "never fetched",
                Some("not modified") => "not modified",
                Some(_) => "ok",
            }
        }
    }
}

/// What the scheduler needs to know about a feed, as stored.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFacts {
    pub ttl_minutes: Option<u32>,
    pub update_period_secs: Option<u64>,
    pub max_age_secs: Option<u64>,
    pub retry_after: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Publication times of its newest dated items (at most 200), newest first.
    pub published: Vec<DateTime<Utc>>,
}

/// A feed's change of broken state, for the log.
#[derive(Debug, Clone)]
pub struct BrokenChange {
    pub feed: FeedId,
    pub label: String,
    pub broken: bool,
    /// The alert raised (when it broke).
    pub alert: Option<i64>,
}

/// The daemon's status row.
#[derive(Debug, Clone)]
pub struct DaemonRow {
    pub pid: u32,
    pub started: DateTime<Utc>,
    pub stopped: Option<DateTime<Utc>>,
    pub last_cycle: Option<DateTime<Utc>>,
    /// JSON summary of the last cycle.
    pub last_summary: Option<String>,
}

/// What a successful fetch brought besides the document.
#[derive(Debug, Clone, Default)]
pub struct FetchMeta {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Set when the configured URL was an HTML page that pointed to this feed.
    pub discovered_url: Option<String>,
    /// Cache-Control max-age of the response.
    pub max_age: Option<Duration>,
}

/// What storing one feed document changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Articles seen for the first time anywhere.
    pub new: usize,
    /// Articles whose title or text changed.
    pub updated: usize,
    /// Articles already stored from another feed, now also carried by this one.
    pub linked: usize,
    /// New or updated articles whose decision (made with them) is relevant.
    pub relevant: usize,
}

/// An article's text as the classifier needs it.
#[derive(Debug, Clone)]
pub struct ArticleText {
    pub id: ArticleId,
    pub title: String,
    pub summary: String,
    /// The item's or feed's declared language, else the configured one.
    pub lang: Option<String>,
    pub url: Option<String>,
    pub published: Option<DateTime<Utc>>,
}

/// A classification as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    pub relevant: bool,
    pub score: f64,
    pub event: Option<String>,
    /// JSON array of chip names.
    pub chips: String,
    /// JSON object of entity lists.
    pub entities: String,
    pub lang: Option<String>,
    /// JSON evidence.
    pub evidence: String,
    /// Fingerprint of the profile that decided.
    pub profile: String,
    /// How it relates to earlier developments.
    pub follow_up: Reference,
}

/// An article found by a full-text search.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub id: ArticleId,
    pub title: String,
    pub url: Option<String>,
    pub feed: String,
    pub published: Option<DateTime<Utc>>,
    pub relevant: Option<bool>,
    pub event: Option<String>,
    pub story: Option<i64>,
}

/// A relevant article waiting for its story.
#[derive(Debug, Clone)]
pub struct StoryInput {
    pub id: ArticleId,
    pub title: String,
    /// Publication time (first seen when the feed gave none), Unix seconds.
    pub published: i64,
    pub event: String,
    /// Entities JSON and chips JSON of the decision.
    pub entities: String,
    pub chips: String,
    /// How it relates to earlier developments.
    pub follow_up: Reference,
}

/// A story as listed.
#[derive(Debug, Clone)]
pub struct StoryRow {
    pub id: i64,
    pub title: String,
    pub event: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub articles: u32,
    pub outlets: Vec<String>,
    pub langs: Vec<String>,
    pub chips: Vec<String>,
}

/// One report of a story.
#[derive(Debug, Clone)]
pub struct StoryArticle {
    pub id: ArticleId,
    pub title: String,
    pub url: Option<String>,
    pub outlet: String,
    pub lang: Option<String>,
    pub published: Option<DateTime<Utc>>,
}

/// An alert as listed.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub event: Option<String>,
    pub severity: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub reason: String,
    pub article: Option<ArticleId>,
    pub story: Option<StoryRow>,
    pub url: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// The feed a `feed-broken` alert is about (its name, title or URL).
    pub feed: Option<String>,
}

/// One stored article as `export` writes it.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub id: ArticleId,
    pub url: Option<String>,
    pub canonical_url: Option<String>,
    pub guid: String,
    pub title: String,
    pub summary: String,
    pub lang: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    /// URL of the first feed that carried it.
    pub feed: String,
    pub feed_name: Option<String>,
    /// URLs of every feed that carried it, first first.
    pub feeds: Vec<String>,
    pub decision: Option<StoredDecision>,
    pub story: Option<i64>,
    /// This article raised an alert.
    pub alert: bool,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(s: Option<i64>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::from_timestamp(s, 0))
}

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(open_err)?;
        conn.execute_batch(
            // Large pages (they only apply to a new database, so they come
            // first): a cold crawl of 500 feeds took 7-10% less CPU and
            // wall time than with 4 KiB pages, and an all-304 recrawl about
            // 15% less (fewer page splits, WAL frames and writes).
            "PRAGMA page_size = 32768;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -32768;",
        )
        .map_err(open_err)?;
        // Let the WAL grow to 64 MiB before a commit checkpoints it (a cold
        // crawl then checkpoints once, when the store closes), whatever the
        // database's page size.
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(open_err)?;
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {};",
            (64 << 20) / page_size.max(512)
        ))
        .map_err(open_err)?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make the feeds table match the configured feeds: insert new ones,
    /// refresh names, mark feeds no longer configured inactive (their
    /// articles stay). Returns the configured feeds' rows in config order.
    pub fn sync_feeds(&mut self, feeds: &[FeedConfig]) -> Result<Vec<FeedRow>, StoreError> {
        let wanted: HashMap<&str, &FeedConfig> = feeds
            .iter()
            .filter(|f| f.enabled)
            .map(|f| (f.url.as_str(), f))
            .collect();
        let before = self.feed_rows(false)?;
        // Most runs change nothing: then nothing is written.
        let known = before
            .iter()
            .filter(|r| wanted.contains_key(r.url.as_str()))
            .count();
        let changed = known < wanted.len()
            || before.iter().any(|r| match wanted.get(r.url.as_str()) {
                Some(f) => !r.active || r.name != f.name || (f.lang.is_some() && r.lang != f.lang),
                None => r.active,
            });
        let all = if changed {
            let tx = self.conn.transaction().ctx("begin feed sync")?;
            tx.execute("UPDATE feeds SET active = 0 WHERE active = 1", [])
                .ctx("deactivate feeds")?;
            {
                let mut up = tx
                    .prepare_cached(
                        "INSERT INTO feeds (url, name, lang, active) VALUES (?1, ?2, ?3, 1)
                         ON CONFLICT(url) DO UPDATE SET name = excluded.name,
                             lang = COALESCE(excluded.lang, feeds.lang), active = 1",
                    )
                    .ctx("prepare feed upsert")?;
                for f in feeds.iter().filter(|f| f.enabled) {
                    up.execute(params![f.url, f.name, f.lang]).ctx("upsert feed")?;
                }
            }
            tx.commit().ctx("commit feed sync")?;
            self.feed_rows(false)?
        } else {
            before
        };
        let order: Vec<usize> = {
            let by_url: HashMap<&str, usize> =
                all.iter().enumerate().map(|(i, r)| (r.url.as_str(), i)).collect();
            feeds
                .iter()
                .filter(|f| f.enabled)
                .filter_map(|f| by_url.get(f.url.as_str()).copied())
                .collect()
        };
        // Moved out, not cloned (a configured URL is listed once).
        let mut rows: Vec<Option<FeedRow>> = all.into_iter().map(Some).collect();
        Ok(order.into_iter().filter_map(|i| rows[i].take()).collect())
    }

    /// Every known feed, configured ones first, with its health.
    pub fn feeds(&self) -> Result<Vec<FeedRow>, StoreError> {
        self.feed_rows(true)
    }

    fn feed_rows(&self, with_counts: bool) -> Result<Vec<FeedRow>, StoreError> {
        self.feed_rows_where(with_counts, "1", [])
    }

    /// Configured feeds due for a poll at `now` (never polled, or their
    /// next poll has come), most overdue first.
    pub fn due_feeds(&self, now: DateTime<Utc>) -> Result<Vec<FeedRow>, StoreError> {
        self.feed_rows_where(
            false,
            "f.active = 1 AND (f.next_poll IS NULL OR f.next_poll <= ?1)",
            [ts(now)],
        )
    }

    /// The earliest next poll of a configured feed (a never-polled feed is
    /// due at the epoch); `None` when no feed is configured.
    pub fn next_poll(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<i64> = self
            .conn
            .query_row(
                "SELECT MIN(COALESCE(next_poll, 0)) FROM feeds WHERE active = 1",
                [],
                |r| r.get(0),
            )
            .ctx("read next poll")?;
        Ok(from_ts(t))
    }

    /// The stored facts the scheduler needs for `feed`.
    pub fn schedule_facts(&self, feed: FeedId) -> Result<ScheduleFacts, StoreError> {
        let mut facts = self
            .conn
            .prepare_cached(
                "SELECT ttl_minutes, update_period_secs, max_age_secs, retry_after, consecutive_failures
                 FROM feeds WHERE id = ?1",
            )
            .ctx("prepare schedule facts")?
            .query_row([feed.0], |r| {
                Ok(ScheduleFacts {
                    ttl_minutes: r.get(0)?,
                    update_period_secs: r.get::<_, Option<i64>>(1)?.map(|v| v.max(0) as u64),
                    max_age_secs: r.get::<_, Option<i64>>(2)?.map(|v| v.max(0) as u64),
                    retry_after: from_ts(r.get(3)?),
                    consecutive_failures: r.get(4)?,
                    published: Vec::new(),
                })
            })
            .ctx("read schedule facts")?;
        facts.published = self.published_times(feed)?;
        Ok(facts)
    }

    /// Publication times of a feed's newest dated items (at most 200), newest first.
    pub fn published_times(&self, feed: FeedId) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.published FROM feed_articles fa JOIN articles a ON a.id = fa.article_id
                 WHERE fa.feed_id = ?1 AND a.published IS NOT NULL
                 ORDER BY a.published DESC LIMIT 200",
            )
            .ctx("prepare publication times")?;
        let rows = stmt
            .query_map([feed.0], |r| r.get::<_, i64>(0))
            .ctx("read publication times")?;
        let times: Vec<i64> = rows.collect::<Result<_, _>>().ctx("read publication time")?;
        Ok(times.into_iter().filter_map(|t| from_ts(Some(t))).collect())
    }

    /// Store each feed's next poll, interval and why, in one transaction.
    pub fn save_schedules(
        &mut self,
        schedules: &[(FeedId, crate::schedule::Next)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().ctx("begin schedules")?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE feeds SET next_poll = ?2, interval_secs = ?3, interval_reason = ?4 WHERE id = ?1",
                )
                .ctx("prepare schedule")?;
            for (feed, next) in schedules {
                stmt.execute(params![
                    feed.0,
                    ts(next.at),
                    next.interval.as_secs() as i64,
                    next.reason.as_str()
                ])
                .ctx("save schedule")?;
            }
        }
        tx.commit().ctx("commit schedules")
    }

    /// Mark configured feeds with `broken_after` or more failures in a row
    /// broken, raising one `feed-broken` alert each, and clear feeds that
    /// work again, resolving their alert. Idempotent: a broken feed is
    /// marked (and alerted) once, whatever restarts happen.
    pub fn update_broken(
        &mut self,
        now: DateTime<Utc>,
        broken_after: u32,
    ) -> Result<Vec<BrokenChange>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("begin broken update")?;
        let mut changes = Vec::new();
        {
            let mut newly = tx
                .prepare_cached(
                    "SELECT id, COALESCE(name, title, url), consecutive_failures, COALESCE(last_error, '')
                     FROM feeds WHERE active = 1 AND broken_since IS NULL AND consecutive_failures >= ?1",
                )
                .ctx("prepare broken feeds")?;
            let rows: Vec<(i64, String, u32, String)> = newly
                .query_map([broken_after], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .ctx("find broken feeds")?
                .collect::<Result<_, _>>()
                .ctx("read broken feed")?;
            for (id, label, failures, error) in rows {
                tx.execute(
                    "UPDATE feeds SET broken_since = ?2 WHERE id = ?1",
                    params![id, ts(now)],
                )
                .ctx("mark feed broken")?;
                let reason = format!("{failures} failures in a row; last error: {error}");
                let inserted = tx
                    .execute(
                        "INSERT OR IGNORE INTO alerts (kind, feed_id, severity, created_at, reason)
                         VALUES ('feed-broken', ?1, 'medium', ?2, ?3)",
                        params![id, ts(now), reason],
                    )
                    .ctx("raise feed-broken alert")?;
                changes.push(BrokenChange {
                    feed: FeedId(id),
                    label,
                    broken: true,
                    alert: (inserted > 0).then(|| tx.last_insert_rowid()),
                });
            }
            let mut healed = tx
                .prepare_cached(
                    "SELECT id, COALESCE(name, title, url) FROM feeds
                     WHERE broken_since IS NOT NULL AND consecutive_failures = 0",
                )
                .ctx("prepare recovered feeds")?;
            let rows: Vec<(i64, String)> = healed
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("find recovered feeds")?
                .collect::<Result<_, _>>()
                .ctx("read recovered feed")?;
            for (id, label) in rows {
                tx.execute("UPDATE feeds SET broken_since = NULL WHERE id = ?1", [id])
                    .ctx("clear broken feed")?;
                tx.execute(
                    "UPDATE alerts SET state = 'resolved'
                     WHERE kind = 'feed-broken' AND feed_id = ?1 AND state IN ('new', 'acknowledged')",
                    [id],
                )
                .ctx("resolve feed-broken alert")?;
                changes.push(BrokenChange {
                    feed: FeedId(id),
                    label,
                    broken: false,
                    alert: None,
                });
            }
        }
        tx.commit().ctx("commit broken update")?;
        Ok(changes)
    }

    /// Record that a daemon (this process) started.
    pub fn daemon_started(&mut self, pid: u32, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO daemon (id, pid, started) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, started = excluded.started, stopped = NULL",
                params![pid, ts(now)],
            )
            .map(drop)
            .ctx("record daemon start")
    }

    /// Record a finished poll cycle's summary (JSON).
    pub fn daemon_cycle(&mut self, now: DateTime<Utc>, summary: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE daemon SET last_cycle = ?1, last_summary = ?2 WHERE id = 1",
                params![ts(now), summary],
            )
            .map(drop)
            .ctx("record daemon cycle")
    }

    /// Record a clean daemon stop.
    pub fn daemon_stopped(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE daemon SET stopped = ?1 WHERE id = 1", [ts(now)])
            .map(drop)
            .ctx("record daemon stop")
    }

    /// The last daemon's status row, if a daemon ever ran on this database.
    pub fn daemon_status(&self) -> Result<Option<DaemonRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT pid, started, stopped, last_cycle, last_summary FROM daemon WHERE id = 1",
                [],
                |r| {
                    Ok(DaemonRow {
                        pid: r.get(0)?,
                        started: from_ts(r.get(1)?).unwrap_or_default(),
                        stopped: from_ts(r.get(2)?),
                        last_cycle: from_ts(r.get(3)?),
                        last_summary: r.get(4)?,
                    })
                },
            )
            .optional()
            .ctx("read daemon status")
    }

    fn feed_rows_where(
        &self,
        with_counts: bool,
        filter: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<FeedRow>, StoreError> {
        let count = if with_counts {
            "(SELECT COUNT(*) FROM feed_articles fa WHERE fa.feed_id = f.id)"
        } else {
            "0"
        };
        let sql = format!(
            "SELECT f.id, f.url, f.name, f.title, f.lang, f.active, f.etag, f.last_modified,
                    f.last_fetch, f.last_ok, f.last_status, f.last_error,
                    f.consecutive_failures, f.retry_after, f.discovered_url, {count},
                    f.next_poll, f.interval_secs, f.interval_reason, f.broken_since
             FROM feeds f WHERE {filter} ORDER BY f.active DESC, f.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).ctx("prepare feed list")?;
        let rows = stmt
            .query_map(p, |r| {
                Ok(FeedRow {
                    id: FeedId(r.get(0)?),
                    url: r.get(1)?,
                    name: r.get(2)?,
                    title: r.get(3)?,
                    lang: r.get(4)?,
                    active: r.get(5)?,
                    state: FeedState {
                        etag: r.get(6)?,
                        last_modified: r.get(7)?,
                    },
                    last_fetch: from_ts(r.get(8)?),
                    last_ok: from_ts(r.get(9)?),
                    last_status: r.get(10)?,
                    last_error: r.get(11)?,
                    consecutive_failures: r.get(12)?,
                    retry_after: from_ts(r.get(13)?),
                    discovered_url: r.get(14)?,
                    articles: r.get::<_, i64>(15)? as u64,
                    next_poll: from_ts(r.get(16)?),
                    interval: r
                        .get::<_, Option<i64>>(17)?
                        .map(|s| Duration::from_secs(s.max(0) as u64)),
                    interval_reason: r.get(18)?,
                    broken_since: from_ts(r.get(19)?),
                })
            })
            .ctx("list feeds")?;
        rows.collect::<Result<_, _>>().ctx("read feed row")
    }

    /// Record a 304: only the fetch time changes.
    pub fn record_not_modified(&mut self, feed: FeedId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write_one(now, &Write::NotModified { feed, max_age: None })
            .map(drop)
    }

    /// Record a failed fetch or parse.
    pub fn record_failure(
        &mut self,
        feed: FeedId,
        now: DateTime<Utc>,
        error: &str,
        retry_after: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.write_one(
            now,
            &Write::Failure {
                feed,
                error,
                retry_after,
            },
        )
        .map(drop)
    }

    /// Store a parsed feed document in one transaction: the feed's new fetch
    /// state and every item, deduplicated. Nothing is written on error.
    pub fn store_feed(
        &mut self,
        feed: FeedId,
        now: DateTime<Utc>,
        meta: &FetchMeta,
        doc: &ParsedFeed,
    ) -> Result<StoreCounts, StoreError> {
        let write = Write::Document {
            feed,
            meta: meta.clone(),
            doc: PreparedDoc::new(doc.clone()),
        };
        self.write_one(now, &write)
    }

    fn write_one(&mut self, now: DateTime<Utc>, write: &Write) -> Result<StoreCounts, StoreError> {
        self.write_batch(now, std::slice::from_ref(write))?
            .pop()
            .expect("one result per write")
    }

    /// Apply several feeds' writes in one transaction, each inside its own
    /// savepoint: a write that fails leaves nothing of itself and does not
    /// disturb the others. One commit (and one search-index flush) for the
    /// batch is what makes a 500-feed crawl cheap. The outer error means the
    /// commit itself failed and nothing was written.
    pub fn write_batch(
        &mut self,
        now: DateTime<Utc>,
        writes: &[Write],
    ) -> Result<Vec<Result<StoreCounts, StoreError>>, StoreError> {
        // A savepoint copies every page its write touches, to be able to
        // undo it; almost no write fails. So first apply the batch without
        // them: if every write succeeds that is the result. If one fails,
        // nothing of that attempt is kept and the batch is applied again,
        // each write in its own savepoint.
        if let Some(counts) = self.write_batch_unguarded(now, writes)? {
            return Ok(counts.into_iter().map(Ok).collect());
        }
        self.write_batch_guarded(now, writes)
    }

    /// The batch in one transaction, committed only if every write
    /// succeeds; `None` (and nothing written) if one fails.
    fn write_batch_unguarded(
        &mut self,
        now: DateTime<Utc>,
        writes: &[Write],
    ) -> Result<Option<Vec<StoreCounts>>, StoreError> {
        let tx = begin_batch(&mut self.conn)?;
        let mut counts = Vec::with_capacity(writes.len());
        {
            let mut stmts = None;
            for w in writes {
                match apply_write(&tx, &mut stmts, now, w) {
                    Ok(c) => counts.push(c),
                    // Dropping the transaction rolls it back.
                    Err(_) => return Ok(None),
                }
            }
        }
        commit_batch(tx)?;
        Ok(Some(counts))
    }

    /// The batch with each write in its own savepoint: a write that fails
    /// leaves nothing of itself and the others are committed.
    fn write_batch_guarded(
        &mut self,
        now: DateTime<Utc>,
        writes: &[Write],
    ) -> Result<Vec<Result<StoreCounts, StoreError>>, StoreError> {
        let tx = begin_batch(&mut self.conn)?;
        let mut results = Vec::with_capacity(writes.len());
        {
            let mut stmts = None;
            for w in writes {
                tx.execute_batch("SAVEPOINT feed_write").ctx("open savepoint")?;
                let r = apply_write(&tx, &mut stmts, now, w);
                if r.is_ok() {
                    tx.execute_batch("RELEASE feed_write").ctx("release savepoint")?;
                } else {
                    tx.execute_batch("ROLLBACK TO feed_write; RELEASE feed_write")
                        .ctx("roll back savepoint")?;
                }
                results.push(r);
            }
        }
        commit_batch(tx)?;
        Ok(results)
    }

    /// Full-text search (FTS5 syntax: words, "phrases", AND/OR/NOT,
    /// prefix*), best match first, with each article's decision and story.
    pub fn search_articles(&mut self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        self.catch_up_search_index()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.title, a.url, COALESCE(f.name, f.title, f.url),
                        COALESCE(a.published, a.first_seen), c.relevant, c.event, m.story_id
                 FROM articles_fts s JOIN articles a ON a.id = s.rowid
                 JOIN feeds f ON f.id = a.feed_id
                 LEFT JOIN classifications c ON c.article_id = a.id
                 LEFT JOIN story_members m ON m.article_id = a.id
                 WHERE articles_fts MATCH ?1 ORDER BY s.rank LIMIT ?2",
            )
            .ctx("prepare search")?;
        let rows = stmt.query_map(params![query, limit as i64], |r| {
            Ok(SearchHit {
                id: ArticleId(r.get(0)?),
                title: r.get(1)?,
                url: r.get(2)?,
                feed: r.get(3)?,
                published: from_ts(r.get(4)?),
                relevant: r.get(5)?,
                event: r.get(6)?,
                story: r.get(7)?,
            })
        });
        let bad = |e: rusqlite::Error| match &e {
            // The query's only input is the search expression: a plain
            // SQL error (not I/O, not corruption) is a malformed one.
            rusqlite::Error::SqliteFailure(f, Some(msg)) if f.code == rusqlite::ErrorCode::Unknown => {
                StoreError::BadSearch {
                    query: query.to_owned(),
                    message: msg.clone(),
                }
            }
            _ => StoreError::Query {
                what: "search",
                source: e,
            },
        };
        rows.map_err(bad)?.collect::<Result<_, _>>().map_err(bad)
    }

    /// Index the articles stored since the search index was last brought up
    /// to date (crawls leave that to the first search); returns how many.
    pub fn catch_up_search_index(&mut self) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("begin search indexing")?;
        let through: i64 = tx
            .query_row("SELECT indexed_through FROM search_index", [], |r| r.get(0))
            .ctx("read search index state")?;
        let n = tx
            .execute(
                "INSERT INTO articles_fts (rowid, title, summary_text)
                 SELECT id, title, summary_text FROM articles WHERE id > ?1",
                [through],
            )
            .ctx("index new articles")?;
        if n > 0 {
            tx.execute(
                "UPDATE search_index SET indexed_through = (SELECT MAX(id) FROM articles)",
                [],
            )
            .ctx("record search index state")?;
        }
        tx.commit().ctx("commit search index")?;
        Ok(n)
    }

    /// Every stored article, oldest first, optionally only those first seen
    /// or published since `since`.
    pub fn export(&self, since: Option<DateTime<Utc>>) -> Result<Vec<ExportRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.url, a.canonical_url, a.guid, a.title, a.summary_text, a.lang,
                        a.published, a.first_seen, f.url, f.name,
                        (SELECT group_concat(url, char(10)) FROM
                            (SELECT f2.url FROM feed_articles fa JOIN feeds f2 ON f2.id = fa.feed_id
                             WHERE fa.article_id = a.id ORDER BY fa.first_seen, fa.feed_id)),
                        c.relevant, c.score, c.event, c.chips, c.entities, c.lang, c.evidence, c.profile,
                        c.follow_up, m.story_id, EXISTS (SELECT 1 FROM alerts al WHERE al.article_id = a.id)
                 FROM articles a JOIN feeds f ON f.id = a.feed_id
                 LEFT JOIN classifications c ON c.article_id = a.id
                 LEFT JOIN story_members m ON m.article_id = a.id
                 WHERE ?1 IS NULL OR COALESCE(a.published, a.first_seen) >= ?1
                 ORDER BY COALESCE(a.published, a.first_seen), a.id",
            )
            .ctx("prepare export")?;
        let rows = stmt
            .query_map(params![since.map(ts)], |r| {
                let feeds: Option<String> = r.get(11)?;
                Ok(ExportRow {
                    id: ArticleId(r.get(0)?),
                    url: r.get(1)?,
                    canonical_url: r.get(2)?,
                    guid: r.get(3)?,
                    title: r.get(4)?,
                    summary: r.get(5)?,
                    lang: r.get(6)?,
                    published: from_ts(r.get(7)?),
                    first_seen: from_ts(r.get(8)?).unwrap_or_default(),
                    feed: r.get(9)?,
                    feed_name: r.get(10)?,
                    feeds: feeds
                        .map(|s| s.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    decision: decision_from_row(r, 12)?,
                    story: r.get(21)?,
                    alert: r.get(22)?,
                })
            })
            .ctx("export")?;
        let mut out: Vec<ExportRow> = rows.collect::<Result<_, _>>().ctx("read export row")?;
        // Dedupe feed URLs while keeping first-seen order.
        for row in &mut out {
            let mut seen = std::collections::HashSet::new();
            row.feeds.retain(|f| seen.insert(f.clone()));
        }
        Ok(out)
    }

    /// The profile fingerprint of the decision on the newest article.
    pub fn latest_decision_profile(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT profile FROM classifications ORDER BY article_id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("read the latest decision's profile")
    }

    /// Is any article without a decision? (Counts, not a join: cheap.)
    pub fn has_unclassified(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM articles) > (SELECT COUNT(*) FROM classifications)",
                [],
                |r| r.get(0),
            )
            .ctx("count unclassified")
    }

    /// Up to `limit` articles with no classification and an id above
    /// `after`, in id order: for classifying a large backlog in bounded memory.
    pub fn unclassified_after(&self, after: ArticleId, limit: usize) -> Result<Vec<ArticleText>, StoreError> {
        let sql = format!(
            "SELECT a.id, a.title, a.summary_text, COALESCE(a.lang, f.feed_lang, f.lang), a.url, a.published
             FROM articles a JOIN feeds f ON f.id = a.feed_id
             WHERE a.id > ?1 AND NOT EXISTS (SELECT 1 FROM classifications c WHERE c.article_id = a.id)
             ORDER BY a.id LIMIT {limit}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).ctx("prepare backlog")?;
        let rows = stmt.query_map([after.0], article_text_row).ctx("read backlog")?;
        rows.collect::<Result<_, _>>().ctx("read backlog row")
    }

    /// Every article, in order of publication (for `reclassify`).
    pub fn all_article_texts(&self) -> Result<Vec<ArticleText>, StoreError> {
        self.article_texts("")
    }

    fn article_texts(&self, filter: &str) -> Result<Vec<ArticleText>, StoreError> {
        let sql = format!(
            "SELECT a.id, a.title, a.summary_text, COALESCE(a.lang, f.feed_lang, f.lang), a.url, a.published
             FROM articles a JOIN feeds f ON f.id = a.feed_id {filter}
             ORDER BY COALESCE(a.published, a.first_seen), a.id"
        );
        let mut stmt = self.conn.prepare(&sql).ctx("prepare article texts")?;
        let rows = stmt.query_map([], article_text_row).ctx("read article texts")?;
        rows.collect::<Result<_, _>>().ctx("read article text")
    }

    /// Store decisions (replacing earlier ones) in one transaction.
    pub fn save_decisions(
        &mut self,
        now: DateTime<Utc>,
        decisions: &[(ArticleId, StoredDecision)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().ctx("begin decisions")?;
        {
            for (id, d) in decisions {
                save_decision(&tx, now, *id, d)?;
            }
        }
        tx.commit().ctx("commit decisions")?;
        Ok(())
    }

    /// The stored decision on one article.
    pub fn decision(&self, id: ArticleId) -> Result<Option<StoredDecision>, StoreError> {
        self.conn
            .query_row(
                "SELECT relevant, score, event, chips, entities, lang, evidence, profile, follow_up
                 FROM classifications WHERE article_id = ?1",
                [id.0],
                |r| decision_from_row(r, 0),
            )
            .optional()
            .ctx("read decision")
            .map(Option::flatten)
    }

    /// Find an article by id, URL or canonical URL.
    pub fn find_article(&self, key: &str) -> Result<Option<ArticleText>, StoreError> {
        let canonical = dedup::canonical_url(key);
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT a.id FROM articles a
                 WHERE CAST(a.id AS TEXT) = ?1 OR a.url = ?1 OR a.canonical_url = ?2 OR a.guid = ?1
                 ORDER BY a.id LIMIT 1",
                params![key, canonical],
                |r| r.get(0),
            )
            .optional()
            .ctx("find article")?;
        let Some(id) = id else { return Ok(None) };
        Ok(self.article_texts(&format!("WHERE a.id = {id}"))?.pop())
    }

    /// Relevant articles with no story yet, in order of publication.
    pub fn pending_story_articles(&self) -> Result<Vec<StoryInput>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.title, COALESCE(a.published, a.first_seen), c.event, c.entities, c.chips,
                        c.follow_up
                 FROM story_pending p CROSS JOIN classifications c ON c.article_id = p.article_id
                 CROSS JOIN articles a ON a.id = p.article_id
                 WHERE c.relevant = 1 AND c.event IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM story_members m WHERE m.article_id = a.id)
                 ORDER BY COALESCE(a.published, a.first_seen), a.id",
            )
            .ctx("prepare pending stories")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoryInput {
                    id: ArticleId(r.get(0)?),
                    title: r.get(1)?,
                    published: r.get(2)?,
                    event: r.get(3)?,
                    entities: r.get(4)?,
                    chips: r.get(5)?,
                    follow_up: Reference::from_i64(r.get(6)?),
                })
            })
            .ctx("read pending stories")?;
        rows.collect::<Result<_, _>>().ctx("read pending story row")
    }

    /// Stories that share a feature with `features` and are active within
    /// `[from, to]`: found through the feature and time indexes, never a
    /// scan of all stories.
    pub fn story_candidates(
        &self,
        features: &[String],
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::story::Candidate>, StoreError> {
        // Drive from the time index (the stories active in the window, a
        // few hundred at most) and check the features by primary key; a
        // feature such as `country:China` is in nearly every story ever.
        let wanted = serde_json::to_string(features).unwrap_or_else(|_| "[]".into());
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.id, s.event, s.first_seen, s.last_seen, s.size, s.features
                 FROM stories s INDEXED BY stories_last_seen
                 WHERE s.last_seen >= ?1 AND s.first_seen <= ?2
                   AND EXISTS (SELECT 1 FROM json_each(?3) w JOIN story_features sf
                               ON sf.feature = w.value AND sf.story_id = s.id)",
            )
            .ctx("prepare story candidates")?;
        let rows = stmt
            .query_map(params![from, to, wanted], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .ctx("story candidates")?;
        let mut out = Vec::new();
        for row in rows {
            let (id, event, first_seen, last_seen, size, features) = row.ctx("read candidate")?;
            let Some(event) = crate::model::EventType::parse(&event) else {
                continue;
            };
            out.push(crate::story::Candidate {
                id,
                event,
                first_seen,
                last_seen,
                size,
                features: serde_json::from_str(&features).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Open a story with `article` as its first report; returns its id.
    pub fn create_story(&mut self, article: &StoryInput, features: &[String]) -> Result<i64, StoreError> {
        let counts: std::collections::HashMap<&String, u32> = features.iter().map(|f| (f, 1)).collect();
        self.conn
            .prepare_cached(
                "INSERT INTO stories (title, event, first_article, first_seen, last_seen, size, features)
                 VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)",
            )
            .ctx("prepare story")?
            .execute(params![
                article.title,
                article.event,
                article.id.0,
                article.published,
                serde_json::to_string(&counts).unwrap_or_else(|_| "{}".into())
            ])
            .ctx("create story")?;
        let id = self.conn.last_insert_rowid();
        self.add_member(id, article.id, features, 1.0, "opened the story")?;
        Ok(id)
    }

    /// Add `article` to story `story`, updating its dates and signature.
    pub fn join_story(
        &mut self,
        story: i64,
        article: &StoryInput,
        features: &[String],
        score: f32,
    ) -> Result<(), StoreError> {
        let (first, last, json): (i64, i64, String) = self
            .conn
            .query_row(
                "SELECT first_seen, last_seen, features FROM stories WHERE id = ?1",
                [story],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ctx("read story")?;
        let mut counts: std::collections::HashMap<String, u32> =
            serde_json::from_str(&json).unwrap_or_default();
        for f in features {
            *counts.entry(f.clone()).or_default() += 1;
        }
        self.conn
            .prepare_cached(
                "UPDATE stories SET first_seen = ?2, last_seen = ?3, size = size + 1, features = ?4 WHERE id = ?1",
            )
            .ctx("prepare story update")?
            .execute(params![
                story,
                first.min(article.published),
                last.max(article.published),
                serde_json::to_string(&counts).unwrap_or_else(|_| "{}".into())
            ])
            .ctx("update story")?;
        self.add_member(story, article.id, features, score, "same development")
    }

    fn add_member(
        &mut self,
        story: i64,
        article: ArticleId,
        features: &[String],
        score: f32,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO story_members (article_id, story_id, score, reason) VALUES (?1, ?2, ?3, ?4)",
            )
            .ctx("prepare member")?
            .execute(params![article.0, story, score, reason])
            .ctx("add member")?;
        self.conn
            .prepare_cached("DELETE FROM story_pending WHERE article_id = ?1")
            .ctx("prepare placed")?
            .execute([article.0])
            .ctx("mark placed")?;
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO story_features (feature, story_id) VALUES (?1, ?2)")
            .ctx("prepare story feature")?;
        for f in features {
            stmt.execute(params![f, story]).ctx("index story feature")?;
        }
        Ok(())
    }

    /// Raise the alert for a new development story, once: an article that
    /// already raised one never raises another. Returns whether it is new.
    pub fn raise_alert(
        &mut self,
        now: DateTime<Utc>,
        story: i64,
        article: ArticleId,
        event: &str,
        severity: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let existing: Option<i64> = self
            .conn
            .query_row("SELECT id FROM alerts WHERE article_id = ?1", [article.0], |r| {
                r.get(0)
            })
            .optional()
            .ctx("look up alert")?;
        if let Some(id) = existing {
            self.conn
                .execute(
                    "UPDATE alerts SET story_id = ?2,
                         state = CASE WHEN state = 'withdrawn' THEN 'new' ELSE state END
                     WHERE id = ?1",
                    params![id, story],
                )
                .ctx("re-point alert")?;
            return Ok(false);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO alerts (kind, story_id, article_id, event, severity, created_at, reason)
                 VALUES ('development', ?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .ctx("prepare alert")?
            .execute(params![story, article.0, event, severity, ts(now), reason])
            .ctx("raise alert")?;
        Ok(true)
    }

    /// A story with what it has gathered so far.
    pub fn story(&self, id: i64) -> Result<Option<StoryRow>, StoreError> {
        let row: Option<(String, String, i64, i64, u32)> = self
            .conn
            .query_row(
                "SELECT title, event, first_seen, last_seen, size FROM stories WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .ctx("read story")?;
        let Some((title, event, first, last, size)) = row else {
            return Ok(None);
        };
        let list = |sql: &str| -> Result<Vec<String>, StoreError> {
            let mut stmt = self.conn.prepare_cached(sql).ctx("prepare story list")?;
            let rows = stmt
                .query_map([id], |r| r.get::<_, String>(0))
                .ctx("story list")?;
            rows.collect::<Result<_, _>>().ctx("read story list")
        };
        let outlets = list(
            "SELECT DISTINCT COALESCE(f.name, f.title, f.url) FROM story_members m
             JOIN feed_articles fa ON fa.article_id = m.article_id JOIN feeds f ON f.id = fa.feed_id
             WHERE m.story_id = ?1 ORDER BY 1",
        )?;
        let langs = list(
            "SELECT DISTINCT c.lang FROM story_members m JOIN classifications c ON c.article_id = m.article_id
             WHERE m.story_id = ?1 AND c.lang IS NOT NULL ORDER BY 1",
        )?;
        let mut chips = Vec::new();
        for json in list(
            "SELECT c.chips FROM story_members m JOIN classifications c ON c.article_id = m.article_id
             WHERE m.story_id = ?1",
        )? {
            for c in serde_json::from_str::<Vec<String>>(&json).unwrap_or_default() {
                if !chips.contains(&c) {
                    chips.push(c);
                }
            }
        }
        Ok(Some(StoryRow {
            id,
            title,
            event,
            first_seen: from_ts(Some(first)).unwrap_or_default(),
            last_seen: from_ts(Some(last)).unwrap_or_default(),
            articles: size,
            outlets,
            langs,
            chips,
        }))
    }

    /// Stories active since `since`, newest first.
    pub fn stories(&self, since: Option<DateTime<Utc>>) -> Result<Vec<StoryRow>, StoreError> {
        let ids = self.ids(
            "SELECT id FROM stories WHERE ?1 IS NULL OR last_seen >= ?1 ORDER BY first_seen DESC, id DESC",
            params![since.map(ts)],
            "list stories",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.story(id)?);
        }
        Ok(out)
    }

    /// The reports of a story, first first.
    pub fn story_articles(&self, id: i64) -> Result<Vec<StoryArticle>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.title, a.url, COALESCE(f.name, f.title, f.url), c.lang, COALESCE(a.published, a.first_seen)
                 FROM story_members m JOIN articles a ON a.id = m.article_id JOIN feeds f ON f.id = a.feed_id
                 LEFT JOIN classifications c ON c.article_id = a.id
                 WHERE m.story_id = ?1 ORDER BY COALESCE(a.published, a.first_seen), a.id",
            )
            .ctx("prepare story articles")?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(StoryArticle {
                    id: ArticleId(r.get(0)?),
                    title: r.get(1)?,
                    url: r.get(2)?,
                    outlet: r.get(3)?,
                    lang: r.get(4)?,
                    published: from_ts(r.get(5)?),
                })
            })
            .ctx("story articles")?;
        rows.collect::<Result<_, _>>().ctx("read story article")
    }

    /// Alerts, newest first: only new ones unless `all`.
    pub fn alerts(
        &self,
        all: bool,
        since: Option<DateTime<Utc>>,
        event: Option<&str>,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let ids = self.ids(
            "SELECT al.id FROM alerts al LEFT JOIN articles a ON a.id = al.article_id
                     WHERE (?1 OR al.state = 'new')
                       AND (?2 IS NULL OR COALESCE(a.published, al.created_at) >= ?2)
                       AND (?3 IS NULL OR al.event = ?3)
                     ORDER BY COALESCE(a.published, al.created_at) DESC, al.id DESC",
            params![all, since.map(ts), event],
            "list alerts",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.alert(id)?);
        }
        Ok(out)
    }

    /// The ids a one-column query returns.
    fn ids(&self, sql: &str, p: impl rusqlite::Params, what: &'static str) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).ctx(what)?;
        let rows = stmt.query_map(p, |r| r.get(0)).ctx(what)?;
        rows.collect::<Result<_, _>>().ctx(what)
    }

    /// One alert.
    pub fn alert(&self, id: i64) -> Result<Option<AlertRow>, StoreError> {
        type Row = (
            String,
            Option<String>,
            String,
            String,
            i64,
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT al.kind, al.event, al.severity, al.state, al.created_at, al.reason, al.article_id,
                        al.story_id, COALESCE(a.url, f.url), COALESCE(a.published, a.first_seen),
                        COALESCE(f.name, f.title, f.url)
                 FROM alerts al LEFT JOIN articles a ON a.id = al.article_id
                 LEFT JOIN feeds f ON f.id = al.feed_id WHERE al.id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                    ))
                },
            )
            .optional()
            .ctx("read alert")?;
        let Some((kind, event, severity, state, created, reason, article, story, url, published, feed)) = row
        else {
            return Ok(None);
        };
        let story = match story {
            Some(s) => self.story(s)?,
            None => None,
        };
        Ok(Some(AlertRow {
            id,
            kind,
            event,
            severity,
            state,
            created_at: from_ts(Some(created)).unwrap_or_default(),
            reason,
            article: article.map(ArticleId),
            story,
            url,
            published: from_ts(published),
            feed,
        }))
    }

    /// Mark alerts acknowledged (`ack`) or new again; `None` means every
    /// new alert. Returns how many changed.
    pub fn set_acknowledged(
        &mut self,
        now: DateTime<Utc>,
        ids: Option<&[i64]>,
        ack: bool,
    ) -> Result<usize, StoreError> {
        let (state, from) = if ack {
            ("acknowledged", "new")
        } else {
            ("new", "acknowledged")
        };
        match ids {
            None => self
                .conn
                .execute(
                    "UPDATE alerts SET state = ?1, acked_at = ?2 WHERE state = ?3",
                    params![state, ack.then(|| ts(now)), from],
                )
                .ctx("acknowledge all"),
            Some(ids) => {
                let mut n = 0;
                for id in ids {
                    n += self
                        .conn
                        .execute(
                            "UPDATE alerts SET state = ?1, acked_at = ?2 WHERE id = ?3 AND state = ?4",
                            params![state, ack.then(|| ts(now)), id, from],
                        )
                        .ctx("acknowledge")?;
                }
                Ok(n)
            }
        }
    }

    /// Which of `ids` are not alerts.
    pub fn unknown_alerts(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::new();
        for id in ids {
            let exists: bool = self
                .conn
                .query_row("SELECT EXISTS (SELECT 1 FROM alerts WHERE id = ?1)", [id], |r| {
                    r.get(0)
                })
                .ctx("check alert")?;
            if !exists {
                out.push(*id);
            }
        }
        Ok(out)
    }

    /// Forget every story (alerts stay, detached) so they can be rebuilt in
    /// order of publication after the decisions changed.
    pub fn reset_stories(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "BEGIN IMMEDIATE;
                 UPDATE alerts SET story_id = NULL WHERE story_id IS NOT NULL;
                 DELETE FROM story_members; DELETE FROM story_features; DELETE FROM stories;
                 DELETE FROM story_pending;
                 INSERT INTO story_pending (article_id)
                     SELECT article_id FROM classifications WHERE relevant = 1 AND event IS NOT NULL;
                 COMMIT;",
            )
            .ctx("reset stories")
    }

    /// Alerts left without a story after a rebuild no longer stand for a
    /// development: mark them withdrawn. Returns how many.
    pub fn withdraw_orphan_alerts(&mut self) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE alerts SET state = 'withdrawn' WHERE kind = 'development' AND story_id IS NULL AND state != 'withdrawn'",
                [],
            )
            .ctx("withdraw alerts")
    }

    /// Run `f` inside one transaction (the story pass).
    pub fn in_transaction<R>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").ctx("begin")?;
        match f(self) {
            Ok(r) => {
                self.conn.execute_batch("COMMIT").ctx("commit")?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Number of stored articles.
    pub fn article_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM articles", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .ctx("count articles")
    }

    /// `PRAGMA integrity_check`: `ok` or the problems found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .ctx("integrity check")
    }
}

/// One feed's outcome, to be written by [`Store::write_batch`].
#[derive(Debug, Clone)]
pub enum Write {
    Document {
        feed: FeedId,
        meta: FetchMeta,
        doc: PreparedDoc,
    },
    NotModified {
        feed: FeedId,
        /// The 304's Cache-Control max-age.
        max_age: Option<Duration>,
    },
    Failure {
        feed: FeedId,
        error: String,
        retry_after: Option<DateTime<Utc>>,
    },
}

/// The statements every stored item runs, taken from the statement cache
/// once per write batch instead of once per item (the cache lookups, which
/// hash each statement's SQL, were about 3% of a cold crawl's CPU).
struct ItemStmts<'c> {
    carries_any: rusqlite::CachedStatement<'c>,
    lookup: rusqlite::CachedStatement<'c>,
    by_canonical: rusqlite::CachedStatement<'c>,
    by_hash: rusqlite::CachedStatement<'c>,
    insert: rusqlite::CachedStatement<'c>,
    link: rusqlite::CachedStatement<'c>,
    decision: rusqlite::CachedStatement<'c>,
    feed_state: rusqlite::CachedStatement<'c>,
}

const SQL_CARRIES_ANY: &str = "SELECT EXISTS (SELECT 1 FROM feed_articles WHERE feed_id = ?1)";
const SQL_ITEM_LOOKUP: &str = "SELECT a.id, a.content_hash, a.feed_id FROM feed_articles fa
     JOIN articles a ON a.id = fa.article_id
     WHERE fa.feed_id = ?1 AND fa.guid = ?2";
const SQL_BY_CANONICAL: &str = "SELECT id FROM articles WHERE canonical_url = ?1";
const SQL_BY_HASH: &str = "SELECT id FROM articles WHERE content_hash = ?1 ORDER BY id LIMIT 1";
const SQL_ITEM_INSERT: &str = "INSERT INTO articles (feed_id, guid, url, canonical_url, title, summary_text,
         summary_html, lang, published, first_seen, content_hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
     ON CONFLICT DO NOTHING";
const SQL_FEED_LINK: &str =
    "INSERT INTO feed_articles (feed_id, guid, article_id, first_seen) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT DO NOTHING";
const SQL_DECISION: &str =
    "INSERT INTO classifications (article_id, relevant, score, event, chips, entities, lang,
         evidence, profile, classified_at, follow_up)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
     ON CONFLICT(article_id) DO UPDATE SET relevant = excluded.relevant,
         score = excluded.score, event = excluded.event, chips = excluded.chips,
         entities = excluded.entities, lang = excluded.lang, evidence = excluded.evidence,
         profile = excluded.profile, classified_at = excluded.classified_at,
         follow_up = excluded.follow_up";
const SQL_FEED_STATE: &str = "UPDATE feeds SET etag = ?2, last_modified = ?3, last_fetch = ?4, last_ok = ?4,
         last_status = 'ok', last_error = NULL, consecutive_failures = 0,
         retry_after = NULL, title = COALESCE(?5, title),
         site_url = COALESCE(?6, site_url), feed_lang = COALESCE(?7, feed_lang),
         ttl_minutes = ?8, discovered_url = ?9, update_period_secs = ?10, max_age_secs = ?11
     WHERE id = ?1";

impl<'c> ItemStmts<'c> {
    fn new(conn: &'c Connection) -> Result<Self, StoreError> {
        let get = |sql: &str, what: &'static str| conn.prepare_cached(sql).ctx(what);
        Ok(Self {
            carries_any: get(SQL_CARRIES_ANY, "prepare feed lookup")?,
            lookup: get(SQL_ITEM_LOOKUP, "prepare item lookup")?,
            by_canonical: get(SQL_BY_CANONICAL, "prepare url lookup")?,
            by_hash: get(SQL_BY_HASH, "prepare copy lookup")?,
            insert: get(SQL_ITEM_INSERT, "prepare item insert")?,
            link: get(SQL_FEED_LINK, "prepare feed link")?,
            decision: get(SQL_DECISION, "prepare decision")?,
            feed_state: get(SQL_FEED_STATE, "prepare feed state")?,
        })
    }
}

/// Apply one write. `stmts` holds the batch's item statements, prepared
/// by the first document (a batch of 304s never needs them).
fn apply_write<'c>(
    conn: &'c Connection,
    stmts: &mut Option<ItemStmts<'c>>,
    now: DateTime<Utc>,
    w: &Write,
) -> Result<StoreCounts, StoreError> {
    match w {
        Write::NotModified { feed, max_age } => {
            conn.prepare_cached(
                "UPDATE feeds SET last_fetch = ?2, last_ok = ?2, last_status = 'not modified',
                     last_error = NULL, consecutive_failures = 0, retry_after = NULL,
                     max_age_secs = ?3
                 WHERE id = ?1",
            )
            .ctx("prepare not-modified")?
            .execute(params![feed.0, ts(now), max_age.map(|d| d.as_secs() as i64)])
            .ctx("record not-modified")?;
            Ok(StoreCounts::default())
        }
        Write::Failure {
            feed,
            error,
            retry_after,
        } => {
            conn.prepare_cached(
                "UPDATE feeds SET last_fetch = ?2, last_status = 'failed', last_error = ?3,
                     consecutive_failures = consecutive_failures + 1, retry_after = ?4
                 WHERE id = ?1",
            )
            .ctx("prepare failure")?
            .execute(params![feed.0, ts(now), error, retry_after.map(ts)])
            .ctx("record failure")?;
            Ok(StoreCounts::default())
        }
        Write::Document { feed, meta, doc } => {
            let s = match stmts {
                Some(s) => s,
                None => stmts.insert(ItemStmts::new(conn)?),
            };
            apply_document(conn, s, *feed, now, meta, doc)
        }
    }
}

/// A parsed document with each item's identity worked out (key, canonical
/// URL, fingerprint): pure work, done by the caller before the writer gets
/// it, so the single writer only runs SQL.
#[derive(Debug, Clone)]
pub struct PreparedDoc {
    pub doc: ParsedFeed,
    items: Vec<PreparedItem>,
}

#[derive(Debug, Clone)]
struct PreparedItem {
    /// Index into `doc.items`.
    index: usize,
    key: String,
    canonical: Option<String>,
    hash: i64,
    copy_detectable: bool,
    /// The classifier's decision, when the caller made one: stored with a
    /// new or edited article in the same transaction.
    decision: Option<StoredDecision>,
    /// MinHash of title and text, for near-duplicate detection.
    minhash: Vec<u32>,
}

impl PreparedDoc {
    /// Attach a decision to every item (the caller classifies, all items
    /// at once, one decision per item in order; the store does not know
    /// how).
    pub fn classify_with(&mut self, decide: impl FnOnce(&[&ParsedItem]) -> Vec<StoredDecision>) {
        let items: Vec<&ParsedItem> = self.items.iter().map(|p| &self.doc.items[p.index]).collect();
        let decisions = decide(&items);
        assert_eq!(decisions.len(), items.len(), "one decision per item");
        for (p, d) in self.items.iter_mut().zip(decisions) {
            let item = &self.doc.items[p.index];
            // Signatures for near-copy detection: relevant articles only.
            if d.relevant {
                p.minhash = dedup::minhash(&format!("{} {}", item.title, item.summary_text));
            }
            p.decision = Some(d);
        }
    }

    pub fn new(doc: ParsedFeed) -> Self {
        // A guid shared by items with different links is not an identity
        // (some feeds give every item the site's address): those items are
        // keyed by their link instead. By guid: the first item's link, and
        // whether another item's link differs.
        let mut guid_links: std::collections::HashMap<&str, (Option<&str>, bool)> =
            std::collections::HashMap::with_capacity(doc.items.len());
        for item in &doc.items {
            if let Some(g) = &item.guid {
                let link = item.canonical_url.as_deref();
                guid_links
                    .entry(g.as_str())
                    .and_modify(|(first, differs)| *differs |= *first != link)
                    .or_insert((link, false));
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(doc.items.len());
        let mut items = Vec::with_capacity(doc.items.len());
        for (index, item) in doc.items.iter().enumerate() {
            let canonical = &item.canonical_url;
            let ambiguous = item
                .guid
                .as_deref()
                .is_some_and(|g| guid_links.get(g).is_some_and(|&(_, differs)| differs));
            let key = item_key(item, ambiguous, canonical.as_deref());
            if !seen.insert(key.clone()) {
                continue; // the same item twice in one document
            }
            items.push(PreparedItem {
                index,
                key,
                canonical: canonical.clone(),
                hash: dedup::content_hash(&item.title, &item.summary_text) as i64,
                copy_detectable: dedup::copy_detectable(&item.title, &item.summary_text),
                decision: None,
                minhash: Vec::new(),
            });
        }
        Self { doc, items }
    }
}

fn apply_document(
    conn: &Connection,
    s: &mut ItemStmts<'_>,
    feed: FeedId,
    now: DateTime<Utc>,
    meta: &FetchMeta,
    prepared: &PreparedDoc,
) -> Result<StoreCounts, StoreError> {
    let mut counts = StoreCounts::default();
    let doc = &prepared.doc;
    // A feed that carries no article yet (its first crawl) has no item to
    // look up: one query for the feed instead of one per item.
    let carries_any: bool = s
        .carries_any
        .query_row([feed.0], |r| r.get(0))
        .ctx("look up the feed's articles")?;
    let place = Place {
        feed,
        now,
        carries_any,
    };
    for p in &prepared.items {
        store_item(conn, s, place, p, &doc.items[p.index], &mut counts)?;
    }
    s.feed_state
        .execute(params![
            feed.0,
            meta.etag,
            meta.last_modified,
            ts(now),
            doc.title,
            doc.site_url,
            doc.lang,
            doc.ttl_minutes,
            meta.discovered_url,
            doc.update_period_secs.map(|s| s.min(i64::MAX as u64) as i64),
            meta.max_age.map(|d| d.as_secs() as i64),
        ])
        .ctx("update feed state")?;
    Ok(counts)
}

/// A stored article whose text is a near copy of `sig` (LSH candidates,
/// verified by estimated similarity).
fn near_duplicate(conn: &Connection, sig: &[u32]) -> Result<Option<i64>, StoreError> {
    let keys = dedup::lsh_keys(sig);
    if keys.is_empty() {
        return Ok(None);
    }
    let mut cands: Vec<i64> = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached("SELECT article_id FROM lsh WHERE key = ?1 LIMIT 50")
            .ctx("prepare lsh lookup")?;
        for k in keys {
            let ids = stmt.query_map([k], |r| r.get::<_, i64>(0)).ctx("lsh lookup")?;
            for id in ids {
                let id = id.ctx("read lsh row")?;
                if !cands.contains(&id) {
                    cands.push(id);
                }
            }
        }
    }
    let mut best: Option<(i64, f32)> = None;
    let mut stmt = conn
        .prepare_cached("SELECT minhash FROM articles WHERE id = ?1")
        .ctx("prepare signature")?;
    for id in cands {
        let blob: Option<Vec<u8>> = stmt.query_row([id], |r| r.get(0)).ctx("read signature")?;
        let sim = blob.map_or(0.0, |b| dedup::similarity(sig, &dedup::sig_from_bytes(&b)));
        if sim >= dedup::NEAR_DUPLICATE && best.is_none_or(|(_, s)| sim > s) {
            best = Some((id, sim));
        }
    }
    Ok(best.map(|(id, _)| id))
}

fn save_decision(
    conn: &Connection,
    now: DateTime<Utc>,
    id: ArticleId,
    d: &StoredDecision,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(SQL_DECISION).ctx("prepare decision")?;
    save_decision_with(conn, &mut stmt, now, id, d, false)
}

/// [`save_decision`] with its insert statement prepared already. `fresh`:
/// the article was inserted in this transaction, so it has no earlier
/// decision, is in no story and waits for no story pass.
fn save_decision_with(
    conn: &Connection,
    stmt: &mut rusqlite::Statement<'_>,
    now: DateTime<Utc>,
    id: ArticleId,
    d: &StoredDecision,
    fresh: bool,
) -> Result<(), StoreError> {
    stmt.execute(params![
        id.0,
        d.relevant,
        d.score,
        d.event,
        d.chips,
        d.entities,
        d.lang,
        d.evidence,
        d.profile,
        ts(now),
        d.follow_up.as_i64()
    ])
    .ctx("save decision")?;
    // A relevant decision on an article outside any story waits for the
    // story pass; any other decision does not.
    if d.relevant && d.event.is_some() {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO story_pending (article_id)
             SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM story_members WHERE article_id = ?1)",
        )
        .ctx("prepare pending story")?
        .execute([id.0])
        .ctx("queue for the story pass")?;
    } else if !fresh {
        conn.prepare_cached("DELETE FROM story_pending WHERE article_id = ?1")
            .ctx("prepare unqueue")?
            .execute([id.0])
            .ctx("unqueue from the story pass")?;
    }
    Ok(())
}

/// An `ArticleText` from the columns id, title, summary, language, url,
/// published (in that order).
fn article_text_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ArticleText> {
    Ok(ArticleText {
        id: ArticleId(r.get(0)?),
        title: r.get(1)?,
        summary: r.get(2)?,
        lang: r.get(3)?,
        url: r.get(4)?,
        published: from_ts(r.get(5)?),
    })
}

fn decision_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<StoredDecision>> {
    let relevant: Option<bool> = r.get(at)?;
    let Some(relevant) = relevant else { return Ok(None) };
    Ok(Some(StoredDecision {
        relevant,
        score: r.get(at + 1)?,
        event: r.get(at + 2)?,
        chips: r.get(at + 3)?,
        entities: r.get(at + 4)?,
        lang: r.get(at + 5)?,
        evidence: r.get(at + 6)?,
        profile: r.get(at + 7)?,
        follow_up: Reference::from_i64(r.get::<_, Option<i64>>(at + 8)?.unwrap_or(0)),
    }))
}

/// The item's identity within its feed: the publisher's guid (unless the
/// document shows it is not unique), else its canonical link, else a
/// fingerprint of its content.
fn item_key(item: &ParsedItem, guid_ambiguous: bool, canonical: Option<&str>) -> String {
    if let Some(g) = item.guid.as_ref().filter(|_| !guid_ambiguous) {
        return g.clone();
    }
    if let Some(u) = &item.url {
        return canonical.unwrap_or(u).to_owned();
    }
    format!(
        "hash:{:016x}",
        dedup::content_hash(&item.title, &item.summary_text)
    )
}

/// A write batch's transaction, taking the write lock at once.
fn begin_batch(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .ctx("begin batch")
}

/// Commit a write batch, logging how long the commit took.
fn commit_batch(tx: rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let t = std::time::Instant::now();
    tx.commit().ctx("commit")?;
    tracing::debug!(commit_us = t.elapsed().as_micros() as u64, "committed");
    Ok(())
}

/// Where an item is stored: its feed, the time, and whether that feed
/// carried any article before this document.
#[derive(Clone, Copy)]
struct Place {
    feed: FeedId,
    now: DateTime<Utc>,
    carries_any: bool,
}

fn store_item(
    tx: &Connection,
    s: &mut ItemStmts<'_>,
    place: Place,
    p: &PreparedItem,
    item: &ParsedItem,
    counts: &mut StoreCounts,
) -> Result<(), StoreError> {
    let Place {
        feed,
        now,
        carries_any,
    } = place;
    let (key, hash) = (p.key.as_str(), p.hash);
    let existing: Option<(i64, i64, i64)> = if carries_any {
        s.lookup
            .query_row(params![feed.0, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .ctx("look up item")?
    } else {
        None
    };
    if let Some((id, old_hash, origin)) = existing {
        // Only the feed that first carried an article edits it, so two feeds
        // with different excerpts do not overwrite each other on every crawl.
        if old_hash != hash && origin == feed.0 {
            // Only an article already in the search index is re-indexed; a
            // newer one is indexed, as edited, by the next search.
            let indexed: bool = tx
                .prepare_cached("SELECT ?1 <= indexed_through FROM search_index")
                .ctx("prepare search index state")?
                .query_row([id], |r| r.get(0))
                .ctx("read search index state")?;
            if indexed {
                tx.prepare_cached(
                    "INSERT INTO articles_fts (articles_fts, rowid, title, summary_text)
                     SELECT 'delete', id, title, summary_text FROM articles WHERE id = ?1",
                )
                .ctx("prepare search unindex")?
                .execute([id])
                .ctx("unindex edited article")?;
            }
            tx.prepare_cached(
                "UPDATE articles SET title = ?2, summary_text = ?3, summary_html = ?4,
                     content_hash = ?5, updated_at = ?6,
                     published = COALESCE(?7, published) WHERE id = ?1",
            )
            .ctx("prepare item update")?
            .execute(params![
                id,
                item.title,
                item.summary_text,
                item.summary_html,
                hash,
                ts(now),
                item.published.map(ts),
            ])
            .ctx("update item")?;
            if indexed {
                tx.prepare_cached(
                    "INSERT INTO articles_fts (rowid, title, summary_text)
                     SELECT id, title, summary_text FROM articles WHERE id = ?1",
                )
                .ctx("prepare search reindex")?
                .execute([id])
                .ctx("reindex edited article")?;
            }
            // The text changed: the decision on it is made again (now, or by
            // the next classification pass).
            tx.prepare_cached("DELETE FROM classifications WHERE article_id = ?1")
                .ctx("prepare unclassify")?
                .execute([id])
                .ctx("drop stale classification")?;
            if let Some(d) = &p.decision {
                save_decision_with(tx, &mut s.decision, now, ArticleId(id), d, false)?;
                counts.relevant += usize::from(d.relevant);
            }
            counts.updated += 1;
        }
        return Ok(());
    }

    let canonical = &p.canonical;
    // Which stored article this item is, if any: the one with its canonical
    // URL, else an exact copy, else (relevant articles) a near copy. Most
    // items are none of these, and for them the insert itself is the URL
    // lookup: the unique index refuses a stored URL (`ON CONFLICT DO
    // NOTHING` inserts no row), and only then is that article looked up.
    let by_canonical = |s: &mut ItemStmts<'_>, c: &str| {
        s.by_canonical
            .query_row([c], |r| r.get::<_, i64>(0))
            .optional()
            .ctx("look up canonical url")
    };
    let copy: Option<i64> = if p.copy_detectable {
        s.by_hash
            .query_row([hash], |r| r.get(0))
            .optional()
            .ctx("look up exact copy")?
    } else {
        None
    };
    // Near copies are looked for (and indexed) among relevant articles only:
    // that is where a second copy would cost a user a duplicate alert, and
    // it keeps the index a small fraction of all articles.
    let near_dup_candidate = p.copy_detectable && p.decision.as_ref().is_some_and(|d| d.relevant);
    let mut same: Option<i64> = None;
    if let Some(c) = canonical
        .as_deref()
        .filter(|_| copy.is_some() || near_dup_candidate)
    {
        // The URL outranks a copy: look it up first.
        same = by_canonical(s, c)?;
    }
    same = same.or(copy);
    if same.is_none() && near_dup_candidate {
        same = near_duplicate(tx, &p.minhash)?;
    }
    if same.is_none() {
        let inserted = s
            .insert
            .execute(params![
                feed.0,
                key,
                item.url,
                canonical,
                item.title,
                item.summary_text,
                item.summary_html,
                item.lang,
                item.published.map(ts),
                ts(now),
                hash,
            ])
            .ctx("insert item")?
            == 1;
        if !inserted {
            // Only the canonical URL's unique index can refuse the row.
            same = match canonical.as_deref() {
                Some(c) => by_canonical(s, c)?,
                None => None,
            };
            if same.is_none() {
                return Err(StoreError::Batch {
                    message: format!("the article {key:?} was neither inserted nor found"),
                });
            }
        }
    }
    let article = match same {
        Some(id) => {
            counts.linked += 1;
            id
        }
        None => {
            counts.new += 1;
            let id = tx.last_insert_rowid();
            if near_dup_candidate && !p.minhash.is_empty() {
                tx.prepare_cached("UPDATE articles SET minhash = ?2 WHERE id = ?1")
                    .ctx("prepare minhash")?
                    .execute(params![id, dedup::sig_to_bytes(&p.minhash)])
                    .ctx("store minhash")?;
                let mut lsh = tx
                    .prepare_cached("INSERT OR IGNORE INTO lsh (key, article_id) VALUES (?1, ?2)")
                    .ctx("prepare lsh")?;
                for key in dedup::lsh_keys(&p.minhash) {
                    lsh.execute(params![key, id]).ctx("index lsh")?;
                }
            }
            if let Some(d) = &p.decision {
                save_decision_with(tx, &mut s.decision, now, ArticleId(id), d, true)?;
                counts.relevant += usize::from(d.relevant);
            }
            id
        }
    };
    s.link
        .execute(params![feed.0, key, article, ts(now)])
        .ctx("link item to feed")?;
    Ok(())
}

/// A `Store` shared by async code: every call runs on the blocking pool,
/// one at a time (there is one writer).
#[derive(Debug, Clone)]
pub struct Db(std::sync::Arc<std::sync::Mutex<Store>>);

impl Db {
    pub fn new(store: Store) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(store)))
    }

    /// Open the database at `path` on the blocking pool.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        Ok(Self::new(store))
    }

    /// Start `f` with the store on the blocking pool now, holding the store
    /// until it returns (the crawl's writer).
    pub fn spawn<R, F>(&self, f: F) -> tokio::task::JoinHandle<R>
    where
        F: FnOnce(&mut Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut store)
        })
    }

    /// Run `f` with the store on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&mut Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(f)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ParsedItem;

    fn item(guid: &str, title: &str, text: &str) -> ParsedItem {
        let url = format!("https://n.example/{guid}");
        ParsedItem {
            guid: Some(guid.into()),
            canonical_url: dedup::canonical_url(&url),
            url: Some(url),
            title: title.into(),
            summary_text: text.into(),
            summary_html: text.into(),
            published: None,
            updated: None,
            lang: None,
        }
    }

    fn feed_cfg(url: &str) -> FeedConfig {
        FeedConfig {
            url: url.into(),
            name: None,
            lang: None,
            interval: None,
            enabled: true,
            tags: vec![],
        }
    }

    #[test]
    fn a_new_database_has_large_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let pragma = |s: &Store, name: &str| -> String {
            s.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        let fresh = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(pragma(&fresh, "page_size"), "Integer(32768)");
        assert_eq!(pragma(&fresh, "journal_mode"), "Text(\"wal\")");
        assert_eq!(pragma(&fresh, "wal_autocheckpoint"), "Integer(2048)");
        // A database made with 4 KiB pages (before this setting) opens,
        // migrates and keeps its page size and its rows.
        let old = dir.path().join("old.db");
        {
            let c = Connection::open(&old).unwrap();
            c.execute_batch("PRAGMA page_size = 4096; CREATE TABLE kept (x); INSERT INTO kept VALUES (7);")
                .unwrap();
        }
        let reopened = Store::open(&old).unwrap();
        assert_eq!(pragma(&reopened, "page_size"), "Integer(4096)");
        assert_eq!(pragma(&reopened, "wal_autocheckpoint"), "Integer(16384)");
        assert_eq!(pragma(&reopened, "journal_mode"), "Text(\"wal\")");
        let kept: i64 = reopened
            .conn
            .query_row("SELECT x FROM kept", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 7);
    }

    #[test]
    fn one_article_per_canonical_url_whatever_the_text_or_the_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("t.db")).unwrap();
        let rows = s
            .sync_feeds(&[
                feed_cfg("https://a.example/feed"),
                feed_cfg("https://b.example/feed"),
                feed_cfg("https://c.example/feed"),
            ])
            .unwrap();
        let now = Utc::now();
        let doc = |items| ParsedFeed {
            items,
            ..Default::default()
        };
        let at = |guid: &str, url: &str, title: &str, text: &str| {
            let mut i = item(guid, title, text);
            i.url = Some(url.into());
            i.canonical_url = dedup::canonical_url(url);
            i
        };
        let long = "Beijing adds licence rules for gallium and germanium exports, effective at once.";
        let mut store = |feed: usize, items| {
            s.store_feed(rows[feed].id, now, &FetchMeta::default(), &doc(items))
                .unwrap()
        };
        // The same URL (tracking parameters aside) with another excerpt:
        // no exact copy, so the insert meets the stored URL and links.
        let c = store(
            0,
            vec![at("a1", "https://n.example/story", "Gallium curbs tighten", long)],
        );
        assert_eq!((c.new, c.linked), (1, 0));
        let c = store(
            1,
            vec![at(
                "b1",
                "https://n.example/story?utm_source=x",
                "Gallium curbs",
                "Short.",
            )],
        );
        assert_eq!((c.new, c.linked), (0, 1));
        // An exact copy under another URL links to the copy; a copy whose
        // URL is stored links to the article with that URL, not the copy.
        let c = store(
            2,
            vec![at("c1", "https://m.example/copy", "Gallium curbs tighten", long)],
        );
        assert_eq!((c.new, c.linked), (0, 1));
        let c = store(
            2,
            vec![
                at(
                    "c2",
                    "https://m.example/other",
                    "Antimony curbs widen today",
                    long,
                ),
                at("c3", "https://m.example/other", "Gallium curbs tighten", long),
            ],
        );
        assert_eq!((c.new, c.linked), (1, 1));
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM articles", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let linked: Vec<(String, String)> = s
            .conn
            .prepare(
                "SELECT fa.guid, a.canonical_url FROM feed_articles fa JOIN articles a ON a.id = fa.article_id
                 ORDER BY fa.guid",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let story = "https://n.example/story".to_owned();
        let other = "https://m.example/other".to_owned();
        assert_eq!(
            linked,
            vec![
                ("a1".into(), story.clone()),
                ("b1".into(), story.clone()),
                ("c1".into(), story),
                ("c2".into(), other.clone()),
                ("c3".into(), other),
            ]
        );
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn search_index_follows_inserts_and_edits() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("t.db")).unwrap();
        let rows = s.sync_feeds(&[feed_cfg("https://n.example/feed")]).unwrap();
        let f = rows[0].id;
        let now = Utc::now();
        let doc = |items| ParsedFeed {
            items,
            ..Default::default()
        };
        let c = s
            .store_feed(
                f,
                now,
                &FetchMeta::default(),
                &doc(vec![item("a", "Gallium curbs", "Beijing acts")]),
            )
            .unwrap();
        assert_eq!(c.new, 1);
        assert_eq!(s.search_articles("gallium", 10).unwrap().len(), 1);
        // An edit replaces the indexed text.
        let c = s
            .store_feed(
                f,
                now,
                &FetchMeta::default(),
                &doc(vec![item("a", "Germanium curbs", "Beijing acts")]),
            )
            .unwrap();
        assert_eq!(c.updated, 1);
        assert!(s.search_articles("gallium", 10).unwrap().is_empty());
        assert_eq!(s.search_articles("germanium", 10).unwrap().len(), 1);
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn a_failing_write_leaves_nothing_and_the_rest_of_its_batch_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("t.db")).unwrap();
        let rows = s
            .sync_feeds(&[feed_cfg("https://n.example/a"), feed_cfg("https://n.example/b")])
            .unwrap();
        let doc = |feed, guid: &str| Write::Document {
            feed,
            meta: FetchMeta::default(),
            doc: PreparedDoc::new(ParsedFeed {
                items: vec![item(guid, "Gallium curbs", "Beijing acts")],
                ..Default::default()
            }),
        };
        // A feed that does not exist: its article breaks a foreign key.
        let writes = [
            doc(rows[0].id, "a1"),
            doc(FeedId(9999), "x1"),
            doc(rows[1].id, "b1"),
        ];
        let results = s.write_batch(Utc::now(), &writes).unwrap();
        let new: Vec<Option<usize>> = results.iter().map(|r| r.as_ref().ok().map(|c| c.new)).collect();
        assert_eq!(new, [Some(1), None, Some(1)]);
        assert_eq!(s.article_count().unwrap(), 2);
        let linked: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM feed_articles", [], |r| r.get(0))
            .unwrap();
        assert_eq!(linked, 2);
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn search_index_catches_up_lazily_and_stays_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("t.db")).unwrap();
        let rows = s.sync_feeds(&[feed_cfg("https://n.example/feed")]).unwrap();
        let f = rows[0].id;
        let now = Utc::now();
        let store = |s: &mut Store, title: &str| {
            let doc = ParsedFeed {
                items: vec![item("a", title, "Beijing acts")],
                ..Default::default()
            };
            s.store_feed(f, now, &FetchMeta::default(), &doc).unwrap()
        };
        // Stored, then edited, before any search: nothing indexed yet.
        assert_eq!(store(&mut s, "Gallium curbs").new, 1);
        assert_eq!(store(&mut s, "Germanium curbs").updated, 1);
        let fts_rows = |s: &Store| -> i64 {
            s.conn
                .query_row("SELECT COUNT(*) FROM articles_fts_docsize", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(fts_rows(&s), 0, "a crawl leaves indexing to the first search");
        assert!(s.search_articles("gallium", 10).unwrap().is_empty());
        assert_eq!(s.search_articles("germanium", 10).unwrap().len(), 1);
        // Edited once indexed: re-indexed in place.
        assert_eq!(store(&mut s, "Antimony curbs").updated, 1);
        assert!(s.search_articles("germanium", 10).unwrap().is_empty());
        assert_eq!(s.search_articles("antimony", 10).unwrap().len(), 1);
        assert_eq!(s.catch_up_search_index().unwrap(), 0);
        // The index matches the articles table exactly.
        s.conn
            .execute(
                "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )
            .unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}
