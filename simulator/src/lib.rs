//! A simulated fleet of `syseng-challenge` instances.
