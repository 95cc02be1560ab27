//! The fleet: instances with their lazily advanced traffic, and the registry of faults.
//!
//! Everything here takes `now_ms` (milliseconds since the fleet started) as an argument, so the
//! behaviour of faults over time is tested without sockets or sleeping. Lock order is always
//! registry, then instance list, then one instance, so no two paths can deadlock.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::fault::{BrokenMode, Effect, FaultSpec, zone_name};
use crate::prom_duration::format_millis;
use crate::rng::derive_seed;
use crate::stats::StatsDocument;
use crate::traffic::{ActiveFault, InstanceTraffic, TrafficModel};

/// Everything needed to build a fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Number of instances at start.
    pub instances: u32,
    /// Address of instance 0; instance `i` listens on port + i (port 0: any free port each).
    pub listen: SocketAddr,
    /// Number of zones the instances are spread over, round-robin.
    pub zones: u32,
    /// Seed of the whole fleet; each instance derives its own from it.
    pub seed: u64,
    /// Traffic of a healthy instance.
    pub model: TrafficModel,
    /// Where to write the Prometheus `file_sd` list, if anywhere.
    pub file_sd: Option<PathBuf>,
    /// Faults in force from the start.
    pub faults: Vec<FaultSpec>,
}

/// Upper bound on the fleet size: enough for any demo, and it keeps port arithmetic simple.
pub const MAX_INSTANCES: u32 = 20_000;

impl FleetConfig {
    /// Checks sizes and port ranges; the error is one line.
    pub fn validate(&self) -> Result<(), String> {
        if self.zones == 0 || self.zones > 26 * 27 {
            return Err(format!(
                "--zones must be within 1..=702, got {}",
                self.zones
            ));
        }
        check_fleet_size(self.listen, self.instances).map_err(|e| format!("--instances: {e}"))
    }
}

/// Checks that `count` instances from `listen` fit the size limit and the port range.
fn check_fleet_size(listen: SocketAddr, count: u32) -> Result<(), String> {
    if count == 0 || count > MAX_INSTANCES {
        return Err(format!(
            "the fleet size must be within 1..={MAX_INSTANCES}, got {count}"
        ));
    }
    let port = listen.port();
    if port != 0 && u32::from(port) + count - 1 > u32::from(u16::MAX) {
        return Err(format!(
            "{count} instances from port {port} would pass port 65535"
        ));
    }
    Ok(())
}

/// How `/stats` must be answered right now, according to the active faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServingPlan {
    /// Hold the request until this fleet time (a `hang` fault).
    pub hang_until_ms: Option<u64>,
    /// Answer this much later (a `slow_stats` fault).
    pub delay_ms: u64,
    /// Answer wrongly (a `broken_output` fault).
    pub broken: Option<BrokenMode>,
}

/// One simulated process.
#[derive(Debug)]
pub struct Instance {
    /// Position in the fleet, from 0.
    pub index: u32,
    /// Zone number (name via [`zone_name`]).
    pub zone: u32,
    port: AtomicU16,
    traffic: Mutex<InstanceTraffic>,
    /// Woken whenever the instance's faults change, so waiting tasks re-check their state.
    pub faults_changed: Notify,
}

impl Instance {
    fn lock(&self) -> MutexGuard<'_, InstanceTraffic> {
        // A panic elsewhere cannot leave the traffic state half-written in a harmful way.
        self.traffic
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The port it listens on (the bound one once known).
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// Records the port actually bound (matters when the fleet was asked for port 0).
    pub fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    /// Until when a `down` fault keeps the listener closed, if one is active at `now_ms`.
    pub fn down_until(&self, now_ms: u64) -> Option<u64> {
        self.lock()
            .faults
            .iter()
            .filter(|f| f.effect == Effect::Down && f.active_at(now_ms))
            .map(|f| f.end_ms)
            .max()
    }

