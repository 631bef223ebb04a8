//! Minimal HTTP/1.1 server side: request heads, Content-Length bodies, replies, chunks.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: u64 = 64 * 1024 * 1024;

pub(crate) struct Request {
    pub method: String,
    /// Path with query string, as sent.
    pub target: String,
    pub version: String,
    /// Names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Multipart fields; `None` when the body is not (valid) multipart/form-data.
    pub form: Option<Vec<(String, String)>>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }

    pub(crate) fn query(&self, key: &str) -> Option<String> {
        let (_, q) = self.target.split_once('?')?;
        super::util::parse_urlencoded(q).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// All cookies of all `Cookie` headers.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    }

    /// Whether the client wants the connection closed after this exchange.
    pub(crate) fn wants_close(&self) -> bool {
        let tokens: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if tokens.iter().any(|t| t == "close") {
            return true;
        }
        self.version == "HTTP/1.0" && !tokens.iter().any(|t| t == "keep-alive")
    }
}

pub(crate) enum ReadError {
    /// The peer closed (or the socket failed) between requests: just stop.
    Gone,
    /// A reply status to send before closing; the partial request is kept for the record.
    Status(u16, Option<Box<Request>>),
}

/// Reads one request. Bodies need Content-Length: anything else is 411 (or 400 if malformed).
pub(crate) fn read_request(r: &mut BufReader<TcpStream>, w: &TcpStream) -> Result<Request, ReadError> {
    let lines = read_head_lines(r)?;
    let mut parts = lines[0].split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if v.starts_with("HTTP/1.") => (m, t, v),
        _ => return Err(ReadError::Status(400, None)),
    };
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        form: None,
    };
    for line in &lines[1..] {
        match line.split_once(':') {
            Some((n, v)) if !n.is_empty() && !n.ends_with(' ') => {
                req.headers.push((n.to_ascii_lowercase(), v.trim().to_string()))
            }
            _ => return Err(ReadError::Status(400, Some(Box::new(req)))),
        }
    }
    let len = match body_length(&req) {
        Ok(len) => len,
        Err(code) => return Err(ReadError::Status(code, Some(Box::new(req)))),
    };
    if len > 0 {
        let expects = req.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects {
            let mut w = w;
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| ReadError::Gone)?;
        }
        let mut body = vec![0; len as usize];
        r.read_exact(&mut body).map_err(|_| ReadError::Gone)?;
        req.body = body;
    }
    if let Some(boundary) = req.header("content-type").and_then(super::multipart::boundary) {
        req.form = super::multipart::parse(&req.body, &boundary);
    }
    Ok(req)
}

fn read_head_lines(r: &mut BufReader<TcpStream>) -> Result<Vec<String>, ReadError> {
    let mut lines = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let limit = (MAX_HEAD - total + 1) as u64;
        let n = r.by_ref().take(limit).read_until(b'\n', &mut line).map_err(|_| ReadError::Gone)?;
        total += n;
        if total > MAX_HEAD {
            return Err(ReadError::Status(431, None));
        }
        if n == 0 || !line.ends_with(b"\n") {
            return Err(ReadError::Gone);
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            if lines.is_empty() {
                continue; // stray CRLF between keep-alive requests
            }
            return Ok(lines);
        }
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
}

fn body_length(req: &Request) -> Result<u64, u16> {
    if req.header("transfer-encoding").is_some() {
        return Err(411);
    }
    let mut lengths = req.headers.iter().filter(|(n, _)| n == "content-length").map(|(_, v)| v);
    let Some(first) = lengths.next() else {
        let needs_body = matches!(req.method.as_str(), "POST" | "PUT" | "PATCH");
        return if needs_body { Err(411) } else { Ok(0) };
    };
    if lengths.any(|v| v != first) || first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(400);
    }
    match first.parse::<u64>() {
        Ok(n) if n <= MAX_BODY => Ok(n),
        Ok(_) => Err(413),
        Err(_) => Err(400),
    }
}

pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

/// One complete reply with Content-Length, written in a single call.
pub(crate) fn respond(
    out: impl Write,
    code: u16,
    content_type: &str,
    extra: &[(&str, String)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    respond_with_length(out, code, content_type, extra, body, body.len(), close)
}

/// Like `respond`, but with a `Content-Length` that may lie about the body.
pub(crate) fn respond_with_length(
    mut out: impl Write,
    code: u16,
    content_type: &str,
    extra: &[(&str, String)],
    body: &[u8],
    length: usize,
    close: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {code} {}\r\nServer: ustb-emulator\r\n", reason(code));
    head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {length}\r\n"));
    push_headers(&mut head, extra, close);
    let mut buf = head.into_bytes();
    buf.extend_from_slice(body);
    out.write_all(&buf)?;
    out.flush()
}

fn push_headers(head: &mut String, extra: &[(&str, String)], close: bool) {
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
}

/// The head of a chunked `text/event-stream` reply, with extra headers.
pub(crate) fn start_event_stream(mut out: impl Write, extra: &[(&str, String)], close: bool) -> io::Result<()> {
    let mut head = "HTTP/1.1 200 OK\r\nServer: ustb-emulator\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
                    Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n"
        .to_string();
    push_headers(&mut head, extra, close);
    out.write_all(head.as_bytes())?;
    out.flush()
}

/// One HTTP chunk, written in a single call so each event arrives as one unit.
pub(crate) fn write_chunk(out: impl Write, data: &[u8]) -> io::Result<()> {
    write_chunk_sized(out, data, data.len())
}

/// One HTTP chunk whose size line says `size` (which may lie about `data`).
pub(crate) fn write_chunk_sized(mut out: impl Write, data: &[u8], size: usize) -> io::Result<()> {
    let mut buf = format!("{size:x}\r\n").into_bytes();
    buf.extend_from_slice(data);
    buf.extend_from_slice(b"\r\n");
    out.write_all(&buf)?;
    out.flush()
}

pub(crate) fn end_chunks(mut out: impl Write) -> io::Result<()> {
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}
