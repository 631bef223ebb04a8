//! Server faults of `POST /site/ai/compose_chat` beyond the reply's content: whole replies that
//! are not a chat stream (HTML pages, JSON errors, redirects, a gzip body, echoed cookies), and
//! what happens on the wire while a stream is sent (framing, write sizes, extra headers).
//! `chat.rs` parses the directives and calls in here.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::http::{self, Request};
use super::json::error_envelope;
use super::{Next, Shared};

/// Size of the `@emu:huge-header` header value.
pub(crate) const HUGE_HEADER: usize = 1024 * 1024;
/// `@emu:endless-line` stops after this much even if the client keeps reading.
const ENDLESS_CAP: u64 = 1 << 30;
/// Pause between the two writes of `@emu:split-char`, so they arrive as two TCP segments.
const SPLIT_PAUSE: Duration = Duration::from_millis(50);
/// A server-issued `easy_session` that no client should accept: 40 characters, not 32
/// alphanumerics.
pub(crate) const BAD_SESSION: &str = "0123456789abcdef0123456789!$%&*+-.^_|~@A";
/// Where `@emu:redirect` points: another host (never resolvable).
pub(crate) const REDIRECT_TO: &str = "http://sso.ustb.invalid/idp/authCenter/authenticate?state=ustb";
const NGINX_500: &str = "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n\
                         <center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n\
                         </body>\r\n</html>\r\n";
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                         <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                         </body>\r\n</html>\r\n";
/// What an expired campus login can look like: the SSO page, with 200.
const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head><meta charset=\"utf-8\">\
                          <title>统一身份认证平台</title></head>\n<body><form method=\"post\" \
                          action=\"https://sso.ustb.edu.cn/idp/authCenter/authenticate\">\
                          <input name=\"username\"><input name=\"password\" type=\"password\">\
                          <button>登录</button></form></body>\n</html>\n";
/// gzip (mtime 0, level 9, made once with Python's gzip module) of one answer-only event,
/// `data: {…"answer":"你好！我是北科大 AI 助手。"…}` and a blank line: 178 bytes unpacked.
pub(crate) const GZIP_SSE: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0x49, 0x2c, 0x49, 0xb4, 0x52, 0xa8, 0x56, 0x4a,
    0x55, 0xb2, 0x32, 0xd0, 0x51, 0xca, 0x55, 0xb2, 0x52, 0x7a, 0x36, 0xb9, 0xf7, 0xc9, 0xde, 0x39, 0xcf, 0x3a, 0x26,
    0x3c, 0xed, 0x9a, 0xaf, 0xa4, 0xa3, 0x94, 0xa2, 0x64, 0x55, 0xad, 0x54, 0x52, 0x59, 0x00, 0x54, 0xa0, 0x64, 0x00,
    0xe4, 0x27, 0xe6, 0x15, 0x97, 0xa7, 0x16, 0x01, 0x39, 0x4f, 0xf6, 0x2e, 0x78, 0xba, 0x74, 0xef, 0xfb, 0x3d, 0x8d,
    0xcf, 0x3a, 0x26, 0x3e, 0x9b, 0xb1, 0xfe, 0x69, 0xcf, 0xf4, 0xe7, 0xcb, 0x27, 0x3e, 0x5d, 0xb2, 0x5c, 0xc1, 0xd1,
    0x53, 0xe1, 0x69, 0xd7, 0xca, 0x67, 0x9d, 0xdd, 0x8f, 0x1b, 0x9a, 0x80, 0x1a, 0x4a, 0x8b, 0x72, 0x80, 0xaa, 0x81,
    0x8c, 0xdc, 0xd4, 0xe2, 0xe2, 0xc4, 0xf4, 0xd4, 0xf8, 0x4c, 0xa0, 0x91, 0x4a, 0xe9, 0x55, 0x40, 0x11, 0x04, 0xab,
    0x28, 0x35, 0x39, 0x3f, 0x37, 0x37, 0x35, 0x2f, 0x25, 0x3e, 0x05, 0xe8, 0x20, 0x25, 0xab, 0xe8, 0x58, 0x1d, 0xa5,
    0xe2, 0xfc, 0xd2, 0xa2, 0xe4, 0x54, 0x08, 0x3b, 0xb5, 0xa2, 0x04, 0xc4, 0xa8, 0xad, 0xe5, 0xe2, 0x02, 0x00, 0x5b,
    0xcc, 0x63, 0xd5, 0xb2, 0x00, 0x00, 0x00,
];

