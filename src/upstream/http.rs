//! Sending requests: one ureq agent (keep-alive pool) over the cancellable transport, the
//! browser-like headers, cookies, retries before the reply starts, and error mapping.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http;
use ureq::unversioned::resolver::DefaultResolver;

use super::envelope::{excerpt, Envelope};
use super::transport::{CancelScope, CancelToken, CancellableConnector};
use crate::error::{Error, ErrorKind, Result};

/// Network settings, already validated (see `client::Options`).
#[derive(Debug, Clone)]
pub struct WireConfig {
    pub base_url: String,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Option<Duration>,
    pub max_retries: u32,
    pub user_agent: String,
}

/// The identity cookies. Secrets: never formatted into messages.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cookies {
    pub easy_session: Option<String>,
    pub vjuid_login: Option<String>,
}

/// Redacted: cookie values are secrets and must not reach logs.
impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Cookies")
            .field("easy_session", &shown(&self.easy_session))
            .field("vjuid_login", &shown(&self.vjuid_login))
            .finish()
    }
}

impl Cookies {
    /// `easy_session=…; cookie_vjuid_login=…` with the non-empty ones, or None.
    pub fn header(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(v) = self.easy_session.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("easy_session={v}"));
        }
        if let Some(v) = self.vjuid_login.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("cookie_vjuid_login={v}"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A reply whose status line and headers have arrived; the body is still on the wire.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: ureq::BodyReader<'static>,
}

impl Reply {
    pub fn is_event_stream(&self) -> bool {
        self.content_type.to_ascii_lowercase().contains("text/event-stream")
    }

    /// The reply itself when its status is 2xx, else the error that status is: the server's
    /// envelope if the body holds one, otherwise `HttpStatus` with the start of the body.
    pub fn check_status(self, token: &CancelToken) -> Result<Reply> {
        let status = self.status;
        if (200..300).contains(&status) {
            return Ok(self);
        }
        let body = self.read_all(token, 64 << 10).unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        // Some gateways put an envelope in an error status; keep its words.
        if let Ok(env) = Envelope::parse(&text) {
            if env.e != 0 {
                return Err(Error::from_envelope(env.e, &env.m, Some(status)));
            }
        }
        // The site answers a missing login with a redirect to the university's sign-in page.
        let hint = if (300..400).contains(&status) { " (a redirect: usually the login cookie is missing or expired)" } else { "" };
        let mut err = Error::new(ErrorKind::HttpStatus, format!("HTTP status {status}{hint}: {}", excerpt(&text)));
        err.http_status = Some(status);
        Err(err)
    }

    /// Reads the whole (non-stream) body, up to `limit` bytes.
    pub fn read_all(mut self, token: &CancelToken, limit: usize) -> Result<Vec<u8>> {
        let _scope = CancelScope::enter(token);
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match self.body.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => {
                    if out.len() + n > limit {
                        return Err(Error::new(
                            ErrorKind::TooLarge,
                            format!("the reply body exceeds the {limit}-byte limit"),
                        ));
                    }
                    out.extend_from_slice(&chunk[..n]);
                }
                Err(e) => return Err(body_error(e, token)),
            }
        }
    }
}

pub struct Wire {
    agent: ureq::Agent,
    config: WireConfig,
    cookies: Mutex<Cookies>,
}

