//! HTTP behaviour: keep-alive, recording, stream endings, stalls, framing, stopping.

use super::*;

#[test]
fn keep_alive_and_connection_close() {
    let e = start(Config::default());
    let mut c = Client::connect(&e);
    c.send(&chat_raw(&[("compose_id", "3"), ("content", "一")], Some(COOKIE), ""));
    let r1 = c.read_response();
    assert!(r1.clean_end);
    assert_eq!(decode(&r1.payloads()).finish.as_deref(), Some("stop"));
    // Two pipelined requests on the same socket.
    let mut both = get_raw("/common/web_info", None, "");
    both.extend(chat_raw(&[("compose_id", "3"), ("content", "二")], Some(COOKIE), ""));
    c.send(&both);
    assert_eq!(c.read_response().json()["e"], 0);
    assert!(decode(&c.read_response().payloads()).content.contains("「二」"));
    c.send(&get_raw("/site/user_info", Some(COOKIE), "Connection: close\r\n"));
    let last = c.read_response();
    assert_eq!(last.header("connection"), Some("close"));
    assert!(c.read_to_end().is_empty(), "closed after Connection: close");
    // Only one connection was used for all four requests.
    assert_eq!(e.requests().len(), 4);
}

#[test]
fn requests_are_recorded() {
    let e = start(Config::default());
    let fields = [("compose_id", "3"), ("content", "你好\r\n第二行"), ("model_name", "DeepSeek"), ("auth_tag", "")];
    let ct = format!("multipart/form-data; boundary=\"{BOUNDARY}\"");
    request(&e, &post("/site/ai/compose_chat?from=test", &ct, &multipart(&fields), Some(COOKIE), "X-Extra: Yes\r\n"));
    request(&e, &get_raw("/site/user_info", None, ""));
    let recs = e.requests();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].method, "POST");
    assert_eq!(recs[0].path, "/site/ai/compose_chat?from=test");
    let want: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(recs[0].form, want);
    assert!(recs[0].headers.contains(&("x-extra".into(), "Yes".into())));
    assert!(recs[0].headers.contains(&("cookie".into(), COOKIE.into())));
    assert_eq!((recs[1].method.as_str(), recs[1].path.as_str()), ("GET", "/site/user_info"));
    assert!(recs[1].form.is_empty());
}

#[test]
fn reset_drops_the_connection_without_final_chunk() {
    let e = start(Config::default());
    let mut c = Client::connect(&e);
    c.send(&chat_raw(&[("compose_id", "3"), ("content", "x @emu:reset")], Some(COOKIE), ""));
    let raw = c.read_to_end();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(text.ends_with("\n\n\r\n"), "ends after a complete chunk: {:?}", &text[text.len() - 20..]);
    assert!(!text.ends_with("0\r\n\r\n"));
    assert!(!text.contains("finish_reason\\\": \\\"stop"));
    let last_event = text.rsplit("data: ").next().unwrap();
    assert!(last_event.contains("\\\"content\\\": "), "last event is the first content event");
    assert_eq!(text.matches("\\\"content\\\": ").count(), 1);
}

#[test]
fn truncate_ends_cleanly_before_finish() {
    let e = start(Config::default());
    let mut c = Client::connect(&e);
    c.send(&chat_raw(&[("compose_id", "3"), ("content", "x @emu:truncate")], Some(COOKIE), ""));
    let r = c.read_response();
    assert!(r.clean_end);
    let payloads = r.payloads();
    let d = decode(&payloads);
    assert_eq!(d.finish, None);
    assert!(d.usage.is_none());
    assert_eq!(d.content, "你好！我");
    assert!(inner(payloads.last().unwrap()).contains("\"content\": "));
    // Byte level: last chunk then the terminating chunk; the socket stays usable.
    assert!(String::from_utf8_lossy(r.chunks.last().unwrap()).ends_with("}}}\n\n"));
    c.send(&get_raw("/common/web_info", None, ""));
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn silent_stalls_until_stop() {
    let e = start(Config::default());
    let mut c = Client::connect(&e);
    c.send(&chat_raw(&[("compose_id", "3"), ("content", "q @emu:silent")], Some(COOKIE), ""));
    assert_eq!(c.line().as_deref(), Some("HTTP/1.1 200 OK"));
    while c.line().is_some_and(|l| !l.is_empty()) {}
    let size = usize::from_str_radix(&c.line().unwrap(), 16).unwrap();
    let mut first = vec![0; size + 2];
    c.reader.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"data: {"));
    c.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut byte = [0u8; 1];
    assert!(c.reader.read(&mut byte).is_err(), "nothing more is sent");

    let mut quiet = Client::connect(&e);
    quiet.send(&chat_raw(&[("compose_id", "3"), ("content", "q @emu:silent-headers")], Some(COOKIE), ""));
    quiet.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert!(quiet.reader.read(&mut byte).is_err(), "no reply at all");

    let t = Instant::now();
    e.stop();
    assert!(t.elapsed() < Duration::from_secs(3));
    c.stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let rest = c.read_to_end();
    assert!(!rest.ends_with(b"0\r\n\r\n"));
}

#[test]
fn client_leaving_mid_stream_is_harmless() {
    let e = start(Config { chunk_chars: 1, ..Config::default() });
    {
        let mut c = Client::connect(&e);
        c.send(&chat_raw(&[("compose_id", "3"), ("content", "q @emu:long=200000")], Some(COOKIE), ""));
        let mut some = [0u8; 4096];
        c.reader.read_exact(&mut some).unwrap();
    }
    // Same for a silent stream whose client goes away.
    {
        let mut c = Client::connect(&e);
        c.send(&chat_raw(&[("compose_id", "3"), ("content", "q @emu:silent")], Some(COOKIE), ""));
        let mut some = [0u8; 16];
        c.reader.read_exact(&mut some).unwrap();
    }
    assert_eq!(decode(&chat(&e, "还在吗").payloads()).finish.as_deref(), Some("stop"));
}

#[test]
fn framing_errors() {
    let e = start(Config::default());
    let chunked =
        b"POST /site/ai/compose_chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(request(&e, chunked).status, 411);
    assert_eq!(request(&e, b"POST /site/voom/session_delete HTTP/1.1\r\nHost: x\r\n\r\n").status, 411);
    assert_eq!(
        request(&e, b"POST /site/voom/session_delete HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n").status,
        400
    );
    assert_eq!(request(&e, b"NONSENSE\r\n\r\n").status, 400);
    // Expect: 100-continue gets an interim reply before the body is sent.
    let body = multipart(&[("compose_id", "3"), ("content", "hi")]);
    let mut c = Client::connect(&e);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut raw = post("/site/ai/compose_chat", &ct, &body, Some(COOKIE), "Expect: 100-continue\r\n");
    raw.truncate(raw.len() - body.len());
    c.send(&raw);
    assert_eq!(c.read_response().status, 100);
    c.send(&body);
    assert_eq!(decode(&c.read_response().payloads()).finish.as_deref(), Some("stop"));
}

#[test]
fn stop_releases_everything() {
    let e = start(Config::default());
    let addr = e.addr();
    assert_eq!(e.base_url(), format!("http://127.0.0.1:{}", addr.port()));
    let mut idle = Client::connect(&e);
    idle.send(&get_raw("/common/web_info", None, ""));
    idle.read_response();
    let t = Instant::now();
    e.stop();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(idle.read_to_end().is_empty(), "idle keep-alive connection is closed");
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
    // Drop stops as well.
    let e = start(Config::default());
    let addr = e.addr();
    drop(e);
    assert!(TcpStream::connect(addr).is_err());
}
