//! `chipwatch feeds add|remove|import`: edit the config file in place,
//! keeping its comments and layout (toml_edit), written atomically.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use toml_edit::{DocumentMut, Item, Table, value};

use crate::config::{self, Locations};

/// A feed to add to the config.
#[derive(Debug, Clone)]
pub struct NewFeed {
    pub url: String,
    pub name: Option<String>,
    pub lang: Option<String>,
}

/// The config file to edit. With no config file in use, the shipped default
/// is copied to the user's config dir first; the returned flag says so.
pub fn editable_path(path: Option<&Path>, loc: &Locations) -> anyhow::Result<(PathBuf, bool)> {
    if let Some(p) = path {
        return Ok((p.to_path_buf(), false));
    }
    let dir = loc
        .config_dir
        .clone()
        .context("no config file is in use and the user's config folder is unknown; pass --config PATH")?;
    let target = dir.join("chipwatch.toml");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Point the copied default's relative topic path at the shipped profile
    // when running from a checkout; elsewhere use the built-in profile.
    let mut doc: DocumentMut = config::DEFAULT_CONFIG
        .parse()
        .context("the built-in config does not parse")?;
    let shipped = loc.cwd.join("config");
    if let Some(topic) = doc.get_mut("topic").and_then(Item::as_table_mut)
        && let Some(profile) = topic.get("profile").and_then(Item::as_str).map(str::to_owned)
        && Path::new(&profile).is_relative()
    {
        if shipped.join(&profile).is_file() {
            topic["profile"] = value(shipped.join(&profile).display().to_string());
        } else {
            // Outside a checkout there is no profile file to point at: leave
            // the key out and the built-in profile is used.
            topic.remove("profile");
        }
    }
    write_atomic(&target, &doc.to_string())?;
    Ok((target, true))
}

fn load_doc(path: &Path) -> anyhow::Result<DocumentMut> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.parse::<DocumentMut>()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

fn feeds_array(doc: &mut DocumentMut) -> anyhow::Result<&mut toml_edit::ArrayOfTables> {
    if !doc.contains_key("feeds") {
        doc.insert("feeds", Item::ArrayOfTables(Default::default()));
    }
    doc["feeds"]
        .as_array_of_tables_mut()
        .context("`feeds` in the config is not a list of [[feeds]] tables")
}

fn base_of(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Add feeds to the config file; returns (added, already present).
pub fn add(path: &Path, feeds: &[NewFeed]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut doc = load_doc(path)?;
    let base = base_of(path);
    let arr = feeds_array(&mut doc)?;
    let mut present: Vec<String> = arr
        .iter()
        .filter_map(|t| t.get("url").and_then(Item::as_str))
        .filter_map(|u| config::normalise_feed_url(u, &base).ok())
        .collect();
    let (mut added, mut skipped) = (Vec::new(), Vec::new());
    for f in feeds {
        let url = config::normalise_feed_url(&f.url, &base)
            .map_err(|m| anyhow::anyhow!("`{}` is not a feed URL: {m}", f.url))?;
        if present.contains(&url) {
            skipped.push(url);
            continue;
        }
        let mut t = Table::new();
        t["url"] = value(url.clone());
        if let Some(n) = &f.name {
            t["name"] = value(n.clone());
        }
        if let Some(l) = &f.lang {
            t["lang"] = value(l.clone());
        }
        arr.push(t);
        present.push(url.clone());
        added.push(url);
    }
    if !added.is_empty() {
        check_and_write(path, &doc)?;
    }
    Ok((added, skipped))
}

/// Remove the feed whose URL or name is `which`; returns its URL.
pub fn remove(path: &Path, which: &str) -> anyhow::Result<String> {
    let mut doc = load_doc(path)?;
    let base = base_of(path);
    let arr = feeds_array(&mut doc)?;
    let want_url = config::normalise_feed_url(which, &base).ok();
    let matches: Vec<(usize, String)> = arr
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let url = t.get("url").and_then(Item::as_str)?;
            let norm = config::normalise_feed_url(url, &base).ok();
            let name = t.get("name").and_then(Item::as_str);
            let hit = (want_url.is_some() && norm == want_url) || name == Some(which) || url == which;
            hit.then(|| (i, url.to_owned()))
        })
        .collect();
    match matches.as_slice() {
        [] => bail!("no feed named or at `{which}` in {}", path.display()),
        [(i, url)] => {
            let url = url.clone();
            arr.remove(*i);
            check_and_write(path, &doc)?;
            Ok(url)
        }
        many => bail!(
            "`{which}` names {} feeds ({}); remove one by URL",
            many.len(),
            many.iter()
                .map(|(_, u)| u.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Refuse to write a config the program would then refuse to load.
fn check_and_write(path: &Path, doc: &DocumentMut) -> anyhow::Result<()> {
    let text = doc.to_string();
    let loc = Locations::from_env();
    config::parse(&text, &path.display().to_string(), &base_of(path), &loc)
        .context("the edited config would not be valid; nothing was written")?;
    write_atomic(path, &text)
}

/// Write via a temporary file and rename, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
