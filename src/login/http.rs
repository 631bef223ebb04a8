//! HTTP for the login: one agent for the SSO, SIS and chat hosts (TLS where the URL says
//! https), a small cookie jar carried across every hop, and no automatic redirects (the flow
//! follows them itself, to read `Location` and `Set-Cookie` on the way, and to keep every hop
//! on the configured hosts).

use std::time::{Duration, Instant};

use ureq::tls::{RootCerts, TlsConfig};

use super::hosts::Hosts;
use super::jar::Jar;
use super::lookups::{Watched, WatchedConnect};
use crate::error::{Error, ErrorKind, Result};
use crate::log;
use crate::upstream::http::{agent_config, backoff_delay, send_error, sleep_unless_cancelled};
use crate::upstream::transport::{connectors, CancelScope};
use crate::upstream::CancelToken;
use crate::util::url_encode;

/// The largest reply read in a login step (the puzzle JSON carries two images in base64).
const MAX_LOGIN_REPLY_BYTES: u64 = 4 << 20;
/// At most this many redirects are followed in one step.
const MAX_REDIRECTS: usize = 10;
/// What a request head holds besides its URL and `Cookie` header (request line, the other
/// headers), generously: with them it must fit the HTTP layer's output buffer.
const HEAD_SLACK: usize = 2048;
/// The longest URL the HTTP layer (the `http` crate's `Uri`) accepts.
const MAX_URI: usize = u16::MAX as usize - 1;

pub(crate) struct HttpConfig {
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    pub user_agent: String,
    /// Trusted roots instead of the bundled Mozilla set (the `ca_file` option).
    pub roots: Option<Vec<ureq::tls::Certificate<'static>>>,
    pub hosts: Hosts,
}

/// A reply: status, `Location`, body (bounded), and the URL it came from.
pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: String,
    pub body: Vec<u8>,
    pub url: String,
}

impl Page {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
}

/// What a request sends besides method and URL.
pub(crate) enum Send<'a> {
    Nothing,
    Json(&'a serde_json::Value),
    Form(&'a [(&'a str, &'a str)]),
}

impl Send<'_> {
    /// Content type and body.
    fn encode(&self) -> (Option<&'static str>, Vec<u8>) {
        match self {
            Send::Nothing => (None, Vec::new()),
            Send::Json(v) => (Some("application/json;charset=UTF-8"), v.to_string().into_bytes()),
            Send::Form(pairs) => (Some("application/x-www-form-urlencoded"), form_encode(pairs).into_bytes()),
        }
    }
}

pub(crate) struct Http {
    agent: ureq::Agent,
    max_retries: u32,
    jar: Jar,
    pub hosts: Hosts,
    connect_timeout: Duration,
    idle_timeout: Duration,
    user_agent_len: usize,
}

impl Http {
    pub fn new(config: HttpConfig) -> Http {
        let roots = match config.roots {
            Some(certs) => RootCerts::from(certs),
            None => RootCerts::WebPki,
        };
        let agent_config = agent_config(&config.user_agent, config.connect_timeout, config.idle_timeout)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .max_idle_connections_per_host(2)
            .build();
        let agent = ureq::Agent::with_parts(agent_config, WatchedConnect(connectors()), Watched::default());
        Http {
            agent,
            max_retries: config.max_retries,
            jar: Jar::default(),
            hosts: config.hosts,
            connect_timeout: config.connect_timeout,
            idle_timeout: config.idle_timeout,
            user_agent_len: config.user_agent.len(),
        }
    }

    /// The value of cookie `name` that the host of `url` itself set.
    pub fn cookie_set_by(&self, url: &str, name: &str) -> Option<&str> {
        self.jar.set_by(host_of(url), name)
    }

    /// Every cookie value held (for redaction).
    pub fn cookie_values(&self) -> impl Iterator<Item = &str> {
        self.jar.values()
    }

