//! Capture mode (the `record` option): every exchange is appended to a file as one JSON line,
//! with the body bytes exactly as read and the time of each read, so a capture from the real
//! server can be replayed as a test. Secrets are redacted before anything is written, keeping
//! their length and character class, so the redacted bytes still parse the same way: personal
//! fields by a JSON reader (`fields.rs`), then every form of each known secret by a byte search,
//! as the body is read (`body.rs`), so memory holds no whole reply.

mod body;
mod fields;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use self::body::{BodyCapture, Net, Spool};
use self::fields::{mask_escaped, MAX_LEARNED_VALUES};
use super::envelope::excerpt;
use super::http::Cookies;
use crate::error::{Error, Result};
use crate::redact::{forms, Kind};

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

/// The open capture file, shared by every request of a client.
pub struct Recorder {
    file: Mutex<File>,
    path: String,
    /// Where a long body is spooled (the capture's directory).
    dir: PathBuf,
    /// Values masked by field in earlier replies (the user's name, number…): every later
    /// exchange searches for them too.
    learned: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).finish()
    }
}

impl Recorder {
    /// Opens `path` for appending, created private (0600: it holds prompts). Anything but a
    /// regular file is refused, checked before and after the open, which does not block: a
    /// FIFO without a reader would block it forever.
    pub fn open(path: &str) -> Result<Arc<Recorder>> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let refuse =
            |why: &str| Error::invalid_argument(format!("cannot open the record file {}: {why}", excerpt(path)));
        const NOT_A_FILE: &str = "not a regular file (a FIFO, a device or a directory cannot hold a capture)";
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(refuse(NOT_A_FILE));
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| refuse(&e.to_string()))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(refuse(NOT_A_FILE));
        }
        // A regular file ignores O_NONBLOCK; cleared all the same, so writes are ordinary.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        let dir = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty());
        Ok(Arc::new(Recorder {
            file: Mutex::new(file),
            path: path.to_string(),
            dir: dir.map_or_else(|| PathBuf::from("."), PathBuf::from),
            learned: Mutex::new(Vec::new()),
        }))
    }

    fn learned(&self) -> Vec<String> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn learn(&self, values: Vec<String>) {
        let mut learned = self.learned.lock().unwrap_or_else(|p| p.into_inner());
        for v in values {
            if learned.len() < MAX_LEARNED_VALUES && !learned.contains(&v) {
                learned.push(v);
            }
        }
    }

    /// Appends one line: `head` (a JSON object without its closing brace), the reads, `tail`.
    fn append(&self, head: &str, reads: Spool, tail: &str) {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let file = &mut *file;
        // A capture is a diagnostic aid: a full disk must not fail the call being recorded.
        let _ = file
            .write_all(head.as_bytes())
            .and_then(|()| file.write_all(b",\"reads\":["))
            .and_then(|()| reads.copy_to(file))
            .and_then(|()| file.write_all(tail.as_bytes()));
    }
}

/// One request and its reply: the body goes to the capture as it is read (see `body.rs`),
/// the line is completed when the exchange is dropped (after the body's end, or abandoned).
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
    body: Option<BodyCapture>,
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
            body: None,
            end: None,
        }
    }

    /// The reply's status and headers; Set-Cookie values become secrets.
    pub fn head(&mut self, status: u16, headers: &ureq::http::HeaderMap) {
        self.status = Some(status);
        let mut sse = false;
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name.as_str().eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap_or("");
                if let Some((_, v)) = pair.split_once('=') {
                    self.secrets.push(v.trim().to_string());
                }
            }
            if name.as_str().eq_ignore_ascii_case("content-type") {
                sse = value.to_ascii_lowercase().contains("event-stream");
            }
            self.headers.push((name.as_str().to_string(), value));
        }
        self.body = Some(self.body_capture(sse));
    }

    fn body_capture(&self, sse: bool) -> BodyCapture {
        BodyCapture::new(self.net(&[]), sse, self.recorder.dir.clone())
    }

    /// The search for every form of each known secret (and of `more`).
    fn net(&self, more: &[String]) -> Net {
        let mut secrets = self.secrets.clone();
        secrets.extend(self.recorder.learned());
        secrets.extend(more.iter().cloned());
        Net::new(mask_pairs(&secrets, self.secrets.len()))
    }

    pub fn read(&mut self, bytes: &[u8]) {
        let at_ms = self.started.elapsed().as_millis() as u64;
        if self.body.is_none() {
            self.body = Some(self.body_capture(false));
        }
        if let Some(body) = self.body.as_mut() {
            body.read(at_ms, bytes);
        }
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

    /// The line's head (request, status, headers; without its closing brace) and tail (end,
    /// message), scrubbed of every secret known by now.
    fn head_and_tail(&self, learned: &[String], spool_failed: Option<&str>) -> (String, String) {
        let net = self.net(learned);
        let scrub = |s: &str| {
            let mut bytes = s.as_bytes().to_vec();
            net.apply(&mut bytes, 0);
            String::from_utf8_lossy(&bytes).into_owned()
        };
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
        let head = json!({
            "request": {
                "method": self.method,
                "path": redact_query(&scrub(&self.path)),
                "fields": fields,
                "cookies": self.cookie_names,
            },
            "status": self.status,
            "headers": headers,
        });
        let mut head = head.to_string();
        head.pop();
        let (end, message) = self.end.clone().unwrap_or(("abandoned", String::new()));
        let mut tail = json!({ "end": end });
        if !message.is_empty() {
            tail["message"] = json!(scrub(&message));
        }
        if let Some(why) = spool_failed {
            tail["note"] = json!(why);
        }
        let tail = tail.to_string();
        (head, format!("],{}\n", &tail[1..]))
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let (spool, learned) = match self.body.take() {
            Some(body) => body.finish(),
            None => (Spool::empty(), Vec::new()),
        };
        let (head, tail) = self.head_and_tail(&learned, spool.failed.as_deref());
        self.recorder.learn(learned);
        self.recorder.append(&head, spool, &tail);
    }
}

