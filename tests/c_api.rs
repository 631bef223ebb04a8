//! The C ABI against the emulator: every path a host can take, success and failure.

mod common;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use ustb_openai::emulator::Config;
use ustb_openai::ffi::*;

const INTRO: &str = "你好！我是北科大 AI 助手。";

#[test]
fn pull_stream_is_openai_shaped() {
    let emu = emulator();
    let c = login_client(&emu);
    let mut req = user("请介绍你自己。");
    req["stream_options"] = json!({ "include_usage": true });
    let chunks = stream_all(&c, &req);
    assert!(chunks.len() >= 4);
    let first = &chunks[0];
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    for ch in &chunks {
        assert_eq!(ch["object"], "chat.completion.chunk");
        assert_eq!(ch["id"], first["id"]);
        assert_eq!(ch["created"], first["created"]);
        assert_eq!(ch["model"], "DeepSeek");
    }
    for ch in &chunks[1..] {
        assert!(ch["choices"].as_array().unwrap().iter().all(|c| c["delta"].get("role").is_none()));
    }
    let (r, content, finish) = texts(&chunks);
    assert_eq!(r, "好的，用户问：请介绍你自己。。");
    assert_eq!(content, INTRO);
    assert_eq!(finish.as_deref(), Some("stop"));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], json!({ "prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11 }));
}

#[test]
fn end_of_stream_repeats_and_is_not_an_error() {
    let emu = emulator();
    let c = login_client(&emu);
    let s = open(&c, &user("hi")).unwrap();
    let (chunks, failure) = drain(&s);
    assert!(failure.is_none() && !chunks.is_empty());
    assert!(next(&s).unwrap().is_none());
    // A cancel after the end changes nothing.
    unsafe { ustb_chat_stream_cancel(s.0) };
    assert!(next(&s).unwrap().is_none());
}

#[test]
fn no_usage_chunk_unless_asked() {
    let emu = emulator();
    let c = login_client(&emu);
    let chunks = stream_all(&c, &user("hi"));
    assert!(chunks.iter().all(|c| c.get("usage").is_none() && !c["choices"].as_array().unwrap().is_empty()));
}

#[test]
fn non_stream_completion() {
    let emu = emulator();
    let c = login_client(&emu);
    let v = create(&c, &user("请介绍你自己。")).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], INTRO);
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "好的，用户问：请介绍你自己。。");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 11);
}

#[test]
fn deep_thinking_off_sends_2_and_gets_no_reasoning() {
    let emu = emulator();
    let c = login_client(&emu);
    let mut req = user("请介绍你自己。");
    req["deep_thinking"] = json!(false);
    let v = create(&c, &req).unwrap();
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], Value::Null);
    let form = emu.requests().pop().unwrap().form;
    assert!(form.contains(&("deep_search".into(), "2".into())));
}

unsafe extern "C" fn collect_cb(userdata: *mut c_void, chunk: *const c_char, len: usize) -> c_int {
    let out = &mut *(userdata as *mut Vec<Value>);
    let text = CStr::from_ptr(chunk).to_str().unwrap();
    assert_eq!(text.len(), len);
    out.push(serde_json::from_str(text).unwrap());
    0
}

unsafe extern "C" fn stop_after_two(userdata: *mut c_void, _chunk: *const c_char, _len: usize) -> c_int {
    let n = &mut *(userdata as *mut usize);
    *n += 1;
    (*n >= 2) as c_int
}

