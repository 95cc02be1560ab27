//! A simulated fleet of `syseng-challenge` instances with fault injection.
//!
//! Each instance answers `GET /stats` like the real service (see docs/simulator.md); its
//! numbers come from a pure traffic model ([`traffic`]) advanced only when read, so thousands
//! of idle instances cost nothing but their sockets. Faults are set through the admin API
//! ([`admin`]) or at start-up, and kept in the [`fleet`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod cli;
pub mod fault;
pub mod fleet;
pub use prom_duration;
pub mod rng;
pub mod server;
pub mod stats;
pub mod supervisor;
pub mod traffic;

/// This binary's build, as `--version` prints it.
pub const BUILD: syseng_build::BuildInfo = syseng_build::build_info!();

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::AbortHandle;

use crate::fleet::{Fleet, FleetConfig};
use crate::supervisor::Supervisor;

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The fleet.
    pub fleet: FleetConfig,
    /// Where the admin API listens.
    pub admin_listen: SocketAddr,
}

/// A running simulator; dropping it stops every listener.
#[derive(Debug)]
pub struct Simulator {
    supervisor: Arc<Supervisor>,
    admin_address: SocketAddr,
    admin_task: AbortHandle,
}

impl Simulator {
    /// Binds the admin API and every instance, writes the `file_sd` file and starts serving.
    /// Must be called from within the Tokio runtime.
    pub async fn start(config: Config) -> Result<Self, String> {
        let fleet = Arc::new(Fleet::new(config.fleet)?);
        let admin_listener = server::bind(config.admin_listen).map_err(|e| {
            format!(
                "cannot listen on {} for the admin API: {e}",
                config.admin_listen
            )
        })?;
        let admin_address = admin_listener.local_addr().map_err(|e| e.to_string())?;
        let supervisor = Arc::new(Supervisor::start(fleet.clone())?);
        fleet
            .write_file_sd()
            .map_err(|e| format!("cannot write the file_sd file: {e}"))?;
        let admin_task =
            tokio::spawn(admin::serve_admin(supervisor.clone(), admin_listener)).abort_handle();
        let instances = fleet.instances();
        tracing::info!(
            instances = instances.len(),
            first = %fleet.target_address(&instances[0]),
            last = %fleet.target_address(&instances[instances.len() - 1]),
            admin = %admin_address,
            "fleet serving"
        );
        Ok(Self {
            supervisor,
            admin_address,
            admin_task,
        })
    }

    /// The bound address of the admin API.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    /// The fleet.
    pub fn fleet(&self) -> &Arc<Fleet> {
        self.supervisor.fleet()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.admin_task.abort();
        self.supervisor.stop();
    }
}

/// Runs the simulator until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let simulator = Simulator::start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    drop(simulator);
    Ok(())
}
