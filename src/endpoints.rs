//! The platform's web API besides chat (docs/PROTOCOL.md section 5): user and site info, the
//! applications, page settings, sessions and their history, plus two calls built on them: the
//! selectable models as an OpenAI model list, and a cheap login check.
//!
//! Every call goes through `Client::endpoint`: its arguments are checked before any traffic,
//! it is bounded by the client's connect, idle and whole-request timeouts, and it stops with
//! `ErrorKind::Cancelled` when its `CancelToken` is cancelled (from any thread, before or
//! during the call). The convenience methods (`Client::web_info` and so on) use a token nobody
//! holds, so they are bounded by the timeouts only.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::{
    MAX_ENDPOINT_REPLY_BYTES, MAX_ERROR_BODY_BYTES, MAX_INFO_REPLY_BYTES, MAX_PAGE_SIZE, MAX_SESSION_ID,
};
use crate::upstream::envelope::excerpt;
use crate::upstream::http::LOGIN_HINT;
use crate::upstream::multipart::{self, Multipart};
use crate::upstream::{cancellable_json, CancelToken, Envelope, Wire, USER_INFO_PATH};

/// The page that answers 200 when logged in and redirects to the university sign-in when not.
pub(crate) const CHAT_PAGE_PATH: &str = "/page/front/Mdefault/chat?ext=%7B%7D";

/// One call of the platform's web API, as `Client::endpoint` makes it. Each answers with the
/// envelope's `d` as JSON text, except `Models` and `LoginState` (see there).
///
/// A `compose_id` of `None` means the client's default application (the `compose_id` option,
/// 3 = DeepSeek unless set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /site/user_info`: the caller's profile. For a cookieless visitor the server also
    /// issues an `easy_session`, which the client keeps (see `Client::cookies_json`).
    UserInfo,
    /// `GET /common/web_info`: the site's configuration (name, logos, `isCas`, …).
    WebInfo,
    /// `GET /site/ai/compose_list?classid=0`: the applications (`id`, `name`, `desc`, …).
    Apps,
    /// `GET /site/ai/compose_detail?id=N`: one application.
    AppDetail { compose_id: Option<u64> },
    /// `GET /site/voom/page-setting?compose_id=N&type=pc`: the page settings of an
    /// application (the model list, the thinking and web-search switches).
    PageSettings { compose_id: Option<u64> },
    /// `GET /site/voom/get_new_session_id?compose_id=N`: a new session id (a JSON string).
    NewSessionId { compose_id: Option<u64> },
    /// `GET /site/voom/session_list?page=P&pageSize=S`: the caller's sessions, newest first.
    /// `page` counts from 1; `page_size` is 1 to 100 (`limits::MAX_PAGE_SIZE`).
    Sessions { page: u32, page_size: u32 },
    /// `POST /site/voom/session_delete` (multipart field `session_id`): deletes a session.
    DeleteSession { session_id: String },
    /// `GET /site/voom/chat_history_info?session_id=…`: the messages of a session.
    ChatHistory { session_id: String },
    /// The application's selectable models (page settings'
    /// `model_select.model_content.value`) as an OpenAI model list:
    /// `{"object":"list","data":[{"id","object":"model","created","owned_by","label","compose_id"}]}`.
    /// `id` is the entry's `value` (what a chat request's `model` takes), `label` its display
    /// name; `created` is 0 (the server gives no date) and `owned_by` is `"ustb"`.
    Models { compose_id: Option<u64> },
    /// `GET /page/front/Mdefault/chat?ext=%7B%7D`, which answers 200 when logged in and
    /// redirects to the university sign-in when not:
    /// `{"state":"logged_in"|"logged_out"|"unreachable","detail":str,"http_status":int|null,"error":str|null}`.
    /// `unreachable` covers a failed connect, a timeout and a connection lost before the
    /// answer (`error` is then the error type, e.g. `"connect_error"`); any other answer (a
    /// 5xx, say) is an error of the call, not a state.
    LoginState,
}

