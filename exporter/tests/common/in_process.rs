//! The exporter library served in this process on port 0, stopped by a shutdown future: for
//! HTTP behaviour, without a process to start, a log line to parse or a port to guess.

use std::io;
use std::net::TcpListener;
use std::ops::Deref;
use std::thread::JoinHandle;

use syseng_exporter::config::Flags;
use syseng_exporter::web::WebConfig;
use tokio::sync::oneshot;

use super::client::Endpoint;

/// [`syseng_exporter::run`] on a thread of its own, listening on 127.0.0.1 on a free port.
/// Dropping it shuts it down (in-flight scrapes finish first) and waits for it.
pub struct InProcess {
    endpoint: Endpoint,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<io::Result<()>>>,
}

impl Deref for InProcess {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl InProcess {
    /// Configured by the binary's flags (`--web.listen-address` aside: the listener is bound
    /// here), as the binary would be; panics on flags the binary would refuse.
    pub fn start(args: &[&str]) -> InProcess {
        let flags = Flags::from_args(
            std::iter::once("syseng_exporter")
                .chain(args.iter().copied())
                .map(String::from),
        )
        .unwrap_or_else(|error| panic!("{args:?}: {error}"));
        let config = flags
            .validate()
            .unwrap_or_else(|error| panic!("{args:?}: {error}"));
        let web = (!flags.web_config_file.is_empty()).then(|| {
            WebConfig::load(std::path::Path::new(&flags.web_config_file))
                .unwrap_or_else(|error| panic!("{args:?}: {error}"))
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the exporter");
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let served = std::thread::Builder::new()
            .name("exporter".into())
            .spawn(move || {
                syseng_exporter::run(vec![listener], config, web, async {
                    let _ = stop.await;
                })
            })
            .expect("spawn the exporter's thread");
        InProcess {
            endpoint: Endpoint::new(address),
            shutdown: Some(shutdown),
            served: Some(served),
        }
    }

    /// Completes the shutdown future and returns what `run` returned, once it has.
    pub fn shut_down(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.served.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the exporter's thread panicked")),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let result = self.stop();
        if !std::thread::panicking() {
            result.expect("the exporter stops cleanly");
        }
    }
}
