//! `syseng_sim --version`: Prometheus's block, as the exporter prints it (both come from
//! syseng_build, whose doctest pins the layout).

#[test]
fn version_prints_prometheus_block() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_syseng_sim"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = format!(
        "syseng_sim, version {} (branch: ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        lines[0].starts_with(&first) && lines[0].contains(", revision: "),
        "{text}"
    );
    let names: Vec<&str> = lines[1..]
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default().trim())
        .collect();
    assert_eq!(
        names,
        ["build user", "build date", "rust version", "platform"],
        "{text}"
    );
    assert!(
        lines[4].starts_with(&format!("  platform:         {}/", std::env::consts::OS)),
        "{text}"
    );
}
