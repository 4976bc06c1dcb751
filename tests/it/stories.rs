//! Stories and alerts end to end: the demo feeds (one development reported
//! in five languages by six feeds, with a syndicated copy) served over HTTP.

use crate::support::{Reply, TestApp, TestServer};

fn serve_demo() -> (TestServer, Vec<(&'static str, String)>) {
    let server = TestServer::fixtures("demo", "/");
    let feeds = [
        "siliconledger.xml",
        "pacificwire.atom",
        "hebdonumerique.atom",
        "technikrundschau.xml",
        "kejiguancha.xml",
        "techwatch-jp.json",
    ]
    .iter()
    .map(|f| (*f, server.url(&format!("/{f}"))))
    .collect();
    (server, feeds)
}

fn alerts(app: &TestApp, all: bool) -> Vec<serde_json::Value> {
    app.alerts_json(all).0
}

#[test]
fn one_development_in_five_languages_is_one_story_and_one_alert() {
    let (_server, feeds) = serve_demo();
    let app = TestApp::new(&feeds, "");
    let (code, out, err) = app.crawl();
    assert_eq!(code, 0, "{out}{err}");
    let list = alerts(&app, false);
    let approval: Vec<_> = list
        .iter()
        .filter(|a| a["title"].as_str().unwrap().contains("approves first H200"))
        .collect();
    assert_eq!(approval.len(), 1, "one alert for the import approval: {list:#?}");
    let story = &approval[0]["story"];
    let langs: Vec<&str> = story["langs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for l in ["en", "fr", "de", "zh", "ja"] {
        assert!(langs.contains(&l), "{l} missing from {langs:?}");
    }
    assert!(story["outlets"].as_array().unwrap().len() >= 5, "{story}");
    // The alert is on the earliest report, and the export marks it.
    let rows = app.export();
    let alerting: Vec<_> = rows.iter().filter(|r| r["alert"] == true).collect();
    assert_eq!(alerting.len(), list.len());
    let story_id = &story["id"];
    let members: Vec<_> = rows.iter().filter(|r| &r["story"] == story_id).collect();
    let first = members
        .iter()
        .min_by_key(|r| r["published"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(first["alert"], true, "the alert is on the first report");
    // No alert for the potato chips, the casino or the H200 van.
    for r in &rows {
        let t = r["title"].as_str().unwrap();
        if t.contains("chips") && !t.contains("Nvidia") || t.contains("Hyundai") || t.contains("Macau") {
            assert_eq!(r["relevant"], false, "{t}");
            assert_eq!(r["alert"], false, "{t}");
        }
    }
}

#[test]
fn recrawl_and_restart_raise_no_new_alert() {
    let (_server, feeds) = serve_demo();
    let app = TestApp::new(&feeds, "");
    assert_eq!(app.crawl().0, 0);
    let before = alerts(&app, true);
    let rows = app.export();
    // A new process on the same database, twice.
    assert_eq!(app.crawl().0, 0);
    assert_eq!(app.crawl().0, 0);
    assert_eq!(alerts(&app, true), before);
    assert_eq!(app.export(), rows);
    // Reclassifying with the same profile changes nothing either.
    let (code, out, _) = app.run(&["reclassify"]);
    assert_eq!(code, 0);
    assert!(out.contains("0 newly relevant, 0 no longer relevant"), "{out}");
    assert_eq!(alerts(&app, true), before);
}

#[test]
fn alerts_can_be_acknowledged() {
    let (_server, feeds) = serve_demo();
    let app = TestApp::new(&feeds, "");
    assert_eq!(app.crawl().0, 0);
    let list = alerts(&app, false);
    assert!(list.len() >= 3);
    let id = list[0]["id"].to_string();
    let (code, out, _) = app.run(&["alerts", "ack", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("1 alerts acknowledged"), "{out}");
    assert_eq!(alerts(&app, false).len(), list.len() - 1);
    assert_eq!(alerts(&app, true).len(), list.len());
    let (code, _, err) = app.run(&["alerts", "ack", "999999"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = app.run(&["alerts", "unack", &id]);
    assert_eq!(code, 0);
    assert_eq!(alerts(&app, false).len(), list.len());
    let (code, out, _) = app.run(&["alerts", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("marks the report that raised the alert"), "{out}");
    let (code, _, _) = app.run(&["alerts", "ack", "--all"]);
    assert_eq!(code, 0);
    assert!(alerts(&app, false).is_empty());
}

#[test]
fn reclassify_after_a_profile_change_rebuilds_stories_without_duplicate_alerts() {
    let (_server, feeds) = serve_demo();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/topics/chip-exports.toml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, &text).unwrap();
    let app = TestApp::new(
        &feeds,
        &format!("[topic]\nprofile = {:?}\n", profile.display().to_string()),
    );
    assert_eq!(app.crawl().0, 0);
    let before: Vec<i64> = alerts(&app, false)
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(!before.is_empty());

    // A much stricter profile: nothing is relevant, every alert is withdrawn.
    std::fs::write(&profile, text.replacen("threshold = 2.5", "threshold = 500.0", 1)).unwrap();
    let (code, out, err) = app.run(&["reclassify", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(
        alerts(&app, false).len(),
        before.len(),
        "a dry run writes nothing"
    );
    let (code, out, _) = app.run(&["reclassify"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("no longer relevant") && out.contains("stories rebuilt"),
        "{out}"
    );
    assert!(alerts(&app, false).is_empty());
    let (_, stories, _) = app.run(&["stories", "--format", "json"]);
    assert_eq!(stories.trim(), "");

    // Back to the shipped profile: the same alerts come back, no new ones.
    std::fs::write(&profile, &text).unwrap();
    let (code, _, _) = app.run(&["reclassify"]);
    assert_eq!(code, 0);
    let after: Vec<i64> = alerts(&app, false)
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(after, before);
}

#[test]
fn a_broken_profile_is_refused_with_file_and_line() {
    let (_server, feeds) = serve_demo();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bad.toml");
    std::fs::write(
        &profile,
        "[profile]\nname = \"x\"\nthreshold = 1.0\n\n[events.aproval]\nen = [\"ok\"]\n",
    )
    .unwrap();
    let app = TestApp::new(
        &feeds,
        &format!("[topic]\nprofile = {:?}\n", profile.display().to_string()),
    );
    let (code, _, err) = app.crawl();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    assert!(
        !app.db_path().exists() || app.export().is_empty(),
        "nothing crawled with a broken profile"
    );
}

fn rss(items: &[(&str, &str, &str, &str)]) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (title, summary, link, date) in items {
        s.push_str(&format!(
            "<item><title>{title}</title><description>{summary}</description><link>{link}</link>\
             <guid>{link}</guid><pubDate>{date}</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

#[test]
fn out_of_order_fetch_alerts_on_the_earliest_report() {
    // The first feed listed (and so likely fetched first) carries the later
    // report; the earliest report is in the second feed.
    let later = rss(&[(
        "Nvidia halts H20 shipments to China after US licence demand",
        "Nvidia said the US Commerce Department told it that exports of its H20 chip to China now require a licence.",
        "https://late.example/h20-licence",
        "Wed, 16 Apr 2025 09:00:00 GMT",
    )]);
    let earliest = rss(&[(
        "US requires licence for Nvidia H20 exports to China",
        "The Commerce Department has told Nvidia that H20 sales to China need an export licence, the company said in a filing.",
        "https://early.example/h20",
        "Tue, 15 Apr 2025 21:00:00 GMT",
    )]);
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/late" => Reply::ok(later.clone()),
        "/early" => Reply::ok(earliest.clone()),
        _ => Reply::status(404),
    });
    let app = TestApp::new(
        &[("late", server.url("/late")), ("early", server.url("/early"))],
        "",
    );
    assert_eq!(app.crawl().0, 0);
    let rows = app.export();
    let alerting: Vec<&str> = rows
        .iter()
        .filter(|r| r["alert"] == true)
        .map(|r| r["url"].as_str().unwrap())
        .collect();
    assert_eq!(alerting, vec!["https://early.example/h20"], "{rows:#?}");
    assert_eq!(rows[0]["story"], rows[1]["story"], "one story");
}

#[test]
fn the_same_chips_in_two_developments_are_two_alerts() {
    let feed = rss(&[
        (
            "US will allow Nvidia H200 sales to approved customers in China",
            "The Commerce Department will license H200 exports to vetted Chinese customers, the White House said.",
            "https://n.example/h200-us",
            "Mon, 08 Dec 2025 21:45:00 GMT",
        ),
        (
            "China approves first imports of Nvidia H200 chips for Alibaba and Tencent",
            "Beijing has approved the first batch of H200 imports for Chinese cloud companies, people familiar said.",
            "https://n.example/h200-china",
            "Wed, 28 Jan 2026 06:50:00 GMT",
        ),
    ]);
    let server = TestServer::start(move |_| Reply::ok(feed.clone()));
    let app = TestApp::new(&[("n", server.url("/f"))], "");
    assert_eq!(app.crawl().0, 0);
    let list = alerts(&app, false);
    assert_eq!(list.len(), 2, "{list:#?}");
    assert_ne!(list[0]["story"]["id"], list[1]["story"]["id"]);
}
