//! The server-fault directives of `faults.rs` and the fault events of `chat.rs`, checked on
//! the bytes the emulator sends.

use super::*;
use crate::emulator::faults::{Trickle, BAD_SESSION, GZIP_SSE, HUGE_HEADER, REDIRECT_TO};
use std::time::Instant;

/// A connection with one chat request sent, for reading the reply raw.
fn send_chat(e: &Emulator, prompt: &str) -> Client {
    let mut c = Client::connect(e);
    c.send(&chat_raw(&[("compose_id", "3"), ("content", prompt)], Some(COOKIE), ""));
    c
}

/// What the emulator says for `prompt` in a normal reply.
fn echo(prompt: &str) -> String {
    format!("你好！我是北科大 AI 助手。你说：「{prompt}」")
}

#[test]
fn closed_before_the_headers() {
    let e = start(Config::default());
    let mut c = send_chat(&e, "@emu:close-before-headers");
    assert!(c.read_to_end().is_empty());
}

#[test]
fn html_and_json_replies_instead_of_a_stream() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:http502");
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<h1>502 Bad Gateway</h1>"));

    let r = chat(&e, "@emu:login-page");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("统一身份认证") && r.text().contains("password"));

    for (directive, code, msg) in [("@emu:json-4028", 4028, "history参数异常"), ("@emu:json-10042", 10042, "请登录")]
    {
        let r = chat(&e, directive);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(r.json(), serde_json::json!({"e": code, "m": msg, "d": []}));
    }
    let r = chat(&e, "@emu:sse-4028");
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(r.payloads(), vec![r#"{"e":4028,"m":"history参数异常","d":[]}"#.to_string()]);
}

#[test]
fn redirect_to_another_host() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:redirect");
    assert_eq!(r.status, 302);
    let location = r.header("location").unwrap();
    assert_eq!(location, REDIRECT_TO);
    assert!(!location.contains(&e.addr().to_string()));
}

/// CRC-32 (IEEE), to check the gzip trailer against the text it should hold.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn gzip_body_sent_unasked() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:gzip");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(r.body, GZIP_SSE);
    // The blob is a gzip member (deflate) whose trailer matches the event it is said to hold.
    let sse = "data: {\"e\":0,\"m\":\"操作成功\",\"d\":{\"type\":\"0\",\"answer\":\"你好！我是北科大 AI 助手。\",\
               \"url\":\"\",\"message_id\":\"gz\",\"id\":\"gz\",\"recommend_data\":[],\"source\":[],\"ext\":[]}}\n\n";
    assert_eq!(&GZIP_SSE[..3], &[0x1f, 0x8b, 8]);
    let n = GZIP_SSE.len();
    let crc = u32::from_le_bytes(GZIP_SSE[n - 8..n - 4].try_into().unwrap());
    let size = u32::from_le_bytes(GZIP_SSE[n - 4..].try_into().unwrap());
    assert_eq!((crc, size as usize), (crc32(sse.as_bytes()), sse.len()));
}

#[test]
fn extra_headers_huge_and_bad_cookie() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:huge-header");
    let pad = r.header("x-padding").unwrap();
    assert!(pad.len() == HUGE_HEADER && pad.bytes().all(|b| b == b'a'));
    assert_eq!(decode(&r.payloads()).content, echo("@emu:huge-header"));

    let r = chat(&e, "@emu:bad-session-cookie");
    let cookie = r.header("set-cookie").unwrap();
    assert_eq!(cookie, format!("easy_session={BAD_SESSION}; path=/; HttpOnly"));
    assert_eq!(BAD_SESSION.len(), 40);
    assert!(!BAD_SESSION.contains(';') && !BAD_SESSION.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(decode(&r.payloads()).finish.as_deref(), Some("stop"));
}

#[test]
fn cookies_echoed_verbatim() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:echo-cookie-400");
    assert_eq!(r.status, 400);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains(COOKIE), "{}", r.text());

    let r = chat(&e, "@emu:echo-cookie-html");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains(COOKIE), "{}", r.text());

    let r = chat(&e, "@emu:echo-cookie-sse");
    let payloads = r.payloads();
    assert_eq!(payloads.len(), 1);
    let ev: Value = serde_json::from_str(&payloads[0]).unwrap();
    assert_eq!(ev["e"], 10001);
    assert!(ev["m"].as_str().unwrap().contains(COOKIE), "{ev}");
}

#[test]
fn one_huge_event() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:huge-event");
    let payloads = r.payloads();
    let big: Vec<usize> = payloads.iter().map(String::len).filter(|n| *n > 1 << 20).collect();
    assert_eq!(big.len(), 1, "one event holds the whole content");
    assert!((8_000_000..9_500_000).contains(&big[0]), "{}", big[0]);
    let d = decode(&payloads);
    assert!(d.content.len() >= 4 * 1024 * 1024 && d.content.starts_with(&echo("@emu:huge-event")));
    assert_eq!(d.finish.as_deref(), Some("stop"));
}

