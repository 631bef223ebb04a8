//! Logging through the C ABI: `ustb_set_log_callback` with a callback collecting lines (each
//! kind of event at its level, `min_level` filtering, off, misuse), `USTB_LOG` to stderr in a
//! child process (tests/c/log_env.c), cookie values never in any line, and the cost of an
//! event when logging is off.
//!
//! The log sink is process-wide, so the tests here that set it take turns (`TURN`).

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::process::Command;
use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use ustb_openai::ffi::*;

static TURN: Mutex<()> = Mutex::new(());

type Lines = Mutex<Vec<(ustb_log_level, String)>>;

/// The callback: appends to the `Lines` that `userdata` points to.
unsafe extern "C" fn collect_line(userdata: *mut c_void, level: ustb_log_level, message: *const c_char) {
    let lines = &*(userdata as *const Lines);
    let text = CStr::from_ptr(message).to_str().expect("log lines are UTF-8").to_string();
    lines.lock().unwrap().push((level, text));
}

fn set_callback(lines: Option<&Lines>, min_level: ustb_log_level) -> Result<ustb_status, Failure> {
    let (cb, data): (ustb_log_callback, *mut c_void) = match lines {
        Some(l) => (Some(collect_line), l as *const Lines as *mut c_void),
        None => (None, ptr::null_mut()),
    };
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_set_log_callback(cb, data, min_level, &mut err) };
    check(st, err)
}

/// Holds the turn and the collected lines; removes the callback when dropped.
struct Logged {
    lines: &'static Lines,
    _turn: MutexGuard<'static, ()>,
}

impl Logged {
    fn start(min_level: ustb_log_level) -> Logged {
        let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let lines: &'static Lines = Box::leak(Box::new(Mutex::new(Vec::new())));
        set_callback(Some(lines), min_level).unwrap();
        Logged { lines, _turn: turn }
    }

    fn take(&self) -> Vec<(ustb_log_level, String)> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = set_callback(None, USTB_LOG_OFF);
    }
}

/// A base URL where nothing listens (connections are refused).
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn level_name(level: ustb_log_level) -> &'static str {
    ["off", "error", "warn", "info", "debug"][level as usize]
}

/// Every line must match exactly one (level, start, part) rule; returns which rules matched.
fn classify(lines: &[(ustb_log_level, String)], rules: &[(ustb_log_level, &str, &str)]) -> Vec<bool> {
    let mut seen = vec![false; rules.len()];
    for (level, line) in lines {
        let rule = rules.iter().position(|(_, start, part)| line.starts_with(start) && line.contains(part));
        let Some(i) = rule else { panic!("an unexpected log line: [{}] {line}", level_name(*level)) };
        assert_eq!(*level, rules[i].0, "{line:?} is logged at {}", level_name(*level));
        assert!(!line.contains('\n') && !line.is_empty());
        seen[i] = true;
    }
    seen
}

const CHAT: &str = "POST /site/ai/compose_chat";

/// (level, start, also contains) of each kind of line the library logs.
const RULES: &[(ustb_log_level, &str, &str)] = &[
    (USTB_LOG_DEBUG, CHAT, ": sending attempt "),
    (USTB_LOG_DEBUG, "GET /site/user_info", ": sending attempt 1 of 1 (request body 0 bytes)"),
    (USTB_LOG_INFO, CHAT, ": HTTP 200 (text/event-stream) after "),
    (USTB_LOG_INFO, CHAT, ": HTTP 200 (JSON) after "),
    (USTB_LOG_INFO, CHAT, ": HTTP 500 (text/html) after "),
    (USTB_LOG_INFO, "GET /site/user_info", ": HTTP 200 (JSON) after "),
    (USTB_LOG_INFO, "chat stream ended normally: first byte ", " ms in all"),
    (USTB_LOG_INFO, "chat stream cancelled: first byte ", ""),
    (USTB_LOG_INFO, "chat stream closed by the caller before the end: ", ""),
    (USTB_LOG_INFO, CHAT, ": cancelled before the reply (1 attempt)"),
    (USTB_LOG_WARN, CHAT, ": attempt 1 of 3 failed (connect_error: could not connect to the server"),
    (USTB_LOG_WARN, CHAT, ": attempt 2 of 3 failed (connect_error: "),
    (USTB_LOG_WARN, CHAT, ": attempt 1 of 6 failed (connect_error: "),
    (USTB_LOG_WARN, CHAT, ": failed after 3 attempts (connect_error: "),
    (USTB_LOG_ERROR, "chat stream failed (connect_error): first byte none, first chunk none, 0 chunks", ""),
    (USTB_LOG_ERROR, "chat stream failed (http_status, HTTP 500): first byte ", ""),
    (USTB_LOG_ERROR, "chat stream failed (api_error, HTTP 200, e=4028): first byte ", ""),
];

