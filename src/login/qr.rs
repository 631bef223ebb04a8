//! The WeChat QR code login: get a QR code (steps 3–5), poll its state (step 6), and on
//! confirmation trade the pass code for the cookie (steps 7–8).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{form_encode, origin_of, resolve, step_error, Send};
use super::steps::{check_code, json_reply, text};
use super::Login;
use crate::error::{Error, ErrorKind, Result};
use crate::log;
use crate::upstream::http::sleep_unless_cancelled;
use crate::upstream::CancelToken;

const STEP3: &str = "step 3 (POST /idp/authn/getMicroQr)";
const STEP4: &str = "step 4 (GET /connect/qrpage)";
const STEP5: &str = "step 5 (GET /connect/qrimg)";
const STEP6: &str = "step 6 (GET /connect/state)";
const STEP7: &str = "step 7 (GET returnUrl with the pass code)";

/// A QR code lives about 3 minutes; past this the library calls it expired itself.
const QR_LIFETIME: Duration = Duration::from_secs(190);
/// The server holds a state poll ≈15 s; the library holds one open until the caller's
/// deadline, but no longer than this (the public client's 180 s: about a QR code's life).
const POLL_LIMIT: Duration = Duration::from_secs(180);
/// Polls start at least this far apart, whatever the server answers (a server that does not
/// hold them would otherwise be asked in a tight loop); after a failed poll, the pause before
/// the next one (the public clients' 1 s).
const POLL_PAUSE: Duration = Duration::from_secs(1);

/// Where a QR login is. `Confirmed` means the cookie is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Scanned,
    Confirmed,
    Expired,
}

pub(crate) struct Qr {
    app_id: String,
    return_url: String,
    random_token: String,
    /// The page that shows this QR code (`qrpage?…`), and the host of `qrimg`/`state`.
    pub page_url: String,
    sis: String,
    sid: String,
    pub png: Vec<u8>,
    created: Instant,
    pub state: State,
    /// The next poll starts no earlier (kept across waits: many short waits share the rate).
    next_poll: Instant,
}

impl Login {
    /// Starts the QR login, or renews an expired (or any) QR code: steps 1–5.
    pub fn qr_start(&mut self, token: &CancelToken) -> Result<()> {
        self.qr_start_inner(token).map_err(|e| self.redact(e))
    }

    fn qr_start_inner(&mut self, token: &CancelToken) -> Result<()> {
        self.context(token)?;
        self.method(STEP3, "microQr")?;
        let context = self.context.as_ref().expect("opened above");
        let body = json!({ "entityId": context.entity_id, "lck": context.lck });
        let url = format!("{}/idp/authn/getMicroQr", self.sso);
        let reply = self.send_json(STEP3, &url, &body, token)?;
        check_code(STEP3, &reply)?;
        let data = reply.get("data").cloned().unwrap_or(Value::Null);
        let field = |name: &str| {
            data.get(name)
                .and_then(text)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| step_error(STEP3, format!("the reply has no data.{name}")))
        };
        let (app_id, return_url, random_token) = (field("appId")?, field("returnUrl")?, field("randomToken")?);
        self.secret(&random_token);
        // The QR page's own host serves the image and the state; the option is the fallback.
        // Both URLs are kept on the configured hosts (the real SSO names its real ones).
        let page = data.get("url").and_then(Value::as_str).filter(|u| u.starts_with("http"));
        let page = match page {
            Some(url) => self.http.hosts.map("data.url (the QR page)", url),
            None => Ok(format!("{}/connect/qrpage", self.sis)),
        };
        let page = page.map_err(|e| self.in_step(STEP3, e))?;
        let sis = origin_of(&page).to_string();
        let target = self.http.hosts.map("data.returnUrl", &resolve(&format!("{}/", self.sso), &return_url));
        let target = target.map_err(|e| self.in_step(STEP3, e))?;

