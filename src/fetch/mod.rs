//! Fetching: the only module that knows reqwest. Conditional GET, timeouts,
//! redirects, a body cap enforced while streaming, a per-host limit, and
//! `file:` URLs for local feeds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap};
use tokio::sync::Semaphore;
use url::Url;

mod tls;

use crate::config::HttpConfig;
use crate::model::FeedState;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} is not a valid URL")]
    BadUrl { url: String },
    #[error("cannot build the HTTP client: {reason}")]
    Client { reason: String },
    #[error("timed out after {after:?}")]
    Timeout { after: Duration },
    #[error("too many redirects (more than {max}) or a redirect loop")]
    Redirect { max: usize },
    #[error("cannot connect: {reason}")]
    Connect { reason: String },
    #[error("request failed: {reason}")]
    Request { reason: String },
    #[error("HTTP {status}{}", retry_hint(.retry_after))]
    Status {
        status: u16,
        retry_after: Option<DateTime<Utc>>,
    },
    #[error("body is larger than the {limit}-byte limit (max_body)")]
    TooLarge { limit: u64 },
    #[error("reading the body failed: {reason}")]
    Body { reason: String },
    #[error("cannot read {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn retry_hint(r: &Option<DateTime<Utc>>) -> String {
    r.map(|t| format!(" (retry after {})", t.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default()
}

impl FetchError {
    /// When the server asked us to come back (Retry-After), if it did.
    pub fn retry_after(&self) -> Option<DateTime<Utc>> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The result of a successful fetch.
#[derive(Debug)]
pub enum Fetched {
    /// 304, or an unchanged local file: nothing to parse. `max_age` is the
    /// 304's Cache-Control max-age, if it sent one.
    NotModified {
        max_age: Option<Duration>,
    },
    Body(Body),
}

#[derive(Debug)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The URL the body came from, after redirects.
    pub final_url: String,
    /// Cache-Control max-age: how long the server says the body stays fresh.
    pub max_age: Option<Duration>,
}

const MAX_REDIRECTS: usize = 10;

/// One HTTP client for the whole run, with its per-host limits.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
    timeout: Duration,
    per_host: usize,
    /// Least time between two requests to one host.
    host_gap: Duration,
    hosts: Arc<Mutex<HashMap<String, Arc<Host>>>>,
}

/// Politeness state of one host: requests in flight, and when the next may start.
#[derive(Debug)]
struct Host {
    in_flight: Semaphore,
    next_start: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Fetcher {
    pub fn new(cfg: &HttpConfig) -> Result<Self, FetchError> {
        let tls = tls::client_config().map_err(|e| FetchError::Client {
            reason: e.to_string(),
        })?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(cfg.user_agent.clone())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .pool_max_idle_per_host(cfg.per_host.max(1))
            .build()
            .map_err(|e| FetchError::Client {
                reason: root_cause(&e),
            })?;
        Ok(Self {
            client,
            max_body: cfg.max_body,
            timeout: cfg.timeout,
            per_host: cfg.per_host.max(1),
            host_gap: Duration::ZERO,
            hosts: Arc::default(),
        })
    }

    /// Leave at least `gap` between the starts of two requests to one host.
    #[must_use]
    pub fn with_host_gap(mut self, gap: Duration) -> Self {
        self.host_gap = gap;
        self
    }

    fn host(&self, url: &Url) -> Arc<Host> {
        let host = url.host_str().unwrap_or("").to_owned();
        let mut map = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(host)
            .or_insert_with(|| {
                Arc::new(Host {
                    in_flight: Semaphore::new(self.per_host),
                    next_start: tokio::sync::Mutex::new(tokio::time::Instant::now()),
                })
            })
            .clone()
    }

    /// Fetch `url`, conditional on `state` (ETag / Last-Modified).
    pub async fn fetch(&self, url: &str, state: &FeedState) -> Result<Fetched, FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::BadUrl { url: url.to_owned() })?;
        if parsed.scheme() == "file" {
            return self.fetch_file(&parsed, state).await;
        }
        let host = self.host(&parsed);
        let _permit = host
            .in_flight
            .acquire()
            .await
            .expect("host semaphores are never closed");
        if !self.host_gap.is_zero() {
            // Waiters queue on the (fair) lock, so requests to a host start
            // one gap apart in arrival order.
            let mut next = host.next_start.lock().await;
            tokio::time::sleep_until(*next).await;
            *next = tokio::time::Instant::now() + self.host_gap;
        }

