//! Story placement at scale (issue 4): what placing one batch of 100 new
//! relevant articles costs, per article, in a database that already holds
//! N = 1,000, 10,000 and 100,000 relevant articles grouped in stories.
//! Candidate lookup is meant to go through indexes (entities, time), never a
//! scan of all history, so the cost per new article should stay flat in N.
//!
//! ```sh
//! cargo bench --bench stories                          # N = 1k, 10k, 100k over 3 years; 11 runs each
//! cargo bench --bench stories -- 1000 10000 --runs 5   # chosen sizes and runs
//! cargo bench --bench stories -- --same-rate           # history as long as N takes at 100k's rate
//! cargo bench --bench stories -- 10000 --check-fill    # also place the history with assign_stories, compare
//! cargo bench --bench stories -- --keep                # keep the databases (path printed)
//! ```
//!
//! This is a plain harness that prints a markdown table. It does not use
//! criterion, because every iteration needs a fresh copy of a database of
//! up to about 200 MB, and criterion's warm-up and sampling would run that
//! setup hundreds of times. Run without `--bench` (as
//! `cargo test --benches` does), it only checks N = 1,000 once.
//!
//! For each N, in a temporary folder, with the library's public API only:
//!
//! 1. **History.** Synthetic developments start at random times over three
//!    years (`--same-rate`: over 3 years × N / 100,000). Each has an event
//!    of one of the six types, 1–3 chips from a pool of 40, 1–2 companies
//!    from 30, an agency from 12 and countries (China in most, the United
//!    States in many): the shipped profile's names and story keys. It has
//!    1–20 reports (mean 5) within four days. A report carries most of its
//!    development's entities, sometimes a stray one, and sometimes points
//!    back at an earlier development. The reports are written as feed
//!    documents of 20 outlets through the crawl's write path
//!    (`Store::write_batch`, decisions attached with
//!    `PreparedDoc::classify_with`), 10,000 articles per transaction. They
//!    are then placed in stories, and the database is closed. The placement
//!    is `crawl::assign_stories`'s loop (same order, same `story::place`,
//!    same store writes, one transaction) with the candidate stories kept
//!    in memory, because `assign_stories` itself is quadratic over a whole
//!    history: 4.3 s for 10,000 articles and 254 s for 100,000, against
//!    0.7 s and 20–27 s this way.
//!    `--check-fill` checks that both give every article the same story.
//! 2. **New batch.** 100 new relevant articles published in the day after
//!    the history ends: 40 more reports of the latest developments, 10
//!    follow-ups of developments 2–8 weeks old, and 50 new developments.
//!    The batch is the same for every run.
//! 3. **Runs.** Each run copies the closed database to a new file, opens it
//!    and writes the batch (not timed). It then times one
//!    `crawl::assign_stories`, which places the 100 articles and raises
//!    their alerts in one transaction. Time per article = that time / 100.
//!    The articles are new to the database in every run.
//! 4. **Probe** (not part of the timed runs). On one more copy with the
//!    batch written, the two lookups of a story pass are timed separately:
//!    `Store::pending_story_articles` (the relevant articles that have no
//!    story yet) and `Store::story_candidates` for each new article, with
//!    `assign_stories`'s time window.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chipwatch::classify::{EntityKind, Profile};
use chipwatch::config::FeedConfig;
use chipwatch::crawl::{self, StoryCounts};
use chipwatch::model::{EventType, FeedId, ParsedFeed, ParsedItem, Reference};
use chipwatch::store::{Db, FetchMeta, PreparedDoc, Store, StoredDecision, Write};
use chipwatch::story;
use chrono::{DateTime, Utc};

const DAY: i64 = 86_400;
/// The stored history ends at 2026-11-01T00:00:00Z and spans three years.
const END: i64 = 1_793_491_200;
const SPAN_DAYS: i64 = 3 * 365;
const OUTLETS: usize = 20;
/// New relevant articles placed per run.
const BATCH: usize = 100;
/// Articles per write transaction while filling.
const FILL_TX: usize = 10_000;

/// One entity: its display name and its story key (`kind:name`).
#[derive(Debug, Clone)]
struct Ent {
    name: String,
    key: String,
}