#[test]
fn callback_stream_and_early_stop() {
    let emu = emulator();
    let c = login_client(&emu);
    let req = cstring(&user("请介绍你自己。").to_string());
    let mut got: Vec<Value> = Vec::new();
    let mut err = ptr::null_mut();
    let st = unsafe {
        ustb_chat_stream_callback(c.0, req.as_ptr(), Some(collect_cb), &mut got as *mut _ as *mut c_void, &mut err)
    };
    assert_eq!(check(st, err).unwrap(), ustb_status::USTB_OK);
    assert_eq!(texts(&got).1, INTRO);

    let mut calls = 0usize;
    let st = unsafe {
        ustb_chat_stream_callback(
            c.0,
            req.as_ptr(),
            Some(stop_after_two),
            &mut calls as *mut _ as *mut c_void,
            &mut err,
        )
    };
    assert_eq!(check(st, err).unwrap(), ustb_status::USTB_STOPPED);
    assert_eq!(calls, 2);

    // for_each over an open stream.
    let s = open(&c, &user("hi")).unwrap();
    let mut got: Vec<Value> = Vec::new();
    let st = unsafe { ustb_chat_stream_for_each(s.0, Some(collect_cb), &mut got as *mut _ as *mut c_void, &mut err) };
    assert_eq!(check(st, err).unwrap(), ustb_status::USTB_OK);
    assert!(texts(&got).1.starts_with(INTRO));

    let st = unsafe { ustb_chat_stream_callback(c.0, req.as_ptr(), None, ptr::null_mut(), &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
}

#[test]
fn cancel_unblocks_a_silent_server_promptly() {
    let emu = emulator();
    let c = login_client(&emu);
    for directive in ["@emu:silent", "@emu:silent-headers"] {
        let s = Arc::new(open(&c, &user(directive)).unwrap());
        let s2 = s.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let at = Instant::now();
            unsafe { ustb_chat_stream_cancel(s2.0) };
            unsafe { ustb_chat_stream_cancel(s2.0) }; // idempotent
            at
        });
        let (_, failure) = drain(&s);
        let returned = Instant::now();
        let cancelled_at = canceller.join().unwrap();
        let f = failure.expect("a cancelled stream fails");
        assert_eq!(f.status, ustb_status::USTB_CANCELLED, "{directive}: {f:?}");
        assert_eq!(f.detail["type"], "cancelled");
        // Generous bound (the server would stay silent for 60 s); the benchmark measures it.
        assert!(returned.duration_since(cancelled_at) < Duration::from_secs(5));
        assert_eq!(next(&s).unwrap_err().status, ustb_status::USTB_CANCELLED, "cancel is sticky");
    }
}

#[test]
fn cancel_before_the_first_read() {
    let emu = emulator();
    let c = login_client(&emu);
    let s = open(&c, &user("hi")).unwrap();
    unsafe { ustb_chat_stream_cancel(s.0) };
    assert_eq!(next(&s).unwrap_err().status, ustb_status::USTB_CANCELLED);
    assert!(emu.requests().is_empty(), "nothing is sent after a cancel");
}

#[test]
fn idle_timeout_on_a_silent_server() {
    let emu = emulator();
    let c =
        client(&json!({ "base_url": emu.base_url(), "vjuid_login": LOGIN, "idle_timeout_ms": 300, "max_retries": 0 }))
            .unwrap();
    for directive in ["@emu:silent", "@emu:silent-headers"] {
        let f = stream_failure(&c, &user(directive));
        assert_eq!(f.status, ustb_status::USTB_TIMEOUT, "{directive}: {f:?}");
    }
}

#[test]
fn whole_request_timeout() {
    let emu = emulator_with(Config { delay: Duration::from_millis(50), ..Config::default() });
    let c = client(&json!({ "base_url": emu.base_url(), "vjuid_login": LOGIN, "timeout_ms": 200 })).unwrap();
    let f = stream_failure(&c, &user("@emu:long=2000"));
    assert_eq!(f.status, ustb_status::USTB_TIMEOUT, "{f:?}");
}

#[test]
fn not_logged_in_is_an_auth_error() {
    let emu = emulator();
    let c = client(&json!({ "base_url": emu.base_url() })).unwrap();
    let f = stream_failure(&c, &user("hi"));
    assert_eq!(f.status, ustb_status::USTB_AUTH_ERROR);
    assert_eq!(f.api_code, 10042);
    assert_eq!(f.detail["e"], 10042);
    assert_eq!(f.detail["m"], "请登录");
    assert_eq!(f.detail["type"], "auth_error");
    // The same, inside a `data:` line of an event stream.
    let c = login_client(&emu);
    let f = stream_failure(&c, &user("@emu:sse-error"));
    assert_eq!((f.status, f.api_code), (ustb_status::USTB_AUTH_ERROR, 10042));
}

