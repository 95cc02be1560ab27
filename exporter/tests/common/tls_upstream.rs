//! A `/stats` upstream over TLS that requires a client certificate from a test CA and a
//! bearer token, as a service mesh's sidecar with an authenticating ingress would.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::upstream::{SAMPLE, has_header_lines, read_head, respond};

/// Serves `{prefix}server.crt` from `dir` and accepts clients with a certificate signed by
/// `{prefix}ca.crt` that send `Authorization: Bearer TOKEN`; 401 for another token.
pub struct TlsUpstream {
    pub address: SocketAddr,
    token: Arc<Mutex<String>>,
    /// Requests answered, whatever the answer.
    pub requests: Arc<AtomicUsize>,
    /// TLS handshakes completed.
    pub handshakes: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
}

impl TlsUpstream {
    pub fn start(dir: &Path, prefix: &str, token: &str) -> TlsUpstream {
        let file = |name: &str| dir.join(format!("{prefix}{name}"));
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(file("ca.crt")).unwrap() {
            roots.add(certificate.unwrap()).unwrap();
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let chain = CertificateDer::pem_file_iter(file("server.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(file("server.key")).unwrap();
        let config = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = TlsUpstream {
            address: listener.local_addr().unwrap(),
            token: Arc::new(Mutex::new(token.to_string())),
            requests: Arc::new(AtomicUsize::new(0)),
            handshakes: Arc::new(AtomicUsize::new(0)),
            stopped: Arc::new(AtomicBool::new(false)),
        };
        let (token, requests, handshakes, stopped) = (
            Arc::clone(&upstream.token),
            Arc::clone(&upstream.requests),
            Arc::clone(&upstream.handshakes),
            Arc::clone(&upstream.stopped),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (config, token, requests, handshakes) = (
                    Arc::clone(&config),
                    Arc::clone(&token),
                    Arc::clone(&requests),
                    Arc::clone(&handshakes),
                );
                thread::spawn(move || serve(stream, config, &token, &requests, &handshakes));
            }
        });
        upstream
    }

    /// `https://127.0.0.1:PORT/stats`, as a `/probe` target.
    pub fn target(&self) -> String {
        format!("https://127.0.0.1:{}/stats", self.address.port())
    }

    pub fn set_token(&self, token: &str) {
        *self.token.lock().unwrap() = token.to_string();
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
    }
}

fn serve(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    token: &Mutex<String>,
    requests: &AtomicUsize,
    handshakes: &AtomicUsize,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(connection) = ServerConnection::new(config) else {
        return;
    };
    let mut reader = BufReader::new(StreamOwned::new(connection, stream));
    let mut counted = false;
    while let Some(head) = read_head(&mut reader) {
        if !counted {
            handshakes.fetch_add(1, Ordering::SeqCst);
            counted = true;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let wanted = format!("Authorization: Bearer {}", token.lock().unwrap());
        let stream = reader.get_mut();
        let written = if has_header_lines(&head, &[wanted]) {
            respond(stream, 200, "application/json", SAMPLE.as_bytes())
        } else {
            respond(stream, 401, "text/plain", b"unauthorized\n")
        };
        if written.and_then(|()| stream.flush()).is_err() {
            return;
        }
    }
}
