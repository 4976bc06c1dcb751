//! Article identity, pure: canonical URLs and content fingerprints.

use url::Url;
use xxhash_rust::xxh3::xxh3_64;

/// Query parameters that only track the reader, never select content.
const TRACKING_EXACT: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "ttclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "rb_clickid",
    "s_cid",
    "ncid",
    "ocid",
    "cmpid",
    "xtor",
    "ito",
    "ns_mchannel",
    "ns_source",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "sr_share",
    "spm",
    "share",
    "smid",
    "guccounter",
    "guce_referrer",
    "guce_referrer_sig",
    "__twitter_impression",
    "rss",
    "ref_src",
    "ref_url",
    "cid",
    "src",
];
/// Prefixes of tracking parameters (`utm_source`, `at_medium`, ...).
const TRACKING_PREFIX: &[&str] = &["utm_", "at_", "pk_", "mtm_", "hsa_", "__s"];

fn is_tracking(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    TRACKING_EXACT.contains(&k.as_str())
        || TRACKING_PREFIX.iter().any(|p| k.starts_with(p))
        // Feed-placement markers such as `mod=rss_Technology`.
        || (k == "mod" && value.to_ascii_lowercase().starts_with("rss"))
}

/// The URL that identifies an article across feeds: scheme and host in lower
/// case (the `url` crate does that), default port and fragment dropped,
/// tracking parameters removed, remaining query sorted by key. `None` for a
/// string that is not an absolute URL.
pub fn canonical_url(raw: &str) -> Option<String> {
    canonical_of(Url::parse(raw.trim()).ok()?)
}

/// [`canonical_url`] of a URL parsed already (the feed parser has each
/// item's link parsed: parsing it again cost about 3% of a cold crawl).
pub fn canonical_of(mut url: Url) -> Option<String> {
    if url.cannot_be_a_base() {
        return None;
    }
    url.set_fragment(None);
    if let Some(q) = url.query() {
        // Form data holds no byte the query would encode again.
        let query = canonical_query(q.as_bytes());
        url.set_query(query.as_deref());
    }
    let mut s = String::from(url);
    drop_trailing_slash(&mut s);
    Some(s)
}

/// A query without its tracking parameters, the rest sorted and written
/// as form data; `None` when nothing is left.
fn canonical_query(query: &[u8]) -> Option<String> {
    let mut pairs: Vec<(_, _)> = form_urlencoded::parse(query)
        .filter(|(k, v)| !k.is_empty() && !is_tracking(k, v))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    pairs.sort();
    Some(
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish(),
    )
}

/// `https://a.example/x/` and `https://a.example/x` are one page.
fn drop_trailing_slash(s: &mut String) {
    if s.ends_with('/') && s.bytes().filter(|&c| c == b'/').count() > 3 {
        s.pop();
    }
}

