//! HTML helpers: plain text for matching, sanitised HTML for display, and
//! feed discovery in an HTML page. Pure functions; never panic on input.

use scraper::{Html, Node};
use url::Url;

/// Elements whose text is never shown to a reader.
const SKIP: &[&str] = &["script", "style", "noscript", "template", "head", "title"];
/// Elements that separate words even without white space around them.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "td",
    "th",
    "table",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "pre",
    "hr",
    "dd",
    "dt",
    "dl",
];

/// Plain text of an HTML fragment: tags dropped, entities decoded, script
/// and style content left out, white space collapsed to single spaces.
pub fn to_text(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return collapse_ws(html);
    }
    let fragment = Html::parse_fragment(html);
    let mut out = String::with_capacity(html.len());
    let mut skip_depth = 0usize;
    for edge in fragment.root_element().traverse() {
        match edge {
            ego_tree::iter::Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if skip_depth > 0 || SKIP.contains(&name) {
                        skip_depth += 1;
                    } else if BLOCK.contains(&name) {
                        out.push(' ');
                    }
                }
                Node::Text(t) if skip_depth == 0 => out.push_str(t),
                _ => {}
            },
            ego_tree::iter::Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    if skip_depth > 0 {
                        skip_depth -= 1;
                    } else if BLOCK.contains(&el.name()) {
                        out.push(' ');
                    }
                }
            }
        }
    }
    collapse_ws(&out)
}

/// Plain text of HTML that [`sanitise`] produced: tags dropped (block
/// elements leave a space), the few entities its serialiser writes decoded.
/// Not for arbitrary HTML: use [`to_text`] for that.
pub fn text_of_sanitised(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = memchr::memchr2(b'<', b'&', rest.as_bytes()) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let end = memchr::memchr(b'>', rest.as_bytes()).map_or(rest.len(), |e| e + 1);
            let tag = rest[1..end].trim_start_matches('/');
            let name = &tag[..tag.bytes().take_while(u8::is_ascii_alphanumeric).count()];
            if BLOCK.iter().any(|b| b.eq_ignore_ascii_case(name)) {
                out.push(' ');
            }
            rest = &rest[end..];
        } else {
            let (text, len) = entity_at(rest);
            out.push_str(text);
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    collapse_ws(&out)
}

/// The text of the entity `rest` starts with, and its length: one of the
/// few the sanitiser's serialiser writes, else a lone `&`.
fn entity_at(rest: &str) -> (&'static str, usize) {
    [
        ("&amp;", "&"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&nbsp;", " "),
        ("&quot;", "\""),
        ("&#39;", "'"),
    ]
    .iter()
    .find(|(e, _)| rest.starts_with(e))
    .map_or(("&", 1), |(e, t)| (*t, e.len()))
}

/// Collapse runs of white space (including non-breaking spaces) to one space and trim.
///
/// Text is mostly words apart by single spaces, which stay as they are: the
/// text is copied in spans between the runs that change (longer runs, or
/// other white space), not a word at a time, and only bytes that start a
/// non-ASCII character are decoded (word at a time with a `char` split was
/// 4,000 instructions per summary, 2.5% of a cold crawl).
pub fn collapse_ws(s: &str) -> String {
    let t = s.trim_matches(is_ws);
    let b = t.as_bytes();
    let mut out = String::with_capacity(t.len());
    // `t[..copied]` is accounted for in `out`.
    let mut copied = 0;
    let mut i = 0;
    // Printable ASCII is never white space: skip it byte by byte.
    while let Some(n) = b[i..].iter().position(|&c| c <= b' ' || !c.is_ascii()) {
        i += n;
        let (len, ws) = char_at(t, i);
        if !ws {
            i += len;
            continue;
        }
        // A run of white space: never at either end of the trimmed text.
        let mut end = i + len;
        loop {
            let (len, ws) = char_at(t, end);
            if !ws {
                break;
            }
            end += len;
        }
        if end != i + 1 || b[i] != b' ' {
            out.push_str(&t[copied..i]);
            out.push(' ');
            copied = end;
        }
        i = end;
    }
    out.push_str(&t[copied..]);
    out
}

/// The length of the character at byte `i` of `t`, and whether it is
/// white space; only a byte that starts a non-ASCII character is decoded.
#[inline(always)]
fn char_at(t: &str, i: usize) -> (usize, bool) {
    let c = t.as_bytes()[i];
    if c.is_ascii() {
        (1, c == b' ' || (b'\t'..=b'\r').contains(&c))
    } else {
        let ch = t[i..].chars().next().expect("i is on a character boundary");
        (ch.len_utf8(), is_ws(ch))
    }
}

/// White space as [`collapse_ws`] counts it.
fn is_ws(c: char) -> bool {
    c.is_whitespace() || c == '\u{a0}'
}

/// Sanitised HTML, safe to embed in a page: no scripts, no event handlers,
/// links made `rel="noopener noreferrer"`.
pub fn sanitise(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return escape(html.trim());
    }
    if is_plain_markup(html) {
        // What ammonia would return: the same text, unchanged.
        return html.to_owned();
    }
    ammonia::clean(html)
}

