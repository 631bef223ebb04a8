//! The platform calls besides chat, through the C ABI against the emulator: every endpoint,
//! the OpenAI model list (checked with openai-python's `Model`), the login check's three
//! states, bad parameters (refused before any traffic), the logged-out state, cancels and
//! timeouts.

mod common;

use std::ffi::c_char;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::Command;
use std::ptr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use ustb_openai::emulator::{Config, Emulator};
use ustb_openai::ffi::*;

/// One call through the C ABI: the JSON it handed out, or its failure (then `*json_out` is NULL).
fn call(f: impl FnOnce(*mut *mut c_char, *mut *mut ustb_error) -> ustb_status) -> Result<Value, Failure> {
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let st = f(&mut out, &mut err);
    if let Err(failure) = check(st, err) {
        assert!(out.is_null(), "json_out must be NULL after a failure");
        return Err(failure);
    }
    Ok(serde_json::from_str(&unsafe { take_string(out) }).expect("calls hand out JSON"))
}

fn web_info(c: &Client, cancel: *const ustb_canceller) -> Result<Value, Failure> {
    call(|o, e| unsafe { ustb_client_web_info(c.0, cancel, o, e) })
}

fn sessions(c: &Client, page: u32, size: u32) -> Result<Value, Failure> {
    call(|o, e| unsafe { ustb_client_sessions(c.0, page, size, NONE, o, e) })
}

fn history(c: &Client, id: &str) -> Result<Value, Failure> {
    let id = cstring(id);
    call(|o, e| unsafe { ustb_client_chat_history(c.0, id.as_ptr(), NONE, o, e) })
}

fn delete(c: &Client, id: &str) -> Result<Value, Failure> {
    let id = cstring(id);
    call(|o, e| unsafe { ustb_client_session_delete(c.0, id.as_ptr(), NONE, o, e) })
}

fn models(c: &Client, compose_id: i64) -> Result<Value, Failure> {
    call(|o, e| unsafe { ustb_client_models(c.0, compose_id, NONE, o, e) })
}

fn login_state(c: &Client) -> Value {
    call(|o, e| unsafe { ustb_client_login_state(c.0, NONE, o, e) }).expect("the login check answers a state")
}

/// A server that answers every connection's first request with `reply` (None: never
/// answers, and holds the connection open). Returns its base URL.
fn raw_server(reply: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            if let Some(reply) = reply {
                let _ = conn.read(&mut [0u8; 8192]);
                let _ = conn.write_all(reply.as_bytes());
                let _ = conn.shutdown(Shutdown::Write);
            }
            held.push(conn);
        }
    });
    url
}

fn client_of(url: &str, extra: Value) -> Client {
    let mut options = json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0 });
    options.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    client(&options).unwrap()
}

/// Paths (with query) the emulator received, from index `from` on.
fn paths(emu: &Emulator, from: usize) -> Vec<String> {
    emu.requests()[from..].iter().map(|r| format!("{} {}", r.method, r.path)).collect()
}

