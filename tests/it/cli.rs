//! The command line as a user meets it: config errors, feed management,
//! OPML, export formats.

use crate::support::{Reply, TestApp, TestServer, fixture};

#[test]
fn bad_config_exits_2_naming_the_key_and_line() {
    let app = TestApp::new(&[], "[http]\ntimout = \"5s\"\n");
    let (code, out, err) = app.crawl();
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("timout") && err.contains("chipwatch.toml:3"),
        "{err}"
    );
    assert!(!app.db_path().exists(), "a bad config must write nothing");
}

#[test]
fn invalid_values_are_refused_with_exit_2() {
    for (extra, needle) in [
        ("[http]\nmax_body = \"lots\"\n", "max_body"),
        ("[http]\nconcurrency = 0\n", "http.concurrency"),
        ("[[feeds]]\nurl = \"gopher://x.example/\"\n", "gopher"),
        ("[http]\ntimeout = \"soon\"\n", "timeout"),
        ("[topic]\nprofile = 3\n", "profile"),
        ("[http]\nper_host = -1\n", "per_host"),
    ] {
        let app = TestApp::new(&[], extra);
        let (code, _, err) = app.crawl();
        assert_eq!(code, 2, "{extra}: {err}");
        assert!(err.contains(needle), "{extra}: {err}");
    }
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = assert_cmd::Command::cargo_bin("chipwatch")
        .unwrap()
        .args(["--config", "/nonexistent/cw.toml", "crawl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/cw.toml"), "{err}");
}