        let query = form_encode(&[
            ("appid", &app_id),
            ("return_url", &return_url),
            ("rand_token", &random_token),
            ("embed_flag", "1"),
        ]);
        let sep = if page.contains('?') { '&' } else { '?' };
        let page_url = format!("{page}{sep}{query}");
        let html = self.send(STEP4, "GET", &page_url, Send::Nothing, token)?;
        let Some(sid) = find_sid(html.text()) else {
            return Err(step_error(STEP4, format!("the QR page (HTTP {}) holds no sid", html.status)));
        };
        self.secret(&sid);

        let image = self.send(STEP5, "GET", &format!("{sis}/connect/qrimg?sid={sid}"), Send::Nothing, token)?;
        if image.status != 200 || !image.body.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(step_error(
                STEP5,
                format!("expected a PNG image, got HTTP {} ({})", image.status, image.content_type),
            ));
        }
        log::login_step(STEP5);
        let now = Instant::now();
        self.qr = Some(Qr {
            app_id,
            return_url: target,
            random_token,
            page_url,
            sis,
            sid,
            png: image.body,
            created: now,
            state: State::Waiting,
            next_poll: now,
        });
        Ok(())
    }

    /// Waits up to `timeout` for the QR code's state to change and returns it (the current
    /// one when nothing changed). On `Confirmed` the cookie is ready.
    pub fn qr_wait(&mut self, timeout: Duration, token: &CancelToken) -> Result<State> {
        self.qr_wait_inner(timeout, token).map_err(|e| self.redact(e))
    }

    fn qr_wait_inner(&mut self, timeout: Duration, token: &CancelToken) -> Result<State> {
        let qr = self.qr.as_ref().ok_or_else(|| Error::invalid_argument("no QR code yet: start the QR login first"))?;
        if matches!(qr.state, State::Confirmed | State::Expired) {
            return Ok(qr.state);
        }
        let (start, url) = (qr.state, format!("{}/connect/state?sid={}", qr.sis, qr.sid));
        let deadline = Instant::now() + timeout;
        loop {
            if token.is_cancelled() {
                return Err(Error::cancelled());
            }
            let qr = self.qr.as_mut().expect("checked above");
            if qr.created.elapsed() > QR_LIFETIME {
                qr.state = State::Expired;
            }
            let now = Instant::now();
            if qr.state != start || now >= deadline {
                return Ok(qr.state);
            }
            if qr.next_poll > now {
                // Every pause ends at the caller's deadline.
                sleep_unless_cancelled(qr.next_poll.min(deadline) - now, token);
                continue;
            }
            qr.next_poll = now + POLL_PAUSE;
            let hold = poll_until(now, deadline);
            let polled = self.http.request("GET", &url, Send::Nothing, Some(hold), token);
            let reply = match polled.and_then(|page| json_reply(STEP6, &page)) {
                Ok(reply) => reply,
                Err(e) if e.kind == ErrorKind::Cancelled => return Err(e),
                // Held to its end (the caller's deadline, or POLL_LIMIT): nothing changed.
                Err(e) if e.kind == ErrorKind::Timeout && Instant::now() >= hold => continue,
                Err(e) if transient(&e) && deadline.saturating_duration_since(Instant::now()) > POLL_PAUSE => {
                    self.qr.as_mut().expect("polling").next_poll = Instant::now() + POLL_PAUSE;
                    continue;
                }
                Err(e) => return Err(self.in_step(STEP6, e)),
            };
            self.on_state(&reply, token)?;
        }
    }

    /// Applies one state reply.
    fn on_state(&mut self, reply: &Value, token: &CancelToken) -> Result<()> {
        let code = reply.get("code").and_then(text).unwrap_or_default();
        let qr = self.qr.as_mut().expect("polling a QR code");
        match code.as_str() {
            "1" => {
                let pass = reply.get("data").and_then(Value::as_str).filter(|p| !p.is_empty());
                let pass = pass.ok_or_else(|| step_error(STEP6, "confirmed, but the reply has no pass code (data)"))?;
                let pass = pass.to_string();
                self.secret(&pass);
                self.confirm(&pass, token)?;
                self.qr.as_mut().expect("still there").state = State::Confirmed;
            }
            "2" => qr.state = State::Scanned,
            "3" | "202" => qr.state = State::Expired,
            "4" => {}
            "101" | "102" => {
                let mut e = super::steps::refused(STEP6, &code, reply);
                e.kind = ErrorKind::Auth;
                e.message.push_str("; the QR code is no longer valid: start the QR login again");
                return Err(e);
            }
            _ => {
                return Err(step_error(
                    STEP6,
                    format!("unknown state code {}", crate::upstream::envelope::excerpt(&code)),
                ))
            }
        }
        Ok(())
    }

    /// Steps 7–8: the pass code for the cookie.
    fn confirm(&mut self, pass: &str, token: &CancelToken) -> Result<()> {
        let qr = self.qr.as_ref().expect("polling a QR code");
        let query = form_encode(&[("appid", &qr.app_id), ("auth_code", pass), ("rand_token", &qr.random_token)]);
        let sep = if qr.return_url.contains('?') { '&' } else { '?' };
        let url = format!("{}{sep}{query}", qr.return_url);
        let page = self.http.follow("GET", &url, Send::Nothing, token).map_err(|e| self.in_step(STEP7, e))?;
        self.finish(STEP7, page, token)
    }

    pub fn qr_png(&self) -> Option<&[u8]> {
        self.qr.as_ref().map(|q| q.png.as_slice())
    }

    /// The page that shows the current QR code (a browser can open it).
    pub fn qr_page_url(&self) -> Option<&str> {
        self.qr.as_ref().map(|q| q.page_url.as_str())
    }
}

