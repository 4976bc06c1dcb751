//! Parsing: feed bytes in any supported format and charset → `ParsedFeed`.
//! Pure: no IO, no clock. Never panics on its own; feed-rs runs behind the
//! caller's panic guard (`crawl` parses in `spawn_blocking`).

pub mod charset;
pub mod html;

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, Link, Text};
use url::Url;

use crate::model::{ParsedFeed, ParsedItem};

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the document is an HTML page, not a feed{}", discovered_hint(.discovered))]
    NotAFeed { discovered: Vec<String> },
    #[error("the document is not a feed that can be read: {message}")]
    Malformed { message: String },
    #[error("the document is empty")]
    Empty,
}

fn discovered_hint(d: &[String]) -> String {
    match d.first() {
        Some(u) => format!(" (it announces a feed at {u})"),
        None => " and announces no feed".to_owned(),
    }
}

/// Parse a feed document. `base_url` resolves relative links; `content_type`
/// is the HTTP header, used for its charset.
pub fn parse_feed(
    bytes: &[u8],
    content_type: Option<&str>,
    base_url: &str,
) -> Result<ParsedFeed, ParseError> {
    let text = charset::to_utf8(bytes, content_type);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    if html::looks_like_html(&text) {
        let discovered = Url::parse(base_url)
            .map(|base| html::discover_feeds(&text, &base))
            .unwrap_or_default();
        return Err(ParseError::NotAFeed { discovered });
    }
    let feed = match run_feed_rs(text.as_bytes(), base_url) {
        Ok(feed) => feed,
        Err(first) => {
            // Fixable quirks feed-rs refuses: repair and try once more.
            let repaired = repair(&text).ok_or_else(|| ParseError::Malformed {
                message: first.clone(),
            })?;
            run_feed_rs(repaired.as_bytes(), base_url)
                .map_err(|_| ParseError::Malformed { message: first })?
        }
    };
    let mut parsed = convert(feed, base_url);
    parsed.update_period_secs = update_period(&text);
    Ok(parsed)
}

/// The RSS 1.0 syndication module's hint (`sy:updatePeriod`, default
/// daily, divided by `sy:updateFrequency`, default 1), in seconds. feed-rs
/// drops it, so it is read off the text: the first of each element, found
/// in one vectorised pass over the document (two substring searches were
/// about 2% of a cold crawl).
fn update_period(text: &str) -> Option<u64> {
    const OPEN: &str = "<sy:update";
    let content = |start: usize| {
        let end = text[start..].find('<')?;
        Some(text[start..start + end].trim())
    };
    let (mut period, mut frequency) = (None, None);
    for at in memchr::memmem::find_iter(text.as_bytes(), OPEN) {
        let rest = &text[at + OPEN.len()..];
        if period.is_none() && rest.starts_with("Period>") {
            period = Some(content(at + OPEN.len() + "Period>".len()));
        } else if frequency.is_none() && rest.starts_with("Frequency>") {
            frequency = Some(content(at + OPEN.len() + "Frequency>".len()));
        }
        if period.is_some() && frequency.is_some() {
            break;
        }
    }
    let (period, frequency) = (period.flatten(), frequency.flatten());
    if period.is_none() && frequency.is_none() {
        return None;
    }
    let secs: u64 = match period.unwrap_or("daily") {
        "hourly" => 3600,
        "daily" => 86_400,
        "weekly" => 7 * 86_400,
        "monthly" => 30 * 86_400,
        "yearly" => 365 * 86_400,
        _ => return None,
    };
    let frequency = frequency.map_or(Some(1), |f| f.parse::<u64>().ok())?.max(1);
    Some(secs / frequency)
}

fn run_feed_rs(bytes: &[u8], base_url: &str) -> Result<Feed, String> {
    // feed-rs (through quick-xml) can panic on some inputs; a panic is this
    // document's error, never the caller's crash.
    std::panic::catch_unwind(|| feed_rs_unguarded(bytes, base_url))
        .unwrap_or_else(|_| Err("the feed parser crashed on this document".to_owned()))
}

fn feed_rs_unguarded(bytes: &[u8], base_url: &str) -> Result<Feed, String> {
    feed_rs_builder(base_url)
        .timestamp_parser(timestamp)
        .build()
        .parse(bytes)
        .map_err(|e| e.to_string())
}

