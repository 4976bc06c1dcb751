"""The Python baseline for the crawl benchmark: threads + urllib + feedparser + sqlite3.

    python3 benches/baseline_feedparser.py --urls URLS.txt --db baseline.db [--workers 32]

URLS.txt has one feed per line, either "URL" or "NAME<TAB>URL". One pass:

- a ThreadPoolExecutor (32 workers) fetches each feed with urllib, sending
  If-None-Match / If-Modified-Since from the previous pass (stored in the DB),
  and parses the body in the worker: feedparser for RSS/Atom, json for JSON
  Feed (feedparser 6 does not read JSON Feed);
- the main thread stores results as they complete, one transaction per feed:
  each article once (INSERT OR IGNORE, unique on link and on guid; the key is
  the link, or the guid when there is no link), a feed->article link row, and
  the feed's new validators / status.

This is what a careful, idiomatic Python crawler does; it is the yardstick,
not a strawman. Prints one JSON line of counters on stdout.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed

import feedparser

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT,
    etag TEXT,
    last_modified TEXT,
    last_status INTEGER,
    last_error TEXT,
    fetched_at REAL
);
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY,
    guid TEXT UNIQUE,
    link TEXT UNIQUE,
    title TEXT,
    summary TEXT,
    published TEXT,
    first_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_articles (
    feed_id INTEGER NOT NULL REFERENCES feeds(id),
    article_id INTEGER NOT NULL REFERENCES articles(id),
    PRIMARY KEY (feed_id, article_id)
) WITHOUT ROWID;
"""

USER_AGENT = "baseline-feedparser/1.0 (+chipwatch benchmark)"


def read_urls(path: str) -> list[tuple[str, str]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, _, url = line.rpartition("\t")
            out.append((name or url, url))
    return out


def fetch_and_parse(url: str, etag: str | None, modified: str | None, timeout: float):
    """Runs in a worker thread. Returns a dict (never raises)."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if etag:
        req.add_header("If-None-Match", etag)
    if modified:
        req.add_header("If-Modified-Since", modified)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
            status = resp.status
            headers = {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return {"url": url, "status": 304, "etag": etag, "modified": modified, "entries": []}
        return {"url": url, "status": e.code, "error": f"http {e.code}"}
    except Exception as e:  # noqa: BLE001 - a failed feed never stops the pass
        return {"url": url, "status": None, "error": repr(e)}

    ctype = headers.get("content-type", "")
    try:
        if "json" in ctype or body.lstrip()[:1] == b"{":
            entries = _json_entries(body)
        else:
            entries = _feedparser_entries(body, headers)
    except Exception as e:  # noqa: BLE001
        return {"url": url, "status": status, "error": f"parse: {e!r}"}
    return {
        "url": url,
        "status": status,
        "etag": headers.get("etag"),
        "modified": headers.get("last-modified"),
        "entries": entries,
    }


def _feedparser_entries(body: bytes, headers: dict) -> list[tuple]:
    d = feedparser.parse(body, response_headers=headers)
    out = []
    for e in d.entries:
        guid = e.get("id") or None
        link = e.get("link") or None
        if not (guid or link):
            continue
        summary = e.get("summary")
        if not summary and e.get("content"):
            summary = e.content[0].value
        out.append((guid, link, e.get("title"), summary, e.get("published") or e.get("updated")))
    return out


def _json_entries(body: bytes) -> list[tuple]:
    doc = json.loads(body)
    out = []
    for it in doc.get("items", []):
        guid = it.get("id")
        link = it.get("url")
        if not (guid or link):
            continue
        summary = it.get("content_html") or it.get("summary") or it.get("content_text")
        out.append((str(guid) if guid is not None else None, link, it.get("title"), summary, it.get("date_published")))
    return out


def store(db: sqlite3.Connection, feed_id: int, r: dict, now: float) -> int:
    """One transaction per feed; returns the number of new articles."""
    new = 0
    with db:
        if r.get("error"):
            db.execute(
                "UPDATE feeds SET last_status = ?, last_error = ?, fetched_at = ? WHERE id = ?",
                (r.get("status"), r["error"], now, feed_id),
            )
            return 0
        db.execute(
            "UPDATE feeds SET etag = ?, last_modified = ?, last_status = ?, last_error = NULL, fetched_at = ?"
            " WHERE id = ?",
            (r.get("etag"), r.get("modified"), r["status"], now, feed_id),
        )
        for guid, link, title, summary, published in r["entries"]:
            cur = db.execute(
                "INSERT OR IGNORE INTO articles (guid, link, title, summary, published, first_seen)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (guid, link, title, summary, published, now),
            )
            if cur.rowcount == 1:
                new += 1
                article_id = cur.lastrowid
            else:
                row = None
                if link:
                    row = db.execute("SELECT id FROM articles WHERE link = ?", (link,)).fetchone()
                if row is None and guid:
                    row = db.execute("SELECT id FROM articles WHERE guid = ?", (guid,)).fetchone()
                if row is None:
                    continue
                article_id = row[0]
            db.execute(
                "INSERT OR IGNORE INTO feed_articles (feed_id, article_id) VALUES (?, ?)", (feed_id, article_id)
            )
    return new


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--urls", required=True, help="file with one URL (or NAME<TAB>URL) per line")
    ap.add_argument("--db", required=True, help="SQLite database path (created if missing)")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    feeds = read_urls(a.urls)
    db = sqlite3.connect(a.db)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(SCHEMA)
    with db:
        db.executemany("INSERT OR IGNORE INTO feeds (url, name) VALUES (?, ?)", [(u, n) for n, u in feeds])
    known = {url: (fid, etag, lm) for fid, url, etag, lm in db.execute("SELECT id, url, etag, last_modified FROM feeds")}

    counts = {"feeds": len(feeds), "updated": 0, "not_modified": 0, "failed": 0, "entries": 0, "new_articles": 0}
    errors: list[str] = []
    now = time.time()
    with ThreadPoolExecutor(max_workers=a.workers) as pool:
        futs = {}
        for _name, url in feeds:
            fid, etag, lm = known[url]
            futs[pool.submit(fetch_and_parse, url, etag, lm, a.timeout)] = fid
        for fut in as_completed(futs):
            r = fut.result()
            if r.get("error"):
                counts["failed"] += 1
                errors.append(f"{r['url']}: {r['error']}")
            elif r["status"] == 304:
                counts["not_modified"] += 1
            else:
                counts["updated"] += 1
                counts["entries"] += len(r["entries"])
            counts["new_articles"] += store(db, futs[fut], r, now)
    counts["articles_total"] = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    db.close()
    counts["elapsed_s"] = round(time.perf_counter() - t0, 3)
    for e in errors[:10]:
        print(f"baseline: {e}", file=sys.stderr)
    print(json.dumps(counts))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