impl Wire {
    pub fn new(config: WireConfig, cookies: Cookies) -> Wire {
        let agent_config = ureq::Agent::config_builder()
            // Statuses are mapped here, with the body kept for the message.
            .http_status_as_error(false)
            // The upstream is reached directly; environment proxies are ignored on purpose
            // (they would also capture the loopback emulator).
            .proxy(None)
            .max_redirects(0)
            // Compression can hold SSE events back, and the server does not need it.
            .accept_encoding("identity")
            .user_agent(config.user_agent.as_str())
            .timeout_connect(Some(config.connect_timeout))
            // Re-armed on every read: the longest allowed silence, including before headers.
            .timeout_per_read(Some(config.idle_timeout))
            .timeout_global(config.total_timeout)
            .max_idle_connections_per_host(8)
            .build();
        let agent = ureq::Agent::with_parts(agent_config, CancellableConnector, DefaultResolver::default());
        Wire { agent, config, cookies: Mutex::new(cookies) }
    }

    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    pub fn cookies(&self) -> Cookies {
        self.cookies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a request and waits for the reply's headers. Failures to connect, and failures
    /// before any byte of the reply, are retried up to `max_retries` times with exponential
    /// backoff and jitter; nothing is retried once the reply has started.
    pub fn send(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&super::multipart::Multipart>,
        token: &CancelToken,
    ) -> Result<Reply> {
        let url = format!("{}{}", self.config.base_url, path_and_query);
        let mut attempt = 0u32;
        loop {
            match self.send_once(method, &url, form, token) {
                Ok(reply) => return Ok(reply),
                Err((err, retryable)) => {
                    if !retryable || attempt >= self.config.max_retries || token.is_cancelled() {
                        return Err(err);
                    }
                    attempt += 1;
                    backoff(attempt, token);
                    if token.is_cancelled() {
                        return Err(Error::cancelled());
                    }
                }
            }
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        form: Option<&super::multipart::Multipart>,
        token: &CancelToken,
    ) -> std::result::Result<Reply, (Error, bool)> {
        let base = &self.config.base_url;
        let mut builder = http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "text/event-stream, application/json, */*")
            .header("Origin", base.as_str())
            .header("Referer", format!("{base}/"));
        if let Some(cookie) = self.cookies().header() {
            builder = builder.header("Cookie", cookie);
        }
        let body: &[u8] = match form {
            Some(f) => {
                builder = builder.header("Content-Type", f.content_type.as_str());
                &f.body
            }
            None => &[],
        };
        let request = builder
            .body(body)
            .map_err(|e| (Error::invalid_argument(format!("cannot build the request: {e}")), false))?;

        let response = {
            let _scope = CancelScope::enter(token);
            self.agent.run(request)
        };
        let response = response.map_err(|e| send_error(e, token))?;
        self.remember_cookies(response.headers());
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response.into_body().into_reader();
        Ok(Reply { status, content_type, body })
    }

    /// Keeps a server-issued `easy_session` so it is sent next time and can be saved.
    fn remember_cookies(&self, headers: &http::HeaderMap) {
        for value in headers.get_all("set-cookie") {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or("");
            if let Some((name, val)) = pair.split_once('=') {
                let (name, val) = (name.trim(), val.trim());
                let mut cookies = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
                match name {
                    "easy_session" if !val.is_empty() => cookies.easy_session = Some(val.to_string()),
                    "cookie_vjuid_login" if !val.is_empty() => cookies.vjuid_login = Some(val.to_string()),
                    _ => {}
                }
            }
        }
    }
}

/// Sleeps 2^attempt × 100 ms (capped at 5 s) plus up to 50% jitter, waking early on cancel.
fn backoff(attempt: u32, token: &CancelToken) {
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    let jitter = crate::util::random_u64() % (base / 2 + 1);
    let deadline = std::time::Instant::now() + Duration::from_millis(base + jitter);
    while std::time::Instant::now() < deadline && !token.is_cancelled() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Maps a failure before the reply's headers; the bool says whether a retry is safe.
fn send_error(e: ureq::Error, token: &CancelToken) -> (Error, bool) {
    use std::io::ErrorKind as Io;
    if token.is_cancelled() {
        return (Error::cancelled(), false);
    }
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            (Error::new(ErrorKind::Timeout, "timed out while connecting to the server"), true)
        }
        ureq::Error::Timeout(t) => (timeout_error(t), false),
        ureq::Error::HostNotFound => (Error::new(ErrorKind::Connect, "the server's host name was not found"), true),
        ureq::Error::ConnectionFailed => (Error::new(ErrorKind::Connect, "could not connect to the server"), true),
        ureq::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused | Io::AddrNotAvailable | Io::HostUnreachable | Io::NetworkUnreachable
            | Io::NetworkDown => (Error::new(ErrorKind::Connect, format!("could not connect to the server: {io}")), true),
            Io::Unsupported => (Error::invalid_argument(io.to_string()), false),
            // A kept-alive connection the server had closed: nothing of the reply was read.
            Io::ConnectionReset | Io::BrokenPipe | Io::UnexpectedEof | Io::ConnectionAborted => (
                Error::new(ErrorKind::ConnectionLost, format!("the connection closed before the reply started: {io}")),
                true,
            ),
            _ => (Error::new(ErrorKind::ConnectionLost, format!("network error: {io}")), false),
        },
        ureq::Error::BadUri(u) => (Error::invalid_argument(format!("bad URL: {u}")), false),
        ureq::Error::Protocol(p) => (Error::protocol(format!("malformed HTTP reply: {p}")), false),
        other => (Error::new(ErrorKind::Connect, format!("request failed: {other}")), false),
    }
}

fn timeout_error(t: ureq::Timeout) -> Error {
    let what = match t {
        ureq::Timeout::PerRead | ureq::Timeout::RecvBody | ureq::Timeout::RecvResponse => {
            "the server was silent for longer than idle_timeout_ms"
        }
        ureq::Timeout::Global | ureq::Timeout::PerCall => "the request took longer than timeout_ms",
        ureq::Timeout::Connect => "timed out while connecting to the server",
        _ => "the request timed out",
    };
    Error::new(ErrorKind::Timeout, what)
}

/// Maps a failure while the reply body is read (after the headers arrived).
pub fn body_error(e: std::io::Error, token: &CancelToken) -> Error {
    if token.is_cancelled() {
        return Error::cancelled();
    }
    // ureq wraps its own errors (timeouts, bad chunking) in io::Error.
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
    match inner {
        Some(ureq::Error::Timeout(t)) => timeout_error(*t),
        Some(ureq::Error::Protocol(p)) => {
            Error::new(ErrorKind::ConnectionLost, format!("the reply was cut short: {p}"))
        }
        Some(ureq::Error::Io(io)) => {
            Error::new(ErrorKind::ConnectionLost, format!("the connection broke during the reply: {io}"))
        }
        _ => match e.kind() {
            std::io::ErrorKind::TimedOut => timeout_error(ureq::Timeout::PerRead),
            _ => Error::new(ErrorKind::ConnectionLost, format!("the connection broke during the reply: {e}")),
        },
    }
}
