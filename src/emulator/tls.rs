//! The TLS front: a second listener that terminates TLS (rustls, ring provider) and forwards
//! the plaintext both ways to the emulator's own plain port, so clients can be tested over
//! real HTTPS. Requests that came through it build absolute URLs with `https://` (the front's
//! connections to the plain port are known by their local address; see `is_front`).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::{lock, loopback, Emulator, Shared};

/// The running TLS listeners and their connections.
#[derive(Default)]
pub(crate) struct Fronts {
    /// Local addresses of the front's connections to the plain port.
    backends: HashSet<SocketAddr>,
    /// Client sockets, so stopping can unblock their threads.
    clients: HashMap<u64, TcpStream>,
    /// Where to connect to wake each blocked `accept`.
    listeners: Vec<SocketAddr>,
    next: u64,
}

/// Whether this plain connection is one the TLS front opened.
pub(crate) fn is_front(sh: &Shared, stream: &TcpStream) -> bool {
    stream.peer_addr().is_ok_and(|a| lock(&sh.tls).backends.contains(&a))
}

/// Stops the listeners and drops the client connections (after `stopping` was set).
pub(crate) fn stop(sh: &Shared) {
    let (listeners, clients) = {
        let mut f = lock(&sh.tls);
        (std::mem::take(&mut f.listeners), std::mem::take(&mut f.clients))
    };
    for a in listeners {
        let _ = TcpStream::connect_timeout(&a, Duration::from_secs(2));
    }
    for c in clients.values() {
        let _ = c.shutdown(Shutdown::Both);
    }
}

impl Emulator {
    /// Serves HTTPS on `addr` (e.g. `127.0.0.1:0`) with the PEM certificate chain and key,
    /// forwarding to this emulator; returns the bound address. Stops with the emulator.
    pub fn serve_tls(&self, addr: &str, cert_pem: &Path, key_pem: &Path) -> io::Result<SocketAddr> {
        let config = server_config(cert_pem, key_pem)?;
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        lock(&self.shared.tls).listeners.push(loopback(local));
        let sh = Arc::clone(&self.shared);
        let plain = loopback(self.addr);
        thread::Builder::new()
            .name("ustb-emulator-tls".into())
            .spawn(move || accept_loop(listener, sh, config, plain))?;
        Ok(local)
    }
}

fn server_config(cert_pem: &Path, key_pem: &Path) -> io::Result<Arc<ServerConfig>> {
    let bad =
        |path: &Path, why: String| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|items| items.collect())
        .map_err(|e| bad(cert_pem, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert_pem, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| bad(key_pem, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(cert_pem, e.to_string()))?;
    Ok(Arc::new(config))
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>, config: Arc<ServerConfig>, plain: SocketAddr) {
    for conn in listener.incoming() {
        if sh.stopping() {
            break;
        }
        let Ok(client) = conn else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let (sh, config) = (Arc::clone(&sh), Arc::clone(&config));
        let _ = thread::Builder::new()
            .name("ustb-emulator-tls-conn".into())
            .spawn(move || serve(&sh, config, client, plain));
    }
}

fn serve(sh: &Shared, config: Arc<ServerConfig>, client: TcpStream, plain: SocketAddr) {
    let Ok(clone) = client.try_clone() else {
        return;
    };
    let id = {
        let mut f = lock(&sh.tls);
        f.next += 1;
        let id = f.next;
        f.clients.insert(id, clone);
        id
    };
    if !sh.stopping() {
        let _ = client.set_nodelay(true);
        let _ = forward(sh, config, &client, plain);
    }
    let _ = client.shutdown(Shutdown::Both);
    lock(&sh.tls).clients.remove(&id);
}

/// Pumps client → plain port here and plain port → client in a second thread; one TLS state
/// shared under a lock that is never held while waiting for input.
fn forward(sh: &Shared, config: Arc<ServerConfig>, client: &TcpStream, plain: SocketAddr) -> io::Result<()> {
    let tls = Arc::new(Mutex::new(ServerConnection::new(config).map_err(io::Error::other)?));
    let backend = TcpStream::connect(plain)?;
    let _ = backend.set_nodelay(true);
    let local = backend.local_addr()?;
    // Before any byte flows, so the emulator sees the mark on the first request.
    lock(&sh.tls).backends.insert(local);
    let pump = {
        let (tls, backend, client) = (Arc::clone(&tls), backend.try_clone()?, client.try_clone()?);
        thread::Builder::new().name("ustb-emulator-tls-out".into()).spawn(move || {
            if backend_to_client(&tls, &backend, &client).is_err() {
                let _ = client.shutdown(Shutdown::Both);
            }
        })?
    };
    if client_to_backend(&tls, client, &backend).is_err() {
        let _ = backend.shutdown(Shutdown::Both);
    }
    let _ = pump.join();
    lock(&sh.tls).backends.remove(&local);
    Ok(())
}

fn client_to_backend(tls: &Mutex<ServerConnection>, mut client: &TcpStream, mut backend: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = client.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let (plaintext, peer_closed) = decrypt(tls, &buf[..n], client)?;
        backend.write_all(&plaintext)?;
        if peer_closed {
            break;
        }
    }
    backend.shutdown(Shutdown::Write)
}

/// Feeds TLS bytes in, sends what TLS wants to send (handshake, alerts), returns the
/// plaintext and whether the client sent close_notify.
fn decrypt(tls: &Mutex<ServerConnection>, mut input: &[u8], mut client: &TcpStream) -> io::Result<(Vec<u8>, bool)> {
    let mut conn = lock(tls);
    let mut plaintext = Vec::new();
    let mut closed = false;
    while !input.is_empty() {
        conn.read_tls(&mut input)?;
        let processed = conn.process_new_packets();
        while conn.wants_write() {
            conn.write_tls(&mut client)?;
        }
        processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match conn.reader().read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(k) => plaintext.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok((plaintext, closed))
}

fn backend_to_client(tls: &Mutex<ServerConnection>, mut backend: &TcpStream, mut client: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = backend.read(&mut buf)?;
        let mut conn = lock(tls);
        if n == 0 {
            conn.send_close_notify();
        } else {
            conn.writer().write_all(&buf[..n])?;
        }
        while conn.wants_write() {
            conn.write_tls(&mut client)?;
        }
        if n == 0 {
            return client.shutdown(Shutdown::Write);
        }
    }
}
