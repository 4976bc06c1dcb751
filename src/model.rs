//! Plain data shared by the modules: no IO, no behaviour beyond accessors.

use chrono::{DateTime, Utc};

/// Row id of a feed in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedId(pub i64);

/// Row id of an article in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArticleId(pub i64);

impl std::fmt::Display for FeedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for ArticleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A feed document after parsing: what the publisher said about itself and its items.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    /// Declared language (`<language>`, `xml:lang`), lower-cased primary tag.
    pub lang: Option<String>,
    /// `<ttl>` in minutes, when the feed sets one.
    pub ttl_minutes: Option<u32>,
    /// `sy:updatePeriod` ÷ `sy:updateFrequency` in seconds, when the feed sets them.
    pub update_period_secs: Option<u64>,
    pub items: Vec<ParsedItem>,
}

/// One entry of a feed, cleaned up: text decoded, HTML sanitised.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedItem {
    /// The publisher's id (`<guid>`, `<id>`, JSON `id`), if it gave one.
    pub guid: Option<String>,
    /// The article's link, absolute.
    pub url: Option<String>,
    /// `dedup::canonical_url` of `url`, worked out by the parser, which has
    /// the link parsed already.
    pub canonical_url: Option<String>,
    pub title: String,
    /// Summary (or content when no summary) as plain text.
    pub summary_text: String,
    /// Summary as sanitised HTML, safe to show in a page.
    pub summary_html: String,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub lang: Option<String>,
}

/// A feed as the crawler sees it: its identity and the state of its last fetch.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// How an article relates to developments reported before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reference {
    /// Nothing in it points back at an earlier development.
    #[default]
    None,
    /// It points back at an earlier development, and its headline
    /// announces one as well.
    RefersBack,
    /// It points back at, or reacts to, an earlier development, and its
    /// headline announces none of its own: a follow-up.
    FollowUp,
}

impl Reference {
    /// As stored: 0, 1, 2.
    pub fn as_i64(self) -> i64 {
        match self {
            Reference::None => 0,
            Reference::RefersBack => 1,
            Reference::FollowUp => 2,
        }
    }

    pub fn from_i64(v: i64) -> Self {
        match v {
            1 => Reference::RefersBack,
            2 => Reference::FollowUp,
            _ => Reference::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reference::None => "none",
            Reference::RefersBack => "refers back",
            Reference::FollowUp => "follow-up",
        }
    }
}

/// The kind of development an article reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    Approval,
    Restriction,
    Enforcement,
    Retaliation,
    Market,
    Analysis,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Approval,
        EventType::Restriction,
        EventType::Enforcement,
        EventType::Retaliation,
        EventType::Market,
        EventType::Analysis,
    ];
    pub const NAMES: [&'static str; 6] = [
        "approval",
        "restriction",
        "enforcement",
        "retaliation",
        "market",
        "analysis",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }

    /// A new development (as opposed to commentary or market news): these
    /// raise alerts.
    pub fn is_development(self) -> bool {
        matches!(
            self,
            EventType::Approval | EventType::Restriction | EventType::Enforcement | EventType::Retaliation
        )
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
