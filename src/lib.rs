//! chipwatch: a news-monitoring crawler for chip-export developments.
//!
//! Code map, in reading order (see README.md, "Architecture"):
//! - [`cli`]: raw command-line arguments; [`config`]: the validated config.
//! - [`model`]: plain data shared by the modules.
//! - [`fetch`]: HTTP and local files (the only module that knows reqwest).
//! - [`parse`]: feed bytes → items; charset, repair, HTML text (pure).
//! - [`dedup`]: canonical URLs and content fingerprints (pure).
//! - [`store`]: SQLite (the only module that knows rusqlite).
//! - [`crawl`]: one pass over the feeds, outcomes as data.
//! - [`schedule`]: when to poll a feed next, and why (pure).
//! - [`daemon`]: the polling loop, signals, reload, one daemon per database.
//! - [`feeds`], [`opml`]: subscription management.
//! - [`output`]: everything printed on stdout.

pub mod cli;
pub mod config;
pub mod model;

pub mod fetch;
pub mod parse;

pub mod classify;
pub mod dedup;
pub mod store;
pub mod story;

pub mod schedule;

pub mod crawl;
pub mod daemon;

pub mod feeds;
pub mod opml;

pub mod output;
pub mod telemetry;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::cli::{Cli, Command, ExportFormat, FeedsCmd, TableFormat};
use crate::config::{Config, ConfigError, Locations};
use crate::store::Db;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// A runtime failure (exit 1).
    Failure,
    /// Usage or config error (exit 2).
    Usage,
    /// A crawl in which every feed failed (exit 3).
    AllFeedsFailed,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::AllFeedsFailed => 3,
        })
    }
}

/// A problem with what the user asked for (exit 2), as opposed to a runtime failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error that ended the run.
pub fn exit_code_for(err: &anyhow::Error) -> Exit {
    if err
        .chain()
        .any(|e| e.is::<ConfigError>() || e.is::<UsageError>() || e.is::<crawl::ProfileUnusable>())
    {
        Exit::Usage
    } else {
        Exit::Failure
    }
}

/// Run one CLI command.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let loc = Locations::from_env();
    let path = loc.resolve(cli.config.as_deref());
    let cfg = config::load(path.as_deref(), &loc)?;
    tracing::debug!(config = %cfg.source, database = %cfg.database.display(), "configuration loaded");
    match cli.command {
        Command::Daemon => daemon::run(cfg, path, loc).await,
        Command::Reload => {
            let pid = daemon::send_reload(&cfg.database)?;
            output::line(&format!(
                "asked the daemon (pid {pid}) to reload its configuration"
            ));
            Ok(Exit::Ok)
        }
        Command::Status { format } => {
            let status = daemon::status(&cfg).await?;
            output::status(&status, format == TableFormat::Json)?;
            Ok(Exit::Ok)
        }
        Command::Crawl(args) => cmd_crawl(&cfg, &args).await,
        Command::Feeds(cmd) => cmd_feeds(&cfg, path, &loc, cmd).await,
        Command::Export(args) => cmd_export(&cfg, &args).await,
        Command::Classify(args) => cmd_classify(&cfg, &args),
        Command::Explain { article } => cmd_explain(&cfg, &article).await,
        Command::Reclassify { dry_run } => cmd_reclassify(&cfg, dry_run).await,
        Command::Alerts(args) => cmd_alerts(&cfg, args).await,
        Command::Search { query, limit, format } => {
            let db = open_db(&cfg).await?;
            let hits = db
                .call(move |s| s.search_articles(&query, limit))
                .await
                .map_err(|e| match e {
                    store::StoreError::BadSearch { .. } => anyhow::Error::new(UsageError(e.to_string())),
                    e => anyhow::Error::new(e),
                })?;
            output::search(&hits, format)?;
            Ok(Exit::Ok)
        }
        Command::Stories { since, format } => {
            let since = since.as_deref().map(parse_date).transpose()?;
            let db = open_db(&cfg).await?;
            let rows = db.call(move |s| s.stories(since)).await?;
            output::stories(&rows, format)?;
            Ok(Exit::Ok)
        }
    }
}

