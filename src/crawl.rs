//! One crawl pass: fetch → parse → dedup → store, feeds concurrently.
//! Returns one outcome per feed; a failing feed never stops the others.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tracing::{debug, info, warn};

use crate::fetch::{FetchError, Fetched, Fetcher};
use crate::parse::{self, ParseError};
use std::sync::Arc;

use crate::classify::{self, Profile};
use crate::store::{
    ArticleText, Db, FeedRow, FetchMeta, PreparedDoc, Store, StoreCounts, StoreError, StoredDecision, Write,
};
use crate::story;

/// A write on its way to the writer, with where to send its result.
type Pending = (Write, oneshot::Sender<Result<StoreCounts, StoreError>>);
use std::sync::mpsc;
use tokio::sync::{Semaphore, oneshot};

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
    /// The topic profile could not be parsed when this feed first needed
    /// it: the whole crawl's error, not the feed's (nothing is recorded on it).
    #[error(transparent)]
    Profile(#[from] ProfileUnusable),
}

/// The topic profile failed to parse on first use; the message names its
/// file and line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProfileUnusable {
    pub message: String,
}

/// The topic profile of a crawl, parsed the first time an article needs a
/// decision: a recrawl in which every feed answers 304 and nothing waits
/// for a decision never pays for the parse (about 4.5 ms of a 40 ms run).
/// Shared by reference between the parser threads; the first to need it
/// parses it, the others wait for that parse.
#[derive(Debug)]
pub struct LazyProfile {
    /// The text (empty when given parsed) and the name it goes by in errors.
    text: std::borrow::Cow<'static, str>,
    source: String,
    parsed: std::sync::OnceLock<Result<Arc<Profile>, ProfileUnusable>>,
}

impl LazyProfile {
    /// A profile to parse from `text` when first needed; `source` names it
    /// in errors (its path).
    pub fn new(text: std::borrow::Cow<'static, str>, source: String) -> Self {
        Self {
            text,
            source,
            parsed: std::sync::OnceLock::new(),
        }
    }

    /// A profile parsed already (the daemon parses it up front, to refuse a
    /// bad one on reload).
    pub fn ready(profile: Arc<Profile>) -> Self {
        Self {
            text: "".into(),
            source: profile.source.clone(),
            parsed: std::sync::OnceLock::from(Ok(profile)),
        }
    }