/// Elements [`is_plain_markup`] accepts: allowed by the sanitiser, without
/// attributes, and parsed as written when nested as it requires.
const PLAIN_INLINE: &[&str] = &["b", "i", "em", "strong"];

/// Is this fragment already what the sanitiser makes of it? True only for
/// the simple markup most feeds send: text, `<p>` at the top level,
/// `<b>`, `<i>`, `<em>`, `<strong>` anywhere (not inside themselves),
/// `<br>`, every element closed in order, tags in lower case without
/// attributes, and text the HTML parser and serialiser leave alone (no
/// `&`, `>`, carriage return, no-break space, control or non-characters).
/// Anything else goes through the full parser; this is only a shortcut.
fn is_plain_markup(html: &str) -> bool {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = html;
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        if !rest[..text_end].chars().all(plain_text_char) {
            return false;
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            return open.is_empty();
        }
        let Some(end) = rest.find('>') else { return false };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name) {
                return false;
            }
        } else if tag == "p" && open.is_empty() || PLAIN_INLINE.contains(&tag) && !open.contains(&tag) {
            open.push(tag);
        } else if tag != "br" {
            return false;
        }
    }
}

/// A character the HTML parser passes through and the serialiser writes
/// back as it is.
fn plain_text_char(c: char) -> bool {
    match c {
        '\t' | '\n' => true,
        '&' | '<' | '>' => false,
        ' '..='~' => true,
        '\u{80}'..='\u{a0}' | '\u{feff}' | '\u{fdd0}'..='\u{fdef}' => false,
        c if c.is_ascii() => false,
        c => (c as u32) & 0xfffe != 0xfffe,
    }
}