    /// What the active faults ask of a `/stats` answer at `now_ms`.
    pub fn serving_plan(&self, now_ms: u64) -> ServingPlan {
        let mut plan = ServingPlan::default();
        for fault in self.lock().faults.iter().filter(|f| f.active_at(now_ms)) {
            match fault.effect {
                Effect::Hang => plan.hang_until_ms = plan.hang_until_ms.max(Some(fault.end_ms)),
                Effect::SlowStats { delay_ms } => plan.delay_ms = plan.delay_ms.max(delay_ms),
                Effect::BrokenOutput { mode } => plan.broken = Some(mode),
                _ => {}
            }
        }
        plan
    }

    /// Ids of the faults active at `now_ms`.
    pub fn active_fault_ids(&self, now_ms: u64) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .lock()
            .faults
            .iter()
            .filter(|f| f.active_at(now_ms))
            .map(|f| f.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[derive(Debug, Clone)]
struct FaultRecord {
    spec: FaultSpec,
    instances: Vec<u32>,
    start_ms: u64,
    end_ms: u64,
}

/// The fleet shared by the instance servers and the admin API.
#[derive(Debug)]
pub struct Fleet {
    model: TrafficModel,
    seed: u64,
    zones: u32,
    listen: SocketAddr,
    file_sd: Option<PathBuf>,
    started: Instant,
    registry: Mutex<BTreeMap<u64, FaultRecord>>,
    next_fault_id: Mutex<u64>,
    instances: RwLock<Vec<Arc<Instance>>>,
}

impl Fleet {
    /// Builds the fleet and applies the start-up faults at time 0.
    pub fn new(config: FleetConfig) -> Result<Self, String> {
        config.validate()?;
        let fleet = Self {
            model: config.model.clone(),
            seed: config.seed,
            zones: config.zones,
            listen: config.listen,
            file_sd: config.file_sd.clone(),
            started: Instant::now(),
            registry: Mutex::new(BTreeMap::new()),
            next_fault_id: Mutex::new(1),
            instances: RwLock::new(Vec::new()),
        };
        fleet.grow_to(config.instances, 0);
        for spec in config.faults {
            fleet
                .add_fault(spec, 0)
                .map_err(|e| format!("--fault: {e}"))?;
        }
        Ok(fleet)
    }

    /// Milliseconds since the fleet started: the only clock the simulation reads.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The traffic model of healthy instances.
    pub fn model(&self) -> &TrafficModel {
        &self.model
    }

    /// A snapshot of the instance list.
    pub fn instances(&self) -> Vec<Arc<Instance>> {
        self.instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Number of instances.
    pub fn size(&self) -> u32 {
        self.instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len() as u32
    }

    /// One instance by index.
    pub fn instance(&self, index: u32) -> Option<Arc<Instance>> {
        self.instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(index as usize)
            .cloned()
    }

    /// The address instance `index` is configured to listen on.
    pub fn configured_address(&self, index: u32) -> SocketAddr {
        let port = match self.listen.port() {
            0 => 0,
            // `check_size` keeps base + index within the port range.
            base => base.saturating_add(index.min(u32::from(u16::MAX)) as u16),
        };
        SocketAddr::new(self.listen.ip(), port)
    }

    /// Checks that `count` instances fit the size limit and the port range.
    pub fn check_size(&self, count: u32) -> Result<(), String> {
        check_fleet_size(self.listen, count)
    }

    /// Adds instances up to `count` (a process start at `now_ms` for each new one); returns them.
    pub fn grow_to(&self, count: u32, now_ms: u64) -> Vec<Arc<Instance>> {
        let mut list = self.instances.write().unwrap_or_else(|p| p.into_inner());
        let mut added = Vec::new();
        for index in list.len() as u32..count {
            let seed = derive_seed(&[self.seed, u64::from(index)]);
            let instance = Arc::new(Instance {
                index,
                zone: index % self.zones,
                port: AtomicU16::new(self.configured_address(index).port()),
                traffic: Mutex::new(InstanceTraffic::new(&self.model, seed, now_ms)),
                faults_changed: Notify::new(),
            });
            list.push(instance.clone());
            added.push(instance);
        }
        added
    }

    /// Removes the instances from `count` on; returns them so their servers can be stopped.
    pub fn shrink_to(&self, count: u32) -> Vec<Arc<Instance>> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let removed = {
            let mut list = self.instances.write().unwrap_or_else(|p| p.into_inner());
            let keep = (count as usize).min(list.len());
            list.split_off(keep)
        };
        for record in registry.values_mut() {
            record.instances.retain(|&i| i < count);
        }
        registry.retain(|_, record| !record.instances.is_empty());
        removed
    }

    /// The `/stats` document of instance `index` at `now_ms`.
    pub fn stats(&self, index: u32, now_ms: u64) -> Option<StatsDocument> {
        let instance = self.instance(index)?;
        Some(instance.lock().stats_at(&self.model, now_ms))
    }

    /// The `/stats` document of a given instance at `now_ms`.
    pub fn instance_stats(&self, instance: &Instance, now_ms: u64) -> StatsDocument {
        instance.lock().stats_at(&self.model, now_ms)
    }

    /// Starts a fault at `now_ms`; returns its description (with its id).
    pub fn add_fault(&self, spec: FaultSpec, now_ms: u64) -> Result<Value, String> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let mut next_id = self.next_fault_id.lock().unwrap_or_else(|p| p.into_inner());
        let id = *next_id;
        let instances = spec
            .targets
            .resolve(self.size(), self.zones, self.seed, id)?;
        *next_id += 1;
        let end_ms = match (&spec.effect, spec.duration_ms) {
            // A single restart is an instant: it is listed when created, then done.
            (Effect::Restart { every_ms: None }, _) => now_ms + 1,
            (_, Some(duration)) => now_ms.saturating_add(duration),
            (_, None) => u64::MAX,
        };
        let record = FaultRecord {
            spec,
            instances,
            start_ms: now_ms,
            end_ms,
        };
        for &index in &record.instances {
            if let Some(instance) = self.instance(index) {
                instance.lock().faults.push(ActiveFault {
                    id,
                    effect: record.spec.effect.clone(),
                    start_ms: now_ms,
                    end_ms,
                });
                instance.faults_changed.notify_waiters();
            }
        }
        let description = describe(id, &record, now_ms);
        tracing::info!(id, fault = %serde_json::Value::Object(record.spec.describe()), instances = record.instances.len(), "fault started");
        registry.insert(id, record);
        Ok(description)
    }

    /// Ends fault `id` at `now_ms`; returns its description, or `None` if no such active fault.
    pub fn clear_fault(&self, id: u64, now_ms: u64) -> Option<Value> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut registry, now_ms);
        let record = registry.remove(&id)?;
        self.end_on_instances(id, &record.instances, now_ms);
        tracing::info!(id, "fault cleared");
        Some(describe(id, &record, now_ms))
    }

    /// Ends every active fault at `now_ms`; returns the ids cleared.
    pub fn clear_all_faults(&self, now_ms: u64) -> Vec<u64> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut registry, now_ms);
        let cleared: Vec<u64> = registry.keys().copied().collect();
        for (id, record) in std::mem::take(&mut *registry) {
            self.end_on_instances(id, &record.instances, now_ms);
        }
        tracing::info!(count = cleared.len(), "all faults cleared");
        cleared
    }

    fn end_on_instances(&self, id: u64, indices: &[u32], now_ms: u64) {
        for &index in indices {
            if let Some(instance) = self.instance(index) {
                for fault in instance.lock().faults.iter_mut().filter(|f| f.id == id) {
                    fault.end_ms = fault.end_ms.min(now_ms);
                }
                instance.faults_changed.notify_waiters();
            }
        }
    }

    /// Descriptions of the faults active at `now_ms`, oldest first.
    pub fn list_faults(&self, now_ms: u64) -> Vec<Value> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut registry, now_ms);
        registry
            .iter()
            .map(|(&id, record)| describe(id, record, now_ms))
            .collect()
    }

    /// Description of one active fault.
    pub fn get_fault(&self, id: u64, now_ms: u64) -> Option<Value> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut registry, now_ms);
        registry.get(&id).map(|record| describe(id, record, now_ms))
    }

    /// Description of every instance at `now_ms`.
    pub fn list_instances(&self, now_ms: u64) -> Vec<Value> {
        self.instances()
            .iter()
            .map(|instance| self.describe_instance(instance, now_ms))
            .collect()
    }

    /// Description of one instance: address, zone, state and faults.
    pub fn describe_instance(&self, instance: &Instance, now_ms: u64) -> Value {
        let restarted_at_ms = instance.lock().restarted_at_ms();
        json!({
            "index": instance.index,
            "address": self.target_address(instance),
            "zone": zone_name(instance.zone),
            "up": instance.down_until(now_ms).is_none(),
            "faults": instance.active_fault_ids(now_ms),
            "uptime_seconds": now_ms.saturating_sub(restarted_at_ms) as f64 / 1000.0,
        })
    }

    /// `host:port` as a scraper should reach it (an unspecified host becomes loopback).
    pub fn target_address(&self, instance: &Instance) -> String {
        let ip = match self.listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, instance.port()).to_string()
    }

    /// The Prometheus `file_sd` document listing every instance.
    pub fn file_sd_json(&self) -> String {
        let groups: Vec<Value> = self
            .instances()
            .iter()
            .map(|instance| {
                json!({
                    "targets": [self.target_address(instance)],
                    "labels": {"zone": zone_name(instance.zone), "index": instance.index.to_string()},
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&groups).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Rewrites the `file_sd` file, if configured, atomically (temporary file, then rename).
    pub fn write_file_sd(&self) -> std::io::Result<()> {
        match &self.file_sd {
            Some(path) => write_atomically(path, self.file_sd_json().as_bytes()),
            None => Ok(()),
        }
    }
}

fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, contents)?;
    // Prometheus watches the file: a rename means it never reads a half-written list.
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

fn prune(registry: &mut BTreeMap<u64, FaultRecord>, now_ms: u64) {
    registry.retain(|_, record| record.end_ms > now_ms);
}

fn describe(id: u64, record: &FaultRecord, now_ms: u64) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(id));
    out.extend(record.spec.describe());
    out.insert("instances".into(), json!(record.instances));
    out.insert(
        "started_seconds_ago".into(),
        json!(now_ms.saturating_sub(record.start_ms) as f64 / 1000.0),
    );
    let expires_in =
        (record.end_ms != u64::MAX).then(|| format_millis(record.end_ms.saturating_sub(now_ms)));
    out.insert("expires_in".into(), json!(expires_in));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::parse_flag;

    fn fleet(instances: u32) -> Fleet {
        Fleet::new(FleetConfig {
            instances,
            listen: "127.0.0.1:8080".parse().unwrap(),
            zones: 3,
            seed: 1,
            model: TrafficModel::default().validated().unwrap(),
            file_sd: None,
            faults: vec![],
        })
        .unwrap()
    }

    fn error_share(doc: &StatsDocument) -> f64 {
        let errors: u64 = doc
            .request_rates
            .iter()
            .filter(|(c, _)| **c >= 500)
            .map(|(_, n)| n)
            .sum();
        errors as f64 / doc.request_rates.values().sum::<u64>().max(1) as f64
    }

    #[test]
    fn an_error_burst_raises_errors_on_its_targets_until_cleared() {
        let fleet = fleet(6);
        let spec =
            parse_flag("kind=error_burst,zone=zone-b,share_of_requests=0.5,code=503").unwrap();
        let created = fleet.add_fault(spec, 10_000).unwrap();
        assert_eq!(created["instances"], json!([1, 4]));
        let id = created["id"].as_u64().unwrap();
        let hit = fleet.stats(1, 20_000).unwrap();
        assert!(error_share(&hit) > 0.3, "{hit:?}");
        assert!(hit.request_rates.contains_key(&503));
        assert!(error_share(&fleet.stats(0, 20_000).unwrap()) < 0.05);
        assert_eq!(
            fleet.instance(1).unwrap().active_fault_ids(20_000),
            vec![id]
        );
        assert!(fleet.clear_fault(id, 21_000).is_some());
        assert!(fleet.clear_fault(id, 21_000).is_none());
        let after = fleet.stats(1, 25_000).unwrap();
        assert!(!after.request_rates.contains_key(&503), "{after:?}");
        assert!(
            after.request_counters[&503] > 0,
            "lifetime counters keep past errors"
        );
    }

    #[test]
    fn a_timed_fault_expires_by_itself() {
        let fleet = fleet(2);
        fleet
            .add_fault(parse_flag("kind=down,index=0,duration=30s").unwrap(), 1_000)
            .unwrap();
        let instance = fleet.instance(0).unwrap();
        assert_eq!(instance.down_until(5_000), Some(31_000));
        assert_eq!(fleet.list_faults(30_999).len(), 1);
        assert_eq!(instance.down_until(31_000), None);
        assert!(fleet.list_faults(31_000).is_empty());
    }

    #[test]
    fn serving_plan_reflects_hang_slow_and_broken_faults() {
        let fleet = fleet(3);
        fleet
            .add_fault(parse_flag("kind=hang,index=0").unwrap(), 0)
            .unwrap();
        fleet
            .add_fault(parse_flag("kind=slow_stats,index=1,delay=5s").unwrap(), 0)
            .unwrap();
        fleet
            .add_fault(
                parse_flag("kind=broken_output,index=2,mode=wrong_shape").unwrap(),
                0,
            )
            .unwrap();
        assert_eq!(
            fleet.instance(0).unwrap().serving_plan(1).hang_until_ms,
            Some(u64::MAX)
        );
        assert_eq!(fleet.instance(1).unwrap().serving_plan(1).delay_ms, 5_000);
        assert_eq!(
            fleet.instance(2).unwrap().serving_plan(1).broken,
            Some(BrokenMode::WrongShape)
        );
        assert_eq!(fleet.clear_all_faults(2).len(), 3);
        assert_eq!(
            fleet.instance(0).unwrap().serving_plan(3),
            ServingPlan::default()
        );
    }

    #[test]
    fn latency_and_traffic_faults_shape_the_numbers() {
        let fleet = fleet(2);
        fleet
            .add_fault(parse_flag("kind=latency,index=0,factor=10").unwrap(), 0)
            .unwrap();
        fleet
            .add_fault(parse_flag("kind=traffic,index=1,factor=5").unwrap(), 0)
            .unwrap();
        let slow = fleet.stats(0, 60_000).unwrap();
        let busy = fleet.stats(1, 60_000).unwrap();
        assert!(
            slow.duration.sum / slow.duration.count as f64 > 0.2,
            "{slow:?}"
        );
        assert!(busy.duration.count > 20_000, "{busy:?}");
    }

    #[test]
    fn shrinking_drops_faults_that_target_nothing() {
        let fleet = fleet(6);
        fleet
            .add_fault(parse_flag("kind=down,index=5").unwrap(), 0)
            .unwrap();
        fleet
            .add_fault(parse_flag("kind=hang,range=3-5").unwrap(), 0)
            .unwrap();
        assert_eq!(fleet.shrink_to(4).len(), 2);
        let faults = fleet.list_faults(1);
        assert_eq!(faults.len(), 1);
        assert_eq!(faults[0]["instances"], json!([3]));
        assert_eq!(fleet.grow_to(8, 10).len(), 4);
        assert_eq!(fleet.size(), 8);
    }

    #[test]
    fn a_fleet_cannot_grow_past_the_last_port() {
        let fleet = Fleet::new(FleetConfig {
            instances: 1,
            listen: "127.0.0.1:60000".parse().unwrap(),
            zones: 3,
            seed: 1,
            model: TrafficModel::default().validated().unwrap(),
            file_sd: None,
            faults: vec![],
        })
        .unwrap();
        assert!(fleet.check_size(5_536).is_ok());
        assert!(
            fleet
                .check_size(5_537)
                .unwrap_err()
                .contains("would pass port 65535")
        );
        assert!(fleet.check_size(0).is_err());
    }

    #[test]
    fn file_sd_lists_every_instance_with_its_zone() {
        let fleet = fleet(4);
        let groups: Value = serde_json::from_str(&fleet.file_sd_json()).unwrap();
        assert_eq!(groups.as_array().unwrap().len(), 4);
        assert_eq!(
            groups[3],
            json!({"targets": ["127.0.0.1:8083"], "labels": {"zone": "zone-a", "index": "3"}})
        );
    }
}
