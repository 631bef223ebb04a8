//! Cookie values never appear in what the library reports: distinctive values go through
//! every error path the emulator can produce (each row of tests/faults.tsv, plus replies that
//! echo the request's Cookie header back) and through the pull, push and whole-reply calls;
//! every message and JSON detail is searched for the values and for any 8-character piece.

mod common;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use common::*;
use serde_json::json;
use ustb_openai::ffi::*;

const EASY: &str = "SECRETeasy0session0value0Zq9x7Wk";
const LOGIN_SECRET: &str = "SECRET-vjuid-login-Kp3Vn8Rt2Lm6";

/// Every piece of `secret` long enough to identify it.
fn leaks(text: &str) -> Option<&'static str> {
    [EASY, LOGIN_SECRET].into_iter().find(|s| (0..=s.len() - 8).any(|i| text.contains(&s[i..i + 8])))
}

fn assert_clean(what: &str, text: &str) {
    if let Some(secret) = leaks(text) {
        panic!("{what}: a piece of {secret:?} leaked into {text:?}");
    }
}

fn record(all: &mut Vec<String>, f: &Failure) {
    all.push(f.message.clone());
    all.push(f.detail.to_string());
}

unsafe extern "C" fn keep_going(_: *mut c_void, _: *const c_char, _: usize) -> c_int {
    0
}

/// The prompts that reach each error path: the fault table's directives and the echoes.
fn prompts() -> Vec<String> {
    let table = std::fs::read_to_string(root().join("tests/faults.tsv")).unwrap();
    let mut out: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').nth(1))
        .filter(|h| h.starts_with("@emu:"))
        .map(String::from)
        .collect();
    for d in ["echo-cookie-400", "echo-cookie-html", "echo-cookie-sse"] {
        out.push(format!("@emu:{d}"));
    }
    assert!(out.len() > 30, "the table was read");
    out
}

#[test]
fn cookie_values_never_reach_messages_or_details() {
    let emu = emulator();
    let options = json!({
        "base_url": emu.base_url(), "easy_session": EASY, "vjuid_login": LOGIN_SECRET,
        "idle_timeout_ms": 300, "max_retries": 0,
    });
    let c = client(&options).unwrap();
    let mut reported = Vec::new();
    for prompt in prompts() {
        if prompt.contains("huge-event") || prompt.contains("endless-line") {
            continue; // no cookie in a size failure; these two only cost time here
        }
        let req = user(&format!("{prompt} {EASY} {LOGIN_SECRET}"));
        let (_, failure) = match open(&c, &req) {
            Ok(s) => drain(&s),
            Err(f) => (Vec::new(), Some(f)),
        };
        if let Some(f) = &failure {
            record(&mut reported, f);
        }
        if let Err(f) = create(&c, &req) {
            record(&mut reported, &f);
        }
        let body = cstring(&req.to_string());
        let mut err = ptr::null_mut();
        let st = unsafe { ustb_chat_stream_callback(c.0, body.as_ptr(), Some(keep_going), ptr::null_mut(), &mut err) };
        if let Err(f) = check(st, err) {
            record(&mut reported, &f);
        }
    }
    // The echoes do fail, with the cookie header in the server's words: they must be cut out.
    let echoed = reported.iter().filter(|m| m.contains("<redacted>")).count();
    assert!(echoed >= 3, "the echo replies reached the redaction ({echoed})");
    for text in &reported {
        assert_clean("an error", text);
    }

    // A cookie the server sends back that the options would refuse is not kept.
    let before = cookies(&c);
    let s = open(&c, &user("@emu:bad-session-cookie")).unwrap();
    assert!(drain(&s).1.is_none());
    assert_eq!(cookies(&c), before, "an invalid easy_session from the server is ignored");
}

#[test]
fn option_errors_never_repeat_cookie_values() {
    for options in [
        json!({ "easy_session": format!("{EASY}x") }),
        json!({ "vjuid_login": format!("{LOGIN_SECRET};x") }),
        json!({ "cookie": format!("easy_session={EASY}x; cookie_vjuid_login={LOGIN_SECRET};;=") }),
        json!({ "vjuid_login": LOGIN_SECRET, "unknown": 1 }),
    ] {
        let f = client(&options).err().expect("refused");
        assert_clean("an option error", &f.message);
        assert_clean("an option error's detail", &f.detail.to_string());
    }
}

