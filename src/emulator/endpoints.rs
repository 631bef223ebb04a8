//! Routing and the non-chat endpoints (docs/PROTOCOL.md section 5, "Other endpoints"), with
//! in-memory sessions.

use std::io;
use std::net::TcpStream;

use serde_json::{json, Value};

use super::http::{self, Request};
use super::json::{error_envelope, ok_envelope};
use super::util::{beijing_time, parse_urlencoded, random_alnum32, random_hex32, stable_id, unix_now};
use super::{chat, lock, Next, Shared};

const SSO_URL: &str = "https://sso.ustb.edu.cn/idp/authCenter/authenticate?client_id=YW2025007\
                       &redirect_uri=http%3A%2F%2Fchat.ustb.edu.cn%2Fcommon%2FactionCasLogin\
                       &login_return=true&state=ustb&response_type=code";
const STUDENT_UID: i64 = 100_231;

pub(crate) fn route(sh: &Shared, req: &Request, out: &TcpStream, close: bool) -> io::Result<Next> {
    if let Some(done) = super::sso::route(sh, req, out, close) {
        return done;
    }
    let json = |d: Value| json_reply(out, &ok_envelope(d), &[], close);
    match req.path() {
        "/site/ai/compose_chat" => chat::compose_chat(sh, req, out, close),
        "/site/user_info" => user_info(sh, req, out, close),
        "/common/web_info" => json(web_info()),
        "/site/ai/compose_list" => json(json!([deepseek_app(), qwen_app()])),
        "/site/ai/compose_detail" => match req.query("id").as_deref() {
            Some("3") => json(deepseek_app()),
            Some("5") => json(qwen_app()),
            _ => json_reply(out, &error_envelope(1, "应用不存在"), &[], close),
        },
        "/site/voom/page-setting" => match req.query("compose_id").filter(|v| !v.is_empty()) {
            None => json_reply(out, &error_envelope(1, "compose_id不能为空"), &[], close),
            Some(id) => match page_setting(&id) {
                Some(d) => json(d),
                None => json_reply(out, &error_envelope(1, "应用不存在"), &[], close),
            },
        },
        // The session endpoints are a logged-in user's (guests may no longer chat).
        path if path.starts_with("/site/voom/") && !sh.authorized(req) => {
            json_reply(out, &error_envelope(10042, "请登录"), &[], close)
        }
        "/site/voom/get_new_session_id" => match req.query("compose_id").filter(|v| !v.is_empty()) {
            Some(compose_id) => json(json!(lock(&sh.sessions).create(None, &compose_id))),
            None => json_reply(out, &error_envelope(1, "compose_id不能为空"), &[], close),
        },
        "/site/voom/session_list" => {
            let page = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1usize).max(1);
            let size = req.query("pageSize").and_then(|p| p.parse().ok()).unwrap_or(10usize).clamp(1, 100);
            let uid = if sh.logged_in(req) { STUDENT_UID } else { 0 };
            json(lock(&sh.sessions).list(page, size, uid))
        }
        "/site/voom/session_delete" => {
            let id = form_value(req, "session_id").filter(|v| !v.is_empty());
            match id {
                Some(id) => {
                    lock(&sh.sessions).delete(&id);
                    json(json!([]))
                }
                None => json_reply(out, &error_envelope(1, "session_id不能为空"), &[], close),
            }
        }
        "/site/voom/chat_history_info" => match req.query("session_id").filter(|v| !v.is_empty()) {
            Some(id) => json(lock(&sh.sessions).history(&id)),
            None => json_reply(out, &error_envelope(1, "session_id不能为空"), &[], close),
        },
        "/page/front/Mdefault/chat" => chat_page(sh, req, out, close),
        _ => {
            let body = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n\
                        <center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n\
                        </body>\r\n</html>\r\n";
            http::respond(out, 404, "text/html; charset=utf-8", &[], body.as_bytes(), close)?;
            Ok(Next::Keep)
        }
    }
}

fn json_reply(out: &TcpStream, body: &Value, extra: &[(&str, String)], close: bool) -> io::Result<Next> {
    http::respond(out, 200, "application/json; charset=utf-8", extra, body.to_string().as_bytes(), close)?;
    Ok(Next::Keep)
}

