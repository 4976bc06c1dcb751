//! Versioned schema. Append migrations; never edit one that has shipped.

use rusqlite_migration::{M, Migrations};

const V1: &str = "
CREATE TABLE feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT,
    lang TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    title TEXT,
    site_url TEXT,
    feed_lang TEXT,
    ttl_minutes INTEGER,
    etag TEXT,
    last_modified TEXT,
    last_fetch INTEGER,
    last_ok INTEGER,
    last_status TEXT,
    last_error TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    retry_after INTEGER,
    discovered_url TEXT
);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds(id),
    guid TEXT NOT NULL,
    url TEXT,
    canonical_url TEXT,
    title TEXT NOT NULL,
    summary_text TEXT NOT NULL,
    summary_html TEXT NOT NULL,
    lang TEXT,
    published INTEGER,
    first_seen INTEGER NOT NULL,
    updated_at INTEGER,
    content_hash INTEGER NOT NULL
);
CREATE UNIQUE INDEX articles_canonical_url ON articles(canonical_url) WHERE canonical_url IS NOT NULL;
CREATE INDEX articles_content_hash ON articles(content_hash);

CREATE TABLE feed_articles (
    feed_id INTEGER NOT NULL REFERENCES feeds(id),
    guid TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (feed_id, guid)
) WITHOUT ROWID;
CREATE INDEX feed_articles_article ON feed_articles(article_id);

CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, summary_text, content='articles', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
-- Merge index segments less eagerly: crawls insert in batches.
INSERT INTO articles_fts(articles_fts, rank) VALUES('automerge', 16);
-- No triggers: `store` indexes a feed's new articles in one statement per
-- transaction (a trigger per row makes FTS5 flush a tiny segment per row).
";

const V2: &str = "
CREATE TABLE classifications (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    relevant INTEGER NOT NULL,
    score REAL NOT NULL,
    event TEXT,
    chips TEXT NOT NULL,
    entities TEXT NOT NULL,
    lang TEXT,
    evidence TEXT NOT NULL,
    profile TEXT NOT NULL,
    classified_at INTEGER NOT NULL
);
-- Only relevant articles are looked up by decision (the story pass).
CREATE INDEX classifications_relevant ON classifications(article_id) WHERE relevant = 1;
";

const V3: &str = "
ALTER TABLE articles ADD COLUMN minhash BLOB;
CREATE TABLE lsh (
    key INTEGER NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    PRIMARY KEY (key, article_id)
) WITHOUT ROWID;

";

const V4: &str = "
CREATE TABLE stories (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    event TEXT NOT NULL,
    first_article INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    size INTEGER NOT NULL,
    features TEXT NOT NULL
);
CREATE INDEX stories_last_seen ON stories(last_seen);
CREATE TABLE story_features (
    feature TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    PRIMARY KEY (feature, story_id)
) WITHOUT ROWID;
CREATE TABLE story_members (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    score REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX story_members_story ON story_members(story_id);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    story_id INTEGER REFERENCES stories(id) ON DELETE SET NULL,
    article_id INTEGER REFERENCES articles(id) ON DELETE SET NULL,
    event TEXT,
    severity TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    created_at INTEGER NOT NULL,
    acked_at INTEGER,
    reason TEXT NOT NULL
);
CREATE UNIQUE INDEX alerts_article ON alerts(article_id) WHERE article_id IS NOT NULL;
CREATE INDEX alerts_state ON alerts(state, created_at);
";

/// The daemon: per-feed schedule and floors, broken feeds and their
/// alerts, and the daemon's own status row.
const V5: &str = "
ALTER TABLE feeds ADD COLUMN update_period_secs INTEGER;
ALTER TABLE feeds ADD COLUMN max_age_secs INTEGER;
ALTER TABLE feeds ADD COLUMN next_poll INTEGER;
ALTER TABLE feeds ADD COLUMN interval_secs INTEGER;
ALTER TABLE feeds ADD COLUMN interval_reason TEXT;
ALTER TABLE feeds ADD COLUMN broken_since INTEGER;
CREATE INDEX feeds_next_poll ON feeds(next_poll) WHERE active = 1;
ALTER TABLE alerts ADD COLUMN feed_id INTEGER REFERENCES feeds(id) ON DELETE CASCADE;
-- At most one open feed-broken alert per feed, whatever restarts happen.
CREATE UNIQUE INDEX alerts_feed_broken ON alerts(feed_id)
    WHERE kind = 'feed-broken' AND state IN ('new', 'acknowledged');
CREATE TABLE daemon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    started INTEGER NOT NULL,
    stopped INTEGER,
    last_cycle INTEGER,
    last_summary TEXT
);
";

/// The search index is filled lazily: articles up to `indexed_through` are
/// in it, and a search first indexes the rest. A crawl does not pay for an
/// index until someone searches.
const V6: &str = "
CREATE TABLE search_index (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through INTEGER NOT NULL
);
INSERT INTO search_index (id, indexed_through) SELECT 1, COALESCE(MAX(id), 0) FROM articles;
";

/// Follow-ups: a relevant article that reports on an earlier development
/// joins that development's story instead of opening one.
const V7: &str = "
ALTER TABLE classifications ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0;
";

/// Relevant articles not yet in a story, so that the story pass reads
/// only those, not every relevant article ever stored.
const V8: &str = "
CREATE TABLE story_pending (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE
);
INSERT INTO story_pending (article_id)
    SELECT c.article_id FROM classifications c
    WHERE c.relevant = 1 AND c.event IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM story_members m WHERE m.article_id = c.article_id);
";

/// Every classification in a small index: `has_unclassified` counts them
/// on each crawl, and counting the table itself reads every decision's
/// evidence (milliseconds on a database of some ten thousand articles).
/// It serves the lookups by relevance the partial index served.
const V9: &str = "
DROP INDEX classifications_relevant;
CREATE INDEX classifications_relevant ON classifications(relevant, article_id);
";

pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

const MIGRATIONS: &[M<'static>] = &[
    M::up(V1),
    M::up(V2),
    M::up(V3),
    M::up(V4),
    M::up(V5),
    M::up(V6),
    M::up(V7),
    M::up(V8),
    M::up(V9),
];

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
