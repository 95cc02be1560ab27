//! Records what `--version` and `syseng_exporter_build_info` report (see syseng_build).
fn main() {
    syseng_build::emit_cargo_env();
}
