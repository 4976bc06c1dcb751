//! Test support: a real HTTP/1.1 server on 127.0.0.1 (port 0) running on its
//! own thread, and a `TestApp` with a temp folder, a config and the binary.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// What the server saw.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// What the server answers.
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Send the headers and the first bytes of the body, then stall forever.
    Stall {
        headers: Vec<(String, String)>,
        partial: Vec<u8>,
    },
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply::Full {
            status: 200,
            headers: vec![],
            body: body.into(),
        }
    }
    pub fn status(status: u16) -> Self {
        Reply::Full {
            status,
            headers: vec![],
            body: Vec::new(),
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        match &mut self {
            Reply::Full { headers, .. } | Reply::Stall { headers, .. } => headers.push((k.into(), v.into())),
        }
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
}

impl TestServer {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let handler: Arc<Handler> = Arc::new(handler);
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let handler = handler.clone();
                    let log = log2.clone();
                    tokio::spawn(async move {
                        let _ = serve_conn(sock, handler, log).await;
                    });
                }
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self { addr, log }
    }

    /// Serve the files of `fixtures/<folder>` at `<prefix><file name>`; 404 otherwise.
    pub fn fixtures(folder: &'static str, prefix: &'static str) -> Self {
        Self::start(move |req| {
            let name = req.path.strip_prefix(prefix).unwrap_or("");
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(folder)
                .join(name);
            match std::fs::read(path) {
                Ok(body) if !name.is_empty() => Reply::ok(body),
                _ => Reply::status(404),
            }
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests seen so far for `path`.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn serve_conn(
    mut sock: tokio::net::TcpStream,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Request>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Read one request head (no request bodies in these tests).
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let req = Request { path, headers };
        log.lock().unwrap().push(req.clone());
        let h = handler.clone();
        let reply = tokio::task::spawn_blocking(move || h(&req))
            .await
            .expect("handler panicked");
        match reply {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} X\r\n");
                let chunked = headers
                    .iter()
                    .any(|(k, v)| k == "Transfer-Encoding" && v == "chunked");
                for (k, v) in &headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                if !chunked {
                    out.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                out.push_str("\r\n");
                sock.write_all(out.as_bytes()).await?;
                if chunked {
                    for piece in body.chunks(1024) {
                        sock.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                            .await?;
                        sock.write_all(piece).await?;
                        sock.write_all(b"\r\n").await?;
                    }
                    sock.write_all(b"0\r\n\r\n").await?;
                } else {
                    sock.write_all(&body).await?;
                }
            }
            Reply::Stall { headers, partial } => {
                let mut out = String::from("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n");
                for (k, v) in &headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                sock.write_all(out.as_bytes()).await?;
                sock.write_all(&partial).await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Ok(());
            }
        }
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A temp folder with a database and a config that lists `feeds`.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl TestApp {
    /// `feeds`: (name, url). `extra`: more TOML for the top of the file.
    pub fn new(feeds: &[(&str, String)], extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("chipwatch.toml");
        let mut text = format!("database = \"test.db\"\n{extra}\n");
        for (name, url) in feeds {
            text.push_str(&format!("\n[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n"));
        }
        std::fs::write(&config, text).unwrap();
        Self { dir, config }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("test.db")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("chipwatch").unwrap();
        c.arg("--config")
            .arg(&self.config)
            .env_remove("CHIPWATCH_CONFIG")
            .env("NO_COLOR", "1");
        c.timeout(Duration::from_secs(120));
        c
    }

    /// Run `chipwatch ARGS`, returning (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn crawl(&self) -> (i32, String, String) {
        self.run(&["crawl", "--no-progress"])
    }

    /// `alerts --format json` (new ones, or `--all`), one value per alert;
    /// also returns stderr.
    pub fn alerts_json(&self, all: bool) -> (Vec<serde_json::Value>, String) {
        let mut args = vec!["alerts", "--format", "json"];
        if all {
            args.push("--all");
        }
        let (code, out, err) = self.run(&args);
        assert_eq!(code, 0, "{err}");
        (
            out.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            err,
        )
    }

    /// Every exported article as JSON.
    pub fn export(&self) -> Vec<serde_json::Value> {
        let (code, out, err) = self.run(&["export", "--format", "jsonl"]);
        assert_eq!(code, 0, "export failed: {err}");
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// `feeds list --format json`, keyed by URL.
    pub fn feed_states(&self) -> HashMap<String, serde_json::Value> {
        let (code, out, err) = self.run(&["feeds", "list", "--format", "json"]);
        assert_eq!(code, 0, "feeds list failed: {err}");
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["url"].as_str().unwrap().to_owned(), v))
            .collect()
    }
}