    /// The fingerprint the parsed profile will have (`Profile::fingerprint`,
    /// a hash of the text), without parsing it.
    pub fn fingerprint(&self) -> String {
        match self.parsed.get() {
            Some(Ok(p)) => p.fingerprint.clone(),
            _ => format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.text.as_bytes())),
        }
    }

    /// The profile, parsed on the first call.
    pub fn get(&self) -> Result<&Arc<Profile>, ProfileUnusable> {
        self.parsed
            .get_or_init(|| {
                Profile::parse(&self.text, &self.source)
                    .map(|profile| {
                        debug!(profile = %profile.source, terms = profile.terms.len(), "topic profile loaded");
                        Arc::new(profile)
                    })
                    .map_err(|e| ProfileUnusable {
                        message: format!("{:#}", anyhow::Error::new(e)),
                    })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Why the profile could not be used, if it was needed and failed.
    pub fn error(&self) -> Option<&ProfileUnusable> {
        self.parsed.get().and_then(|r| r.as_ref().err())
    }
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
    profile: &Arc<LazyProfile>,
    feeds: Vec<FeedRow>,
    concurrency: usize,
    on_done: impl FnMut(&FeedReport),
) -> Vec<FeedReport> {
    let started = Instant::now();
    let n = feeds.len();
    let reports = crawl_until(
        db,
        fetcher,
        profile,
        feeds,
        concurrency,
        on_done,
        std::future::pending(),
    )
    .await;
    let t = Tally::of(&reports);
    info!(
        feeds = n,
        not_modified = t.not_modified,
        failed = t.failed,
        new_articles = t.new_articles,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "crawl finished"
    );
    reports
}

/// [`crawl`], except that no further feed starts once `stop` completes:
/// the feeds in flight finish and are reported, the rest are left out of
/// the reports (the daemon's shutdown). Logs nothing per pass.
pub async fn crawl_until(
    db: &Db,
    fetcher: &Fetcher,
    profile: &Arc<LazyProfile>,
    feeds: Vec<FeedRow>,
    concurrency: usize,
    mut on_done: impl FnMut(&FeedReport),
    stop: impl std::future::Future<Output = ()>,
) -> Vec<FeedReport> {
    // One writer holds the database for the whole pass and commits whatever
    // has queued up in one transaction (group commit). The channel needs no
    // bound: at most `concurrency` feeds are fetched or parsed at once, a
    // feed whose document is queued for the writer gives its slot to the
    // next, and at most as many again wait for the writer (2 × concurrency
    // tasks in all), so fetching and parsing go on while the writer writes.
    // (When each feed kept its slot until written, the parsers ran dry
    // during every long commit: one core idle, a cold crawl 8% slower.)
    // Parsing is CPU work: run at most one parser per core, so that dozens
    // of parser threads do not starve the writer. (One per core but one,
    // to leave the writer a core of its own, left that core idle whenever
    // the writer waited: on 2 cores a cold crawl took about 10% longer.)
    let n_parsers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let parsers = Arc::new(Semaphore::new(n_parsers));
    let (sender, rx) = mpsc::channel::<Pending>();
    let slots = Semaphore::new(concurrency.max(1));
    let parsing = {
        let parsers = parsers.clone();
        move || parsers.available_permits() < n_parsers
    };
    let writer = db.spawn(move |store| write_loop(store, &rx, parsing));
    let mut reports: Vec<(usize, FeedReport)> = {
        let ctx = Ctx {
            tx: &sender,
            fetcher,
            parsers: &parsers,
            slots: &slots,
            profile,
        };
        let ctx = &ctx;
        futures::stream::iter(feeds.into_iter().enumerate())
            .take_until(stop)
            .map(|(i, feed)| async move { (i, crawl_one(ctx, feed).await) })
            .buffer_unordered(2 * concurrency.max(1))
            .inspect(|(_, r)| on_done(r))
            .collect()
            .await
    };
    drop(sender);
    if let Err(e) = writer.await {
        warn!(error = %e, "the database writer stopped");
    }
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// Counts over a pass's reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub polled: usize,
    pub not_modified: usize,
    pub failed: usize,
    pub new_articles: usize,
}

impl Tally {
    pub fn of(reports: &[FeedReport]) -> Self {
        let mut t = Tally {
            polled: reports.len(),
            ..Tally::default()
        };
        for r in reports {
            match &r.outcome {
                FeedOutcome::NotModified => t.not_modified += 1,
                FeedOutcome::Failed(_) => t.failed += 1,
                FeedOutcome::Updated { counts, .. } => t.new_articles += counts.new,
            }
        }
        t
    }
}

/// The writer: take every write that has queued up; if none had (the
/// writer is ahead of the parsers), also those that arrive within
/// [`LINGER`] of the first while a parser is at work; apply them in one
/// transaction, answer each. Runs on the blocking pool until the channel
/// closes.
fn write_loop(store: &mut Store, rx: &mpsc::Receiver<Pending>, parsing: impl Fn() -> bool) {
    const MAX_BATCH: usize = 256;
    /// How often a lingering writer looks whether a parser is still at work.
    const POLL: Duration = Duration::from_millis(2);
    loop {
        // A write already queued means the writer is behind the parsers:
        // it takes what has queued and writes at once (lingering as well
        // left it idle some 20 ms per batch while documents queued: a cold
        // crawl 8% slower). Waiting for more is for a writer that is ahead,
        // so that its commits do not each carry one feed.
        let (first, behind) = match rx.try_recv() {
            Ok(p) => (p, true),
            Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => match rx.recv() {
                Ok(p) => (p, false),
                Err(_) => break,
            },
        };
        let deadline = Instant::now() + if behind { Duration::ZERO } else { LINGER };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => {
                    batch.push(p);
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            // Nothing queued. Wait only for a document being parsed: the
            // other feeds' writes (304s, failures) come at the pace of the
            // network, and their tasks hold crawl slots until answered.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !parsing() {
                break;
            }
            match rx.recv_timeout(left.min(POLL)) {
                Ok(p) => batch.push(p),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let (writes, replies): (Vec<Write>, Vec<_>) = batch.into_iter().unzip();
        let t = Instant::now();
        let result = store.write_batch(Utc::now(), &writes);
        debug!(
            writes = writes.len(),
            elapsed_us = t.elapsed().as_micros() as u64,
            "write batch"
        );
        match result {
            Ok(results) => {
                for (r, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                let message = error_chain(&e);
                warn!(error = %message, feeds = writes.len(), "a write batch failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Batch {
                        message: message.clone(),
                    }));
                }
            }
        }
    }
}

/// How long a batch waits for more writes after its first, while a parser
/// is at work. A commit costs about the same for one feed as for ten (each
/// rewrites the pages the feeds share: index interiors, the tables' last
/// pages), and a crawl's parsers hand over a document every few
/// milliseconds: waiting a little makes one commit of several feeds
/// instead of one commit each.
const LINGER: Duration = Duration::from_millis(20);

/// What each feed's task shares.
struct Ctx<'a> {
    tx: &'a mpsc::Sender<Pending>,
    fetcher: &'a Fetcher,
    parsers: &'a Semaphore,
    /// Slots for feeds being fetched or parsed (`concurrency`). A feed
    /// whose document is queued for the writer gives its slot up.
    slots: &'a Semaphore,
    profile: &'a Arc<LazyProfile>,
}