/// What goes on the wire for one call.
struct Request {
    method: &'static str,
    path: String,
    form: Option<Multipart>,
}

impl Endpoint {
    /// Checks the arguments and builds the request; nothing is sent.
    fn request(&self, default_compose_id: &str) -> Result<Request> {
        let compose = |id: &Option<u64>| -> Result<String> {
            match id {
                None => Ok(default_compose_id.to_string()),
                Some(0) => Err(Error::invalid_argument("compose_id must be a positive integer")),
                Some(n) => Ok(n.to_string()),
            }
        };
        let get = |path: String| Ok(Request { method: "GET", path, form: None });
        match self {
            Endpoint::UserInfo => get(USER_INFO_PATH.into()),
            Endpoint::WebInfo => get("/common/web_info".into()),
            Endpoint::Apps => get("/site/ai/compose_list?classid=0".into()),
            Endpoint::AppDetail { compose_id } => get(format!("/site/ai/compose_detail?id={}", compose(compose_id)?)),
            Endpoint::PageSettings { compose_id } | Endpoint::Models { compose_id } => {
                get(format!("/site/voom/page-setting?compose_id={}&type=pc", compose(compose_id)?))
            }
            Endpoint::NewSessionId { compose_id } => {
                get(format!("/site/voom/get_new_session_id?compose_id={}", compose(compose_id)?))
            }
            Endpoint::Sessions { page, page_size } => {
                if *page == 0 {
                    return Err(Error::invalid_argument("page counts from 1"));
                }
                if *page_size == 0 || *page_size > MAX_PAGE_SIZE {
                    return Err(Error::invalid_argument(format!("page_size must be 1 to {MAX_PAGE_SIZE}")));
                }
                get(format!("/site/voom/session_list?page={page}&pageSize={page_size}"))
            }
            Endpoint::DeleteSession { session_id } => Ok(Request {
                method: "POST",
                path: "/site/voom/session_delete".into(),
                form: Some(multipart::encode(&[("session_id", check_session_id(session_id)?)])),
            }),
            Endpoint::ChatHistory { session_id } => {
                get(format!("/site/voom/chat_history_info?session_id={}", check_session_id(session_id)?))
            }
            Endpoint::LoginState => get(CHAT_PAGE_PATH.into()),
        }
    }

    /// The most body bytes read (`user_info` keeps its documented 1 MiB).
    fn limit(&self) -> usize {
        match self {
            Endpoint::UserInfo => MAX_INFO_REPLY_BYTES,
            _ => MAX_ENDPOINT_REPLY_BYTES,
        }
    }
}

/// A session id is a server-made token (32 hex digits, or a number); anything else is refused
/// so it can go into a URL unescaped. Messages never quote it in full.
fn check_session_id(id: &str) -> Result<&str> {
    let ok = !id.is_empty()
        && id.len() <= MAX_SESSION_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(Error::invalid_argument(format!(
            "session_id must be 1 to {MAX_SESSION_ID} ASCII letters, digits, '-' or '_' (got {})",
            excerpt(id)
        )))
    }
}

impl Client {
    /// Makes one platform call (see `Endpoint`) and returns its JSON text. Arguments are
    /// checked first (`ErrorKind::InvalidArgument`, nothing sent). Blocks until the reply is
    /// read; bounded by the connect, idle and whole-request timeouts, and cancelled by
    /// `cancel` (`ErrorKind::Cancelled`; a token cancelled before the call sends nothing).
    /// Errors are those of a chat: `Connect`, `Timeout`, `ConnectionLost`, `HttpStatus` (a
    /// redirect means the login expired), `Api`, `Auth` (`e = 10042`), `Protocol` (not an
    /// envelope, or an HTML page), `TooLarge` (over 1 MiB for `UserInfo`, 16 MiB otherwise).
    /// Cookie values never appear in them. A token serves one running call at a time (a cancel
    /// shuts the socket of the call that used it last); once cancelled it stays cancelled.
    pub fn endpoint(&self, endpoint: &Endpoint, cancel: &CancelToken) -> Result<String> {
        // Bad arguments are reported as such, even with a cancelled token.
        let req = endpoint.request(&self.defaults.compose_id)?;
        let result = self.send(endpoint, &req, cancel);
        // A late cancel must not reach a connection that went back to the pool.
        cancel.release();
        result.map_err(|e| {
            let e = if cancel.is_cancelled() { Error::cancelled() } else { e };
            self.wire.redact(e)
        })
    }