/// The request's `Cookie` headers, verbatim (joined with `; ` if there are several).
fn cookie_header(req: &Request) -> String {
    let values: Vec<&str> = req.headers.iter().filter(|(n, _)| n == "cookie").map(|(_, v)| v.as_str()).collect();
    values.join("; ")
}

/// The reply for a directive that replaces the chat stream entirely, if `has` names one.
pub(crate) fn whole_reply(
    has: impl Fn(&str) -> bool,
    req: &Request,
    out: &TcpStream,
    close: bool,
) -> Option<io::Result<Next>> {
    let html = "text/html; charset=utf-8";
    let page = |code, body: &str| http::respond(out, code, html, &[], body.as_bytes(), close).map(|()| Next::Keep);
    let json = |body: Value| {
        let ct = "application/json; charset=utf-8";
        http::respond(out, 200, ct, &[], body.to_string().as_bytes(), close).map(|()| Next::Keep)
    };
    let reply = if has("close-before-headers") {
        Ok(Next::Close) // nothing written; the caller closes
    } else if has("http500") {
        page(500, NGINX_500)
    } else if has("http502") {
        page(502, NGINX_502)
    } else if has("login-page") {
        page(200, LOGIN_PAGE)
    } else if has("json-4028") {
        json(error_envelope(4028, "history参数异常"))
    } else if has("json-10042") {
        json(error_envelope(10042, "请登录"))
    } else if has("redirect") {
        let body = format!("<html><body>Redirecting to <a href=\"{REDIRECT_TO}\">login</a></body></html>");
        let location = [("Location", REDIRECT_TO.to_string())];
        http::respond(out, 302, html, &location, body.as_bytes(), close).map(|()| Next::Keep)
    } else if has("gzip") {
        let extra = [("Content-Encoding", "gzip".to_string())];
        let sse = "text/event-stream; charset=utf-8";
        http::respond(out, 200, sse, &extra, GZIP_SSE, close).map(|()| Next::Keep)
    } else if has("echo-cookie-400") {
        let cookie = cookie_header(req);
        page(400, &format!("<html><body><h1>400 Bad Request</h1><p>Invalid cookie: {cookie}</p></body></html>"))
    } else if has("echo-cookie-html") {
        let cookie = cookie_header(req);
        page(200, &format!("<html><body><p>您的会话：{cookie}</p></body></html>"))
    } else {
        return None;
    };
    Some(reply)
}

/// The `data:` payload of `@emu:echo-cookie-sse`: an error envelope quoting the cookies.
pub(crate) fn echo_cookie_event(req: &Request) -> String {
    error_envelope(10001, &format!("非法请求，Cookie：{}", cookie_header(req))).to_string()
}

/// How a chat stream goes over the wire.
#[derive(Default)]
pub(crate) struct Wire {
    /// `: ping` comment lines before every event.
    pub comments: bool,
    /// The first event with text carries bytes that are not UTF-8.
    pub invalid_utf8: bool,
    /// The first multi-byte character is split across two writes.
    pub split_char: bool,
    /// One byte per write, head included.
    pub byte_per_write: bool,
    /// The size line of the event after the first content event is 5 short.
    pub lying_chunk: bool,
    /// No chunked framing but a `Content-Length` that lies (then close).
    pub length: Option<Length>,
    /// Headers added to the reply head.
    pub extra_headers: Vec<(&'static str, String)>,
}

impl Wire {
    pub(crate) fn from_directives(has: impl Fn(&str) -> bool) -> Wire {
        let mut extra_headers = Vec::new();
        if has("huge-header") {
            extra_headers.push(("X-Padding", "a".repeat(HUGE_HEADER)));
        }
        if has("bad-session-cookie") {
            extra_headers.push(("Set-Cookie", format!("easy_session={BAD_SESSION}; path=/; HttpOnly")));
        }
        let length = if has("length-short") {
            Some(Length::Short)
        } else if has("length-long") {
            Some(Length::Long)
        } else {
            None
        };
        Wire {
            comments: has("comments"),
            invalid_utf8: has("invalid-utf8"),
            split_char: has("split-char"),
            byte_per_write: has("byte-per-write"),
            lying_chunk: has("chunk-lie"),
            length,
            extra_headers,
        }
    }

