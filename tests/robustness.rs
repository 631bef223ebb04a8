//! Hostile servers: mutated replies (bit flips, cuts, garbage, bad chunking) through the whole
//! stack must end in OK or a documented error status, never a panic or a hang.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use ustb_openai::ffi::ustb_status;

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.index(6) {
        if v.is_empty() {
            break;
        }
        let at = rng.index(v.len());
        match rng.index(6) {
            0 => v[at] ^= 1 << rng.index(8),
            1 => v.truncate(at),
            2 => {
                v.remove(at);
            }
            3 => v.insert(at, [b'\n', b'\r', b'"', b'{', b'}', b':', 0xE5, 0xFF][rng.index(8)]),
            4 => {
                let len = rng.index(40).min(v.len() - at);
                let piece = v[at..at + len].to_vec();
                v.splice(at..at, piece);
            }
            _ => v[at] = rng.index(256) as u8,
        }
    }
    v
}

/// Serves each connection one canned HTTP reply, then closes.
fn serve(replies: std::sync::mpsc::Receiver<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for reply in replies {
            let (mut sock, _) = listener.accept().unwrap();
            read_request(&mut sock);
            let _ = sock.write_all(&reply);
        }
    });
    (url, handle)
}

fn read_request(sock: &mut TcpStream) {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Headers, then Content-Length bytes of body.
    while let Ok(n) = sock.read(&mut chunk) {
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return;
            }
        }
    }
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(piece.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn mutated_replies_never_crash() {
    let sse = std::fs::read(root().join("tests/vectors/stream-ustb2026.sse")).unwrap();
    let answer_only = std::fs::read(root().join("tests/vectors/stream-answer-only.sse")).unwrap();
    let json_reply = std::fs::read(root().join("tests/vectors/reply-moderation.json")).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let (tx, rx) = std::sync::mpsc::channel();
    let (url, server) = serve(rx);
    let c =
        client(&json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0, "idle_timeout_ms": 2000 })).unwrap();
    let allowed = [
        ustb_status::USTB_PROTOCOL_ERROR,
        ustb_status::USTB_TRUNCATED,
        ustb_status::USTB_CONNECTION_LOST,
        ustb_status::USTB_API_ERROR,
        ustb_status::USTB_AUTH_ERROR,
        ustb_status::USTB_HTTP_STATUS,
        ustb_status::USTB_TOO_LARGE,
        ustb_status::USTB_TIMEOUT,
    ];
    let mut outcomes = std::collections::BTreeMap::new();
    let started = Instant::now();
    for round in 0..400 {
        let base: &[u8] = match round % 3 {
            0 => &sse,
            1 => &answer_only,
            _ => &json_reply,
        };
        let body = mutate(&mut rng, base);
        let content_type = if round % 3 == 2 { "application/json" } else { "text/event-stream; charset=utf-8" };
        // The server closes after each reply and says so: a connection pooled by the client
        // would shift every later reply by one round.
        let mut reply =
            format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: {content_type}\r\n").into_bytes();
        if rng.index(2) == 0 {
            reply.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let framed = chunked(&body, 1 + rng.index(300));
            // Sometimes break the chunk framing itself.
            reply.extend_from_slice(&if rng.index(4) == 0 { mutate(&mut rng, &framed) } else { framed });
        } else {
            reply.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len() + rng.index(3)).as_bytes());
            reply.extend_from_slice(&body);
        }
        tx.send(reply).unwrap();
        let s = open(&c, &user("x")).unwrap();
        let (_, failure) = drain(&s);
        let name = match failure {
            None => "ok".to_string(),
            Some(f) => {
                assert!(allowed.contains(&f.status), "round {round}: unexpected {:?}: {}", f.status, f.message);
                format!("{:?}", f.status)
            }
        };
        *outcomes.entry(name).or_insert(0) += 1;
    }
    drop(tx);
    server.join().unwrap();
    eprintln!("400 mutated replies in {:?}: {outcomes:?}", started.elapsed());
    // The mutations must really have exercised both sides.
    assert!(outcomes.get("ok").copied().unwrap_or(0) > 10, "{outcomes:?}");
    assert!(outcomes.len() >= 4, "{outcomes:?}");
}

#[test]
fn redirects_are_not_followed_and_are_explained() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (url, server) = serve(rx);
    tx.send(b"HTTP/1.1 302 Found\r\nLocation: https://sso.ustb.edu.cn/login\r\nContent-Length: 0\r\n\r\n".to_vec())
        .unwrap();
    drop(tx);
    let c = client(&json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0 })).unwrap();
    let f = create(&c, &user("hi")).unwrap_err();
    assert_eq!((f.status, f.http_status), (ustb_status::USTB_HTTP_STATUS, 302));
    assert!(f.message.contains("login cookie"), "{}", f.message);
    server.join().unwrap();
}

#[test]
fn cancel_is_prompt_while_unclosed_tool_markup_is_parsed() {
    // `<tool_call>` repeated and never closed, past the 1 MiB a call may hold, in 64 KiB
    // events: each event took tens of seconds (every tag given up searched the whole held
    // text again), and a cancel waited for the event. The server then stalls.
    let content = "<tool_call>".repeat(150_000);
    let mut body = Vec::new();
    for piece in content.as_bytes().chunks(64 << 10) {
        let piece = std::str::from_utf8(piece).unwrap();
        body.extend_from_slice(
            format!("data: {{\"e\":0,\"m\":\"\",\"d\":{{\"answer\":\"{piece}\",\"ext\":[]}}}}\n\n").as_bytes(),
        );
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        read_request(&mut sock);
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut framed = chunked(&body, 64 << 10);
        framed.truncate(framed.len() - 5); // no final chunk: the stream stays open
        let _ = sock.write_all(head.as_bytes());
        let _ = sock.write_all(&framed);
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
    });
    let c = client(&json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0 })).unwrap();
    let mut req = user("x");
    req["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    let s = open(&c, &req).unwrap();
    let (failure, cancelled, ended) = std::thread::scope(|scope| {
        let stream = &s;
        let canceller = scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            unsafe { ustb_openai::ffi::ustb_chat_stream_cancel(stream.0) };
            Instant::now()
        });
        let failure = drain(&s).1;
        let ended = Instant::now();
        (failure, canceller.join().unwrap(), ended)
    });
    let _ = done_tx.send(());
    server.join().unwrap();
    let late = ended.saturating_duration_since(cancelled);
    eprintln!("unclosed tool markup: the stream ended {late:?} after the cancel");
    assert!(late < Duration::from_secs(2), "the stream ended {late:?} after the cancel");
    assert_eq!(failure.expect("the stream ends with the cancel").status, ustb_status::USTB_CANCELLED);
}