async fn open_db(cfg: &Config) -> anyhow::Result<Db> {
    Db::open(cfg.database.clone())
        .await
        .with_context(|| format!("cannot use the database at {}", cfg.database.display()))
}

async fn cmd_crawl(cfg: &Config, args: &cli::CrawlArgs) -> anyhow::Result<Exit> {
    if cfg.feeds.iter().all(|f| !f.enabled) {
        return Err(UsageError(format!(
            "{} lists no enabled feeds; add [[feeds]] tables or run `chipwatch feeds add URL`",
            cfg.source
        ))
        .into());
    }
    // The URLs of the enabled feeds to crawl (a set: 500 rows matched
    // against 500 feeds one by one cost a millisecond).
    let selected: std::collections::HashSet<&str> = if args.feeds.is_empty() {
        cfg.feeds
            .iter()
            .filter(|f| f.enabled)
            .map(|f| f.url.as_str())
            .collect()
    } else {
        let mut out = std::collections::HashSet::new();
        for want in &args.feeds {
            let hits: Vec<_> = cfg
                .feeds
                .iter()
                .filter(|f| f.url == *want || f.name.as_deref() == Some(want.as_str()))
                .collect();
            if hits.is_empty() {
                return Err(UsageError(format!("no configured feed is named or at `{want}`")).into());
            }
            out.extend(hits.into_iter().filter(|f| f.enabled).map(|f| f.url.as_str()));
        }
        out
    };
    let db = open_db(cfg).await?;
    let all = cfg.feeds.clone();
    let rows = db.call(move |s| s.sync_feeds(&all)).await?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| selected.contains(r.url.as_str()))
        .collect();
    let fetcher = fetch::Fetcher::new(&cfg.http)?;
    let profile = crawl_profile(cfg, &db).await?;

    let tty = std::io::stderr().is_terminal() && !args.no_progress;
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(rows.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} feeds  {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar
    });
    let reports = crawl::crawl(
        &db,
        &fetcher,
        &profile,
        rows,
        cfg.http.concurrency,
        |r| match &bar {
            Some(bar) => {
                bar.set_message(output::progress_line(r));
                bar.inc(1);
            }
            None => tracing::debug!(feed = %r.label(), "{}", output::progress_line(r)),
        },
    )
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = profile.error() {
        return Err(e.clone().into());
    }
    // Articles the crawl classified as it stored them are done; this picks
    // up anything left without a decision (an interrupted earlier run).
    let backlog = crawl::classify_pending(&db, profile).await?;
    let mut classified = backlog;
    for r in &reports {
        if let crawl::FeedOutcome::Updated { counts, .. } = &r.outcome {
            classified.classified += counts.new + counts.updated;
            classified.relevant += counts.relevant;
        }
    }
    let stories = crawl::assign_stories(&db).await?;
    let total = db.call(|s| s.article_count()).await?;
    output::crawl_summary(&reports, total, classified, stories);
    Ok(if reports.iter().any(|r| r.outcome.is_success()) {
        Exit::Ok
    } else {
        Exit::AllFeedsFailed
    })
}