        let mut req = self.client.get(parsed.clone());
        if let Some(etag) = &state.etag {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &state.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| self.classify(&e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified {
                max_age: max_age(resp.headers()),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after: retry_after(resp.headers(), Utc::now()),
            });
        }
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FetchError::TooLarge { limit: self.max_body });
        }
        let headers = resp.headers().clone();
        let final_url = resp.url().to_string();
        let mut bytes =
            Vec::with_capacity(resp.content_length().unwrap_or(64 * 1024).min(self.max_body) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| match self.classify(&e) {
            FetchError::Request { reason } => FetchError::Body { reason },
            other => other,
        })? {
            if (bytes.len() + chunk.len()) as u64 > self.max_body {
                return Err(FetchError::TooLarge { limit: self.max_body });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(Body {
            bytes,
            content_type: header_str(&headers, header::CONTENT_TYPE),
            etag: header_str(&headers, header::ETAG),
            last_modified: header_str(&headers, header::LAST_MODIFIED),
            final_url,
            max_age: max_age(&headers),
        }))
    }

    fn classify(&self, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout { after: self.timeout }
        } else if e.is_redirect() {
            FetchError::Redirect { max: MAX_REDIRECTS }
        } else if e.is_connect() {
            FetchError::Connect {
                reason: root_cause(e),
            }
        } else {
            FetchError::Request {
                reason: root_cause(e),
            }
        }
    }

    async fn fetch_file(&self, url: &Url, state: &FeedState) -> Result<Fetched, FetchError> {
        let path = url
            .to_file_path()
            .map_err(|()| FetchError::BadUrl { url: url.to_string() })?;
        let file_err = |source| FetchError::File {
            path: path.display().to_string(),
            source,
        };
        let meta = tokio::fs::metadata(&path).await.map_err(file_err)?;
        if meta.len() > self.max_body {
            return Err(FetchError::TooLarge { limit: self.max_body });
        }
        // A local file's modification time stands in for Last-Modified.
        let stamp = meta.modified().ok().map(|t| mtime_token(t, meta.len()));
        if stamp.is_some() && stamp == state.last_modified {
            return Ok(Fetched::NotModified { max_age: None });
        }
        let bytes = tokio::fs::read(&path).await.map_err(file_err)?;
        if bytes.len() as u64 > self.max_body {
            return Err(FetchError::TooLarge { limit: self.max_body });
        }
        Ok(Fetched::Body(Body {
            bytes,
            content_type: None,
            etag: None,
            last_modified: stamp,
            final_url: url.to_string(),
            max_age: None,
        }))
    }
}

/// The innermost cause of a reqwest error: what actually went wrong
/// ("Connection refused", "failed to lookup address information"), without
/// the layers that repeat the URL.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let msg = cur.to_string();
    msg.strip_prefix("error resolving DNS: ")
        .map(str::to_owned)
        .unwrap_or(msg)
}

fn mtime_token(t: SystemTime, len: u64) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("mtime:{}.{:09}:{len}", d.as_secs(), d.subsec_nanos())
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Cache-Control `max-age`, capped at a week; `None` with `no-cache` or
/// `no-store`, which ask for nothing to be kept.
pub fn max_age(h: &HeaderMap) -> Option<Duration> {
    let mut age = None;
    for v in h.get_all(header::CACHE_CONTROL) {
        for directive in v.to_str().ok()?.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if d == "no-cache" || d == "no-store" {
                return None;
            }
            if let Some(n) = d.strip_prefix("max-age=") {
                age = n.trim_matches('"').parse::<u64>().ok();
            }
        }
    }
    age.map(|s| Duration::from_secs(s.min(7 * 24 * 3600)))
        .filter(|d| !d.is_zero())
}

/// `Retry-After` as an instant: delta-seconds or an HTTP date.
pub fn retry_after(h: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let v = header_str(h, header::RETRY_AFTER)?;
    if let Ok(secs) = v.parse::<u64>() {
        let secs = secs.min(7 * 24 * 3600) as i64;
        return Some(now + chrono::Duration::seconds(secs));
    }
    DateTime::parse_from_rfc2822(&v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h, now), Some(now + chrono::Duration::seconds(120)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Thu, 01 Jan 2026 01:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(now + chrono::Duration::hours(1)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn cache_control_max_age() {
        let check = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(v));
            max_age(&h)
        };
        assert_eq!(check("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(check("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(check("max-age=0"), None);
        assert_eq!(check("no-cache, max-age=600"), None);
        assert_eq!(check("private"), None);
        assert_eq!(
            check("max-age=99999999"),
            Some(Duration::from_secs(7 * 24 * 3600))
        );
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
