//! The doctor through the C ABI (`ustb_client_doctor`) against the emulator in each state a
//! user can be in: server down, no DNS, logged out, login expired, fine; and `ustb-chat
//! --doctor` printing the same report. Each report names the failing step, skips the later
//! ones, and never contains a cookie value.

mod common;

use std::process::Command;
use std::ptr;

use common::*;
use serde_json::{json, Value};
use ustb_openai::emulator::Config;
use ustb_openai::ffi::*;

const STEPS: [&str; 6] = ["dns", "tcp", "http", "web_info", "login", "chat"];

/// The report of `ustb_client_doctor` for a client made of `options`.
fn doctor(options: Value, doctor_options: Option<&str>) -> Value {
    let c = client(&options).unwrap();
    let opts = doctor_options.map(cstring);
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let opts_ptr = opts.as_ref().map_or(ptr::null(), |o| o.as_ptr());
    let st = unsafe { ustb_client_doctor(c.0, opts_ptr, ptr::null(), &mut out, &mut err) };
    check(st, err).unwrap();
    let text = unsafe { take_string(out) };
    for secret in [LOGIN, "other-login-token"] {
        assert!(!text.contains(secret), "a cookie value in the report: {text}");
    }
    serde_json::from_str(&text).unwrap()
}

/// The verdicts in order, after checking the report's shape.
fn verdicts(report: &Value) -> Vec<String> {
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, STEPS, "{report}");
    for c in checks {
        assert!(c["detail"].is_string() && c["next_step"].is_string() && c["ms"].is_u64(), "{c}");
        if c["verdict"] == "fail" {
            assert!(!c["next_step"].as_str().unwrap().is_empty(), "a failure says what to do: {c}");
        }
        if c["verdict"] == "skipped" {
            assert!(c["detail"].as_str().unwrap().starts_with("skipped: "), "{c}");
        }
    }
    let all_ok = checks.iter().all(|c| c["verdict"] == "ok");
    assert_eq!(report["ok"], all_ok, "{report}");
    checks.iter().map(|c| c["verdict"].as_str().unwrap().to_string()).collect()
}

fn detail<'a>(report: &'a Value, step: &str) -> &'a str {
    let checks = report["checks"].as_array().unwrap();
    checks.iter().find(|c| c["name"] == step).unwrap()["detail"].as_str().unwrap()
}

fn expect(report: &Value, want: [&str; 6]) {
    assert_eq!(verdicts(report), want, "{report:#}");
}

#[test]
fn down_a_closed_port() {
    let report = doctor(json!({ "base_url": closed_port(), "vjuid_login": LOGIN, "max_retries": 0 }), None);
    expect(&report, ["ok", "fail", "skipped", "skipped", "skipped", "skipped"]);
    assert!(detail(&report, "dns").contains("(loopback)"), "{report}");
    assert!(detail(&report, "http").contains("the tcp check failed"), "{report}");
}

#[test]
fn no_dns_for_an_invalid_host() {
    let options =
        json!({ "base_url": "http://ustb-doctor-test.invalid", "vjuid_login": LOGIN, "connect_timeout_ms": 3000 });
    let report = doctor(options, None);
    expect(&report, ["fail", "skipped", "skipped", "skipped", "skipped", "skipped"]);
    assert!(detail(&report, "dns").contains("ustb-doctor-test.invalid does not resolve"), "{report}");
}

#[test]
fn logged_out_without_a_cookie() {
    let emu = emulator();
    let report = doctor(json!({ "base_url": emu.base_url(), "max_retries": 0 }), None);
    expect(&report, ["ok", "ok", "ok", "ok", "fail", "skipped"]);
    assert!(detail(&report, "login").contains("no login cookie"), "{report}");
    assert!(detail(&report, "web_info").contains("北科大AI助手"), "{report}");
}

#[test]
fn expired_a_refused_cookie() {
    let emu = emulator_with(Config { login_token: Some(LOGIN.into()), ..Config::default() });
    let report =
        doctor(json!({ "base_url": emu.base_url(), "vjuid_login": "other-login-token", "max_retries": 0 }), None);
    expect(&report, ["ok", "ok", "ok", "ok", "fail", "skipped"]);
    assert!(detail(&report, "login").contains("expired or wrong"), "{report}");
}

