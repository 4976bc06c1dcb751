//! Crawling over HTTP: formats, conditional GET, compression, redirects,
//! failures, limits and idempotence.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{Reply, TestApp, TestServer, fixture, gzip};

/// Fixture feeds that must parse, with their item counts.
const FORMATS: &[&str] = &[
    "rss091.xml",
    "rss092.xml",
    "rss10.rdf",
    "rss20.xml",
    "atom10.atom",
    "jsonfeed11.json",
    "jsonfeed10.json",
    "latin1.xml",
    "utf16le.xml",
    "utf16be.xml",
    "cdata.xml",
    "entities.xml",
    "no_guid.xml",
    "rss_no_version.xml",
    "atom_empty_type.atom",
    "cjk.xml",
    "japanese.xml",
];

fn serve_fixtures() -> TestServer {
    TestServer::fixtures("feeds", "/feeds/")
}

#[test]
fn every_format_parses_and_recrawl_is_idempotent() {
    let server = serve_fixtures();
    let feeds: Vec<(&str, String)> = FORMATS
        .iter()
        .map(|f| (*f, server.url(&format!("/feeds/{f}"))))
        .collect();
    let app = TestApp::new(&feeds, "");
    let (code, out, err) = app.crawl();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("failed:"), "a fixture failed:\n{out}");

    let rows = app.export();
    let mut per_feed: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        for f in r["feeds"].as_array().unwrap() {
            *per_feed.entry(f.as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    for (name, url) in &feeds {
        assert!(
            per_feed.get(url).copied().unwrap_or(0) >= 2,
            "{name} stored {:?} articles",
            per_feed.get(url)
        );
    }
    let titles: Vec<&str> = rows.iter().map(|r| r["title"].as_str().unwrap()).collect();
    // Transcoded text survives: Latin-1 accents, UTF-16 CJK.
    assert!(
        titles.iter().any(|t| t.contains('é')),
        "no accented title in {titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.contains("中国") || t.contains("英伟达")),
        "no Chinese title"
    );
    // No markup or entity leaks into the plain text.
    for r in &rows {
        let s = r["summary"].as_str().unwrap();
        assert!(
            !s.contains("<script") && !s.contains("alert(1)") && !s.contains("<p>"),
            "markup in {s}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r["summary"].as_str().unwrap().contains("Beijing & Hangzhou")),
        "entities not decoded"
    );

    // Unchanged feeds: the second crawl stores nothing new and changes nothing.
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0);
    assert!(out.contains("0 new articles, 0 updated"), "{out}");
    assert_eq!(app.export(), rows);
}

#[test]
fn conditional_get_sends_validators_and_304_writes_nothing() {
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            return Reply::status(304);
        }
        Reply::ok(body.clone())
            .with_header("ETag", "\"v1\"")
            .with_header("Last-Modified", "Wed, 21 Jan 2026 08:00:00 GMT")
    });
    let app = TestApp::new(&[("etag", server.url("/feed"))], "");
    assert_eq!(app.crawl().0, 0);
    let first = app.export();
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0);
    assert!(out.contains("not modified"), "{out}");
    let reqs = server.requests("/feed");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        reqs[1].header("if-modified-since"),
        Some("Wed, 21 Jan 2026 08:00:00 GMT")
    );
    assert_eq!(app.export(), first);
    let state = &app.feed_states()[&server.url("/feed")];
    assert_eq!(state["status"], "not modified");
}

#[test]
fn gzip_bodies_are_decoded() {
    let body = gzip(&fixture("feeds/atom10.atom"));
    let server = TestServer::start(move |req| {
        assert!(req.header("accept-encoding").unwrap_or("").contains("gzip"));
        Reply::ok(body.clone()).with_header("Content-Encoding", "gzip")
    });
    let app = TestApp::new(&[("gz", server.url("/feed"))], "");
    let (code, out, err) = app.crawl();
    assert_eq!(code, 0, "{out}{err}");
    assert!(app.export().len() >= 2);
}

