//! `syseng_exporter`: flags in, exporter running until SIGTERM or SIGINT.
use std::process::ExitCode;

use syseng_exporter::config::{Flags, LogFormat, LogLevel};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    hold_sighup();
    let flags = match Flags::from_args(std::env::args()) {
        Ok(flags) => flags,
        Err(error) => error.exit(),
    };
    if flags.version {
        print!("{}", syseng_exporter::telemetry::BUILD);
        return ExitCode::SUCCESS;
    }
    init_logging(flags.log_level, flags.log_format);
    let config = match flags.validate() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            eprintln!("syseng_exporter: {error}");
            return ExitCode::from(2);
        }
    };
    let web = if flags.web_config_file.is_empty() {
        None
    } else {
        match syseng_exporter::web::WebConfig::load(std::path::Path::new(&flags.web_config_file)) {
            Ok(web) => Some(web),
            Err(error) => {
                tracing::error!(%error, "invalid web configuration");
                eprintln!("syseng_exporter: --web.config.file: {error}");
                return ExitCode::from(2);
            }
        }
    };
    let socket_options = web.as_ref().and_then(|web| web.current().ip_socket.clone());
    let listeners = match syseng_exporter::listeners(&config, socket_options.as_ref()) {
        Ok(listeners) => listeners,
        Err(error) => {
            let addresses = flags.listen_addresses.join(",");
            tracing::error!(address = %addresses, %error, "cannot listen");
            eprintln!("syseng_exporter: cannot listen on {addresses}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let open_files = syseng_exporter::process::raise_open_file_limit();
    for listener in &listeners {
        tracing::info!(
            version = syseng_exporter::telemetry::VERSION,
            revision = syseng_exporter::telemetry::REVISION,
            branch = syseng_exporter::telemetry::BUILD.branch,
            address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            telemetry_path = %config.telemetry_path,
            stats_uri = %config.stats_uri.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            open_file_limit = open_files.unwrap_or(0),
            "listening"
        );
    }
    match syseng_exporter::run(listeners, config, web, shutdown_signal()) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "exporter failed");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP's default action ends the process. Its handler is installed here, before anything
/// else, so that a reload asked while the exporter starts is not a kill; the exporter's
/// runtime listens for it once it serves (an earlier one is dropped, the process lives).
fn hold_sighup() {
    use tokio::signal::unix::{SignalKind, signal};
    let installed = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map(|runtime| runtime.block_on(async { signal(SignalKind::hangup()).map(drop) }));
    if !matches!(installed, Ok(Ok(()))) {
        eprintln!(
            "syseng_exporter: cannot take over SIGHUP; a SIGHUP during start-up would stop it"
        );
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the exporter with SIGKILL");
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "shutting down: finishing in-flight scrapes");
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let filter = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_target(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}
