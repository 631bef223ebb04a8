//! The client: options, identity cookies, the connection pool, and the calls built on them.
//!
//! A `Client` is `Send + Sync`: one client serves many threads at once, and its kept-alive
//! connections are shared. Creating one never touches the network.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::chat::request::{self, Defaults};
use crate::chat::stream::ChatStream;
use crate::error::{Error, Result};
use crate::upstream::envelope::excerpt;
use crate::upstream::{Cookies, Wire, WireConfig};

use crate::limits::*;

/// Client options: the same JSON object `ustb_client_new` takes (see `Options::from_json`);
/// `Options::default()` talks to the real server with no cookies.
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) base_url: String,
    pub(crate) cookies: Cookies,
    pub(crate) connect_timeout_ms: u64,
    pub(crate) idle_timeout_ms: u64,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) max_retries: u32,
    pub(crate) user_agent: String,
    pub(crate) max_reply_bytes: u64,
    pub(crate) defaults: Defaults,
    /// Capture mode: the open `record` file.
    pub(crate) record: Option<Arc<crate::upstream::record::Recorder>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: DEFAULT_BASE_URL.into(),
            cookies: Cookies::default(),
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            timeout_ms: None,
            max_retries: DEFAULT_MAX_RETRIES,
            user_agent: format!("ustb-openai/{}", env!("CARGO_PKG_VERSION")),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            defaults: Defaults { compose_id: "3".into(), model: "DeepSeek".into() },
            record: None,
        }
    }
}

/// Every option `from_json` knows (anything else is refused).
pub(crate) const KEYS: &[&str] = &[
    "base_url",
    "easy_session",
    "vjuid_login",
    "cookie",
    "connect_timeout_ms",
    "idle_timeout_ms",
    "timeout_ms",
    "max_retries",
    "user_agent",
    "compose_id",
    "model",
    "max_reply_bytes",
    "record",
];

impl Options {
    /// Parses `{"base_url": …, …}`; an empty string or `{}` gives the defaults. Unknown keys
    /// are an error, so a typo is never silently ignored.
    pub fn from_json(json: &str) -> Result<Options> {
        Options::from_map(&parse_object(json)?)
    }

    /// The options of an already parsed object (the login takes its own keys out first).
    pub(crate) fn from_map(map: &Map<String, Value>) -> Result<Options> {
        let mut o = Options::default();
        if let Some(bad) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Error::invalid_argument(format!(
                "unknown option {}; known options: {}",
                excerpt(bad),
                KEYS.join(", ")
            )));
        }
        if let Some(url) = opt_str(map, "base_url")? {
            o.base_url = base_url(url)?;
        }
        if let Some(raw) = opt_str(map, "cookie")? {
            o.cookies = parse_cookie_header(raw)?;
        }
        if let Some(v) = opt_str(map, "easy_session")? {
            o.cookies.easy_session = Some(v.to_string());
        }
        if let Some(v) = opt_str(map, "vjuid_login")? {
            o.cookies.vjuid_login = Some(v.to_string());
        }
        check_cookies(&o.cookies)?;
        if let Some(v) = opt_u64(map, "connect_timeout_ms", 1)? {
            o.connect_timeout_ms = v;
        }
        if let Some(v) = opt_u64(map, "idle_timeout_ms", 1)? {
            o.idle_timeout_ms = v;
        }
        o.timeout_ms = opt_u64(map, "timeout_ms", 1)?;
        if let Some(v) = opt_u64(map, "max_retries", 0)? {
            o.max_retries = u32::try_from(v.min(MAX_RETRIES.into())).unwrap_or(MAX_RETRIES);
        }
        if let Some(v) = opt_u64(map, "max_reply_bytes", 1)? {
            o.max_reply_bytes = v;
        }
        if let Some(path) = opt_str(map, "record")? {
            o.record = Some(crate::upstream::record::Recorder::open(path)?);
        }
        if let Some(v) = opt_str(map, "user_agent")? {
            if v.is_empty() || v.len() > MAX_USER_AGENT || v.chars().any(|c| c.is_control()) {
                return Err(Error::invalid_argument(format!(
                    "user_agent must be non-empty printable text of at most {MAX_USER_AGENT} bytes"
                )));
            }
            o.user_agent = v.to_string();
        }
        if let Some(v) = map.get("compose_id").filter(|v| !v.is_null()) {
            o.defaults.compose_id = request::compose_id(v).map_err(|e| Error::invalid_argument(e.message))?;
        }
        if let Some(v) = opt_str(map, "model")? {
            if v.trim().is_empty() {
                return Err(Error::invalid_argument("model must be a non-empty string"));
            }
            o.defaults.model = request::upstream_model(v.trim()).to_string();
        }
        Ok(o)
    }
}