/// Hand a write to the writer and wait for its result.
async fn write(tx: &mpsc::Sender<Pending>, w: Write) -> Result<StoreCounts, StoreError> {
    answer(submit(tx, w)?).await
}

type Reply = oneshot::Receiver<Result<StoreCounts, StoreError>>;

fn writer_stopped() -> StoreError {
    StoreError::Batch {
        message: "the database writer has stopped".into(),
    }
}

/// Hand a write to the writer; its result comes on the reply.
fn submit(tx: &mpsc::Sender<Pending>, w: Write) -> Result<Reply, StoreError> {
    let (reply, result) = oneshot::channel();
    tx.send((w, reply)).map_err(|_| writer_stopped())?;
    Ok(result)
}

async fn answer(result: Reply) -> Result<StoreCounts, StoreError> {
    result.await.map_err(|_| writer_stopped())?
}

#[tracing::instrument(skip_all, fields(feed_id = %feed.id, url = %feed.url))]
async fn crawl_one(ctx: &Ctx<'_>, feed: FeedRow) -> FeedReport {
    let started = Instant::now();
    let slot = ctx
        .slots
        .acquire()
        .await
        .expect("the slot semaphore is never closed");
    // `fetch_and_store` gives the slot back once what the feed gave (its
    // document, or that it is unchanged) is queued for the writer, else
    // when it returns: nothing waits for the writer with the slot.
    let outcome = match fetch_and_store(ctx, &feed, slot).await {
        Ok(outcome) => outcome,
        // Not the feed's failure: the crawl reports it as its own.
        Err(error @ FeedError::Profile(_)) => FeedOutcome::Failed(error),
        Err(error) => {
            let message = error_chain(&error);
            warn!(error = %message, "feed failed");
            let retry_after = match &error {
                FeedError::Fetch(f) => f.retry_after(),
                _ => None,
            };
            let w = Write::Failure {
                feed: feed.id,
                error: message,
                retry_after,
            };
            if let Err(e) = write(ctx.tx, w).await {
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

/// Fetch `feed`, parse it and have the writer store it. `slot`, the feed's
/// crawl slot, goes back as soon as its document (or the news that it is
/// unchanged) is queued for the writer, or when this returns, whatever it
/// returns.
async fn fetch_and_store(
    ctx: &Ctx<'_>,
    feed: &FeedRow,
    slot: tokio::sync::SemaphorePermit<'_>,
) -> Result<FeedOutcome, FeedError> {
    let (tx, fetcher) = (ctx.tx, ctx.fetcher);
    let url = feed.discovered_url.clone().unwrap_or_else(|| feed.url.clone());
    let body = match fetcher.fetch(&url, &feed.state).await? {
        Fetched::NotModified { max_age } => {
            debug!("not modified");
            let reply = submit(
                tx,
                Write::NotModified {
                    feed: feed.id,
                    max_age,
                },
            )?;
            drop(slot);
            answer(reply).await?;
            return Ok(FeedOutcome::NotModified);
        }
        Fetched::Body(body) => body,
    };
    let mut discovered = feed.discovered_url.clone();
    let (meta_src, doc) = match parse_blocking(ctx, feed, body).await {
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
            let (meta_src, doc) = parse_blocking(ctx, feed, body).await;
            discovered = Some(target);
            (meta_src, doc?)
        }
        (_, Err(e)) => return Err(e),
    };
    let meta = FetchMeta {
        etag: meta_src.etag,
        last_modified: meta_src.last_modified,
        discovered_url: discovered.clone(),
        max_age: meta_src.max_age,
    };
    let items = doc.doc.items.len();
    let reply = submit(
        tx,
        Write::Document {
            feed: feed.id,
            meta,
            doc,
        },
    )?;
    drop(slot);
    let counts = answer(reply).await?;
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
    ctx: &Ctx<'_>,
    feed: &FeedRow,
    mut body: crate::fetch::Body,
) -> (crate::fetch::Body, Result<PreparedDoc, FeedError>) {
    let _permit = ctx
        .parsers
        .acquire()
        .await
        .expect("the parser semaphore is never closed");
    let profile = ctx.profile.clone();
    let feed_lang = feed.lang.clone();
    let bytes = std::mem::take(&mut body.bytes);
    let content_type = body.content_type.clone();
    let base = body.final_url.clone();
    // Parse, work out identities and classify here, on the blocking pool
    // in parallel, so the single writer only writes.
    let result = tokio::task::spawn_blocking(move || {
        let doc = parse::parse_feed(&bytes, content_type.as_deref(), &base)?;
        let mut prepared = PreparedDoc::new(doc);
        if !prepared.doc.items.is_empty() {
            let profile = profile.get()?;
            prepared.classify_with(|items| {
                let inputs: Vec<classify::Input<'_>> = items
                    .iter()
                    .map(|item| classify::Input {
                        title: &item.title,
                        summary: &item.summary_text,
                        lang: item.lang.as_deref().or(feed_lang.as_deref()),
                    })
                    .collect();
                decide_batch(profile, &inputs)
            });
        }
        Ok::<_, FeedError>(prepared)
    })
    .await;
    let result = match result {
        Ok(r) => r,
        Err(_) => Err(FeedError::ParserPanic),
    };
    (body, result)
}

/// Classification results of one pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassifyCounts {
    pub classified: usize,
    pub relevant: usize,
}

/// Classify every article that has no decision yet (new or edited), in
/// order of publication, and store the decisions. The profile is parsed
/// only if there is such an article.
pub async fn classify_pending(db: &Db, profile: Arc<LazyProfile>) -> anyhow::Result<ClassifyCounts> {
    const CHUNK: usize = 2000;
    db.call(move |store| {
        let mut counts = ClassifyCounts::default();
        if !store.has_unclassified()? {
            return Ok(counts);
        }
        let profile = profile.get()?;
        let mut after = crate::model::ArticleId(0);
        loop {
            let texts = store.unclassified_after(after, CHUNK)?;
            let Some(last) = texts.last() else { break };
            after = last.id;
            let inputs: Vec<classify::Input<'_>> = texts.iter().map(input_of).collect();
            let decisions: Vec<_> = texts
                .iter()
                .map(|t| t.id)
                .zip(decide_batch(profile, &inputs))
                .collect();
            counts.classified += decisions.len();
            counts.relevant += decisions.iter().filter(|(_, d)| d.relevant).count();
            store.save_decisions(Utc::now(), &decisions)?;
        }
        Ok::<_, anyhow::Error>(counts)
    })
    .await
}

/// What the classifier reads of a stored article.
pub fn input_of(t: &ArticleText) -> classify::Input<'_> {
    classify::Input {
        title: &t.title,
        summary: &t.summary,
        lang: t.lang.as_deref(),
    }
}

/// The decisions on many articles, in their stored form (one classifier
/// batch: faster than one at a time).
pub fn decide_batch(profile: &Profile, inputs: &[classify::Input<'_>]) -> Vec<StoredDecision> {
    classify::classify_batch(profile, inputs)
        .iter()
        .map(|d| stored(profile, d))
        .collect()
}

/// A decision in its stored form.
fn stored(profile: &Profile, d: &classify::Decision<'_>) -> StoredDecision {
    StoredDecision {
        relevant: d.relevant,
        score: f64::from(d.score),
        event: d.event.map(|e| e.as_str().to_owned()),
        // Most articles name no chip and no entity: their JSON is known.
        chips: if d.chips().is_empty() {
            "[]".to_owned()
        } else {
            serde_json::to_string(d.chips()).unwrap_or_else(|_| "[]".into())
        },
        entities: if [d.agencies(), d.companies(), d.countries(), d.keys(), d.topics()]
            .iter()
            .all(|xs| xs.is_empty())
        {
            NO_ENTITIES.to_owned()
        } else {
            serde_json::to_string(&StoredEntities {
                agencies: d.agencies(),
                companies: d.companies(),
                countries: d.countries(),
                keys: d.keys(),
                topics: d.topics(),
            })
            .unwrap_or_else(|_| "{}".into())
        },
        lang: d.lang.as_deref().map(str::to_owned),
        // Evidence is kept where a rule fired; `explain` recomputes the rest.
        evidence: if d.rules().is_empty() && d.negatives().is_empty() {
            "{}".to_owned()
        } else {
            d.evidence_json(profile).to_string()
        },
        profile: profile.fingerprint.clone(),
        follow_up: d.follow_up,
    }
}

/// The stored entities of a decision that names none.
const NO_ENTITIES: &str = r#"{"agencies":[],"companies":[],"countries":[],"keys":[],"topics":[]}"#;

/// A decision's entities as stored: written straight to JSON, without
/// building a `serde_json::Value` first. The fields are in the order a
/// `Value` object writes its keys (sorted), which is how they were stored
/// before.
#[derive(serde::Serialize)]
struct StoredEntities<'a> {
    agencies: &'a [&'a str],
    companies: &'a [&'a str],
    countries: &'a [&'a str],
    keys: &'a [&'a str],
    topics: &'a [&'a str],
}

