//! Parsing: feed bytes in any supported format and charset → `ParsedFeed`.
//! Pure: no IO, no clock. Never panics on its own; feed-rs runs behind the
//! caller's panic guard (`crawl` parses in `spawn_blocking`).

pub mod charset;
pub mod html;

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
/// drops it, so it is read off the text.
fn update_period(text: &str) -> Option<u64> {
    fn element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        let open = format!("<sy:{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find('<')?;
        Some(text[start..start + end].trim())
    }
    let period = element(text, "updatePeriod");
    let frequency = element(text, "updateFrequency");
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
    let base = base_url.starts_with("http").then_some(base_url);
    feed_rs::parser::Builder::new()
        .base_uri(base)
        .sanitize_content(false)
        // Leave missing ids empty: we choose the fallback key ourselves.
        .id_generator(|_, _, _| String::new())
        .build()
        .parse(bytes)
        .map_err(|e| e.to_string())
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
        site_url: pick_link(&feed.links, base.as_ref()).map(String::from),
        lang: feed_lang,
        ttl_minutes: feed.ttl,
        update_period_secs: None,
        items,
    }
}

fn convert_entry(e: &Entry, base: Option<&Url>, feed_lang: Option<&str>) -> Option<ParsedItem> {
    let link = pick_link(&e.links, base);
    let canonical_url = link.clone().and_then(crate::dedup::canonical_of);
    let url = link.map(String::from);
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

/// The entry's article link: an `alternate` (or unlabelled) link, else the first.
fn pick_link(links: &[Link], base: Option<&Url>) -> Option<Url> {
    let link = links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| links.first())?;
    let href = link.href.trim();
    if href.is_empty() {
        return None;
    }
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
}