#[test]
fn redirects_are_followed_and_loops_fail() {
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/old" => Reply::status(301).with_header("Location", "/new"),
        "/new" => Reply::ok(body.clone()),
        "/loop-a" => Reply::status(302).with_header("Location", "/loop-b"),
        "/loop-b" => Reply::status(302).with_header("Location", "/loop-a"),
        _ => Reply::status(404),
    });
    let app = TestApp::new(
        &[("moved", server.url("/old")), ("loop", server.url("/loop-a"))],
        "",
    );
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0, "{out}");
    let states = app.feed_states();
    assert_eq!(states[&server.url("/old")]["status"], "ok");
    let err = states[&server.url("/loop-a")]["last_error"].as_str().unwrap();
    assert!(err.contains("redirect"), "{err}");
    assert!(
        server.requests("/loop-a").len() <= 11,
        "followed the loop too long"
    );
}

#[test]
fn http_errors_are_recorded_per_feed_while_others_succeed() {
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/ok" => Reply::ok(body.clone()),
        "/404" => Reply::status(404),
        "/500" => Reply::status(500),
        "/429" => Reply::status(429).with_header("Retry-After", "120"),
        _ => Reply::status(404),
    });
    let feeds = [
        ("ok", server.url("/ok")),
        ("gone", server.url("/404")),
        ("broken", server.url("/500")),
        ("busy", server.url("/429")),
    ];
    let app = TestApp::new(&feeds, "");
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0, "one feed succeeded: exit 0\n{out}");
    assert!(
        out.contains("HTTP 404") && out.contains("HTTP 500") && out.contains("HTTP 429"),
        "{out}"
    );
    app.crawl();
    let s = app.feed_states();
    assert_eq!(s[&server.url("/ok")]["status"], "ok");
    for path in ["/404", "/500", "/429"] {
        let st = &s[&server.url(path)];
        assert_eq!(st["status"], "failed", "{path}");
        assert_eq!(st["consecutive_failures"], 2, "{path}");
    }
    assert!(
        s[&server.url("/429")]["retry_after"].is_string(),
        "Retry-After kept"
    );
    assert!(s[&server.url("/500")]["retry_after"].is_null());
}

#[test]
fn every_feed_failing_exits_3() {
    let server = TestServer::start(|_| Reply::status(503));
    let app = TestApp::new(&[("a", server.url("/a")), ("b", server.url("/b"))], "");
    let (code, out, _) = app.crawl();
    assert_eq!(code, 3, "{out}");
}

#[test]
fn a_body_that_never_ends_hits_the_timeout() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/slow" => Reply::Stall {
            headers: vec![],
            partial: b"<rss version=\"2.0\"><channel>".to_vec(),
        },
        _ => Reply::ok(fixture("feeds/rss20.xml")),
    });
    let app = TestApp::new(
        &[("slow", server.url("/slow")), ("fast", server.url("/fast"))],
        "[http]\ntimeout = \"1s\"\n",
    );
    let started = std::time::Instant::now();
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0, "{out}");
    assert!(started.elapsed().as_secs() < 30);
    let err = app.feed_states()[&server.url("/slow")]["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn bodies_over_max_body_are_cut_off() {
    let big = {
        let mut b = b"<rss version=\"2.0\"><channel><title>big</title>".to_vec();
        b.extend(std::iter::repeat_n(b' ', 8 * 1024));
        b.extend_from_slice(b"</channel></rss>");
        b
    };
    let big2 = big.clone();
    let small = fixture("feeds/rss20.xml");
    let small_len = small.len();
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/declared" => Reply::ok(big.clone()),
        "/chunked" => Reply::ok(big2.clone()).with_header("Transfer-Encoding", "chunked"),
        "/gzip-bomb" => Reply::ok(gzip(&vec![b' '; 1 << 20])).with_header("Content-Encoding", "gzip"),
        _ => Reply::ok(small.clone()),
    });
    let limit = (small_len + 100).max(4096);
    let app = TestApp::new(
        &[
            ("declared", server.url("/declared")),
            ("chunked", server.url("/chunked")),
            ("bomb", server.url("/gzip-bomb")),
            ("small", server.url("/small")),
        ],
        &format!("[http]\nmax_body = {limit}\n"),
    );
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0, "{out}");
    let s = app.feed_states();
    for p in ["/declared", "/chunked", "/gzip-bomb"] {
        let err = s[&server.url(p)]["last_error"].as_str().unwrap_or_default();
        assert!(err.contains("larger than"), "{p}: {err}");
    }
    assert_eq!(s[&server.url("/small")]["status"], "ok");
}