fn feed_rs_builder(base_url: &str) -> feed_rs::parser::Builder {
    let base = base_url.starts_with("http").then_some(base_url);
    feed_rs::parser::Builder::new()
        .base_uri(base)
        .sanitize_content(false)
        // Leave missing ids empty: we choose the fallback key ourselves.
        .id_generator(|_, _, _| String::new())
}

/// A feed's timestamp, as feed-rs's own parser reads it. That parser
/// rewrites every date with a series of regular expressions before it
/// tries RFC 3339, RFC 2822 and RFC 1123 (about 6% of a cold crawl), to
/// repair long month names, wrong weekdays, a missing offset colon and so
/// on. None of its rewrites changes the instant of a date that already
/// parses as RFC 3339 or RFC 2822, so those are parsed directly; any other
/// text goes to feed-rs's parser, reached through a one-item JSON Feed (its
/// lenient function is private). A test compares the two on many date
/// forms and on every peer feed.
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.to_utc());
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(t) {
        return Some(d.to_utc());
    }
    feed_rs_timestamp(text)
}

/// feed-rs's own reading of `text`: the date of a JSON Feed item.
fn feed_rs_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let date = serde_json::to_string(text).ok()?;
    let doc = format!(
        r#"{{"version":"https://jsonfeed.org/version/1.1","title":"","items":[{{"id":"0","date_published":{date}}}]}}"#
    );
    let feed = feed_rs::parser::parse(doc.as_bytes()).ok()?;
    feed.entries.into_iter().next()?.published
}

/// Repairs for documents feed-rs rejects for reasons a reader would not:
/// `<rss>` without `version`, and Atom constructs with an empty `type`.
/// `None` when there is nothing to repair.
fn repair(text: &str) -> Option<String> {
    let mut out = text.to_owned();
    let mut changed = false;
    if let Some(pos) = find_rss_open_tag(&out) {
        let end = out[pos..].find('>').map(|e| pos + e)?;
        if !out[pos..end].contains("version") {
            out.insert_str(pos + 4, " version=\"2.0\"");
            changed = true;
        }
    }
    for empty in [" type=\"\"", " type=''"] {
        if out.contains(empty) {
            out = out.replace(empty, "");
            changed = true;
        }
    }
    changed.then_some(out)
}

fn find_rss_open_tag(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("<rss") {
        let pos = from + i;
        match text[pos + 4..].chars().next() {
            Some(c) if c.is_whitespace() || c == '>' => return Some(pos),
            _ => from = pos + 4,
        }
    }
    None
}

fn convert(feed: Feed, base_url: &str) -> ParsedFeed {
    let base = Url::parse(base_url).ok();
    let feed_lang = feed.language.as_deref().and_then(normalise_lang);
    let items = feed
        .entries
        .into_iter()
        .filter_map(|e| convert_entry(&e, base.as_ref(), feed_lang.as_deref()))
        .collect();
    ParsedFeed {
        title: feed
            .title
            .map(|t| html::to_text(&t.content))
            .filter(|t| !t.is_empty()),
        site_url: pick_href(&feed.links)
            .and_then(|h| resolve(h, base.as_ref()))
            .map(String::from),
        lang: feed_lang,
        ttl_minutes: feed.ttl,
        update_period_secs: None,
        items,
    }
}

fn convert_entry(e: &Entry, base: Option<&Url>, feed_lang: Option<&str>) -> Option<ParsedItem> {
    let (url, canonical_url) = match pick_href(&e.links) {
        // feed-rs hands over most links parsed and written back already.
        Some(href) => match crate::dedup::canonical_of_plain(href) {
            Some(canonical) => (Some(href.to_owned()), Some(canonical)),
            None => {
                let link = resolve(href, base);
                let canonical = link.clone().and_then(crate::dedup::canonical_of);
                (link.map(String::from), canonical)
            }
        },
        None => (None, None),
    };
    let guid = Some(e.id.trim().to_owned()).filter(|g| !g.is_empty());
    let title = e.title.as_ref().map(text_of).unwrap_or_default();
    let body = match (&e.summary, &e.content) {
        (Some(s), _) if !s.content.trim().is_empty() => s.content.clone(),
        (_, Some(c)) => c.body.clone().unwrap_or_default(),
        _ => String::new(),
    };
    // One HTML parse: sanitise, then read the text off the sanitised
    // markup, which is well formed and has no scripts left.
    let summary_html = html::sanitise(&body);
    let summary_text = html::text_of_sanitised(&summary_html);
    if guid.is_none() && url.is_none() && title.is_empty() && summary_text.is_empty() {
        return None;
    }
    Some(ParsedItem {
        guid,
        url,
        canonical_url,
        title,
        summary_html,
        summary_text,
        published: e.published.or(e.updated),
        updated: e.updated,
        lang: e
            .language
            .as_deref()
            .and_then(normalise_lang)
            .or(feed_lang.map(str::to_owned)),
    })
}

