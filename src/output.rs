//! Everything the CLI prints on stdout: crawl summaries, feed lists,
//! exports. The only module allowed to print.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::crawl::{FeedOutcome, FeedReport, error_chain};
use crate::store::{ExportRow, FeedRow};

/// `println!` that takes a closed stdout (`chipwatch feeds list | head`) as
/// the reader having seen enough: the rest is dropped, nothing panics.
/// (Streaming commands such as `export` write through `io::Write` and stop
/// on the error instead.)
macro_rules! println {
    () => {{
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    t.set_header(header.iter().copied());
    t
}

/// Print a table as [`table`] draws it. When every cell is printable ASCII
/// it is drawn here, byte for byte as comfy-table would (which, built
/// without its `tty` feature, never fits a table to a terminal):
/// comfy-table took about 2.5 ms for a 500-feed crawl summary, a twentieth
/// of an unchanged recrawl.
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let plain = |c: &str| c.bytes().all(|b| (b' '..=b'~').contains(&b));
    if header.iter().all(|c| plain(c)) && rows.iter().flatten().all(|c| plain(c)) {
        let _ = std::io::stdout()
            .lock()
            .write_all(plain_table(header, &rows).as_bytes());
    } else {
        let mut t = table(header);
        t.add_rows(rows);
        println!("{t}");
    }
}

/// A table of one-line printable-ASCII cells in comfy-table's
/// `UTF8_FULL_CONDENSED` style, ending with a newline.
fn plain_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let rule = |out: &mut String, left: char, line: char, cross: char, right: char| {
        out.push(left);
        for (i, w) in widths.iter().enumerate() {
            if i > 0 {
                out.push(cross);
            }
            out.extend(std::iter::repeat_n(line, w + 2));
        }
        out.push(right);
        out.push('\n');
    };
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        out.push('│');
        for (i, w) in widths.iter().enumerate() {
            if i > 0 {
                out.push('┆');
            }
            let c = cells.next().unwrap_or("");
            out.push(' ');
            out.push_str(c);
            out.extend(std::iter::repeat_n(' ', w - c.len() + 1));
        }
        out.push_str("│\n");
    };
    // Box characters take three bytes each; this bounds a line's length.
    let line_bytes = (widths.iter().sum::<usize>() + 3 * widths.len() + 1) * 3 + 1;
    let mut out = String::with_capacity(line_bytes * (rows.len() + 4));
    rule(&mut out, '┌', '─', '┬', '┐');
    line(&mut out, &mut header.iter().copied());
    rule(&mut out, '╞', '═', '╪', '╡');
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    rule(&mut out, '└', '─', '┴', '┘');
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// One line per feed as it finishes (when stdout is not a terminal).
pub fn progress_line(r: &FeedReport) -> String {
    format!("{:<14} {}", status_text(&r.outcome), r.label())
}

fn status_text(o: &FeedOutcome) -> String {
    match o {
        FeedOutcome::NotModified => "not modified".into(),
        FeedOutcome::Updated { .. } => "ok".into(),
        FeedOutcome::Failed(_) => "failed".into(),
    }
}