#[test]
fn server_4028_is_an_api_error() {
    // An emulator with a smaller context than the library's own limit, so the server refuses.
    let emu = emulator_with(Config { max_context_chars: 1000, ..Config::default() });
    let c = login_client(&emu);
    let f = create(&c, &user(&"长".repeat(1000))).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_API_ERROR);
    assert_eq!((f.api_code, f.http_status), (4028, 200));
    assert_eq!(f.detail["m"], "history参数异常");
}

#[test]
fn library_and_emulator_share_the_context_limit() {
    let emu = emulator();
    let c = login_client(&emu);
    let limit = ustb_openai::limits::MAX_CONTEXT_CHARS;
    // One character short of the limit: the library sends it and the emulator answers.
    let reply = create(&c, &user(&"长".repeat(limit - 1))).unwrap();
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    // At the limit: refused by the library before any traffic.
    let f = create(&c, &user(&"长".repeat(limit))).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_INVALID_REQUEST);
}

#[test]
fn non_sse_replies() {
    let emu = emulator();
    let c = login_client(&emu);
    let f = stream_failure(&c, &user("@emu:http500"));
    assert_eq!((f.status, f.http_status), (ustb_status::USTB_HTTP_STATUS, 500));
    assert_eq!(f.detail["http_status"], 500);
    let v = create(&c, &user("@emu:moderation")).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "抱歉，我无法回答这个问题，让我们换个话题再聊聊吧");
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    let chunks = stream_all(&c, &user("@emu:moderation"));
    assert_eq!(texts(&chunks).2.as_deref(), Some("content_filter"));
}

#[test]
fn broken_streams_have_distinct_outcomes() {
    let emu = emulator();
    let c = login_client(&emu);
    let cases = [
        ("@emu:truncate", ustb_status::USTB_TRUNCATED),
        ("@emu:reset", ustb_status::USTB_CONNECTION_LOST),
        ("@emu:malformed", ustb_status::USTB_PROTOCOL_ERROR),
        ("@emu:malformed-inner", ustb_status::USTB_PROTOCOL_ERROR),
    ];
    for (directive, want) in cases {
        let s = open(&c, &user(directive)).unwrap();
        let (chunks, failure) = drain(&s);
        let f = failure.unwrap_or_else(|| panic!("{directive} should fail"));
        assert_eq!(f.status, want, "{directive}: {f:?}");
        assert!(!chunks.is_empty(), "{directive}: the chunks before the fault arrive");
        assert_eq!(next(&s).unwrap_err().status, want, "{directive}: errors are sticky");
    }
}

#[test]
fn older_and_sister_forms_end_normally() {
    let emu = emulator();
    let c = login_client(&emu);
    for directive in ["@emu:answer-only", "@emu:final-e1", "@emu:done", "@emu:crlf", "@emu:cr"] {
        let chunks = stream_all(&c, &user(directive));
        let (_, content, finish) = texts(&chunks);
        assert!(content.starts_with(INTRO), "{directive}: {content}");
        assert!(content.contains(directive));
        assert_eq!(finish.as_deref(), Some("stop"), "{directive}");
    }
    let v = create(&c, &user("@emu:think-inline")).unwrap();
    let msg = &v["choices"][0]["message"];
    assert!(msg["content"].as_str().unwrap().starts_with(INTRO), "{msg}");
    assert!(msg["reasoning_content"].as_str().unwrap().starts_with("好的，用户问："), "{msg}");
    assert!(!msg["content"].as_str().unwrap().contains("think>"));
}

#[test]
fn refused_connection() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for retries in [0, 2] {
        let c = client(
            &json!({ "base_url": format!("http://127.0.0.1:{port}"), "vjuid_login": LOGIN, "max_retries": retries }),
        )
        .unwrap();
        let f = stream_failure(&c, &user("hi"));
        assert_eq!(f.status, ustb_status::USTB_CONNECT_ERROR, "{f:?}");
        assert_eq!(f.http_status, 0);
        let f = create(&c, &user("hi")).unwrap_err();
        assert_eq!(f.status, ustb_status::USTB_CONNECT_ERROR);
    }
}

