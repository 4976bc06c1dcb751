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
    let mut url = Url::parse(raw.trim()).ok()?;
    if url.cannot_be_a_base() {
        return None;
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, v)| !k.is_empty() && !is_tracking(k, v))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            pairs.sort();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    let mut s = String::from(url);
    // `https://a.example/x/` and `https://a.example/x` are one page.
    if s.ends_with('/') && s.matches('/').count() > 3 {
        s.pop();
    }
    Some(s)
}

/// Fingerprint of an article's visible content: title and text, case and
/// white space folded. Equal fingerprints mean an exact copy.
pub fn content_hash(title: &str, text: &str) -> u64 {
    let mut buf = String::with_capacity(title.len() + text.len() + 1);
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

    #[test]
    fn content_hash_folds_case_and_space() {
        assert_eq!(content_hash("US  Bans", "a\nb"), content_hash("us bans", "a b"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
    }
}