/// The summary table printed after a crawl.
pub fn crawl_summary(
    reports: &[FeedReport],
    total_articles: u64,
    classified: crate::crawl::ClassifyCounts,
    stories: crate::crawl::StoryCounts,
) {
    let header = [
        "feed",
        "status",
        "items",
        "new",
        "updated",
        "also in other feeds",
        "time",
    ];
    let mut rows = Vec::with_capacity(reports.len());
    let (mut ok, mut nm, mut failed, mut new, mut updated) = (0, 0, 0, 0, 0);
    for r in reports {
        let (status, items, n, u, l) = match &r.outcome {
            FeedOutcome::NotModified => {
                nm += 1;
                (
                    "not modified".to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                )
            }
            FeedOutcome::Updated {
                counts,
                items,
                discovered,
            } => {
                ok += 1;
                new += counts.new;
                updated += counts.updated;
                let status = match discovered {
                    Some(d) => format!("ok (feed found at {d})"),
                    None => "ok".to_owned(),
                };
                (
                    status,
                    items.to_string(),
                    counts.new.to_string(),
                    counts.updated.to_string(),
                    counts.linked.to_string(),
                )
            }
            FeedOutcome::Failed(e) => {
                failed += 1;
                (
                    format!("failed: {}", error_chain(e)),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                )
            }
        };
        rows.push(vec![
            truncate(r.label(), 40),
            status,
            items,
            n,
            u,
            l,
            format!("{:.1}s", r.elapsed.as_secs_f64()),
        ]);
    }
    print_table(&header, rows);
    println!(
        "{} feeds: {ok} ok, {nm} not modified, {failed} failed; {new} new articles, {updated} updated; {total_articles} articles stored",
        reports.len()
    );
    if classified.classified > 0 {
        println!(
            "classified {} articles: {} relevant",
            classified.classified, classified.relevant
        );
    }
    if stories.placed > 0 {
        println!(
            "{} relevant articles placed: {} new stories, {} new alerts (see `chipwatch alerts`)",
            stories.placed, stories.new_stories, stories.alerts
        );
    }
    let unreachable = reports.iter().all(|r| {
        matches!(
            &r.outcome,
            FeedOutcome::Failed(crate::crawl::FeedError::Fetch(
                crate::fetch::FetchError::Connect { .. } | crate::fetch::FetchError::Timeout { .. }
            ))
        )
    });
    if !reports.is_empty() && unreachable {
        println!(
            "No feed could be reached: is this machine online? `chipwatch --config config/demo.toml crawl` runs on local demo feeds."
        );
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "never".into())
}

/// A duration in at most two units, rounded to the smaller one: `1d 1h`,
/// `22h 22m`, `5m`, `45s` (for tables; JSON keeps exact seconds).
fn short_duration(d: Duration) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    if d > Duration::ZERO && d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis().max(1));
    }
    let secs = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    // Round to the unit below the largest one that fits; a carry only
    // ever lands on a whole larger unit (59m 59.6s → 1h).
    let step = UNITS
        .iter()
        .position(|(u, _)| secs >= *u)
        .map_or(1, |i| UNITS[(i + 1).min(UNITS.len() - 1)].0);
    let secs = (secs + step / 2) / step * step;
    let Some(i) = UNITS.iter().position(|(u, _)| secs >= *u) else {
        return "0s".to_owned();
    };
    let (big, big_name) = UNITS[i];
    let mut out = format!("{}{big_name}", secs / big);
    if let Some(&(small, small_name)) = UNITS.get(i + 1) {
        let n = secs % big / small;
        if n > 0 {
            out.push_str(&format!(" {n}{small_name}"));
        }
    }
    out
}

/// The text form of the last cycle, e.g. `2026-11-28 21:43 UTC, 6 polled
/// (6 not modified, 0 failed), 0 new articles, 0 alerts, 1 ms`.
fn cycle_text(t: DateTime<Utc>, s: &crate::daemon::CycleSummary) -> String {
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} UTC, {} polled ({} not modified, {} failed), {}, {}, {}",
        when(Some(t)),
        s.polled,
        s.not_modified,
        s.failed,
        plural(s.new_articles, "new article", "new articles"),
        plural(s.alerts, "alert", "alerts"),
        if s.elapsed_ms < 10_000 {
            format!("{} ms", s.elapsed_ms)
        } else {
            short_duration(Duration::from_millis(s.elapsed_ms))
        },
    )
}

