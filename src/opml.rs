//! OPML 2.0 subscription lists, in and out. Pure.

use quick_xml::escape::escape;
use quick_xml::events::Event;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    pub url: String,
    pub title: Option<String>,
    pub lang: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("not a valid OPML document: {0}")]
    Xml(String),
    #[error("the OPML document lists no feeds (no outline has an xmlUrl)")]
    Empty,
}

/// Every `<outline xmlUrl=…>` at any depth, in document order.
pub fn parse(text: &str) -> Result<Vec<Outline>, OpmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = Vec::new();
    let mut saw_opml = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let name = e.name();
                if name.as_ref() == "opml" {
                    saw_opml = true;
                }
                if name.as_ref() != "outline" {
                    continue;
                }
                let mut url = None;
                let mut title = None;
                let mut text_attr = None;
                let mut lang = None;
                for attr in e.attributes().flatten() {
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| OpmlError::Xml(e.to_string()))?
                        .trim()
                        .to_owned();
                    if value.is_empty() {
                        continue;
                    }
                    match attr.key.as_ref() {
                        "xmlUrl" | "xmlurl" => url = Some(value),
                        "title" => title = Some(value),
                        "text" => text_attr = Some(value),
                        "language" => lang = Some(value),
                        _ => {}
                    }
                }
                if let Some(url) = url {
                    out.push(Outline {
                        url,
                        title: title.or(text_attr),
                        lang,
                    });
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(OpmlError::Xml(e.to_string())),
        }
    }
    if !saw_opml {
        return Err(OpmlError::Xml("there is no <opml> element".into()));
    }
    if out.is_empty() {
        return Err(OpmlError::Empty);
    }
    Ok(out)
}

/// An OPML 2.0 document listing `outlines`.
pub fn write(title: &str, outlines: &[Outline]) -> String {
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    s.push_str(&format!(
        "    <title>{}</title>\n  </head>\n  <body>\n",
        escape(title)
    ));
    for o in outlines {
        let label = o.title.as_deref().unwrap_or(&o.url);
        s.push_str(&format!(
            "    <outline type=\"rss\" text=\"{}\" title=\"{}\" xmlUrl=\"{}\"",
            escape(label),
            escape(label),
            escape(o.url.as_str())
        ));
        if let Some(lang) = &o.lang {
            s.push_str(&format!(" language=\"{}\"", escape(lang.as_str())));
        }
        s.push_str("/>\n");
    }
    s.push_str("  </body>\n</opml>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let list = vec![
            Outline {
                url: "https://a.example/feed?x=1&y=2".into(),
                title: Some("A & B".into()),
                lang: Some("fr".into()),
            },
            Outline {
                url: "https://b.example/rss".into(),
                title: None,
                lang: None,
            },
        ];
        let doc = write("subs", &list);
        let back = parse(&doc).unwrap();
        assert_eq!(back[0], list[0]);
        assert_eq!(back[1].url, list[1].url);
    }

    #[test]
    fn nested_outlines_and_errors() {
        let doc = r#"<opml version="1.0"><body><outline text="Tech"><outline text="X" xmlUrl="https://x.example/f"/></outline></body></opml>"#;
        assert_eq!(parse(doc).unwrap()[0].title.as_deref(), Some("X"));
        assert!(matches!(parse("<opml><body/></opml>"), Err(OpmlError::Empty)));
        assert!(parse("<html></html>").is_err());
        assert!(parse("<opml><body><outline xmlUrl=\"a").is_err());
    }
}
