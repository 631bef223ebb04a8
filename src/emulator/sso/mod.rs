//! The fake university SSO (`sso.ustb.edu.cn`) and SIS (`sis.ustb.edu.cn`), served on the
//! emulator's own port next to the chat paths: WeChat QR and SMS login up to the
//! `cookie_vjuid_login` cookie (docs/PROTOCOL.md sections 6 and 7). Absolute URLs in replies
//! are built from the request's `Host`, or name `SsoConfig::reply_hosts` (e.g. the real hosts).

mod script;
mod state;

use std::io;
use std::net::TcpStream;
use std::time::Instant;

use base64::Engine;
use serde_json::{json, Value};

pub(crate) use state::SsoState;

use super::http::{self, Request};
use super::util::{parse_urlencoded, random_alnum32, random_hex32, random_u64, url_encode};
use super::{lock, puzzle, qrimage, Next, Shared, POLL_COOKIE_BYTES};
use state::Poll;

const ENTITY_ID: &str = "YW2025007";
const JSON: &str = "application/json;charset=UTF-8";
const HTML: &str = "text/html;charset=UTF-8";

/// Handles the SSO and SIS paths; `None` for any other path.
pub(crate) fn route(sh: &Shared, req: &Request, out: &TcpStream, close: bool) -> Option<io::Result<Next>> {
    let r = Reply { out, close };
    let done = match (req.method.as_str(), req.path()) {
        (_, "/idp/authCenter/authenticate") => authenticate(sh, req, r),
        ("POST", "/idp/authn/queryAuthMethods") => query_auth_methods(sh, req, r),
        ("POST", "/idp/authn/getMicroQr") => get_micro_qr(sh, req, r),
        (_, "/connect/qrpage") => qr_page(sh, req, r),
        (_, "/connect/qrimg") => qr_image(sh, req, r),
        (_, "/connect/state") => qr_state(sh, req, r),
        (_, "/idp/authCenter/authenticateByLck") => authenticate_by_lck(sh, req, r),
        (_, "/idp/authCenter/destination") => destination(sh, req, r),
        (_, "/common/actionCasLogin") => action_cas_login(sh, req, r),
        (_, "/page/site/newPc") => r.html(200, "<!DOCTYPE html><html><body>北科大AI助手</body></html>", &[]),
        (_, "/idp/captcha/checkOpen") => check_open(sh, r),
        (_, "/idp/captcha/getBlockPuzzle") => block_puzzle(sh, r),
        ("POST", "/idp/authn/sendSmsMsg") => send_sms(sh, req, r),
        ("POST", "/idp/authn/authExecute") => auth_execute(sh, req, r),
        ("POST", "/idp/authCenter/authnEngine") => authn_engine(sh, req, r),
        ("POST", "/emulator/sso/qr-script") => set_qr_script(sh, req, r),
        _ => return None,
    };
    Some(done.map(|()| Next::Keep))
}

#[derive(Clone, Copy)]
struct Reply<'a> {
    out: &'a TcpStream,
    close: bool,
}

impl Reply<'_> {
    fn json(self, v: &Value, extra: &[(&str, String)]) -> io::Result<()> {
        http::respond(self.out, 200, JSON, extra, v.to_string().as_bytes(), self.close)
    }

    fn html(self, status: u16, body: &str, extra: &[(&str, String)]) -> io::Result<()> {
        http::respond(self.out, status, HTML, extra, body.as_bytes(), self.close)
    }

    fn redirect(self, location: String, extra: &[(&str, String)]) -> io::Result<()> {
        let body = format!("<html><body>Redirecting to {}</body></html>", html_escape(&location));
        let mut headers = vec![("Location", location)];
        headers.extend(extra.iter().cloned());
        self.html(302, &body, &headers)
    }

    /// An SSO error page: no `locationValue`, so a client stops here.
    fn error_page(self, why: &str) -> io::Result<()> {
        self.html(200, &format!("<!DOCTYPE html><html><body><h2>认证失败</h2><p>{why}</p></body></html>"), &[])
    }
}

/// `http://{Host}`, or `https://` when the request came through the TLS front.
fn base(req: &Request) -> String {
    let scheme = if req.header("x-forwarded-proto") == Some("https") { "https" } else { "http" };
    format!("{scheme}://{}", req.header("host").unwrap_or("127.0.0.1"))
}

/// Which server an absolute URL in a reply names.
#[derive(Clone, Copy)]
enum Host {
    Sso,
    Sis,
    Chat,
}

