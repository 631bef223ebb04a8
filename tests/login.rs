//! The SSO login through the C ABI against the emulator's SSO: the QR code way (every state,
//! renewal, cancel, timeouts), the SMS way (automatic and manual puzzle, every refusal), step
//! failures named, TLS with the CA option, the cookie in a client, and no secret in any error
//! or log line.

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use ustb_login_state::*;
use ustb_openai::emulator::{Config, Emulator, ReplyHosts, SsoConfig};
use ustb_openai::ffi::*;

/// Emulator settings: QR codes follow `script`, state polls are held `long_poll`.
fn sso_config(script: &str, long_poll: Duration) -> Config {
    let sso = SsoConfig { qr_script: script.into(), long_poll, ..SsoConfig::default() };
    Config { login_token: Some(LOGIN.into()), sso, ..Config::default() }
}

/// An emulator whose SSO answers quickly (polls held 300 ms); QR codes follow `script`.
fn sso_emulator(script: &str) -> Emulator {
    emulator_with(sso_config(script, Duration::from_millis(300)))
}

/// Options pointing chat, SSO and SIS at `url`.
fn options(url: &str) -> Value {
    json!({ "base_url": url, "sso_base_url": url, "sis_base_url": url, "max_retries": 0 })
}

fn new_login(options: &Value) -> Result<Login, Failure> {
    let opts = cstring(&options.to_string());
    let (mut l, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_login_new(opts.as_ptr(), &mut l, &mut err) }, err)?;
    assert!(!l.is_null());
    Ok(Login(l))
}

fn login_of(emu: &Emulator) -> Login {
    new_login(&options(&emu.base_url())).unwrap()
}

fn qr_start(l: &Login) -> Result<(), Failure> {
    let mut err = ptr::null_mut();
    check(unsafe { ustb_login_qr_start(l.0, NONE, &mut err) }, err).map(drop)
}

fn wait(l: &Login, ms: u32, cancel: *const ustb_canceller) -> Result<ustb_login_state, Failure> {
    let (mut state, mut err) = (USTB_LOGIN_WAITING, ptr::null_mut());
    let st = unsafe { ustb_login_qr_wait(l.0, ms, cancel, &mut state, &mut err) };
    match check(st, err) {
        Ok(_) => {
            assert_ne!(state, USTB_LOGIN_FAILED);
            Ok(state)
        }
        Err(f) => {
            assert_eq!(state, USTB_LOGIN_FAILED, "a failed wait reports FAILED");
            Err(f)
        }
    }
}

/// Waits until the state is final, returning every state seen.
fn wait_until_final(l: &Login) -> Result<Vec<ustb_login_state>, Failure> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let state = wait(l, 5000, NONE)?;
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        if matches!(state, USTB_LOGIN_CONFIRMED | USTB_LOGIN_EXPIRED) {
            return Ok(seen);
        }
    }
    panic!("no final state within 20 s: {seen:?}");
}

fn qr_png(l: &Login) -> Result<Vec<u8>, Failure> {
    let (mut p, mut len, mut err) = (ptr::null(), 0usize, ptr::null_mut());
    check(unsafe { ustb_login_qr_png(l.0, &mut p, &mut len, &mut err) }, err)?;
    Ok(unsafe { std::slice::from_raw_parts(p, len) }.to_vec())
}

fn string_out(f: impl FnOnce(*mut *mut c_char, *mut *mut ustb_error) -> ustb_status) -> Result<String, Failure> {
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    if let Err(failure) = check(f(&mut out, &mut err), err) {
        assert!(out.is_null(), "out must be NULL after a failure");
        return Err(failure);
    }
    Ok(unsafe { take_string(out) })
}

fn cookie(l: &Login) -> Result<String, Failure> {
    string_out(|o, e| unsafe { ustb_login_cookie(l.0, o, e) })
}

fn login_client(l: &Login) -> Result<Client, Failure> {
    let (mut c, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_login_client(l.0, &mut c, &mut err) }, err)?;
    Ok(Client(c))
}