    /// The bytes of one event, with its comment line and corruption if asked for.
    pub(crate) fn frame(&self, payload: &str, eol: &str, first_content: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        if self.comments {
            bytes.extend_from_slice(format!(": ping{eol}{eol}").as_bytes());
        }
        bytes.extend_from_slice(format!("data: {payload}{eol}{eol}").as_bytes());
        if self.invalid_utf8 && first_content {
            // 0xFF never occurs in UTF-8: replace the first byte of every multi-byte character.
            let mut at = 0;
            while at < bytes.len() {
                let lead = bytes[at];
                let len = match lead {
                    0xC0..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    0xF0..=0xF7 => 4,
                    _ => 1,
                };
                if len > 1 {
                    bytes[at] = 0xFF;
                }
                at += len;
            }
        }
        bytes
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Length {
    /// Half the body: the cut falls among the content events.
    Short,
    /// 200 bytes more than the body, which then ends with the connection.
    Long,
}

impl Length {
    pub(crate) fn of(self, body: usize) -> usize {
        match self {
            Length::Short => body / 2,
            Length::Long => body + 200,
        }
    }
}

/// Writes each byte with its own call (and flush), for `@emu:byte-per-write`.
pub(crate) struct Trickle<W>(pub W);

impl<W: Write> Write for Trickle<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(first) = buf.first() else {
            return Ok(0);
        };
        self.0.write_all(std::slice::from_ref(first))?;
        self.0.flush()?;
        Ok(1)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// One event as an HTTP chunk, split in the middle of its first multi-byte character: two
/// writes with a pause between them.
pub(crate) fn write_split_chunk(mut out: impl Write, data: &[u8]) -> io::Result<bool> {
    let Some(lead) = data.iter().position(|b| *b >= 0xC0) else {
        http::write_chunk(out, data)?;
        return Ok(false);
    };
    let cut = lead + 1;
    let mut first = format!("{:x}\r\n", data.len()).into_bytes();
    first.extend_from_slice(&data[..cut]);
    out.write_all(&first)?;
    out.flush()?;
    thread::sleep(SPLIT_PAUSE);
    let mut rest = data[cut..].to_vec();
    rest.extend_from_slice(b"\r\n");
    out.write_all(&rest)?;
    out.flush()?;
    Ok(true)
}

/// `@emu:headers-then-silent`: the event-stream head, then nothing until the client leaves.
pub(crate) fn headers_then_silence(sh: &Shared, out: &TcpStream, limit: Duration) -> io::Result<Next> {
    http::start_event_stream(out, &[], true)?;
    sh.stall(out, limit);
    let _ = out.shutdown(Shutdown::Both);
    Ok(Next::Close)
}

/// `@emu:endless-line`: an event-stream head, then one `data:` line that never ends, sent in
/// 64 KiB chunks until the client goes away, the emulator stops, or 1 GiB was sent.
pub(crate) fn endless_line(sh: &Shared, out: &TcpStream) -> io::Result<Next> {
    http::start_event_stream(out, &[], true)?;
    http::write_chunk(out, br#"data: {"e":0,"m":""#)?;
    let piece = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    while !sh.stopping() && sent < ENDLESS_CAP {
        if http::write_chunk(out, &piece).is_err() {
            break; // the client went away: that is the point
        }
        sent += piece.len() as u64;
    }
    let _ = out.shutdown(Shutdown::Both);
    Ok(Next::Close)
}