    fn send(&self, endpoint: &Endpoint, req: &Request, cancel: &CancelToken) -> Result<String> {
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        match endpoint {
            Endpoint::LoginState => login_state(&self.wire, req, cancel).map(|v| v.to_string()),
            Endpoint::Models { compose_id } => {
                let settings = fetch(&self.wire, req, endpoint.limit(), cancel)?;
                let id = compose_id.map_or_else(|| self.defaults.compose_id.clone(), |n| n.to_string());
                models(&settings, &id, cancel)
            }
            _ => Ok(fetch(&self.wire, req, endpoint.limit(), cancel)?.to_string()),
        }
    }

    /// `GET /site/user_info`: the caller's profile (`d`). For a cookieless visitor the server
    /// issues an `easy_session`, which the client keeps (see `cookies_json`).
    /// Not cancellable: bounded by the connect, idle and total timeouts (`endpoint` with
    /// `Endpoint::UserInfo` is the cancellable form).
    pub fn user_info(&self) -> Result<String> {
        self.endpoint(&Endpoint::UserInfo, &CancelToken::default())
    }

    /// `Endpoint::WebInfo`, bounded by the timeouts.
    pub fn web_info(&self) -> Result<String> {
        self.endpoint(&Endpoint::WebInfo, &CancelToken::default())
    }

    /// `Endpoint::Apps`, bounded by the timeouts.
    pub fn apps(&self) -> Result<String> {
        self.endpoint(&Endpoint::Apps, &CancelToken::default())
    }

    /// `Endpoint::AppDetail`, bounded by the timeouts.
    pub fn app_detail(&self, compose_id: Option<u64>) -> Result<String> {
        self.endpoint(&Endpoint::AppDetail { compose_id }, &CancelToken::default())
    }

    /// `Endpoint::PageSettings`, bounded by the timeouts.
    pub fn page_settings(&self, compose_id: Option<u64>) -> Result<String> {
        self.endpoint(&Endpoint::PageSettings { compose_id }, &CancelToken::default())
    }

    /// `Endpoint::NewSessionId`, bounded by the timeouts.
    pub fn new_session_id(&self, compose_id: Option<u64>) -> Result<String> {
        self.endpoint(&Endpoint::NewSessionId { compose_id }, &CancelToken::default())
    }

    /// `Endpoint::Sessions`, bounded by the timeouts.
    pub fn sessions(&self, page: u32, page_size: u32) -> Result<String> {
        self.endpoint(&Endpoint::Sessions { page, page_size }, &CancelToken::default())
    }

    /// `Endpoint::DeleteSession`, bounded by the timeouts.
    pub fn delete_session(&self, session_id: &str) -> Result<String> {
        self.endpoint(&Endpoint::DeleteSession { session_id: session_id.into() }, &CancelToken::default())
    }

    /// `Endpoint::ChatHistory`, bounded by the timeouts.
    pub fn chat_history(&self, session_id: &str) -> Result<String> {
        self.endpoint(&Endpoint::ChatHistory { session_id: session_id.into() }, &CancelToken::default())
    }

    /// `Endpoint::Models`, bounded by the timeouts.
    pub fn models(&self, compose_id: Option<u64>) -> Result<String> {
        self.endpoint(&Endpoint::Models { compose_id }, &CancelToken::default())
    }

    /// `Endpoint::LoginState`, bounded by the timeouts.
    pub fn login_state(&self) -> Result<String> {
        self.endpoint(&Endpoint::LoginState, &CancelToken::default())
    }
}

