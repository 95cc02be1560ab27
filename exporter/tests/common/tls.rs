//! TLS material for HTTPS tests, and curl to speak HTTPS to the exporter.

use std::process::Command;

/// Writes a CA (`{prefix}ca.crt`), a server certificate for localhost and 127.0.0.1 signed by
/// it (`{prefix}server.crt`, `{prefix}server.key`) and a client certificate
/// (`{prefix}client.crt`, `{prefix}client.key`) into `dir`.
pub fn write_certificates(dir: &std::path::Path, prefix: &str) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("syseng test CA {prefix}"),
    );
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(format!("{prefix}{name}")), text).expect("write certificate")
    };
    write("ca.crt", ca.pem());
    for (name, names) in [
        (
            "server",
            vec!["localhost".to_string(), "127.0.0.1".to_string()],
        ),
        ("client", vec!["prometheus".to_string()]),
    ] {
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        write(&format!("{name}.crt"), certificate.pem());
        write(&format!("{name}.key"), key.serialize_pem());
    }
}

/// Runs curl (HTTPS requests in tests) and returns (HTTP status, headers and body) or the
/// exit code when no response arrived.
pub fn curl(args: &[&str]) -> Result<(u16, String), i32> {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--include"])
        .args(["--write-out", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is needed (scripts/install-deps.sh)");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (response, status) = text.rsplit_once('\n').unwrap_or(("", "000"));
    match status.trim().parse::<u16>() {
        Ok(status) if status > 0 => Ok((status, response.to_string())),
        _ => Err(output.status.code().unwrap_or(-1)),
    }
}
