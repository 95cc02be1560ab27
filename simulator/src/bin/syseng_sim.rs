//! `syseng_sim`: flags -> configuration -> `syseng_sim::run`.

use std::process::ExitCode;

use clap::Parser;
use syseng_sim::cli::Cli;

fn init_logging(cli: &Cli) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = tracing_subscriber::filter::LevelFilter::from_level(cli.log_level);
    let registry = tracing_subscriber::registry().with(level);
    if cli.log_format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        registry
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init();
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        print!("{}", syseng_sim::BUILD);
        return ExitCode::SUCCESS;
    }
    init_logging(&cli);
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(reason) => {
            eprintln!("syseng_sim: {reason}");
            return ExitCode::from(2);
        }
    };
    // One thread: the work per request is tiny and a single-threaded runtime serves loopback
    // scrapes faster than a work-stealing one on small machines.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("syseng_sim: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(syseng_sim::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            tracing::error!(%reason, "syseng_sim failed");
            ExitCode::FAILURE
        }
    }
}