#[test]
fn every_endpoint_answers_with_its_data() {
    let emu = emulator();
    let c = login_client(&emu);

    let info = call(|o, e| unsafe { ustb_client_user_info(c.0, o, e) }).unwrap();
    assert_eq!((info["uid"].as_i64(), info["type_name"].as_str()), (Some(100_231), Some("学生")));
    let site = web_info(&c, NONE).unwrap();
    assert_eq!((site["isCas"].as_bool(), site["cookie_login_key"].as_str()), (Some(true), Some("cookie_vjuid_login")));
    let apps = call(|o, e| unsafe { ustb_client_apps(c.0, NONE, o, e) }).unwrap();
    let ids: Vec<i64> = apps.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [3, 5]);
    let detail = |c: &Client, id| call(|o, e| unsafe { ustb_client_app_detail(c.0, id, NONE, o, e) });
    assert_eq!(detail(&c, 5).unwrap()["name"], "通义千问");
    assert_eq!(detail(&c, 0).unwrap()["id"], 3, "0 is the client's default application");
    let qwen_client = client_of(&emu.base_url(), json!({ "compose_id": 5 }));
    assert_eq!(detail(&qwen_client, 0).unwrap()["id"], 5);
    let settings = call(|o, e| unsafe { ustb_client_page_settings(c.0, 3, NONE, o, e) }).unwrap();
    assert_eq!(settings["model_select"]["model_content"]["value"], json!([{"label": "DeepSeek", "value": "DeepSeek"}]));
    assert!(settings["deepThinking_select"].is_object() && settings["networking_select"].is_object());
    let sid = call(|o, e| unsafe { ustb_client_new_session_id(c.0, 3, NONE, o, e) }).unwrap();
    let sid = sid.as_str().expect("a session id is a JSON string");
    assert!(sid.len() == 32 && sid.bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");

    // Three chats make three sessions, newest first, two to a page.
    for prompt in ["第一个问题", "第二个问题", "第三个问题"] {
        create(&c, &user(prompt)).unwrap();
    }
    let first = sessions(&c, 1, 2).unwrap();
    let last: Vec<&str> = first.as_array().unwrap().iter().map(|s| s["last_content"].as_str().unwrap()).collect();
    assert_eq!(last, ["第三个问题", "第二个问题"]);
    let second = sessions(&c, 2, 2).unwrap();
    assert_eq!(second.as_array().unwrap().len(), 1);
    assert_eq!(second[0]["last_content"], "第一个问题");
    assert_eq!(sessions(&c, 3, 2).unwrap(), json!([]));
    let newest = first[0]["sess_id"].as_str().unwrap().to_string();

    let messages = history(&c, &newest).unwrap();
    let roles: Vec<&str> = messages.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(messages[0]["content"], "第三个问题");
    assert!(messages[1]["content"].as_str().unwrap().contains("第三个问题"));
    assert!(messages[0]["ct"].is_string());

    let before = emu.requests().len();
    assert_eq!(delete(&c, &newest).unwrap(), json!([]));
    let sent = &emu.requests()[before];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/site/voom/session_delete"));
    assert_eq!(sent.form, [("session_id".to_string(), newest.clone())], "a multipart form with the id");
    assert_eq!(history(&c, &newest).unwrap(), json!([]));
    assert_eq!(sessions(&c, 1, 10).unwrap().as_array().unwrap().len(), 2);
    assert_eq!(delete(&c, "0123456789abcdef0123456789abcdef").unwrap(), json!([]), "an unknown id is no error");

    // The paths and parameters, as docs/PROTOCOL.md section 5 lists them.
    let from = emu.requests().len();
    web_info(&c, NONE).unwrap();
    detail(&c, 5).unwrap();
    models(&c, 5).unwrap();
    sessions(&c, 4, 7).unwrap();
    history(&c, "abc_12-3").unwrap();
    login_state(&c);
    assert_eq!(
        paths(&emu, from),
        [
            "GET /common/web_info",
            "GET /site/ai/compose_detail?id=5",
            "GET /site/voom/page-setting?compose_id=5&type=pc",
            "GET /site/voom/session_list?page=4&pageSize=7",
            "GET /site/voom/chat_history_info?session_id=abc_12-3",
            "GET /page/front/Mdefault/chat?ext=%7B%7D",
        ]
    );
}

