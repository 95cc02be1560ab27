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

    let certificates = pem_certificates(&tls.cert, &tls.cert_file, "cert")?;
    if certificates.is_empty() {
        return Err(error(
            pem_field(&tls.cert, "cert"),
            format!("{}no PEM certificate in it", source(&tls.cert_file)),
        ));
    }
    let key = if tls.key.is_empty() {
        PrivateKeyDer::from_pem_file(&tls.key_file)
    } else {
        PrivateKeyDer::from_pem_slice(tls.key.as_bytes())
    }
    .map_err(|problem| {
        error(
            pem_field(&tls.key, "key"),
            format!("{}{problem}", source(&tls.key_file)),
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
            pem_field(&tls.key, "key"),
            format!("does not match the certificate or is unusable: {problem}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The field a PEM came from: `NAME` when given inline, `NAME_file` otherwise.
fn pem_field(inline: &str, name: &'static str) -> &'static str {
    match (name, inline.is_empty()) {
        ("cert", false) => "tls_server_config.cert",
        ("cert", true) => "tls_server_config.cert_file",
        ("key", false) => "tls_server_config.key",
        ("key", true) => "tls_server_config.key_file",
        (_, false) => "tls_server_config.client_ca",
        (_, true) => "tls_server_config.client_ca_file",
    }
}

/// `"PATH: "` for a message about a file, nothing for an inline PEM.
fn source(file: &str) -> String {
    if file.is_empty() {
        String::new()
    } else {
        format!("{file}: ")
    }
}

/// The certificates of an inline PEM, or else of a PEM file.
fn pem_certificates(
    inline: &str,
    file: &str,
    name: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let field = pem_field(inline, name);
    let fail =
        |problem: rustls::pki_types::pem::Error| error(field, format!("{}{problem}", source(file)));
    if inline.is_empty() {
        CertificateDer::pem_file_iter(file)
            .map_err(fail)?
            .collect::<Result<_, _>>()
            .map_err(fail)
    } else {
        CertificateDer::pem_slice_iter(inline.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(fail)
    }
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
    let verifier: Arc<dyn ClientCertVerifier> = match tls.client_auth_type {
        ClientAuthType::NoClientCert => return Ok(None),
        // As in Go, these modes take a client CA but do not check certificates against it.
        ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert => {
            Arc::new(AnyClientCertificate {
                provider: Arc::clone(provider),
                mandatory: tls.client_auth_type == ClientAuthType::RequireAnyClientCert,
            })
        }
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert => {
            let field = pem_field(&tls.client_ca, "client_ca");
            let mut roots = RootCertStore::empty();
            for certificate in pem_certificates(&tls.client_ca, &tls.client_ca_file, "client_ca")? {
                roots.add(certificate).map_err(|problem| {
                    error(field, format!("{}{problem}", source(&tls.client_ca_file)))
                })?;
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
            if tls.client_auth_type == ClientAuthType::VerifyClientCertIfGiven {
                builder = builder.allow_unauthenticated();
            }
            builder.build().map_err(|problem| {
                error(field, format!("{}{problem}", source(&tls.client_ca_file)))
            })?
        }
    };
    if tls.client_allowed_sans.is_empty() {
        return Ok(Some(verifier));
    }
    Ok(Some(Arc::new(AllowedSans {
        inner: verifier,
        allowed: tls.client_allowed_sans.clone(),
    })))
}

/// `client_allowed_sans`: after the usual checks, the client certificate must carry one of the
/// allowed names, compared exactly (no wildcards), as exporter-toolkit compares them: DNS names,
/// e-mail addresses, IP addresses and URIs.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl AllowedSans {
    fn allows(&self, end_entity: &CertificateDer<'_>) -> bool {
        use x509_parser::extensions::GeneralName;
        let Ok((_, certificate)) = x509_parser::parse_x509_certificate(end_entity.as_ref()) else {
            return false;
        };
        let Ok(Some(names)) = certificate.subject_alternative_name() else {
            return false;
        };
        names.value.general_names.iter().any(|name| {
            let text = match name {
                GeneralName::DNSName(name) | GeneralName::RFC822Name(name) => name.to_string(),
                GeneralName::URI(uri) => uri.to_string(),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default())
                        .to_string(),
                    16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default())
                        .to_string(),
                    _ => return false,
                },
                _ => return false,
            };
            self.allowed.contains(&text)
        })
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.allows(end_entity) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
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