    /// One request, retried (with backoff) only when the server cannot have seen it. `hold`
    /// makes it a held poll: the server may stay silent until that instant, whatever the idle
    /// timeout (which otherwise bounds every read).
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        send: Send<'_>,
        hold: Option<Instant>,
        token: &CancelToken,
    ) -> Result<Page> {
        let attempts = self.max_retries.saturating_add(1);
        let (path, started) = (path_of(url), Instant::now());
        let (content_type, body) = send.encode();
        let mut made = 0;
        loop {
            made += 1;
            log::attempt(method, path, body.len(), made, attempts);
            let err = match self.once(method, url, content_type, &body, hold, token) {
                Ok(page) => {
                    log::reply(method, path, body.len(), page.status, &page.content_type, started.elapsed(), made);
                    return Ok(page);
                }
                Err((err, true)) if made < attempts && !token.is_cancelled() => {
                    let delay = backoff_delay(made);
                    log::retry(method, path, (made, attempts), &err, |e| e, delay);
                    sleep_unless_cancelled(delay, token);
                    if !token.is_cancelled() {
                        continue;
                    }
                    Error::cancelled()
                }
                Err((err, _)) => err,
            };
            log::request_failed(method, path, made, &err, |e| e);
            return Err(err);
        }
    }

    /// `request`, then GET every redirect's `Location` until a reply that is not a redirect.
    pub fn follow(&mut self, method: &str, url: &str, send: Send<'_>, token: &CancelToken) -> Result<Page> {
        let mut page = self.request(method, url, send, None, token)?;
        for _ in 0..MAX_REDIRECTS {
            if !(300..400).contains(&page.status) {
                return Ok(page);
            }
            let Some(next) = page.location.as_deref() else { return Ok(page) };
            // A fragment is the browser's, never sent (the SSO's sign-in page uses hash routes).
            let next = resolve(&page.url, next.split('#').next().unwrap_or(next));
            let next = self.hosts.map("a redirect (Location)", &next)?;
            page = self.request("GET", &next, Send::Nothing, None, token)?;
        }
        Err(Error::protocol(format!("more than {MAX_REDIRECTS} redirects")))
    }

    fn once(
        &mut self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
        hold: Option<Instant>,
        token: &CancelToken,
    ) -> std::result::Result<Page, (Error, bool)> {
        let host = host_of(url).to_string();
        let mut builder =
            ureq::http::Request::builder().method(method).uri(url).header("Accept", "application/json, text/html, */*");
        let cookies = self.jar.header_for(&host);
        self.check_head(url, cookies.as_deref().map_or(0, str::len)).map_err(|e| (e, false))?;
        if let Some(cookies) = cookies {
            builder = builder.header("Cookie", cookies);
        }
        if let Some(content_type) = content_type {
            builder = builder.header("Content-Type", content_type);
        }
        let request =
            builder.body(body.to_vec()).map_err(|e| (Error::invalid_argument(format!("bad URL: {e}")), false))?;
        let request = match hold {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
                self.agent.configure_request(request).timeout_global(Some(left)).timeout_per_read(None).build()
            }
            None => request,
        };
        let scope = CancelScope::enter(token);
        let response = self.agent.run(request).map_err(|e| self.failure(e, &host, token, scope.wrote()))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let location = header("location");
        let content_type = header("content-type").unwrap_or_default();
        for value in response.headers().get_all("set-cookie") {
            if let Ok(value) = value.to_str() {
                self.jar.set(&host, value);
            }
        }
        let body = response.into_body().into_with_config().limit(MAX_LOGIN_REPLY_BYTES).read_to_vec();
        let body = body.map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => {
                (Error::too_large(format!("the reply is larger than {MAX_LOGIN_REPLY_BYTES} bytes")), false)
            }
            other => self.failure(other, &host, token, true),
        })?;
        Ok(Page { status, location, content_type, body, url: url.to_string() })
    }

    /// Refuses a request whose head the HTTP layer could not write (it would fail with
    /// "output too small"): a huge URL from a reply, or too many cookies.
    fn check_head(&self, url: &str, cookie_bytes: usize) -> Result<()> {
        if url.len() > MAX_URI {
            return Err(Error::too_large(format!(
                "the request cannot be sent: a URL of {} bytes, more than the {MAX_URI} bytes the HTTP layer \
                 takes",
                url.len()
            )));
        }
        let head = url.len() + cookie_bytes + self.user_agent_len + HEAD_SLACK;
        let room = self.agent.config().output_buffer_size();
        if head <= room {
            return Ok(());
        }
        Err(Error::too_large(format!(
            "the request cannot be sent: its head would take about {head} bytes (a URL of {} bytes, cookies \
             of {cookie_bytes} bytes), more than the {room} bytes the HTTP layer can write",
            url.len()
        )))
    }

    /// `send_error`, with the login's words: an unknown host is named (with the option that
    /// chose it), and a timeout names the limit that fired and its value.
    fn failure(&self, e: ureq::Error, host: &str, token: &CancelToken, wrote: bool) -> (Error, bool) {
        let (timeout, unknown) = match &e {
            ureq::Error::Timeout(t) => (Some(*t), false),
            e => (None, matches!(e, ureq::Error::HostNotFound)),
        };
        let (mut err, retry) = send_error(e, token, wrote);
        let ms = |d: Duration| d.as_millis();
        match (err.kind, timeout) {
            (ErrorKind::Timeout, Some(ureq::Timeout::Resolve)) => {
                err.message = format!(
                    "the name lookup of {host} took longer than connect_timeout_ms ({} ms)",
                    ms(self.connect_timeout)
                );
            }
            (ErrorKind::Timeout, Some(ureq::Timeout::Connect)) => {
                err.message = format!("no connection within connect_timeout_ms ({} ms)", ms(self.connect_timeout));
            }
            (ErrorKind::Timeout, Some(ureq::Timeout::Global)) => {
                err.message = "the held poll reached the end of its time".into();
            }
            (ErrorKind::Timeout, Some(_)) => {
                err.message =
                    format!("the server was silent for longer than idle_timeout_ms ({} ms)", ms(self.idle_timeout));
            }
            (ErrorKind::Connect, _) if unknown => err.message = self.hosts.unresolved(host),
            _ => {}
        }
        (err, retry)
    }
}

