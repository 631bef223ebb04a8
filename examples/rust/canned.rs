//! Captured replies and the canned server that replays them.
//!
//! A reply is captured once from the real emulator over a plain socket (head and chunked body,
//! byte for byte), then served from memory by a tiny HTTP server, so throughput figures measure
//! the client and never the emulator, and every client reads exactly the same bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

/// One captured reply.
pub struct Capture {
    /// The whole HTTP response as sent: head and chunked body.
    pub response: Vec<u8>,
    /// The SSE body with the chunked framing removed (what the in-memory floors read).
    pub body: Vec<u8>,
}

/// The chat request a browser sends, as raw bytes (multipart form, login cookie, keep-alive).
pub fn chat_request(addr: &str, prompt: &str) -> Vec<u8> {
    let b = "b0undary";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n{prompt}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"compose_id\"\r\n\r\n3\r\n--{b}--\r\n"
    );
    format!(
        "POST /site/ai/compose_chat HTTP/1.1\r\nHost: {addr}\r\nCookie: cookie_vjuid_login=bench\r\n\
         Content-Type: multipart/form-data; boundary={b}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `prompt` to the emulator at `addr` and records its reply exactly.
pub fn capture(addr: &str, prompt: &str) -> Capture {
    let mut sock = TcpStream::connect(addr).expect("connect to the emulator");
    sock.write_all(&chat_request(addr, prompt)).unwrap();
    let mut r = BufReader::with_capacity(1 << 20, sock);
    let mut response = Vec::new();
    let mut chunked = false;
    loop {
        let line = read_line(&mut r, &mut response);
        let lower = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if lower.starts_with("connection:") && lower.contains("close") {
            panic!("the emulator closed the reply to {prompt}; the canned server needs keep-alive");
        }
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        if line == b"\r\n" {
            break;
        }
    }
    assert!(chunked, "expected a chunked event stream for {prompt}");
    let mut body = Vec::new();
    loop {
        let size_line = read_line(&mut r, &mut response);
        let hex = String::from_utf8_lossy(&size_line);
        let hex = hex.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(hex, 16).expect("chunk size");
        if size == 0 {
            while read_line(&mut r, &mut response) != b"\r\n" {}
            break;
        }
        let start = response.len();
        response.resize(start + size, 0);
        r.read_exact(&mut response[start..]).unwrap();
        body.extend_from_slice(&response[start..]);
        assert_eq!(read_line(&mut r, &mut response), b"\r\n", "chunk end");
    }
    Capture { response, body }
}

/// Reads one line (with its end) and appends it to `record` too.
fn read_line(r: &mut impl BufRead, record: &mut Vec<u8>) -> Vec<u8> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line).unwrap();
    assert!(n > 0, "the emulator closed the connection early");
    record.extend_from_slice(&line);
    line
}

/// A server that answers every request with one stored response, on kept-alive connections.
pub struct Canned {
    pub addr: String,
    pub url: String,
    accepts: Arc<AtomicU64>,
}

impl Canned {
    /// Listens on a free loopback port; the threads live until the process ends.
    pub fn start(response: Vec<u8>) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepts = Arc::new(AtomicU64::new(0));
        let response = Arc::new(response);
        let counter = accepts.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                counter.fetch_add(1, Ordering::Relaxed);
                let response = response.clone();
                thread::spawn(move || serve(conn, &response));
            }
        });
        Canned { url: format!("http://{addr}"), addr, accepts }
    }

    /// TCP connections accepted so far.
    pub fn accepts(&self) -> u64 {
        self.accepts.load(Ordering::Relaxed)
    }
}

/// Reads each request (head and Content-Length body) and writes the stored response at once.
fn serve(conn: TcpStream, response: &[u8]) {
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if r.read_exact(&mut body).is_err() || writer.write_all(response).is_err() {
            return;
        }
    }
}

/// The raw-socket floor: one request on a fresh connection, then `len` bytes read with no
/// parsing at all. Returns the seconds to the first byte and to the last.
pub fn raw_read(addr: &str, prompt: &str, len: usize) -> (f64, f64) {
    let t = std::time::Instant::now();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_nodelay(true).unwrap();
    sock.write_all(&chat_request(addr, prompt)).unwrap();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0;
    let mut first = None;
    while total < len {
        match sock.read(&mut buf).unwrap() {
            0 => panic!("the canned server closed after {total} of {len} bytes"),
            n => total += n,
        }
        first.get_or_insert_with(|| t.elapsed().as_secs_f64());
    }
    (first.unwrap(), t.elapsed().as_secs_f64())
}