async fn cmd_feeds(
    cfg: &Config,
    path: Option<PathBuf>,
    loc: &Locations,
    cmd: FeedsCmd,
) -> anyhow::Result<Exit> {
    match cmd {
        FeedsCmd::List { format } => {
            let db = open_db(cfg).await?;
            let all = cfg.feeds.clone();
            let (rows, silent) = db
                .call(move |s| -> Result<_, store::StoreError> {
                    s.sync_feeds(&all)?;
                    let rows = s.feeds()?;
                    let now = Utc::now();
                    let mut silent = Vec::with_capacity(rows.len());
                    for r in &rows {
                        silent.push(r.active && schedule::is_silent(&s.published_times(r.id)?, now));
                    }
                    Ok((rows, silent))
                })
                .await?;
            output::feeds_list(&rows, &silent, format == TableFormat::Json)?;
        }
        FeedsCmd::Add { url, name, lang } => {
            let (file, created) = feeds::editable_path(path.as_deref(), loc)?;
            if created {
                output::line(&format!("created {} from the shipped default", file.display()));
            }
            let (added, skipped) = feeds::add(&file, &[feeds::NewFeed { url, name, lang }])?;
            for u in added {
                output::line(&format!("added {u} to {}", file.display()));
            }
            for u in skipped {
                output::line(&format!("{u} is already in {}", file.display()));
            }
        }
        FeedsCmd::Remove { feed } => {
            let Some(file) = path else {
                bail!(UsageError(
                    "no config file is in use (the shipped default is built in); copy it with `chipwatch feeds add` or pass --config".into()
                ));
            };
            let url = feeds::remove(&file, &feed)?;
            output::line(&format!(
                "removed {url} from {} (its articles stay stored)",
                file.display()
            ));
        }
        FeedsCmd::Import { file: opml_path } => {
            let text = std::fs::read_to_string(&opml_path)
                .with_context(|| format!("cannot read {}", opml_path.display()))?;
            let outlines =
                opml::parse(&text).map_err(|e| UsageError(format!("{}: {e}", opml_path.display())))?;
            let (file, created) = feeds::editable_path(path.as_deref(), loc)?;
            if created {
                output::line(&format!("created {} from the shipped default", file.display()));
            }
            let new: Vec<_> = outlines
                .into_iter()
                .map(|o| feeds::NewFeed {
                    url: o.url,
                    name: o.title,
                    lang: o.lang.as_deref().and_then(parse::normalise_lang),
                })
                .collect();
            let (added, skipped) = feeds::add(&file, &new)?;
            output::line(&format!(
                "imported {} feeds into {} ({} already there)",
                added.len(),
                file.display(),
                skipped.len()
            ));
        }
        FeedsCmd::Export => {
            let outlines: Vec<_> = cfg
                .feeds
                .iter()
                .map(|f| opml::Outline {
                    url: f.url.clone(),
                    title: f.name.clone(),
                    lang: f.lang.clone(),
                })
                .collect();
            output::line(opml::write("chipwatch feeds", &outlines).trim_end());
        }
    }
    Ok(Exit::Ok)
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
fn parse_date(s: &str) -> Result<DateTime<Utc>, UsageError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| UsageError(format!("`{s}` is not a date (use YYYY-MM-DD or RFC 3339)")))
}

async fn cmd_export(cfg: &Config, args: &cli::ExportArgs) -> anyhow::Result<Exit> {
    let since = args.since.as_deref().map(parse_date).transpose()?;
    let db = open_db(cfg).await?;
    let rows = db.call(move |s| s.export(since)).await?;
    match args.format {
        ExportFormat::Jsonl => output::export_jsonl(&rows)?,
        ExportFormat::Csv => output::export_csv(&rows)?,
    }
    Ok(Exit::Ok)
}

/// The topic profile: `--profile`, else the config's `[topic] profile`, else
/// the built-in one.
pub fn load_profile(cfg: &Config, flag: Option<&std::path::Path>) -> anyhow::Result<classify::Profile> {
    let (text, source) = profile_text(cfg, flag)?;
    let profile = classify::Profile::parse(&text, &source).map_err(|e| UsageError(format!("{e:#}")))?;
    tracing::debug!(
        profile = %profile.source,
        terms = profile.terms.len(),
        "topic profile loaded"
    );
    Ok(profile)
}