fn cookies(c: &Client) -> serde_json::Value {
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let st = unsafe { ustb_client_cookies(c.0, &mut out, &mut err) };
    check(st, err).unwrap();
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
    unsafe { ustb_string_free(out) };
    serde_json::from_str(&text).unwrap()
}

unsafe fn user_info(c: &Client) -> String {
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let st = ustb_client_user_info(c.0, &mut out, &mut err);
    check(st, err).unwrap();
    take_string(out)
}

/// Capture mode (`record`): the same secrets through every path, plus a server-issued session,
/// a Set-Cookie the options would refuse and the student's name and number in user_info; none
/// reaches the file, and what replaced them keeps its length and class.
#[test]
fn captures_hold_no_secret() {
    let emu = emulator();
    let file = target_dir().join("secrets_capture.jsonl");
    let _ = std::fs::remove_file(&file);
    let record = file.to_str().unwrap();
    let c = client(&json!({
        "base_url": emu.base_url(), "easy_session": EASY, "vjuid_login": LOGIN_SECRET,
        "idle_timeout_ms": 300, "max_retries": 0, "record": record,
    }))
    .unwrap();
    let mut all = prompts();
    all.push("@emu:bad-session-cookie".into());
    for prompt in all {
        if prompt.contains("huge-event") || prompt.contains("endless-line") {
            continue;
        }
        if let Ok(s) = open(&c, &user(&format!("{prompt} {EASY} {LOGIN_SECRET}"))) {
            drain(&s);
        }
    }
    unsafe { user_info(&c) };
    // Logged in, without a session: the server issues one, and user_info names the student.
    let c2 = client(&json!({ "base_url": emu.base_url(), "vjuid_login": LOGIN, "max_retries": 0, "record": record }))
        .unwrap();
    let info = unsafe { user_info(&c2) };
    assert!(info.contains("张同学") && info.contains("U202341234"), "{info}");
    drop(stream_all(&c2, &user("hi")));
    let issued = cookies(&c2)["easy_session"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().count() > 30, "every exchange recorded");
    assert_clean("the capture", &text);
    // Bodies are searched decoded as well.
    let records = capture_records(&file);
    let mut bodies = String::new();
    for r in &records {
        for read in r["reads"].as_array().unwrap() {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD.decode(read["b64"].as_str().unwrap()).unwrap();
            bodies.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert_clean("the capture's bodies", &bodies);
    let bad_session = "0123456789abcdef0123456789!$%&*+-.^_|~@A";
    for secret in [LOGIN, issued.as_str(), bad_session, "张同学", "U202341234", "100231"] {
        assert!(!text.contains(secret) && !bodies.contains(secret), "{secret:?} reached the capture");
    }
    // Redacted, not removed: the same shapes remain for the parser.
    assert!(
        bodies.contains("\"user_name\":\"某某某\"") && bodies.contains("\"user_number\":\"X000000000\""),
        "{bodies}"
    );
    let set_cookies: Vec<&str> = records
        .iter()
        .flat_map(|r| r["headers"].as_array().unwrap())
        .filter(|h| h[0] == "set-cookie")
        .map(|h| h[1].as_str().unwrap())
        .collect();
    assert!(
        set_cookies.iter().any(|v| v.starts_with("easy_session=") && v[13..45].bytes().all(|b| b"xX0".contains(&b))),
        "{set_cookies:?}"
    );
    assert!(
        set_cookies.iter().any(|v| v.starts_with("easy_session=0000000000xxxxxx0000000000!$%&*+-.^_|~@X")),
        "{set_cookies:?}"
    );
    assert!(text.contains("\"cookies\":[\"easy_session\",\"cookie_vjuid_login\"]"));
}

/// A record `replay_server` serves once: `status`, `content_type`, then `body` in one write
/// each `step` bytes (1 ms apart, so they arrive as separate reads).
fn served(path: &str, status: u16, content_type: &str, body: &str, step: usize) -> serde_json::Value {
    use base64::Engine;
    let reads: Vec<serde_json::Value> = body
        .as_bytes()
        .chunks(step)
        .enumerate()
        .map(|(i, b)| json!({ "at_ms": i, "b64": base64::engine::general_purpose::STANDARD.encode(b) }))
        .collect();
    json!({ "request": { "method": "GET", "path": path }, "status": status,
        "headers": [["content-type", content_type]], "reads": reads, "end": "eof" })
}

/// Capture mode masks the named fields whatever their escaping or length, also split across
/// reads, and the values it masked wherever a later reply repeats them.
#[test]
fn captures_mask_personal_fields_in_every_shape() {
    let info = r#"{"e":0,"m":"","d":{"user_name":"\u5f20\u5927\u660e","email":"zhang\/x@ustb.edu.cn","account":"王","uid":42,"user_number":"U2023","phone":["13800001111"],"type_name":"学生"}}"#;
    let site = r#"{"e":0,"m":"","d":{"name":"北科大AI助手","title":"欢迎 张大明"}}"#;
    let url = replay_server(vec![
        served("/site/user_info", 200, "application/json", info, 1),
        served("/common/web_info", 200, "application/json", site, 3),
    ]);
    let file = target_dir().join("secrets_capture_shapes.jsonl");
    let _ = std::fs::remove_file(&file);
    let c =
        client(&json!({ "base_url": url, "vjuid_login": LOGIN, "max_retries": 0, "record": file.to_str().unwrap() }))
            .unwrap();
    let got = unsafe { user_info(&c) };
    assert!(got.contains("张大明"), "the caller gets the real reply: {got}");
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_client_web_info(c.0, ptr::null(), &mut out, &mut err) }, err).unwrap();
    unsafe { take_string(out) };

    let records = capture_records(&file);
    assert_eq!(records.len(), 2);
    let body = |r: &serde_json::Value| {
        use base64::Engine;
        let reads = r["reads"].as_array().unwrap();
        let bytes: Vec<u8> = reads
            .iter()
            .flat_map(|read| base64::engine::general_purpose::STANDARD.decode(read["b64"].as_str().unwrap()).unwrap())
            .collect();
        (String::from_utf8(bytes).unwrap(), reads.len())
    };
    let (info_body, reads) = body(&records[0]);
    assert!(reads > 20, "the reply came in pieces ({reads} reads)");
    for secret in ["\\u5f20", "zhang", "王", "42", "2023", "13800001111"] {
        assert!(!info_body.contains(secret), "{secret:?} reached the capture: {info_body}");
    }
    // Masked in place: the reply parses the same way, with the same lengths and classes.
    let v: serde_json::Value = serde_json::from_str(&info_body).unwrap();
    assert_eq!(v["d"]["user_name"], "某某某");
    assert_eq!(v["d"]["email"], "xxxxx/x@xxxx.xxx.xx");
    assert_eq!(v["d"]["account"], "某");
    assert_eq!(v["d"]["uid"], 10);
    assert_eq!(v["d"]["user_number"], "X0000");
    assert_eq!(v["d"]["phone"][0], "00000000000");
    assert_eq!(v["d"]["type_name"], "学生");
    let (site_body, _) = body(&records[1]);
    assert!(site_body.contains("\"title\":\"欢迎 某某某\"") && site_body.contains("北科大AI助手"), "{site_body}");
}

