//! One crawl pass: fetch → parse → dedup → store, feeds concurrently.
//! Returns one outcome per feed; a failing feed never stops the others.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tracing::{debug, info, warn};

use crate::fetch::{FetchError, Fetched, Fetcher};
use crate::parse::{self, ParseError};
use crate::store::{Db, FeedRow, FetchMeta, StoreCounts, StoreError};

/// Why a feed failed this time.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("the feed parser crashed on this document")]
    ParserPanic,
    #[error("storing the feed failed")]
    Store(#[from] StoreError),
}

#[derive(Debug)]
pub enum FeedOutcome {
    NotModified,
    Updated {
        counts: StoreCounts,
        items: usize,
        /// The configured URL was an HTML page; this is the feed it announced.
        discovered: Option<String>,
    },
    Failed(FeedError),
}

impl FeedOutcome {
    pub fn is_success(&self) -> bool {
        !matches!(self, FeedOutcome::Failed(_))
    }
}

#[derive(Debug)]
pub struct FeedReport {
    pub feed: FeedRow,
    pub outcome: FeedOutcome,
    pub elapsed: Duration,
}

impl FeedReport {
    pub fn label(&self) -> &str {
        self.feed
            .name
            .as_deref()
            .or(self.feed.title.as_deref())
            .unwrap_or(&self.feed.url)
    }
}

/// Crawl `feeds` with at most `concurrency` in flight; `on_done` is called
/// as each feed finishes (for progress display). Reports come back in the
/// order of `feeds`.
pub async fn crawl(
    db: &Db,
    fetcher: &Fetcher,
    feeds: Vec<FeedRow>,
    concurrency: usize,
    mut on_done: impl FnMut(&FeedReport),
) -> Vec<FeedReport> {
    let started = Instant::now();
    let n = feeds.len();
    let mut reports: Vec<(usize, FeedReport)> = futures::stream::iter(feeds.into_iter().enumerate())
        .map(|(i, feed)| async move { (i, crawl_one(db, fetcher, feed).await) })
        .buffer_unordered(concurrency.max(1))
        .inspect(|(_, r)| on_done(r))
        .collect()
        .await;
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<FeedReport> = reports.into_iter().map(|(_, r)| r).collect();
    let failed = reports.iter().filter(|r| !r.outcome.is_success()).count();
    let not_modified = reports
        .iter()
        .filter(|r| matches!(r.outcome, FeedOutcome::NotModified))
        .count();
    let new: usize = reports
        .iter()
        .map(|r| match &r.outcome {
            FeedOutcome::Updated { counts, .. } => counts.new,
            _ => 0,
        })
        .sum();
    info!(
        feeds = n,
        not_modified,
        failed,
        new_articles = new,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "crawl finished"
    );
    reports
}

#[tracing::instrument(skip_all, fields(feed_id = %feed.id, url = %feed.url))]
async fn crawl_one(db: &Db, fetcher: &Fetcher, feed: FeedRow) -> FeedReport {
    let started = Instant::now();
    let outcome = match fetch_and_store(db, fetcher, &feed).await {
        Ok(outcome) => outcome,
        Err(error) => {
            let message = error_chain(&error);
            warn!(error = %message, "feed failed");
            let retry_after = match &error {
                FeedError::Fetch(f) => f.retry_after(),
                _ => None,
            };
            let id = feed.id;
            let now = Utc::now();
            if let Err(e) = db
                .call(move |s| s.record_failure(id, now, &message, retry_after))
                .await
            {
                warn!(error = %error_chain(&e), "cannot record the failure");
            }
            FeedOutcome::Failed(error)
        }
    };
    FeedReport {
        feed,
        outcome,
        elapsed: started.elapsed(),
    }
}

async fn fetch_and_store(db: &Db, fetcher: &Fetcher, feed: &FeedRow) -> Result<FeedOutcome, FeedError> {
    let url = feed.discovered_url.clone().unwrap_or_else(|| feed.url.clone());
    let body = match fetcher.fetch(&url, &feed.state).await? {
        Fetched::NotModified => {
            debug!("not modified");
            let id = feed.id;
            db.call(move |s| s.record_not_modified(id, Utc::now())).await?;
            return Ok(FeedOutcome::NotModified);
        }
        Fetched::Body(body) => body,
    };
    let mut discovered = feed.discovered_url.clone();
    let (meta_src, doc) = match parse_blocking(body).await {
        (meta_src, Ok(doc)) => (meta_src, doc),
        (_, Err(FeedError::Parse(ParseError::NotAFeed { discovered: found })))
            if discovered.is_none() && !found.is_empty() =>
        {
            // An HTML page that announces its feed: follow the first one.
            let target = found[0].clone();
            info!(feed = %target, "the URL is a web page; using the feed it announces");
            let Fetched::Body(body) = fetcher.fetch(&target, &Default::default()).await? else {
                return Ok(FeedOutcome::NotModified);
            };
            let (meta_src, doc) = parse_blocking(body).await;
            discovered = Some(target);
            (meta_src, doc?)
        }
        (_, Err(e)) => return Err(e),
    };
    let meta = FetchMeta {
        etag: meta_src.etag,
        last_modified: meta_src.last_modified,
        discovered_url: discovered.clone(),
    };
    let items = doc.items.len();
    let id = feed.id;
    let counts = db
        .call(move |s| s.store_feed(id, Utc::now(), &meta, &doc))
        .await?;
    debug!(
        items,
        new = counts.new,
        updated = counts.updated,
        linked = counts.linked,
        "stored"
    );
    Ok(FeedOutcome::Updated {
        counts,
        items,
        discovered: discovered.filter(|_| feed.discovered_url.is_none()),
    })
}

/// Parse on the blocking pool. The body's bytes move into the parser; its
/// headers come back for the fetch state. A parser panic is that feed's error.
async fn parse_blocking(
    mut body: crate::fetch::Body,
) -> (crate::fetch::Body, Result<crate::model::ParsedFeed, FeedError>) {
    let bytes = std::mem::take(&mut body.bytes);
    let content_type = body.content_type.clone();
    let base = body.final_url.clone();
    let result =
        tokio::task::spawn_blocking(move || parse::parse_feed(&bytes, content_type.as_deref(), &base)).await;
    let result = match result {
        Ok(r) => r.map_err(FeedError::from),
        Err(_) => Err(FeedError::ParserPanic),
    };
    (body, result)
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = e.source();
    }
    s
}