/// The text of the topic profile [`load_profile`] would parse, and the
/// name it goes by in errors.
fn profile_text(
    cfg: &Config,
    flag: Option<&std::path::Path>,
) -> anyhow::Result<(std::borrow::Cow<'static, str>, String)> {
    let path = flag
        .map(std::path::Path::to_path_buf)
        .or_else(|| cfg.topic_profile.clone());
    match path {
        Some(p) if p.is_file() || flag.is_some() || cfg.source != config::DEFAULT_CONFIG_NAME => {
            let source = p.display().to_string();
            match std::fs::read_to_string(&p) {
                Ok(text) => Ok((text.into(), source)),
                Err(e) => {
                    let e = classify::ProfileError::Read {
                        path: source,
                        source: e,
                    };
                    Err(UsageError(format!("{e:#}")).into())
                }
            }
        }
        // The built-in config run outside a checkout: use the built-in profile.
        _ => Ok((
            classify::profile::BUILTIN_PROFILE.into(),
            classify::profile::BUILTIN_PROFILE_NAME.to_owned(),
        )),
    }
}

/// The topic profile of a crawl. A profile no stored decision was made
/// with (new or edited) is parsed now, so that an error in it stops the
/// crawl before anything is fetched; one the latest decision was made with
/// is known to parse, and is parsed only when an article needs a decision.
async fn crawl_profile(cfg: &Config, db: &Db) -> anyhow::Result<std::sync::Arc<crawl::LazyProfile>> {
    let (text, source) = profile_text(cfg, None)?;
    let profile = crawl::LazyProfile::new(text, source);
    let fingerprint = profile.fingerprint();
    let latest = db.call(|s| s.latest_decision_profile()).await?;
    if latest.as_deref() != Some(fingerprint.as_str()) {
        profile.get()?;
    }
    Ok(std::sync::Arc::new(profile))
}

fn cmd_classify(cfg: &Config, args: &cli::ClassifyArgs) -> anyhow::Result<Exit> {
    use std::io::BufRead;
    let profile = load_profile(cfg, args.profile.as_deref())?;
    let stdin = std::io::stdin();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let (title, summary, lang) = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) if v.is_object() => {
                let get = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
                let summary = parse::html::to_text(&get("summary"));
                let lang = Some(get("lang")).filter(|l| !l.is_empty());
                (get("title"), summary, lang)
            }
            _ => (line.clone(), String::new(), None),
        };
        let d = classify::classify(
            &profile,
            &classify::Input {
                title: &title,
                summary: &summary,
                lang: lang.as_deref(),
            },
        );
        output::decision_line(n + 1, &title, &d, args.explain.then_some(&profile))?;
    }
    Ok(Exit::Ok)
}

async fn cmd_explain(cfg: &Config, key: &str) -> anyhow::Result<Exit> {
    let profile = load_profile(cfg, None)?;
    let db = open_db(cfg).await?;
    let k = key.to_owned();
    let (text, stored) = db
        .call(move |s| -> Result<_, store::StoreError> {
            let Some(t) = s.find_article(&k)? else {
                return Ok((None, None));
            };
            let d = s.decision(t.id)?;
            Ok((Some(t), d))
        })
        .await?;
    let Some(text) = text else {
        return Err(UsageError(format!("no stored article has the id or URL `{key}`")).into());
    };
    let live = classify::classify(
        &profile,
        &classify::Input {
            title: &text.title,
            summary: &text.summary,
            lang: text.lang.as_deref(),
        },
    );
    output::explain(&text, &live, &profile, stored.as_ref());
    Ok(Exit::Ok)
}

