//! Records what `--version` reports (see syseng_build).
fn main() {
    syseng_build::emit_cargo_env();
}