/// Entity pools from the shipped profile.
struct Pools {
    chips: Vec<Ent>,
    companies: Vec<Ent>,
    agencies: Vec<Ent>,
    countries: Vec<Ent>,
    fingerprint: String,
    vocab: Vec<String>,
}

impl Pools {
    fn new() -> Self {
        let p = Profile::builtin();
        let pick = |kind: EntityKind, n: usize| {
            let mut out: Vec<Ent> = Vec::new();
            for e in p.entities.iter().filter(|e| e.kind == kind) {
                if out.len() < n && !out.iter().any(|o| o.key == e.key) {
                    out.push(Ent {
                        name: e.name.clone(),
                        key: e.key.clone(),
                    });
                }
            }
            assert!(!out.is_empty(), "the shipped profile has {kind:?} entities");
            out
        };
        // Filler words, so that no two articles' texts are near copies.
        let mut rng = fastrand::Rng::with_seed(7);
        let syllables = [
            "ka", "lo", "mi", "ren", "tu", "sa", "vel", "do", "pri", "an", "tor", "ne", "qui", "bas", "el",
            "fo", "gra", "hi", "jun", "ly", "mo", "nu", "os", "pe",
        ];
        let vocab = (0..4096)
            .map(|_| {
                (0..rng.usize(2..=4))
                    .map(|_| syllables[rng.usize(..syllables.len())])
                    .collect()
            })
            .collect();
        Self {
            chips: pick(EntityKind::Chip, 40),
            companies: pick(EntityKind::Company, 30),
            agencies: pick(EntityKind::Agency, 12),
            countries: pick(EntityKind::Country, 8),
            fingerprint: p.fingerprint.clone(),
            vocab,
        }
    }
}

/// A synthetic development: what its reports share.
#[derive(Debug, Clone)]
struct Dev {
    event: EventType,
    start: i64,
    chips: Vec<usize>,
    companies: Vec<usize>,
    agency: usize,
    countries: Vec<usize>,
    /// Publication time of its latest report.
    last: i64,
}

/// One relevant article to store.
#[derive(Debug, Clone)]
struct Art {
    serial: usize,
    event: EventType,
    published: i64,
    chips: Vec<usize>,
    companies: Vec<usize>,
    agency: usize,
    countries: Vec<usize>,
    follow_up: Reference,
}

