//! Configuration: the TOML file as written (`FileConfig`, serde, unknown keys
//! refused) and the validated `Config` the rest of the program uses.
//!
//! Only this module and `cli` look at the environment or the user's folders.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// The shipped default configuration, used when no other file is found.
pub const DEFAULT_CONFIG: &str = include_str!("../config/chipwatch.toml");
/// Name under which the shipped default is reported in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in config/chipwatch.toml>";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error("invalid config {path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database: Option<PathBuf>,
    #[serde(default)]
    http: FileHttp,
    #[serde(default)]
    daemon: FileDaemon,
    #[serde(default)]
    topic: FileTopic,
    #[serde(default)]
    feeds: Vec<FileFeed>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDaemon {
    #[serde(default, with = "humantime_serde")]
    min_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    max_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    backoff: Option<Duration>,
    broken_after: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    host_gap: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    shutdown_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    user_agent: Option<String>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    connect_timeout: Option<Duration>,
    max_body: Option<ByteSize>,
    concurrency: Option<usize>,
    per_host: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTopic {
    profile: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFeed {
    url: String,
    name: Option<String>,
    lang: Option<String>,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    enabled: Option<bool>,
    #[serde(default)]
    tags: Vec<String>,
}

/// A byte count written as an integer or as a string with a unit (`"15MiB"`).
#[derive(Debug, Clone, Copy)]
struct ByteSize(u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => parse_bytes(&s).map(ByteSize).map_err(serde::de::Error::custom),
        }
    }
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size such as \"15MiB\" or 1048576"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` (use B, KiB, MiB or GiB)")),
    };
    Ok((num * mult as f64) as u64)
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration came from (a path or the built-in name).
    pub source: String,
    pub database: PathBuf,
    pub http: HttpConfig,
    pub daemon: DaemonConfig,
    /// Path of the topic profile, if one is configured.
    pub topic_profile: Option<PathBuf>,
    pub feeds: Vec<FeedConfig>,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub user_agent: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body: u64,
    pub concurrency: usize,
    pub per_host: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            user_agent: concat!(
                "chipwatch/",
                env!("CARGO_PKG_VERSION"),
                " (+",
                env!("CARGO_PKG_HOMEPAGE"),
                ")"
            )
            .to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body: 15 << 20,
            concurrency: 32,
            per_host: 2,
        }
    }
}

/// The `[daemon]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub limits: crate::schedule::Limits,
    pub broken_after: u32,
    pub host_gap: Duration,
    pub shutdown_timeout: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            limits: crate::schedule::Limits::default(),
            broken_after: 10,
            host_gap: Duration::from_millis(250),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's identity, as written in the config (file URLs made absolute).
    pub url: String,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub interval: Option<Duration>,
    pub enabled: bool,
    pub tags: Vec<String>,
}

impl FeedConfig {
    /// The label shown to users: the name, else the URL.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }
}

/// Where to look for a configuration when `--config` is not given.
#[derive(Debug, Clone)]
pub struct Locations {
    pub env_config: Option<PathBuf>,
    pub cwd: PathBuf,
    pub config_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

impl Locations {
    /// Read the process environment and the user's XDG folders.
    pub fn from_env() -> Self {
        let dirs = directories::ProjectDirs::from("", "", "chipwatch");
        Self {
            env_config: std::env::var_os("CHIPWATCH_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            config_dir: dirs.as_ref().map(|d| d.config_dir().to_path_buf()),
            data_dir: dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
        }
    }

    /// The config file to use: `--config`, `$CHIPWATCH_CONFIG`,
    /// `./chipwatch.toml`, the user's config dir; `None` means the built-in default.
    pub fn resolve(&self, flag: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = flag {
            return Some(p.to_path_buf());
        }
        if let Some(p) = &self.env_config {
            return Some(p.clone());
        }
        let local = self.cwd.join("chipwatch.toml");
        if local.is_file() {
            return Some(local);
        }
        let user = self.config_dir.as_ref()?.join("chipwatch.toml");
        user.is_file().then_some(user)
    }
}

/// Load the configuration from `path`, or the built-in default when `None`.
pub fn load(path: Option<&Path>, loc: &Locations) -> Result<Config, ConfigError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let base = path
                .parent()
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .unwrap_or(Path::new("."));
            let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
            parse(&text, &path.display().to_string(), &base, loc)
        }
        None => {
            // The shipped default resolves relative paths against the repo's
            // config folder when it exists (running from a checkout), else
            // against the working directory.
            let base = loc.cwd.join("config");
            parse(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, &base, loc)
        }
    }
}

