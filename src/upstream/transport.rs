//! A TCP transport for ureq that a cancel call can interrupt.
//!
//! ureq has no per-request cancel, and pooled connections skip `connect`, so the socket in use
//! is found another way: while a request does I/O, `CancelScope` puts its `CancelToken` in a
//! thread-local, and the transport registers its socket there before every read and write.
//! `CancelToken::cancel` then shuts the socket down, which wakes a blocked read at once. A
//! connect in progress is polled in short slices and gives up as soon as the token is
//! cancelled.
//!
//! A cancelled operation fails with `cancelled_io()`, whose kind is `Other`: never
//! `Interrupted`, which std readers and ureq retry by convention (a retry loop on a shut-down
//! socket would spin forever).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ChainedConnector, ConnectionDetails, Connector, LazyBuffers, NextTimeout, RustlsConnector, Transport,
};

use super::lookup::{lookup, LookupError};
use crate::error::{Error, ErrorKind};

/// How often a connect in progress looks at its cancel token.
const CONNECT_POLL: Duration = Duration::from_millis(10);

/// Shared between a stream and whoever may cancel it. Cheap to clone.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<TokenState>);

#[derive(Default)]
struct TokenState {
    cancelled: AtomicBool,
    socket: Mutex<Option<Arc<TcpStream>>>,
}

impl CancelToken {
    /// Marks the request cancelled and shuts its socket down. Idempotent, any thread.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Some(sock) = self.0.socket.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Makes `sock` the one a cancel shuts down. After a cancel it is shut at once.
    fn register(&self, sock: &Arc<TcpStream>) {
        let mut slot = self.0.socket.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_cancelled() {
            let _ = sock.shutdown(Shutdown::Both);
            return;
        }
        if !slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, sock)) {
            *slot = Some(sock.clone());
        }
    }

    /// Forgets the socket (it goes back to the pool, or away) so a late cancel cannot touch
    /// a connection another request now uses.
    pub fn release(&self) {
        self.0.socket.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The error a cancelled read, write or connect fails with (kind `Other`, see the module doc).
pub fn cancelled_io() -> io::Error {
    io::Error::other("cancelled")
}

struct Current {
    token: CancelToken,
    /// Whether request bytes went out in this scope: failures before that are connect failures.
    wrote: Cell<bool>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// While alive, I/O on this thread belongs to `token`.
pub struct CancelScope {
    previous: Option<Current>,
}

impl CancelScope {
    pub fn enter(token: &CancelToken) -> CancelScope {
        let now = Current { token: token.clone(), wrote: Cell::new(false) };
        let previous = CURRENT.with(|c| c.replace(Some(now)));
        CancelScope { previous }
    }

    /// True once any request bytes were written while this scope was current.
    pub fn wrote(&self) -> bool {
        CURRENT.with(|c| c.borrow().as_ref().is_some_and(|cur| cur.wrote.get()))
    }
}

impl Drop for CancelScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn current_cancelled() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|cur| cur.token.is_cancelled()))
}

fn register_current(sock: &Arc<TcpStream>) -> Result<(), ureq::Error> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(cur) if cur.token.is_cancelled() => {
            let _ = sock.shutdown(Shutdown::Both);
            Err(ureq::Error::Io(cancelled_io()))
        }
        Some(cur) => {
            cur.token.register(sock);
            Ok(())
        }
        None => Ok(()),
    })
}

fn note_written() {
    CURRENT.with(|c| {
        if let Some(cur) = &*c.borrow() {
            cur.wrote.set(true);
        }
    });
}

/// ureq's name lookup, made abandonable (see `lookup.rs`): it gives up at ureq's resolve
/// deadline (`connect_timeout_ms`, or less of `timeout_ms` when that is nearer) and on a cancel
/// of the current scope. A failed lookup is reported as `HostNotFound` (std reports it as a
/// bare I/O error, which would read like a broken connection).
#[derive(Debug, Default)]
pub struct LookupResolver;

impl Resolver for LookupResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(uri.to_string());
        let authority = uri.authority().ok_or_else(bad)?;
        let port = match (authority.port_u16(), uri.scheme_str()) {
            (Some(port), _) => port,
            (None, Some("http")) => 80,
            (None, Some("https")) => 443,
            _ => return Err(bad()),
        };
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let limit = timeout.not_zero().map(|t| *t);
        let addrs = match lookup(host, port, limit, &current_cancelled) {
            Ok(addrs) => addrs,
            Err(LookupError::Cancelled) => return Err(ureq::Error::Io(cancelled_io())),
            Err(LookupError::TimedOut(_)) => return Err(ureq::Error::Timeout(timeout.reason)),
            Err(LookupError::Failed(_)) => return Err(ureq::Error::HostNotFound),
            Err(LookupError::Unavailable(why)) => {
                return Err(ureq::Error::Io(io::Error::other(Error::new(ErrorKind::Connect, why))))
            }
        };
        let mut result = self.empty();
        for addr in config.ip_family().keep_wanted(addrs.into_iter()) {
            if result.try_push(addr).is_err() {
                break;
            }
        }
        if result.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(result)
    }
}

/// The connector every agent uses: cancellable TCP, then TLS for `https` URLs (the SSO hosts;
/// the chat host is plain HTTP and skips the TLS step).
pub type Connectors = ChainedConnector<(), CancellableConnector, TlsConnector>;

pub fn connectors() -> Connectors {
    CancellableConnector.chain(TlsConnector::default())
}