#[test]
fn endless_line_until_the_client_leaves() {
    let e = start(Config::default());
    let mut c = send_chat(&e, "@emu:endless-line");
    let (status, _) = c.read_head();
    assert_eq!(status, 200);
    // 20 MB of chunked body: `x`s, with no line end but the CRLFs of the chunk framing.
    let mut buf = vec![0u8; 1 << 16];
    let (mut total, mut xs, mut last) = (0usize, 0usize, 0u8);
    while total < 20 << 20 {
        let n = c.reader.read(&mut buf).unwrap();
        assert!(n > 0, "the line must not end");
        for &b in &buf[..n] {
            assert!(b != b'\n' || last == b'\r', "a bare LF after {total} bytes");
            xs += usize::from(b == b'x');
            last = b;
        }
        total += n;
    }
    assert!(xs > 19 << 20, "{xs}");
    drop(c);
    // The emulator noticed and still serves.
    assert_eq!(decode(&chat(&e, "hi").payloads()).finish.as_deref(), Some("stop"));
}

#[test]
fn headers_then_silence() {
    let e = start(Config::default());
    let mut c = send_chat(&e, "@emu:headers-then-silent");
    let (status, headers) = c.read_head();
    assert_eq!(status, 200);
    assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
    c.stream.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
    let mut b = [0u8; 1];
    let err = c.reader.read(&mut b).expect_err("nothing after the head");
    assert!(matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
}

#[test]
fn comment_lines_between_events() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:comments");
    let text = r.text();
    assert!(r.chunks.iter().all(|c| c.starts_with(b": ping\n\ndata: ")));
    let without = text.replace(": ping\n\n", "");
    let payloads: Vec<String> = without
        .split("\n\n")
        .filter(|p| !p.is_empty())
        .map(|p| p.strip_prefix("data: ").unwrap().to_string())
        .collect();
    assert_eq!(decode(&payloads).content, echo("@emu:comments"));
}

#[test]
fn invalid_utf8_in_one_event() {
    let e = start(Config::default());
    let r = chat(&e, "@emu:invalid-utf8");
    let bad: Vec<&Vec<u8>> = r.chunks.iter().filter(|c| std::str::from_utf8(c).is_err()).collect();
    assert_eq!(bad.len(), 1);
    assert!(bad[0].contains(&0xFF) && bad[0].starts_with(b"data: "));
}

#[test]
fn multibyte_character_split_across_writes() {
    let e = start(Config::default());
    let mut c = send_chat(&e, "@emu:split-char");
    let (_, _) = c.read_head();
    // Arrival times of the raw reads: the pause between the two writes shows as a gap.
    let mut got: Vec<(Instant, usize)> = Vec::new();
    let mut body = Vec::new();
    let mut buf = [0u8; 65536];
    while !body.ends_with(b"0\r\n\r\n") {
        let n = c.reader.read(&mut buf).unwrap();
        assert!(n > 0);
        body.extend_from_slice(&buf[..n]);
        got.push((Instant::now(), body.len()));
    }
    let gap =
        got.windows(2).find(|w| w[1].0 - w[0].0 >= Duration::from_millis(30)).expect("a pause between two writes");
    let before = gap[0].1;
    assert!(body[before - 1] >= 0xC0, "the pause falls inside a character");
    assert!(std::str::from_utf8(&body).is_ok());
    assert!(String::from_utf8_lossy(&body).contains(r#""answer":"你好！我""#));
}

#[test]
fn trickle_writes_one_byte_per_call() {
    struct Counting(Vec<usize>);
    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut t = Trickle(Counting(Vec::new()));
    t.write_all(b"data: x").unwrap();
    assert_eq!(t.0 .0, vec![1; 7]);

    let e = start(Config::default());
    let r = chat(&e, "@emu:byte-per-write");
    assert!(r.clean_end);
    assert_eq!(decode(&r.payloads()).content, echo("@emu:byte-per-write"));
}

/// Walks a chunked body; returns the declared and the true length of the first chunk whose
/// size line lies (its data is not followed by CRLF at the declared size).
fn lying_chunk(mut raw: &[u8]) -> Option<(usize, usize)> {
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).ok()?, 16).ok()?;
        if size == 0 {
            return None;
        }
        let data = &raw[eol + 2..];
        if &data[size..size + 2] != b"\r\n" {
            let true_len = data.windows(3).position(|w| w == b"\n\r\n")? + 1;
            return Some((size, true_len));
        }
        raw = &data[size + 2..];
    }
}

#[test]
fn chunk_size_that_lies() {
    let e = start(Config::default());
    let mut c = send_chat(&e, "@emu:chunk-lie");
    let (_, headers) = c.read_head();
    assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
    let raw = c.read_to_end();
    let (declared, real) = lying_chunk(&raw).expect("a lying chunk");
    assert_eq!(declared + 5, real);
}

#[test]
fn content_length_shorter_and_longer() {
    let e = start(Config::default());
    for (directive, short) in [("@emu:length-short", true), ("@emu:length-long", false)] {
        let mut c = send_chat(&e, directive);
        let (status, headers) = c.read_head();
        assert_eq!(status, 200);
        let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(header("transfer-encoding"), None);
        assert_eq!(header("connection").as_deref(), Some("close"));
        let length: usize = header("content-length").unwrap().parse().unwrap();
        let body = c.read_to_end();
        let want = if short { body.len() / 2 } else { body.len() + 200 };
        assert_eq!(length, want, "{directive}");
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(r#"\"finish_reason\": \"stop\""#), "the whole body is sent");
    }
}