/// The origin replies name for `host`: `reply_hosts` when set, else the request's own.
fn origin(sh: &Shared, req: &Request, host: Host) -> String {
    match (&sh.config.sso.reply_hosts, host) {
        (None, _) => base(req),
        (Some(h), Host::Sso) => h.sso.clone(),
        (Some(h), Host::Sis) => h.sis.clone(),
        (Some(h), Host::Chat) => h.chat.clone(),
    }
}

/// The destination page of a ticket: a relative redirect, or an absolute one naming
/// `reply_hosts` (as a real server might send).
fn destination_url(sh: &Shared, ticket: &str) -> String {
    let at = sh.config.sso.reply_hosts.as_ref().map_or("", |h| h.sso.as_str());
    format!("{at}/idp/authCenter/destination?ticket={ticket}")
}

fn body_json(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

fn field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn bad_context() -> Value {
    json!({ "code": 400, "message": "登录上下文无效", "data": null })
}

/// Step 1: a new login context, handed over in the fragment of the sign-in page's URL.
fn authenticate(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let redirect_uri = req.query("redirect_uri").filter(|v| !v.is_empty());
    let (Some(ENTITY_ID), Some(redirect_uri)) = (req.query("client_id").as_deref(), redirect_uri) else {
        return r.html(
            400,
            "<html><body><h1>400 Bad Request</h1><p>client_id或redirect_uri无效</p></body></html>",
            &[],
        );
    };
    let lck = lock(&sh.sso).new_context(&redirect_uri);
    let location = format!("{}/ac/#/index?lck={lck}&entityId={ENTITY_ID}", origin(sh, req, Host::Sso));
    let cookie = format!("SESSION={}; Path=/; HttpOnly", random_hex32());
    r.redirect(location, &[("Set-Cookie", cookie)])
}

fn query_auth_methods(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let lck = field(&body_json(req), "lck");
    let chains = lock(&sh.sso).contexts.get(&lck).map(|c| (c.qr_chain.clone(), c.sms_chain.clone()));
    let Some((qr, sms)) = chains else {
        return r.json(&bad_context(), &[]);
    };
    let data = json!([
        { "moduleCode": "microQr", "authChainCode": qr, "chainName": "微信扫码", "moduleName": "微信扫码" },
        { "moduleCode": "userAndSms", "authChainCode": sms, "chainName": "短信验证码", "moduleName": "短信验证码" },
    ]);
    r.json(&json!({ "code": 200, "message": "SUCCESS", "data": data }), &[])
}

/// Step 3 (note the string codes).
fn get_micro_qr(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let lck = field(&body_json(req), "lck");
    let token = random_alnum32();
    {
        let mut st = lock(&sh.sso);
        if !st.contexts.contains_key(&lck) {
            drop(st);
            return r.json(&json!({ "code": "400", "message": "登录上下文无效", "data": null }), &[]);
        }
        st.rand_tokens.insert(token.clone(), lck.clone());
    }
    let data = json!({
        "appId": random_alnum32(),
        "returnUrl": format!("{}/idp/authCenter/authenticateByLck?lck={lck}", origin(sh, req, Host::Sso)),
        "randomToken": token,
        "url": format!("{}/connect/qrpage", origin(sh, req, Host::Sis)),
    });
    r.json(&json!({ "code": "200", "message": "成功", "data": data }), &[])
}

/// Step 4: each page load starts a QR session with the script's next phase.
fn qr_page(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let token = req.query("rand_token").unwrap_or_default();
    let sid = {
        let mut st = lock(&sh.sso);
        let lck = st.rand_tokens.get(&token).cloned();
        lck.map(|lck| st.new_qr(&lck))
    };
    let Some(sid) = sid else {
        return r.html(200, "<!DOCTYPE html><html><body><p>二维码获取失败，请刷新重试</p></body></html>", &[]);
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>微信扫码登录</title></head>\n<body>\n\
         <img id=\"qrcode\" src=\"/connect/qrimg?sid={sid}\">\n\
         <script>\nvar sid = \"{sid}\";\n</script>\n</body></html>\n"
    );
    r.html(200, &page, &[])
}

fn qr_image(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let sid = req.query("sid").unwrap_or_default();
    if !lock(&sh.sso).qr_exists(&sid) {
        return r.html(404, "<html><body><h1>404 Not Found</h1></body></html>", &[]);
    }
    let png = qrimage::png(&format!("{}/connect/scan?sid={sid}", origin(sh, req, Host::Sis)));
    http::respond(r.out, 200, "image/png", &[], &png, r.close)
}

/// Step 6, the long poll. The lock is only held to look; waiting happens without it.
fn qr_state(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    if lock(&sh.sso).poll_fails() {
        return r.html(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", &[]);
    }
    let sid = req.query("sid").unwrap_or_default();
    let deadline = Instant::now() + lock(&sh.sso).long_poll();
    let instant = sh.config.sso.instant_polls;
    let (code, data) = loop {
        let now = Instant::now();
        let mut st = lock(&sh.sso);
        let poll = if instant { st.current(&sid, now) } else { st.poll(&sid, now) };
        drop(st);
        let until = match poll {
            Poll::Report(code, data) => break (code, data),
            Poll::Unknown => break (101, None),
            Poll::Wait(at) => at.min(deadline),
        };
        if now >= deadline || !sh.stall(r.out, until.saturating_duration_since(now)) {
            break (4, None);
        }
    };
    let message = match code {
        1 => "确认登录",
        2 => "已扫码",
        3 => "二维码已过期",
        4 => "等待扫码",
        101 => "参数错误",
        102 => "二维码无效",
        _ => "二维码已失效",
    };
    let value = "c".repeat(POLL_COOKIE_BYTES);
    let names = lock(&sh.sso).new_cookie_names(sh.config.sso.poll_cookies);
    let cookies: Vec<_> = names.iter().map(|n| ("Set-Cookie", format!("{n}={value}; Path=/"))).collect();
    r.json(&json!({ "code": code, "data": data, "message": message }), &cookies)
}

/// Step 7: the pass code from the poll, for the login context in `lck`.
fn authenticate_by_lck(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let lck = req.query("lck").unwrap_or_default();
    let pass = req.query("auth_code").unwrap_or_default();
    let ticket = {
        let mut st = lock(&sh.sso);
        st.take_pass(&lck, &pass, Instant::now()).then(|| st.new_ticket(&lck))
    };
    match ticket {
        Some(t) => r.redirect(destination_url(sh, &t), &[]),
        None => r.error_page("授权码无效或已过期"),
    }
}

/// The page that sends the browser on to the app with an authorization code.
fn destination(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let ticket = req.query("ticket").unwrap_or_default();
    let target = {
        let mut st = lock(&sh.sso);
        let lck = st.tickets.remove(&ticket);
        let uri = lck.as_ref().and_then(|l| st.contexts.get(l)).map(|c| c.redirect_uri.clone());
        lck.zip(uri).map(|(lck, mut uri)| {
            if sh.config.sso.reply_hosts.is_some() {
                // The app's registered address, whatever the client asked for.
                let chat = origin(sh, req, Host::Chat);
                let back = format!("{chat}/page/site/newPc?login_return=true");
                uri = format!("{chat}/common/actionCasLogin?redirect_url={}", url_encode(&back));
            }
            let code = random_alnum32();
            st.codes.insert(code.clone(), lck);
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}code={code}&state=ustb")
        })
    };
    let Some(target) = target else {
        return r.error_page("票据无效");
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>跳转中</title></head>\n<body>\n<script>\n\
         var actionType = \"GET\";\nvar locationValue = \"{}\";\n</script>\n</body></html>\n",
        html_escape(&target)
    );
    r.html(200, &page, &[])
}

/// Step 8, on the chat host: a valid code buys the login cookie.
fn action_cas_login(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let chat = origin(sh, req, Host::Chat);
    let code = req.query("code").unwrap_or_default();
    let redirect_url = req
        .query("redirect_url")
        .filter(|u| !u.is_empty())
        .unwrap_or(format!("{chat}/page/site/newPc?login_return=true"));
    if lock(&sh.sso).codes.remove(&code).is_none() {
        let back = format!("{chat}/common/actionCasLogin?redirect_url={}", url_encode(&redirect_url));
        let location = format!(
            "{}/idp/authCenter/authenticate?client_id={ENTITY_ID}&redirect_uri={}\
             &login_return=true&state=ustb&response_type=code",
            origin(sh, req, Host::Sso),
            url_encode(&back)
        );
        return r.redirect(location, &[]);
    }
    let token = sh.config.login_token.clone().unwrap_or_else(random_alnum32);
    r.redirect(redirect_url, &[("Set-Cookie", format!("cookie_vjuid_login={token}; path=/; HttpOnly"))])
}

fn check_open(sh: &Shared, r: Reply) -> io::Result<()> {
    if lock(&sh.sso).config.sms_open {
        r.json(&json!({ "code": 200, "message": "SUCCESS", "data": true }), &[])
    } else {
        r.html(404, "<html><body><h1>404 Not Found</h1></body></html>", &[])
    }
}

fn block_puzzle(sh: &Shared, r: Reply) -> io::Result<()> {
    let p = puzzle::generate(random_u64());
    let token = uuid_v4();
    lock(&sh.sso).puzzles.insert(token.clone(), (p.x, p.y));
    let b64 = base64::engine::general_purpose::STANDARD;
    let data = json!({
        "originalImageBase64": b64.encode(&p.background_png),
        "jigsawImageBase64": b64.encode(&p.piece_png),
        "token": token,
        "secretKey": null,
    });
    r.json(&json!({ "code": 200, "message": "SUCCESS", "data": data }), &[])
}

fn uuid_v4() -> String {
    let (a, b) = (random_u64(), random_u64());
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000; // variant 10
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The SMS code the emulator "sends": the phone number's last 6 digits.
fn sms_code(phone: &str) -> String {
    phone[phone.len().saturating_sub(6)..].to_string()
}

fn valid_phone(phone: &str) -> bool {
    phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit())
}

/// The public client sends the piece's x minus 5.
fn puzzle_solved(answer: Option<(u32, u32)>, point_json: &str) -> bool {
    let x = serde_json::from_str::<Value>(point_json).ok().and_then(|p| p["x"].as_f64());
    match (answer, x) {
        (Some((a, _)), Some(x)) => (x + 5.0 - f64::from(a)).abs() <= 4.0,
        _ => false,
    }
}

fn send_sms(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let body = body_json(req);
    let (lck, phone) = (field(&body, "lck"), field(&body, "loginName"));
    let now = Instant::now();
    let outcome = {
        let mut st = lock(&sh.sso);
        if !st.contexts.contains_key(&lck) {
            None
        } else if !puzzle_solved(st.puzzles.remove(&field(&body, "token")), &field(&body, "pointJson")) {
            Some(("5054", "验证码校验失败"))
        } else if !valid_phone(&phone) {
            Some(("400", "手机号格式错误"))
        } else if st.sms_too_soon(&phone, now) {
            Some(("201", "发送过于频繁"))
        } else {
            st.last_sms.insert(phone.clone(), now);
            if let Some(c) = st.contexts.get_mut(&lck) {
                c.sms.insert(phone.clone(), sms_code(&phone));
            }
            Some(("200", "发送成功"))
        }
    };
    let Some((code, message)) = outcome else {
        return r.json(&bad_context(), &[]);
    };
    r.json(&json!({ "code": 200, "message": "SUCCESS", "data": { "code": code, "message": message } }), &[])
}

fn auth_execute(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let body = body_json(req);
    let para = &body["authPara"];
    let (phone, sms) = (field(para, "loginName"), field(para, "smsCode"));
    let lck = field(&body, "lck");
    let mut st = lock(&sh.sso);
    let Some(ctx) = st.contexts.get_mut(&lck) else {
        drop(st);
        return r.json(&bad_context(), &[]);
    };
    let refusal = if field(&body, "authChainCode") != ctx.sms_chain {
        Some("认证链无效")
    } else {
        match ctx.sms.get(&phone) {
            None => Some("请先获取验证码"),
            Some(c) if *c != sms => Some("验证码错误"),
            Some(_) => None,
        }
    };
    if let Some(message) = refusal {
        drop(st);
        return r.json(&json!({ "code": 400, "message": message }), &[]);
    }
    ctx.sms.remove(&phone);
    let token = random_alnum32();
    st.login_tokens.insert(token.clone(), lck);
    drop(st);
    r.json(&json!({ "code": 200, "message": "SUCCESS", "loginToken": token }), &[])
}

/// Step 7': the SMS login token (form field, one use) leads to the same destination page.
fn authn_engine(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let form = parse_urlencoded(&String::from_utf8_lossy(&req.body));
    let token = form.into_iter().find(|(k, _)| k == "loginToken").map(|(_, v)| v).unwrap_or_default();
    let ticket = {
        let mut st = lock(&sh.sso);
        let lck = st.login_tokens.remove(&token);
        lck.map(|l| st.new_ticket(&l))
    };
    match ticket {
        Some(t) => r.redirect(destination_url(sh, &t), &[]),
        None => r.error_page("登录令牌无效"),
    }
}

/// Test control: replace the QR script at run time.
fn set_qr_script(sh: &Shared, req: &Request, r: Reply) -> io::Result<()> {
    let text = String::from_utf8_lossy(&req.body);
    match lock(&sh.sso).set_script(text.trim()) {
        Ok(()) => http::respond(r.out, 204, "text/plain;charset=UTF-8", &[], b"", r.close),
        Err(e) => http::respond(r.out, 400, "text/plain;charset=UTF-8", &[], e.as_bytes(), r.close),
    }
}

/// Checks a QR script the way the emulator would (for the command line).
pub(crate) fn check_script(text: &str) -> Result<(), String> {
    script::Script::parse(text).map(|_| ())
}