fn sms_send(l: &Login, phone: &str, x: i32) -> Result<(), Failure> {
    let (phone, mut err) = (cstring(phone), ptr::null_mut());
    check(unsafe { ustb_login_sms_send(l.0, phone.as_ptr(), x, NONE, &mut err) }, err).map(drop)
}

fn sms_submit(l: &Login, code: &str) -> Result<(), Failure> {
    let (code, mut err) = (cstring(code), ptr::null_mut());
    check(unsafe { ustb_login_sms_submit(l.0, code.as_ptr(), NONE, &mut err) }, err).map(drop)
}

fn sms_puzzle(l: &Login) -> Result<(), Failure> {
    let mut err = ptr::null_mut();
    check(unsafe { ustb_login_sms_puzzle(l.0, NONE, &mut err) }, err).map(drop)
}

fn solve(l: &Login) -> Result<u32, Failure> {
    let (mut x, mut err) = (0u32, ptr::null_mut());
    check(unsafe { ustb_login_puzzle_solve(l.0, &mut x, &mut err) }, err)?;
    Ok(x)
}

/// A phone number of its own for each use (the SSO refuses a second code within a minute).
fn phone() -> String {
    static NEXT: Mutex<u64> = Mutex::new(0);
    let mut n = NEXT.lock().unwrap();
    *n += 1;
    format!("1390000{:04}", *n + 1000 * (std::process::id() as u64 % 9))
}

/// The emulator's rule: the code is the phone's last six digits.
fn code_for(phone: &str) -> &str {
    &phone[phone.len() - 6..]
}

/// The chat works with the client (the emulator checks the cookie).
fn assert_chats(c: &Client) {
    let (_, content, finish) = texts(&stream_all(c, &user("你好")));
    assert!(!content.is_empty());
    assert_eq!(finish.as_deref(), Some("stop"));
}