/// `silent[i]`: feed `i` normally publishes about daily and has gone quiet.
pub fn feeds_list(rows: &[FeedRow], silent: &[bool], json: bool) -> anyhow::Result<()> {
    let is_silent = |i: usize| silent.get(i).copied().unwrap_or(false);
    if json {
        let mut out = std::io::stdout().lock();
        for (i, r) in rows.iter().enumerate() {
            let v = serde_json::json!({
                "url": r.url, "name": r.name, "title": r.title, "lang": r.lang,
                "configured": r.active, "status": r.last_status, "health": r.health(),
                "last_fetch": r.last_fetch,
                "last_ok": r.last_ok, "last_error": r.last_error,
                "consecutive_failures": r.consecutive_failures, "retry_after": r.retry_after,
                "discovered_url": r.discovered_url, "articles": r.articles,
                "next_poll": r.next_poll, "interval_secs": r.interval.map(|d| d.as_secs()),
                "interval_reason": r.interval_reason, "broken_since": r.broken_since,
                "silent": is_silent(i),
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    let mut t = table(&[
        "feed",
        "url",
        "status",
        "last success",
        "failures",
        "next poll",
        "interval (why)",
        "articles",
        "last error",
    ]);
    for (i, r) in rows.iter().enumerate() {
        let mut status = if r.active {
            r.health().to_owned()
        } else {
            "not in config".to_owned()
        };
        if is_silent(i) {
            status.push_str(", silent");
        }
        let interval = match (r.interval, &r.interval_reason) {
            (Some(d), Some(why)) => format!("{} ({why})", short_duration(d)),
            _ => "-".to_owned(),
        };
        t.add_row(vec![
            truncate(r.name.as_deref().or(r.title.as_deref()).unwrap_or("-"), 30),
            truncate(&r.url, 60),
            status,
            when(r.last_ok),
            r.consecutive_failures.to_string(),
            if r.active {
                when(r.next_poll)
            } else {
                "-".to_owned()
            },
            interval,
            r.articles.to_string(),
            truncate(r.last_error.as_deref().unwrap_or(""), 60),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// `chipwatch status`.
pub fn status(s: &crate::daemon::Status, json: bool) -> anyhow::Result<()> {
    if json {
        let v = serde_json::json!({
            "running": s.running, "pid": s.pid, "started": s.started,
            "uptime_secs": s.uptime.map(|d| d.as_secs()),
            "stopped": s.stopped, "last_cycle": s.last_cycle,
            "last_summary": s.last_summary,
            "feeds": s.feeds.iter().map(|(k, n)| (k.to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
        });
        println!("{v}");
        return Ok(());
    }
    match (s.running, s.pid, s.uptime) {
        (true, Some(pid), Some(up)) => println!("daemon: running (pid {pid}), up {}", short_duration(up)),
        (true, pid, _) => println!(
            "daemon: running (pid {})",
            pid.map_or("unknown".to_owned(), |p| p.to_string())
        ),
        (false, _, _) => match s.stopped.or(s.started) {
            Some(t) => println!("daemon: not running (last seen {} UTC)", when(Some(t))),
            None => println!("daemon: not running (never ran on this database)"),
        },
    }
    let feeds: Vec<String> = s.feeds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("feeds: {}", feeds.join(", "));
    match (s.last_cycle, &s.last_summary) {
        (Some(t), Some(summary)) => println!("last cycle: {}", cycle_text(t, summary)),
        (Some(t), None) => println!("last cycle: {} UTC", when(Some(t))),
        (None, _) => {}
    }
    Ok(())
}

pub fn line(s: &str) {
    println!("{s}");
}

fn export_json(r: &ExportRow) -> serde_json::Value {
    let d = r.decision.as_ref();
    let parse = |s: Option<&String>| s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    serde_json::json!({
        "relevant": d.map(|d| d.relevant),
        "score": d.map(|d| (d.score * 100.0).round() / 100.0),
        "event": d.and_then(|d| d.event.clone()),
        "chips": parse(d.map(|d| &d.chips)).unwrap_or_else(|| serde_json::json!([])),
        "entities": parse(d.map(|d| &d.entities)),
        "id": r.id.0,
        "url": r.url,
        "canonical_url": r.canonical_url,
        "guid": r.guid,
        "title": r.title,
        "summary": r.summary,
        "lang": d.and_then(|d| d.lang.clone()).or_else(|| r.lang.clone()),
        "published": r.published,
        "first_seen": r.first_seen,
        "feed": r.feed,
        "feed_name": r.feed_name,
        "feeds": r.feeds,
        "story": r.story,
        "alert": r.alert,
    })
}

pub fn export_jsonl(rows: &[ExportRow]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in rows {
        serde_json::to_writer(&mut out, &export_json(r))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

pub fn export_csv(rows: &[ExportRow]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record([
        "id",
        "url",
        "canonical_url",
        "guid",
        "title",
        "lang",
        "published",
        "first_seen",
        "feed",
        "feed_name",
        "feeds",
        "relevant",
        "score",
        "event",
        "chips",
    ])?;
    for r in rows {
        w.write_record([
            r.id.0.to_string(),
            r.url.clone().unwrap_or_default(),
            r.canonical_url.clone().unwrap_or_default(),
            r.guid.clone(),
            r.title.clone(),
            r.lang.clone().unwrap_or_default(),
            r.published.map(|t| t.to_rfc3339()).unwrap_or_default(),
            r.first_seen.to_rfc3339(),
            r.feed.clone(),
            r.feed_name.clone().unwrap_or_default(),
            r.feeds.join(" "),
            r.decision
                .as_ref()
                .map(|d| d.relevant.to_string())
                .unwrap_or_default(),
            r.decision
                .as_ref()
                .map(|d| format!("{:.2}", d.score))
                .unwrap_or_default(),
            r.decision
                .as_ref()
                .and_then(|d| d.event.clone())
                .unwrap_or_default(),
            r.decision
                .as_ref()
                .and_then(|d| serde_json::from_str::<Vec<String>>(&d.chips).ok())
                .map(|c| c.join(" "))
                .unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// One `classify` result as a JSON line.
pub fn decision_line(
    n: usize,
    title: &str,
    d: &crate::classify::Decision,
    explain: Option<&crate::classify::Profile>,
) -> anyhow::Result<()> {
    let mut v = serde_json::json!({
        "line": n,
        "title": title,
        "relevant": d.relevant,
        "score": d.score,
        "event": d.event.map(|e| e.as_str()),
        "chips": d.chips(),
        "entities": {"companies": d.companies(), "agencies": d.agencies(), "countries": d.countries()},
        "lang": d.lang,
    });
    if let Some(p) = explain {
        v["evidence"] = d.evidence_json(p);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    Ok(())
}

/// What `reclassify` changed about one article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    NewlyRelevant,
    NoLongerRelevant,
    EventChanged(Option<String>, Option<String>),
}

pub fn reclassify_report(
    total: usize,
    rewritten: usize,
    changes: &[(crate::model::ArticleId, String, Change)],
    dry_run: bool,
) {
    for (id, title, c) in changes {
        let what = match c {
            Change::NewlyRelevant => "newly relevant".to_owned(),
            Change::NoLongerRelevant => "no longer relevant".to_owned(),
            Change::EventChanged(a, b) => format!(
                "event {} -> {}",
                a.as_deref().unwrap_or("none"),
                b.as_deref().unwrap_or("none")
            ),
        };
        println!("{id:>6}  {what:<28} {}", truncate(title, 90));
    }
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|(_, _, c)| f(c)).count();
    println!(
        "{total} articles: {} newly relevant, {} no longer relevant, {} with another event{}",
        count(|c| matches!(c, Change::NewlyRelevant)),
        count(|c| matches!(c, Change::NoLongerRelevant)),
        count(|c| matches!(c, Change::EventChanged(..))),
        if dry_run {
            " (dry run: nothing written)".to_owned()
        } else {
            format!("; {rewritten} decisions rewritten")
        }
    );
}

/// `explain`: the decision on one article, and why.
pub fn explain(
    t: &crate::store::ArticleText,
    d: &crate::classify::Decision,
    profile: &crate::classify::Profile,
    stored: Option<&crate::store::StoredDecision>,
) {
    use crate::classify::Target;
    println!("article {}: {}", t.id, t.title);
    if let Some(u) = &t.url {
        println!("  {u}");
    }
    println!(
        "  language {}, published {}",
        d.lang.as_deref().unwrap_or("unknown"),
        when(t.published)
    );
    println!();
    let list = |v: &[&str]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    println!(
        "decision: {} (score {:.2}, threshold {:.2}, profile {})",
        if d.relevant { "RELEVANT" } else { "not relevant" },
        d.score,
        profile.threshold,
        profile.name
    );
    if let Some(e) = d.event {
        println!("event:    {e}");
    }
    println!("chips:    {}", list(d.chips()));
    println!(
        "companies {}; agencies {}; countries {}",
        list(d.companies()),
        list(d.agencies()),
        list(d.countries())
    );
    println!();
    println!("rules that fired:");
    if d.rules().is_empty() {
        println!("  none");
    }
    for r in d.rules() {
        println!(
            "  {:+6.2}  {} (in the {})",
            r.score,
            r.rule,
            if r.field == crate::classify::Field::Title {
                "title"
            } else {
                "summary"
            }
        );
    }
    for (n, p) in d.negatives() {
        println!("  {:+6.2}  negative context: {n}", -p);
    }
    let cues: Vec<String> = d.event_scores().map(|(e, s)| format!("{e} {s:.1}")).collect();
    if !cues.is_empty() {
        println!("event cues: {}", cues.join(", "));
    }
    match d.follow_up {
        crate::model::Reference::FollowUp => {
            println!("follow-up: points back at an earlier development; the headline announces none")
        }
        crate::model::Reference::RefersBack => {
            println!("refers back to an earlier development; the headline announces one too")
        }
        crate::model::Reference::None => {}
    }
    println!();
    println!("matched terms:");
    for h in d.hits() {
        let means = match h.target {
            Target::Concept(c) => format!("concept {}", profile.concepts[c as usize]),
            Target::Entity(e) => format!("entity {}", profile.entities[e as usize].name),
            Target::Negative(n) => format!("negative {}", profile.negatives[n as usize].name),
            Target::Cue(e) => format!("cue for {e}"),
            Target::StrongCue(e) => format!("strong cue for {e}"),
            Target::FollowUp => "follow-up of an earlier development".to_owned(),
        };
        let place = if h.field == crate::classify::Field::Title {
            "title".to_owned()
        } else {
            format!("summary, sentence {}", h.sentence + 1)
        };
        println!("  {:<28} {:<24} {place}", format!("\"{}\"", d.matched(h)), means);
    }
    match stored {
        None => println!("\n(not classified in the database yet: run a crawl)"),
        Some(s) if s.profile != profile.fingerprint => println!(
            "\nstored decision ({}, event {}) was made with another version of the profile; `chipwatch reclassify` updates it",
            if s.relevant { "relevant" } else { "not relevant" },
            s.event.as_deref().unwrap_or("none")
        ),
        Some(_) => {}
    }
}

/// `search`: best match first.
pub fn search(hits: &[crate::store::SearchHit], format: crate::cli::ListFormat) -> anyhow::Result<()> {
    use crate::cli::ListFormat;
    let relevance = |h: &crate::store::SearchHit| match (h.relevant, &h.event) {
        (Some(true), Some(e)) => e.clone(),
        (Some(true), None) => "relevant".to_owned(),
        (Some(false), _) => String::new(),
        (None, _) => "not classified".to_owned(),
    };
    match format {
        ListFormat::Json => {
            let mut out = std::io::stdout().lock();
            for h in hits {
                let v = serde_json::json!({
                    "id": h.id.0, "title": h.title, "url": h.url, "feed": h.feed,
                    "published": h.published, "relevant": h.relevant, "event": h.event,
                    "story": h.story,
                });
                writeln!(out, "{v}")?;
            }
        }
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "id",
                "published",
                "feed",
                "title",
                "url",
                "relevant",
                "event",
                "story",
            ])?;
            for h in hits {
                w.write_record([
                    h.id.0.to_string(),
                    h.published.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    h.feed.clone(),
                    h.title.clone(),
                    h.url.clone().unwrap_or_default(),
                    h.relevant.map(|r| r.to_string()).unwrap_or_default(),
                    h.event.clone().unwrap_or_default(),
                    h.story.map(|s| s.to_string()).unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        ListFormat::Table => {
            if hits.is_empty() {
                println!("no stored article matches");
                return Ok(());
            }
            let mut t = table(&["article", "published", "feed", "title", "topic", "story"]);
            for h in hits {
                t.add_row(vec![
                    h.id.0.to_string(),
                    when(h.published),
                    truncate(&h.feed, 24),
                    truncate(&h.title, 80),
                    relevance(h),
                    h.story.map(|s| s.to_string()).unwrap_or_default(),
                ]);
            }
            println!("{t}");
            println!(
                "{} results (best first); `chipwatch explain ID` shows one",
                hits.len()
            );
        }
    }
    Ok(())
}

fn story_json(s: &crate::store::StoryRow) -> serde_json::Value {
    serde_json::json!({
        "id": s.id, "title": s.title, "event": s.event, "first_seen": s.first_seen,
        "last_seen": s.last_seen, "articles": s.articles, "outlets": s.outlets,
        "langs": s.langs, "chips": s.chips,
    })
}

pub fn stories(rows: &[crate::store::StoryRow], format: crate::cli::ListFormat) -> anyhow::Result<()> {
    use crate::cli::ListFormat;
    match format {
        ListFormat::Json => {
            let mut out = std::io::stdout().lock();
            for s in rows {
                writeln!(out, "{}", story_json(s))?;
            }
        }
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "id",
                "first_seen",
                "last_seen",
                "event",
                "title",
                "articles",
                "outlets",
                "langs",
                "chips",
            ])?;
            for s in rows {
                w.write_record([
                    s.id.to_string(),
                    s.first_seen.to_rfc3339(),
                    s.last_seen.to_rfc3339(),
                    s.event.clone(),
                    s.title.clone(),
                    s.articles.to_string(),
                    s.outlets.join("; "),
                    s.langs.join(" "),
                    s.chips.join(" "),
                ])?;
            }
            w.flush()?;
        }
        ListFormat::Table => {
            let mut t = table(&[
                "story",
                "first report",
                "event",
                "title",
                "reports",
                "outlets",
                "languages",
                "chips",
            ]);
            for s in rows {
                t.add_row(vec![
                    s.id.to_string(),
                    s.first_seen.format("%Y-%m-%d %H:%M").to_string(),
                    s.event.clone(),
                    truncate(&s.title, 70),
                    s.articles.to_string(),
                    s.outlets.len().to_string(),
                    s.langs.join(" "),
                    s.chips.join(" "),
                ]);
            }
            println!("{t}");
            println!("{} stories", rows.len());
        }
    }
    Ok(())
}

pub fn alerts(
    rows: &[crate::store::AlertRow],
    format: crate::cli::ListFormat,
    all: bool,
) -> anyhow::Result<()> {
    use crate::cli::ListFormat;
    let title = alert_title;
    match format {
        ListFormat::Json => {
            let mut out = std::io::stdout().lock();
            for a in rows {
                let v = serde_json::json!({
                    "id": a.id, "kind": a.kind, "event": a.event, "severity": a.severity,
                    "state": a.state, "published": a.published, "created_at": a.created_at,
                    "title": title(a), "url": a.url, "reason": a.reason, "feed": a.feed,
                    "story": a.story.as_ref().map(story_json),
                });
                writeln!(out, "{v}")?;
            }
        }
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "id",
                "published",
                "event",
                "severity",
                "state",
                "title",
                "chips",
                "outlets",
                "langs",
                "url",
            ])?;
            for a in rows {
                let s = a.story.as_ref();
                w.write_record([
                    a.id.to_string(),
                    a.published.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    a.event.clone().unwrap_or_else(|| a.kind.clone()),
                    a.severity.clone(),
                    a.state.clone(),
                    title(a),
                    s.map(|s| s.chips.join(" ")).unwrap_or_default(),
                    s.map(|s| s.outlets.join("; ")).unwrap_or_default(),
                    s.map(|s| s.langs.join(" ")).unwrap_or_default(),
                    a.url.clone().unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        ListFormat::Table => {
            let mut t = table(&[
                "alert",
                "time",
                "event",
                "severity",
                "title",
                "chips",
                "outlets",
                "languages",
            ]);
            for a in rows {
                let s = a.story.as_ref();
                t.add_row(vec![
                    if a.state == "new" {
                        format!("{} *", a.id)
                    } else {
                        a.id.to_string()
                    },
                    when(a.published.or(Some(a.created_at))),
                    a.event.clone().unwrap_or_else(|| a.kind.clone()),
                    a.severity.clone(),
                    truncate(&title(a), 70),
                    s.map(|s| s.chips.join(" ")).unwrap_or_default(),
                    s.map(|s| s.outlets.len().to_string()).unwrap_or_default(),
                    s.map(|s| s.langs.join(" ")).unwrap_or_default(),
                ]);
            }
            println!("{t}");
            let new = rows.iter().filter(|a| a.state == "new").count();
            if all {
                println!("{} alerts ({new} new, marked *)", rows.len());
            } else {
                println!(
                    "{new} new alerts; `chipwatch alerts show ID` for the story, `chipwatch alerts ack ID` to mark read"
                );
            }
        }
    }
    Ok(())
}

/// A story alert's title is its story's; a feed alert names its feed.
fn alert_title(a: &crate::store::AlertRow) -> String {
    match (&a.story, &a.feed) {
        (Some(s), _) => s.title.clone(),
        (None, Some(feed)) if a.kind == "feed-broken" => format!("feed broken: {feed}"),
        _ => String::new(),
    }
}

pub fn alert_detail(a: &crate::store::AlertRow, articles: &[crate::store::StoryArticle]) {
    println!(
        "alert {} ({}, {}, {}): {}",
        a.id,
        a.event.as_deref().unwrap_or(&a.kind),
        a.severity,
        a.state,
        alert_title(a)
    );
    println!("why: {}", a.reason);
    if let Some(s) = &a.story {
        println!(
            "story {}: {} reports from {} outlets in {} between {} and {}; chips {}",
            s.id,
            s.articles,
            s.outlets.len(),
            if s.langs.is_empty() {
                "-".to_owned()
            } else {
                s.langs.join(", ")
            },
            s.first_seen.format("%Y-%m-%d %H:%M"),
            s.last_seen.format("%Y-%m-%d %H:%M"),
            if s.chips.is_empty() {
                "-".to_owned()
            } else {
                s.chips.join(", ")
            }
        );
    }
    println!();
    for r in articles {
        let mark = if Some(r.id) == a.article { ">" } else { " " };
        println!(
            "{mark} {}  {:<3} {:<24} {}",
            when(r.published),
            r.lang.as_deref().unwrap_or("-"),
            truncate(&r.outlet, 24),
            truncate(&r.title, 90)
        );
        if let Some(u) = &r.url {
            println!("                        {u}");
        }
    }
    println!("\n> marks the report that raised the alert");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::CycleSummary;

    /// comfy-table's drawing of a table, as `print_table` prints it.
    fn comfy(header: &[&str], rows: &[Vec<String>]) -> String {
        let mut t = table(header);
        t.add_rows(rows.to_vec());
        format!("{t}\n")
    }

    #[test]
    fn a_plain_table_is_drawn_as_comfy_table_draws_it() {
        let header = ["feed", "status", "also in other feeds", "time"];
        let rows = vec![
            vec![
                "The Register".into(),
                "not modified".into(),
                String::new(),
                "0.0s".into(),
            ],
            vec![
                "A much longer feed name #0001".into(),
                "ok".into(),
                "12".into(),
                "1.5s".into(),
            ],
        ];
        assert_eq!(plain_table(&header, &rows), comfy(&header, &rows));
        assert_eq!(plain_table(&header, &[]), comfy(&header, &[]));
    }

    proptest::proptest! {
        #[test]
        fn plain_tables_match_comfy_table(
            header in proptest::collection::vec("[ -~]{1,12}", 1..6),
            rows in proptest::collection::vec(proptest::collection::vec("[ -~]{0,20}", 0..7), 0..6),
        ) {
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            // Every row as wide as the header, as the crawl summary's are.
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|mut r| {
                    r.resize(header.len(), String::new());
                    r
                })
                .collect();
            proptest::prop_assert_eq!(plain_table(&header, &rows), comfy(&header, &rows));
        }
    }

    #[test]
    fn short_duration_keeps_two_units_rounded() {
        let s = |secs: u64| short_duration(Duration::from_secs(secs));
        assert_eq!(s(0), "0s");
        assert_eq!(s(45), "45s");
        assert_eq!(s(60), "1m");
        assert_eq!(s(300), "5m");
        assert_eq!(s(3599), "59m 59s");
        assert_eq!(s(22 * 3600 + 22 * 60 + 29), "22h 22m");
        assert_eq!(s(22 * 3600 + 22 * 60 + 30), "22h 23m");
        assert_eq!(s(86_400 + 3600 + 7 * 60 + 17), "1d 1h");
        assert_eq!(s(86_400 + 3600 + 31 * 60), "1d 2h");
        // Rounding carries into the larger unit.
        assert_eq!(s(86_399), "1d");
        assert_eq!(s(2 * 86_400 - 60), "2d");
        assert_eq!(s(40 * 86_400 + 5 * 3600), "40d 5h");
        assert_eq!(short_duration(Duration::from_millis(59_600)), "1m");
        assert_eq!(short_duration(Duration::from_millis(1_400)), "1s");
        assert_eq!(short_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn cycle_text_is_plain_words() {
        let t = DateTime::parse_from_rfc3339("2026-11-28T21:43:10Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut s = CycleSummary {
            polled: 6,
            not_modified: 6,
            failed: 0,
            new_articles: 0,
            alerts: 0,
            elapsed_ms: 1,
        };
        assert_eq!(
            cycle_text(t, &s),
            "2026-11-28 21:43 UTC, 6 polled (6 not modified, 0 failed), 0 new articles, 0 alerts, 1 ms"
        );
        s = CycleSummary {
            polled: 10_000,
            not_modified: 9_890,
            failed: 3,
            new_articles: 1,
            alerts: 1,
            elapsed_ms: 12_345,
        };
        assert_eq!(
            cycle_text(t, &s),
            "2026-11-28 21:43 UTC, 10000 polled (9890 not modified, 3 failed), 1 new article, 1 alert, 12s"
        );
    }

    #[test]
    fn stored_cycle_summary_round_trips_and_tolerates_missing_fields() {
        let s = CycleSummary {
            polled: 2,
            not_modified: 1,
            failed: 1,
            new_articles: 3,
            alerts: 1,
            elapsed_ms: 40,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"polled":2,"not_modified":1,"failed":1,"new_articles":3,"alerts":1,"elapsed_ms":40}"#
        );
        assert_eq!(serde_json::from_str::<CycleSummary>(&j).unwrap(), s);
        let old: CycleSummary = serde_json::from_str(r#"{"polled":5}"#).unwrap();
        assert_eq!(old.polled, 5);
        assert_eq!(old.elapsed_ms, 0);
    }
}