/// `(form, mask)` for every form of each secret (of `MIN_SECRET` bytes or more), longest
/// first. The first `cookies` secrets are cookie values: every form; the rest (values learned
/// from fields) only as text and escaped, which is how a reply would repeat them.
fn mask_pairs(secrets: &[String], cookies: usize) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        for (form, kind) in forms(secret) {
            let masked = match kind {
                Kind::Plain if i >= cookies && form != *secret => continue,
                Kind::Percent if i >= cookies => continue,
                Kind::Plain => mask(&form),
                Kind::Escaped => mask_escaped(&form),
                Kind::Percent => mask_percent(&form),
            };
            if masked.len() == form.len() && !pairs.iter().any(|(f, _)| *f == form) {
                pairs.push((form, masked));
            }
        }
    }
    pairs.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
    pairs
}

fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
        || ["password", "passcode", "code", "cookie"].iter().any(|k| lower.contains(k))
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

/// `%XX` kept (it is structure), everything else masked.
fn mask_percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hex = 0u8;
    for c in s.chars() {
        if hex > 0 {
            out.push(c);
            hex -= 1;
        } else if c == '%' {
            out.push(c);
            hex = 2;
        } else if c.is_ascii() {
            out.push(char::from(fields::mask_ascii(c as u8)));
        } else {
            out.push_str(&mask(&c.to_string()));
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
        assert_eq!(mask_percent("a%2Fb9"), "x%2Fx0");
        let pairs = mask_pairs(&["ab/c+d9".into(), "张同学".into()], 1);
        assert!(pairs.contains(&("ab%2Fc%2Bd9".into(), "xx%2Fx%2Bx0".into())), "{pairs:?}");
        assert!(pairs.contains(&("\\u5f20\\u540c\\u5b66".into(), "\\u67d0\\u67d0\\u67d0".into())), "{pairs:?}");
        assert!(!pairs.iter().any(|(f, _)| f.starts_with('%')), "{pairs:?}");
        assert_eq!(redact_query("/x?sid=ab12&n=3"), "/x?sid=xx00&n=3");
    }

    #[test]
    fn forms_are_read_back() {
        let m = super::super::multipart::encode(&[("content", "你好\r\n--x"), ("lck", "k")]);
        assert_eq!(parse_form(&m), vec![("content".into(), "你好\r\n--x".into()), ("lck".into(), "k".into())]);
    }

    /// CPU seconds of this thread (other processes' load does not count).
    fn thread_cpu() -> f64 {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    }

    /// CPU seconds to record a reply of `body` (8 KiB reads, as ureq gives them), median of 5.
    fn seconds_to_record(recorder: &Arc<Recorder>, body: &[u8]) -> f64 {
        let cookies = Cookies { easy_session: None, vjuid_login: Some("SECRET-login-value".into()) };
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let started = thread_cpu();
                let mut x = Exchange::new(recorder, "GET", "/site/voom/session_list", None, &cookies);
                x.head(200, &headers);
                body.chunks(8192).for_each(|read| x.read(read));
                x.end(Ok(()));
                drop(x);
                thread_cpu() - started
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[2]
    }

    /// Redaction is linear in the reply: a session list (every entry names the user's uid)
    /// twice as long takes at most ~2.5× the time.
    #[test]
    fn redaction_time_is_linear() {
        let path = std::env::temp_dir().join(format!("ustb-record-linear-{}.jsonl", std::process::id()));
        let recorder = Recorder::open(path.to_str().unwrap()).unwrap();
        let list = |n: usize| {
            let items: Vec<Value> = (0..n)
                .map(|i| json!({ "id": i, "sess_id": format!("{i:032x}"), "uid": 100231, "user_name": "张同学", "last_content": "你好" }))
                .collect();
            json!({ "e": 0, "m": "", "d": items }).to_string().into_bytes()
        };
        let (small, large) = (list(3000), list(6000));
        let (t1, t2) = (seconds_to_record(&recorder, &small), seconds_to_record(&recorder, &large));
        println!("CPU time to record a session list: 3000 entries {t1:.3} s, 6000 entries {t2:.3} s");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.lines().count(), 10);
        assert!(!text.contains("SECRET-login-value"));
        assert!(t2 / t1 < 2.5, "3000 entries: {t1:.3} s, 6000: {t2:.3} s");
    }
}