/// Escape text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Does this document look like an HTML page rather than a feed?
pub fn looks_like_html(text: &str) -> bool {
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    // Skip an XML declaration and comments.
    loop {
        if let Some(r) = rest.strip_prefix("<?xml") {
            rest = r.split_once("?>").map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let head: String = rest.chars().take(15).collect::<String>().to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// Feed URLs an HTML page announces with `<link rel="alternate" type="…">`,
/// resolved against `base`, in page order.
pub fn discover_feeds(html: &str, base: &Url) -> Vec<String> {
    const TYPES: &[&str] = &[
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
    ];
    let doc = Html::parse_document(html);
    let Ok(sel) = scraper::Selector::parse("link[rel][href]") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for el in doc.select(&sel) {
        let v = el.value();
        let is_alt = v.attr("rel").is_some_and(|r| {
            r.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case("alternate"))
        });
        let ty = v.attr("type").unwrap_or("").trim().to_ascii_lowercase();
        if !is_alt || !TYPES.contains(&ty.as_str()) {
            continue;
        }
        if let Some(href) = v.attr("href")
            && let Ok(url) = base.join(href.trim())
            && matches!(url.scheme(), "http" | "https" | "file")
        {
            let s = String::from(url);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_text(html: &str, expected: &str) {
        assert_eq!(to_text(html), expected);
    }

    #[test]
    fn text_drops_tags_and_scripts_and_decodes_entities() {
        check_text("<p>US &amp; China</p><p>ban</p>", "US & China ban");
        check_text("a<script>alert(1)</script>b", "ab");
        check_text("<b>H20</b>&nbsp;chips &#x4E2D;&#22269;", "H20 chips 中国");
        check_text("plain   text\n here", "plain text here");
        check_text("", "");
        check_text("<<<>>>&&&;", "<<<>>>&&&;");
    }

    #[test]
    fn text_of_sanitised_matches_the_full_parser() {
        for html in [
            "<p>US &amp; China</p><p>ban</p>",
            "a<script>alert(1)</script>b",
            "<b>H20</b>&nbsp;chips &#x4E2D;&#22269; &lt;tag&gt; “quoted” 'x'",
            "<ul><li>one</li><li>two</li></ul><br>three<a href=\"https://a.example/?a=1&amp;b=2\">link</a>",
            "plain < text & more",
            "",
        ] {
            assert_eq!(text_of_sanitised(&sanitise(html)), to_text(html), "{html}");
        }
    }

    #[test]
    fn plain_markup_shortcut_gives_what_ammonia_gives() {
        // Taken by the shortcut: must equal the full sanitiser's output.
        for html in [
            "<p>Talks with <strong>a</strong> minister.</p><p>trade in last growth regul.</p>",
            "<p>One</p>\n<p>Two <em>and</em> <b>three</b><br>four</p>",
            "lead text <i>x</i> \"quoted\" 'single' 中国 ü",
            "<strong><em>deep</em> <b><i>deeper</i></b></strong>",
            "<p></p><br>",
        ] {
            assert!(is_plain_markup(html), "{html}");
            assert_eq!(sanitise(html), ammonia::clean(html), "{html}");
        }
        // Not taken: the full sanitiser decides.
        for html in [
            "<p>a<p>b</p>",
            "<p>open",
            "<b>x</i>",
            "<b><b>x</b></b>",
            "<strong><p>x</p></strong>",
            "<P>x</P>",
            "<p class=\"x\">y</p>",
            "<p>a &amp; b</p>",
            "<p>a > b</p>",
            "<p>a\r\nb</p>",
            "<p>a\u{a0}b</p>",
            "<p>a\u{0}b</p>",
            "\u{feff}<p>x</p>",
            "<br/>",
            "</p>",
            "<script>x</script>",
            "<p>x</p",
        ] {
            assert!(!is_plain_markup(html), "{html}");
        }
    }

    mod fast_text_property {
        use super::super::{BLOCK, collapse_ws, entity_at, text_of_sanitised};
        use proptest::prelude::*;

        /// The plain text of sanitised HTML as first written (a `String`
        /// per tag name, `char` searches; entities decoded alike): the
        /// faster one must agree.
        fn text_of_sanitised_reference(html: &str) -> String {
            let mut out = String::with_capacity(html.len());
            let mut rest = html;
            while let Some(i) = rest.find(['<', '&']) {
                out.push_str(&rest[..i]);
                rest = &rest[i..];
                if rest.starts_with('<') {
                    let end = rest.find('>').map_or(rest.len(), |e| e + 1);
                    let name: String = rest[1..end]
                        .trim_start_matches('/')
                        .chars()
                        .take_while(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    if BLOCK.contains(&name.as_str()) {
                        out.push(' ');
                    }
                    rest = &rest[end..];
                } else {
                    let (text, len) = entity_at(rest);
                    out.push_str(text);
                    rest = &rest[len..];
                }
            }
            out.push_str(rest);
            collapse_ws(&out)
        }

        fn fragment() -> impl Strategy<Value = String> {
            let pieces = prop::sample::select(vec![
                "<p>",
                "</p>",
                "<br>",
                "<BR/>",
                "</Li>",
                "<b>",
                "</b>",
                "<a href=\"x\">",
                "</a>",
                "<h2 class=x>",
                "<tr",
                "<",
                ">",
                "&amp;",
                "&lt;",
                "&gt;",
                "&nbsp;",
                "&quot;",
                "&#39;",
                "&",
                "&am",
                " ",
                "\t",
                "\n\r",
                "\u{a0}",
                "\u{85}",
                "\u{2003}",
                "\u{3000}",
                "©",
                "ሀ",
                "あ",
                "\u{1680}",
                "\u{202f}",
                "\u{205f}",
                "\u{2028}",
                "\u{1c}",
                "\u{c2a0}",
                "\u{e1}",
                "\u{2060}",
                "é",
                "中",
                "word",
                "W2",
            ]);
            prop::collection::vec(pieces.prop_map(str::to_owned), 0..16).prop_map(|p| p.concat())
        }

        /// White space collapsed as first written (a `char` split, a word
        /// at a time): the faster one must agree.
        fn collapse_ws_reference(s: &str) -> String {
            let mut out = String::with_capacity(s.len());
            for word in s.split(|c: char| c.is_whitespace() || c == '\u{a0}') {
                if word.is_empty() {
                    continue;
                }
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]
            #[test]
            fn text_of_sanitised_matches_the_reference(html in fragment()) {
                prop_assert_eq!(text_of_sanitised(&html), text_of_sanitised_reference(&html));
            }

            #[test]
            fn collapse_ws_matches_the_reference(text in fragment(), any in "\\PC{0,40}") {
                prop_assert_eq!(collapse_ws(&text), collapse_ws_reference(&text));
                prop_assert_eq!(collapse_ws(&any), collapse_ws_reference(&any));
            }
        }
    }

    mod shortcut_property {
        use super::super::is_plain_markup;
        use proptest::prelude::*;

        fn fragment() -> impl Strategy<Value = String> {
            let tags = prop::sample::select(vec![
                "<p>",
                "</p>",
                "<b>",
                "</b>",
                "<i>",
                "</i>",
                "<em>",
                "</em>",
                "<strong>",
                "</strong>",
                "<br>",
                "<a>",
                "</a>",
                "<div>",
                "</div>",
                "<br/>",
                "<P>",
                "</br>",
            ]);
            let text = "[a-z \\n\\t\\r\\x00\\x0b\\x0c\\x7f\\u{80}-\\u{a0}é中\\u{feff}\\u{fffe}'\"&;<>]{0,6}";
            prop::collection::vec(prop_oneof![tags.prop_map(str::to_owned), text], 0..12)
                .prop_map(|parts| parts.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]
            #[test]
            fn never_differs_from_ammonia(html in fragment()) {
                if is_plain_markup(&html) {
                    prop_assert_eq!(ammonia::clean(&html), html);
                }
            }
        }
    }

    #[test]
    fn sanitise_removes_active_content() {
        let out = sanitise(
            r#"<p onclick="x()">hi <img src=x onerror=alert(1)><script>bad()</script><a href="https://a.example/">l</a></p>"#,
        );
        assert!(
            !out.contains("onerror") && !out.contains("onclick") && !out.contains("script"),
            "{out}"
        );
        assert!(out.contains("noopener"), "{out}");
        assert_eq!(sanitise("a < b"), "a &lt; b");
    }

    #[test]
    fn html_detection() {
        assert!(looks_like_html("<!DOCTYPE html><html>"));
        assert!(looks_like_html("\n <html lang=en>"));
        assert!(looks_like_html("<?xml version=\"1.0\"?><!-- x --><html>"));
        assert!(!looks_like_html("<?xml version=\"1.0\"?><rss version=\"2.0\">"));
        assert!(!looks_like_html(
            "{\"version\": \"https://jsonfeed.org/version/1.1\"}"
        ));
    }

    #[test]
    fn discovery_resolves_relative_links() {
        let base = Url::parse("https://news.example/section/page.html").unwrap();
        let html = r#"<html><head>
            <link rel="stylesheet" href="/s.css">
            <link rel="alternate" type="application/rss+xml" href="/feed.xml">
            <link rel="alternate" type="application/atom+xml" href="atom.xml">
            <link rel="alternate" type="text/html" href="/fr/">
            </head></html>"#;
        assert_eq!(
            discover_feeds(html, &base),
            vec![
                "https://news.example/feed.xml",
                "https://news.example/section/atom.xml"
            ]
        );
    }
}