#[test]
fn qr_login_reports_scanned_then_confirmed_and_the_client_chats() {
    let emu = sso_emulator("scan@100,confirm@400");
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    assert!(qr_png(&l).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let text = string_out(|o, e| unsafe { ustb_login_qr_text(l.0, o, e) }).unwrap();
    assert!(text.lines().count() > 10 && text.contains('█'), "{text}");
    let page = string_out(|o, e| unsafe { ustb_login_qr_page_url(l.0, o, e) }).unwrap();
    assert!(page.starts_with(&format!("{}/connect/qrpage?", emu.base_url())), "{page}");
    assert_eq!(wait_until_final(&l).unwrap(), [USTB_LOGIN_SCANNED, USTB_LOGIN_CONFIRMED]);
    // Final states repeat at once.
    assert_eq!(wait(&l, 60_000, NONE).unwrap(), USTB_LOGIN_CONFIRMED);
    assert_eq!(cookie(&l).unwrap(), LOGIN);
    assert_chats(&login_client(&l).unwrap());

    // Installed into a client that was logged out.
    let logged_out = client(&json!({ "base_url": emu.base_url(), "max_retries": 0 })).unwrap();
    let f = stream_failure(&logged_out, &user("hi"));
    assert_eq!(f.status, ustb_status::USTB_AUTH_ERROR);
    assert!(f.message.contains("log in again") && f.message.contains("--login"), "{}", f.message);
    let mut err = ptr::null_mut();
    check(unsafe { ustb_login_install(l.0, logged_out.0, &mut err) }, err).unwrap();
    assert_chats(&logged_out);
    let saved = string_out(|o, e| unsafe { ustb_client_cookies(logged_out.0, o, e) }).unwrap();
    assert!(saved.contains(LOGIN), "the cookie getter shows the new login");
}

#[test]
fn an_expired_qr_code_is_renewed_without_starting_over() {
    for form in ["expire", "expire202"] {
        let emu = sso_emulator(&format!("{form}@100;scan@50,confirm@150"));
        let l = login_of(&emu);
        qr_start(&l).unwrap();
        let first = qr_png(&l).unwrap();
        assert_eq!(wait_until_final(&l).unwrap(), [USTB_LOGIN_EXPIRED], "{form}");
        assert_eq!(wait(&l, 1000, NONE).unwrap(), USTB_LOGIN_EXPIRED);
        qr_start(&l).unwrap();
        assert_ne!(qr_png(&l).unwrap(), first, "a new QR code");
        assert_eq!(wait_until_final(&l).unwrap().last(), Some(&USTB_LOGIN_CONFIRMED));
        // One login context: step 1 ran once.
        let starts = emu.requests().iter().filter(|r| r.path.starts_with("/idp/authCenter/authenticate?")).count();
        assert_eq!(starts, 1, "{form}");
        assert_chats(&login_client(&l).unwrap());
    }
}

#[test]
fn an_invalid_qr_session_is_an_auth_error() {
    let emu = sso_emulator("invalid@100");
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let f = wait_until_final(&l).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_AUTH_ERROR);
    assert!(f.message.contains("step 6") && f.message.contains("102"), "{}", f.message);
    assert_eq!(cookie(&l).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
}

#[test]
fn long_polls_that_time_out_are_repeated_and_a_short_wait_returns_the_current_state() {
    // Polls start at most once a second: with polls held 300 ms, three end with code 4.
    let emu = sso_emulator("confirm@2500");
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let started = Instant::now();
    assert_eq!(wait(&l, 150, NONE).unwrap(), USTB_LOGIN_WAITING);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(wait_until_final(&l).unwrap(), [USTB_LOGIN_CONFIRMED]);
    let polls = emu.requests().iter().filter(|r| r.path.starts_with("/connect/state?")).count();
    assert!(polls >= 3, "held polls that ended with code 4 were repeated ({polls} polls)");
}

#[test]
fn failed_polls_are_repeated_after_a_pause_while_time_remains() {
    let mut config = sso_config("scan@100,confirm@200", Duration::from_millis(300));
    config.sso.failed_polls = 2;
    let emu = emulator_with(config);
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let started = Instant::now();
    assert_eq!(wait_until_final(&l).unwrap(), [USTB_LOGIN_SCANNED, USTB_LOGIN_CONFIRMED]);
    assert!(started.elapsed() >= Duration::from_secs(2), "two pauses of 1 s");
    // With no time left for a pause, the gateway's answer is the error.
    let mut config = sso_config("scan@100", Duration::from_millis(300));
    config.sso.failed_polls = 1;
    let emu = emulator_with(config);
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let f = wait(&l, 500, NONE).unwrap_err();
    assert_eq!((f.status, f.http_status), (ustb_status::USTB_HTTP_STATUS, 502), "{}", f.message);
    assert!(f.message.contains("step 6"), "{}", f.message);
    // Waiting again after the error works.
    assert_eq!(wait(&l, 5000, NONE).unwrap(), USTB_LOGIN_SCANNED);
}

#[test]
fn a_wait_is_cancelled_from_another_thread_promptly() {
    let emu = emulator_with(sso_config("scan@60000", Duration::from_secs(15)));
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let cancel = Canceller::new();
    let worst = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let f = wait(&l, 60_000, cancel.ptr()).unwrap_err();
            (f, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(300));
        // Another call on the login meanwhile is refused at once, not blocked.
        let busy = qr_png(&l).unwrap_err();
        assert_eq!(busy.status, ustb_status::USTB_INVALID_ARGUMENT);
        assert!(busy.message.contains("busy"), "{}", busy.message);
        let at = Instant::now();
        unsafe { ustb_canceller_cancel(cancel.0) };
        let (f, ended) = waiter.join().unwrap();
        assert_eq!(f.status, ustb_status::USTB_CANCELLED, "{}", f.message);
        ended.duration_since(at)
    });
    eprintln!("a held QR poll ended {worst:?} after the cancel");
    assert!(worst < Duration::from_secs(1), "cancel took {worst:?}");
    // The login stays usable, and a later call with the cancelled canceller stops at once.
    assert_eq!(wait(&l, 60_000, cancel.ptr()).unwrap_err().status, ustb_status::USTB_CANCELLED);
}

