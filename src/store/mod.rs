//! Storage: the only module that knows SQL. One SQLite file in WAL mode,
//! versioned migrations (`PRAGMA user_version`), one transaction per feed.
//!
//! Times are stored as Unix seconds (UTC).

mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::FeedConfig;
use crate::dedup;
use crate::model::{ArticleId, FeedId, FeedState, ParsedFeed, ParsedItem};

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
}

/// What a successful fetch brought besides the document.
#[derive(Debug, Clone, Default)]
pub struct FetchMeta {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Set when the configured URL was an HTML page that pointed to this feed.
    pub discovered_url: Option<String>,
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
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;",
        )
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
        let all = self.feeds()?;
        Ok(feeds
            .iter()
            .filter(|f| f.enabled)
            .filter_map(|f| all.iter().find(|r| r.url == f.url).cloned())
            .collect())
    }

    /// Every known feed, configured ones first, with its health.
    pub fn feeds(&self) -> Result<Vec<FeedRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.url, f.name, f.title, f.lang, f.active, f.etag, f.last_modified,
                        f.last_fetch, f.last_ok, f.last_status, f.last_error,
                        f.consecutive_failures, f.retry_after, f.discovered_url,
                        (SELECT COUNT(*) FROM feed_articles fa WHERE fa.feed_id = f.id)
                 FROM feeds f ORDER BY f.active DESC, f.id",
            )
            .ctx("prepare feed list")?;
        let rows = stmt
            .query_map([], |r| {
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
                })
            })
            .ctx("list feeds")?;
        rows.collect::<Result<_, _>>().ctx("read feed row")
    }

    /// Record a 304: only the fetch time changes.
    pub fn record_not_modified(&mut self, feed: FeedId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE feeds SET last_fetch = ?2, last_ok = ?2, last_status = 'not modified',
                     last_error = NULL, consecutive_failures = 0, retry_after = NULL
                 WHERE id = ?1",
            )
            .ctx("prepare not-modified")?
            .execute(params![feed.0, ts(now)])
            .ctx("record not-modified")?;
        Ok(())
    }

    /// Record a failed fetch or parse.
    pub fn record_failure(
        &mut self,
        feed: FeedId,
        now: DateTime<Utc>,
        error: &str,
        retry_after: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE feeds SET last_fetch = ?2, last_status = 'failed', last_error = ?3,
                     consecutive_failures = consecutive_failures + 1, retry_after = ?4
                 WHERE id = ?1",
            )
            .ctx("prepare failure")?
            .execute(params![feed.0, ts(now), error, retry_after.map(ts)])
            .ctx("record failure")?;
        Ok(())
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
        let tx = self.conn.transaction().ctx("begin feed")?;
        let mut counts = StoreCounts::default();
        let mut seen_keys = std::collections::HashSet::new();
        // A guid shared by items with different links is not an identity
        // (some feeds give every item the site's address): those items are
        // keyed by their link instead.
        let mut guid_links: std::collections::HashMap<&str, std::collections::HashSet<Option<String>>> =
            std::collections::HashMap::new();
        for item in &doc.items {
            if let Some(g) = &item.guid {
                let link = item.url.as_deref().and_then(dedup::canonical_url);
                guid_links.entry(g.as_str()).or_default().insert(link);
            }
        }
        for item in &doc.items {
            let ambiguous = item
                .guid
                .as_deref()
                .is_some_and(|g| guid_links.get(g).is_some_and(|links| links.len() > 1));
            let key = item_key(item, ambiguous);
            if !seen_keys.insert(key.clone()) {
                continue; // the same item twice in one document
            }
            store_item(&tx, feed, now, &key, item, &mut counts)?;
        }
        tx.prepare_cached(
            "UPDATE feeds SET etag = ?2, last_modified = ?3, last_fetch = ?4, last_ok = ?4,
                 last_status = 'ok', last_error = NULL, consecutive_failures = 0,
                 retry_after = NULL, title = COALESCE(?5, title),
                 site_url = COALESCE(?6, site_url), feed_lang = COALESCE(?7, feed_lang),
                 ttl_minutes = ?8, discovered_url = ?9
             WHERE id = ?1",
        )
        .ctx("prepare feed state")?
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
        ])
        .ctx("update feed state")?;
        tx.commit().ctx("commit feed")?;
        Ok(counts)
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
                             WHERE fa.article_id = a.id ORDER BY fa.first_seen, fa.feed_id))
                 FROM articles a JOIN feeds f ON f.id = a.feed_id
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

/// The item's identity within its feed: the publisher's guid (unless the
/// document shows it is not unique), else its canonical link, else a
/// fingerprint of its content.
fn item_key(item: &ParsedItem, guid_ambiguous: bool) -> String {
    if let Some(g) = item.guid.as_ref().filter(|_| !guid_ambiguous) {
        return g.clone();
    }
    if let Some(u) = &item.url {
        return dedup::canonical_url(u).unwrap_or_else(|| u.clone());
    }
    format!(
        "hash:{:016x}",
        dedup::content_hash(&item.title, &item.summary_text)
    )
}

fn store_item(
    tx: &rusqlite::Transaction<'_>,
    feed: FeedId,
    now: DateTime<Utc>,
    key: &str,
    item: &ParsedItem,
    counts: &mut StoreCounts,
) -> Result<(), StoreError> {
    let hash = dedup::content_hash(&item.title, &item.summary_text) as i64;
    let existing: Option<(i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT a.id, a.content_hash, a.feed_id FROM feed_articles fa
             JOIN articles a ON a.id = fa.article_id
             WHERE fa.feed_id = ?1 AND fa.guid = ?2",
        )
        .ctx("prepare item lookup")?
        .query_row(params![feed.0, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .ctx("look up item")?;
    if let Some((id, old_hash, origin)) = existing {
        // Only the feed that first carried an article edits it, so two feeds
        // with different excerpts do not overwrite each other on every crawl.
        if old_hash != hash && origin == feed.0 {
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
            counts.updated += 1;
        }
        return Ok(());
    }

    let canonical = item.url.as_deref().and_then(dedup::canonical_url);
    let mut same: Option<i64> = None;
    if let Some(c) = &canonical {
        same = tx
            .prepare_cached("SELECT id FROM articles WHERE canonical_url = ?1")
            .ctx("prepare url lookup")?
            .query_row([c], |r| r.get(0))
            .optional()
            .ctx("look up canonical url")?;
    }
    if same.is_none() && dedup::copy_detectable(&item.title, &item.summary_text) {
        same = tx
            .prepare_cached("SELECT id FROM articles WHERE content_hash = ?1 ORDER BY id LIMIT 1")
            .ctx("prepare copy lookup")?
            .query_row([hash], |r| r.get(0))
            .optional()
            .ctx("look up exact copy")?;
    }
    let article = match same {
        Some(id) => {
            counts.linked += 1;
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO articles (feed_id, guid, url, canonical_url, title, summary_text,
                     summary_html, lang, published, first_seen, content_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .ctx("prepare item insert")?
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
            .ctx("insert item")?;
            counts.new += 1;
            tx.last_insert_rowid()
        }
    };
    tx.prepare_cached(
        "INSERT INTO feed_articles (feed_id, guid, article_id, first_seen) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )
    .ctx("prepare feed link")?
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

    /// Run `f` with the store on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&mut Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut store)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}
