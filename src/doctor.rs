//! The doctor: checks a client's way to the server step by step (name lookup, TCP, HTTP,
//! `web_info`, the login, a one-token chat) and reports each with a verdict and the next step,
//! as one JSON object. Every step reuses the call the library makes anyway (`Client::endpoint`,
//! `Client::chat_stream`, the transport's connect); the doctor adds only the order and the
//! advice. A failing step skips the later ones. Cookie values never appear in the report, and
//! the user's name is cut to its first character unless `reveal_name` is asked for.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Client;
use crate::endpoints::Endpoint;
use crate::error::{Error, Result};
use crate::limits::MAX_ERROR_BODY_BYTES;
use crate::upstream::lookup::lookup;
use crate::upstream::transport::{self, CancelScope};
use crate::upstream::CancelToken;

/// How often the chat's wait looks at the cancel token.
const POLL: Duration = Duration::from_millis(10);

/// The doctor's options: `{"reveal_name": bool}` (an empty string or `{}`: the defaults).
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Print the user's full name instead of its first character and `*`s.
    pub reveal_name: bool,
}

impl DoctorOptions {
    pub fn from_json(json: &str) -> Result<DoctorOptions> {
        if json.trim().is_empty() {
            return Ok(DoctorOptions::default());
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid_argument(format!("doctor options are not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::invalid_argument("doctor options must be a JSON object"));
        };
        let mut o = DoctorOptions::default();
        for (key, v) in &map {
            match (key.as_str(), v) {
                ("reveal_name", Value::Bool(b)) => o.reveal_name = *b,
                ("reveal_name", Value::Null) => {}
                ("reveal_name", _) => {
                    return Err(Error::invalid_argument("doctor option \"reveal_name\" must be a boolean"))
                }
                _ => return Err(Error::invalid_argument("unknown doctor option; known options: reveal_name")),
            }
        }
        Ok(o)
    }
}

/// One step's outcome: verdict (`ok`, `warn`, `fail`), what was seen, what to do next.
struct Outcome {
    verdict: &'static str,
    detail: String,
    next_step: String,
}

fn ok(detail: String) -> Outcome {
    Outcome { verdict: "ok", detail, next_step: String::new() }
}

fn fail(detail: String, next_step: &str) -> Outcome {
    Outcome { verdict: "fail", detail, next_step: next_step.into() }
}

/// What the steps pass on to the later ones.
#[derive(Default)]
struct Found {
    addrs: Vec<SocketAddr>,
    logged_in: bool,
}

const STEPS: [&str; 6] = ["dns", "tcp", "http", "web_info", "login", "chat"];

const CHECK_URL: &str =
    "check base_url; the real server (http://chat.ustb.edu.cn) answers only on the campus network or its VPN";

impl Client {
    /// Runs the checks in order and returns the report:
    /// `{"checks":[{"name","verdict","detail","next_step","ms"}…],"ok":bool}`. Check failures
    /// are in the report, not errors; the errors are `Cancelled` (from `cancel`) only.
    pub fn doctor(&self, options: &DoctorOptions, cancel: &CancelToken) -> Result<String> {
        let mut found = Found::default();
        let mut checks = Vec::new();
        let mut blocked: Option<String> = None;
        for name in STEPS {
            let started = Instant::now();
            let mut outcome = match &blocked {
                Some(why) => Outcome { verdict: "skipped", detail: why.clone(), next_step: String::new() },
                None => self.step(name, options, &mut found, cancel),
            };
            // A server may echo the Cookie header anywhere (a site name, the user's name).
            outcome.detail = self.without_cookies(&outcome.detail);
            if cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            if outcome.verdict == "fail" && blocked.is_none() {
                blocked = Some(format!("skipped: the {name} check failed"));
            }
            let ms = if outcome.verdict == "skipped" { 0 } else { started.elapsed().as_millis() as u64 };
            checks.push(json!({
                "name": name, "verdict": outcome.verdict, "detail": outcome.detail,
                "next_step": outcome.next_step, "ms": ms,
            }));
        }
        let all_ok = checks.iter().all(|c| c["verdict"] == "ok");
        Ok(json!({ "checks": checks, "ok": all_ok }).to_string())
    }

    /// `text` with every form of the cookie values held now (the server may have set one).
    fn without_cookies(&self, text: &str) -> String {
        self.wire.with_secrets(|secrets| crate::redact::redact_text(text, secrets))
    }

    fn step(&self, name: &str, options: &DoctorOptions, found: &mut Found, cancel: &CancelToken) -> Outcome {
        match name {
            "dns" => self.check_dns(found, cancel),
            "tcp" => self.check_tcp(found, cancel),
            "http" => self.check_http(cancel),
            "web_info" => self.check_web_info(cancel),
            "login" => self.check_login(options, found, cancel),
            _ if !found.logged_in => {
                Outcome { verdict: "skipped", detail: "skipped: not logged in".into(), next_step: String::new() }
            }
            _ => self.check_chat(cancel),
        }
    }

    fn check_dns(&self, found: &mut Found, cancel: &CancelToken) -> Outcome {
        let Some((host, port)) = host_port(&self.wire.config().base_url) else {
            return fail("base_url has no host name".into(), "set base_url to http://host[:port]");
        };
        let timeout = Some(self.wire.config().connect_timeout);
        match lookup(&host, port, timeout, &|| cancel.is_cancelled()).map_err(|e| e.to_string()) {
            Ok(addrs) if !addrs.is_empty() => {
                let first = addrs[0].ip();
                found.addrs = addrs;
                ok(format!("{host} resolves to {first} ({})", address_kind(first)))
            }
            Ok(_) => fail(format!("{host} resolves to no address"), CHECK_URL),
            Err(e) => fail(format!("{host} does not resolve: {e}"), CHECK_URL),
        }
    }

    fn check_tcp(&self, found: &Found, cancel: &CancelToken) -> Outcome {
        let timeout = self.wire.config().connect_timeout;
        let _scope = CancelScope::enter(cancel);
        let mut last = None;
        for addr in &found.addrs {
            match transport::connect(addr, Some(timeout)) {
                Ok(_) => return ok(format!("connected to {addr} (connect_timeout_ms is {})", timeout.as_millis())),
                Err(e) => last = Some(format!("{addr}: {e}")),
            }
        }
        let kinds = found.addrs.first().map_or("", |a| address_kind(a.ip()));
        let next = if kinds == "public" {
            "the server is not reachable from here: connect to the campus network or its VPN, or check base_url"
        } else {
            "the server does not accept connections: check base_url's port, that the server runs, and any firewall"
        };
        fail(format!("cannot connect ({})", last.unwrap_or_default()), next)
    }

    fn check_http(&self, cancel: &CancelToken) -> Outcome {
        let result = self.wire.send("GET", "/", None, cancel).map(|reply| {
            let status = reply.status;
            // Only the status matters; the body is read to keep the connection reusable.
            let _ = reply.body.read_all(MAX_ERROR_BODY_BYTES);
            status
        });
        cancel.release();
        match result {
            Ok(status) => ok(format!("the site answers HTTP (GET / gave {status})")),
            Err(e) => fail(
                format!("no HTTP answer: {}", self.wire.redact(e).message),
                "something listens but does not speak HTTP: check base_url (plain http, the right port)",
            ),
        }
    }

    fn check_web_info(&self, cancel: &CancelToken) -> Outcome {
        match self.endpoint(&Endpoint::WebInfo, cancel) {
            Ok(text) => {
                let info: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match info["name"].as_str() {
                    Some(site) => ok(format!("web_info parses (site \"{site}\")")),
                    None => ok("web_info parses".into()),
                }
            }
            Err(e) => fail(
                format!("web_info fails: {}", e.message),
                "the server is not the chat platform, or its API changed: check base_url; if it is right, report this report",
            ),
        }
    }

    fn check_login(&self, options: &DoctorOptions, found: &mut Found, cancel: &CancelToken) -> Outcome {
        const SIGN_IN: &str =
            "sign in at http://chat.ustb.edu.cn in a browser and copy the cookie cookie_vjuid_login into the vjuid_login option (or --cookie)";
        let state = match self.endpoint(&Endpoint::LoginState, cancel) {
            Ok(text) => serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            Err(e) => return fail(format!("the login check fails: {}", e.message), CHECK_URL),
        };
        match state["state"].as_str() {
            Some("logged_in") => {
                found.logged_in = true;
                match self.user_name(options, cancel) {
                    Some(name) => ok(format!("logged in as {name}")),
                    None => ok("logged in".into()),
                }
            }
            Some("logged_out") if self.wire.cookies().vjuid_login.is_some() => {
                fail("logged out: the login cookie was refused (expired or wrong)".into(), SIGN_IN)
            }
            Some("logged_out") => fail("not logged in: no login cookie is set".into(), SIGN_IN),
            _ => fail(
                format!("the server is unreachable for the login check: {}", state["detail"].as_str().unwrap_or("")),
                CHECK_URL,
            ),
        }
    }

    /// The user's name from `user_info`, cut unless asked; None if it cannot be had.
    fn user_name(&self, options: &DoctorOptions, cancel: &CancelToken) -> Option<String> {
        let info: Value = serde_json::from_str(&self.endpoint(&Endpoint::UserInfo, cancel).ok()?).ok()?;
        let name = info["user_name"].as_str().filter(|n| !n.is_empty())?;
        Some(if options.reveal_name { name.to_string() } else { redact_name(name) })
    }

    fn check_chat(&self, cancel: &CancelToken) -> Outcome {
        const PROMPT: &str = r#"{"messages":[{"role":"user","content":"1"}],"deep_thinking":false}"#;
        let started = Instant::now();
        let mut stream = match self.chat_stream(PROMPT) {
            Ok(s) => s,
            Err(e) => return fail(format!("the chat request is refused: {}", e.message), "report this report"),
        };
        let token = stream.cancel_token();
        // The stream has its own token: a watcher passes the doctor's cancel on to it.
        let first = std::thread::scope(|s| {
            let (done, stop) = mpsc::channel::<()>();
            s.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(POLL) {
                    if cancel.is_cancelled() {
                        token.cancel();
                        return;
                    }
                }
            });
            let first = stream.next_chunk();
            drop(done);
            first
        });
        let took = started.elapsed().as_millis();
        stream.cancel_token().cancel();
        match first {
            Ok(Some(_)) => ok(format!("a one-token chat works: first chunk after {took} ms")),
            Ok(None) => fail("the chat answered with no chunk".into(), "report this report"),
            Err(e) => fail(
                format!("the chat fails ({}): {}", e.kind.name(), e.message),
                "retry later; if it keeps failing, report this report",
            ),
        }
    }
}