/// Sends `req` and returns the envelope's `d`.
fn fetch(wire: &Wire, req: &Request, limit: usize, cancel: &CancelToken) -> Result<Value> {
    let reply = wire.send(req.method, &req.path, req.form.as_ref(), cancel)?.check_status()?;
    let (status, html) = (reply.status, reply.is_html());
    let body = reply.body.read_all(limit)?;
    let text = String::from_utf8_lossy(&body);
    if html || text.trim_start().starts_with('<') {
        return Err(Error::protocol(format!(
            "the server answered with an HTML page instead of JSON ({LOGIN_HINT}): {}",
            excerpt(&text)
        )));
    }
    Envelope::parse_cancellable(&text, cancel)?.into_data(Some(status))
}

/// The login check: the chat page's status says it all, its body is read only to keep the
/// connection reusable.
fn login_state(wire: &Wire, req: &Request, cancel: &CancelToken) -> Result<Value> {
    let state = |state: &str, detail: String, http: Option<u16>, error: Option<&str>| json!({ "state": state, "detail": detail, "http_status": http, "error": error });
    let reply = match wire.send(req.method, &req.path, None, cancel) {
        Ok(reply) => reply,
        Err(e) if matches!(e.kind, ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::ConnectionLost) => {
            return Ok(state("unreachable", wire.redact(e.clone()).message, None, Some(e.kind.name())));
        }
        Err(e) => return Err(e),
    };
    let status = reply.status;
    let (name, detail) = match status {
        200..=299 => ("logged_in", format!("the chat page answered HTTP {status}")),
        300..=399 | 401 | 403 => (
            "logged_out",
            format!("the chat page answered HTTP {status} (a redirect to the sign-in page): {LOGIN_HINT}"),
        ),
        _ => return Err(reply.check_status().err().unwrap_or_else(|| Error::protocol("unexpected status"))),
    };
    let limit = if name == "logged_in" { MAX_INFO_REPLY_BYTES } else { MAX_ERROR_BODY_BYTES };
    // The answer is known; a body that is too long or breaks off changes nothing.
    let drained = reply.body.read_all(limit);
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    drop(drained);
    Ok(state(name, detail, Some(status), None))
}

/// Page settings to an OpenAI model list (see `Endpoint::Models`), as JSON text. Entries
/// without a usable `value` fall back to their `label`; entries with neither, and repeated
/// ids, are skipped. A list sent as a JSON string is read too. Time linear in the list, no
/// tree of the output (a `Value` per model held 290 MB for 100k); a cancel stops it.
fn models(settings: &Value, compose_id: &str, cancel: &CancelToken) -> Result<String> {
    let list = settings.pointer("/model_select/model_content/value");
    let parsed;
    let list = match list {
        Some(Value::String(s)) => {
            parsed = cancellable_json::parse(s, cancel).unwrap_or(Value::Null);
            &parsed
        }
        Some(v) => v,
        None => &Value::Null,
    };
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let compose = compose_id.parse::<u64>().map_or_else(|_| json!(compose_id), Value::from);
    let mut seen = HashSet::new();
    let mut data = Vec::new();
    for (i, item) in list.as_array().into_iter().flatten().enumerate() {
        // A list of 16 MiB holds about a million entries: look up now and then.
        if i % 1024 == 0 && cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        let label = text(item.get("label"));
        let Some(id) = text(item.get("value")).or_else(|| label.clone()) else { continue };
        if !seen.insert(id.clone()) {
            continue;
        }
        let label = label.unwrap_or_else(|| id.clone());
        data.push(ModelJson { id, object: "model", created: 0, owned_by: "ustb", label, compose_id: &compose });
    }
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    Ok(serde_json::to_string(&ModelList { object: "list", data }).expect("writing JSON into memory cannot fail"))
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelJson<'a>>,
}

