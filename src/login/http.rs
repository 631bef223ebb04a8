//! HTTP for the login: one agent for the SSO, SIS and chat hosts (TLS where the URL says
//! https), a small cookie jar carried across every hop, and no automatic redirects (the flow
//! follows them itself, to read `Location` and `Set-Cookie` on the way).

use std::time::{Duration, Instant};

use ureq::tls::{RootCerts, TlsConfig};

use super::jar::Jar;
use crate::error::{Error, ErrorKind, Result};
use crate::log;
use crate::upstream::http::{agent_config, backoff_delay, send_error, sleep_unless_cancelled, timeout_error};
use crate::upstream::transport::{connectors, CancelScope, LookupResolver};
use crate::upstream::CancelToken;
use crate::util::url_encode;

/// The largest reply read in a login step (the puzzle JSON carries two images in base64).
const MAX_LOGIN_REPLY_BYTES: u64 = 4 << 20;
/// At most this many redirects are followed in one step.
const MAX_REDIRECTS: usize = 10;

pub(crate) struct HttpConfig {
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    pub user_agent: String,
    /// Trusted roots instead of the bundled Mozilla set (the `ca_file` option).
    pub roots: Option<Vec<ureq::tls::Certificate<'static>>>,
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

pub(crate) struct Http {
    agent: ureq::Agent,
    max_retries: u32,
    jar: Jar,
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
        let agent = ureq::Agent::with_parts(agent_config, connectors(), LookupResolver);
        Http { agent, max_retries: config.max_retries, jar: Jar::default() }
    }

    /// The value of cookie `name` that a request to `url` would send.
    pub fn cookie(&self, url: &str, name: &str) -> Option<&str> {
        self.jar.get(host_of(url), name)
    }

    /// Every cookie value held (for redaction).
    pub fn cookie_values(&self) -> impl Iterator<Item = &str> {
        self.jar.values()
    }

    /// One request, retried (with backoff) only when the server cannot have seen it. `deadline`
    /// bounds the whole request (the QR long poll); otherwise the idle timeout applies per read.
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        send: Send<'_>,
        deadline: Option<Instant>,
        token: &CancelToken,
    ) -> Result<Page> {
        let attempts = self.max_retries.saturating_add(1);
        let (path, started) = (path_of(url), Instant::now());
        let mut made = 0;
        loop {
            made += 1;
            log::attempt(method, path, 0, made, attempts);
            let err = match self.once(method, url, &send, deadline, token) {
                Ok(page) => {
                    log::reply(method, path, 0, page.status, &page.content_type, started.elapsed(), made);
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
            page = self.request("GET", &next, Send::Nothing, None, token)?;
        }
        Err(Error::protocol(format!("more than {MAX_REDIRECTS} redirects")))
    }

    fn once(
        &mut self,
        method: &str,
        url: &str,
        send: &Send<'_>,
        deadline: Option<Instant>,
        token: &CancelToken,
    ) -> std::result::Result<Page, (Error, bool)> {
        let host = host_of(url).to_string();
        let mut builder =
            ureq::http::Request::builder().method(method).uri(url).header("Accept", "application/json, text/html, */*");
        if let Some(cookies) = self.jar.header_for(&host) {
            builder = builder.header("Cookie", cookies);
        }
        let body: Vec<u8> = match send {
            Send::Nothing => Vec::new(),
            Send::Json(v) => {
                builder = builder.header("Content-Type", "application/json;charset=UTF-8");
                v.to_string().into_bytes()
            }
            Send::Form(pairs) => {
                builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
                form_encode(pairs).into_bytes()
            }
        };
        let request = builder.body(body).map_err(|e| (Error::invalid_argument(format!("bad URL: {e}")), false))?;
        let request = match deadline {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
                self.agent.configure_request(request).timeout_global(Some(left)).build()
            }
            None => request,
        };
        let scope = CancelScope::enter(token);
        let response = self.agent.run(request).map_err(|e| send_error(e, token, scope.wrote()))?;
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
            ureq::Error::Timeout(t) => (timeout_error(t), false),
            other => send_error(other, token, true),
        })?;
        Ok(Page { status, location, content_type, body, url: url.to_string() })
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
}
