//! Builds the rustls server configuration from `tls_server_config`: certificate and key,
//! protocol versions, TLS 1.2 cipher suites, key-exchange groups and client authentication.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::config::{ClientAuthType, TlsServerConfig, TlsVersion};

/// Why a TLS configuration cannot be built: the field at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSetupError {
    pub field: &'static str,
    pub message: String,
}

fn error(field: &'static str, message: impl Into<String>) -> TlsSetupError {
    TlsSetupError {
        field,
        message: message.into(),
    }
}

/// Reads the certificate, key and client CA files and builds the server configuration.
pub fn server_config(tls: &TlsServerConfig) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(crypto_provider(tls)?);
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

    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certificates| certificates.collect::<Result<_, _>>())
        .map_err(|problem| {
            error(
                "tls_server_config.cert_file",
                format!("{}: {problem}", tls.cert_file),
            )
        })?;
    if certificates.is_empty() {
        return Err(error(
            "tls_server_config.cert_file",
            format!("{}: no PEM certificate in it", tls.cert_file),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|problem| {
        error(
            "tls_server_config.key_file",
            format!("{}: {problem}", tls.key_file),
        )
    })?;

    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|problem| error("tls_server_config.cipher_suites", problem.to_string()))?;
    let verifier = client_verifier(tls, &provider)?;
    let mut config = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    }
    .with_single_cert(certificates, key)
    .map_err(|problem| {
        error(
            "tls_server_config.key_file",
            format!("does not match the certificate or is unusable: {problem}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn crypto_provider(tls: &TlsServerConfig) -> Result<CryptoProvider, TlsSetupError> {
    let mut provider = ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        let mut chosen: Vec<_> = all
            .iter()
            .filter(|suite| suite.tls13().is_some())
            .copied()
            .collect();
        for name in &tls.cipher_suites {
            let suite = all
                .iter()
                .find(|suite| suite.tls13().is_none() && format!("{:?}", suite.suite()) == *name)
                .ok_or_else(|| {
                    error(
                        "tls_server_config.cipher_suites",
                        format!(
                            "{name:?} is not a supported TLS 1.2 suite; supported: {}",
                            all.iter()
                                .filter(|suite| suite.tls13().is_none())
                                .map(|suite| format!("{:?}", suite.suite()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            chosen.push(*suite);
        }
        provider.cipher_suites = chosen;
    }
    if !tls.curve_preferences.is_empty() {
        let all = provider.kx_groups.clone();
        let mut chosen = Vec::new();
        for name in &tls.curve_preferences {
            let wanted = match name.as_str() {
                "X25519" => "X25519",
                "CurveP256" => "secp256r1",
                "CurveP384" => "secp384r1",
                _ => {
                    return Err(error(
                        "tls_server_config.curve_preferences",
                        format!("{name:?} is not supported; use X25519, CurveP256 or CurveP384"),
                    ));
                }
            };
            if let Some(group) = all
                .iter()
                .find(|group| format!("{:?}", group.name()).eq_ignore_ascii_case(wanted))
            {
                chosen.push(*group);
            }
        }
        provider.kx_groups = chosen;
    }
    Ok(provider)
}

fn client_verifier(
    tls: &TlsServerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsSetupError> {
    let field = "tls_server_config.client_ca_file";
    match tls.client_auth_type {
        ClientAuthType::NoClientCert => Ok(None),
        ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert => {
            Ok(Some(Arc::new(AnyClientCertificate {
                provider: Arc::clone(provider),
                mandatory: tls.client_auth_type == ClientAuthType::RequireAnyClientCert,
            })))
        }
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert => {
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(&tls.client_ca_file)
                .map_err(|problem| error(field, format!("{}: {problem}", tls.client_ca_file)))?
            {
                let certificate = certificate.map_err(|problem| {
                    error(field, format!("{}: {problem}", tls.client_ca_file))
                })?;
                roots.add(certificate).map_err(|problem| {
                    error(field, format!("{}: {problem}", tls.client_ca_file))
                })?;
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
            if tls.client_auth_type == ClientAuthType::VerifyClientCertIfGiven {
                builder = builder.allow_unauthenticated();
            }
            let verifier = builder
                .build()
                .map_err(|problem| error(field, format!("{}: {problem}", tls.client_ca_file)))?;
            Ok(Some(verifier))
        }
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: ask for a certificate and check that the
/// client holds its key, but trust any issuer, as Go does for these modes.
#[derive(Debug)]
struct AnyClientCertificate {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