#[derive(Serialize)]
struct ModelJson<'a> {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
    label: String,
    compose_id: &'a Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_before_anything_is_built() {
        let bad = [
            Endpoint::AppDetail { compose_id: Some(0) },
            Endpoint::Sessions { page: 0, page_size: 10 },
            Endpoint::Sessions { page: 1, page_size: 0 },
            Endpoint::Sessions { page: 1, page_size: MAX_PAGE_SIZE + 1 },
            Endpoint::DeleteSession { session_id: String::new() },
            Endpoint::ChatHistory { session_id: "a&b=c".into() },
            Endpoint::ChatHistory { session_id: "x".repeat(MAX_SESSION_ID + 1) },
        ];
        for ep in bad {
            let err = ep.request("3").err().unwrap_or_else(|| panic!("{ep:?} accepted"));
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{ep:?}");
        }
        let r = Endpoint::Sessions { page: 2, page_size: MAX_PAGE_SIZE }.request("3").unwrap();
        assert_eq!(r.path, "/site/voom/session_list?page=2&pageSize=100");
        let r = Endpoint::Models { compose_id: None }.request("7").unwrap();
        assert_eq!(r.path, "/site/voom/page-setting?compose_id=7&type=pc");
        let r = Endpoint::DeleteSession { session_id: "ab_12-x".into() }.request("3").unwrap();
        assert_eq!((r.method, r.path.as_str()), ("POST", "/site/voom/session_delete"));
        assert!(String::from_utf8_lossy(&r.form.unwrap().body).contains("name=\"session_id\"\r\n\r\nab_12-x\r\n"));
    }

    #[test]
    fn model_list_from_page_settings() {
        let settings = json!({"model_select": {"model_content": {"value": [
            {"label": "DeepSeek-R1", "value": "DeepSeek"},
            {"label": "只有名字"},
            {"value": 42},
            {"label": "重复", "value": "DeepSeek"},
            {"label": "", "value": ""},
            "not an object",
        ]}}});
        let list = model_list(&settings, &CancelToken::default());
        assert_eq!(list["object"], "list");
        let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["DeepSeek", "只有名字", "42"]);
        assert_eq!(list["data"][0]["label"], "DeepSeek-R1");
        assert_eq!(list["data"][0]["compose_id"], 3);
        assert_eq!(list["data"][2]["label"], "42");
        for m in list["data"].as_array().unwrap() {
            assert_eq!(
                (m["object"].as_str(), m["created"].as_i64(), m["owned_by"].as_str()),
                (Some("model"), Some(0), Some("ustb"))
            );
        }
        let as_string = json!({"model_select": {"model_content": {"value": "[{\"label\":\"A\",\"value\":\"a\"}]"}}});
        let never = CancelToken::default();
        assert_eq!(model_list(&as_string, &never)["data"][0]["id"], "a");
        assert_eq!(model_list(&json!([]), &never), json!({"object": "list", "data": []}));
    }

    /// The model list of `settings` for application 3, as a value.
    fn model_list(settings: &Value, cancel: &CancelToken) -> Value {
        serde_json::from_str(&models(settings, "3", cancel).unwrap()).unwrap()
    }

    /// Page settings whose model list has `n` distinct entries.
    fn settings_with(n: usize) -> Value {
        let list: Vec<Value> = (0..n).map(|i| json!({"label": format!("模型{i}"), "value": format!("m{i}")})).collect();
        json!({"model_select": {"model_content": {"value": list}}})
    }

    #[test]
    fn a_long_model_list_costs_linear_time() {
        // Each id was compared with every one before it: 12.5k entries took 0.38 s, 100k 45 s.
        let never = CancelToken::default();
        let secs = |n: usize| {
            let settings = settings_with(n);
            crate::util::median_cpu_secs(3, || {
                assert_eq!(model_list(&settings, &never)["data"].as_array().unwrap().len(), n)
            })
        };
        let (one, two) = (secs(20_000), secs(40_000));
        eprintln!("model list: {one:.4} / {two:.4} CPU s for 20k / 40k entries");
        assert!(two <= 2.5 * one, "{one} → {two}");
    }

    #[test]
    fn a_cancel_stops_the_model_list() {
        let token = CancelToken::default();
        token.cancel();
        assert_eq!(models(&settings_with(3), "3", &token).unwrap_err().kind, ErrorKind::Cancelled);
    }
}
