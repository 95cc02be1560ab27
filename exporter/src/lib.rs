//! Prometheus exporter for the `syseng-challenge` service.
