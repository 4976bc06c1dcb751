//! Character sets: find a document's encoding (BOM, HTTP header, XML
//! declaration) and transcode it to UTF-8 before any parser sees it.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// The document as UTF-8, with its XML declaration (if any) rewritten to say
/// UTF-8 so that no later parser decodes it a second time.
pub fn to_utf8<'a>(bytes: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let encoding = Encoding::for_bom(bytes)
        .map(|(enc, _)| enc)
        .or_else(|| utf16_without_bom(bytes))
        .or_else(|| content_type.and_then(charset_param))
        .or_else(|| xml_declared(bytes))
        .unwrap_or(UTF_8);
    let encoding = if encoding == UTF_8 {
        match std::str::from_utf8(strip_utf8_bom(bytes)) {
            // What decoding would give, without checking the bytes again.
            Ok(text) => return rewrite_declaration(Cow::Borrowed(text)),
            // Undeclared legacy text: the web's usual default.
            Err(_) => WINDOWS_1252,
        }
    } else {
        encoding
    };
    let (text, _) = encoding.decode_with_bom_removal(bytes);
    rewrite_declaration(text)
}

/// UTF-16 without a byte-order mark, recognised by `<?` or `<` followed by
/// NUL bytes (XML 1.0, appendix F).
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    match bytes {
        [0, b'<', 0, _, ..] => Some(encoding_rs::UTF_16BE),
        [b'<', 0, _, 0, ..] => Some(encoding_rs::UTF_16LE),
        _ => None,
    }
}

fn strip_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The `charset=` parameter of a Content-Type header.
fn charset_param(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(v.trim().trim_matches('"').as_bytes()))
            .flatten()
    })
}

/// The `encoding=` of an ASCII-compatible XML declaration.
fn xml_declared(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(512)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = &head[..end];
    let pos = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = &decl[pos + 8..];
    let q = rest.iter().position(|b| *b == b'"' || *b == b'\'')?;
    let quote = rest[q];
    let value = &rest[q + 1..];
    let close = value.iter().position(|b| *b == quote)?;
    let enc = Encoding::for_label(&value[..close])?;
    // A declaration of UTF-16 in an ASCII-readable document is a lie: the
    // bytes are ASCII-compatible.
    (enc.is_ascii_compatible()).then_some(enc)
}

fn rewrite_declaration(text: Cow<'_, str>) -> Cow<'_, str> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("<?xml") {
        return text;
    }
    let Some(end) = trimmed.find("?>") else {
        return text;
    };
    let decl = &trimmed[..end];
    // A declaration of UTF-8 is true of the text now: keep it, and the
    // text uncopied.
    if !decl.contains("encoding") || xml_declared(trimmed.as_bytes()) == Some(UTF_8) {
        return text;
    }
    let rest = &trimmed[end + 2..];
    Cow::Owned(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_declared_in_xml() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><t>".to_vec();
        bytes.extend_from_slice(&[0x50, 0xE9, 0x6B, 0x69, 0x6E]); // "Pékin"
        bytes.extend_from_slice(b"</t></rss>");
        let text = to_utf8(&bytes, Some("application/xml"));
        assert!(text.contains("Pékin"), "{text}");
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{text}"
        );
    }

    #[test]
    fn http_charset_wins_over_declaration() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><a>\xE9</a>";
        let text = to_utf8(bytes, Some("text/xml; charset=\"iso-8859-1\""));
        assert!(text.contains("<a>é</a>"), "{text}");
    }

    #[test]
    fn utf16_with_bom() {
        for be in [false, true] {
            let src = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\">中国</rss>";
            let mut bytes = if be { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
            for u in src.encode_utf16() {
                let b = if be { u.to_be_bytes() } else { u.to_le_bytes() };
                bytes.extend_from_slice(&b);
            }
            let text = to_utf8(&bytes, None);
            assert!(text.contains("中国"), "{text}");
            assert!(text.contains("encoding=\"UTF-8\""), "{text}");
        }
    }

    #[test]
    fn utf8_is_borrowed_and_its_byte_order_mark_dropped() {
        let plain = "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss>中国</rss>";
        let text = to_utf8(plain.as_bytes(), None);
        assert!(matches!(text, Cow::Borrowed(_)), "no copy of valid UTF-8");
        assert_eq!(text, plain);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), plain.as_bytes()].concat();
        assert_eq!(to_utf8(&with_bom, Some("text/xml; charset=utf-8")), plain);
    }

    #[test]
    fn invalid_utf8_without_declaration_falls_back() {
        let text = to_utf8(b"<rss>caf\xE9</rss>", None);
        assert_eq!(text, "<rss>café</rss>");
    }
}
