//! Issue 6's defects, one test each: re-entrant reads from a callback, DNS failures, the
//! whole-reply limit, bounded info calls, and a short run of the cancel race (the long one is
//! tests/cancel_race.rs). Each read that could hang runs on a worker with a deadline, so a
//! regression fails instead of hanging the suite.

mod common;

use std::ffi::{c_char, c_int, c_void};
use std::net::TcpListener;
use std::ptr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use ustb_openai::emulator::Config;
use ustb_openai::ffi::*;

/// Runs `f` on a worker thread; fails the test if it has not returned within `limit`.
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what}: no answer within {limit:?} (hang)"))
}

struct Reentry {
    stream: *mut ustb_chat_stream,
    calls: usize,
    seen: Vec<(ustb_status, String)>,
}

fn record(r: &mut Reentry, status: ustb_status, err: *mut ustb_error) {
    let message = match check(status, err) {
        Ok(_) => String::new(),
        Err(f) => f.message,
    };
    r.seen.push((status, message));
}

unsafe extern "C" fn reenter(userdata: *mut c_void, _chunk: *const c_char, _len: usize) -> c_int {
    let r = &mut *(userdata as *mut Reentry);
    r.calls += 1;
    if r.calls == 1 {
        let (mut out, mut len, mut err) = (ptr::null_mut(), 0usize, ptr::null_mut());
        let st = ustb_chat_stream_next(r.stream, &mut out, &mut len, &mut err);
        assert!(out.is_null());
        record(r, st, err);
        let st = ustb_chat_stream_collect(r.stream, &mut out, &mut err);
        assert!(out.is_null());
        record(r, st, err);
        let st = ustb_chat_stream_for_each(r.stream, Some(reenter), userdata, &mut err);
        record(r, st, err);
    }
    if r.calls == 2 {
        // Cancel from inside the callback keeps working.
        ustb_chat_stream_cancel(r.stream);
    }
    0
}

#[test]
fn reads_from_a_streams_own_callback_are_busy_not_deadlocked() {
    let emu = emulator();
    let c = login_client(&emu);
    let s = open(&c, &user("@emu:long=400")).unwrap();
    let stream = s.0 as usize;
    let (status, r) = within(Duration::from_secs(20), "for_each with a re-entrant callback", move || {
        let mut r = Reentry { stream: stream as *mut ustb_chat_stream, calls: 0, seen: Vec::new() };
        let mut err = ptr::null_mut();
        let st =
            unsafe { ustb_chat_stream_for_each(r.stream, Some(reenter), &mut r as *mut _ as *mut c_void, &mut err) };
        let status = check(st, err).map_err(|f| f.status);
        (status, r.seen)
    });
    assert_eq!(r.len(), 3, "next, collect and for_each were each tried once: {r:?}");
    for (st, message) in &r {
        assert_eq!(*st, ustb_status::USTB_INVALID_ARGUMENT);
        assert!(message.contains("busy"), "{message}");
    }
    assert_eq!(status, Err(ustb_status::USTB_CANCELLED), "the callback's cancel ends the stream");
    // The stream is left usable: the cancel is what a later read reports.
    assert_eq!(next(&s).unwrap_err().status, ustb_status::USTB_CANCELLED);
}

#[test]
fn an_unknown_host_is_a_connect_error_and_is_retried() {
    let c = client(&json!({ "base_url": "http://ustb-openai-test.invalid", "vjuid_login": LOGIN, "max_retries": 1 }))
        .unwrap();
    let f = within(Duration::from_secs(60), "DNS failure", move || stream_failure(&c, &user("hi")));
    assert_eq!(f.status, ustb_status::USTB_CONNECT_ERROR, "{f:?}");
    assert!(f.message.contains("host name"), "{}", f.message);
}

#[test]
fn whole_reply_calls_stop_at_max_reply_bytes() {
    let emu = emulator();
    let small =
        client(&json!({ "base_url": emu.base_url(), "vjuid_login": LOGIN, "max_reply_bytes": 10_000 })).unwrap();
    let f = create(&small, &user("@emu:long=50000")).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_TOO_LARGE, "{f:?}");
    assert!(f.message.contains("max_reply_bytes"), "{}", f.message);

    let s = open(&small, &user("@emu:long=50000")).unwrap();
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let st = unsafe { ustb_chat_stream_collect(s.0, &mut out, &mut err) };
    assert_eq!(check(st, err).unwrap_err().status, ustb_status::USTB_TOO_LARGE);
    assert!(out.is_null());
    assert_eq!(next(&s).unwrap_err().status, ustb_status::USTB_TOO_LARGE, "the stream stays failed");

    // The same reply fits under the default limit, and streaming is never limited.
    let c = login_client(&emu);
    let reply = create(&c, &user("@emu:long=50000")).unwrap();
    assert!(reply["choices"][0]["message"]["content"].as_str().unwrap().len() >= 50_000);
    assert!(texts(&stream_all(&small, &user("@emu:long=50000"))).1.len() >= 50_000);
}

#[test]
fn user_info_is_bounded_by_the_idle_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let c = client(&json!({ "base_url": format!("http://{addr}"), "idle_timeout_ms": 300, "max_retries": 0 })).unwrap();
    let f = within(Duration::from_secs(30), "user_info on a silent server", move || {
        let c = c; // the whole handle moves, not its raw pointer field
        let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
        let st = unsafe { ustb_client_user_info(c.0, &mut out, &mut err) };
        check(st, err).unwrap_err()
    });
    assert_eq!(f.status, ustb_status::USTB_TIMEOUT, "{f:?}");
}

/// Issue 6 defect 1, briefly: large events, one chunk read, a cancel 0–4 ms later while the
/// reader keeps reading. Before the fix most trials spun forever.
#[test]
fn cancel_during_large_events_always_ends_the_read() {
    let emu = emulator_with(Config { chunk_chars: 50_000, ..Config::default() });
    let c = Arc::new(login_client(&emu));
    let mut worst = Duration::ZERO;
    for trial in 0..30u64 {
        let s = Arc::new(open(&c, &user("@emu:long=4000000")).unwrap());
        assert!(next(&s).unwrap().is_some());
        let (s2, delay) = (s.clone(), Duration::from_micros((trial * 137) % 4000));
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(delay);
            unsafe { ustb_chat_stream_cancel(s2.0) };
            Instant::now()
        });
        let reader = s.clone();
        let (ended, failure) = within(Duration::from_secs(20), "read after cancel", move || {
            let (_, f) = drain(&reader);
            (Instant::now(), f)
        });
        let cancelled_at = canceller.join().unwrap();
        // No failure: the reply completed before the cancel landed.
        if let Some(f) = failure {
            assert_eq!(f.status, ustb_status::USTB_CANCELLED, "trial {trial}: {f:?}");
        }
        worst = worst.max(ended.saturating_duration_since(cancelled_at));
    }
    println!("worst cancel-to-return over 30 trials: {worst:?}");
}
