//! The steps both ways of logging in share: the login context (steps 1–2), and the end, from
//! the "destination" page to the chat server's cookie (steps 7–8 / 7'–8).

use serde_json::{json, Value};

use super::http::{form_encode, step_error, Page, Send};
use super::{Login, ENTITY_ID};
use crate::error::{Error, ErrorKind, Result};
use crate::log;
use crate::upstream::CancelToken;
use crate::util::{url_decode, url_encode};

/// The SSO's login context.
pub(crate) struct Context {
    pub lck: String,
    pub entity_id: String,
    /// `(moduleCode, authChainCode)` of each method the SSO offers.
    pub methods: Vec<(String, String)>,
}

pub(crate) const STEP1: &str = "step 1 (GET /idp/authCenter/authenticate)";
pub(crate) const STEP2: &str = "step 2 (POST /idp/authn/queryAuthMethods)";
const STEP8: &str = "step 8 (GET /common/actionCasLogin)";

impl Login {
    /// Steps 1–2, once per login.
    pub(crate) fn context(&mut self, token: &CancelToken) -> Result<&Context> {
        if self.context.is_none() {
            let context = self.open_context(token)?;
            self.context = Some(context);
        }
        Ok(self.context.as_ref().expect("set above"))
    }

    fn open_context(&mut self, token: &CancelToken) -> Result<Context> {
        let chat = &self.options.base_url;
        let back = format!("{chat}/page/site/newPc?login_return=true");
        let redirect_uri = format!("{chat}/common/actionCasLogin?redirect_url={}", url_encode(&back));
        let query = form_encode(&[
            ("client_id", ENTITY_ID),
            ("redirect_uri", &redirect_uri),
            ("login_return", "true"),
            ("state", "ustb"),
            ("response_type", "code"),
        ]);
        let url = format!("{}/idp/authCenter/authenticate?{query}", self.sso);
        let page = self.send(STEP1, "GET", &url, Send::Nothing, token)?;
        let location = match (page.status, &page.location) {
            (300..=399, Some(l)) => l.clone(),
            (status, _) => {
                return Err(step_error(STEP1, format!("expected a redirect to the login page, got HTTP {status}")));
            }
        };
        // The context is in the query of the page's hash route: …/ac/#/index?lck=…&entityId=…
        let query = location.rsplit_once('?').map_or("", |(_, q)| q);
        let lck = query_value(query, "lck").filter(|v| !v.is_empty());
        let Some(lck) = lck else {
            return Err(step_error(STEP1, "the redirect carries no lck (login context)"));
        };
        self.secret(&lck);
        let entity_id = query_value(query, "entityId").unwrap_or_else(|| ENTITY_ID.to_string());

        let url = format!("{}/idp/authn/queryAuthMethods", self.sso);
        let body = json!({ "lck": lck, "entityId": entity_id });
        let reply = self.send_json(STEP2, &url, &body, token)?;
        check_code(STEP2, &reply)?;
        let Some(list) = reply.get("data").and_then(Value::as_array) else {
            return Err(step_error(STEP2, "the reply has no list of methods (data)"));
        };
        let methods = list
            .iter()
            .filter_map(|m| Some((m.get("moduleCode")?.as_str()?.to_string(), text(m.get("authChainCode")?)?)))
            .collect();
        log::login_step(STEP2);
        Ok(Context { lck, entity_id, methods })
    }

    /// The `authChainCode` of method `module` (`microQr`, `userAndSms`), or an error saying the
    /// SSO does not offer it.
    pub(crate) fn method(&self, step: &str, module: &str) -> Result<String> {
        let context = self.context.as_ref().expect("context opened first");
        match context.methods.iter().find(|(m, _)| m == module) {
            Some((_, chain)) => Ok(chain.clone()),
            None => Err(step_error(step, format!("the SSO does not offer the login method {module} right now"))),
        }
    }

    /// From the destination page (`page`, after redirects) to the cookie: steps 7–8.
    pub(crate) fn finish(&mut self, step: &str, page: Page, token: &CancelToken) -> Result<()> {
        let html = page.text();
        if let Some(action) = js_string(html, "actionType") {
            if !action.eq_ignore_ascii_case("GET") {
                return Err(step_error(step, format!("the destination page asks for {action:?}; only GET is known")));
            }
        }
        let Some(raw) = js_string(html, "locationValue") else {
            return Err(step_error(
                step,
                format!(
                    "the destination page (HTTP {}) has no locationValue: the SSO did not accept the login",
                    page.status
                ),
            ));
        };
        let Some(next) = location_url(&raw) else {
            return Err(step_error(step, "the destination's locationValue is not an http(s) URL"));
        };
        if let Some(code) = query_value(next.rsplit_once('?').map_or("", |(_, q)| q), "code") {
            self.secret(&code);
        }
        let next = self.http.hosts.map("the destination's locationValue", &next).map_err(|e| self.in_step(step, e))?;
        // The cookie is set by actionCasLogin; its redirects (to the chat page) are followed
        // too, in case the server sets it one hop later.
        let page = self.http.follow("GET", &next, Send::Nothing, token).map_err(|e| self.in_step(STEP8, e))?;
        // Only the chat host's own cookie counts (`next` is on the configured base_url).
        match self.http.cookie_set_by(&next, "cookie_vjuid_login").map(str::to_string) {
            Some(cookie) if crate::upstream::Cookies::valid_vjuid_login(&cookie) => {
                self.secret(&cookie);
                self.cookie = Some(cookie);
                log::login_step(STEP8);
                Ok(())
            }
            _ => Err(step_error(
                STEP8,
                format!("the chat server (HTTP {}) set no cookie_vjuid_login; start the login again", page.status),
            )),
        }
    }

