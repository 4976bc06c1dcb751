use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = chipwatch::cli::Cli::parse();
    chipwatch::telemetry::init(cli.verbose, cli.quiet, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(chipwatch::run(cli)) {
        Ok(exit) => exit.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let code = chipwatch::exit_code_for(&err);
            // The one place errors reach the user: the whole chain, one line.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("chipwatch: error: {err:#}");
            }
            code.into()
        }
    }
}

/// `chipwatch export | head` closes stdout early: that is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