/// Parse and validate a configuration. `base` is the folder relative paths
/// resolve against; `loc` provides the default database location.
pub fn parse(text: &str, source: &str, base: &Path, loc: &Locations) -> Result<Config, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start.min(text.len()));
        let line = text.as_bytes()[..start].iter().filter(|b| **b == b'\n').count() + 1;
        let mut message = e.message().trim().to_owned();
        // Quote the offending line so the key is named even when the
        // message only talks about the value.
        if let Some(src) = text
            .lines()
            .nth(line - 1)
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            message.push_str(&format!(" (in `{src}`)"));
        }
        ConfigError::Syntax {
            path: source.to_owned(),
            line,
            message,
        }
    })?;
    let invalid = |message: String| ConfigError::Invalid {
        path: source.to_owned(),
        message,
    };

    let database = match file.database {
        Some(p) if p.as_os_str().is_empty() => return Err(invalid("`database` is empty".into())),
        Some(p) => base.join(p),
        None => loc
            .data_dir
            .clone()
            .unwrap_or_else(|| loc.cwd.clone())
            .join("chipwatch.db"),
    };

    let mut http = HttpConfig::default();
    if let Some(ua) = file.http.user_agent {
        if ua.trim().is_empty() {
            return Err(invalid("`http.user_agent` is empty".into()));
        }
        http.user_agent = ua;
    }
    if let Some(t) = file.http.timeout {
        http.timeout = t;
    }
    if let Some(t) = file.http.connect_timeout {
        http.connect_timeout = t;
    }
    if let Some(b) = file.http.max_body {
        http.max_body = b.0;
    }
    if let Some(c) = file.http.concurrency {
        http.concurrency = c;
    }
    if let Some(c) = file.http.per_host {
        http.per_host = c;
    }
    for (key, v) in [
        ("http.concurrency", http.concurrency as u64),
        ("http.per_host", http.per_host as u64),
        ("http.max_body", http.max_body),
        ("http.timeout", http.timeout.as_millis() as u64),
        ("http.connect_timeout", http.connect_timeout.as_millis() as u64),
    ] {
        if v == 0 {
            return Err(invalid(format!("`{key}` must be greater than zero")));
        }
    }

    let mut daemon = DaemonConfig::default();
    let d = file.daemon;
    if let Some(v) = d.min_interval {
        daemon.limits.min_interval = v;
    }
    if let Some(v) = d.max_interval {
        daemon.limits.max_interval = v;
    }
    if let Some(v) = d.backoff {
        daemon.limits.backoff = v;
    }
    if let Some(v) = d.broken_after {
        daemon.broken_after = v;
    }
    if let Some(v) = d.host_gap {
        daemon.host_gap = v;
    }
    if let Some(v) = d.shutdown_timeout {
        daemon.shutdown_timeout = v;
    }
    for (key, v) in [
        ("daemon.min_interval", daemon.limits.min_interval),
        ("daemon.max_interval", daemon.limits.max_interval),
        ("daemon.backoff", daemon.limits.backoff),
    ] {
        if v.is_zero() {
            return Err(invalid(format!("`{key}` must be greater than zero")));
        }
    }
    if daemon.limits.min_interval > daemon.limits.max_interval {
        return Err(invalid(
            "`daemon.min_interval` is longer than `daemon.max_interval`".into(),
        ));
    }
    if daemon.broken_after == 0 {
        return Err(invalid("`daemon.broken_after` must be greater than zero".into()));
    }

    let mut feeds: Vec<FeedConfig> = Vec::with_capacity(file.feeds.len());
    // The URLs seen so far (a set: comparing each with every earlier one
    // cost a millisecond for 500 feeds).
    let mut seen = std::collections::HashSet::with_capacity(file.feeds.len());
    for (n, f) in file.feeds.into_iter().enumerate() {
        let url = normalise_feed_url(&f.url, base)
            .map_err(|m| invalid(format!("feeds[{n}].url `{}`: {m}", f.url)))?;
        if !seen.insert(url.clone()) {
            return Err(invalid(format!("feeds[{n}].url `{url}` is listed twice")));
        }
        if let Some(lang) = &f.lang
            && !(2..=3).contains(&lang.len())
        {
            return Err(invalid(format!(
                "feeds[{n}].lang `{lang}` is not an ISO 639-1 code such as \"en\""
            )));
        }
        feeds.push(FeedConfig {
            url,
            name: f.name.filter(|n| !n.trim().is_empty()),
            lang: f.lang.map(|l| l.to_ascii_lowercase()),
            interval: match f.interval {
                Some(i) if i.is_zero() => {
                    return Err(invalid(format!("feeds[{n}].interval must be greater than zero")));
                }
                i => i,
            },
            enabled: f.enabled.unwrap_or(true),
            tags: f.tags,
        });
    }

    Ok(Config {
        source: source.to_owned(),
        database,
        http,
        daemon,
        topic_profile: file.topic.profile.map(|p| base.join(p)),
        feeds,
    })
}