    /// One request of `step`; errors name the step and lose every secret.
    pub(crate) fn send(
        &mut self,
        step: &str,
        method: &str,
        url: &str,
        send: Send<'_>,
        token: &CancelToken,
    ) -> Result<Page> {
        self.http.request(method, url, send, None, token).map_err(|e| self.in_step(step, e))
    }

    /// A POST of JSON whose reply must be JSON.
    pub(crate) fn send_json(&mut self, step: &str, url: &str, body: &Value, token: &CancelToken) -> Result<Value> {
        let page = self.send(step, "POST", url, Send::Json(body), token)?;
        json_reply(step, &page)
    }

    pub(crate) fn in_step(&self, step: &str, mut e: Error) -> Error {
        if e.kind != ErrorKind::Cancelled && !e.message.starts_with("SSO login") {
            e.message = format!("SSO login, {step}: {}", e.message);
        }
        self.redact(e)
    }
}

/// The reply as JSON, or an error naming the step (HTTP status and kind, never the text).
pub(crate) fn json_reply(step: &str, page: &Page) -> Result<Value> {
    if !(200..300).contains(&page.status) {
        let mut e = step_error(step, format!("HTTP status {}", page.status));
        e.kind = ErrorKind::HttpStatus;
        e.http_status = Some(page.status);
        return Err(e);
    }
    serde_json::from_slice(&page.body).map_err(|e| step_error(step, format!("the reply is not JSON ({e})")))
}

/// `code` 200 (a number or a string: the SSO uses both), else an API error with its message.
pub(crate) fn check_code(step: &str, reply: &Value) -> Result<()> {
    match reply.get("code").and_then(text) {
        Some(code) if code == "200" => Ok(()),
        Some(code) => Err(refused(step, &code, reply)),
        None => Err(step_error(step, "the reply has no code")),
    }
}

/// The SSO said no: kind `Api`, with its code and message.
pub(crate) fn refused(step: &str, code: &str, reply: &Value) -> Error {
    let message = reply.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    let mut e = Error::new(ErrorKind::Api, format!("SSO login, {step}: the SSO refused (code {code}, {message:?})"));
    e.api_code = code.parse().ok();
    e.api_message = Some(message);
    e
}

/// A JSON string or number as text.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The (percent-decoded) value of `key` in a query string.
pub(crate) fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| url_decode(v))
    })
}

/// The value of `var NAME = "…";` (or single quotes) in a page's script.
fn js_string(html: &str, name: &str) -> Option<String> {
    let mut rest = html;
    while let Some(at) = rest.find(name) {
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        let Some(after) = after.strip_prefix('=') else { continue };
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        return after[1..].find(quote).map(|end| after[1..1 + end].to_string());
    }
    None
}

/// The URL in a `locationValue`: HTML-escaped (`&amp;`) as the public clients see it, or
/// percent-encoded as a whole, which they also undo. Both forms are accepted, and a script's
/// `\/` for `/`.
fn location_url(raw: &str) -> Option<String> {
    let raw = raw.replace("\\/", "/");
    [html_unescape(&raw), html_unescape(&url_decode(&raw))]
        .into_iter()
        .find(|u| u.starts_with("http://") || u.starts_with("https://"))
}

fn html_unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x2F;", "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_scraps() {
        let html = r#"<script>var actionType = "GET";
            var locationValue = "http://c/common/actionCasLogin?redirect_url=x&amp;code=abc&amp;state=ustb";</script>"#;
        assert_eq!(js_string(html, "actionType").as_deref(), Some("GET"));
        let url = html_unescape(&js_string(html, "locationValue").unwrap());
        assert_eq!(url, "http://c/common/actionCasLogin?redirect_url=x&code=abc&state=ustb");
        assert_eq!(query_value("a=1&code=x%2By+z&b", "code").as_deref(), Some("x+y z"));
        let plain = "http://c/common/actionCasLogin?redirect_url=http%3A%2F%2Fc&code=abc&state=ustb";
        assert_eq!(location_url(&plain.replace('&', "&amp;")).as_deref(), Some(plain));
        let encoded = "http%3A%2F%2Fc%2Fcommon%2FactionCasLogin%3Fcode%3Dabc%26state%3Dustb";
        assert_eq!(location_url(encoded).as_deref(), Some("http://c/common/actionCasLogin?code=abc&state=ustb"));
        assert_eq!(location_url("javascript:alert(1)"), None);
        assert_eq!(location_url("http:\\/\\/c\\/x?a=1&amp;b=2").as_deref(), Some("http://c/x?a=1&b=2"));
        assert_eq!(query_value("a=1", "lck"), None);
        assert_eq!(js_string("locationValue;", "locationValue"), None);
        assert_eq!(text(&json!(200)).as_deref(), Some("200"));
        assert!(check_code("s", &json!({"code": "200"})).is_ok());
        let e = check_code("s", &json!({"code": 5054, "message": "m"})).unwrap_err();
        assert_eq!((e.kind, e.api_code), (ErrorKind::Api, Some(5054)));
    }
}