async fn cmd_reclassify(cfg: &Config, dry_run: bool) -> anyhow::Result<Exit> {
    let profile = std::sync::Arc::new(load_profile(cfg, None)?);
    let db = open_db(cfg).await?;
    let changes = db
        .call(move |s| -> Result<_, store::StoreError> {
            let texts = s.all_article_texts()?;
            let mut changes = Vec::new();
            let mut decisions = Vec::with_capacity(texts.len());
            // In classifier batches of a feed's size, as the crawl does.
            let fresh = texts.chunks(64).flat_map(|chunk| {
                let inputs: Vec<classify::Input<'_>> = chunk.iter().map(crawl::input_of).collect();
                crawl::decide_batch(&profile, &inputs)
            });
            for (t, new) in texts.iter().zip(fresh) {
                let old = s.decision(t.id)?;
                let change = match &old {
                    None if new.relevant => Some(output::Change::NewlyRelevant),
                    Some(o) if !o.relevant && new.relevant => Some(output::Change::NewlyRelevant),
                    Some(o) if o.relevant && !new.relevant => Some(output::Change::NoLongerRelevant),
                    Some(o) if o.relevant && o.event != new.event => {
                        Some(output::Change::EventChanged(o.event.clone(), new.event.clone()))
                    }
                    _ => None,
                };
                if let Some(c) = change {
                    changes.push((t.id, t.title.clone(), c));
                }
                if old.as_ref() != Some(&new) {
                    decisions.push((t.id, new));
                }
            }
            if !dry_run {
                s.save_decisions(chrono::Utc::now(), &decisions)?;
            }
            Ok((texts.len(), decisions.len(), changes))
        })
        .await?;
    output::reclassify_report(changes.0, changes.1, &changes.2, dry_run);
    if !dry_run && changes.1 > 0 {
        // Decisions changed: rebuild the stories in order of publication.
        // An alert is keyed by the report that raised it, so a development
        // that still opens a story keeps its alert and none is raised twice.
        db.call(|s| s.reset_stories()).await?;
        let stories = crawl::assign_stories(&db).await?;
        let withdrawn = db.call(|s| s.withdraw_orphan_alerts()).await?;
        output::line(&format!(
            "stories rebuilt: {} stories, {} new alerts, {} alerts withdrawn",
            stories.new_stories, stories.alerts, withdrawn
        ));
    }
    Ok(Exit::Ok)
}

async fn cmd_alerts(cfg: &Config, args: cli::AlertsArgs) -> anyhow::Result<Exit> {
    let db = open_db(cfg).await?;
    match args.action {
        None => {
            let since = args.since.as_deref().map(parse_date).transpose()?;
            if let Some(e) = &args.event
                && model::EventType::parse(e).is_none()
            {
                return Err(UsageError(format!(
                    "unknown event `{e}` (one of {})",
                    model::EventType::NAMES.join(", ")
                ))
                .into());
            }
            let (all, event) = (args.all, args.event.clone());
            let rows = db.call(move |s| s.alerts(all, since, event.as_deref())).await?;
            output::alerts(&rows, args.format, args.all)?;
        }
        Some(cli::AlertsCmd::Show { id }) => {
            let found = db
                .call(move |s| -> Result<_, store::StoreError> {
                    let Some(alert) = s.alert(id)? else {
                        return Ok(None);
                    };
                    let articles = match &alert.story {
                        Some(st) => s.story_articles(st.id)?,
                        None => Vec::new(),
                    };
                    Ok(Some((alert, articles)))
                })
                .await?;
            let Some((alert, articles)) = found else {
                return Err(UsageError(format!("there is no alert {id}")).into());
            };
            output::alert_detail(&alert, &articles);
        }
        Some(cli::AlertsCmd::Ack { ids, all }) => {
            let n = ack(&db, (!all).then_some(ids), true).await?;
            output::line(&format!("{n} alerts acknowledged"));
        }
        Some(cli::AlertsCmd::Unack { ids }) => {
            let n = ack(&db, Some(ids), false).await?;
            output::line(&format!("{n} alerts marked new"));
        }
    }
    Ok(Exit::Ok)
}

async fn ack(db: &store::Db, ids: Option<Vec<i64>>, on: bool) -> anyhow::Result<usize> {
    let (n, unknown) = db
        .call(move |s| -> Result<_, store::StoreError> {
            let unknown = match &ids {
                Some(ids) => s.unknown_alerts(ids)?,
                None => Vec::new(),
            };
            if !unknown.is_empty() {
                return Ok((0, unknown));
            }
            Ok((
                s.set_acknowledged(chrono::Utc::now(), ids.as_deref(), on)?,
                unknown,
            ))
        })
        .await?;
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(i64::to_string).collect();
        return Err(UsageError(format!("no alert with id {}; nothing changed", list.join(", "))).into());
    }
    Ok(n)
}