#[test]
fn opml_import_then_export_round_trips() {
    let app = TestApp::new(&[], "");
    let opml = app.dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
        <outline text="Tech"><outline text="Alpha &amp; Co" xmlUrl="https://alpha.example/feed.xml" language="fr-FR"/>
        <outline text="Beta" xmlUrl="https://beta.example/rss?x=1&amp;y=2"/></outline></body></opml>"#,
    )
    .unwrap();
    let (code, out, err) = app.run(&["feeds", "import", opml.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 2 feeds"), "{out}");
    // Importing again adds nothing.
    let (_, out, _) = app.run(&["feeds", "import", opml.to_str().unwrap()]);
    assert!(
        out.contains("imported 0 feeds") && out.contains("2 already"),
        "{out}"
    );

    let (code, exported, _) = app.run(&["feeds", "export"]);
    assert_eq!(code, 0);
    assert!(
        exported.contains(r#"xmlUrl="https://alpha.example/feed.xml""#),
        "{exported}"
    );
    assert!(
        exported.contains("Alpha &amp; Co") && exported.contains(r#"language="fr""#),
        "{exported}"
    );
    assert!(
        exported.contains("https://beta.example/rss?x=1&amp;y=2"),
        "{exported}"
    );
    // The edited config keeps its other content and still loads.
    let text = std::fs::read_to_string(&app.config).unwrap();
    assert!(text.starts_with("database = \"test.db\""), "{text}");
}

#[test]
fn feeds_add_and_remove_edit_the_config() {
    let app = TestApp::new(&[("Existing", "https://x.example/f".into())], "");
    let (code, out, _) = app.run(&["feeds", "add", "https://y.example/rss", "--name", "Why"]);
    assert_eq!(code, 0);
    assert!(out.contains("added https://y.example/rss"), "{out}");
    let (_, out, _) = app.run(&["feeds", "add", "https://y.example/rss"]);
    assert!(out.contains("already"), "{out}");
    let (code, _, err) = app.run(&["feeds", "add", "ftp://z.example/"]);
    assert_eq!(code, 1, "{err}");
    let (code, out, _) = app.run(&["feeds", "remove", "Why"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = app.run(&["feeds", "remove", "Nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("Nope"), "{err}");
    let text = std::fs::read_to_string(&app.config).unwrap();
    assert!(
        text.contains("https://x.example/f") && !text.contains("y.example"),
        "{text}"
    );
}

#[test]
fn bad_opml_is_refused() {
    let app = TestApp::new(&[], "");
    let f = app.dir.path().join("bad.opml");
    std::fs::write(&f, "<html><body>nope</body></html>").unwrap();
    let (code, _, err) = app.run(&["feeds", "import", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.opml"), "{err}");
}

#[test]
fn export_csv_and_since_filter() {
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |_| Reply::ok(body.clone()));
    let app = TestApp::new(&[("f", server.url("/f"))], "");
    assert_eq!(app.crawl().0, 0);
    let all = app.export();
    assert!(all.len() >= 2);
    let (code, csv, _) = app.run(&["export", "--format", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().count(), all.len() + 1, "{csv}");
    assert!(csv.starts_with("id,url,canonical_url,guid,title"), "{csv}");
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",relevant,score,event,chips"),
        "{csv}"
    );
    let (code, future, _) = app.run(&["export", "--since", "2100-01-01"]);
    assert_eq!(code, 0);
    assert_eq!(future.trim(), "");
    let (code, _, err) = app.run(&["export", "--since", "yesterday-ish"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn crawl_of_one_named_feed() {
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |_| Reply::ok(body.clone()));
    let app = TestApp::new(&[("one", server.url("/1")), ("two", server.url("/2"))], "");
    let (code, _, err) = app.run(&["crawl", "--no-progress", "--feed", "two"]);
    assert_eq!(code, 0, "{err}");
    assert!(server.requests("/1").is_empty());
    assert_eq!(server.requests("/2").len(), 1);
    let (code, _, err) = app.run(&["crawl", "--feed", "three"]);
    assert_eq!(code, 2);
    assert!(err.contains("three"), "{err}");
}

#[test]
fn a_dead_server_is_a_recorded_failure() {
    // Bind a port, then close it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |_| Reply::ok(body.clone()));
    let app = TestApp::new(
        &[
            ("dead", format!("http://127.0.0.1:{port}/f")),
            ("live", server.url("/f")),
        ],
        "",
    );
    let (code, out, _) = app.crawl();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cannot connect"), "{out}");
}

#[test]
fn feeds_add_without_a_config_copies_the_default_and_keeps_working() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let out = assert_cmd::Command::cargo_bin("chipwatch")
            .unwrap()
            .args(args)
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("cfg"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env_remove("CHIPWATCH_CONFIG")
            .write_stdin(stdin)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(
        &["feeds", "add", "https://example.com/feed.xml", "--name", "Ex"],
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("created") && out.contains("added"), "{out}");
    let cfg = home.path().join("cfg/chipwatch/chipwatch.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("https://example.com/feed.xml"));
    // Outside a checkout the copy uses the built-in profile.
    assert!(!text.contains("profile = \"topics/"), "{text}");
    let (code, out) = run(
        &["classify"],
        "{\"title\":\"US adds Chinese chipmakers to entity list\",\"lang\":\"en\"}\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\"relevant\":true"), "{out}");
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    // `chipwatch feeds list | head -1`, at its limit: stdout is a pipe whose
    // reader has gone, so every write fails with a broken pipe.
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |_| Reply::ok(body.clone()));
    let app = TestApp::new(&[("f", server.url("/f"))], "");
    assert_eq!(app.crawl().0, 0);
    for args in [
        &["feeds", "list"][..],
        &["export"],
        &["stories"],
        &["alerts", "--all"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("chipwatch"))
            .arg("--config")
            .arg(&app.config)
            .args(args)
            .env_remove("CHIPWATCH_CONFIG")
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn search_finds_stored_articles_and_refuses_a_malformed_query() {
    let body = fixture("feeds/rss20.xml");
    let server = TestServer::start(move |_| Reply::ok(body.clone()));
    let app = TestApp::new(&[("f", server.url("/f"))], "");
    assert_eq!(app.crawl().0, 0);
    // Indexed by the first search, not by the crawl.
    let (code, out, err) = app.run(&["search", "MI308 OR hyperscaler", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let titles: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 2, "{out}");
    assert!(
        titles.iter().any(|t| t.starts_with("AMD says MI308")),
        "{titles:?}"
    );
    // A crawl after a search: the new search still sees everything, once.
    assert_eq!(app.crawl().0, 0);
    let (_, out, _) = app.run(&["search", "H200", "--format", "csv"]);
    assert_eq!(out.lines().count(), 2, "header and one row: {out}");
    let (code, _, err) = app.run(&["search", "\"unterminated"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a valid search"), "{err}");
}