/// [`canonical_url`] of `s` when `s` is a plain http(s) URL written
/// exactly as the `url` crate writes a parsed URL, so that parsing it would
/// change nothing; `None` when that cannot be seen without parsing (the
/// caller parses). Feed parsers hand over links they have already parsed
/// and written back: a third of the links of a crawl then need no parse,
/// each about 5,700 instructions (3.5% of a cold crawl).
///
/// Plain means: lower-case scheme and host of ASCII letters, digits, dots
/// and hyphens (no IP address, no punycode label), no user or port, a path
/// that starts with `/` and has no dot segment, and no byte the parser
/// would percent-encode, drop or treat as a separator (controls, space,
/// `\`, non-ASCII, and per component what WHATWG's percent-encode sets
/// list).
pub fn canonical_of_plain(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let rest = b
        .strip_prefix(b"https://")
        .or_else(|| b.strip_prefix(b"http://"))?;
    let host_end = rest.iter().position(|&c| c == b'/')?;
    let host = &rest[..host_end];
    let mut labels = host.split(|&c| c == b'.').peekable();
    while let Some(label) = labels.next() {
        let ok = !label.is_empty()
            && !label.starts_with(b"xn--")
            && label.iter().all(|&c| PLAIN[usize::from(c)] & HOST != 0)
            // A last label that starts with a digit may be read as IPv4.
            && (labels.peek().is_some() || !label[0].is_ascii_digit());
        if !ok {
            return None;
        }
    }
    let after_host = &rest[host_end..];
    let (before_fragment, fragment) = match memchr::memchr(b'#', after_host) {
        Some(i) => (&after_host[..i], &after_host[i + 1..]),
        None => (after_host, &b""[..]),
    };
    let (path, query) = match memchr::memchr(b'?', before_fragment) {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let all = |bytes: &[u8], set: u8| bytes.iter().all(|&c| PLAIN[usize::from(c)] & set != 0);
    if !(all(path, PATH) && query.is_none_or(|q| all(q, QUERY)) && all(fragment, FRAGMENT)) {
        return None;
    }
    // Dot segments, plain or percent-encoded (`.`, `..`, `%2e`), are
    // resolved away by a parse.
    let dot_segment = memchr::memchr_iter(b'.', path).any(|i| {
        let before = path[i - 1]; // the path starts with '/'
        let after = path.get(i + 1).copied();
        (before == b'/' || (before == b'.' && path[i - 2] == b'/'))
            && matches!(after, None | Some(b'/' | b'.'))
            && (after != Some(b'.') || matches!(path.get(i + 2), None | Some(b'/')))
    });
    let encoded_dot = memchr::memchr_iter(b'%', path).any(|i| {
        path.get(i + 1..i + 3)
            .is_some_and(|h| h.eq_ignore_ascii_case(b"2e"))
    });
    if dot_segment || encoded_dot {
        return None;
    }
    let base = &s[..s.len() - after_host.len() + path.len()];
    let mut out = base.to_owned();
    if let Some(query) = query.and_then(canonical_query) {
        out.push('?');
        out.push_str(&query);
    }
    drop_trailing_slash(&mut out);
    Some(out)
}

/// Bytes [`canonical_of_plain`] accepts, by component: the visible ASCII
/// characters less those WHATWG's percent-encode sets (path, special
/// query, fragment) would encode, and `\`, a path separator.
const PLAIN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'!';
    while c <= b'~' {
        let mut bits = PATH | QUERY | FRAGMENT;
        if matches!(c, b'"' | b'<' | b'>') {
            bits = 0;
        }
        if matches!(c, b'`' | b'{' | b'}' | b'\\' | b'#' | b'?') {
            bits &= !PATH;
        }
        if matches!(c, b'\'' | b'#') {
            bits &= !QUERY;
        }
        if c == b'`' {
            bits &= !FRAGMENT;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' {
            bits |= HOST;
        }
        t[c as usize] = bits;
        c += 1;
    }
    t
};
const PATH: u8 = 1;
const QUERY: u8 = 2;
const FRAGMENT: u8 = 4;
const HOST: u8 = 8;

