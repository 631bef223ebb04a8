//! Capture mode (the `record` option): every exchange is appended to a file as one JSON line,
//! with the body bytes exactly as read and the time of each read, so a capture from the real
//! server can be replayed as a test. Secrets are redacted before anything is written, keeping
//! their length and character class, so the redacted bytes still parse the same way.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use serde_json::{json, Value};

use super::envelope::excerpt;
use super::http::Cookies;
use crate::error::{Error, Result};

/// Keys whose values in a JSON reply body are personal (user_info and the SSO replies).
const SECRET_KEYS: &[&str] = &[
    "user_name",
    "user_number",
    "account",
    "uid",
    "real_name",
    "nickname",
    "phone",
    "mobile",
    "email",
    "token",
    "sid",
    "lck",
    "appId",
    "randomToken",
];
/// Shorter values cannot be replaced throughout a body without mangling unrelated bytes.
const MIN_SECRET_LEN: usize = 4;

/// The open capture file, shared by every request of a client.
pub struct Recorder {
    file: Mutex<File>,
    path: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).finish()
    }
}

impl Recorder {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &str) -> Result<Arc<Recorder>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::invalid_argument(format!("cannot open the record file {}: {e}", excerpt(path))))?;
        Ok(Arc::new(Recorder { file: Mutex::new(file), path: path.to_string() }))
    }

    fn append(&self, line: &str) {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A capture is a diagnostic aid: a full disk must not fail the call being recorded.
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

/// One request and its reply, written when dropped (after the body's end, or when abandoned).
pub struct Exchange {
    recorder: Arc<Recorder>,
    started: Instant,
    method: String,
    path: String,
    fields: Vec<(String, String)>,
    secrets: Vec<String>,
    cookie_names: Vec<&'static str>,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    reads: Vec<(u128, Vec<u8>)>,
    end: Option<(&'static str, String)>,
}

impl Exchange {
    pub fn new(
        recorder: &Arc<Recorder>,
        method: &str,
        path: &str,
        form: Option<&super::multipart::Multipart>,
        cookies: &Cookies,
    ) -> Exchange {
        let mut cookie_names = Vec::new();
        let mut secrets = Vec::new();
        for (name, value) in [("easy_session", &cookies.easy_session), ("cookie_vjuid_login", &cookies.vjuid_login)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                cookie_names.push(name);
                secrets.push(v.to_string());
            }
        }
        Exchange {
            recorder: recorder.clone(),
            started: Instant::now(),
            method: method.to_string(),
            path: path.to_string(),
            fields: form.map(parse_form).unwrap_or_default(),
            secrets,
            cookie_names,
            status: None,
            headers: Vec::new(),
            reads: Vec::new(),
            end: None,
        }
    }

    /// The reply's status and headers; Set-Cookie values become secrets.
    pub fn head(&mut self, status: u16, headers: &ureq::http::HeaderMap) {
        self.status = Some(status);
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name.as_str().eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap_or("");
                if let Some((_, v)) = pair.split_once('=') {
                    self.secrets.push(v.trim().to_string());
                }
            }
            self.headers.push((name.as_str().to_string(), value));
        }
    }

    pub fn read(&mut self, bytes: &[u8]) {
        self.reads.push((self.started.elapsed().as_millis(), bytes.to_vec()));
    }

    /// The reply ended: `eof`, or the error (before or during the body).
    pub fn end(&mut self, outcome: std::result::Result<(), &Error>) {
        if self.end.is_none() {
            self.end = Some(match outcome {
                Ok(()) => ("eof", String::new()),
                Err(e) => (e.kind.name(), e.message.clone()),
            });
        }
    }

    fn to_json(&self) -> Value {
        let mut secrets = self.secrets.clone();
        secrets.extend(body_secrets(&self.reads));
        secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let scrub = |s: &str| String::from_utf8_lossy(&redact_bytes(s.as_bytes(), &secrets)).into_owned();
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_key(k) { mask(v) } else { scrub(v) };
                json!([k, v])
            })
            .collect();
        let headers: Vec<Value> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("set-cookie") { mask_set_cookie(v) } else { scrub(v) };
                json!([k, v])
            })
            .collect();
        // Redact the whole body at once (a secret may span reads), then cut it where the reads were.
        let whole: Vec<u8> = self.reads.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let whole = redact_bytes(&whole, &secrets);
        let (mut at, mut reads) = (0, Vec::new());
        for (ms, b) in &self.reads {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&whole[at..at + b.len()]);
            reads.push(json!({ "at_ms": *ms as u64, "b64": b64 }));
            at += b.len();
        }
        let (end, message) = self.end.clone().unwrap_or(("abandoned", String::new()));
        let mut record = json!({
            "request": {
                "method": self.method,
                "path": redact_query(&scrub(&self.path)),
                "fields": fields,
                "cookies": self.cookie_names,
            },
            "status": self.status,
            "headers": headers,
            "reads": reads,
            "end": end,
        });
        if !message.is_empty() {
            record["message"] = json!(scrub(&message));
        }
        record
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let line = self.to_json().to_string();
        self.recorder.append(&line);
    }
}

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
        || ["password", "passcode", "code", "cookie"].iter().any(|k| key.to_ascii_lowercase().contains(k))
}