#[test]
fn calls_out_of_order_are_invalid_arguments_before_any_traffic() {
    let emu = sso_emulator("scan@100,confirm@200");
    let l = login_of(&emu);
    let invalid = |f: Failure| assert_eq!(f.status, ustb_status::USTB_INVALID_ARGUMENT, "{}", f.message);
    invalid(qr_png(&l).unwrap_err());
    invalid(wait(&l, 10, NONE).unwrap_err());
    invalid(cookie(&l).unwrap_err());
    invalid(login_client(&l).err().unwrap());
    invalid(solve(&l).unwrap_err());
    invalid(sms_submit(&l, "123456").unwrap_err());
    invalid(sms_send(&l, "1390000000", USTB_PUZZLE_AUTO).unwrap_err()); // 10 digits
    invalid(sms_send(&l, "23900000000", USTB_PUZZLE_AUTO).unwrap_err());
    invalid(sms_send(&l, &phone(), 12).unwrap_err()); // an answer without a puzzle
    invalid(sms_send(&l, &phone(), -2).unwrap_err());
    let (mut bg, mut bl, mut pc, mut pl, mut err) = (ptr::null(), 0, ptr::null(), 0, ptr::null_mut());
    let st = unsafe { ustb_login_puzzle_images(l.0, &mut bg, &mut bl, &mut pc, &mut pl, &mut err) };
    invalid(check(st, err).unwrap_err());
    assert!(bg.is_null() && pc.is_null() && bl == 0);
    for bad in [json!({"sso_base_url": "ftp://x"}), json!({"ca_file": "/nonexistent.pem"}), json!({"nope": 1})] {
        invalid(new_login(&bad).err().unwrap());
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn sms_login_solves_the_puzzle_itself_and_the_client_chats() {
    let emu = sso_emulator("scan@100");
    let l = login_of(&emu);
    let p = phone();
    sms_send(&l, &p, USTB_PUZZLE_AUTO).unwrap();
    let f = sms_submit(&l, "000000").unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_API_ERROR, "{}", f.message);
    assert!(f.message.contains("step 6'"), "{}", f.message);
    sms_submit(&l, code_for(&p)).unwrap();
    assert_eq!(cookie(&l).unwrap(), LOGIN);
    assert_chats(&login_client(&l).unwrap());
}

#[test]
fn sms_login_with_a_person_solving_the_puzzle() {
    let emu = sso_emulator("scan@100");
    let l = login_of(&emu);
    sms_puzzle(&l).unwrap();
    let (mut bg, mut bl, mut pc, mut pl, mut err) = (ptr::null(), 0, ptr::null(), 0, ptr::null_mut());
    check(unsafe { ustb_login_puzzle_images(l.0, &mut bg, &mut bl, &mut pc, &mut pl, &mut err) }, err).unwrap();
    let png = |p: *const u8, n: usize| unsafe { std::slice::from_raw_parts(p, n) }.starts_with(b"\x89PNG");
    assert!(png(bg, bl) && png(pc, pl));
    let x = solve(&l).unwrap();
    // A wrong answer is refused with 5054; the puzzle is spent.
    let f = sms_send(&l, &phone(), (x + 60) as i32).unwrap_err();
    assert_eq!((f.status, f.api_code), (ustb_status::USTB_API_ERROR, 5054), "{}", f.message);
    assert!(f.message.contains("puzzle"), "{}", f.message);
    assert_eq!(sms_send(&l, &phone(), x as i32).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
    sms_puzzle(&l).unwrap();
    let x = solve(&l).unwrap();
    let p = phone();
    sms_send(&l, &p, x as i32).unwrap();
    sms_submit(&l, code_for(&p)).unwrap();
    assert_eq!(cookie(&l).unwrap(), LOGIN);

    // The same phone again within the minute: 201; the code already sent stays usable.
    let again = login_of(&emu);
    let p = phone();
    sms_send(&again, &p, USTB_PUZZLE_AUTO).unwrap();
    let f = sms_send(&again, &p, USTB_PUZZLE_AUTO).unwrap_err();
    assert_eq!((f.status, f.api_code), (ustb_status::USTB_API_ERROR, 201), "{}", f.message);
    assert!(f.message.contains("wait"), "{}", f.message);
    assert_eq!(sms_send(&again, &phone(), 3).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
    sms_submit(&again, code_for(&p)).unwrap();
    assert_eq!(cookie(&again).unwrap(), LOGIN);
}

#[test]
fn sms_closed_is_reported_with_its_step() {
    let mut config = sso_config("scan@100", Duration::from_millis(300));
    config.sso.sms_open = false;
    let emu = emulator_with(config);
    let l = login_of(&emu);
    let f = sms_send(&l, &phone(), USTB_PUZZLE_AUTO).unwrap_err();
    assert_eq!((f.status, f.http_status), (ustb_status::USTB_PROTOCOL_ERROR, 404), "{}", f.message);
    assert!(f.message.contains("step 3'"), "{}", f.message);
}

/// A server that answers every request with `reply` (a whole HTTP response).
fn fixed_server(reply: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    url
}

#[test]
fn a_reply_unlike_the_protocol_fails_naming_the_step() {
    let url = fixed_server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let l = login_of_url(&url);
    let f = qr_start(&l).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_PROTOCOL_ERROR);
    assert!(f.message.contains("step 1") && f.message.contains("redirect"), "{}", f.message);

    let url = fixed_server(
        "HTTP/1.1 302 Found\r\nLocation: /ac/#/index?entityId=x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let f = qr_start(&login_of_url(&url)).unwrap_err();
    assert!(f.message.contains("step 1") && f.message.contains("lck"), "{}", f.message);

    let l = login_of_url(&closed_port());
    let f = qr_start(&l).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_CONNECT_ERROR);
    assert!(f.message.contains("step 1"), "{}", f.message);
}

fn login_of_url(url: &str) -> Login {
    new_login(&options(url)).unwrap()
}

// --- TLS ---

fn tls_files() -> (String, std::path::PathBuf, std::path::PathBuf) {
    let dir = root().join("tests/tls");
    (dir.join("ca.pem").to_str().unwrap().to_string(), dir.join("server.pem"), dir.join("server.key"))
}

#[test]
fn the_login_runs_over_tls_with_the_ca_option_and_fails_clearly_without_it() {
    let (ca, cert, key) = tls_files();
    let emu = sso_emulator("scan@100,confirm@300");
    let tls = emu.serve_tls("127.0.0.1:0", &cert, &key).expect("TLS front starts");
    let https = format!("https://{tls}");
    let tls_options = |ca: Option<&str>| json!({ "base_url": emu.base_url(), "sso_base_url": https, "sis_base_url": https, "max_retries": 0, "ca_file": ca });

    let l = new_login(&tls_options(Some(&ca))).unwrap();
    qr_start(&l).unwrap();
    assert_eq!(wait_until_final(&l).unwrap().last(), Some(&USTB_LOGIN_CONFIRMED));
    assert_chats(&login_client(&l).unwrap());

    // The bundled roots do not know the test CA.
    let f = qr_start(&new_login(&tls_options(None)).unwrap()).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_CONNECT_ERROR, "{}", f.message);
    assert!(
        f.message.contains("TLS") && f.message.contains("certificate") && f.message.contains("ca_file"),
        "{}",
        f.message
    );

    // Cancel works on a held poll over TLS too.
    let cancel = Canceller::new();
    let slow = emulator_with(sso_config("scan@60000", Duration::from_secs(15)));
    let https = format!("https://{}", slow.serve_tls("127.0.0.1:0", &cert, &key).unwrap());
    let l =
        new_login(&json!({ "base_url": slow.base_url(), "sso_base_url": https, "sis_base_url": https, "ca_file": ca }))
            .unwrap();
    qr_start(&l).unwrap();
    let took = std::thread::scope(|s| {
        let waiter = s.spawn(|| wait(&l, 60_000, cancel.ptr()).unwrap_err());
        std::thread::sleep(Duration::from_millis(300));
        let at = Instant::now();
        unsafe { ustb_canceller_cancel(cancel.0) };
        assert_eq!(waiter.join().unwrap().status, ustb_status::USTB_CANCELLED);
        at.elapsed()
    });
    eprintln!("a held QR poll over TLS ended {took:?} after the cancel");
    assert!(took < Duration::from_secs(1), "cancel over TLS took {took:?}");
}

// --- Secrets ---

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn keep_line(_: *mut c_void, _: ustb_log_level, line: *const c_char) {
    LINES.lock().unwrap().push(CStr::from_ptr(line).to_string_lossy().into_owned());
}

/// Values of `key=` in the recorded request paths and JSON bodies of the emulator.
fn recorded_values(emu: &Emulator, keys: &[&str]) -> Vec<String> {
    let mut values = Vec::new();
    for r in emu.requests() {
        for key in keys {
            for part in r.path.split(['?', '&']) {
                if let Some(v) = part.strip_prefix(&format!("{key}=")) {
                    values.push(v.to_string());
                }
            }
        }
    }
    values.retain(|v| v.len() >= 6);
    values
}

#[test]
fn no_secret_reaches_an_error_or_a_log_line() {
    let mut err = ptr::null_mut();
    check(unsafe { ustb_set_log_callback(Some(keep_line), ptr::null_mut(), USTB_LOG_DEBUG, &mut err) }, err).unwrap();
    let emu = sso_emulator("scan@50,confirm@100");
    let mut messages = Vec::new();
    let mut note = |r: Result<(), Failure>| {
        if let Err(f) = r {
            messages.push(format!("{} {}", f.message, f.detail));
        }
    };
    // QR: a full login.
    let l = login_of(&emu);
    note(qr_start(&l));
    note(wait_until_final(&l).map(drop));
    let qr_cookie = cookie(&l).unwrap();
    // SMS: refusals of every kind, then success.
    let p = phone();
    let s = login_of(&emu);
    note(sms_send(&s, &p, USTB_PUZZLE_AUTO));
    note(sms_submit(&s, "999999"));
    note(sms_submit(&s, code_for(&p)));
    note(sms_send(&login_of(&emu), &p, USTB_PUZZLE_AUTO)); // 201
    note(sms_send(&login_of(&emu), "1234567890x", USTB_PUZZLE_AUTO));
    note(sms_puzzle(&s));
    note(sms_send(&s, &phone(), 1)); // 5054
    unsafe { ustb_set_log_callback(None, ptr::null_mut(), USTB_LOG_OFF, ptr::null_mut()) };

    assert!(messages.len() >= 4, "refusals were seen: {messages:?}");
    let mut secrets = vec![p.clone(), code_for(&p).to_string(), qr_cookie];
    secrets.extend(recorded_values(&emu, &["sid", "rand_token", "auth_code", "code", "lck"]));
    let lines = LINES.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.contains("SSO login")), "login steps are logged");
    // JSON and form POSTs log the size of the body they sent.
    let posts: Vec<_> = lines.iter().filter(|l| l.starts_with("POST /idp/") && l.contains("request body")).collect();
    assert!(posts.len() >= 2, "{lines:?}");
    for line in posts {
        assert!(!line.contains("request body 0 bytes"), "{line}");
    }
    for text in messages.iter().chain(lines.iter()) {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret:?} leaked into {text:?}");
        }
    }
}