#[test]
fn the_wire_form_follows_the_protocol() {
    let emu = emulator();
    let c = login_client(&emu);
    let req = json!({
        "model": "deepseek-reasoner",
        "temperature": 0.7,
        "messages": [
            { "role": "system", "content": "你是助教。" },
            { "role": "user", "content": "第一问" },
            { "role": "assistant", "content": "第一答" },
            { "role": "user", "content": [{ "type": "text", "text": "第二问" }] },
        ],
    });
    create(&c, &req).unwrap();
    create(&c, &req).unwrap();
    let recs = emu.requests();
    let chats: Vec<_> = recs.iter().filter(|r| r.path == "/site/ai/compose_chat").collect();
    assert_eq!(chats.len(), 2);
    let r = chats[0];
    assert_eq!(r.method, "POST");
    let get = |k: &str| r.form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("content"), Some("你是助教。\n\n第二问"));
    assert_eq!(get("history[0][role]"), Some("user"));
    assert_eq!(get("history[0][content]"), Some("第一问"));
    assert_eq!(get("history[1][role]"), Some("assistant"));
    assert_eq!(get("history[1][content]"), Some("第一答"));
    assert_eq!(get("compose_id"), Some("3"));
    assert_eq!(get("model_name"), Some("DeepSeek"));
    assert_eq!(get("deep_search"), Some("1"));
    assert_eq!(get("internet_search"), Some("2"));
    assert_eq!(get("thinking_budget"), Some("1000"));
    assert_eq!(get("auth_tag"), Some(""));
    let id_of = |r: &ustb_openai::emulator::Recorded| {
        r.form.iter().find(|(n, _)| n == "chat_only_id").map(|(_, v)| v.clone()).unwrap()
    };
    assert_ne!(id_of(chats[0]), id_of(chats[1]), "chat_only_id is fresh per request");
    assert!(id_of(chats[0])[..32].chars().all(|c| c.is_ascii_hexdigit()));
    let header = |k: &str| r.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(header("origin"), Some(emu.base_url().as_str()));
    assert_eq!(header("referer"), Some(format!("{}/", emu.base_url()).as_str()));
    assert_eq!(header("cookie"), Some(format!("cookie_vjuid_login={LOGIN}").as_str()));
    assert!(header("content-type").unwrap().starts_with("multipart/form-data; boundary="));
}

#[test]
fn invalid_requests_never_reach_the_network() {
    let emu = emulator();
    let c = login_client(&emu);
    let bad = [
        json!({ "messages": [{ "role": "user", "content": "x" }, { "role": "assistant", "content": "y" }] }),
        json!({ "messages": [] }),
        json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "x" } }] }] }),
        json!({ "messages": [{ "role": "user", "content": "字".repeat(230_000) }] }),
    ];
    for req in bad {
        let f = open(&c, &req).err().expect("refused at open");
        assert_eq!(f.status, ustb_status::USTB_INVALID_REQUEST, "{}", f.message);
        assert_eq!(create(&c, &req).unwrap_err().status, ustb_status::USTB_INVALID_REQUEST);
    }
    let f = open(&c, &json!("not an object")).err().unwrap();
    assert_eq!(f.status, ustb_status::USTB_INVALID_REQUEST);
    assert!(emu.requests().is_empty());
}