/// Same length and class: letters become x/X, digits 0, other characters one of the same
/// UTF-8 length; ASCII punctuation stays (it carries structure, not identity).
pub fn mask(s: &str) -> String {
    // A number stays a valid JSON number (no leading zero).
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return format!("1{}", "0".repeat(s.len() - 1));
    }
    s.chars()
        .map(|c| match c {
            'a'..='z' => 'x',
            'A'..='Z' => 'X',
            '0'..='9' => '0',
            c if c.is_ascii() => c,
            c => match c.len_utf8() {
                2 => 'ß',
                3 => '某',
                _ => '𠀀',
            },
        })
        .collect()
}

/// `name=value; attributes` with the value masked.
fn mask_set_cookie(v: &str) -> String {
    let (pair, rest) = v.split_at(v.find(';').unwrap_or(v.len()));
    match pair.split_once('=') {
        Some((name, value)) => format!("{name}={}{rest}", mask(value)),
        None => mask(v),
    }
}

/// Every occurrence of each secret replaced by its mask (same bytes length).
pub fn redact_bytes(data: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = data.to_vec();
    for secret in secrets {
        let masked = mask(secret);
        let (needle, with) = (secret.as_bytes(), masked.as_bytes());
        let finder = memchr::memmem::Finder::new(needle);
        let mut from = 0;
        while let Some(i) = finder.find(&out[from..]) {
            let at = from + i;
            out[at..at + needle.len()].copy_from_slice(with);
            from = at + needle.len();
        }
    }
    out
}

/// Query values under secret keys masked.
fn redact_query(path: &str) -> String {
    let Some((base, query)) = path.split_once('?') else { return path.to_string() };
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) if is_secret_key(k) => format!("{k}={}", mask(v)),
            _ => p.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// The values of personal keys in a JSON body (not in event streams, which hold none).
fn body_secrets(reads: &[(u128, Vec<u8>)]) -> Vec<String> {
    let whole: Vec<u8> = reads.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<Value>(&whole) {
        collect_secrets(&v, &mut out);
    }
    out
}

fn collect_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if is_secret_key(k) => out.push(s.clone()),
                    Value::Number(n) if is_secret_key(k) => out.push(n.to_string()),
                    _ => collect_secrets(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_secrets(i, out)),
        _ => {}
    }
}

/// The (name, value) pairs of a body made by `multipart::encode`.
fn parse_form(form: &super::multipart::Multipart) -> Vec<(String, String)> {
    let Some(boundary) = form.content_type.split("boundary=").nth(1) else { return Vec::new() };
    let text = String::from_utf8_lossy(&form.body);
    text.split(&format!("--{boundary}"))
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head.split("name=\"").nth(1)?.strip_suffix('"')?;
            Some((name.to_string(), value.strip_suffix("\r\n").unwrap_or(value).to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_length_and_class() {
        let s = "Ab3xYz09Ab3xYz09Ab3xYz09Ab3xYz09";
        let m = mask(s);
        assert_eq!(m.len(), 32);
        assert!(Cookies::valid_easy_session(&m));
        assert_eq!(mask("张三-1"), "某某-0");
        assert_eq!(mask("张三").len(), "张三".len());
        assert_eq!(mask("100231"), "100000");
        assert_eq!(mask_set_cookie("easy_session=abC9; Path=/"), "easy_session=xxX0; Path=/");
        assert_eq!(redact_bytes(b"a secret here, secret", &["secret".into()]), b"a xxxxxx here, xxxxxx");
        assert_eq!(redact_query("/x?sid=ab12&n=3"), "/x?sid=xx00&n=3");
    }

    #[test]
    fn forms_are_read_back() {
        let m = super::super::multipart::encode(&[("content", "你好\r\n--x"), ("lck", "k")]);
        assert_eq!(parse_form(&m), vec![("content".into(), "你好\r\n--x".into()), ("lck".into(), "k".into())]);
    }
}
