#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

//! Integration tests: the real binary against a real HTTP server on
//! 127.0.0.1 and a real SQLite file.

mod cli;
mod crawl;
mod daemon;
mod peer_feeds;
mod stories;
mod support;