/// `scheme://host[:port]` of a URL (the base for relative redirects).
pub(crate) fn origin_of(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    &url[..end]
}

fn host_of(url: &str) -> &str {
    let origin = origin_of(url);
    origin.find("://").map_or(origin, |i| &origin[i + 3..])
}

/// The path of a URL without its query (queries carry tokens: never logged).
fn path_of(url: &str) -> &str {
    let rest = &url[origin_of(url).len()..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    if end == 0 {
        "/"
    } else {
        &rest[..end]
    }
}

/// A redirect target made absolute against the URL it came from.
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", origin_of(base))
    } else {
        let dir = base.split(['?', '#']).next().unwrap_or(base);
        let dir = &dir[..dir.rfind('/').map_or(dir.len(), |i| i + 1)];
        format!("{dir}{location}")
    }
}

/// application/x-www-form-urlencoded (also used for query strings).
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect::<Vec<_>>().join("&")
}

/// Protocol errors of a login step name the step, so a changed server is easy to pin down.
pub(crate) fn step_error(step: &str, what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Protocol, format!("SSO login, {step}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_resolve() {
        assert_eq!(origin_of("https://sso.ustb.edu.cn/idp/x?y=1"), "https://sso.ustb.edu.cn");
        assert_eq!(host_of("http://127.0.0.1:8080/a"), "127.0.0.1:8080");
        assert_eq!(path_of("http://h/a/b?secret=1"), "/a/b");
        assert_eq!(path_of("http://h?x"), "/");
        assert_eq!(resolve("http://h/a/b?q", "/c?d"), "http://h/c?d");
        assert_eq!(resolve("http://h/a/b?q", "c"), "http://h/a/c");
        assert_eq!(resolve("http://h/a", "https://o/p"), "https://o/p");
        assert_eq!(form_encode(&[("a b", "x&y=é")]), "a%20b=x%26y%3D%C3%A9");
    }

    #[test]
    fn a_request_too_large_to_write_is_refused_before_connecting_saying_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut http = Http::new(HttpConfig {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_retries: 0,
            user_agent: "t".into(),
            roots: None,
            hosts: Hosts::new(&base, &base, &base),
        });
        let url = format!("{base}/{}", "a".repeat(200_000));
        let e = http.request("GET", &url, Send::Nothing, None, &CancelToken::default()).err().unwrap();
        assert_eq!(e.kind, ErrorKind::TooLarge, "{}", e.message);
        assert!(e.message.contains("a URL of 200") && e.message.contains("bytes the HTTP layer"), "{}", e.message);
        let url = format!("{base}/{}", "a".repeat(100_000));
        let e = http.request("GET", &url, Send::Nothing, None, &CancelToken::default()).err().unwrap();
        assert_eq!(e.kind, ErrorKind::TooLarge, "{}", e.message);
        assert!(listener.accept().is_err(), "nothing was sent");
        let room = http.agent.config().output_buffer_size();
        assert!(http.check_head("http://h/", room).is_err(), "cookies alone can overflow it too");
        assert!(http.check_head("http://h/", 48 << 10).is_ok(), "what the jar can hold fits");
    }
}
