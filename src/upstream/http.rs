//! Sending requests: one ureq agent (keep-alive pool) over the cancellable transport, the
//! browser-like headers, cookies, retries before the reply starts, and error mapping.

use std::sync::Mutex;
use std::time::Duration;

use super::body::Body;
use super::envelope::{excerpt, Envelope};
use super::transport::{CancelScope, CancelToken, CancellableConnector, LookupResolver};
use crate::error::{Error, ErrorKind, Result};
use crate::log;
use ureq::http;

/// Network settings, already validated (see `client::Options`).
#[derive(Debug, Clone)]
pub struct WireConfig {
    pub base_url: String,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Option<Duration>,
    pub max_retries: u32,
    pub user_agent: String,
    /// Capture mode: where each exchange is appended (see `record.rs`); None costs nothing.
    pub record: Option<std::sync::Arc<super::record::Recorder>>,
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
    /// 32 ASCII letters and digits, as the server issues it.
    pub fn valid_easy_session(v: &str) -> bool {
        v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// Printable ASCII that cannot break the Cookie header, of sane length.
    pub fn valid_vjuid_login(v: &str) -> bool {
        !v.is_empty()
            && v.len() <= crate::limits::MAX_COOKIE_VALUE
            && v.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
    }

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
    pub body: Body,
}

impl Reply {
    pub fn is_event_stream(&self) -> bool {
        self.content_type.to_ascii_lowercase().contains("text/event-stream")
    }

    pub fn is_html(&self) -> bool {
        self.content_type.to_ascii_lowercase().contains("text/html")
    }

    /// The reply itself when its status is 2xx, else the error that status is: the server's
    /// envelope if the body holds one, otherwise `HttpStatus` with the start of the body.
    pub fn check_status(self) -> Result<Reply> {
        let status = self.status;
        if (200..300).contains(&status) {
            return Ok(self);
        }
        let body = self.body.read_all(crate::limits::MAX_ERROR_BODY_BYTES).unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        // Some gateways put an envelope in an error status; keep its words.
        if let Ok(env) = Envelope::parse(&text) {
            if env.e != 0 {
                return Err(Error::from_envelope(env.e, &env.m, Some(status)));
            }
        }
        // The site answers a missing login with a redirect to the university's sign-in page.
        let hint = if (300..400).contains(&status) { format!(" (a redirect: {LOGIN_HINT})") } else { String::new() };
        let mut err = Error::new(ErrorKind::HttpStatus, format!("HTTP status {status}{hint}: {}", excerpt(&text)));
        err.http_status = Some(status);
        Err(err)
    }
}

/// Said of replies that look like the site's way of asking for a login.
pub const LOGIN_HINT: &str =
    concat!("usually the login cookie (vjuid_login) is missing or expired: ", crate::error::relogin!());

pub struct Wire {
    agent: ureq::Agent,
    config: WireConfig,
    cookies: Mutex<Cookies>,
}

impl Wire {
    pub fn new(config: WireConfig, cookies: Cookies) -> Wire {
        let agent_config = agent_config(&config.user_agent, config.connect_timeout, config.idle_timeout)
            .timeout_global(config.total_timeout)
            .max_idle_connections_per_host(8)
            .build();
        let agent = ureq::Agent::with_parts(agent_config, CancellableConnector, LookupResolver);
        Wire { agent, config, cookies: Mutex::new(cookies) }
    }

