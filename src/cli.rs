//! Command-line arguments (clap derive). Raw arguments only: validation of
//! what they name happens in `config` and the command handlers.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "chipwatch",
    version,
    about = "Watch news feeds for chip-export developments between the US, its allies and China"
)]
pub struct Cli {
    /// Config file [default: $CHIPWATCH_CONFIG, ./chipwatch.toml, the user's
    /// config dir, else the shipped default]
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// More log output (-v debug, -vv trace)
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less output (-q warnings and errors only, -qq errors only)
    #[arg(long, short = 'q', global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,

    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keep every feed fresh: poll each on its own schedule until SIGINT/SIGTERM
    Daemon,
    /// Tell the running daemon to read the config and topic profile again (SIGHUP)
    Reload,
    /// Is the daemon running; feeds by health; the last poll cycle
    Status {
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Fetch every configured feed once and store new articles
    Crawl(CrawlArgs),
    /// List, add, remove, import or export feeds
    #[command(subcommand)]
    Feeds(FeedsCmd),
    /// Write stored articles as JSON Lines or CSV
    Export(ExportArgs),
    /// Classify text from stdin: JSON lines {"title","summary","lang"} or plain text lines
    Classify(ClassifyArgs),
    /// Show the decision on a stored article and why (by id or URL)
    Explain {
        #[arg(value_name = "URL_OR_ID")]
        article: String,
    },
    /// Review alerts: new developments, one alert each
    Alerts(AlertsArgs),
    /// List stories: coverage of one development across outlets and languages
    Stories {
        /// Only stories with a report on or after this date
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Full-text search of stored articles (words, "a phrase", AND, OR, NOT, prefix*)
    Search {
        #[arg(value_name = "QUERY")]
        query: String,
        /// At most this many results, best first
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Re-run the current topic profile over every stored article
    Reclassify {
        /// Show what would change and write nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Only crawl this feed (name or URL); may be repeated
    #[arg(long = "feed", value_name = "NAME_OR_URL")]
    pub feeds: Vec<String>,
    /// Never show a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum FeedsCmd {
    /// Show every feed with its health
    List {
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Add a feed to the config file
    Add {
        url: String,
        #[arg(long)]
        name: Option<String>,
        /// ISO 639-1 language of the feed, when it does not say
        #[arg(long)]
        lang: Option<String>,
    },
    /// Remove a feed (by name or URL) from the config file; its articles stay
    Remove {
        #[arg(value_name = "NAME_OR_URL")]
        feed: String,
    },
    /// Add every feed of an OPML file to the config file
    Import { file: PathBuf },
    /// Write the configured feeds as OPML 2.0 to stdout
    Export,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Only articles published (or first seen) on or after this date
    /// (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Topic profile to use instead of the configured one
    #[arg(long, value_name = "PATH")]
    pub profile: Option<PathBuf>,
    /// Include the evidence (matched terms, rules) in the output
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<AlertsCmd>,
    /// Include acknowledged alerts
    #[arg(long)]
    pub all: bool,
    /// Only alerts on reports published on or after this date
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only alerts of this development type
    #[arg(long, value_name = "TYPE")]
    pub event: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// The story behind an alert: every report, and why it alerted
    Show { id: i64 },
    /// Mark alerts as read
    Ack {
        #[arg(required_unless_present = "all")]
        ids: Vec<i64>,
        /// Every new alert
        #[arg(long)]
        all: bool,
    },
    /// Mark alerts as new again
    Unack {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}
