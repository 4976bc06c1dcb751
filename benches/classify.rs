//! Topic-engine benchmarks: classifier throughput over a realistic mixed
//! corpus, and profile load time.
//!
//! ```sh
//! cargo bench --bench classify -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The corpus is the titles and summaries (HTML stripped) of the labelled
//! evaluation sets in `../shared/eval/{dev,real}.jsonl`, read at start-up.
//! Targets: classification ≥ 100 MB/s of article text per core; loading the
//! shipped profile < 50 ms.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use chipwatch::classify::normalize::normalise;
use chipwatch::classify::{Input, Profile, classify, classify_batch};
use chipwatch::parse::html::to_text;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// One article as the classifier sees it.
struct Article {
    title: String,
    summary: String,
    lang: Option<String>,
}

impl Article {
    fn input(&self) -> Input<'_> {
        Input {
            title: &self.title,
            summary: &self.summary,
            lang: self.lang.as_deref(),
        }
    }

    fn bytes(&self) -> usize {
        self.title.len() + self.summary.len()
    }
}

fn eval_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval")
}

/// Titles and plain-text summaries of every line of the evaluation sets.
fn corpus() -> Vec<Article> {
    let mut articles = Vec::new();
    for name in ["dev.jsonl", "real.jsonl"] {
        let path = eval_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the benchmark corpus {} is readable: {e}", path.display()));
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: a JSON object: {e}", path.display(), n + 1));
            let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
            articles.push(Article {
                title: to_text(field("title")),
                summary: to_text(field("summary")),
                lang: v
                    .get("lang")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
            });
        }
    }
    assert!(!articles.is_empty(), "the benchmark corpus has articles");
    articles
}

fn throughput(c: &mut Criterion) {
    let profile = Profile::builtin();
    let articles = corpus();
    let bytes: usize = articles.iter().map(Article::bytes).sum();

    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Bytes(bytes as u64));
    // The whole corpus per iteration, languages as the feeds declared them.
    group.bench_function("mixed_corpus", |b| {
        b.iter(|| {
            for a in &articles {
                black_box(classify(&profile, black_box(&a.input())));
            }
        });
    });
    // In batches of a feed's size, as the crawl classifies.
    group.bench_function("mixed_corpus_batched", |b| {
        let inputs: Vec<Input<'_>> = articles.iter().map(Article::input).collect();
        b.iter(|| {
            for chunk in inputs.chunks(50) {
                black_box(classify_batch(&profile, black_box(chunk)));
            }
        });
    });
    // The same with no declared language: language detection runs as well.
    group.bench_function("mixed_corpus_undeclared_lang", |b| {
        b.iter(|| {
            for a in &articles {
                let input = Input {
                    lang: None,
                    ..a.input()
                };
                black_box(classify(&profile, black_box(&input)));
            }
        });
    });
    // Normalisation alone, to tell its share of the time from matching.
    group.bench_function("normalise_only", |b| {
        b.iter(|| {
            for a in &articles {
                black_box(normalise(black_box(&a.title)));
                black_box(normalise(black_box(&a.summary)));
            }
        });
    });
    group.finish();
}

fn profile_load(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/topics/chip-exports.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the shipped profile {} is readable: {e}", path.display()));
    let source = path.display().to_string();

    let mut group = c.benchmark_group("profile");
    group.sample_size(20);
    group.bench_function("builtin", |b| b.iter(|| black_box(Profile::builtin())));
    group.bench_function("parse_shipped_file", |b| {
        b.iter(|| black_box(Profile::parse(black_box(&text), &source)))
    });
    // Parse plus building the matchers (done lazily, on the first article):
    // what a crawl that classifies anything pays once.
    group.bench_function("parse_and_compile", |b| {
        b.iter(|| {
            let p = Profile::parse(black_box(&text), &source).expect("the shipped profile parses");
            black_box(p.matcher());
        })
    });
    group.finish();
}

criterion_group!(benches, throughput, profile_load);
criterion_main!(benches);