/// A form field from a multipart or urlencoded body, or from the query string.
fn form_value(req: &Request, key: &str) -> Option<String> {
    if let Some(form) = &req.form {
        if let Some((_, v)) = form.iter().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
    }
    let urlencoded = req
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if urlencoded {
        let body = String::from_utf8_lossy(&req.body);
        if let Some((_, v)) = parse_urlencoded(&body).into_iter().find(|(k, _)| k == key) {
            return Some(v);
        }
    }
    req.query(key)
}

fn user_info(sh: &Shared, req: &Request, out: &TcpStream, close: bool) -> io::Result<Next> {
    let mut extra = Vec::new();
    // Any request without a session gets one, logged in or not (browsers hold both cookies).
    if req.cookie("easy_session").is_none_or(|v| v.is_empty()) {
        extra.push(("Set-Cookie", format!("easy_session={}; path=/; HttpOnly", random_alnum32())));
    }
    let d = if sh.logged_in(req) {
        json!({
            "account": "U202341234", "type_name": "学生", "uid": STUDENT_UID,
            "user_name": "张同学", "user_number": "U202341234", "identity_name": "本科生",
        })
    } else {
        json!({
            "account": "", "type_name": "游客", "uid": 0,
            "user_name": "游客", "user_number": "", "identity_name": "游客",
        })
    };
    json_reply(out, &ok_envelope(d), &extra, close)
}

fn chat_page(sh: &Shared, req: &Request, out: &TcpStream, close: bool) -> io::Result<Next> {
    let html = "text/html; charset=utf-8";
    if sh.authorized(req) {
        let body = "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head><meta charset=\"utf-8\">\
                    <title>北科大AI助手</title></head>\n<body><div id=\"app\"></div></body>\n</html>\n";
        http::respond(out, 200, html, &[], body.as_bytes(), close)?;
    } else {
        let body = format!("<html><body>Redirecting to <a href=\"{SSO_URL}\">{SSO_URL}</a></body></html>");
        http::respond(out, 302, html, &[("Location", SSO_URL.to_string())], body.as_bytes(), close)?;
    }
    Ok(Next::Keep)
}

fn web_info() -> Value {
    json!({
        "name": "北科大AI助手",
        "title": "北京科技大学 AI 助手",
        "logo": "/static/upload/web/logo.png",
        "pc_logo": "/static/upload/web/pc_logo.png",
        "favicon": "/favicon.ico",
        "isCas": true,
        "cookie_login_key": "cookie_vjuid_login",
        "cas_login_url": SSO_URL,
        "copyright": "© 北京科技大学",
        "icp": "京ICP备05016004号",
    })
}

fn deepseek_app() -> Value {
    json!({
        "id": 3, "classid": 0, "name": "DeepSeek",
        "desc": "基于 DeepSeek 大模型的北科大 AI 助手",
        "icon": "/static/upload/compose/deepseek.png",
        "welcome_message": "你好！我是北科大 AI 助手，有什么可以帮你？",
        "is_stream": 1, "model_ids": "1", "sort": 1, "status": 1,
        "create_time": "2025-02-10 09:00:00",
    })
}

fn qwen_app() -> Value {
    json!({
        "id": 5, "classid": 0, "name": "通义千问",
        "desc": "通义千问大模型",
        "icon": "/static/upload/compose/qwen.png",
        "welcome_message": "你好！有什么可以帮你？",
        "is_stream": 1, "model_ids": "2", "sort": 2, "status": 1,
        "create_time": "2025-03-01 09:00:00",
    })
}

/// The page settings of application 3 (DeepSeek) or 5 (通义千问); None for any other id.
/// Only `DeepSeek` is a known model name; the Qwen entries are made up.
fn page_setting(compose_id: &str) -> Option<Value> {
    let (id, models) = match compose_id {
        "3" => (3, json!([{ "label": "DeepSeek", "value": "DeepSeek" }])),
        "5" => (
            5,
            json!([
                { "label": "通义千问-Max", "value": "qwen-max" },
                { "label": "通义千问-Plus", "value": "qwen-plus" },
            ]),
        ),
        _ => return None,
    };
    Some(json!({
        "compose_id": id,
        "type": "pc",
        "model_select": {
            "is_show": 1,
            "model_content": { "label": "模型", "value": models },
        },
        "deepThinking_select": { "is_show": 1, "label": "深度思考", "default": 1 },
        "networking_select": { "is_show": 1, "label": "联网搜索", "default": 2 },
        "upload_select": { "is_show": 0 },
    }))
}