/// The options text as a JSON object: empty text is `{}`; size, syntax and type are checked
/// here, once for the client's options and the login's.
pub(crate) fn parse_object(json: &str) -> Result<Map<String, Value>> {
    if json.trim().is_empty() {
        return Ok(Map::new());
    }
    if json.len() > MAX_OPTIONS_JSON {
        return Err(Error::invalid_argument(format!(
            "options are {} bytes; at most {MAX_OPTIONS_JSON} are accepted",
            json.len()
        )));
    }
    let value: Value =
        serde_json::from_str(json).map_err(|e| Error::invalid_argument(format!("options are not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid_argument("options must be a JSON object")),
    }
}

fn opt_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid_argument(format!("option {key:?} must be a string"))),
    }
}

fn opt_u64(map: &Map<String, Value>, key: &str, min: u64) -> Result<Option<u64>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= min => Ok(Some(n)),
            _ => Err(Error::invalid_argument(format!("option {key:?} must be an integer >= {min}"))),
        },
    }
}

/// `http://host[:port]` without a trailing slash; plain http only (the upstream has no TLS).
fn base_url(url: &str) -> Result<String> {
    if url.len() > MAX_URL {
        return Err(Error::invalid_argument(format!("base_url is longer than {MAX_URL} bytes")));
    }
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").ok_or_else(|| {
        Error::invalid_argument(format!(
            "base_url must start with http:// (got {}); https is not supported",
            excerpt(url)
        ))
    })?;
    if rest.is_empty() || rest.contains(|c: char| c.is_whitespace() || c.is_control() || c == '?' || c == '#') {
        return Err(Error::invalid_argument(format!("base_url {} is not a valid http URL", excerpt(url))));
    }
    Ok(trimmed.to_string())
}

/// `easy_session=…; cookie_vjuid_login=…` as copied from a browser; other cookies are ignored.
fn parse_cookie_header(raw: &str) -> Result<Cookies> {
    if raw.len() > 2 * MAX_COOKIE_VALUE {
        return Err(Error::invalid_argument(format!(
            "option \"cookie\" is longer than {} bytes",
            2 * MAX_COOKIE_VALUE
        )));
    }
    let mut c = Cookies::default();
    for pair in raw.split(';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((name, value)) = pair.split_once('=') else {
            return Err(Error::invalid_argument("option \"cookie\" must look like \"name=value; name=value\""));
        };
        match name.trim() {
            "easy_session" => c.easy_session = Some(value.trim().to_string()),
            "cookie_vjuid_login" => c.vjuid_login = Some(value.trim().to_string()),
            _ => {}
        }
    }
    Ok(c)
}

/// The seed's rule for easy_session, and no characters that could break the header.
/// Messages never include the values: they are secrets.
fn check_cookies(c: &Cookies) -> Result<()> {
    if c.easy_session.as_deref().is_some_and(|s| !Cookies::valid_easy_session(s)) {
        return Err(Error::invalid_argument("easy_session must be 32 alphanumeric characters"));
    }
    if c.vjuid_login.as_deref().is_some_and(|v| !Cookies::valid_vjuid_login(v)) {
        return Err(Error::invalid_argument(format!(
            "vjuid_login must be a non-empty cookie value of at most {} characters (printable ASCII, no ';' or ',')",
            MAX_COOKIE_VALUE
        )));
    }
    Ok(())
}

/// A client of one server, shared by any number of threads.
#[derive(Clone)]
pub struct Client {
    pub(crate) wire: Arc<Wire>,
    pub(crate) defaults: Arc<Defaults>,
    max_reply_bytes: u64,
}

impl Client {
    pub fn new(options: Options) -> Client {
        let config = WireConfig {
            base_url: options.base_url,
            connect_timeout: Duration::from_millis(options.connect_timeout_ms),
            idle_timeout: Duration::from_millis(options.idle_timeout_ms),
            total_timeout: options.timeout_ms.map(Duration::from_millis),
            max_retries: options.max_retries,
            user_agent: options.user_agent,
            record: options.record,
        };
        Client {
            wire: Arc::new(Wire::new(config, options.cookies)),
            defaults: Arc::new(options.defaults),
            max_reply_bytes: options.max_reply_bytes,
        }
    }