// --- Hosts: only the configured ones are contacted ---

/// The emulator's `/connect/state` polls so far.
fn polls(emu: &Emulator) -> usize {
    emu.requests().iter().filter(|r| r.path.starts_with("/connect/state?")).count()
}

#[test]
fn the_login_contacts_only_the_configured_hosts_whatever_the_replies_name() {
    let mut config = sso_config("scan@50,confirm@150", Duration::from_millis(300));
    config.sso.reply_hosts = Some(ReplyHosts::real());
    let emu = emulator_with(config);
    let here = emu.addr().to_string();
    let watch = ustb_openai::watch_lookups();
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let page = string_out(|o, e| unsafe { ustb_login_qr_page_url(l.0, o, e) }).unwrap();
    assert!(page.starts_with(&format!("{}/connect/qrpage?", emu.base_url())), "{page}");
    assert_eq!(wait_until_final(&l).unwrap().last(), Some(&USTB_LOGIN_CONFIRMED));
    assert_eq!(cookie(&l).unwrap(), LOGIN);
    let s = login_of(&emu);
    let p = phone();
    sms_send(&s, &p, USTB_PUZZLE_AUTO).unwrap();
    sms_submit(&s, code_for(&p)).unwrap();
    assert_eq!(cookie(&s).unwrap(), LOGIN);

    let seen = watch.take();
    assert!(seen.contains(&format!("lookup {here}")) && seen.contains(&format!("connect {here}")), "{seen:?}");
    for entry in &seen {
        let (_, at) = entry.split_once(' ').unwrap();
        assert_eq!(at, here, "{entry} in {seen:?}");
    }
    for r in emu.requests() {
        let host = r.headers.iter().find(|(k, _)| k == "host").map(|(_, v)| v.as_str());
        assert_eq!(host, Some(here.as_str()), "{} {}", r.method, r.path);
    }
}