#[test]
fn same_article_across_feeds_and_tracking_urls_is_stored_once() {
    let server = serve_fixtures();
    let a = server.url("/feeds/tracking_dups.xml");
    let b = server.url("/feeds/tracking_dups_b.atom");
    let app = TestApp::new(&[("a", a.clone()), ("b", b.clone())], "");
    assert_eq!(app.crawl().0, 0);
    let rows = app.export();
    let mut canon: Vec<&str> = rows
        .iter()
        .map(|r| r["canonical_url"].as_str().unwrap())
        .collect();
    let n = canon.len();
    canon.sort();
    canon.dedup();
    assert_eq!(canon.len(), n, "duplicate canonical URLs stored");
    let shared = rows
        .iter()
        .find(|r| r["feeds"].as_array().unwrap().len() == 2)
        .expect("one article is carried by both feeds");
    assert_eq!(shared["feeds"][0], a);
    assert_eq!(shared["feeds"][1], b);
    for r in &rows {
        let u = r["canonical_url"].as_str().unwrap();
        assert!(
            !u.contains("utm_") && !u.contains('#') && !u.contains("fbclid"),
            "{u}"
        );
    }
}

#[test]
fn an_html_page_leads_to_its_announced_feed() {
    let server = serve_fixtures();
    let app = TestApp::new(&[("page", server.url("/feeds/not_a_feed.html"))], "");
    let (code, out, err) = app.crawl();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("feed found at"), "{out}");
    let st = &app.feed_states()[&server.url("/feeds/not_a_feed.html")];
    assert_eq!(st["discovered_url"], server.url("/feeds/rss20.xml"));
    assert!(!app.export().is_empty());
    // The next crawl goes to the feed directly.
    app.crawl();
    assert_eq!(server.requests("/feeds/not_a_feed.html").len(), 1);
}

#[test]
fn broken_xml_is_a_feed_error_not_a_crash() {
    let server = serve_fixtures();
    let app = TestApp::new(
        &[
            ("broken", server.url("/feeds/broken.xml")),
            ("good", server.url("/feeds/rss20.xml")),
        ],
        "",
    );
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0, "{out}");
    let s = app.feed_states();
    let broken = &s[&server.url("/feeds/broken.xml")];
    assert_eq!(broken["status"], "failed", "{broken}");
    assert!(
        broken["last_error"].as_str().unwrap().contains("not a feed"),
        "{broken}"
    );
}

#[test]
fn concurrent_fetches_respect_per_host_limit() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (in_flight, peak.clone());
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |_| {
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        f.fetch_sub(1, Ordering::SeqCst);
        Reply::ok(body.clone())
    });
    let feeds: Vec<(&str, String)> = (0..8).map(|i| ("f", server.url(&format!("/f{i}")))).collect();
    let app = TestApp::new(&feeds, "[http]\nper_host = 2\n");
    assert_eq!(app.crawl().0, 0);
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

/// A server of one feed with an ETag that answers 304 to it; `next()`
/// switches to the second body (a new ETag).
fn two_versions(first: &str, second: &str) -> (TestServer, Arc<AtomicUsize>) {
    let bodies = [fixture(first), fixture(second)];
    let version = Arc::new(AtomicUsize::new(0));
    let v = version.clone();
    let server = TestServer::start(move |req| {
        let n = v.load(Ordering::SeqCst);
        let etag = format!("\"v{n}\"");
        if req.header("if-none-match") == Some(etag.as_str()) {
            return Reply::status(304);
        }
        Reply::ok(bodies[n].clone()).with_header("ETag", &etag)
    });
    (server, version)
}