/// Check a feed URL and make `file:` URLs absolute: `file:relative/x.xml`
/// resolves against the config file's folder.
pub fn normalise_feed_url(raw: &str, base: &Path) -> Result<String, String> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix("file:")
        && !rest.starts_with('/')
    {
        let path = base.join(rest);
        let path = std::fs::canonicalize(&path)
            .or_else(|_| std::path::absolute(&path))
            .unwrap_or(path);
        return Url::from_file_path(&path)
            .map(String::from)
            .map_err(|()| format!("cannot turn {} into a file URL", path.display()));
    }
    let url = Url::parse(raw).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" | "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err("has no host".into());
            }
            Ok(url.into())
        }
        "file" => Ok(url.into()),
        other => Err(format!(
            "scheme `{other}` is not supported (use http, https or file)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Locations {
        Locations {
            env_config: None,
            cwd: PathBuf::from("/work"),
            config_dir: None,
            data_dir: Some(PathBuf::from("/data")),
        }
    }

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, "test.toml", Path::new("/etc/cw"), &loc())
    }

    #[test]
    fn shipped_default_parses() {
        let cfg = parse(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, Path::new("/x"), &loc()).unwrap();
        assert!(cfg.feeds.len() >= 20, "default lists {} feeds", cfg.feeds.len());
        assert_eq!(cfg.database, PathBuf::from("/data/chipwatch.db"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse_str("database = \"a.db\"\n\n[http]\ntimeoutt = \"3s\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("test.toml:4"), "{msg}");
        assert!(msg.contains("timeoutt"), "{msg}");
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let cfg = parse_str(
            "database = \"db/cw.db\"\n[topic]\nprofile = \"topics/t.toml\"\n\
             [[feeds]]\nurl = \"file:feeds/a.xml\"\n",
        )
        .unwrap();
        assert_eq!(cfg.database, PathBuf::from("/etc/cw/db/cw.db"));
        assert_eq!(cfg.topic_profile, Some(PathBuf::from("/etc/cw/topics/t.toml")));
        assert_eq!(cfg.feeds[0].url, "file:///etc/cw/feeds/a.xml");
    }

    #[test]
    fn sizes_and_durations() {
        let cfg = parse_str("[http]\nmax_body = \"2MiB\"\ntimeout = \"1m 5s\"\n").unwrap();
        assert_eq!(cfg.http.max_body, 2 << 20);
        assert_eq!(cfg.http.timeout, Duration::from_secs(65));
        assert_eq!(
            parse_str("[http]\nmax_body = 1000\n").unwrap().http.max_body,
            1000
        );
        assert!(parse_str("[http]\nmax_body = \"3 parsecs\"\n").is_err());
    }

    #[test]
    fn bad_feed_urls_are_refused() {
        for bad in ["ftp://x.example/feed", "not a url", "http://"] {
            let text = format!("[[feeds]]\nurl = \"{bad}\"\n");
            assert!(parse_str(&text).is_err(), "{bad} accepted");
        }
        let dup = "[[feeds]]\nurl = \"https://a.example/f\"\n[[feeds]]\nurl = \"https://a.example/f\"\n";
        assert!(parse_str(dup).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn daemon_table() {
        let cfg = parse_str(
            "[daemon]\nmin_interval = \"1m\"\nmax_interval = \"2h\"\nbroken_after = 3\nhost_gap = \"0s\"\n",
        )
        .unwrap();
        assert_eq!(cfg.daemon.limits.min_interval, Duration::from_secs(60));
        assert_eq!(cfg.daemon.limits.max_interval, Duration::from_secs(7200));
        assert_eq!(cfg.daemon.broken_after, 3);
        assert_eq!(cfg.daemon.host_gap, Duration::ZERO);
        let shipped = parse(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, Path::new("/x"), &loc()).unwrap();
        assert_eq!(shipped.daemon, DaemonConfig::default());
        let err = parse_str("[daemon]\nmin_interval = \"2d\"\n").unwrap_err();
        assert!(err.to_string().contains("min_interval"), "{err}");
        assert!(parse_str("[daemon]\nbroken_after = 0\n").is_err());
        assert!(parse_str("[[feeds]]\nurl = \"https://a.example/f\"\ninterval = \"0s\"\n").is_err());
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let err = parse_str("[http]\nconcurrency = 0\n").unwrap_err();
        assert!(err.to_string().contains("http.concurrency"));
    }
}