#[test]
fn fine_names_the_user_redacted_unless_asked() {
    let emu = emulator_with(Config { login_token: Some(LOGIN.into()), ..Config::default() });
    let options = json!({ "base_url": emu.base_url(), "vjuid_login": LOGIN, "max_retries": 0 });
    let report = doctor(options.clone(), None);
    expect(&report, ["ok"; 6]);
    assert_eq!(report["ok"], true);
    assert_eq!(detail(&report, "login"), "logged in as 张**");
    assert!(!report.to_string().contains("张同学"), "{report}");
    assert!(detail(&report, "chat").contains("first chunk after"), "{report}");
    let report = doctor(options, Some(r#"{"reveal_name": true}"#));
    assert_eq!(detail(&report, "login"), "logged in as 张同学");
}

#[test]
fn bad_options_and_a_cancelled_canceller_send_nothing() {
    let emu = emulator();
    let c = login_client(&emu);
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let bad = cstring(r#"{"reveal":true}"#);
    let st = unsafe { ustb_client_doctor(c.0, bad.as_ptr(), ptr::null(), &mut out, &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
    assert!(out.is_null());
    let mut canceller = ptr::null_mut();
    check(unsafe { ustb_canceller_new(&mut canceller, &mut err) }, err).unwrap();
    unsafe { ustb_canceller_cancel(canceller) };
    let st = unsafe { ustb_client_doctor(c.0, ptr::null(), canceller, &mut out, &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_CANCELLED);
    assert!(out.is_null());
    unsafe { ustb_canceller_free(canceller) };
}

#[test]
fn chat_command_doctor_against_the_emulator() {
    let exe = compile(false, "ustb-chat", &["examples/c/chat.c"]);
    let emu = EmulatorProcess::start();
    let doctor = |cookie: Option<&str>| {
        let mut cmd = Command::new(&exe);
        cmd.args(["--base-url", &emu.url]).env_remove("USTB_COOKIE");
        if let Some(cookie) = cookie {
            cmd.args(["--cookie", cookie]);
        }
        let out = run(cmd.arg("--doctor"));
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, out, err) = doctor(Some("cookie_vjuid_login=demo-cookie"));
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), STEPS.len(), "{out}");
    for (line, step) in lines.iter().zip(STEPS) {
        assert!(line.starts_with(&format!("{step:<9} ok ")), "{out}");
    }
    assert!(!out.contains("demo-cookie"), "{out}");
    println!("fine:\n{out}");

    let (code, out, err) = doctor(None);
    assert_eq!((code, err.as_str()), (Some(1), ""), "{out}");
    assert!(out.contains("login     fail     not logged in"), "{out}");
    assert!(out.contains("next: sign in at"), "{out}");
    assert!(out.contains("chat      skipped  skipped: the login check failed"), "{out}");
    println!("logged out:\n{out}");
}

#[test]
fn a_cancel_stops_a_check_that_waits() {
    // Accepts and never answers: the http check would wait for the idle timeout (10 s).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let c = client(&json!({ "base_url": url, "max_retries": 0, "idle_timeout_ms": 10_000 })).unwrap();
    let mut err = ptr::null_mut();
    let mut canceller = ptr::null_mut();
    check(unsafe { ustb_canceller_new(&mut canceller, &mut err) }, err).unwrap();
    let handle = canceller as usize;
    let started = std::time::Instant::now();
    let cancel = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        unsafe { ustb_canceller_cancel(handle as *mut ustb_canceller) };
    });
    let mut out = ptr::null_mut();
    let st = unsafe { ustb_client_doctor(c.0, ptr::null(), canceller, &mut out, &mut err) };
    cancel.join().unwrap();
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_CANCELLED);
    assert!(out.is_null());
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    unsafe { ustb_canceller_free(canceller) };
    drop(listener);
}

/// A reply `replay_server` serves once.
fn served(path: &str, content_type: &str, body: &str) -> Value {
    use base64::Engine;
    json!({ "request": { "method": "GET", "path": path }, "status": 200, "headers": [["content-type", content_type]],
        "reads": [{ "at_ms": 0, "b64": base64::engine::general_purpose::STANDARD.encode(body) }], "end": "eof" })
}

/// A server whose `web_info` name and `user_info` user name echo the Cookie header: the
/// report never carries the cookie value, with `reveal_name` or without.
#[test]
fn a_server_echoing_the_cookie_never_puts_it_in_the_report() {
    const SECRET: &str = "SECRET-doctor-cookie/Zq9x7Wk";
    let echo = format!("cookie_vjuid_login={SECRET}");
    let envelope = |d: Value| json!({ "e": 0, "m": "", "d": d }).to_string();
    let replies = |_| {
        [
            served("/", "text/html", "<html></html>"),
            served("/common/web_info", "application/json", &envelope(json!({ "name": echo }))),
            served("/page/front/Mdefault/chat?ext=%7B%7D", "text/html", "<html></html>"),
            served("/site/user_info", "application/json", &envelope(json!({ "user_name": echo }))),
        ]
    };
    let url = replay_server((0..2).flat_map(replies).collect());
    for reveal in [None, Some(r#"{"reveal_name": true}"#)] {
        let report = doctor(json!({ "base_url": url, "vjuid_login": SECRET, "max_retries": 0 }), reveal);
        let text = report.to_string();
        assert!(!text.contains("Zq9x7Wk") && !text.contains("doctor-cookie"), "{reveal:?}: {text}");
        assert_eq!(detail(&report, "web_info"), "web_info parses (site \"cookie_vjuid_login=<redacted>\")");
        assert!(detail(&report, "login").starts_with("logged in as c"), "{text}");
    }
}