#[test]
fn the_profile_is_parsed_only_when_an_article_needs_a_decision() {
    let (server, version) = two_versions("feeds/rss20.xml", "feeds/atom10.atom");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.toml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/topics/chip-exports.toml"
    ))
    .unwrap();
    std::fs::write(&profile, &text).unwrap();
    let app = TestApp::new(
        &[("f", server.url("/feed"))],
        &format!("[topic]\nprofile = {:?}\n", profile.display().to_string()),
    );
    let crawl = || app.run(&["-vv", "crawl", "--no-progress"]);
    let loaded = |err: &str| err.contains("topic profile loaded");

    // A fresh database: parsed before anything is fetched.
    let (code, _, err) = crawl();
    assert_eq!(code, 0, "{err}");
    assert!(loaded(&err), "{err}");
    // Every feed 304, nothing waiting for a decision: not parsed at all.
    let (code, out, err) = crawl();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("not modified"), "{out}");
    assert!(!loaded(&err), "{err}");
    // New items: parsed when they need their decisions, and they get them.
    version.store(1, Ordering::SeqCst);
    let (code, _, err) = crawl();
    assert_eq!(code, 0, "{err}");
    assert!(loaded(&err), "{err}");
    let rows = app.export();
    assert!(rows.len() > 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["relevant"].is_boolean()), "{rows:?}");
    // An edited profile is parsed up front, so a broken one stops even a
    // crawl that would fetch nothing.
    std::fs::write(
        &profile,
        text.replacen("[profile]", "[profile]\nunknown_key = 1", 1),
    )
    .unwrap();
    let (code, _, err) = crawl();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("profile.toml"), "{err}");
    assert_eq!(
        server.requests("/feed").len(),
        3,
        "nothing fetched with a broken profile"
    );
}

/// A profile parsed lazily that turns out to be broken (a text the latest
/// decision was made with, refused by a stricter build) fails the crawl
/// with the profile's error: nothing of the feed is stored and the feed is
/// not marked failing, since the fault is not its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_broken_on_first_use_fails_the_crawl_not_the_feed() {
    use chipwatch::crawl::{FeedError, FeedOutcome, LazyProfile};
    let server = serve_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "database = \"test.db\"\n[[feeds]]\nurl = \"{}\"\n",
        server.url("/feeds/rss20.xml")
    );
    let loc = chipwatch::config::Locations {
        env_config: None,
        cwd: dir.path().to_path_buf(),
        config_dir: None,
        data_dir: None,
    };
    let cfg = chipwatch::config::parse(&text, "test.toml", dir.path(), &loc).unwrap();
    let db = chipwatch::store::Db::open(dir.path().join("test.db"))
        .await
        .unwrap();
    let feeds = cfg.feeds.clone();
    let rows = db.call(move |s| s.sync_feeds(&feeds)).await.unwrap();
    let fetcher = chipwatch::fetch::Fetcher::new(&cfg.http).unwrap();
    let profile = Arc::new(LazyProfile::new(
        "[profile]\nname = 1\n".into(),
        "bad.toml".into(),
    ));

    let reports = chipwatch::crawl::crawl(&db, &fetcher, &profile, rows, 4, |_| {}).await;
    assert_eq!(reports.len(), 1);
    assert!(
        matches!(reports[0].outcome, FeedOutcome::Failed(FeedError::Profile(_))),
        "{:?}",
        reports[0].outcome
    );
    let error = profile.error().expect("the profile was needed and failed");
    assert!(error.to_string().contains("bad.toml"), "{error}");
    let backlog = chipwatch::crawl::classify_pending(&db, profile.clone()).await;
    assert!(backlog.is_ok(), "nothing waits for a decision: {backlog:?}");
    let (count, rows) = db
        .call(|s| (s.article_count().unwrap(), s.feeds().unwrap()))
        .await;
    assert_eq!(count, 0, "nothing stored");
    assert_eq!(rows[0].consecutive_failures, 0, "{:?}", rows[0]);
    assert_eq!(rows[0].last_error, None);
    assert_eq!(rows[0].last_ok, None, "no document stored: {:?}", rows[0]);
}