    pub fn cookies(&self) -> Cookies {
        self.cookies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the login cookie (a fresh one from the SSO login).
    pub fn set_vjuid_login(&self, value: String) {
        self.cookies.lock().unwrap_or_else(|p| p.into_inner()).vjuid_login = Some(value);
    }

    /// The settings this wire was made with (the doctor reads the address and timeouts).
    pub fn config(&self) -> &WireConfig {
        &self.config
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
        let (started, body_bytes) = (std::time::Instant::now(), form.map_or(0, |f| f.body.len()));
        let (mut made, attempts) = (0u32, self.config.max_retries.saturating_add(1));
        let redact = |e| self.redact(e);
        loop {
            made += 1;
            log::attempt(method, path_and_query, body_bytes, made, attempts);
            let mut exchange = self
                .config
                .record
                .as_ref()
                .map(|r| super::record::Exchange::new(r, method, path_and_query, form, &self.cookies()));
            let err = match self.send_once(method, &url, form, token, &mut exchange) {
                Ok(reply) => {
                    let took = started.elapsed();
                    log::reply(method, path_and_query, body_bytes, reply.status, &reply.content_type, took, made);
                    return Ok(reply);
                }
                Err((err, true)) if made < attempts && !token.is_cancelled() => {
                    if let Some(mut x) = exchange.take() {
                        x.end(Err(&err));
                    }
                    let delay = backoff_delay(made);
                    log::retry(method, path_and_query, (made, attempts), &err, redact, delay);
                    sleep_unless_cancelled(delay, token);
                    if !token.is_cancelled() {
                        continue;
                    }
                    Error::cancelled()
                }
                Err((err, _)) => err,
            };
            if let Some(x) = exchange.as_mut() {
                x.end(Err(&err));
            }
            log::request_failed(method, path_and_query, made, &err, redact);
            return Err(err);
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        form: Option<&super::multipart::Multipart>,
        token: &CancelToken,
        exchange: &mut Option<super::record::Exchange>,
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
            let scope = CancelScope::enter(token);
            self.agent.run(request).map_err(|e| send_error(e, token, scope.wrote()))
        }?;
        self.remember_cookies(response.headers());
        if let Some(x) = exchange.as_mut() {
            x.head(response.status().as_u16(), response.headers());
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let status = response.status().as_u16();
        let content_type = header("content-type");
        // Identity was asked for; a compressed body cannot be read as text or events.
        let encoding = header("content-encoding");
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            return Err((
                Error::protocol(format!(
                    "the server sent a compressed body (Content-Encoding {encoding:?}) although identity was asked for; it cannot be read"
                )),
                false,
            ));
        }
        let body = Body::new(response.into_body().into_reader(), token.clone(), exchange.take());
        Ok(Reply { status, content_type, body })
    }

    /// `e` with every cookie value this client knows replaced (errors may quote server text,
    /// and a server may echo the request's cookies).
    pub fn redact(&self, e: Error) -> Error {
        self.with_secrets(|secrets| e.redact(secrets))
    }

    /// Runs `f` with every cookie value this client knows now (the server may have set one).
    pub fn with_secrets<T>(&self, f: impl FnOnce(&[&str]) -> T) -> T {
        let c = self.cookies();
        let secrets: Vec<&str> = [c.easy_session.as_deref(), c.vjuid_login.as_deref()].into_iter().flatten().collect();
        f(&secrets)
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
                    // A value the options would refuse is not kept (getter and options agree).
                    "easy_session" if Cookies::valid_easy_session(val) => cookies.easy_session = Some(val.to_string()),
                    "cookie_vjuid_login" if Cookies::valid_vjuid_login(val) => {
                        cookies.vjuid_login = Some(val.to_string())
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The settings every agent of the library shares (the chat's and the login's).
pub(crate) fn agent_config(
    user_agent: &str,
    connect_timeout: Duration,
    idle_timeout: Duration,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        // Statuses are mapped by the caller, with the body kept for the message.
        .http_status_as_error(false)
        // Servers are reached directly; environment proxies are ignored on purpose (they
        // would also capture the loopback emulator).
        .proxy(None)
        // Redirects are the caller's to follow or to explain.
        .max_redirects(0)
        // Compression can hold SSE events back, and no server here needs it.
        .accept_encoding("identity")
        .user_agent(user_agent)
        // The name lookup gets its own connect_timeout (abandoned then: see lookup.rs).
        .timeout_resolve(Some(connect_timeout))
        .timeout_connect(Some(connect_timeout))
        // Re-armed on every read: the longest allowed silence, including before headers.
        .timeout_per_read(Some(idle_timeout))
}

/// 2^attempt × 100 ms (capped at 5 s) plus up to 50% jitter.
pub(crate) fn backoff_delay(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    let jitter = crate::util::random_u64() % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

/// Sleeps for `delay`, waking early on cancel.
pub(crate) fn sleep_unless_cancelled(delay: Duration, token: &CancelToken) {
    let deadline = std::time::Instant::now() + delay;
    while std::time::Instant::now() < deadline && !token.is_cancelled() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Maps a failure before the reply's headers; the bool says whether a retry is safe.
/// Nothing of the request written yet (`wrote` false) means the connection never worked:
/// a connect error or a timeout, whatever the I/O error says.
pub(crate) fn send_error(e: ureq::Error, token: &CancelToken, wrote: bool) -> (Error, bool) {
    use std::io::ErrorKind as Io;
    if token.is_cancelled() {
        return (Error::cancelled(), false);
    }
    let connect = |what: String| (Error::new(ErrorKind::Connect, what), true);
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            (Error::new(ErrorKind::Timeout, "timed out while connecting to the server"), true)
        }
        ureq::Error::Timeout(ureq::Timeout::Resolve) => (
            Error::new(ErrorKind::Timeout, "the name lookup of the server's host took longer than connect_timeout_ms"),
            true,
        ),
        ureq::Error::Timeout(t) => (timeout_error(t), false),
        ureq::Error::HostNotFound => connect("the server's host name could not be resolved (not found in DNS)".into()),
        ureq::Error::ConnectionFailed => connect("could not connect to the server".into()),
        ureq::Error::LargeResponseHeader(got, limit) => (
            Error::protocol(format!("the server's reply headers are too large ({got} bytes; the limit is {limit})")),
            false,
        ),
        // A library error carried through ureq (a failed TLS handshake, see transport.rs).
        ureq::Error::Io(io) if io.get_ref().is_some_and(|i| i.is::<Error>()) => (Error::from_io(io), false),
        ureq::Error::Io(io) => match io.kind() {
            Io::Unsupported => (Error::invalid_argument(io.to_string()), false),
            _ if !wrote => connect(format!("could not connect to the server: {io}")),
            // A kept-alive connection the server had closed: nothing of the reply was read.
            Io::ConnectionReset | Io::BrokenPipe | Io::UnexpectedEof | Io::ConnectionAborted => (
                Error::new(ErrorKind::ConnectionLost, format!("the connection closed before the reply started: {io}")),
                true,
            ),
            _ => (Error::new(ErrorKind::ConnectionLost, format!("network error: {io}")), false),
        },
        ureq::Error::BadUri(u) => (Error::invalid_argument(format!("bad URL: {u}")), false),
        ureq::Error::Protocol(p) => (Error::protocol(format!("malformed HTTP reply: {p}")), false),
        other if !wrote => connect(format!("could not connect to the server: {other}")),
        other => (Error::protocol(format!("the request failed: {other}")), false),
    }
}

pub(crate) fn timeout_error(t: ureq::Timeout) -> Error {
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