#[test]
fn null_pointers_and_bad_strings_never_crash() {
    let emu = emulator();
    let c = login_client(&emu);
    let good = cstring(&user("hi").to_string());
    let bad_utf8: &[u8] = b"{\"messages\":\"\xff\xfe\"}\0";
    let bad_json = cstring("{\"messages\": [");
    let mut err = ptr::null_mut();
    let mut out: *mut c_char = ptr::null_mut();
    let invalid = |st: ustb_status, err: *mut ustb_error| {
        let f = check(st, err).unwrap_err();
        assert_eq!(f.status, ustb_status::USTB_INVALID_ARGUMENT, "{}", f.message);
        assert_eq!(f.detail["type"], "invalid_argument");
        f.message
    };
    unsafe {
        let mut cl = ptr::null_mut();
        assert!(invalid(ustb_client_new(ptr::null(), ptr::null_mut(), &mut err), err).contains("client_out"));
        invalid(ustb_client_new(bad_utf8.as_ptr().cast(), &mut cl, &mut err), err);
        assert!(cl.is_null());
        invalid(ustb_client_new(bad_json.as_ptr(), &mut cl, &mut err), err);
        assert!(invalid(ustb_chat_create(ptr::null(), good.as_ptr(), &mut out, &mut err), err).contains("client"));
        invalid(ustb_chat_create(c.0, ptr::null(), &mut out, &mut err), err);
        invalid(ustb_chat_create(c.0, good.as_ptr(), ptr::null_mut(), &mut err), err);
        invalid(ustb_chat_create(c.0, bad_utf8.as_ptr().cast(), &mut out, &mut err), err);
        invalid(ustb_chat_create(c.0, bad_json.as_ptr(), &mut out, &mut err), err);
        assert!(out.is_null());
        let mut s = ptr::null_mut();
        invalid(ustb_chat_stream_open(ptr::null(), good.as_ptr(), &mut s, &mut err), err);
        invalid(ustb_chat_stream_open(c.0, good.as_ptr(), ptr::null_mut(), &mut err), err);
        invalid(ustb_chat_stream_next(ptr::null_mut(), &mut out, ptr::null_mut(), &mut err), err);
        invalid(ustb_chat_stream_for_each(ptr::null_mut(), Some(collect_cb), ptr::null_mut(), &mut err), err);
        invalid(ustb_client_cookies(ptr::null(), &mut out, &mut err), err);
        invalid(ustb_client_user_info(c.0, ptr::null_mut(), &mut err), err);
        // A NULL error pointer is allowed: the status alone tells.
        assert_eq!(
            ustb_chat_create(ptr::null(), ptr::null(), ptr::null_mut(), ptr::null_mut()),
            ustb_status::USTB_INVALID_ARGUMENT
        );
        // Frees and cancel accept NULL.
        ustb_chat_stream_cancel(ptr::null());
        ustb_chat_stream_free(ptr::null_mut());
        ustb_client_free(ptr::null_mut());
        ustb_string_free(ptr::null_mut());
        ustb_error_free(ptr::null_mut());
        assert_eq!(CStr::from_ptr(ustb_error_message(ptr::null())).to_str().unwrap(), "");
        assert_eq!(CStr::from_ptr(ustb_error_detail(ptr::null())).to_str().unwrap(), "{}");
    }
    assert!(emu.requests().is_empty());
}

#[test]
fn bad_options_are_refused_with_clear_messages() {
    for (opts, needle) in [
        (json!({ "base_ur": "http://x" }), "unknown option \"base_ur\""),
        (json!({ "easy_session": "abc" }), "32 alphanumeric"),
        (json!({ "base_url": "https://chat.ustb.edu.cn" }), "http://"),
        (json!({ "idle_timeout_ms": "10" }), "idle_timeout_ms"),
    ] {
        let f = client(&opts).err().unwrap();
        assert_eq!(f.status, ustb_status::USTB_INVALID_ARGUMENT);
        assert!(f.message.contains(needle), "{} lacks {needle}", f.message);
    }
    assert!(client(&json!({})).is_ok());
    let mut c = ptr::null_mut();
    let st = unsafe { ustb_client_new(ptr::null(), &mut c, ptr::null_mut()) };
    assert_eq!(st, ustb_status::USTB_OK);
    unsafe { ustb_client_free(c) };
}