#[test]
fn a_url_naming_another_host_is_refused_naming_the_step_and_never_contacted() {
    // The SSO's own URLs (returnUrl at step 3, the redirect at step 7') name a foreign host.
    let foreign = "sso.ustb-openai-test.invalid";
    let mut config = sso_config("scan@50,confirm@150", Duration::from_millis(300));
    config.sso.reply_hosts = Some(ReplyHosts { sso: format!("https://{foreign}"), ..ReplyHosts::real() });
    let emu = emulator_with(config);
    let watch = ustb_openai::watch_lookups();
    let f = qr_start(&login_of(&emu)).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_PROTOCOL_ERROR, "{}", f.message);
    assert!(f.message.contains("step 3") && f.message.contains(foreign), "{}", f.message);
    let s = login_of(&emu);
    let p = phone();
    sms_send(&s, &p, USTB_PUZZLE_AUTO).unwrap();
    let f = sms_submit(&s, code_for(&p)).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_PROTOCOL_ERROR, "{}", f.message);
    assert!(f.message.contains("step 7'") && f.message.contains(foreign), "{}", f.message);
    let seen = watch.take();
    assert!(!seen.iter().any(|e| e.contains(foreign)), "{seen:?}");

    // The destination names the chat server as `localhost` while base_url is 127.0.0.1: another
    // host, so no cookie from it counts (it is never asked).
    let port = closed_port().rsplit(':').next().unwrap().to_string();
    let mut config = sso_config("scan@50,confirm@150", Duration::from_millis(300));
    config.sso.reply_hosts = Some(ReplyHosts { chat: format!("http://localhost:{port}"), ..ReplyHosts::real() });
    let emu = emulator_at(config, &format!("127.0.0.1:{port}"));
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let f = wait_until_final(&l).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_PROTOCOL_ERROR, "{}", f.message);
    assert!(f.message.contains("step 7") && f.message.contains("localhost"), "{}", f.message);
    assert_eq!(cookie(&l).unwrap_err().status, ustb_status::USTB_INVALID_ARGUMENT);
    let seen = watch.take();
    assert!(!seen.iter().any(|e| e.contains("localhost")), "{seen:?}");
    assert!(!emu.requests().iter().any(|r| r.path.starts_with("/common/actionCasLogin")), "step 8 never ran");
}

