"""Deterministic synthetic feed corpus for the crawl benchmark.

`generate(out_dir, feeds, items, seed)` writes one file per feed under
`out_dir/feeds/` (RSS 2.0 mostly, some Atom 1.0, some JSON Feed 1.1) and a
`manifest.json` describing them. Same arguments -> byte-identical output.

Realism knobs:
- every item has a title, a link, a guid/id, a date and a 400-700 byte HTML
  summary (entities, links, a little non-ASCII);
- links and guids are unique per item, except for "wire" stories: a shared
  pool of stories that several feeds carry under the same link (about half of
  them with the same guid too, the other half with a per-feed guid), the way
  syndicated copy shows up in real feeds;
- a few percent of items are on-topic for chipwatch (export controls, chips)
  so a classifier has something to find.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape

# Share of formats: the rest is RSS 2.0.
ATOM_EVERY = 5  # every 5th feed is Atom  (20 %)
JSON_EVERY = 10  # every 10th feed is JSON Feed (10 %, takes precedence)
WIRE_ITEMS_PER_FEED = 5  # of the items of each feed, this many are syndicated
WIRE_POOL_PER_FEED = 1.6  # pool size = feeds * this (each wire story in ~3 feeds)

BASE_TIME = datetime(2025, 11, 20, 12, 0, 0, tzinfo=timezone.utc)

WORDS = (
    "the a of to and in for on with as by at from that this said officials "
    "government company market report year week quarter new plans policy "
    "analysts investors industry trade growth sales demand supply prices "
    "shares rules review deal talks minister ministry agency statement "
    "according people familiar matter decision expected could would may "
    "first last more than about after before while during since under over "
    "billion million percent revenue production capacity factory plant "
    "customers partners leaders officials meeting summit announced confirmed "
    "reported earlier later today tuesday wednesday thursday friday monday "
    "european asian american global regional local national international "
    "technology software hardware network cloud data center energy power "
    "infrastructure investment funding strategy security regulators court"
).split()

TOPIC_WORDS = (
    "export controls semiconductor chips advanced node lithography EUV DUV "
    "ASML Nvidia TSMC SMIC Huawei Commerce BIS Entity List license "
    "foundry wafer H20 Blackwell HBM memory Tokyo Electron Lam Research "
    "Applied Materials Netherlands Japan China Beijing Washington sanctions "
    "rule dual-use AI accelerators GPUs fabs subsidies CHIPS Act"
).split()

UNICODE_BITS = ["Huawei’s", "—", "“tightening”", "Zürich", "华为", "São Paulo", "café", "€2.1bn"]

PUBLISHERS = [
    "Daily Ledger", "Tech Observer", "Market Wire", "Asia Briefing", "Policy Desk",
    "Supply Chain Weekly", "Silicon Report", "Trade Monitor", "Capital Times",
    "Industry Digest", "Foundry News", "Harbor Post", "Northern Herald",
]


def _sentence(rng: random.Random, topical: bool) -> str:
    n = rng.randint(9, 22)
    words = [rng.choice(WORDS) for _ in range(n)]
    if topical:
        for _ in range(rng.randint(2, 4)):
            words[rng.randrange(n)] = rng.choice(TOPIC_WORDS)
    if rng.random() < 0.15:
        words[rng.randrange(n)] = rng.choice(UNICODE_BITS)
    s = " ".join(words)
    return s[0].upper() + s[1:] + "."


def _title(rng: random.Random, topical: bool) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
    if topical:
        words[rng.randrange(len(words))] = rng.choice(TOPIC_WORDS)
        words[rng.randrange(len(words))] = rng.choice(TOPIC_WORDS)
    t = " ".join(words)
    return t[0].upper() + t[1:]


def _summary_html(rng: random.Random, topical: bool, link: str, size_range: tuple[int, int]) -> str:
    """An HTML fragment whose UTF-8 size is within size_range (bytes)."""
    target = rng.randint(*size_range)
    parts: list[str] = []
    size = 0
    while True:
        s = escape(_sentence(rng, topical), quote=False)
        r = rng.random()
        if r < 0.2:
            w = s.split(" ")
            i = rng.randrange(len(w))
            w[i] = f"<strong>{w[i]}</strong>"
            s = " ".join(w)
        elif r < 0.3:
            s = f'{s} <a href="{escape(link)}?ref=summary">Read more</a>'
        frag = f"<p>{s}</p>"
        blen = len(frag.encode())
        if size + blen > target:
            # Pad the last paragraph with plain words to land inside the range.
            need = target - size - len("<p>.</p>")
            if need > 0:
                filler = []
                while len(" ".join(filler).encode()) < need:
                    filler.append(rng.choice(WORDS))
                text = " ".join(filler).encode()[:need].decode("utf-8", "ignore").rstrip()
                if text:
                    parts.append(f"<p>{text}.</p>")
            break
        parts.append(frag)
        size += blen
    return "".join(parts)


def _slug(title: str) -> str:
    out = []
    for ch in title.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")[:40].rstrip("-")


class _Item:
    __slots__ = ("title", "link", "guid", "guid_is_link", "when", "summary", "topical", "author")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


def _make_item(
    rng: random.Random, host: str, key: str, when: datetime, guid: str | None, size_range: tuple[int, int]
) -> _Item:
    topical = rng.random() < 0.05
    title = _title(rng, topical)
    link = f"https://{host}/{when:%Y/%m/%d}/{_slug(title)}-{key}"
    return _Item(
        title=title,
        link=link,
        guid=guid if guid is not None else link,
        guid_is_link=guid is None,
        when=when,
        summary=_summary_html(rng, topical, link, size_range),
        topical=topical,
        author=f"{rng.choice(['A.', 'J.', 'M.', 'S.', 'L.'])} {rng.choice(['Chen', 'Smith', 'Müller', 'Tanaka', 'Kim', 'Jansen', 'Rossi'])}",
    )


def _rss(feed_title: str, site: str, items: list[_Item]) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n',
        f"<title>{escape(feed_title)}</title>\n<link>{site}/</link>\n",
        f"<description>Latest from {escape(feed_title)}</description>\n<language>en</language>\n",
        f"<lastBuildDate>{format_datetime(items[0].when)}</lastBuildDate>\n",
    ]
    for it in items:
        guid = (
            f"<guid>{escape(it.guid)}</guid>"
            if it.guid_is_link
            else f'<guid isPermaLink="false">{escape(it.guid)}</guid>'
        )
        out.append(
            f"<item><title>{escape(it.title)}</title><link>{escape(it.link)}</link>{guid}"
            f"<pubDate>{format_datetime(it.when)}</pubDate><dc:creator>{escape(it.author)}</dc:creator>"
            f"<description><![CDATA[{it.summary}]]></description></item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out)


def _atom(feed_title: str, site: str, feed_id: str, items: list[_Item]) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n',
        f"<title>{escape(feed_title)}</title>\n<id>{feed_id}</id>\n",
        f'<link rel="alternate" href="{site}/"/>\n',
        f"<updated>{items[0].when.isoformat()}</updated>\n",
    ]
    for it in items:
        out.append(
            f"<entry><title>{escape(it.title)}</title>"
            f'<link rel="alternate" type="text/html" href="{escape(it.link)}"/>'
            f"<id>{escape(it.guid)}</id><published>{it.when.isoformat()}</published>"
            f"<updated>{it.when.isoformat()}</updated><author><name>{escape(it.author)}</name></author>"
            f'<summary type="html">{escape(it.summary, quote=False)}</summary></entry>\n'
        )
    out.append("</feed>\n")
    return "".join(out)


def _jsonfeed(feed_title: str, site: str, feed_url: str, items: list[_Item]) -> str:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed_title,
        "home_page_url": site + "/",
        "feed_url": feed_url,
        "items": [
            {
                "id": it.guid,
                "url": it.link,
                "title": it.title,
                "content_html": it.summary,
                "date_published": it.when.isoformat(),
                "authors": [{"name": it.author}],
            }
            for it in items
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def feed_format(i: int) -> str:
    if i % JSON_EVERY == JSON_EVERY - 1:
        return "json"
    if i % ATOM_EVERY == ATOM_EVERY - 2:
        return "atom"
    return "rss"


EXT = {"rss": "xml", "atom": "atom", "json": "json"}
CONTENT_TYPE = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


def generate(
    out_dir: str, feeds: int = 500, items: int = 50, seed: int = 1, summary_bytes: tuple[int, int] = (400, 700)
) -> dict:
    """Write the corpus to out_dir/feeds/ and return the manifest."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(out_dir, "feeds"), exist_ok=True)

    # The wire: stories that several feeds carry under the same link.
    wire_n = WIRE_ITEMS_PER_FEED and max(1, int(feeds * WIRE_POOL_PER_FEED))
    wire: list[_Item] = []
    for w in range(wire_n):
        when = BASE_TIME - timedelta(minutes=rng.randint(0, 60 * 24 * 7))
        same_guid = w % 2 == 0  # half keep the wire's guid, half get a per-feed one
        wire.append(_make_item(rng, "wire.example.net", f"w{w:05d}", when, None if same_guid else "", summary_bytes))

    manifest_feeds = []
    all_links: set[str] = set()
    total_items = 0
    total_bytes = 0
    for i in range(feeds):
        fmt = feed_format(i)
        host = f"news{i:04d}.example.com"
        site = f"https://{host}"
        publisher = PUBLISHERS[i % len(PUBLISHERS)]
        feed_title = f"{publisher} #{i:04d}"
        path = f"/feeds/{i:04d}.{EXT[fmt]}"

        n_wire = min(WIRE_ITEMS_PER_FEED, items) if wire else 0
        own: list[_Item] = []
        for k in range(items - n_wire):
            when = BASE_TIME - timedelta(minutes=rng.randint(0, 60 * 24 * 7))
            guid = None if rng.random() < 0.5 else f"urn:uuid:{_uuid(rng)}"
            own.append(_make_item(rng, host, f"{i:04d}{k:03d}", when, guid, summary_bytes))
        carried: list[_Item] = []
        for w in rng.sample(range(len(wire)), n_wire):
            src = wire[w]
            guid = src.guid if src.guid_is_link else f"urn:uuid:{_uuid(rng)}"
            carried.append(
                _Item(
                    title=src.title, link=src.link, guid=guid, guid_is_link=src.guid_is_link,
                    when=src.when, summary=src.summary, topical=src.topical, author=src.author,
                )
            )
        its = sorted(own + carried, key=lambda it: it.when, reverse=True)
        if fmt == "rss":
            body = _rss(feed_title, site, its)
        elif fmt == "atom":
            body = _atom(feed_title, site, f"tag:{host},2025:feed", its)
        else:
            body = _jsonfeed(feed_title, site, f"{site}{path}", its)
        data = body.encode("utf-8")
        with open(os.path.join(out_dir, path.lstrip("/")), "wb") as f:
            f.write(data)
        for it in its:
            all_links.add(it.link)
        total_items += len(its)
        total_bytes += len(data)
        manifest_feeds.append(
            {
                "name": feed_title,
                "path": path,
                "format": fmt,
                "items": len(its),
                "bytes": len(data),
                "content_type": CONTENT_TYPE[fmt],
                # Last-Modified: the newest item's date, whole seconds.
                "last_modified": int(its[0].when.timestamp()),
                "etag": '"' + hashlib.sha1(data).hexdigest()[:20] + '"',
            }
        )

    manifest = {
        "seed": seed,
        "summary_bytes": list(summary_bytes),
        "feeds": manifest_feeds,
        "total_items": total_items,
        "distinct_links": len(all_links),
        "total_bytes": total_bytes,
        "formats": {f: sum(1 for m in manifest_feeds if m["format"] == f) for f in ("rss", "atom", "json")},
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def _uuid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


if __name__ == "__main__":
    import sys
    import tempfile

    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="chipwatch-corpus-")
    m = generate(d)
    print(d, m["total_items"], m["distinct_links"], m["total_bytes"], m["formats"])