/// `host` and port of `http://host[:port][/…]` (IPv6 in brackets).
fn host_port(base_url: &str) -> Option<(String, u16)> {
    let rest = base_url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// `loopback`, `private` (10/8, 172.16/12, 192.168/16, fc00::/7) or `public`.
fn address_kind(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(a) if a.is_loopback() => "loopback",
        IpAddr::V4(a) if a.is_private() => "private",
        IpAddr::V6(a) if a.is_loopback() => "loopback",
        IpAddr::V6(a) if (a.segments()[0] & 0xfe00) == 0xfc00 => "private",
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => address_kind(IpAddr::V4(v4)),
            None => "public",
        },
        _ => "public",
    }
}

/// The first character, then one `*` per other character: "张同学" → "张**".
fn redact_name(name: &str) -> String {
    let mut chars = name.chars();
    let first = chars.next().map(String::from).unwrap_or_default();
    first + &"*".repeat(chars.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_kinds() {
        let kind = |s: &str| address_kind(s.parse().unwrap());
        assert_eq!(kind("127.0.0.1"), "loopback");
        assert_eq!(kind("::1"), "loopback");
        for private in
            ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fdab::2", "::ffff:10.0.0.1"]
        {
            assert_eq!(kind(private), "private", "{private}");
        }
        for public in ["202.204.48.66", "172.32.0.1", "8.8.8.8", "2001:da8::1"] {
            assert_eq!(kind(public), "public", "{public}");
        }
    }

    #[test]
    fn host_and_port_of_base_urls() {
        assert_eq!(host_port("http://chat.ustb.edu.cn"), Some(("chat.ustb.edu.cn".into(), 80)));
        assert_eq!(host_port("http://127.0.0.1:8080"), Some(("127.0.0.1".into(), 8080)));
        assert_eq!(host_port("http://[::1]:81/x"), Some(("::1".into(), 81)));
        assert_eq!(host_port("http://h:notaport"), None);
        assert_eq!(host_port("http://"), None);
    }

    #[test]
    fn names_are_cut_and_options_checked() {
        assert_eq!(redact_name("张同学"), "张**");
        assert_eq!(redact_name("A"), "A");
        assert!(DoctorOptions::from_json(r#"{"reveal_name": true}"#).unwrap().reveal_name);
        assert!(!DoctorOptions::from_json("").unwrap().reveal_name);
        for bad in ["[]", "nope", r#"{"reveal":true}"#, r#"{"reveal_name":1}"#] {
            assert!(DoctorOptions::from_json(bad).is_err(), "{bad}");
        }
    }
}