#[test]
fn an_sso_host_that_does_not_resolve_is_named_with_the_option_to_change() {
    let host = "sso.ustb-openai-test.invalid";
    let l = new_login(&json!({ "sso_base_url": format!("https://{host}"), "max_retries": 0 })).unwrap();
    let f = qr_start(&l).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_CONNECT_ERROR, "{}", f.message);
    assert!(f.message.contains(host) && f.message.contains("sso_base_url"), "{}", f.message);
}

// --- Polling ---

#[test]
fn a_server_answering_at_once_is_polled_at_a_bounded_rate() {
    let mut config = sso_config("confirm@60000", Duration::from_millis(300));
    config.sso.instant_polls = true;
    let emu = emulator_with(config);
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    let started = Instant::now();
    assert_eq!(wait(&l, 1200, NONE).unwrap(), USTB_LOGIN_WAITING);
    // Many short waits in a row share the same rate.
    for _ in 0..5 {
        assert_eq!(wait(&l, 100, NONE).unwrap(), USTB_LOGIN_WAITING);
    }
    let secs = started.elapsed().as_secs_f64();
    let n = polls(&emu);
    eprintln!("{n} polls in {secs:.2} s against a server answering 4 at once");
    assert!(n >= 2 && n as f64 <= secs + 1.0, "{n} polls in {secs:.2} s");
}

