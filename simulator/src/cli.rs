//! Command-line flags, in Prometheus style, and their translation into a [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::Config;
use crate::fault::{FaultSpec, parse_flag};
use crate::fleet::FleetConfig;
use crate::prom_duration::parse_millis;
use crate::traffic::{DEFAULT_CODE_MIX, TrafficModel, parse_code_mix};

/// Simulates a fleet of syseng-challenge instances, each answering GET /stats, with an admin
/// API to inject faults. See docs/simulator.md.
#[derive(Debug, Parser)]
// --version prints Prometheus's block (BUILD), which clap's "NAME VERSION" cannot.
#[command(name = "syseng_sim", disable_version_flag = true, about, long_about = None)]
pub struct Cli {
    /// Number of instances to run.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,

    /// Address of instance 0; instance i listens on port + i (port 0: any free port each).
    #[arg(long = "listen-address", default_value = "127.0.0.1:8080")]
    pub listen_address: SocketAddr,

    /// Address of the admin API.
    #[arg(long = "admin.listen-address", default_value = "127.0.0.1:9080")]
    pub admin_listen_address: SocketAddr,

    /// Write a Prometheus file_sd JSON list of the instances here (rewritten atomically).
    #[arg(long = "file-sd", value_name = "PATH")]
    pub file_sd: Option<PathBuf>,

    /// Seed of the simulation: the same seed gives the same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Number of zones (zone-a, zone-b, ...), assigned round-robin.
    #[arg(long, default_value_t = 3)]
    pub zones: u32,

    /// Mean requests per second of each instance.
    #[arg(long = "traffic.rate", default_value_t = 100.0)]
    pub traffic_rate: f64,

    /// Relative amplitude of the slow drift of the rate (0.2 = plus or minus 20%).
    #[arg(long = "traffic.drift", default_value_t = 0.2)]
    pub traffic_drift: f64,

    /// Period of the drift (Prometheus duration).
    #[arg(long = "traffic.drift-period", default_value = "1h")]
    pub traffic_drift_period: String,

    /// Second-to-second noise of the rate (log-normal sigma).
    #[arg(long = "traffic.noise", default_value_t = 0.05)]
    pub traffic_noise: f64,

    /// Status code mix as CODE=WEIGHT pairs; weights are normalised.
    #[arg(long = "traffic.codes", default_value = DEFAULT_CODE_MIX)]
    pub traffic_codes: String,

    /// Median request duration (Prometheus duration).
    #[arg(long = "duration.median", default_value = "25ms")]
    pub duration_median: String,

    /// Tail heaviness of request durations (log-normal sigma; the mean is median * e^(sigma^2/2)).
    #[arg(long = "duration.sigma", default_value_t = 0.8)]
    pub duration_sigma: f64,

    /// A fault in force from the start, as key=value pairs or JSON; repeatable.
    /// Example: --fault 'kind=down,index=2' --fault 'kind=error_burst,zone=zone-a,share_of_requests=0.2'
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: tracing::Level,

    /// Log format: logfmt or json.
    #[arg(long = "log.format", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    pub log_format: String,

    /// Print version
    #[arg(short = 'V', long = "version")]
    pub version: bool,
}

impl Cli {
    /// Checks every flag and builds the configuration; the error is one line.
    pub fn into_config(self) -> Result<Config, String> {
        let model = TrafficModel {
            rate: self.traffic_rate,
            drift_amplitude: self.traffic_drift,
            drift_period_ms: parse_millis(&self.traffic_drift_period)
                .map_err(|e| format!("--traffic.drift-period: {e}"))?,
            noise: self.traffic_noise,
            code_mix: parse_code_mix(&self.traffic_codes)
                .map_err(|e| format!("--traffic.codes: {e}"))?,
            duration_median: parse_millis(&self.duration_median)
                .map_err(|e| format!("--duration.median: {e}"))?
                as f64
                / 1000.0,
            duration_sigma: self.duration_sigma,
        }
        .validated()?;
        let faults = self
            .faults
            .iter()
            .map(|text| parse_flag(text).map_err(|e| format!("--fault {text:?}: {e}")))
            .collect::<Result<Vec<FaultSpec>, String>>()?;
        let config = Config {
            fleet: FleetConfig {
                instances: self.instances,
                listen: self.listen_address,
                zones: self.zones,
                seed: self.seed,
                model,
                file_sd: self.file_sd,
                faults,
            },
            admin_listen: self.admin_listen_address,
        };
        config.fleet.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        Cli::try_parse_from(std::iter::once("syseng_sim").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?
            .into_config()
    }

    #[test]
    fn defaults_follow_the_project_conventions() {
        let config = config(&[]).unwrap();
        assert_eq!(config.fleet.instances, 1);
        assert_eq!(config.fleet.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.admin_listen.to_string(), "127.0.0.1:9080");
        assert_eq!(config.fleet.zones, 3);
        assert_eq!(
            config.fleet.model,
            TrafficModel::default().validated().unwrap()
        );
    }

    #[test]
    fn bad_flags_are_rejected_with_the_flag_named() {
        assert!(
            config(&["--traffic.codes", "200"])
                .unwrap_err()
                .contains("--traffic.codes")
        );
        assert!(
            config(&["--duration.median", "fast"])
                .unwrap_err()
                .contains("--duration.median")
        );
        assert!(
            config(&["--fault", "kind=down"])
                .unwrap_err()
                .contains("targets is required")
        );
        assert!(
            config(&["--traffic.rate=-1"])
                .unwrap_err()
                .contains("rate must be")
        );
    }

    #[test]
    fn start_up_faults_are_parsed() {
        let config = config(&[
            "--fault",
            "kind=down,index=2",
            "--fault",
            r#"{"kind":"hang","targets":{"all":true}}"#,
        ])
        .unwrap();
        assert_eq!(config.fleet.faults.len(), 2);
    }
}