/// Traffic that makes every kind of line of `RULES`.
fn every_event(emu_url: &str) {
    let ok = client(&json!({ "base_url": emu_url, "vjuid_login": LOGIN, "max_retries": 0 })).unwrap();
    stream_all(&ok, &user("你好"));
    assert_eq!(stream_failure(&ok, &user("@emu:http500")).status, ustb_status::USTB_HTTP_STATUS);
    assert_eq!(create(&ok, &user("@emu:json-4028")).unwrap_err().status, ustb_status::USTB_API_ERROR);
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_client_user_info(ok.0, &mut out, &mut err) }, err).unwrap();
    unsafe { ustb_string_free(out) };

    // Cancelled while the server is silent, and a stream freed after one chunk.
    let s = open(&ok, &user("@emu:silent")).unwrap();
    cancel_soon(&s);
    assert_eq!(drain(&s).1.unwrap().status, ustb_status::USTB_CANCELLED);
    let s = open(&ok, &user("@emu:long=2000")).unwrap();
    assert!(next(&s).unwrap().is_some());
    drop(s);

    // Refused with two retries, then cancelled during the backoff after the first attempt.
    let refused = client(&json!({ "base_url": refused_url(), "max_retries": 2 })).unwrap();
    assert_eq!(stream_failure(&refused, &user("hi")).status, ustb_status::USTB_CONNECT_ERROR);
    let patient = client(&json!({ "base_url": refused_url(), "max_retries": 5 })).unwrap();
    let s = open(&patient, &user("hi")).unwrap();
    cancel_soon(&s);
    assert_eq!(drain(&s).1.unwrap().status, ustb_status::USTB_CANCELLED);
}

/// Cancels `s` from another thread after 100 ms (a canceller: the stream may be gone by then).
fn cancel_soon(s: &Stream) {
    let (mut c, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_chat_stream_canceller(s.0, &mut c, &mut err) }, err).unwrap();
    let c = c as usize;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        unsafe {
            ustb_canceller_cancel(c as *const ustb_canceller);
            ustb_canceller_free(c as *mut ustb_canceller);
        }
    });
}

#[test]
fn each_kind_of_event_appears_at_its_level() {
    let emu = emulator();
    let log = Logged::start(USTB_LOG_DEBUG);
    every_event(&emu.base_url());
    let lines = log.take();
    let seen = classify(&lines, RULES);
    for (rule, seen) in RULES.iter().zip(seen) {
        assert!(seen, "no line like {rule:?} in:\n{lines:#?}");
    }

    // The summary's counts are the stream's: chunks with text, and its bytes.
    let chunks = {
        let ok = login_client(&emu);
        stream_all(&ok, &user("数一数"))
    };
    let (reasoning, content, _) = texts(&chunks);
    let text_bytes = reasoning.len() + content.len();
    let lines = log.take();
    let summary = &lines.iter().find(|(_, l)| l.starts_with("chat stream ended normally")).unwrap().1;
    assert!(summary.contains(&format!(", {text_bytes} bytes of text, ")), "{summary} (want {text_bytes} bytes)");
    let body = lines.iter().find(|(_, l)| l.contains("sending attempt 1 of 1")).unwrap();
    assert!(body.1.contains("(request body ") && !body.1.contains("(request body 0 bytes)"), "{}", body.1);
}

#[test]
fn min_level_filters_and_off_logs_nothing() {
    let emu = emulator();
    let url = emu.base_url();
    let log = Logged::start(USTB_LOG_DEBUG);
    for min in [USTB_LOG_ERROR, USTB_LOG_WARN, USTB_LOG_INFO, USTB_LOG_OFF] {
        set_callback(Some(log.lines), min).unwrap();
        every_event(&url);
        let lines = log.take();
        assert!(lines.iter().all(|(l, _)| *l >= USTB_LOG_ERROR && *l <= min), "above {min}: {lines:#?}");
        // Every rule at or below the level still shows.
        let seen = classify(&lines, RULES);
        for (rule, seen) in RULES.iter().zip(seen) {
            assert_eq!(seen, rule.0 <= min, "{rule:?} at min_level {}", level_name(min));
        }
    }

    // Once the callback is removed it is never called again.
    set_callback(Some(log.lines), USTB_LOG_DEBUG).unwrap();
    set_callback(None, USTB_LOG_OFF).unwrap();
    stream_all(&login_client(&emu), &user("你好"));
    assert!(log.take().is_empty());
}

