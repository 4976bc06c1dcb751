//! `chipwatch daemon`: the real binary against a real HTTP server on
//! 127.0.0.1 and a real SQLite file; signals sent as an operator (or
//! systemd) would.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::support::{Reply, Request, TestApp, TestServer};

/// A running `chipwatch daemon` with its stderr collected line by line.
struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(app: &TestApp) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chipwatch"))
            .arg("--config")
            .arg(&app.config)
            .arg("daemon")
            .env_remove("CHIPWATCH_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.pid() as i32).unwrap();
        kill_process(pid, sig).unwrap();
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Wait until the log has `n` lines containing `needle`.
    fn wait_log(&self, needle: &str, n: usize, within: Duration) {
        let ok = wait_until(within, || self.count(needle) >= n);
        assert!(ok, "no {n} × `{needle}` within {within:?}:\n{}", self.log());
    }

    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, and the exit status within `within`.
    fn stop(mut self, within: Duration) -> ExitStatus {
        self.signal(Signal::TERM);
        let status = self.wait_exit(within);
        let log = self.log();
        let _ = self.child.kill();
        status.unwrap_or_else(|| panic!("no exit within {within:?} of SIGTERM:\n{log}"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss(items: &[(String, String, String, String)]) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Wire</title><link>https://wire.example/</link>",
    );
    for (title, text, link, date) in items {
        s.push_str(&format!(
            "<item><title>{title}</title><link>{link}</link><guid>{link}</guid><description>{text}</description><pubDate>{date}</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

fn item(title: &str, text: &str, link: &str, date: &str) -> (String, String, String, String) {
    (title.into(), text.into(), link.into(), date.into())
}

fn alerts(app: &TestApp, all: bool) -> Vec<serde_json::Value> {
    let (alerts, err) = app.alerts_json(all);
    assert!(!err.contains("database is locked"), "{err}");
    alerts
}

fn integrity(app: &TestApp) -> String {
    chipwatch::store::Store::open(&app.db_path())
        .unwrap()
        .integrity_check()
        .unwrap()
}

fn feed_entry(name: &str, url: &str, interval: &str) -> String {
    format!("\n[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\ninterval = \"{interval}\"\n")
}

#[test]
fn a_new_relevant_item_alerts_within_two_intervals_and_sigterm_exits_cleanly() {
    let items = Arc::new(Mutex::new(vec![item(
        "Harbour festival opens with record crowds",
        "The town's summer festival drew thousands of visitors to the harbour.",
        "https://wire.example/festival",
        "Mon, 14 Apr 2025 08:00:00 GMT",
    )]));
    let served = items.clone();
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/wire" => Reply::ok(rss(&served.lock().unwrap())),
        _ => Reply::status(404),
    });
    let app = TestApp::new(
        &[],
        &format!(
            "[daemon]\nhost_gap = \"0s\"\n{}",
            feed_entry("wire", &server.url("/wire"), "2s")
        ),
    );
    let daemon = Daemon::start(&app);
    daemon.wait_log("poll cycle", 1, Duration::from_secs(30));
    assert!(alerts(&app, true).is_empty());

    items.lock().unwrap().push(item(
        "US requires licence for Nvidia H20 exports to China",
        "The Commerce Department has told Nvidia that H20 sales to China need an export licence, the company said in a filing.",
        "https://wire.example/h20",
        "Tue, 15 Apr 2025 21:00:00 GMT",
    ));
    let added = Instant::now();
    let mut seen = Vec::new();
    let found = wait_until(Duration::from_secs(20), || {
        seen = alerts(&app, false);
        !seen.is_empty()
    });
    let took = added.elapsed();
    assert!(found, "no alert:\n{}", daemon.log());
    // Two intervals of 2 s, each at most 10% longer with jitter.
    assert!(took <= Duration::from_millis(4400), "alert after {took:?}");
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0]["url"], "https://wire.example/h20");
    assert_eq!(seen[0]["kind"], "development");
    // One log line for the alert and one per cycle, with the counts.
    daemon.wait_log("alert", 1, Duration::from_secs(5));
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("poll cycle") && l.contains("new_articles=1") && l.contains("alerts=1")),
        "{log}"
    );
    // The schedule is visible in `feeds list`.
    let state = &app.feed_states()[&server.url("/wire")];
    assert_eq!(state["interval_reason"], "configured", "{state}");
    assert_eq!(state["health"], "ok", "{state}");
    assert!(state["next_poll"].is_string(), "{state}");
    // 2 s with jitter, stored in whole seconds; the table shows the same.
    let secs = state["interval_secs"].as_u64().unwrap();
    assert!((1..=2).contains(&secs), "{state}");
    let (code, out, _) = app.run(&["feeds", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{secs}s (configured)")), "{out}");

    let started = Instant::now();
    let status = daemon.stop(Duration::from_secs(12));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(integrity(&app), "ok");
    let (code, out, _) = app.run(&["status", "--format", "json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["running"], false, "{status}");
    assert!(
        status["last_summary"]["polled"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(status["last_summary"]["elapsed_ms"].is_u64(), "{status}");
    assert!(status["last_cycle"].is_string(), "{status}");
    // The text form is words, not the stored JSON.
    let (code, out, _) = app.run(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("daemon: not running (last seen "), "{out}");
    let cycle = out
        .lines()
        .find(|l| l.starts_with("last cycle: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!cycle.contains('{'), "{cycle}");
    assert!(cycle.contains(" UTC, 1 polled ("), "{cycle}");
    assert!(cycle.contains(" not modified, 0 failed), "), "{cycle}");
    assert!(cycle.contains(" alert"), "{cycle}");
    assert!(cycle.ends_with(" ms"), "{cycle}");
}

#[test]
fn one_daemon_per_database_reload_adds_feeds_and_refuses_a_bad_config() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/a" | "/b" | "/c" => Reply::ok(rss(&[item(
            "Harbour festival opens",
            &format!("Festival news from {}.", req.path),
            &format!("https://wire.example{}", req.path),
            "Mon, 14 Apr 2025 08:00:00 GMT",
        )])),
        _ => Reply::status(404),
    });
    let head = "[daemon]\nhost_gap = \"0s\"\n".to_owned();
    let a = feed_entry("a", &server.url("/a"), "1s");
    let app = TestApp::new(&[], &format!("{head}{a}"));
    let daemon = Daemon::start(&app);
    daemon.wait_log("poll cycle", 1, Duration::from_secs(30));

    // A second daemon on the same database refuses, naming the first.
    let (code, _, err) = app.run(&["daemon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("pid {}", daemon.pid())), "{err}");
    let (code, out, _) = app.run(&["status", "--format", "json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["pid"], daemon.pid(), "{status}");
    assert_eq!(status["feeds"]["ok"], 1, "{status}");

    // The other commands work while it runs.
    for args in [
        &["crawl", "--no-progress"][..],
        &["export"],
        &["feeds", "list"],
        &["alerts", "--all"],
    ] {
        let (code, _, err) = app.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("locked"), "{args:?}: {err}");
    }

    // Reload with a feed added: it gets polled.
    let b = feed_entry("b", &server.url("/b"), "1s");
    std::fs::write(&app.config, format!("database = \"test.db\"\n{head}{a}{b}")).unwrap();
    let (code, out, err) = app.run(&["reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&daemon.pid().to_string()), "{out}");
    assert!(
        wait_until(Duration::from_secs(10), || !server.requests("/b").is_empty()),
        "the added feed was never polled:\n{}",
        daemon.log()
    );
    daemon.wait_log("configuration reloaded", 1, Duration::from_secs(5));

    // A bad config is refused and the running one stays: /c is never
    // polled, /a and /b still are.
    let c = feed_entry("c", &server.url("/c"), "1s");
    std::fs::write(
        &app.config,
        format!("database = \"test.db\"\n{head}concurrency = 0\n{a}{b}{c}"),
    )
    .unwrap();
    // `chipwatch reload` checks the file first and says what is wrong...
    let (code, _, err) = app.run(&["reload"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("concurrency"), "{err}");
    // ... and a SIGHUP sent another way (systemctl reload) is refused by the daemon.
    daemon.signal(Signal::HUP);
    daemon.wait_log("refused", 1, Duration::from_secs(10));
    let (a_before, b_before) = (server.requests("/a").len(), server.requests("/b").len());
    std::thread::sleep(Duration::from_millis(2500));
    assert!(server.requests("/c").is_empty());
    assert!(server.requests("/a").len() > a_before && server.requests("/b").len() > b_before);
    // A bad topic profile is refused the same way.
    std::fs::write(app.dir.path().join("bad-profile.toml"), "this is not a profile").unwrap();
    std::fs::write(
        &app.config,
        format!("database = \"test.db\"\n[topic]\nprofile = \"bad-profile.toml\"\n{head}{a}{b}{c}"),
    )
    .unwrap();
    daemon.signal(Signal::HUP);
    daemon.wait_log("refused", 2, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(server.requests("/c").is_empty());

    let pid = daemon.pid();
    assert_eq!(daemon.stop(Duration::from_secs(12)).code(), Some(0));
    // With no daemon, reload says so.
    let (code, _, err) = app.run(&["reload"]);
    assert_ne!(code, 0);
    assert!(err.contains("no chipwatch daemon is running"), "{err}");
    assert!(!err.contains(&pid.to_string()), "{err}");
}

#[test]
fn a_feed_that_keeps_failing_is_marked_broken_once_and_cleared_when_it_recovers() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let server = TestServer::start(move |req: &Request| match req.path.as_str() {
        "/flaky" if flag.load(Ordering::SeqCst) => Reply::ok(rss(&[item(
            "Harbour festival opens",
            "Festival news.",
            "https://wire.example/f",
            "Mon, 14 Apr 2025 08:00:00 GMT",
        )])),
        _ => Reply::status(500),
    });
    let app = TestApp::new(
        &[],
        &format!(
            "[daemon]\nhost_gap = \"0s\"\nbackoff = \"1s\"\nmax_interval = \"2s\"\nmin_interval = \"1s\"\nbroken_after = 3\n{}",
            feed_entry("flaky", &server.url("/flaky"), "1s")
        ),
    );
    let daemon = Daemon::start(&app);
    daemon.wait_log("marked broken", 1, Duration::from_secs(30));
    let broken: Vec<_> = alerts(&app, false)
        .into_iter()
        .filter(|a| a["kind"] == "feed-broken")
        .collect();
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert_eq!(broken[0]["feed"], "flaky");
    assert!(broken[0]["title"].as_str().unwrap().contains("flaky"));
    assert!(
        broken[0]["reason"].as_str().unwrap().contains("HTTP 500"),
        "{broken:?}"
    );
    let state = &app.feed_states()[&server.url("/flaky")];
    assert_eq!(state["health"], "broken", "{state}");
    assert_eq!(state["interval_reason"], "backoff", "{state}");
    // Still failing, still polled, and a restart raises no second alert.
    let polls = server.requests("/flaky").len();
    drop(daemon);
    let daemon = Daemon::start(&app);
    assert!(wait_until(Duration::from_secs(10), || server
        .requests("/flaky")
        .len()
        >= polls + 2));
    let all_broken = |app: &TestApp| -> Vec<serde_json::Value> {
        alerts(app, true)
            .into_iter()
            .filter(|a| a["kind"] == "feed-broken")
            .collect()
    };
    assert_eq!(all_broken(&app).len(), 1);
    // Recovery resolves it.
    healthy.store(true, Ordering::SeqCst);
    daemon.wait_log("works again", 1, Duration::from_secs(10));
    let after = all_broken(&app);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["state"], "resolved", "{after:?}");
    assert!(alerts(&app, false).iter().all(|a| a["kind"] != "feed-broken"));
    assert_eq!(app.feed_states()[&server.url("/flaky")]["health"], "ok");
    assert_eq!(daemon.stop(Duration::from_secs(12)).code(), Some(0));
}

/// A feed set that grows by one generation per restart: `FEEDS` filler
/// feeds (ETag per generation, 304 otherwise) plus the six demo feeds, in
/// which one development is reported several times in several languages.
struct Corpus {
    generation: Arc<AtomicUsize>,
    server: TestServer,
}

const FEEDS: usize = 120;
const DEMO: [&str; 6] = [
    "siliconledger.xml",
    "pacificwire.atom",
    "hebdonumerique.atom",
    "technikrundschau.xml",
    "kejiguancha.xml",
    "techwatch-jp.json",
];

impl Corpus {
    fn start() -> Self {
        let generation = Arc::new(AtomicUsize::new(0));
        let g = generation.clone();
        let server = TestServer::start(move |req| {
            if let Some(name) = req.path.strip_prefix("/demo/") {
                return Reply::ok(crate::support::fixture(&format!("demo/{name}")));
            }
            let Some(i) = req.path.strip_prefix("/f/").and_then(|n| n.parse::<usize>().ok()) else {
                return Reply::status(404);
            };
            let gen_now = g.load(Ordering::SeqCst);
            let etag = format!("\"g{gen_now}\"");
            if req.header("if-none-match") == Some(etag.as_str()) {
                return Reply::status(304);
            }
            let items: Vec<_> = (0..10 + 3 * gen_now)
                .map(|j| {
                    item(
                        &format!("Harbour town notice {i}-{j}"),
                        &format!("The council of harbour town {i} posted notice number {j} about parking and markets."),
                        &format!("https://town{i}.example/notice/{j}"),
                        &format!("Mon, {:02} Mar 2025 {:02}:00:00 GMT", 1 + j / 24, j % 24),
                    )
                })
                .collect();
            Reply::ok(rss(&items)).with_header("ETag", &etag)
        });
        Self { generation, server }
    }

    fn config(&self) -> String {
        let mut text = "[daemon]\nhost_gap = \"0s\"\n".to_owned();
        for i in 0..FEEDS {
            text.push_str(&feed_entry(
                &format!("town {i}"),
                &self.server.url(&format!("/f/{i}")),
                "1s",
            ));
        }
        for d in DEMO {
            text.push_str(&feed_entry(d, &self.server.url(&format!("/demo/{d}")), "1s"));
        }
        text
    }
}

/// What must match between two databases: the articles (by title, with
/// the feeds that carry them, their decision and alert flag), the stories
/// (as sets of titles) and the alerts. Not the URL: an article two feeds
/// carry is stored under the URL of whichever feed was stored first, which
/// depends on fetch order even between two clean runs.
fn fingerprint(app: &TestApp) -> (Vec<String>, BTreeSet<Vec<String>>, Vec<String>) {
    let rows = app.export();
    let mut articles: Vec<String> = rows
        .iter()
        .map(|r| {
            let mut feeds: Vec<&str> = r["feeds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            feeds.sort_unstable();
            format!(
                "{} | {} | {} | {:?} | alert={}",
                r["title"], r["relevant"], r["event"], feeds, r["alert"]
            )
        })
        .collect();
    articles.sort();
    let mut stories: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in &rows {
        if !r["story"].is_null() {
            stories
                .entry(r["story"].to_string())
                .or_default()
                .push(r["title"].to_string());
        }
    }
    let stories: BTreeSet<Vec<String>> = stories
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    let by_url: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|r| (r["url"].to_string(), r["title"].to_string()))
        .collect();
    let mut alerts: Vec<String> = alerts(app, true)
        .iter()
        .map(|a| {
            let title = by_url.get(&a["url"].to_string()).cloned().unwrap_or_default();
            format!("{} {} {} {}", a["kind"], a["event"], title, a["state"])
        })
        .collect();
    alerts.sort();
    (articles, stories, alerts)
}

#[test]
fn kill_9_at_random_points_then_restart_matches_a_clean_run() {
    let corpus = Corpus::start();
    let app = TestApp::new(&[], &corpus.config());
    let mut rng = fastrand::Rng::with_seed(0x5eed_c0de);
    let mut kills_mid_crawl = 0;
    for round in 0..20 {
        corpus.generation.store(round, Ordering::SeqCst);
        let mut daemon = Daemon::start(&app);
        std::thread::sleep(Duration::from_millis(rng.u64(50..1500)));
        if daemon.count("poll cycle") == 0 {
            kills_mid_crawl += 1;
        }
        daemon.signal(Signal::KILL);
        let status = daemon.wait_exit(Duration::from_secs(10)).expect("killed");
        assert_eq!(status.code(), None, "round {round}: it was killed");
    }
    // Most kills landed before the first cycle finished.
    assert!(kills_mid_crawl >= 10, "only {kills_mid_crawl} kills mid-crawl");
    // Let it catch up: after three cycles every feed has been polled at
    // the final generation; SIGTERM lets the last cycle finish.
    let daemon = Daemon::start(&app);
    daemon.wait_log("poll cycle", 3, Duration::from_secs(120));
    assert_eq!(daemon.stop(Duration::from_secs(15)).code(), Some(0));
    assert_eq!(integrity(&app), "ok");

    let clean = TestApp::new(&[], &corpus.config());
    let (code, out, err) = clean.crawl();
    assert_eq!(code, 0, "{out}{err}");
    let (got, want) = (fingerprint(&app), fingerprint(&clean));
    assert_eq!(got.0.len(), want.0.len(), "article count");
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    };
    assert!(
        got.0 == want.0,
        "articles differ: only after kills {:#?}\nonly in the clean run {:#?}",
        only(&got.0, &want.0),
        only(&want.0, &got.0)
    );
    assert_eq!(got.1, want.1, "stories");
    assert_eq!(got.2, want.2, "alerts");
    assert!(got.2.len() >= 3, "{:?}", got.2);
    let filler = got.0.iter().filter(|a| a.contains("Harbour town notice")).count();
    assert_eq!(
        filler,
        FEEDS * (10 + 3 * 19),
        "every item of the last generation, once"
    );
}