struct Message {
    id: u64,
    role: &'static str,
    content: String,
    ct: u64,
}

struct Session {
    id: u64,
    sess_id: String,
    compose_id: String,
    created: u64,
    updated: u64,
    deleted: bool,
    messages: Vec<Message>,
}

impl Session {
    /// One `session_list` entry; visitors (`uid` 0) get a `youke_sign`.
    fn list_item(&self, uid: i64) -> Value {
        let user = self.messages.iter().rev().find(|m| m.role == "user");
        let last: String = user.map_or("", |m| m.content.as_str()).chars().take(100).collect();
        let youke_sign = if uid == 0 { stable_id(&self.sess_id) } else { String::new() };
        json!({
            "id": self.id, "sess_id": self.sess_id, "uid": uid,
            "compose_id": compose_json(&self.compose_id),
            "create_time": beijing_time(self.created), "update_time": beijing_time(self.updated),
            "ext": "", "last_content": last, "is_delete": 0, "youke_sign": youke_sign,
            "ai_compose": { "id": 3, "name": "DeepSeek" },
        })
    }
}

/// Chats as the session endpoints show them.
#[derive(Default)]
pub(crate) struct Sessions {
    items: Vec<Session>,
    next_id: u64,
}

impl Sessions {
    pub(crate) fn create(&mut self, sess_id: Option<&str>, compose_id: &str) -> String {
        let sess_id = sess_id.map_or_else(random_hex32, str::to_string);
        self.next_id += 1;
        let now = unix_now();
        self.items.push(Session {
            id: self.next_id,
            sess_id: sess_id.clone(),
            compose_id: compose_id.to_string(),
            created: now,
            updated: now,
            deleted: false,
            messages: Vec::new(),
        });
        sess_id
    }

    /// Accepts either the numeric id or the `sess_id` string.
    fn find(&mut self, key: &str) -> Option<&mut Session> {
        self.items.iter_mut().find(|s| !s.deleted && (s.sess_id == key || s.id.to_string() == key))
    }

    fn add(&mut self, sess_key: Option<&str>, compose_id: &str, prompt: &str, answer: &str) {
        let key = match sess_key {
            Some(k) if self.find(k).is_some() => k.to_string(),
            other => self.create(other, compose_id),
        };
        let base = self.items.iter().map(|s| s.messages.len() as u64).sum::<u64>();
        if let Some(s) = self.find(&key) {
            let now = unix_now();
            s.updated = now;
            s.messages.push(Message { id: base + 1, role: "user", content: prompt.to_string(), ct: now });
            s.messages.push(Message { id: base + 2, role: "assistant", content: answer.to_string(), ct: now });
        }
    }

    fn delete(&mut self, key: &str) {
        if let Some(s) = self.find(key) {
            s.deleted = true;
        }
    }

    fn list(&self, page: usize, size: usize, uid: i64) -> Value {
        let mut live: Vec<&Session> = self.items.iter().filter(|s| !s.deleted && !s.messages.is_empty()).collect();
        live.sort_by_key(|s| std::cmp::Reverse((s.updated, s.id)));
        let start = (page - 1).saturating_mul(size);
        let items = live.into_iter().skip(start).take(size);
        Value::Array(items.map(|s| s.list_item(uid)).collect())
    }

    fn history(&mut self, key: &str) -> Value {
        let Some(s) = self.find(key) else {
            return json!([]);
        };
        let items = s.messages.iter().map(|m| {
            json!({
                "id": m.id, "sess_id": &s.sess_id, "compose_id": compose_json(&s.compose_id),
                "role": m.role, "content": &m.content, "ct": beijing_time(m.ct),
            })
        });
        Value::Array(items.collect())
    }
}

/// Numeric ids as numbers, anything else as sent.
fn compose_json(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| json!(id), Value::from)
}

impl Shared {
    pub(crate) fn record_chat(&self, session: Option<&str>, compose_id: &str, prompt: &str, answer: &str) {
        lock(&self.sessions).add(session, compose_id, prompt, answer);
    }
}