    pub fn from_json(options: &str) -> Result<Client> {
        Ok(Client::new(Options::from_json(options)?))
    }

    /// Opens a streamed chat. The request is validated now; it is sent on the first read.
    pub fn chat_stream(&self, request_json: &str) -> Result<ChatStream> {
        let req = request::parse(request_json, &self.defaults)?;
        Ok(ChatStream::new(self.wire.clone(), &req, self.max_reply_bytes))
    }

    /// A whole `chat.completion` JSON.
    pub fn chat_create(&self, request_json: &str) -> Result<String> {
        self.chat_stream(request_json)?.collect()
    }

    /// `{"easy_session": …|null, "vjuid_login": …|null, "cookie": "…"|null}`: save it to reuse a
    /// server-issued easy_session next time.
    pub fn cookies_json(&self) -> String {
        let c = self.wire.cookies();
        serde_json::json!({
            "easy_session": c.easy_session,
            "vjuid_login": c.vjuid_login,
            "cookie": c.header(),
        })
        .to_string()
    }

    // The platform's other calls (user_info, sessions, models, …) are in `src/endpoints.rs`.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn defaults_and_overrides() {
        let o = Options::from_json("{}").unwrap();
        assert_eq!(o.base_url, DEFAULT_BASE_URL);
        assert_eq!(o.idle_timeout_ms, DEFAULT_IDLE_TIMEOUT_MS);
        let o = Options::from_json(
            r#"{"base_url":"http://127.0.0.1:9/","cookie":"easy_session=abcdefghijabcdefghijabcdefghij12; cookie_vjuid_login=tok; other=1",
                "timeout_ms":5000,"max_retries":0,"model":"deepseek-r1","compose_id":"3"}"#,
        )
        .unwrap();
        assert_eq!(o.base_url, "http://127.0.0.1:9");
        assert_eq!(o.cookies.vjuid_login.as_deref(), Some("tok"));
        assert_eq!(o.timeout_ms, Some(5000));
        assert_eq!(o.defaults.model, "DeepSeek");
        assert_eq!(
            o.cookies.header().unwrap(),
            "easy_session=abcdefghijabcdefghijabcdefghij12; cookie_vjuid_login=tok"
        );
    }

    #[test]
    fn bad_options() {
        for bad in [
            "nope",
            "[]",
            r#"{"base_urll":"http://x"}"#,
            r#"{"base_url":"https://x"}"#,
            r#"{"base_url":5}"#,
            r#"{"easy_session":"short"}"#,
            r#"{"vjuid_login":"a;b"}"#,
            r#"{"idle_timeout_ms":0}"#,
            r#"{"connect_timeout_ms":-1}"#,
            r#"{"compose_id":0}"#,
            r#"{"user_agent":"a\nb"}"#,
        ] {
            let err = Options::from_json(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn oversized_options_are_refused_up_front_without_echo() {
        let big = "x".repeat(10 << 20);
        for key in ["user_agent", "vjuid_login", "base_url", "cookie"] {
            let value = if key == "base_url" { format!("http://h/{big}") } else { big.clone() };
            let err = Options::from_json(&serde_json::json!({ key: value }).to_string()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{key}");
            assert!(err.message.len() < 1024, "{key}: {} bytes", err.message.len());
        }
        let err = Options::from_json(&format!("{{\"{big}\": 1}}")).unwrap_err();
        assert!(err.message.len() < 1024);
        // Under the JSON cap, each field still has its own bound, and a long key is cut.
        let err = Options::from_json(&serde_json::json!({ "user_agent": "u".repeat(600) }).to_string()).unwrap_err();
        assert!(err.message.contains("512"));
        let err = Options::from_json(&format!("{{\"{}\": 1}}", "k".repeat(5000))).unwrap_err();
        assert!(err.message.len() < 1024);
        let err = Options::from_json(r#"{"max_reply_bytes": 0}"#).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(Options::from_json(r#"{"max_reply_bytes": 5}"#).unwrap().max_reply_bytes, 5);
    }

    #[test]
    fn secrets_stay_out_of_messages() {
        let err = Options::from_json(r#"{"easy_session":"secret-value-123"}"#).unwrap_err();
        assert!(!err.message.contains("secret-value-123"));
    }
}