#[test]
fn pauses_between_polls_end_at_the_callers_deadline() {
    let mut config = sso_config("scan@0,confirm@60000", Duration::from_millis(300));
    config.sso.instant_polls = true;
    let emu = emulator_with(config);
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    assert_eq!(wait(&l, 2000, NONE).unwrap(), USTB_LOGIN_SCANNED);
    // The server keeps answering "scanned"; each wait of 100 ms must end near 100 ms, and
    // the repeated answer is not polled in a loop meanwhile.
    let (started, before) = (Instant::now(), polls(&emu));
    for _ in 0..5 {
        assert_eq!(wait(&l, 100, NONE).unwrap(), USTB_LOGIN_SCANNED);
    }
    let took = started.elapsed();
    let n = polls(&emu) - before;
    eprintln!("five waits of 100 ms while scanned took {took:?}, {n} polls");
    assert!(took < Duration::from_millis(2500), "five waits of 100 ms took {took:?}");
    assert!(n as f64 <= took.as_secs_f64() + 1.0, "{n} polls in {took:?}");
}

#[test]
fn a_held_poll_is_kept_open_past_the_idle_timeout_until_the_wait_ends() {
    let emu = emulator_with(sso_config("confirm@60000", Duration::from_millis(1500)));
    let mut o = options(&emu.base_url());
    o["idle_timeout_ms"] = json!(700);
    let l = new_login(&o).unwrap();
    qr_start(&l).unwrap();
    assert_eq!(wait(&l, 2500, NONE).unwrap(), USTB_LOGIN_WAITING);
    // One poll held 1.5 s by the server (code 4), then one held until the wait's end.
    assert_eq!(polls(&emu), 2);
}

#[test]
fn a_silent_sso_times_out_naming_the_limit_and_its_value() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });
    let mut o = options(&url);
    o["idle_timeout_ms"] = json!(300);
    let f = qr_start(&new_login(&o).unwrap()).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_TIMEOUT, "{}", f.message);
    assert!(f.message.contains("step 1") && f.message.contains("idle_timeout_ms (300 ms)"), "{}", f.message);
}

#[test]
fn a_cookie_flood_is_bounded_and_the_login_still_completes() {
    // 60 KB of new cookies per poll: unbounded, the third request's head passes 120 KB.
    let mut config = sso_config("scan@0,confirm@1900", Duration::from_millis(300));
    config.sso.poll_cookies = 60;
    let emu = emulator_with(config);
    let l = login_of(&emu);
    qr_start(&l).unwrap();
    assert_eq!(wait_until_final(&l).unwrap(), [USTB_LOGIN_SCANNED, USTB_LOGIN_CONFIRMED]);
    assert!(polls(&emu) >= 2, "the flood reached the jar {} times", polls(&emu));
    assert_chats(&login_client(&l).unwrap());
    let largest = emu
        .requests()
        .iter()
        .filter_map(|r| r.headers.iter().find(|(k, _)| k == "cookie").map(|(_, v)| v.len()))
        .max()
        .unwrap();
    eprintln!("the largest Cookie header sent: {largest} bytes");
    assert!(largest <= 17 << 10, "{largest} bytes");
}