#[test]
fn server_issued_easy_session_is_kept_and_reusable() {
    let emu = emulator();
    let c = client(&json!({ "base_url": emu.base_url() })).unwrap();
    let cookies = |c: &Client| -> Value {
        let mut out = ptr::null_mut();
        let mut err = ptr::null_mut();
        check(unsafe { ustb_client_cookies(c.0, &mut out, &mut err) }, err).unwrap();
        serde_json::from_str(&unsafe { take_string(out) }).unwrap()
    };
    assert_eq!(cookies(&c)["easy_session"], Value::Null);
    let mut out = ptr::null_mut();
    let mut err = ptr::null_mut();
    check(unsafe { ustb_client_user_info(c.0, &mut out, &mut err) }, err).unwrap();
    let info: Value = serde_json::from_str(&unsafe { take_string(out) }).unwrap();
    assert!(info.is_object());
    let session = cookies(&c)["easy_session"].as_str().unwrap().to_string();
    assert_eq!(session.len(), 32);
    // Sent from then on, and accepted by a new client.
    check(unsafe { ustb_client_user_info(c.0, &mut out, &mut err) }, err).unwrap();
    unsafe { ustb_string_free(out) };
    let last = emu.requests().pop().unwrap();
    assert!(last.headers.iter().any(|(n, v)| n == "cookie" && v.contains(&session)));
    let again = client(&json!({ "base_url": emu.base_url(), "easy_session": session })).unwrap();
    assert_eq!(cookies(&again)["easy_session"], session.as_str());
}

#[test]
fn one_client_many_threads() {
    let emu = emulator();
    let c = Arc::new(login_client(&emu));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                for j in 0..5 {
                    let prompt = format!("线程 {i} 第 {j} 问");
                    let chunks = stream_all(&c, &user(&prompt));
                    assert!(texts(&chunks).1.contains(&prompt));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(emu.requests().len(), 40);
}

#[test]
fn streams_outlive_their_client() {
    let emu = emulator();
    let c = login_client(&emu);
    let s = open(&c, &user("hi")).unwrap();
    drop(c);
    let (chunks, failure) = drain(&s);
    assert!(failure.is_none() && !chunks.is_empty());
}

#[test]
fn big_replies_stream_through() {
    let emu = emulator_with(Config { chunk_chars: 64, ..Config::default() });
    let c = login_client(&emu);
    let v = create(&c, &user("@emu:long=300000")).unwrap();
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().chars().count() >= 300_000);
}