#[test]
fn bad_levels_and_a_setter_inside_the_callback_are_refused() {
    let _log = Logged::start(USTB_LOG_DEBUG);
    for bad in [-1, 5, 1000] {
        let lines = Mutex::new(Vec::new());
        let f = set_callback(Some(&lines), bad).unwrap_err();
        assert_eq!(f.status, ustb_status::USTB_INVALID_ARGUMENT);
        assert!(f.message.contains("min_level"), "{}", f.message);
    }

    static INNER: Mutex<Vec<ustb_status>> = Mutex::new(Vec::new());
    unsafe extern "C" fn setter(_: *mut c_void, _: ustb_log_level, _: *const c_char) {
        let mut err = ptr::null_mut();
        let st = ustb_set_log_callback(None, ptr::null_mut(), USTB_LOG_OFF, &mut err);
        ustb_error_free(err);
        INNER.lock().unwrap().push(st);
    }
    let mut err = ptr::null_mut();
    check(unsafe { ustb_set_log_callback(Some(setter), ptr::null_mut(), USTB_LOG_DEBUG, &mut err) }, err).unwrap();
    let emu = emulator();
    stream_all(&login_client(&emu), &user("你好"));
    let inner = INNER.lock().unwrap();
    assert!(!inner.is_empty() && inner.iter().all(|s| *s == ustb_status::USTB_INVALID_ARGUMENT), "{inner:?}");
}

#[test]
fn ustb_log_writes_to_stderr_only_when_set_and_no_callback() {
    let exe = compile(false, "log_env", &["tests/c/log_env.c"]);
    let emu = EmulatorProcess::start();
    let run_with = |value: Option<&str>| -> Vec<String> {
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "KILL", "60"]).arg(&exe).arg(&emu.url).env_remove("USTB_LOG");
        if let Some(v) = value {
            cmd.env("USTB_LOG", v);
        }
        let out = run(&mut cmd);
        assert_ok(&format!("log_env with USTB_LOG={value:?}"), &out);
        assert!(String::from_utf8_lossy(&out.stdout).contains("0 failures"));
        String::from_utf8(out.stderr).unwrap().lines().map(String::from).collect()
    };
    let phases = ["=== phase 1", "=== phase 2", "=== phase 3"];

    // Off by default, and for "off".
    for value in [None, Some("off")] {
        assert_eq!(run_with(value), phases, "USTB_LOG={value:?}");
    }

    let debug = run_with(Some("debug"));
    let at = |p: &str| debug.iter().position(|l| l == p).unwrap();
    let (p2, p3) = (at(phases[1]), at(phases[2]));
    assert!(debug[p2 + 1..p3].is_empty(), "nothing on stderr while a callback is set: {debug:#?}");
    for want in [
        "ustb-openai [debug] POST /site/ai/compose_chat: sending attempt 1 of 1",
        "ustb-openai [info] POST /site/ai/compose_chat: HTTP 200 (text/event-stream)",
        "ustb-openai [info] chat stream ended normally: ",
        "ustb-openai [warn] POST /site/ai/compose_chat: attempt 1 of 2 failed (connect_error",
        "ustb-openai [warn] POST /site/ai/compose_chat: failed after 2 attempts (connect_error",
        "ustb-openai [error] chat stream failed (connect_error)",
    ] {
        assert!(debug[..p2].iter().any(|l| l.starts_with(want)), "no {want:?} in phase 1: {debug:#?}");
    }
    assert!(debug[p3..].iter().any(|l| l.starts_with("ustb-openai [info] chat stream ended normally")), "{debug:#?}");
    assert!(debug.iter().all(|l| l.starts_with("ustb-openai [") || phases.contains(&l.as_str())), "{debug:#?}");

    let warn = run_with(Some("WARN"));
    let logged: Vec<&String> = warn.iter().filter(|l| !phases.contains(&l.as_str())).collect();
    assert!(logged.iter().any(|l| l.starts_with("ustb-openai [warn] ")), "{warn:#?}");
    assert!(
        logged.iter().all(|l| l.starts_with("ustb-openai [warn] ") || l.starts_with("ustb-openai [error] ")),
        "{warn:#?}"
    );

    let bogus = run_with(Some("verbose"));
    // Said once, when the library first logs (it reads USTB_LOG lazily).
    assert_eq!(bogus.len(), 4, "{bogus:#?}");
    assert!(bogus[1].contains("USTB_LOG=\"verbose\" is not one of error, warn, info, debug, off"), "{bogus:#?}");
}