/// What the story pass did.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoryCounts {
    pub placed: usize,
    pub new_stories: usize,
    pub alerts: usize,
}

/// The development signature of a relevant article: its normalised
/// entities, as story features.
pub fn signature(entities_json: &str, chips_json: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Decisions since entity groups carry their signature ready-made.
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(entities_json)
        && let Some(keys) = map.get("keys").and_then(|v| v.as_array())
    {
        out.extend(keys.iter().filter_map(|v| v.as_str()).map(str::to_owned));
        out.sort();
        out.dedup();
        return out;
    }
    if let Ok(chips) = serde_json::from_str::<Vec<String>>(chips_json) {
        out.extend(chips.iter().map(|c| story::feature("chip", c)));
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(entities_json) {
        for (key, kind) in [
            ("companies", "company"),
            ("agencies", "agency"),
            ("countries", "country"),
            ("topics", "topic"),
        ] {
            if let Some(list) = map.get(key).and_then(|v| v.as_array()) {
                out.extend(
                    list.iter()
                        .filter_map(|v| v.as_str())
                        .map(|n| story::feature(kind, n)),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Give every relevant article without a story its story, in order of
/// publication, and raise one alert per new development story. One
/// transaction: an interrupted pass leaves nothing half done.
pub async fn assign_stories(db: &Db) -> Result<StoryCounts, StoreError> {
    db.call(|store| {
        store.in_transaction(|s| {
            let params = story::Params::default();
            let mut counts = StoryCounts::default();
            for a in s.pending_story_articles()? {
                let Some(event) = crate::model::EventType::parse(&a.event) else { continue };
                let features = signature(&a.entities, &a.chips);
                let chips = features.iter().filter(|f| f.starts_with("chip:")).count();
                let from = a.published - params.lookback_days(a.follow_up) * 86_400;
                let to = a.published + params.before_days * 86_400;
                let candidates = s.story_candidates(&features, from, to)?;
                let article = story::Article {
                    published: a.published,
                    event,
                    features: &features,
                    follow_up: a.follow_up,
                };
                counts.placed += 1;
                match story::place(&article, &candidates, &params) {
                    story::Placement::Join { story: id, score } => s.join_story(id, &a, &features, score)?,
                    story::Placement::New => {
                        let id = s.create_story(&a, &features)?;
                        counts.new_stories += 1;
                        if event.is_development() {
                            let reason = format!("first report of a new {event} development");
                            if s.raise_alert(Utc::now(), id, a.id, event.as_str(), story::severity(event, chips), &reason)? {
                                counts.alerts += 1;
                                info!(article = a.id.0, story = id, event = %event, title = %a.title, "alert");
                            }
                        }
                    }
                }
            }
            Ok(counts)
        })
    })
    .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_profile_knows_its_fingerprint_before_it_is_parsed() {
        let lazy = LazyProfile::new(classify::profile::BUILTIN_PROFILE.into(), "builtin".into());
        let unparsed = lazy.fingerprint();
        assert!(lazy.error().is_none());
        let parsed = lazy.get().unwrap();
        assert_eq!(unparsed, parsed.fingerprint);
        assert_eq!(unparsed, Profile::builtin().fingerprint);
        let other = LazyProfile::new(
            format!("{}\n", classify::profile::BUILTIN_PROFILE).into(),
            "x".into(),
        );
        assert_ne!(other.fingerprint(), unparsed);
    }

    #[test]
    fn a_lazy_profile_keeps_its_error() {
        let lazy = LazyProfile::new("[profile]\nname = 1\n".into(), "bad.toml".into());
        let e = lazy.get().unwrap_err();
        assert!(e.to_string().contains("bad.toml"), "{e}");
        assert_eq!(lazy.error().map(ToString::to_string), Some(e.to_string()));
    }

    #[test]
    fn stored_entities_are_the_json_a_value_object_writes() {
        let v = |xs: &[&'static str]| xs.to_vec();
        let (companies, agencies, countries) = (v(&["SMIC", "Huawei \"HiSilicon\""]), v(&[]), v(&["China"]));
        let (topics, keys) = (v(&["lithography"]), v(&["company:smic", "chip:\u{4e2d}\\x"]));
        let stored = serde_json::to_string(&StoredEntities {
            agencies: &agencies,
            companies: &companies,
            countries: &countries,
            keys: &keys,
            topics: &topics,
        })
        .unwrap();
        let value = serde_json::json!({
            "companies": companies, "agencies": agencies, "countries": countries,
            "topics": topics,
            "keys": keys,
        })
        .to_string();
        assert_eq!(stored, value);
        let none: Vec<&str> = Vec::new();
        let empty = serde_json::to_string(&StoredEntities {
            agencies: &none,
            companies: &none,
            countries: &none,
            keys: &none,
            topics: &none,
        })
        .unwrap();
        assert_eq!(NO_ENTITIES, empty);
        assert_eq!(serde_json::to_string(&none).unwrap(), "[]");
    }
}
