//! Tests with a raw std TcpStream client, so they exercise the wire format itself.

mod chat;
mod connection;
mod directives;
mod server_faults;
mod site;
mod sso;
mod units;

use super::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const COOKIE: &str = "easy_session=abcdefghijklmnopqrstuvwxyz012345; cookie_vjuid_login=test-login";
const BOUNDARY: &str = "----emutestBoundary7MA4YWxkTrZu0gW";

fn start(config: Config) -> Emulator {
    Emulator::start(config, "127.0.0.1:0").expect("emulator starts")
}

fn vector(name: &str) -> String {
    let local = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let path = if std::path::Path::new(&local).exists() { local } else { format!("/work/shared/vectors/{name}") };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("vector {path}: {e}"))
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Chunk payloads, for chunked replies.
    chunks: Vec<Vec<u8>>,
    /// A chunked body ended with the terminating chunk.
    clean_end: bool,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
    /// SSE `data:` payloads (LF framing).
    fn payloads(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").expect("data line").to_string())
            .collect()
    }
}

struct Client {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Client {
    fn connect(e: &Emulator) -> Client {
        let stream = TcpStream::connect(e.addr()).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { reader: BufReader::new(stream.try_clone().unwrap()), stream }
    }

    fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("send");
    }

    fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf).ok()?;
        (n > 0 && buf.ends_with(b"\r\n")).then(|| String::from_utf8_lossy(&buf[..buf.len() - 2]).into_owned())
    }

    /// The status and headers (names lower-cased) of the next reply.
    fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let status_line = self.line().expect("status line");
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
        let mut headers = Vec::new();
        while let Some(line) = self.line() {
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').expect("header");
            headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
        }
        (status, headers)
    }

    fn read_response(&mut self) -> Resp {
        let (status, headers) = self.read_head();
        let mut resp = Resp { status, headers, body: Vec::new(), chunks: Vec::new(), clean_end: false };
        if status < 200 {
            return resp; // interim reply, no body
        }
        if resp.header("transfer-encoding") == Some("chunked") {
            while let Some(size) = self.line() {
                let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
                if size == 0 {
                    resp.clean_end = self.line() == Some(String::new());
                    break;
                }
                let mut data = vec![0; size + 2];
                if self.reader.read_exact(&mut data).is_err() {
                    break;
                }
                assert_eq!(&data[size..], b"\r\n", "chunk trailer");
                data.truncate(size);
                resp.body.extend_from_slice(&data);
                resp.chunks.push(data);
            }
        } else {
            let len: usize = resp.header("content-length").expect("content-length").parse().unwrap();
            resp.body = vec![0; len];
            self.reader.read_exact(&mut resp.body).expect("body");
        }
        resp
    }

    fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let _ = self.reader.read_to_end(&mut all);
        all
    }
}

fn multipart(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post(path: &str, content_type: &str, body: &[u8], cookie: Option<&str>, extra: &str) -> Vec<u8> {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: chat.ustb.edu.cn\r\n{cookie}Content-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn chat_raw(fields: &[(&str, &str)], cookie: Option<&str>, extra: &str) -> Vec<u8> {
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    post("/site/ai/compose_chat", &ct, &multipart(fields), cookie, extra)
}

fn get_raw(path: &str, cookie: Option<&str>, extra: &str) -> Vec<u8> {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: chat.ustb.edu.cn\r\n{cookie}{extra}\r\n").into_bytes()
}

fn request(e: &Emulator, raw: &[u8]) -> Resp {
    let mut c = Client::connect(e);
    c.send(raw);
    c.read_response()
}

fn chat(e: &Emulator, prompt: &str) -> Resp {
    request(e, &chat_raw(&[("compose_id", "3"), ("content", prompt)], Some(COOKIE), ""))
}

#[derive(Default, Debug)]
struct Decoded {
    reasoning: String,
    content: String,
    answers: String,
    finish: Option<String>,
    usage: Option<Value>,
}

/// Decodes envelopes and their `original_stream` (parsed a second time).
fn decode(payloads: &[String]) -> Decoded {
    let mut out = Decoded::default();
    for p in payloads {
        let ev: Value = serde_json::from_str(p).unwrap_or_else(|e| panic!("event {p}: {e}"));
        assert_eq!(ev["e"], 0, "{p}");
        out.answers.push_str(ev["d"]["answer"].as_str().expect("answer"));
        let Some(os) = ev["d"]["ext"]["original_stream"].as_str() else {
            continue;
        };
        let chunk: Value = serde_json::from_str(os).expect("inner json");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if let Some(u) = chunk.get("usage") {
            out.usage = Some(u.clone());
        }
        for c in chunk["choices"].as_array().expect("choices") {
            if let Some(r) = c["delta"]["reasoning_content"].as_str() {
                out.reasoning.push_str(r);
            }
            if let Some(t) = c["delta"]["content"].as_str() {
                out.content.push_str(t);
            }
            if let Some(f) = c["finish_reason"].as_str() {
                out.finish = Some(f.to_string());
            }
        }
    }
    out
}

/// Object keys, depth first, in textual order (serde_json's `preserve_order` keeps it).
fn key_sequence(json: &str) -> Vec<String> {
    fn walk(v: &Value, keys: &mut Vec<String>) {
        match v {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                keys.push(k.clone());
                walk(v, keys);
            }),
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    walk(&serde_json::from_str(json).expect("json"), &mut keys);
    keys
}

fn inner(payload: &str) -> String {
    let ev: Value = serde_json::from_str(payload).unwrap();
    ev["d"]["ext"]["original_stream"].as_str().unwrap().to_string()
}