const EASY: &str = "SECRETeasy0session0value0Zq9x7Wk";
const LOGIN_SECRET: &str = "SECRET-vjuid-login-Kp3Vn8Rt2Lm6";
/// In every prompt: message content must not be logged either.
const CONTENT: &str = "CONTENT-marker-Hq4Tz8Vb";

/// Prompts reaching each error path: the fault table's directives and the cookie echoes.
fn fault_prompts() -> Vec<String> {
    let table = std::fs::read_to_string(root().join("tests/faults.tsv")).unwrap();
    let mut out: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').nth(1))
        .filter(|h| h.starts_with("@emu:") && !h.contains("huge-event") && !h.contains("endless-line"))
        .map(String::from)
        .collect();
    out.extend(["echo-cookie-400", "echo-cookie-html", "echo-cookie-sse"].map(|d| format!("@emu:{d}")));
    assert!(out.len() > 30, "the table was read");
    out
}

#[test]
fn cookie_values_and_content_never_reach_a_log_line() {
    let emu = emulator();
    let log = Logged::start(USTB_LOG_DEBUG);
    let options = json!({
        "base_url": emu.base_url(), "easy_session": EASY, "vjuid_login": LOGIN_SECRET,
        "idle_timeout_ms": 300, "max_retries": 1,
    });
    let c = client(&options).unwrap();
    for prompt in fault_prompts() {
        let req = user(&format!("{prompt} {CONTENT} {EASY} {LOGIN_SECRET}"));
        match open(&c, &req) {
            Ok(s) => drop(drain(&s)),
            Err(f) => panic!("{prompt}: open failed: {f:?}"),
        }
        let _ = create(&c, &req);
    }
    // Retries and failures with the same cookies on a refused port.
    let refused = client(&json!({ "base_url": refused_url(), "easy_session": EASY, "vjuid_login": LOGIN_SECRET,
                                  "max_retries": 1 }))
    .unwrap();
    let _ = create(&refused, &user(&format!("{CONTENT} {EASY}")));

    let lines = log.take();
    let count = |part: &str| lines.iter().filter(|(_, l)| l.contains(part)).count();
    // The paths were taken: retries (close-before-headers, refused), errors, the echoes (400).
    assert!(count("; retrying in ") >= 2, "{lines:#?}");
    assert!(count("chat stream failed (http_status, HTTP 400)") >= 2, "{lines:#?}");
    assert!(count("chat stream failed (protocol_error)") >= 2, "{lines:#?}");
    assert!(count("chat stream ended normally") >= 2, "{lines:#?}");
    for (_, line) in &lines {
        for secret in [EASY, LOGIN_SECRET, CONTENT] {
            for i in 0..=secret.len() - 8 {
                assert!(!line.contains(&secret[i..i + 8]), "a piece of {secret:?} is in the log line {line:?}");
            }
        }
    }
    eprintln!("{} log lines checked", lines.len());
}

/// Free when off: an event the library makes per request and per chunk costs one relaxed
/// atomic load and a branch (nothing is formatted: see the unit tests in src/log.rs). Timed
/// here with logging off and with a callback that filters the events out.
#[test]
fn an_event_that_is_not_logged_costs_about_one_load() {
    let log = Logged::start(USTB_LOG_OFF);
    const N: u64 = 1_000_000;
    let per_event = || {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                ustb_openai::__bench::log_events(N);
                t.elapsed().as_nanos() as f64 / (2 * N) as f64
            })
            .fold(f64::MAX, f64::min)
    };
    let off = per_event();
    set_callback(Some(log.lines), USTB_LOG_ERROR).unwrap();
    let filtered = per_event();
    eprintln!("a log event not logged: {off:.2} ns off, {filtered:.2} ns filtered by min_level (best of 5 x {N})");
    assert!(log.take().is_empty());
    // Generous: a debug build does no inlining; formatting one line alone takes far longer.
    assert!(off < 50.0 && filtered < 50.0, "{off:.2} / {filtered:.2} ns per event");
}

/// One of two callbacks being swapped: counts its calls, and calls after it was replaced.
#[derive(Default)]
struct Swapped {
    active: std::sync::atomic::AtomicBool,
    calls: std::sync::atomic::AtomicUsize,
    late: std::sync::atomic::AtomicUsize,
}

