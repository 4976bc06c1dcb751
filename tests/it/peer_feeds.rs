//! Every document from other feed parsers' test suites goes through the
//! parse path: errors are fine, panics are not.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if !p.to_string_lossy().ends_with(".serde.json")
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("README"))
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("LICENSE"))
        {
            out.push(p);
        }
    }
}

#[test]
fn peer_feeds_never_panic_the_parser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-feeds");
    assert!(
        root.is_dir(),
        "{} is missing: the robustness corpus sits beside the repo",
        root.display()
    );
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    assert!(files.len() > 1000, "only {} peer feeds found", files.len());
    let (mut ok, mut with_items, mut errors, mut panics) = (0, 0, 0, Vec::new());
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let result = std::panic::catch_unwind(|| {
            chipwatch::parse::parse_feed(&bytes, None, "https://peer.example/feed")
        });
        match result {
            Ok(Ok(feed)) => {
                ok += 1;
                if !feed.items.is_empty() {
                    with_items += 1;
                }
            }
            Ok(Err(_)) => errors += 1,
            Err(_) => panics.push(f.display().to_string()),
        }
    }
    eprintln!(
        "peer feeds: {} files, {ok} parsed ({with_items} with entries), {errors} refused with an error, {} panics",
        files.len(),
        panics.len()
    );
    assert!(panics.is_empty(), "parser panicked on: {panics:#?}");
    // Most of the corpus is single-element conformance files with no
    // entries; the real-world captures do have them. Guard against a
    // regression that silently drops entries.
    assert!(
        with_items >= 320,
        "only {with_items} of {} yield entries",
        files.len()
    );
}