/// Fingerprint of an article's visible content: title and text, case and
/// white space folded. Equal fingerprints mean an exact copy.
pub fn content_hash(title: &str, text: &str) -> u64 {
    let mut buf: Vec<u8> = Vec::with_capacity(title.len() + text.len() + 1);
    for part in [title, "\u{1}", text] {
        if part.is_ascii() {
            let bytes = part.as_bytes();
            // Text already collapsed (single spaces, none at the ends, as
            // the feed parser's plain text is) folds to itself in lower case.
            let collapsed = bytes.first() != Some(&b' ')
                && bytes.last() != Some(&b' ')
                && !bytes.iter().any(|&c| (b'\t'..=b'\r').contains(&c))
                && memchr::memmem::find(bytes, b"  ").is_none();
            if collapsed {
                let start = buf.len();
                buf.extend_from_slice(bytes);
                buf[start..].make_ascii_lowercase();
                continue;
            }
            // The same bytes as the general path below, a word at a time
            // without decoding: ASCII white space is `' '` and
            // `'\t'..='\r'`, and ASCII letters lower-case to ASCII letters.
            let words = part
                .as_bytes()
                .split(|b| matches!(b, b' ' | b'\t'..=b'\r'))
                .filter(|w| !w.is_empty());
            for (i, word) in words.enumerate() {
                if i > 0 {
                    buf.push(b' ');
                }
                let start = buf.len();
                buf.extend_from_slice(word);
                buf[start..].make_ascii_lowercase();
            }
            continue;
        }
        // One pass: ASCII bytes as they are, other characters decoded one
        // at a time. A space goes between words, none at either end.
        let (mut word, mut space) = (false, false);
        let mut i = 0;
        while let Some(&b) = part.as_bytes().get(i) {
            let c = if b.is_ascii() {
                i += 1;
                char::from(b)
            } else {
                let c = part[i..].chars().next().expect("i is on a character boundary");
                i += c.len_utf8();
                c
            };
            if c.is_whitespace() {
                space = word;
                continue;
            }
            if std::mem::take(&mut space) {
                buf.push(b' ');
            }
            word = true;
            if c.is_ascii() {
                buf.push(c.to_ascii_lowercase() as u8);
            } else {
                let mut utf8 = [0; 4];
                for l in c.to_lowercase() {
                    buf.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
    }
    xxh3_64(&buf)
}

/// Is there enough content for an exact-copy match across outlets to be
/// meaningful? A bare generic headline ("Daily briefing") is not.
pub fn copy_detectable(title: &str, text: &str) -> bool {
    title.chars().count() >= 15 && text.chars().count() >= 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(raw: &str, expected: Option<&str>) {
        assert_eq!(canonical_url(raw).as_deref(), expected, "{raw}");
    }

    #[test]
    fn canonical_urls() {
        check(
            "HTTPS://WWW.Example-Outlet.example:443/path?b=2&a=1&gclid=zzz#top",
            Some("https://www.example-outlet.example/path?a=1&b=2"),
        );
        check(
            "https://a.example/x.html?utm_source=rss&utm_medium=feed&fbclid=1",
            Some("https://a.example/x.html"),
        );
        check("http://a.example:80/x/", Some("http://a.example/x"));
        check("https://a.example/", Some("https://a.example/"));
        check(
            "https://a.example/t?mod=rss_Technology",
            Some("https://a.example/t"),
        );
        check(
            "https://a.example/t?mod=article_inline",
            Some("https://a.example/t?mod=article_inline"),
        );
        check(
            "https://a.example/p?id=7&page=2",
            Some("https://a.example/p?id=7&page=2"),
        );
        check("not a url", None);
        check("mailto:x@example.com", None);
    }

    /// The shortcut for plain links is taken for ordinary article links and
    /// gives what a parse gives; anything it cannot vouch for is parsed.
    #[test]
    fn plain_links_are_canonical_without_a_parse() {
        for s in [
            "https://www.example-outlet.example/2026/01/28/nvidia-h200?utm_source=rss&id=3#x",
            "http://a.example/x/",
            "https://a.example/",
            "https://a.example/p?b=a+b&a=%C3%A9&c",
        ] {
            assert!(canonical_of_plain(s).is_some(), "{s}");
            assert_eq!(canonical_of_plain(s), canonical_url(s), "{s}");
        }
        for s in [
            "HTTPS://a.example/",
            "https://A.example/",
            "https://a.example",
            "https://1.2.3.4/",
            "https://a.0x7f/",
            "https://a.example:8080/",
            "https://user@a.example/",
            "https://a.example/./x",
            "https://a.example/x/%2E%2e",
            "https://xn--bcher-kva.example/",
            "https://a.example/a b",
            "https://a.example/\u{e9}",
            "https://a.example/a\\b",
            "https://a.example/?q='",
            "ftp://a.example/",
        ] {
            assert_eq!(canonical_of_plain(s), None, "{s}");
        }
    }

    proptest::proptest! {
        // Cheap cases; the rare ones (a dot segment, a quote in a query)
        // need thousands to turn up.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8192))]
        #[test]
        fn plain_link_shortcut_agrees_with_the_parser(
            scheme in proptest::sample::select(&["https://", "http://", "HTTP://", "ftp://", "https:/", ""][..]),
            host in proptest::prop_oneof!["[a-z]{1,5}\\.example", "[a-z0-9]{1,3}\\.[a-z0-9]{1,3}", "[a-zA-Z0-9._@:-]{0,10}"],
            slash in proptest::bool::weighted(0.9),
            parts in proptest::collection::vec(proptest::sample::select(&[
                "/", "a", "b", "=", "&", "?", "#", "-", "_", ".", "%41", "+", "'", "`",
                "/", "/", "a", "Z", "9", ".", "..", "%2e", "%2E", "%", "%20", "%C3%A9", "\\", " ", "?", "?", "#",
                "'", "\"", "<", ">", "`", "{", "}", "\u{e9}", "&", "=", "utm_source=x", "b=1", "a=2", "+", "~",
                "|", "^", "[", "]", "\t", ":", "@", ";", "!", "$", "*", "(", ",", "mod=rss_x", "fbclid=", "=v",
                ":443", ":80", "xn--", "\u{0}", "\u{7f}",
            ][..]), 0..14),
        ) {
            let s = format!("{scheme}{host}{}{}", if slash { "/" } else { "" }, parts.concat());
            if let Some(c) = canonical_of_plain(&s) {
                let u = Url::parse(&s).expect("a plain link parses");
                proptest::prop_assert_eq!(u.as_str(), s.as_str());
                proptest::prop_assert_eq!(canonical_of(u), Some(c));
            }
        }
    }

    #[test]
    fn content_hash_folds_case_and_space() {
        assert_eq!(content_hash("US  Bans", "a\nb"), content_hash("us bans", "a b"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
    }

    /// The fingerprint as first written (every word folded through
    /// `char::to_lowercase`): stored fingerprints must keep matching.
    fn content_hash_reference(title: &str, text: &str) -> u64 {
        let mut buf = String::new();
        for part in [title, "\u{1}", text] {
            for (i, word) in part.split_whitespace().enumerate() {
                if i > 0 {
                    buf.push(' ');
                }
                buf.extend(word.chars().flat_map(char::to_lowercase));
            }
        }
        xxh3_64(buf.as_bytes())
    }

    proptest::proptest! {
        #[test]
        fn content_hash_matches_the_reference_on_any_text(
            title in "[aZ \t\n\x0b\x0c\r\x1cÉß\u{a0}\u{1}]{0,12}",
            text in "[bY \t\n\x0b\x0c\r\x1fΣ中\u{2003}\u{1}]{0,24}",
        ) {
            proptest::prop_assert_eq!(content_hash(&title, &text), content_hash_reference(&title, &text));
        }
    }

    #[test]
    fn content_hash_ascii_fast_path_matches_the_reference() {
        for (title, text) in [
            (
                "US Bans H20 Sales",
                "The Commerce Department\tsaid\x0bon Friday\r\n it ADDED 36 firms.",
            ),
            ("", ""),
            ("  ", "\u{a0}x\u{2003}Y "),
            ("Export ÉCHEC İstanbul", "Straße ΣΊΣΥΦΟΣ 中国 MiXeD ascii"),
            ("\u{1}", "a\u{1}B"),
            (" \x0c lead and trail \x0b", "\t\t"),
            ("MiXeD ascii", "and ünïcode\u{a0}words  Here "),
            ("a \t\n\x0b\x0c\r b", "\x1c\x1f x \x1c"),
            ("\n", " only  space \r\n"),
            (
                "Already Collapsed Title",
                "One space Between Words, none at the ends.",
            ),
            ("x", "y"),
            ("Two  Spaces", "trailing "),
        ] {
            assert_eq!(
                content_hash(title, text),
                content_hash_reference(title, text),
                "{title:?} {text:?}"
            );
        }
    }
}

/// Number of MinHash permutations in a signature.
pub const MINHASH_LEN: usize = 64;
/// LSH bands (of `MINHASH_LEN / LSH_BANDS` rows each).
pub const LSH_BANDS: usize = 8;
/// Estimated Jaccard similarity at or above which two texts are one article.
pub const NEAR_DUPLICATE: f32 = 0.8;

/// Shingles of a text: word 3-grams for spaced scripts, character 3-grams
/// for CJK runs; hashed.
fn shingles(text: &str) -> Vec<u64> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    let mut words: Vec<&str> = Vec::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<u64>| {
        if cjk.len() < 3 && !cjk.is_empty() {
            out.push(xxh3_64(cjk.iter().collect::<String>().as_bytes()));
        }
        for w in cjk.windows(3) {
            let s: String = w.iter().collect();
            out.push(xxh3_64(s.as_bytes()));
        }
        cjk.clear();
    };
    for token in lower.split(|c: char| !c.is_alphanumeric()) {
        if token.is_empty() {
            continue;
        }
        if token.chars().any(crate::classify::normalize::is_cjk) {
            for c in token.chars() {
                if crate::classify::normalize::is_cjk(c) {
                    cjk.push(c);
                } else {
                    flush_cjk(&mut cjk, &mut out);
                }
            }
            flush_cjk(&mut cjk, &mut out);
        } else {
            words.push(token);
        }
    }
    if words.len() < 3 {
        out.extend(words.iter().map(|w| xxh3_64(w.as_bytes())));
    }
    for w in words.windows(3) {
        out.push(xxh3_64(w.join(" ").as_bytes()));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// MinHash signature of a text (empty when the text has no words).
pub fn minhash(text: &str) -> Vec<u32> {
    let sh = shingles(text);
    if sh.is_empty() {
        return Vec::new();
    }
    (0..MINHASH_LEN as u64)
        .map(|i| {
            // One cheap hash family: mix each shingle with the permutation seed.
            let seed = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            sh.iter()
                .map(|h| {
                    let x = (h ^ seed).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    ((x ^ (x >> 31)) >> 32) as u32
                })
                .min()
                .unwrap_or(u32::MAX)
        })
        .collect()
}

/// Estimated Jaccard similarity of two signatures.
pub fn similarity(a: &[u32], b: &[u32]) -> f32 {
    if a.len() != MINHASH_LEN || b.len() != MINHASH_LEN {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f32 / MINHASH_LEN as f32
}

/// LSH keys of a signature: one per band, the band number mixed in.
pub fn lsh_keys(sig: &[u32]) -> Vec<i64> {
    if sig.len() != MINHASH_LEN {
        return Vec::new();
    }
    let rows = MINHASH_LEN / LSH_BANDS;
    sig.chunks(rows)
        .enumerate()
        .map(|(band, rows)| {
            let mut buf = Vec::with_capacity(rows.len() * 4 + 1);
            buf.push(band as u8);
            for r in rows {
                buf.extend_from_slice(&r.to_le_bytes());
            }
            xxh3_64(&buf) as i64
        })
        .collect()
}

/// A signature as bytes for storage, and back.
pub fn sig_to_bytes(sig: &[u32]) -> Vec<u8> {
    sig.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn sig_from_bytes(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod near_dup_tests {
    use super::*;

    #[test]
    fn near_copies_are_similar_and_others_are_not() {
        let a = "Biden administration adds Chinese chip firms to trade blacklist. The Commerce Department said \
                 on Friday it added 36 Chinese companies including memory maker YMTC to its entity list.";
        let b = "Biden administration adds Chinese chip firms to trade blacklist - The Commerce Department said \
                 Friday it added 36 Chinese companies, including memory maker YMTC, to its entity list.";
        let c = "China approves first wave of Nvidia H200 imports for Alibaba and other cloud firms after \
                 the US allowed targeted sales late last year.";
        let (sa, sb, sc) = (minhash(a), minhash(b), minhash(c));
        assert!(similarity(&sa, &sb) >= NEAR_DUPLICATE, "{}", similarity(&sa, &sb));
        assert!(similarity(&sa, &sc) < 0.2);
        assert!(lsh_keys(&sa).iter().zip(lsh_keys(&sb)).any(|(x, y)| *x == y));
        assert_eq!(sig_from_bytes(&sig_to_bytes(&sa)), sa);
        // CJK text without spaces gets character shingles.
        let z1 = minhash("中国批准首批英伟达H200芯片进口，阿里巴巴等云服务商获准采购");
        let z2 = minhash("中国批准首批英伟达H200芯片进口，阿里巴巴等云服务商获准采购。");
        assert!(similarity(&z1, &z2) > 0.9);
        assert!(minhash("").is_empty());
    }
}