/// When a poll that starts `now` gives up: the caller's deadline, at most `POLL_LIMIT` on.
fn poll_until(now: Instant, deadline: Instant) -> Instant {
    deadline.min(now + POLL_LIMIT)
}

/// A failed poll worth repeating: the network, or a server error (a gateway in between).
fn transient(e: &Error) -> bool {
    match e.kind {
        ErrorKind::Connect | ErrorKind::ConnectionLost | ErrorKind::Timeout => true,
        ErrorKind::HttpStatus => e.http_status.is_some_and(|s| s >= 500),
        _ => false,
    }
}

/// The public clients' `sid\s?=\s?(\w{32})`.
fn find_sid(html: &str) -> Option<String> {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let bytes = html.as_bytes();
    let mut from = 0;
    while let Some(at) = html[from..].find("sid") {
        let mut i = from + at + 3;
        from = i;
        let space = |i: &mut usize| {
            if bytes.get(*i).is_some_and(u8::is_ascii_whitespace) {
                *i += 1;
            }
        };
        space(&mut i);
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        space(&mut i);
        match bytes.get(i..i + 32) {
            Some(id) if id.iter().all(word) => return Some(html[i..i + 32].to_string()),
            _ => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_is_held_until_the_callers_deadline_up_to_the_limit() {
        let now = Instant::now();
        let minute = now + Duration::from_secs(60);
        assert_eq!(poll_until(now, minute), minute, "one poll for a 60 s wait");
        assert_eq!(poll_until(now, now + Duration::from_secs(600)), now + POLL_LIMIT);
        assert!(POLL_LIMIT >= Duration::from_secs(180) && POLL_LIMIT < QR_LIFETIME);
    }

    #[test]
    fn sid_is_found_as_the_public_clients_find_it() {
        let sid = "a".repeat(31) + "Z";
        assert_eq!(find_sid(&format!("<img src=\"qrimg?sid={sid}\">")), Some(sid.clone()));
        assert_eq!(find_sid(&format!("var sid = {sid};")), Some(sid.clone()));
        assert_eq!(find_sid(&format!("sid=short; sid = {sid}")), Some(sid));
        assert_eq!(find_sid("var sid = \"x\";"), None);
        assert_eq!(find_sid("sid"), None);
    }
}