fn distinct(rng: &mut fastrand::Rng, n: usize, count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    while out.len() < count.min(n) {
        let i = rng.usize(..n);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn new_dev(rng: &mut fastrand::Rng, pools: &Pools, start: i64) -> Dev {
    let u = rng.f64();
    let event = [
        (0.25, EventType::Restriction),
        (0.12, EventType::Approval),
        (0.13, EventType::Enforcement),
        (0.12, EventType::Retaliation),
        (0.20, EventType::Market),
        (0.18, EventType::Analysis),
    ]
    .iter()
    .scan(0.0, |acc, (p, e)| {
        *acc += p;
        Some((*acc, *e))
    })
    .find(|(acc, _)| u < *acc)
    .map_or(EventType::Analysis, |(_, e)| e);
    let (n_chips, n_companies) = (rng.usize(1..=3), rng.usize(1..=2));
    let chips = distinct(rng, pools.chips.len(), n_chips);
    let companies = distinct(rng, pools.companies.len(), n_companies);
    let agency = rng.usize(..pools.agencies.len());
    // China in most, the United States in many, one other country at times.
    let mut countries = Vec::new();
    if rng.f64() < 0.85 {
        countries.push(0);
    }
    if rng.f64() < 0.6 {
        countries.push(1);
    }
    if countries.is_empty() || rng.f64() < 0.25 {
        countries.push(rng.usize(2..pools.countries.len()));
    }
    Dev {
        event,
        start,
        chips,
        companies,
        agency,
        countries,
        last: start,
    }
}

/// Most of a development's entities (at least one chip and one company),
/// sometimes a stray chip or company as well.
fn report(rng: &mut fastrand::Rng, pools: &Pools, dev: &Dev, serial: usize, published: i64) -> Art {
    let keep = |rng: &mut fastrand::Rng, all: &[usize]| {
        let mut out: Vec<usize> = all.iter().copied().filter(|_| rng.f64() < 0.8).collect();
        if out.is_empty() {
            out.push(all[0]);
        }
        out
    };
    let mut chips = keep(rng, &dev.chips);
    let mut companies = keep(rng, &dev.companies);
    let countries = keep(rng, &dev.countries);
    if rng.f64() < 0.15 {
        let c = rng.usize(..pools.chips.len());
        if !chips.contains(&c) {
            chips.push(c);
        }
    }
    if rng.f64() < 0.15 {
        let c = rng.usize(..pools.companies.len());
        if !companies.contains(&c) {
            companies.push(c);
        }
    }
    Art {
        serial,
        event: dev.event,
        published,
        chips,
        companies,
        agency: dev.agency,
        countries,
        follow_up: Reference::None,
    }
}

/// `n` stored articles: developments of 1–20 reports (mean 5) starting over
/// three years, reports within four days of the first. Returns the articles
/// and the developments (for the new batch).
fn history(pools: &Pools, n: usize, span: i64, seed: u64) -> (Vec<Art>, Vec<Dev>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut arts = Vec::with_capacity(n);
    let mut devs = Vec::new();
    while arts.len() < n {
        let start = END - rng.i64(1..span);
        let mut dev = new_dev(&mut rng, pools, start);
        let size = (1 + (19.0 * rng.f64().powf(3.75)) as usize).min(n - arts.len());
        for i in 0..size {
            let published = if i == 0 {
                dev.start
            } else {
                dev.start + rng.i64(0..4 * DAY)
            };
            let mut a = report(&mut rng, pools, &dev, arts.len(), published);
            if i > 0 {
                let u = rng.f64();
                a.follow_up = if u < 0.05 {
                    Reference::FollowUp
                } else if u < 0.08 {
                    Reference::RefersBack
                } else {
                    Reference::None
                };
            }
            dev.last = dev.last.max(published);
            arts.push(a);
        }
        devs.push(dev);
    }
    (arts, devs)
}

/// The new batch: 40 more reports of the latest developments, 10 follow-ups
/// of developments 2 to 8 weeks old, 50 new developments; all published in
/// the day after the history ends.
fn new_batch(pools: &Pools, devs: &[Dev], first_serial: usize) -> Vec<Art> {
    let mut rng = fastrand::Rng::with_seed(0xBA7C);
    let mut by_last: Vec<&Dev> = devs.iter().collect();
    by_last.sort_by_key(|d| std::cmp::Reverse(d.last));
    let latest: Vec<&Dev> = by_last
        .iter()
        .copied()
        .filter(|d| d.last >= END - 7 * DAY)
        .collect();
    let latest = if latest.is_empty() {
        vec![by_last[0]]
    } else {
        latest
    };
    let older: Vec<&Dev> = devs
        .iter()
        .filter(|d| d.last < END - 14 * DAY && d.last >= END - 56 * DAY && d.event.is_development())
        .collect();
    let mut out = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let serial = first_serial + i;
        let published = END + rng.i64(0..DAY);
        let a = match i {
            0..40 => report(&mut rng, pools, latest[i % latest.len()], serial, published),
            40..50 if !older.is_empty() => {
                let dev = older[rng.usize(..older.len())];
                let mut a = report(&mut rng, pools, dev, serial, published);
                a.follow_up = Reference::FollowUp;
                a
            }
            _ => {
                let dev = new_dev(&mut rng, pools, published);
                report(&mut rng, pools, &dev, serial, published)
            }
        };
        out.push(a);
    }
    out
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).expect("bench times are in range")
}

fn headline(event: EventType) -> &'static str {
    match event {
        EventType::Approval => "Washington approves exports of",
        EventType::Restriction => "New export controls hit",
        EventType::Enforcement => "Authorities charge smugglers of",
        EventType::Retaliation => "Beijing retaliates over curbs on",
        EventType::Market => "Prices and shipments of",
        EventType::Analysis => "What the rules mean for",
    }
}

