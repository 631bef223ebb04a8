//! A protocol-faithful fake of the upstream server (chat.ustb.edu.cn), see docs/PROTOCOL.md
//! (section 7, "The emulator").
//!
//! Used by the tests and the `ustb-emulator` binary. Replies are deterministic functions of
//! the request; `@emu:NAME` directives in the prompt inject faults (see `chat.rs`).

mod chat;
mod endpoints;
mod events;
mod faults;
mod http;
mod json;
mod multipart;
pub(crate) mod puzzle;
pub(crate) mod qrimage;
mod sso;
mod tls;
mod toolforms;

/// The values of `@emu:tool-form=FORM` (the markups the fake model can write its calls in).
pub use toolforms::FORMS as TOOL_FORMS;
mod util;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Emulator settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Characters of text per streamed event.
    pub chunk_chars: usize,
    /// Pause between streamed events.
    pub delay: Duration,
    /// Chat, the session endpoints (`/site/voom/…` but page settings) and the chat page need a
    /// valid `cookie_vjuid_login`.
    pub require_login: bool,
    /// `Some(t)`: `cookie_vjuid_login` must equal `t`; `None`: any non-empty value.
    pub login_token: Option<String>,
    /// Content + history of this many characters or more is answered with 4028.
    pub max_context_chars: usize,
    /// The fake university SSO and SIS (QR and SMS login).
    pub sso: SsoConfig,
}

/// Settings of the fake SSO (docs/PROTOCOL.md section 7, "SSO and SIS").
#[derive(Clone, Debug)]
pub struct SsoConfig {
    /// What happens to each QR session, e.g. `scan@800,confirm@1600` (see `sso/script.rs`).
    pub qr_script: String,
    /// How long `/connect/state` holds a poll while nothing changes.
    pub long_poll: Duration,
    /// A QR session the script has not ended expires this long after it was created.
    pub qr_lifetime: Duration,
    /// `false`: SMS login is switched off (`checkOpen` answers 404).
    pub sms_open: bool,
    /// Minimum time between two SMS to the same phone.
    pub sms_interval: Duration,
    /// The first this many `/connect/state` polls answer HTTP 502 (a gateway fault).
    pub failed_polls: u32,
    /// `Some`: absolute URLs in replies name these origins (e.g. [`ReplyHosts::real`], as the
    /// real servers do) instead of the request's own `Host`.
    pub reply_hosts: Option<ReplyHosts>,
    /// `/connect/state` answers at once with the session's current state, unchanged ones too
    /// (`4` before a scan, `2` on every poll while scanned): a server that holds no poll.
    pub instant_polls: bool,
    /// Every `/connect/state` reply sets this many new cookies of `POLL_COOKIE_BYTES` each.
    pub poll_cookies: u32,
}

/// The size of each cookie value `SsoConfig::poll_cookies` sets.
pub const POLL_COOKIE_BYTES: usize = 1000;

/// The origins (`scheme://host[:port]`) the fake SSO's replies name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyHosts {
    pub sso: String,
    pub sis: String,
    pub chat: String,
}

impl ReplyHosts {
    /// The real servers' hosts: a client that follows the replies as given leaves the emulator.
    pub fn real() -> ReplyHosts {
        ReplyHosts {
            sso: "https://sso.ustb.edu.cn".into(),
            sis: "https://sis.ustb.edu.cn".into(),
            chat: crate::limits::DEFAULT_BASE_URL.into(),
        }
    }
}

impl SsoConfig {
    /// Checks the settings `Emulator::start` would refuse (a bad QR script), with a message.
    pub fn validate(&self) -> Result<(), String> {
        sso::check_script(&self.qr_script)
    }
}

impl Default for SsoConfig {
    fn default() -> SsoConfig {
        SsoConfig {
            qr_script: "scan@800,confirm@1600".into(),
            long_poll: Duration::from_secs(15),
            qr_lifetime: Duration::from_secs(180),
            sms_open: true,
            sms_interval: Duration::from_secs(60),
            failed_polls: 0,
            reply_hosts: None,
            instant_polls: false,
            poll_cookies: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            chunk_chars: 4,
            delay: Duration::ZERO,
            require_login: true,
            login_token: None,
            max_context_chars: crate::limits::MAX_CONTEXT_CHARS,
            sso: SsoConfig::default(),
        }
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Includes the query string.
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Multipart fields in order; empty for non-multipart bodies.
    pub form: Vec<(String, String)>,
}

/// A running emulator; stops on `stop` or drop.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    stopping: AtomicBool,
    requests: Mutex<Vec<Recorded>>,
    /// Clones of live connections, so stopping can unblock their threads.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    pub(crate) sessions: Mutex<endpoints::Sessions>,
    pub(crate) sso: Mutex<sso::SsoState>,
    pub(crate) tls: Mutex<tls::Fronts>,
}

/// What to do with the connection after a reply.
pub(crate) enum Next {
    Keep,
    Close,
}

