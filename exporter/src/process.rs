//! The standard `process_*` metrics, read from `/proc/self` on Linux.
//!
//! Read by hand rather than through a procfs crate: two small reads per scrape are all that is
//! needed, and a general-purpose parser costs more than the rest of a scrape.

use std::fs;

use crate::exposition::{MetricFamily, MetricType};

/// Facts about the process that do not change while it runs, read once.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    ticks_per_second: f64,
    page_size: f64,
    boot_time_seconds: Option<f64>,
    max_fds: Option<f64>,
}

impl ProcessInfo {
    pub fn read() -> Self {
        let boot_time_seconds = fs::read_to_string("/proc/stat").ok().and_then(|stat| {
            stat.lines()
                .find_map(|line| line.strip_prefix("btime "))
                .and_then(|value| value.trim().parse().ok())
        });
        let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .map(|limit| limit as f64);
        Self {
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
            boot_time_seconds,
            max_fds,
        }
    }

    /// The process families as of now; those that cannot be read are left out.
    pub fn families(&self) -> Vec<MetricFamily> {
        let mut families = Vec::with_capacity(7);
        if let Some(stat) = fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse_stat(&text))
        {
            families.push(
                MetricFamily::new(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    MetricType::Counter,
                )
                .with_sample(
                    "_total",
                    vec![],
                    (stat.user_ticks + stat.system_ticks) / self.ticks_per_second,
                ),
            );
            families.push(MetricFamily::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stat.resident_pages * self.page_size,
            ));
            families.push(MetricFamily::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.virtual_bytes,
            ));
            if let Some(boot) = self.boot_time_seconds {
                families.push(MetricFamily::gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    boot + stat.start_ticks / self.ticks_per_second,
                ));
            }
        }
        if let Ok(entries) = fs::read_dir("/proc/self/fd") {
            families.push(MetricFamily::gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                entries.count() as f64,
            ));
        }
        if let Some(max_fds) = self.max_fds {
            families.push(MetricFamily::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max_fds,
            ));
        }
        families
    }
}

#[derive(Debug, PartialEq)]
struct Stat {
    user_ticks: f64,
    system_ticks: f64,
    start_ticks: f64,
    virtual_bytes: f64,
    resident_pages: f64,
}

/// Fields of `/proc/self/stat` (proc(5)). The command name in parentheses may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards, so field N is at index N - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<f64> { fields.get(number - 3)?.parse().ok() };
    Some(Stat {
        user_ticks: field(14)?,
        system_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 \
                    30 12 0 0 20 0 3 0 98765 10485760 512 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                user_ticks: 30.0,
                system_ticks: 12.0,
                start_ticks: 98765.0,
                virtual_bytes: 10485760.0,
                resident_pages: 512.0,
            })
        );
        assert_eq!(parse_stat("4242 (truncated) S 1"), None);
    }

    #[test]
    fn own_process_families_are_read() {
        let names: Vec<_> = ProcessInfo::read()
            .families()
            .into_iter()
            .map(|family| family.name)
            .collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds",
                "process_resident_memory_bytes",
                "process_virtual_memory_bytes",
                "process_start_time_seconds",
                "process_open_fds",
                "process_max_fds"
            ]
        );
    }
}