/// The article as a feed item and the decision the crawl would store with it.
fn item_and_decision(pools: &Pools, a: &Art, rng: &mut fastrand::Rng) -> (ParsedItem, StoredDecision) {
    let names = |pool: &[Ent], idx: &[usize]| idx.iter().map(|&i| pool[i].name.clone()).collect::<Vec<_>>();
    let chips = names(&pools.chips, &a.chips);
    let companies = names(&pools.companies, &a.companies);
    let agencies = names(&pools.agencies, &[a.agency]);
    let countries = names(&pools.countries, &a.countries);
    let mut words = |n: usize| {
        (0..n)
            .map(|_| pools.vocab[rng.usize(..pools.vocab.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = format!(
        "{} {} ({}) {}",
        headline(a.event),
        chips.join(", "),
        companies.join(", "),
        words(3)
    );
    let summary = format!(
        "{} {} {} said {}. {} {}.",
        words(12),
        agencies.join(" "),
        countries.join(" and "),
        words(10),
        companies.join(" and "),
        words(8)
    );
    let keys: Vec<&str> = a
        .chips
        .iter()
        .map(|&i| pools.chips[i].key.as_str())
        .chain(a.companies.iter().map(|&i| pools.companies[i].key.as_str()))
        .chain([pools.agencies[a.agency].key.as_str()])
        .chain(a.countries.iter().map(|&i| pools.countries[i].key.as_str()))
        .collect();
    let outlet = a.serial % OUTLETS;
    let url = format!("https://outlet{outlet}.example/news/{}", a.serial);
    let item = ParsedItem {
        guid: Some(format!("urn:bench:{}", a.serial)),
        canonical_url: chipwatch::dedup::canonical_url(&url),
        url: Some(url),
        summary_html: format!("<p>{summary}</p>"),
        title,
        summary_text: summary,
        published: Some(at(a.published)),
        updated: None,
        lang: Some("en".into()),
    };
    let decision = StoredDecision {
        relevant: true,
        score: 4.0,
        event: Some(a.event.as_str().to_owned()),
        chips: serde_json::to_string(&chips).expect("strings serialise"),
        entities: serde_json::json!({
            "companies": companies, "agencies": agencies, "countries": countries,
            "topics": [], "keys": keys,
        })
        .to_string(),
        lang: Some("en".into()),
        evidence: "{}".into(),
        profile: pools.fingerprint.clone(),
        follow_up: a.follow_up,
    };
    (item, decision)
}

/// Feed documents for `arts`, one per outlet, decisions attached as the
/// crawl's parsers attach them.
fn writes(pools: &Pools, feeds: &[FeedId], arts: &[Art], seed: u64) -> Vec<Write> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut per_outlet: Vec<(Vec<ParsedItem>, Vec<StoredDecision>)> = vec![(Vec::new(), Vec::new()); OUTLETS];
    for a in arts {
        let (item, decision) = item_and_decision(pools, a, &mut rng);
        let slot = &mut per_outlet[a.serial % OUTLETS];
        slot.0.push(item);
        slot.1.push(decision);
    }
    per_outlet
        .into_iter()
        .enumerate()
        .filter(|(_, (items, _))| !items.is_empty())
        .map(|(o, (items, decisions))| {
            let mut doc = PreparedDoc::new(ParsedFeed {
                title: Some(format!("Outlet {o}")),
                items,
                ..ParsedFeed::default()
            });
            let mut decisions = decisions.into_iter();
            doc.classify_with(|items| decisions.by_ref().take(items.len()).collect());
            Write::Document {
                feed: feeds[o],
                meta: FetchMeta::default(),
                doc,
            }
        })
        .collect()
}

fn outlets() -> Vec<FeedConfig> {
    (0..OUTLETS)
        .map(|o| FeedConfig {
            url: format!("https://outlet{o}.example/feed.xml"),
            name: Some(format!("Outlet {o}")),
            lang: Some("en".into()),
            interval: None,
            enabled: true,
            tags: Vec::new(),
        })
        .collect()
}

/// Write `writes` in one transaction; every article must be new.
fn write_all(store: &mut Store, now: i64, writes: &[Write], expect_new: usize) {
    let results = store
        .write_batch(at(now), writes)
        .expect("the write batch commits");
    let new: usize = results
        .into_iter()
        .map(|r| r.expect("each feed document is stored").new)
        .sum();
    assert_eq!(new, expect_new, "every synthetic article is new, none a copy");
}

/// Place every stored article the way `crawl::assign_stories` does (same
/// order, same `story::place`, same store writes in one transaction), but
/// with the candidate stories kept in memory: `assign_stories` on the whole
/// history is quadratic in its length (see the README), and this gives the
/// same stories about ten times faster. `--check-fill` compares the two.
fn place_history(store: &mut Store) -> StoryCounts {
    store
        .in_transaction(|s| {
            let params = story::Params::default();
            let mut counts = StoryCounts::default();
            let mut stories: HashMap<i64, story::Candidate> = HashMap::new();
            // Story ids by feature, ascending, as the store's index lists them.
            let mut by_feature: HashMap<String, Vec<i64>> = HashMap::new();
            for a in s.pending_story_articles()? {
                let Some(event) = EventType::parse(&a.event) else {
                    continue;
                };
                let features = crawl::signature(&a.entities, &a.chips);
                let chips = features.iter().filter(|f| f.starts_with("chip:")).count();
                let back = if a.follow_up == Reference::FollowUp {
                    params.follow_up_days
                } else {
                    params.after_days
                };
                let (from, to) = (a.published - back * DAY, a.published + params.before_days * DAY);
                // Articles come in order of publication, so a story whose last
                // report is older than the longest look-back can never be a
                // candidate again: drop it from the lists.
                let dead = a.published - params.follow_up_days.max(params.after_days) * DAY;
                let mut ids: Vec<i64> = Vec::new();
                let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
                for f in &features {
                    if let Some(list) = by_feature.get_mut(f) {
                        list.retain(|id| stories[id].last_seen >= dead);
                        for id in list.iter() {
                            let c = &stories[id];
                            if c.last_seen >= from && c.first_seen <= to && seen.insert(*id) {
                                ids.push(*id);
                            }
                        }
                    }
                }
                // Lent to `place` and put back, not cloned.
                let candidates: Vec<story::Candidate> = ids
                    .iter()
                    .map(|id| stories.remove(id).expect("a listed story is known"))
                    .collect();
                let article = story::Article {
                    published: a.published,
                    event,
                    features: &features,
                    follow_up: a.follow_up,
                };
                let placement = story::place(&article, &candidates, &params);
                stories.extend(candidates.into_iter().map(|c| (c.id, c)));
                counts.placed += 1;
                match placement {
                    story::Placement::Join { story: id, score } => {
                        s.join_story(id, &a, &features, score)?;
                        let c = stories.get_mut(&id).expect("a candidate is a known story");
                        c.first_seen = c.first_seen.min(a.published);
                        c.last_seen = c.last_seen.max(a.published);
                        c.size += 1;
                        for f in &features {
                            *c.features.entry(f.clone()).or_default() += 1;
                            let list = by_feature.entry(f.clone()).or_default();
                            if let Err(at) = list.binary_search(&id) {
                                list.insert(at, id);
                            }
                        }
                    }
                    story::Placement::New => {
                        let id = s.create_story(&a, &features)?;
                        counts.new_stories += 1;
                        if event.is_development() {
                            let reason = format!("first report of a new {event} development");
                            let severity = story::severity(event, chips);
                            if s.raise_alert(Utc::now(), id, a.id, event.as_str(), severity, &reason)? {
                                counts.alerts += 1;
                            }
                        }
                        for f in &features {
                            by_feature.entry(f.clone()).or_default().push(id);
                        }
                        stories.insert(
                            id,
                            story::Candidate {
                                id,
                                event,
                                first_seen: a.published,
                                last_seen: a.published,
                                size: 1,
                                features: features.iter().map(|f| (f.clone(), 1)).collect(),
                            },
                        );
                    }
                }
            }
            Ok(counts)
        })
        .expect("the history is placed")
}

/// A database with `n` relevant articles placed in stories, closed.
struct History {
    path: PathBuf,
    developments: usize,
    stories: usize,
    bytes: u64,
    write_time: Duration,
    place_time: Duration,
    batch: Vec<Write>,
}

/// Store `arts` as the crawl's writer would, in transactions of `FILL_TX`.
fn fill(path: &Path, pools: &Pools, arts: &[Art]) -> (Store, Vec<FeedId>) {
    let mut store = Store::open(path).expect("the bench database opens");
    let feeds: Vec<FeedId> = store
        .sync_feeds(&outlets())
        .expect("the outlets are stored")
        .iter()
        .map(|f| f.id)
        .collect();
    for (i, chunk) in arts.chunks(FILL_TX).enumerate() {
        let w = writes(pools, &feeds, chunk, i as u64);
        write_all(&mut store, END, &w, chunk.len());
    }
    (store, feeds)
}

/// Each stored article's story, by article.
fn memberships(store: &Store) -> Vec<(i64, Option<i64>)> {
    let rows = store.export(None).expect("the articles export");
    rows.iter().map(|r| (r.id.0, r.story)).collect()
}

fn build(
    dir: &Path,
    pools: &Pools,
    n: usize,
    span: i64,
    check: bool,
    rt: &tokio::runtime::Runtime,
) -> History {
    let path = dir.join(format!("history-{n}.db"));
    let (arts, devs) = history(pools, n, span, 42);
    let t = Instant::now();
    let (mut store, feeds) = fill(&path, pools, &arts);
    let write_time = t.elapsed();
    let t = Instant::now();
    let counts = place_history(&mut store);
    let place_time = t.elapsed();
    assert_eq!(counts.placed, n, "every stored article is placed");
    if check {
        // The same history placed by `assign_stories` itself.
        let other = dir.join(format!("check-{n}.db"));
        let (store2, _) = fill(&other, pools, &arts);
        let db = Db::new(store2);
        let t = Instant::now();
        let c = rt
            .block_on(crawl::assign_stories(&db))
            .expect("the story pass succeeds");
        eprintln!(
            "N = {n}: assign_stories over the whole history: {} stories in {:.1} s",
            c.new_stories,
            t.elapsed().as_secs_f64()
        );
        let theirs = rt.block_on(db.call(|s| memberships(s)));
        assert_eq!(
            memberships(&store),
            theirs,
            "the fill places every article in the story assign_stories does"
        );
        assert_eq!((c.new_stories, c.alerts), (counts.new_stories, counts.alerts));
        eprintln!("N = {n}: the fill's stories and alerts are the same as assign_stories's");
    }
    drop(store); // closes the database: the WAL is checkpointed into the file
    let batch_arts = new_batch(pools, &devs, n);
    History {
        bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
        path,
        developments: devs.len(),
        stories: counts.new_stories,
        write_time,
        place_time,
        batch: writes(pools, &feeds, &batch_arts, 0xBA7C),
    }
}

/// A fresh copy of the history with the new batch written, not yet placed.
fn fresh_copy(h: &History, work: &Path) -> Store {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", work.display()));
    }
    std::fs::copy(&h.path, work).expect("the history database copies");
    let wal = PathBuf::from(format!("{}-wal", h.path.display()));
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", work.display())).expect("the WAL copies");
    }
    let mut store = Store::open(work).expect("the copy opens");
    write_all(&mut store, END + DAY, &h.batch, BATCH);
    store
}

/// One timed story pass over the new batch.
fn run_once(h: &History, work: &Path, rt: &tokio::runtime::Runtime) -> (Duration, StoryCounts) {
    let db = Db::new(fresh_copy(h, work));
    let t = Instant::now();
    let counts = rt
        .block_on(crawl::assign_stories(&db))
        .expect("the story pass succeeds");
    let elapsed = t.elapsed();
    assert_eq!(counts.placed, BATCH, "the pass places exactly the new batch");
    (elapsed, counts)
}

/// The two lookups of a story pass, timed apart on their own copy.
struct Probe {
    pending: Duration,
    lookups: Duration,
    candidates: usize,
    max_candidates: usize,
}

fn probe(h: &History, work: &Path) -> Probe {
    let store = fresh_copy(h, work);
    let params = story::Params::default();
    let t = Instant::now();
    let pending = store
        .pending_story_articles()
        .expect("pending articles are listed");
    let pending_time = t.elapsed();
    assert_eq!(pending.len(), BATCH);
    let (mut lookups, mut candidates, mut max_candidates) = (Duration::ZERO, 0, 0);
    for a in &pending {
        let features = crawl::signature(&a.entities, &a.chips);
        let back = if a.follow_up == Reference::FollowUp {
            params.follow_up_days
        } else {
            params.after_days
        };
        let t = Instant::now();
        let c = store
            .story_candidates(
                &features,
                a.published - back * DAY,
                a.published + params.before_days * DAY,
            )
            .expect("candidates are found");
        lookups += t.elapsed();
        candidates += c.len();
        max_candidates = max_candidates.max(c.len());
    }
    Probe {
        pending: pending_time,
        lookups,
        candidates,
        max_candidates,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us_per_article(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / BATCH as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not: then
    // only check that the smallest case works.
    let bench = args.iter().any(|a| a == "--bench");
    let keep = args.iter().any(|a| a == "--keep");
    let check = args.iter().any(|a| a == "--check-fill");
    let same_rate = args.iter().any(|a| a == "--same-rate");
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map_or(if bench { 11 } else { 1 }, |r| {
            r.parse().expect("--runs takes a number")
        });
    let mut sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || args[i - 1] != "--runs")
        .filter_map(|(_, a)| a.replace(['_', ','], "").parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = if bench {
            vec![1_000, 10_000, 100_000]
        } else {
            vec![1_000]
        };
    }

    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("chipwatch-stories-bench")
        .tempdir()
        .expect("a temporary folder");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let pools = Pools::new();

    let mut rows = Vec::new();
    for &n in &sizes {
        // Three years of history whatever N, or (--same-rate) as many days
        // as 100,000 articles over three years take at the same rate.
        let span_days = if same_rate {
            (SPAN_DAYS * n as i64 / 100_000).max(7)
        } else {
            SPAN_DAYS
        };
        eprintln!("N = {n}: building {span_days} days of history...");
        let h = build(dir.path(), &pools, n, span_days * DAY, check, &rt);
        eprintln!(
            "N = {n}: {} stories, {:.0} MB; written in {:.1} s, placed in {:.1} s; timing {runs} run(s)...",
            h.stories,
            h.bytes as f64 / 1e6,
            h.write_time.as_secs_f64(),
            h.place_time.as_secs_f64()
        );
        let work = dir.path().join(format!("run-{n}.db"));
        let mut times = Vec::with_capacity(runs);
        let mut counts = StoryCounts::default();
        for _ in 0..runs {
            let (t, c) = run_once(&h, &work, &rt);
            times.push(t);
            counts = c;
        }
        let p = probe(&h, &work);
        let (min, max) = (
            *times.iter().min().expect("at least one run"),
            *times.iter().max().expect("at least one run"),
        );
        rows.push(format!(
            "| {n} | {span_days} | {} | {} | {:.0} | {:.1} + {:.1} | **{:.0}** ({:.0}–{:.0}) | {} / {} | {:.1} | {:.0} ({}) | {:.0} |",
            h.developments,
            h.stories,
            h.bytes as f64 / 1e6,
            h.write_time.as_secs_f64(),
            h.place_time.as_secs_f64(),
            us_per_article(median(times.clone())),
            us_per_article(min),
            us_per_article(max),
            counts.placed - counts.new_stories,
            counts.new_stories,
            p.pending.as_secs_f64() * 1e3,
            p.candidates as f64 / BATCH as f64,
            p.max_candidates,
            us_per_article(p.lookups),
        ));
    }

    println!();
    println!(
        "| stored articles | days of history | developments generated | stories formed | DB MB | fill s (write + place) | µs per new article, median of {runs} (min–max) | joined / new stories | pending query ms | candidates per article, mean (max) | candidate lookup µs per article |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    if keep {
        let kept = dir.keep();
        println!("databases kept in {}", kept.display());
    }
}
