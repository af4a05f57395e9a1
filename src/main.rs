//! The `savepoint` binary: parse arguments, set up logging, run the command,
//! turn errors into one `error: …` line and an exit code (0 ok, 1 error,
//! 2 usage). Everything else lives in the library and `commands/`.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose, cli.is_daemon());
    match cli::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if cli::output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            cli::output::print_error(&e);
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr. A detached watcher's stderr is its log file: there
/// they carry timestamps and default to `info`.
fn init_tracing(verbose: u8, daemon: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("SAVEPOINT_LOG") {
        Ok(f) if !f.is_empty() => EnvFilter::new(f),
        _ => EnvFilter::new(match (verbose, daemon) {
            (0, false) => "savepoint=warn",
            (0, true) => "savepoint=info",
            (1, _) => "savepoint=debug",
            _ => "savepoint=trace",
        }),
    };
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!daemon && cli::output::stderr_color());
    if daemon {
        fmt.init();
    } else {
        fmt.without_time().init();
    }
}