/// Opens TCP connections that a cancel can interrupt.
#[derive(Debug, Default)]
pub struct CancellableConnector;

/// ureq's rustls layer, with handshake failures turned into a library error that names TLS
/// (a bad certificate is not worth a retry, and "network error" would hide the cause).
#[derive(Default)]
pub struct TlsConnector(RustlsConnector);

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = <RustlsConnector as Connector<In>>::Out;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let tls = details.needs_tls();
        let result = self.0.connect(details, chained);
        if tls {
            // Handshake bytes are not request bytes: a failure so far is a connect failure.
            CURRENT.with(|c| c.borrow().as_ref().map(|cur| cur.wrote.set(false)));
        }
        result.map_err(|e| if tls && !current_cancelled() { tls_error(e) } else { e })
    }
}

fn tls_error(e: ureq::Error) -> ureq::Error {
    let cause = match &e {
        ureq::Error::Timeout(_) => return e,
        ureq::Error::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => tls.to_string(),
            None => return e,
        },
        ureq::Error::Rustls(tls) => tls.to_string(),
        ureq::Error::Tls(what) => what.to_string(),
        _ => return e,
    };
    let hint = if cause.contains("certificate") {
        " (if this network intercepts TLS, give its CA certificate in the ca_file option)"
    } else {
        ""
    };
    let err = Error::new(ErrorKind::Connect, format!("the TLS handshake failed: {cause}{hint}"));
    ureq::Error::Io(io::Error::other(err))
}

impl Connector<()> for CancellableConnector {
    type Out = CancellableTransport;

    fn connect(&self, details: &ConnectionDetails, _chained: Option<()>) -> Result<Option<Self::Out>, ureq::Error> {
        let config = details.config;
        let mut last = None;
        for addr in details.addrs.iter() {
            match connect(addr, details.timeout.not_zero().map(|t| *t)) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    let sock = Arc::new(stream);
                    register_current(&sock)?;
                    let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                    return Ok(Some(CancellableTransport { sock, buffers }));
                }
                Err(e) if current_cancelled() => return Err(ureq::Error::Io(e)),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    last = Some(ureq::Error::Timeout(ureq::Timeout::Connect));
                }
                Err(e) => last = Some(ureq::Error::Io(e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            ureq::Error::Io(io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to"))
        }))
    }
}

/// A non-blocking connect, waited for in slices so that a cancel stops it within
/// `CONNECT_POLL` (a blocking connect cannot be interrupted from another thread).
pub(crate) fn connect(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let (storage, len) = sockaddr(addr);
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket(2); the descriptor is owned by `fd` from here on.
    let raw = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `storage` holds a sockaddr of `len` bytes for this family.
    let rc = unsafe { libc::connect(raw, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err);
        }
        wait_connected(raw, timeout)?;
    }
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn wait_connected(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if current_cancelled() {
            return Err(cancelled_io());
        }
        let mut slice = CONNECT_POLL;
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            }
            slice = slice.min(left);
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
        let ms = slice.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n > 0 {
            let mut so_error: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: SO_ERROR writes one c_int into `so_error`.
            let rc = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut so_error as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            return if so_error == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(so_error)) };
        }
    }
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage, and both sockaddr_in and sockaddr_in6
    // fit inside it (that is its purpose).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
            (storage, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_scope_id = a.scope_id();
            (storage, std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

pub struct CancellableTransport {
    sock: Arc<TcpStream>,
    buffers: LazyBuffers,
}

impl fmt::Debug for CancellableTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellableTransport").field("fd", &self.sock.as_raw_fd()).finish()
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

impl Transport for CancellableTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        register_current(&self.sock)?;
        let timeout = timeout.for_write();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        self.sock.set_write_timeout(timeout.not_zero().map(|d| *d))?;
        let output = &self.buffers.output()[..amount];
        note_written();
        match (&*self.sock).write_all(output) {
            Ok(()) => Ok(()),
            Err(e) if timed_out(&e) => Err(ureq::Error::Timeout(timeout.reason)),
            Err(e) => Err(e.into()),
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        register_current(&self.sock)?;
        let timeout = timeout.for_read();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        self.sock.set_read_timeout(timeout.not_zero().map(|d| *d))?;
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&*self.sock).read(input) {
                Ok(_) if current_cancelled() => return Err(ureq::Error::Io(cancelled_io())),
                Ok(n) => break n,
                Err(_) if current_cancelled() => return Err(ureq::Error::Io(cancelled_io())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if timed_out(&e) => return Err(ureq::Error::Timeout(timeout.reason)),
                Err(e) => return Err(e.into()),
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled socket is reusable only if the peer has not closed it and sent nothing.
        if self.sock.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let open = matches!((&*self.sock).read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        open && self.sock.set_nonblocking(false).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connect_reaches_a_listener_and_reports_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = connect(&addr, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        drop(listener);
        let err = connect(&addr, Some(Duration::from_secs(5))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn a_cancelled_scope_stops_a_connect_and_is_not_interrupted() {
        let token = CancelToken::default();
        token.cancel();
        let _scope = CancelScope::enter(&token);
        // 192.0.2.1 (TEST-NET-1) never answers; the cancel must win at once, not the timeout.
        let started = Instant::now();
        let addr: SocketAddr = "192.0.2.1:80".parse().unwrap();
        match connect(&addr, Some(Duration::from_secs(30))) {
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::Interrupted),
            Ok(_) => panic!("connected to TEST-NET-1"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
