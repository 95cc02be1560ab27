//! The rustls client configuration of a module's `tls_config`: CA, client certificate, server
//! name, verification and protocol versions.

use std::sync::Arc;

use hyper_rustls::ConfigBuilderExt as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::config::TlsClientSpec;
use crate::web::config::TlsVersion;

/// Builds the client configuration, reading the files `tls` names (paths already resolved).
/// The error is the field at fault and the problem.
pub fn client_config(tls: &TlsClientSpec) -> Result<Arc<ClientConfig>, (&'static str, String)> {
    let provider = Arc::new(ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| {
        tls.min_version.is_none_or(|min| *version >= min)
            && tls.max_version.is_none_or(|max| *version <= max)
    })
    .map(|(_, supported)| supported)
    .collect();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|problem| ("min_version", problem.to_string()))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else if tls.ca.is_some() || tls.ca_file.is_some() {
        let (field, certificates) = certificates(tls.ca.as_deref(), tls.ca_file.as_deref(), "ca")?;
        let mut roots = RootCertStore::empty();
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|problem| (field, format!("not a usable CA certificate: {problem}")))?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .with_native_roots()
            .map_err(|problem| ("ca_file", format!("no system root certificates: {problem}")))?
    };
    let mut config = match (tls.cert.is_some() || tls.cert_file.is_some(), tls) {
        (true, tls) => {
            let (_, chain) = certificates(tls.cert.as_deref(), tls.cert_file.as_deref(), "cert")?;
            let (key_field, key) = match (&tls.key, &tls.key_file) {
                (Some(inline), _) => (
                    "key",
                    PrivateKeyDer::from_pem_slice(inline.expose().as_bytes()),
                ),
                (None, Some(file)) => ("key_file", PrivateKeyDer::from_pem_file(file)),
                (None, None) => return Err(("key_file", "missing".into())),
            };
            // Never the key's text: a PEM error names the file at most.
            let key = key.map_err(|problem| {
                (
                    key_field,
                    format!("{}{problem}", source(tls.key_file.as_deref())),
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|problem| {
                    (
                        key_field,
                        format!("does not match the certificate or is unusable: {problem}"),
                    )
                })?
        }
        (false, _) => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn source(file: Option<&str>) -> String {
    file.map(|file| format!("{file}: ")).unwrap_or_default()
}

/// The certificates of an inline PEM or of a PEM file, with the field they came from.
fn certificates(
    inline: Option<&str>,
    file: Option<&str>,
    name: &'static str,
) -> Result<(&'static str, Vec<CertificateDer<'static>>), (&'static str, String)> {
    let (field, found) = match (inline, file) {
        (Some(inline), _) => (
            inline_field(name),
            CertificateDer::pem_slice_iter(inline.as_bytes()).collect::<Result<Vec<_>, _>>(),
        ),
        (None, Some(file)) => (
            file_field(name),
            CertificateDer::pem_file_iter(file).and_then(|found| found.collect()),
        ),
        (None, None) => return Ok((file_field(name), Vec::new())),
    };
    let certificates = found.map_err(|problem| (field, format!("{}{problem}", source(file))))?;
    if certificates.is_empty() {
        return Err((field, format!("{}no PEM certificate in it", source(file))));
    }
    Ok((field, certificates))
}

fn inline_field(name: &'static str) -> &'static str {
    match name {
        "ca" => "ca",
        "cert" => "cert",
        _ => "key",
    }
}

fn file_field(name: &'static str) -> &'static str {
    match name {
        "ca" => "ca_file",
        "cert" => "cert_file",
        _ => "key_file",
    }
}

/// The name a target's certificate must carry: `server_name`, else the URI's host.
pub fn server_name(configured: Option<&str>, host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(configured.unwrap_or(host).to_string())
        .map_err(|_| format!("{host:?} is not a valid TLS server name"))
}

/// `insecure_skip_verify: true`: any certificate, any name; signatures are still checked so
/// that the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