unsafe extern "C" fn swapped_line(userdata: *mut c_void, _: ustb_log_level, _: *const c_char) {
    use std::sync::atomic::Ordering::SeqCst;
    let s = &*(userdata as *const Swapped);
    s.calls.fetch_add(1, SeqCst);
    // A window in which a setter that did not wait would return.
    std::thread::sleep(Duration::from_micros(50));
    if !s.active.load(SeqCst) {
        s.late.fetch_add(1, SeqCst);
    }
}

/// Threads log while the callback is swapped back and forth: once `ustb_set_log_callback`
/// returns, the callback it replaced is never called again.
#[test]
fn a_replaced_callback_is_never_called_again() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let _log = Logged::start(USTB_LOG_OFF);
    let emu = emulator();
    let (a, b): (&'static Swapped, &'static Swapped) = (Box::leak(Box::default()), Box::leak(Box::default()));
    let set = |s: &'static Swapped| {
        s.active.store(true, SeqCst);
        let mut err = ptr::null_mut();
        let st = unsafe {
            ustb_set_log_callback(Some(swapped_line), s as *const Swapped as *mut c_void, USTB_LOG_DEBUG, &mut err)
        };
        check(st, err).unwrap();
    };
    set(a);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let c = login_client(&emu);
                while !stop.load(SeqCst) {
                    stream_all(&c, &user("hi"));
                }
            });
        }
        for i in 0..200 {
            let (new, old) = if i % 2 == 0 { (b, a) } else { (a, b) };
            set(new);
            old.active.store(false, SeqCst);
            std::thread::sleep(Duration::from_millis(3));
        }
        stop.store(true, SeqCst);
    });
    let calls = a.calls.load(SeqCst) + b.calls.load(SeqCst);
    assert!(calls > 50, "the threads logged ({calls} lines)");
    assert_eq!(a.late.load(SeqCst) + b.late.load(SeqCst), 0, "a replaced callback was called ({calls} lines)");
}

/// A callback that blocks the first call on a thread other than the test's until `release`
/// (at most `BLOCKED`), and counts every call.
#[derive(Default)]
struct Blocking {
    entered: std::sync::atomic::AtomicBool,
    calls: std::sync::atomic::AtomicUsize,
}

const BLOCKED: Duration = Duration::from_secs(4);

unsafe extern "C" fn blocking_line(userdata: *mut c_void, _: ustb_log_level, _: *const c_char) {
    use std::sync::atomic::Ordering::SeqCst;
    let b = &*(userdata as *const Blocking);
    b.calls.fetch_add(1, SeqCst);
    if !b.entered.swap(true, SeqCst) {
        std::thread::sleep(BLOCKED);
    }
}

/// Issue 16, item 5: while a setter waits for a blocked callback to return, other threads log
/// to the new callback at once (a create took the blocked callback's time before).
#[test]
fn a_waiting_setter_holds_up_no_other_thread() {
    use std::sync::atomic::Ordering::SeqCst;
    let log = Logged::start(USTB_LOG_OFF);
    let emu = emulator();
    let blocking: &'static Blocking = Box::leak(Box::default());
    let set = |cb: ustb_log_callback, data: *mut c_void| {
        let mut err = ptr::null_mut();
        check(unsafe { ustb_set_log_callback(cb, data, USTB_LOG_DEBUG, &mut err) }, err).unwrap();
    };
    set(Some(blocking_line), blocking as *const Blocking as *mut c_void);
    std::thread::scope(|scope| {
        // A thread logs and its callback blocks.
        let logs = scope.spawn(|| create(&login_client(&emu), &user("hi")).unwrap());
        while !blocking.entered.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A setter waits for that callback.
        let setter = scope.spawn(|| {
            set(Some(collect_line), log.lines as *const Lines as *mut c_void);
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!setter.is_finished(), "the setter did not wait for the running callback");
        // This thread's create logs meanwhile, to the new callback.
        let c = login_client(&emu);
        let started = Instant::now();
        create(&c, &user("hi")).unwrap();
        let took = started.elapsed();
        setter.join().unwrap();
        logs.join().unwrap();
        eprintln!("a create while a setter waits for a blocked callback: {took:?}");
        assert!(took < BLOCKED / 2, "a create took {took:?} while a setter waited");
    });
    let calls_before = blocking.calls.load(SeqCst);
    let lines = log.take();
    assert!(lines.iter().any(|(_, l)| l.contains("compose_chat")), "the create logged to the new callback: {lines:?}");
    // The old callback is not called again.
    create(&login_client(&emu), &user("hi")).unwrap();
    assert_eq!(blocking.calls.load(SeqCst), calls_before);
}