#[test]
fn chunk_delta_reads_chunks_without_a_json_parser() {
    let emu = emulator();
    let c = login_client(&emu);
    let s = open(&c, &user("请介绍你自己。")).unwrap();
    let (mut content, mut reasoning, mut finish) = (String::new(), String::new(), None);
    loop {
        let mut chunk = ptr::null_mut();
        let mut err = ptr::null_mut();
        let st = unsafe { ustb_chat_stream_next(s.0, &mut chunk, ptr::null_mut(), &mut err) };
        if check(st, err).unwrap() == ustb_status::USTB_END_OF_STREAM {
            break;
        }
        let (mut c, mut r, mut f) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        let st = unsafe { ustb_chunk_delta(chunk, &mut c, &mut r, &mut f, &mut err) };
        check(st, err).unwrap();
        unsafe {
            for (p, out) in [(c, &mut content), (r, &mut reasoning)] {
                if !p.is_null() {
                    out.push_str(&take_string(p));
                }
            }
            if !f.is_null() {
                finish = Some(take_string(f));
            }
            // Unwanted outputs may be NULL.
            check(ustb_chunk_delta(chunk, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut err), err).unwrap();
            ustb_string_free(chunk);
        }
    }
    assert_eq!((content.as_str(), reasoning.as_str()), (INTRO, "好的，用户问：请介绍你自己。。"));
    assert_eq!(finish.as_deref(), Some("stop"));
    let mut err = ptr::null_mut();
    let bad = cstring("{\"not\":\"a chunk\"}");
    let st = unsafe { ustb_chunk_delta(bad.as_ptr(), ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
    let st = unsafe { ustb_chunk_delta(ptr::null(), ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
}

#[test]
fn connections_are_kept_alive_and_reused() {
    let emu = emulator();
    let c = login_client(&emu);
    for i in 0..10 {
        let chunks = stream_all(&c, &user(&format!("第 {i} 问")));
        assert!(!chunks.is_empty());
        create(&c, &user("hi")).unwrap();
    }
    assert_eq!(emu.requests().len(), 20);
    assert_eq!(emu.connections_accepted(), 1, "one kept-alive connection served every request");
    // A stream dropped half-way does not put its connection back in the pool.
    let s = open(&c, &user("@emu:long=5000")).unwrap();
    next(&s).unwrap();
    drop(s);
    stream_all(&c, &user("hi"));
    assert_eq!(emu.connections_accepted(), 2);
}

#[test]
fn retries_reach_a_server_that_comes_up_late() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = client(&json!({ "base_url": format!("http://127.0.0.1:{port}"), "vjuid_login": LOGIN, "max_retries": 4 }))
        .unwrap();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        emulator_at(Config::default(), &format!("127.0.0.1:{port}"))
    });
    let v = create(&c, &user("hi"));
    let emu = late.join().unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn canceller_outlives_its_stream() {
    let emu = emulator();
    let c = login_client(&emu);
    let s = open(&c, &user("@emu:silent")).unwrap();
    let mut canceller = ptr::null_mut();
    let mut err = ptr::null_mut();
    check(unsafe { ustb_chat_stream_canceller(s.0, &mut canceller, &mut err) }, err).unwrap();
    let handle = canceller as usize;
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        unsafe { ustb_canceller_cancel(handle as *const ustb_canceller) };
    });
    assert_eq!(drain(&s).1.unwrap().status, ustb_status::USTB_CANCELLED);
    t.join().unwrap();
    drop(s);
    // After the stream is freed the canceller is still safe to use, and does nothing.
    unsafe {
        ustb_canceller_cancel(canceller);
        ustb_canceller_free(canceller);
        ustb_canceller_cancel(ptr::null());
        ustb_canceller_free(ptr::null_mut());
    }
    // A canceller of a finished stream does not disturb the connection the next request reuses.
    let s = open(&c, &user("hi")).unwrap();
    check(unsafe { ustb_chat_stream_canceller(s.0, &mut canceller, &mut err) }, err).unwrap();
    assert!(drain(&s).1.is_none());
    drop(s);
    let s2 = open(&c, &user("@emu:long=3000")).unwrap();
    assert!(next(&s2).unwrap().is_some());
    unsafe { ustb_canceller_cancel(canceller) };
    assert!(drain(&s2).1.is_none(), "the other stream is unaffected");
    unsafe { ustb_canceller_free(canceller) };
    let st = unsafe { ustb_chat_stream_canceller(ptr::null(), &mut canceller, &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
}

#[test]
fn collect_is_a_cancellable_create() {
    let emu = emulator();
    let c = login_client(&emu);
    let collect = |s: &Stream| -> Result<Value, Failure> {
        let mut out = ptr::null_mut();
        let mut err = ptr::null_mut();
        check(unsafe { ustb_chat_stream_collect(s.0, &mut out, &mut err) }, err)?;
        Ok(serde_json::from_str(&unsafe { take_string(out) }).unwrap())
    };
    let s = open(&c, &user("请介绍你自己。")).unwrap();
    let v = collect(&s).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], INTRO);
    assert!(next(&s).unwrap().is_none(), "collect read the stream to its end");

    let s = Arc::new(open(&c, &user("@emu:silent")).unwrap());
    let s2 = s.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        unsafe { ustb_chat_stream_cancel(s2.0) };
    });
    assert_eq!(collect(&s).unwrap_err().status, ustb_status::USTB_CANCELLED);
    t.join().unwrap();
}

#[test]
fn web_search_results_are_passed_on() {
    let emu = emulator();
    let c = login_client(&emu);
    let mut req = user("北科大图书馆几点开门？");
    req["web_search"] = json!(true);
    let chunks = stream_all(&c, &req);
    let with_results: Vec<&Value> = chunks.iter().filter(|c| c.get("search_results").is_some()).collect();
    assert_eq!(with_results.len(), 1, "the results come once, in the chunk that brings them");
    let results = with_results[0]["search_results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r["title"].is_string() && r["url"].is_string()));
    assert!(texts(&chunks).1.contains("[citation:1]"));
    let form = emu.requests().pop().unwrap().form;
    assert!(form.contains(&("internet_search".into(), "1".into())));
    let v = create(&c, &req).unwrap();
    assert_eq!(v["search_results"], with_results[0]["search_results"]);
    // Without web search there is no such field.
    assert!(create(&c, &user("hi")).unwrap().get("search_results").is_none());
}