#[test]
fn models_are_an_openai_model_list() {
    let emu = emulator();
    let c = login_client(&emu);
    let deepseek = models(&c, 3).unwrap();
    assert_eq!(
        deepseek,
        json!({"object": "list", "data": [
            {"id": "DeepSeek", "object": "model", "created": 0, "owned_by": "ustb", "label": "DeepSeek", "compose_id": 3}
        ]})
    );
    assert_eq!(models(&c, 0).unwrap(), deepseek, "0 is the client's default application");
    let qwen = models(&client_of(&emu.base_url(), json!({ "compose_id": "5" })), 0).unwrap();
    let ids: Vec<&str> = qwen["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["qwen-max", "qwen-plus"]);
    assert_eq!(
        (qwen["data"][0]["label"].as_str(), qwen["data"][0]["compose_id"].as_i64()),
        (Some("通义千问-Max"), Some(5))
    );
    // Models need no login, as the page settings do not.
    let guest = client(&json!({ "base_url": emu.base_url(), "max_retries": 0 })).unwrap();
    assert_eq!(models(&guest, 3).unwrap(), deepseek);
    let err = models(&c, 99).unwrap_err();
    assert_eq!((err.status, err.api_code), (ustb_status::USTB_API_ERROR, 1));

    // A listed id works as a chat request's model.
    let mut req = user("你好");
    req["model"] = deepseek["data"][0]["id"].clone();
    create(&c, &req).unwrap();
    let sent = emu.requests().into_iter().rev().find(|r| r.path == "/site/ai/compose_chat").unwrap();
    assert!(sent.form.contains(&("model_name".to_string(), "DeepSeek".to_string())));

    let file = target_dir().join("endpoints_models.jsonl");
    std::fs::write(&file, format!("models {deepseek}\nmodels {qwen}\n")).unwrap();
    let python = root().join("target/venv/bin/python");
    let out = run(Command::new(&python).arg(root().join("tests/openai_types.py")).arg(&file));
    assert_ok("openai Model check (run .ci/deps.sh to install openai)", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 documents valid"));
}

fn models_with(c: &Client, cancel: *const ustb_canceller) -> Result<Value, Failure> {
    call(|o, e| unsafe { ustb_client_models(c.0, 3, cancel, o, e) })
}

#[test]
fn a_long_model_list_is_cancellable() {
    // 100k entries: the list took 45 s (each id compared with every one before it) and a
    // cancel 3 s in waited for all of it. Cancel while the list is read or made.
    let entries: Vec<String> = (0..100_000).map(|i| format!(r#"{{"label":"模型{i}","value":"m{i}"}}"#)).collect();
    let body = format!(
        r#"{{"e":0,"m":"操作成功","d":{{"model_select":{{"model_content":{{"value":[{}]}}}}}}}}"#,
        entries.join(",")
    );
    let reply =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let c = client_of(&raw_server(Some(Box::leak(reply.into_boxed_str()))), json!({}));
    let canceller = Canceller::new();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let (client, cancel) = (&c, &canceller);
        s.spawn(move || tx.send((models_with(client, cancel.ptr()), Instant::now())).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        unsafe { ustb_canceller_cancel(canceller.ptr()) };
        let cancelled = Instant::now();
        let (result, ended) = rx.recv().unwrap();
        let late = ended.saturating_duration_since(cancelled);
        let outcome = result.as_ref().map(|_| "a list".to_string()).unwrap_or_else(|f| format!("{:?}", f.status));
        eprintln!("models of 100k entries: {outcome}, {late:?} after the cancel");
        assert!(late < Duration::from_secs(2), "returned {late:?} after the cancel");
        if ended > cancelled + Duration::from_millis(50) {
            assert_eq!(result.unwrap_err().status, ustb_status::USTB_CANCELLED);
        }
    });
}

#[test]
fn login_state_tells_the_three_apart() {
    let emu = emulator_with(Config { login_token: Some(LOGIN.into()), ..Config::default() });
    let state = login_state(&login_client(&emu));
    assert_eq!(state["state"], "logged_in");
    assert_eq!((state["http_status"].as_u64(), state["error"].is_null()), (Some(200), true));

    let secret = "expired-login-cookie-value";
    for options in [json!({}), json!({ "vjuid_login": secret })] {
        let mut options = options;
        options["base_url"] = json!(emu.base_url());
        let state = login_state(&client(&options).unwrap());
        assert_eq!(
            (state["state"].as_str(), state["http_status"].as_u64()),
            (Some("logged_out"), Some(302)),
            "{options}"
        );
        assert!(state["detail"].as_str().unwrap().contains("vjuid_login"), "{state}");
        assert!(!state.to_string().contains(&secret[..8]));
    }

    let state = login_state(&client_of(&closed_port(), json!({})));
    assert_eq!((state["state"].as_str(), state["error"].as_str()), (Some("unreachable"), Some("connect_error")));
    assert!(state["http_status"].is_null() && !state["detail"].as_str().unwrap().is_empty());
    let silent = client_of(&raw_server(None), json!({ "idle_timeout_ms": 300 }));
    let state = login_state(&silent);
    assert_eq!((state["state"].as_str(), state["error"].as_str()), (Some("unreachable"), Some("timeout")));

    // An answer that is none of the three is the call's error, not a state.
    let broken =
        raw_server(Some("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!"));
    let err = call(|o, e| unsafe { ustb_client_login_state(client_of(&broken, json!({})).0, NONE, o, e) }).unwrap_err();
    assert_eq!((err.status, err.http_status), (ustb_status::USTB_HTTP_STATUS, 500));
}

#[test]
fn logged_out_calls_are_auth_errors_and_public_ones_still_answer() {
    let emu = emulator_with(Config { login_token: Some(LOGIN.into()), ..Config::default() });
    let secret = "expired-login-cookie-value";
    let expired = client_of(&emu.base_url(), json!({ "vjuid_login": secret }));
    let guest = client(&json!({ "base_url": emu.base_url(), "max_retries": 0 })).unwrap();
    for c in [&expired, &guest] {
        let failures = [
            sessions(c, 1, 10).unwrap_err(),
            history(c, "abc").unwrap_err(),
            delete(c, "abc").unwrap_err(),
            call(|o, e| unsafe { ustb_client_new_session_id(c.0, 0, NONE, o, e) }).unwrap_err(),
        ];
        for f in failures {
            assert_eq!((f.status, f.api_code, f.http_status), (ustb_status::USTB_AUTH_ERROR, 10042, 200), "{f:?}");
            assert_eq!(f.detail["m"], "请登录");
            assert!(!f.message.contains(&secret[..8]) && !f.detail.to_string().contains(&secret[..8]));
        }
        web_info(c, NONE).unwrap();
        models(c, 3).unwrap();
        let info = call(|o, e| unsafe { ustb_client_user_info(c.0, o, e) }).unwrap();
        assert_eq!(info["uid"], 0, "a visitor's profile");
    }
}

#[test]
fn bad_parameters_are_refused_before_any_traffic() {
    let emu = emulator();
    let c = login_client(&emu);
    web_info(&c, NONE).unwrap();
    let before = emu.requests().len();
    let invalid = |r: Result<Value, Failure>, what: &str| {
        let f = r.expect_err(what);
        assert_eq!(f.status, ustb_status::USTB_INVALID_ARGUMENT, "{what}: {f:?}");
        assert!(f.message.len() < 400, "{what}: {}", f.message);
        f.message
    };
    for id in [-1, i64::MIN] {
        invalid(call(|o, e| unsafe { ustb_client_app_detail(c.0, id, NONE, o, e) }), "app_detail");
        invalid(call(|o, e| unsafe { ustb_client_page_settings(c.0, id, NONE, o, e) }), "page_settings");
        invalid(call(|o, e| unsafe { ustb_client_new_session_id(c.0, id, NONE, o, e) }), "new_session_id");
        invalid(models(&c, id), "models");
    }
    for (page, size) in [(0, 10), (1, 0), (1, 101), (0, 0), (u32::MAX, u32::MAX)] {
        invalid(sessions(&c, page, size), &format!("sessions({page}, {size})"));
    }
    let long = "x".repeat(129);
    for id in ["", "a b", "a&b=c", "../x", "中文", long.as_str()] {
        invalid(history(&c, id), &format!("history({id:?})"));
        let message = invalid(delete(&c, id), &format!("delete({id:?})"));
        assert!(message.contains("session_id"));
    }
    let bad_utf8 = [0xffu8, 0];
    invalid(call(|o, e| unsafe { ustb_client_chat_history(c.0, bad_utf8.as_ptr().cast(), NONE, o, e) }), "non-UTF-8");
    invalid(call(|o, e| unsafe { ustb_client_session_delete(c.0, ptr::null(), NONE, o, e) }), "NULL session_id");
    invalid(call(|o, e| unsafe { ustb_client_web_info(ptr::null(), NONE, o, e) }), "NULL client");
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_client_login_state(c.0, NONE, ptr::null_mut(), &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT, "NULL json_out");
    // A stream's canceller belongs to its stream.
    let stream = open(&c, &user("hi")).unwrap();
    let (mut from_stream, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_chat_stream_canceller(stream.0, &mut from_stream, &mut err) }, err).unwrap();
    let message = invalid(web_info(&c, from_stream), "a stream's canceller");
    assert!(message.contains("ustb_canceller_new"), "{message}");
    unsafe { ustb_canceller_free(from_stream) };
    assert_eq!(emu.requests().len(), before, "nothing was sent");

    // The edges that are valid.
    sessions(&c, 1, 100).unwrap();
    history(&c, &"x".repeat(128)).unwrap();
}

#[test]
fn cancel_stops_a_call_and_a_canceller_serves_one_call_at_a_time() {
    let silent = client_of(&raw_server(None), json!({ "idle_timeout_ms": 60_000 }));
    let canceller = Canceller::new();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let (c, cancel, tx) = (&silent, &canceller, tx.clone());
        let worker = scope.spawn(move || {
            let result = web_info(c, cancel.0);
            tx.send(()).unwrap();
            result
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(rx.try_recv().is_err(), "the call waits for the silent server");
        let busy = sessions_with(&silent, canceller.0).unwrap_err();
        assert_eq!(busy.status, ustb_status::USTB_INVALID_ARGUMENT);
        assert!(busy.message.contains("in use"), "{}", busy.message);
        let cancelled_at = Instant::now();
        unsafe { ustb_canceller_cancel(canceller.0) };
        rx.recv_timeout(Duration::from_secs(10)).expect("the cancelled call returns");
        assert!(cancelled_at.elapsed() < Duration::from_secs(2), "{:?}", cancelled_at.elapsed());
        assert_eq!(worker.join().unwrap().unwrap_err().status, ustb_status::USTB_CANCELLED);
    });

    // A cancelled canceller cancels every later call at once, sending nothing.
    let emu = emulator();
    let c = login_client(&emu);
    let before = emu.requests().len();
    assert_eq!(web_info(&c, canceller.0).unwrap_err().status, ustb_status::USTB_CANCELLED);
    assert_eq!(login_state_with(&c, canceller.0).unwrap_err().status, ustb_status::USTB_CANCELLED);
    let bad_page = call(|o, e| unsafe { ustb_client_sessions(c.0, 0, 10, canceller.0, o, e) }).unwrap_err();
    assert_eq!(bad_page.status, ustb_status::USTB_INVALID_ARGUMENT, "bad arguments are reported as such");
    assert_eq!(emu.requests().len(), before);
    // One that is not cancelled serves one call after another.
    let fresh = Canceller::new();
    for _ in 0..3 {
        web_info(&c, fresh.0).unwrap();
        assert_eq!(login_state_with(&c, fresh.0).unwrap()["state"], "logged_in");
    }
}

fn sessions_with(c: &Client, cancel: *const ustb_canceller) -> Result<Value, Failure> {
    call(|o, e| unsafe { ustb_client_sessions(c.0, 1, 10, cancel, o, e) })
}

fn login_state_with(c: &Client, cancel: *const ustb_canceller) -> Result<Value, Failure> {
    call(|o, e| unsafe { ustb_client_login_state(c.0, cancel, o, e) })
}

#[test]
fn calls_are_bounded_by_the_timeouts_and_html_is_explained() {
    let silent = client_of(&raw_server(None), json!({ "idle_timeout_ms": 300 }));
    let start = Instant::now();
    assert_eq!(sessions(&silent, 1, 10).unwrap_err().status, ustb_status::USTB_TIMEOUT);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let whole = client_of(&raw_server(None), json!({ "timeout_ms": 300 }));
    assert_eq!(models(&whole, 0).unwrap_err().status, ustb_status::USTB_TIMEOUT);
    assert_eq!(
        web_info(&client_of(&closed_port(), json!({})), NONE).unwrap_err().status,
        ustb_status::USTB_CONNECT_ERROR
    );

    let sign_in = raw_server(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\nConnection: close\r\n\r\n<html>please sign in</html>",
    ));
    let f = web_info(&client_of(&sign_in, json!({})), NONE).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_PROTOCOL_ERROR);
    assert!(f.message.contains("HTML") && f.message.contains("vjuid_login"), "{}", f.message);
    let redirect = raw_server(Some(
        "HTTP/1.1 302 Found\r\nLocation: https://sso.ustb.edu.cn/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let f = sessions(&client_of(&redirect, json!({})), 1, 10).unwrap_err();
    assert_eq!((f.status, f.http_status), (ustb_status::USTB_HTTP_STATUS, 302));
}