fn text_of(t: &Text) -> String {
    html::to_text(&t.content)
}

/// The `href` of an entry's or feed's link: an `alternate` (or
/// unlabelled) link, else the first; `None` if it is empty.
fn pick_href(links: &[Link]) -> Option<&str> {
    let link = links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| links.first())?;
    Some(link.href.trim()).filter(|h| !h.is_empty())
}

/// `href` as an absolute URL, resolved against `base` if relative.
fn resolve(href: &str, base: Option<&Url>) -> Option<Url> {
    match Url::parse(href) {
        Ok(u) => Some(u),
        Err(_) => base.and_then(|b| b.join(href).ok()),
    }
}

/// `en-US` → `en`; `zh-cn` → `zh`. `None` for a tag that is not a language.
pub fn normalise_lang(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic())).then_some(primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_carries_the_canonical_url_of_its_link() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/feeds");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(doc) = parse_feed(&std::fs::read(&path).unwrap(), None, BASE) else {
                continue;
            };
            for item in &doc.items {
                let expected = item.url.as_deref().and_then(crate::dedup::canonical_url);
                assert_eq!(item.canonical_url, expected, "{}: {:?}", path.display(), item.url);
                seen += usize::from(expected.is_some());
            }
        }
        // Relative links, tracking parameters and fragments among them.
        let doc = parse_feed(
            b"<rss version=\"2.0\"><channel><title>T</title>\
              <item><title>A</title><link>/a/b/?utm_source=x&amp;z=1&amp;a=2#top</link></item>\
              <item><title>B</title><link>HTTPS://News.Example:443/c</link></item></channel></rss>",
            None,
            BASE,
        )
        .unwrap();
        let canon: Vec<_> = doc.items.iter().map(|i| i.canonical_url.as_deref()).collect();
        assert_eq!(
            canon,
            [
                Some("https://news.example/a/b/?a=2&z=1"),
                Some("https://news.example/c")
            ]
        );
        for item in &doc.items {
            assert_eq!(
                item.canonical_url,
                item.url.as_deref().and_then(crate::dedup::canonical_url)
            );
        }
        assert!(seen > 20, "{seen}");
    }

    const BASE: &str = "https://news.example/feed.xml";

    #[test]
    fn ttl_and_syndication_period() {
        let doc = |channel_extra: &str| {
            format!(
                "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel><title>T</title>{channel_extra}<item><title>A</title><link>https://news.example/a</link></item></channel></rss>"
            )
        };
        let parse = |extra: &str| parse_feed(doc(extra).as_bytes(), None, BASE).unwrap();
        assert_eq!(parse("<ttl>90</ttl>").ttl_minutes, Some(90));
        let plain = parse("");
        assert_eq!((plain.ttl_minutes, plain.update_period_secs), (None, None));
        assert_eq!(
            parse("<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>")
                .update_period_secs,
            Some(1800)
        );
        assert_eq!(
            parse("<sy:updatePeriod> daily </sy:updatePeriod>").update_period_secs,
            Some(86_400)
        );
        // Another element of the module first, the frequency before the
        // period, and a second period: the first of each counts.
        assert_eq!(
            parse(
                "<sy:updateBase>2000-01-01T12:00+00:00</sy:updateBase><sy:updateFrequency>3</sy:updateFrequency>\
                 <sy:updatePeriod>weekly</sy:updatePeriod><sy:updatePeriod>hourly</sy:updatePeriod>"
            )
            .update_period_secs,
            Some(7 * 86_400 / 3)
        );
        assert_eq!(
            parse("<sy:updateFrequency>4</sy:updateFrequency>").update_period_secs,
            Some(21_600)
        );
        assert_eq!(
            parse("<sy:updatePeriod>often</sy:updatePeriod>").update_period_secs,
            None
        );
        assert_eq!(
            parse("<sy:updateFrequency>0</sy:updateFrequency>").update_period_secs,
            Some(86_400)
        );
    }

    #[test]
    fn rss_without_version_is_repaired() {
        let doc = "<rss><channel><title>T</title><item><title>A</title><link>https://news.example/a</link></item></channel></rss>";
        let feed = parse_feed(doc.as_bytes(), None, BASE).unwrap();
        assert_eq!(feed.items.len(), 1);
        assert_eq!(feed.items[0].url.as_deref(), Some("https://news.example/a"));
    }

    #[test]
    fn atom_with_empty_type_is_repaired() {
        let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="">T</title><id>x</id>
            <entry><id>e1</id><title type="">Hello</title><summary type="">S</summary></entry></feed>"#;
        let feed = parse_feed(doc.as_bytes(), None, BASE).unwrap();
        assert_eq!(feed.items[0].title, "Hello");
    }

    #[test]
    fn missing_guid_stays_missing_and_relative_links_resolve() {
        let doc = r#"<rss version="2.0"><channel><language>fr-FR</language><item><title>A &amp; B</title>
            <link>/a</link><description>&lt;p&gt;x&lt;/p&gt;</description></item></channel></rss>"#;
        let feed = parse_feed(doc.as_bytes(), None, BASE).unwrap();
        let it = &feed.items[0];
        assert_eq!(it.guid, None);
        assert_eq!(it.title, "A & B");
        assert_eq!(it.summary_text, "x");
        assert_eq!(it.lang.as_deref(), Some("fr"));
        assert_eq!(it.url.as_deref(), Some("https://news.example/a"));
    }

    #[test]
    fn html_page_reports_discovered_feed() {
        let doc = r#"<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/rss"></head></html>"#;
        match parse_feed(doc.as_bytes(), None, BASE) {
            Err(ParseError::NotAFeed { discovered }) => {
                assert_eq!(discovered, vec!["https://news.example/rss"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for doc in [
            "",
            "   ",
            "not xml at all",
            "<rss version=\"2.0\"><channel><item><title>cut",
            "{\"items\": 3}",
        ] {
            assert!(parse_feed(doc.as_bytes(), None, BASE).is_err(), "{doc:?}");
        }
    }

    #[test]
    fn lang_tags() {
        assert_eq!(normalise_lang("en-US").as_deref(), Some("en"));
        assert_eq!(normalise_lang("zh_CN").as_deref(), Some("zh"));
        assert_eq!(normalise_lang("x"), None);
    }

    /// Every timestamp in `feed`: the feed's own and each entry's.
    fn timestamps(feed: &Feed) -> Vec<Option<DateTime<Utc>>> {
        let mut out = vec![feed.updated, feed.published];
        for e in &feed.entries {
            out.extend([e.published, e.updated]);
        }
        out
    }

    /// A parse behind a panic guard: `None` if it panicked.
    type Guarded = Option<Result<Feed, String>>;

    /// `bytes` read as we read them and as feed-rs's own timestamp parser
    /// does (the builder is otherwise the same).
    fn both(bytes: &[u8]) -> (Guarded, Guarded) {
        let ours = std::panic::catch_unwind(|| feed_rs_unguarded(bytes, BASE)).ok();
        let theirs = std::panic::catch_unwind(|| {
            feed_rs_builder(BASE)
                .build()
                .parse(bytes)
                .map_err(|e| e.to_string())
        })
        .ok();
        (ours, theirs)
    }

    #[track_caller]
    fn check_same_dates(bytes: &[u8], what: &str) -> usize {
        match both(bytes) {
            (Some(Ok(ours)), Some(Ok(theirs))) => {
                let (a, b) = (timestamps(&ours), timestamps(&theirs));
                assert_eq!(a, b, "{what}");
                a.iter().filter(|t| t.is_some()).count()
            }
            (Some(Err(a)), Some(Err(b))) => {
                assert_eq!(a, b, "{what}");
                0
            }
            (None, None) => 0,
            (a, b) => panic!(
                "{what}: one parse failed, the other did not: {:?} / {:?}",
                a.map(|r| r.is_ok()),
                b.map(|r| r.is_ok())
            ),
        }
    }

    const DATE_FORMS: &[&str] = &[
        // RFC 3339 and what feeds make of it
        "2025-11-13T10:00:00Z",
        "2025-11-13T10:00:00z",
        "2025-11-13t10:00:00Z",
        "2025-11-13T10:00:00.123456Z",
        "2025-11-13T10:00:00+01:00",
        "2025-11-13T10:00:00-05:30",
        "2025-11-13T10:00:00-00:00",
        "2025-11-13T10:00:00+0100",
        "2025-11-13T10:00:00-0530",
        "2025-11-13 10:00:00+01:00",
        "2025-11-13T10:00:00",
        "2025-11-13T10:00Z",
        "2025-11-13",
        "2025-02-30T10:00:00Z",
        "2016-12-31T23:59:60Z",
        "  2025-11-13T10:00:00Z \n",
        "2025-11-13T24:00:00Z",
        // RFC 2822 and what feeds make of it
        "Thu, 13 Nov 2025 10:00:00 +0000",
        "Thu, 13 Nov 2025 10:00:00 GMT",
        "Thu, 13 Nov 2025 10:00:00 UT",
        "Thu, 13 Nov 2025 10:00:00 UTC",
        "Thu, 13 Nov 2025 10:00:00 Z",
        "Thu, 13 Nov 2025 10:00:00 EST",
        "Thu, 13 Nov 2025 10:00:00 PDT",
        "Thu, 13 Nov 2025 10:00:00 A",
        "Thu, 13 Nov 2025 10:00:00 -0000",
        "Thu, 13 Nov 2025 10:00:00 +0530",
        "Thu, 13 Nov 2025 10:00 +0000",
        "Thu, 3 Nov 2025 10:00:00 +0000",
        "Thu, 03 Nov 2025 10:00:00 +0000",
        "13 Nov 2025 10:00:00 +0000",
        "Wed, 13 Nov 2025 10:00:00 +0000",
        "Thursday, 13 Nov 2025 10:00:00 +0000",
        "Thurs, 13 Nov 2025 10:00:00 GMT",
        "Thu, 13 November 2025 10:00:00 +0000",
        "Thu, Nov 13 2025 10:00:00 +0000",
        "Nov 13 2025 10:00:00 GMT",
        "Thu, 13 Nov 2025 24:00:00 +0000",
        "Thu, 13 Nov 2025 9:05:00 +0000",
        "Thu, 13 Nov 25 10:00:00 +0000",
        "Thu, 13 Nov 99 10:00:00 +0000",
        "Thu, 13 Nov 2025 10:00:00 +0000 (UTC)",
        "thu, 13 nov 2025 10:00:00 gmt",
        "Thu,13 Nov 2025 10:00:00 +0000",
        "Thu, 13 Nov 2025 10:00:60 +0000",
        "Do, 13 Nov 2025 10:00:00 +0100",
        "Jeu, 13 nov 2025 10:00:00 +0100",
        "\tThu, 13 Nov 2025 10:00:00 +0000  ",
        // neither
        "",
        " ",
        "yesterday",
        "13/11/2025",
        "1763040780",
        "2025",
        "Thu, 13 Nov 2025",
        "2025-11-13T10:00:00+01:00 & more",
    ];

    #[test]
    fn dates_are_read_as_feed_rs_reads_them() {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
        let (mut direct, mut through_feed_rs) = (0, 0);
        for form in DATE_FORMS {
            let t = form.trim();
            if DateTime::parse_from_rfc3339(t).is_ok() || DateTime::parse_from_rfc2822(t).is_ok() {
                direct += 1;
            } else {
                through_feed_rs += 1;
            }
            let rss = format!(
                "<rss version=\"2.0\"><channel><title>T</title><lastBuildDate>{0}</lastBuildDate>\
                 <item><title>a</title><pubDate>{0}</pubDate></item></channel></rss>",
                esc(form)
            );
            let atom = format!(
                "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>T</title><updated>{0}</updated>\
                 <entry><title>a</title><published>{0}</published><updated>{0}</updated></entry></feed>",
                esc(form)
            );
            let json = format!(
                r#"{{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[{{"id":"a","date_published":{0},"date_modified":{0}}}]}}"#,
                serde_json::to_string(form).unwrap()
            );
            for doc in [rss, atom, json] {
                check_same_dates(doc.as_bytes(), &format!("{form:?} in {doc}"));
            }
        }
        assert!(
            direct > 20 && through_feed_rs > 20,
            "{direct} direct, {through_feed_rs} not"
        );
    }

    #[test]
    fn peer_feeds_have_the_dates_feed_rs_reads() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peer-feeds");
        let mut files = Vec::new();
        walk(std::path::Path::new(root), &mut files);
        assert!(files.len() > 1000, "only {} peer feeds under {root}", files.len());
        let dates: usize = files
            .iter()
            .map(|f| check_same_dates(&std::fs::read(f).unwrap(), &f.display().to_string()))
            .sum();
        assert!(dates > 250, "only {dates} dates read from the peer feeds");
    }
}