/// Locks even if another thread panicked while holding the lock: the data stays usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// A valid login cookie per the config (ignores `require_login`).
    pub(crate) fn logged_in(&self, req: &http::Request) -> bool {
        match req.cookie("cookie_vjuid_login") {
            Some(v) if !v.is_empty() => match &self.config.login_token {
                Some(t) => *t == v,
                None => true,
            },
            _ => false,
        }
    }

    /// May this request chat (or see the chat page)?
    pub(crate) fn authorized(&self, req: &http::Request) -> bool {
        !self.config.require_login || self.logged_in(req)
    }

    /// Waits up to `limit` while writing nothing; returns early (with `false`) when the client
    /// goes away or the emulator stops.
    pub(crate) fn stall(&self, stream: &TcpStream, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut probe = [0u8; 1];
        let mut full = true;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.stopping() {
                full = false;
            }
            if !full || left.is_zero() {
                break;
            }
            let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(100))));
            match stream.peek(&mut probe) {
                Ok(0) => full = false,
                Ok(_) => thread::sleep(left.min(Duration::from_millis(100))),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => full = false,
            }
        }
        let _ = stream.set_read_timeout(None);
        full
    }
}

impl Emulator {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves in background threads.
    /// A bad `config.sso.qr_script` is an `InvalidInput` error.
    pub fn start(config: Config, addr: &str) -> io::Result<Emulator> {
        let sso = sso::SsoState::new(&config.sso).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            stopping: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            sessions: Mutex::new(endpoints::Sessions::default()),
            sso: Mutex::new(sso),
            tls: Mutex::new(tls::Fronts::default()),
        });
        let sh = Arc::clone(&shared);
        let accept =
            thread::Builder::new().name("ustb-emulator-accept".into()).spawn(move || accept_loop(listener, sh))?;
        Ok(Emulator { addr, shared, accept: Some(accept) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Where the piece of the slider puzzle handed out under `token` belongs, `(x, y)` of its
    /// top left corner, while the token is unused.
    pub fn sso_puzzle_answer(&self, token: &str) -> Option<(u32, u32)> {
        lock(&self.shared.sso).puzzles.get(token).copied()
    }

    /// How many TCP connections were accepted so far (to check that clients reuse them).
    pub fn connections_accepted(&self) -> u64 {
        self.shared.next_conn.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes open connections and joins the accept thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(handle) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection to ourselves.
        let woke = TcpStream::connect_timeout(&loopback(self.addr), Duration::from_secs(2)).is_ok();
        for (_, c) in lock(&self.shared.conns).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        tls::stop(&self.shared);
        if woke {
            let _ = handle.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `addr` with an unspecified IP (bound to all interfaces) replaced by loopback, to connect to.
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    addr
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping() {
            break;
        }
        match conn {
            Ok(stream) => {
                let sh = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name("ustb-emulator-conn".into())
                    .spawn(move || serve_connection(sh, stream));
                if spawned.is_err() {
                    thread::sleep(Duration::from_millis(10));
                }
            }
            // e.g. out of file descriptors: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_connection(shared: Arc<Shared>, stream: TcpStream) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    match stream.try_clone() {
        Ok(c) => {
            lock(&shared.conns).insert(id, c);
        }
        Err(_) => return,
    }
    if !shared.stopping() {
        if let Ok(read_half) = stream.try_clone() {
            let mut reader = BufReader::new(read_half);
            serve_requests(&shared, &mut reader, &stream);
        }
    }
    lock(&shared.conns).remove(&id);
}

fn serve_requests(shared: &Shared, reader: &mut BufReader<TcpStream>, stream: &TcpStream) {
    loop {
        let mut req = match http::read_request(reader, stream) {
            Ok(req) => req,
            Err(http::ReadError::Gone) => return,
            Err(http::ReadError::Status(code, partial)) => {
                if let Some(req) = partial {
                    record(shared, &req);
                }
                let body = format!("<html><body><h1>{code} {}</h1></body></html>", http::reason(code));
                let _ = http::respond(stream, code, "text/html; charset=utf-8", &[], body.as_bytes(), true);
                close_gracefully(stream);
                return;
            }
        };
        record(shared, &req);
        // Checked per request: the front marks its connection just after connecting.
        if tls::is_front(shared, stream) {
            // After recording: the client did not send it.
            req.headers.push(("x-forwarded-proto".into(), "https".into()));
        }
        let close = req.wants_close();
        match endpoints::route(shared, &req, stream, close) {
            Ok(Next::Keep) if !close && !shared.stopping() => {}
            Ok(_) => {
                close_gracefully(stream);
                return;
            }
            Err(_) => return, // client went away mid-reply
        }
    }
}

/// Half-closes, then drains briefly: dropping a socket with unread input sends a reset that
/// can destroy the reply still in flight.
fn close_gracefully(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 8192];
    let mut budget = 1 << 20;
    let mut s = stream;
    while budget > 0 {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget -= n.min(budget),
        }
    }
}

fn record(shared: &Shared, req: &http::Request) {
    lock(&shared.requests).push(Recorded {
        method: req.method.clone(),
        path: req.target.clone(),
        headers: req.headers.clone(),
        form: req.form.clone().unwrap_or_default(),
    });
}
