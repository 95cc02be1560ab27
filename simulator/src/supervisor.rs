//! Starts and stops the per-instance servers, and resizes the fleet.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use crate::fleet::{Fleet, Instance};
use crate::server::{bind, serve_instance};

/// Owns the accept tasks of the instances: aborting one closes its listener and connections.
#[derive(Debug)]
pub struct Supervisor {
    fleet: Arc<Fleet>,
    tasks: Mutex<Vec<AbortHandle>>,
}

fn bind_instances(fleet: &Fleet, instances: &[Arc<Instance>]) -> Result<Vec<TcpListener>, String> {
    instances
        .iter()
        .map(|instance| {
            let address = fleet.configured_address(instance.index);
            let listener = bind(address).map_err(|e| {
                format!(
                    "cannot listen on {address} for instance {}: {e}",
                    instance.index
                )
            })?;
            let bound: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
            instance.set_port(bound.port());
            Ok(listener)
        })
        .collect()
}

impl Supervisor {
    /// Binds every instance's port (failing before anything is served) and starts serving.
    /// Must be called from within the Tokio runtime.
    pub fn start(fleet: Arc<Fleet>) -> Result<Self, String> {
        let instances = fleet.instances();
        let listeners = bind_instances(&fleet, &instances)?;
        let supervisor = Self {
            fleet,
            tasks: Mutex::new(Vec::new()),
        };
        supervisor.spawn(instances, listeners);
        Ok(supervisor)
    }

    fn spawn(&self, instances: Vec<Arc<Instance>>, listeners: Vec<TcpListener>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for (instance, listener) in instances.into_iter().zip(listeners) {
            let task = tokio::spawn(serve_instance(self.fleet.clone(), instance, Some(listener)));
            tasks.push(task.abort_handle());
        }
    }

    /// The fleet being served.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// Grows or shrinks the fleet to `count` instances and rewrites the `file_sd` file.
    /// New instances start from zero; removed ones stop answering at once.
    pub fn resize(&self, count: u32) -> Result<(), String> {
        // Holding the task list for the whole resize serialises concurrent resizes.
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.fleet.size();
        if count > current {
            let added = self.fleet.grow_to(count, self.fleet.now_ms());
            match bind_instances(&self.fleet, &added) {
                Ok(listeners) => {
                    for (instance, listener) in added.into_iter().zip(listeners) {
                        tasks.push(
                            tokio::spawn(serve_instance(
                                self.fleet.clone(),
                                instance,
                                Some(listener),
                            ))
                            .abort_handle(),
                        );
                    }
                }
                Err(reason) => {
                    self.fleet.shrink_to(current);
                    return Err(reason);
                }
            }
        } else if count < current {
            self.fleet.shrink_to(count);
            for task in tasks.split_off(count as usize) {
                task.abort();
            }
        }
        tracing::info!(from = current, to = count, "fleet resized");
        self.fleet
            .write_file_sd()
            .map_err(|e| format!("fleet resized but the file_sd file could not be written: {e}"))
    }

    /// Stops every instance.
    pub fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}
