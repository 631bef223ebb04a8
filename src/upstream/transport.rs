//! A TCP transport for ureq that a cancel call can interrupt.
//!
//! ureq has no per-request cancel, and pooled connections skip `connect`, so the socket in use
//! is found another way: while a request does I/O, `CancelScope` puts its `CancelToken` in a
//! thread-local, and the transport registers its socket there before every read and write.
//! `CancelToken::cancel` then shuts the socket down, which wakes a blocked read at once.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

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

thread_local! {
    static CURRENT: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

/// While alive, I/O on this thread belongs to `token`.
pub struct CancelScope {
    previous: Option<CancelToken>,
}

impl CancelScope {
    pub fn enter(token: &CancelToken) -> CancelScope {
        let previous = CURRENT.with(|c| c.replace(Some(token.clone())));
        CancelScope { previous }
    }
}

impl Drop for CancelScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn register_current(sock: &Arc<TcpStream>) -> Result<(), ureq::Error> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(token) if token.is_cancelled() => {
            let _ = sock.shutdown(Shutdown::Both);
            Err(ureq::Error::Io(io::Error::new(io::ErrorKind::Interrupted, "cancelled")))
        }
        Some(token) => {
            token.register(sock);
            Ok(())
        }
        None => Ok(()),
    })
}

/// Opens plain TCP connections (the upstream is plain HTTP).
#[derive(Debug, Default)]
pub struct CancellableConnector;

impl Connector<()> for CancellableConnector {
    type Out = CancellableTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if details.needs_tls() {
            return Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "https is not supported: the upstream is plain http",
            )));
        }
        let config = details.config;
        let mut last = None;
        for addr in details.addrs.iter() {
            // Check before each attempt: a cancel during a slow connect stops further tries.
            if CURRENT.with(|c| c.borrow().as_ref().is_some_and(|t| t.is_cancelled())) {
                return Err(ureq::Error::Io(io::Error::new(io::ErrorKind::Interrupted, "cancelled")));
            }
            let attempt = match details.timeout.not_zero() {
                Some(t) => TcpStream::connect_timeout(addr, *t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    let sock = Arc::new(stream);
                    register_current(&sock)?;
                    let buffers =
                        LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                    return Ok(Some(CancellableTransport { sock, buffers }));
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {
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

pub struct CancellableTransport {
    sock: Arc<TcpStream>,
    buffers: LazyBuffers,
}

impl fmt::Debug for CancellableTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellableTransport").field("peer", &self.sock.peer_addr().ok()).finish()
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
                Ok(n) => break n,
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
