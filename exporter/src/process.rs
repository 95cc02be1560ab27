//! The standard `process_*` metrics, read on Linux with the cheapest call for each.
//!
//! A scrape of `/metrics` is otherwise a few microseconds of work, so these calls matter (the
//! straightforward way cost more than the rest of the scrape): CPU time comes from
//! `clock_gettime` rather than `/proc/self/stat`, which walks every thread; memory from
//! `/proc/self/statm` re-read with `pread` on a descriptor kept open (opening a /proc file
//! costs five times the read); open descriptors from the size that `fstat` reports for
//! `/proc/self/fd` on Linux 6.2 and later, rather than listing them. Facts that cannot change
//! while the process runs are read once.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;

use rustix::time::{ClockId, clock_gettime};

use crate::exposition::{MetricFamily, MetricType};

/// Facts about the process that do not change while it runs, read once.
#[derive(Debug)]
pub struct ProcessInfo {
    page_size: f64,
    start_time_seconds: Option<f64>,
    statm: Option<File>,
    fd_directory: Option<File>,
}

impl ProcessInfo {
    pub fn read() -> Self {
        let boot_time_seconds: Option<f64> =
            fs::read_to_string("/proc/stat").ok().and_then(|stat| {
                stat.lines()
                    .find_map(|line| line.strip_prefix("btime "))
                    .and_then(|value| value.trim().parse().ok())
            });
        let start_ticks = fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse_start_ticks(&text));
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        Self {
            page_size: rustix::param::page_size() as f64,
            start_time_seconds: boot_time_seconds
                .zip(start_ticks)
                .map(|(boot, ticks)| boot + ticks / ticks_per_second),
            statm: File::open("/proc/self/statm").ok(),
            fd_directory: File::open("/proc/self/fd").ok(),
        }
    }

    /// The process families as of now; those that cannot be read are left out.
    pub fn families(&self) -> Vec<MetricFamily> {
        let mut families = Vec::with_capacity(7);
        let cpu = clock_gettime(ClockId::ProcessCPUTime);
        families.push(
            MetricFamily::new(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                MetricType::Counter,
            )
            .with_sample(
                "_total",
                vec![],
                cpu.tv_sec as f64 + cpu.tv_nsec as f64 / 1e9,
            ),
        );
        if let Some((virtual_pages, resident_pages)) = self.read_statm() {
            families.push(MetricFamily::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                resident_pages * self.page_size,
            ));
            families.push(MetricFamily::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                virtual_pages * self.page_size,
            ));
        }
        if let Some(start) = self.start_time_seconds {
            families.push(MetricFamily::gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                start,
            ));
        }
        if let Some(open) = self.open_fds() {
            families.push(MetricFamily::gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                open as f64,
            ));
        }
        if let Some(max_fds) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current
        {
            families.push(MetricFamily::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max_fds as f64,
            ));
        }
        families
    }
}

impl ProcessInfo {
    fn read_statm(&self) -> Option<(f64, f64)> {
        let mut buffer = [0u8; 128];
        let length = self.statm.as_ref()?.read_at(&mut buffer, 0).ok()?;
        parse_statm(std::str::from_utf8(&buffer[..length]).ok()?)
    }

    fn open_fds(&self) -> Option<u64> {
        match self.fd_directory.as_ref().map(File::metadata) {
            // At least the listening socket is open, so zero means an older kernel.
            Some(Ok(metadata)) if metadata.len() > 0 => Some(metadata.len()),
            _ => fs::read_dir("/proc/self/fd")
                .ok()
                // Less the descriptor read_dir itself holds open.
                .map(|entries| entries.count().saturating_sub(1) as u64),
        }
    }
}

/// `/proc/self/statm` starts with the total and resident sizes, in pages.
fn parse_statm(text: &str) -> Option<(f64, f64)> {
    let mut fields = text.split_whitespace();
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Field 22 of `/proc/self/stat` (proc(5)): start time in clock ticks after boot. The command
/// name in parentheses may contain spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_start_ticks(text: &str) -> Option<f64> {
    let after_name = &text[text.rfind(')')? + 1..];
    // After the name comes field 3, so field N is at index N - 3.
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Raises the soft limit on open files to the hard limit, as Go programs do at start: a
/// multi-target exporter keeps one connection per target, and the common soft limit of 1024
/// would cap a fleet at about that size. Returns the limit in force.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            return getrlimit(Resource::Nofile).current;
        }
    }
    limit.current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_counted_after_the_command_name() {
        let line = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 \
                    30 12 0 0 20 0 3 0 98765 10485760 512 18446744073709551615";
        assert_eq!(parse_start_ticks(line), Some(98765.0));
        assert_eq!(parse_start_ticks("4242 (truncated) S 1"), None);
    }

    #[test]
    fn statm_gives_total_and_resident_pages() {
        assert_eq!(
            parse_statm("2560 512 300 10 0 400 0\n"),
            Some((2560.0, 512.0))
        );
        assert_eq!(parse_statm("2560"), None);
    }

    #[test]
    fn resident_memory_is_read_afresh_each_time() {
        let info = ProcessInfo::read();
        let resident = |info: &ProcessInfo| info.read_statm().unwrap().1 * info.page_size;
        let before = resident(&info);
        let touched = vec![1u8; 64 << 20];
        let after = resident(&info);
        assert!(
            after - before > 32.0 * 1024.0 * 1024.0,
            "{before} -> {after}"
        );
        drop(std::hint::black_box(touched));
    }

    #[test]
    fn open_fds_matches_a_listing() {
        let info = ProcessInfo::read();
        let listed = fs::read_dir("/proc/self/fd").unwrap().count() as u64 - 1;
        let counted = info.open_fds().unwrap();
        // Other test threads may open or close files in between.
        assert!(counted.abs_diff(listed) <= 4, "{counted} vs {listed}");
    }

    #[test]
    fn own_process_families_are_read() {
        let families = ProcessInfo::read().families();
        let names: Vec<_> = families.iter().map(|family| family.name).collect();
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
        let start = families[3].samples[0].value;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
    }
}