/// Errors never quote a cookie value in another form: JSON-escaped with `\/`, percent-encoded
/// (either case), or inside base64.
#[test]
fn cookie_values_in_other_forms_never_reach_errors() {
    use base64::Engine;
    let secret = "SECRET/vjuid+login=Kp3Vn8Rt";
    let forms = [
        secret.replace('/', "\\/"),
        "SECRET%2Fvjuid%2Blogin%3DKp3Vn8Rt".to_string(),
        "SECRET%2fvjuid%2blogin%3dKp3Vn8Rt".to_string(),
        base64::engine::general_purpose::STANDARD.encode(format!("cookie_vjuid_login={secret}")),
        base64::engine::general_purpose::URL_SAFE.encode(format!("c={secret};")),
    ];
    let url = replay_server(
        forms.iter().map(|f| served("/site/user_info", 400, "text/html", &format!("<p>bad: {f}</p>"), 64)).collect(),
    );
    let c = client(&json!({ "base_url": url, "vjuid_login": secret, "max_retries": 0 })).unwrap();
    for form in &forms {
        let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
        let f = check(unsafe { ustb_client_user_info(c.0, &mut out, &mut err) }, err).unwrap_err();
        assert!(f.message.contains("<redacted>"), "{form}: {}", f.message);
        let inner = &form[form.len() / 2 - 4..form.len() / 2 + 4];
        for text in [&f.message, &f.detail.to_string()] {
            assert!(!text.contains(inner) && !text.contains("Kp3Vn8Rt"), "{form}: {text}");
        }
    }
}
