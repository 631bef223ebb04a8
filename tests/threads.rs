//! Thread stress from C (tests/c/threads.c): 48 threads share one client and stream while two
//! threads cancel at random; every stream ends as end, cancelled or error, with exact content
//! where it ended. Run plainly (USTB_STRESS_ROUNDS rounds, default 3) and under
//! ThreadSanitizer. Each run is bounded (the program's alarm, and `timeout -s KILL`), so a hang
//! fails the test instead of stalling the suite.

mod common;

use std::process::Command;
use std::time::Instant;

use common::{assert_ok, compile_with, run, EmulatorProcess};

fn rounds() -> u32 {
    std::env::var("USTB_STRESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

/// Runs the stress program `rounds` times with different seeds; returns the hung rounds.
fn stress(
    exe: &std::path::Path,
    url: &str,
    threads: &str,
    streams: &str,
    rounds: u32,
    env: &[(&str, &str)],
) -> Vec<u32> {
    let mut hung = Vec::new();
    for seed in 1..=rounds {
        let start = Instant::now();
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "KILL", "120"]).arg(exe).args([url, threads, streams, &seed.to_string()]);
        cmd.envs(env.iter().copied());
        let out = run(&mut cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("round {seed}: {} in {:.1?}: {}", out.status, start.elapsed(), stdout.trim());
        if out.status.code() == Some(3) || out.status.code().is_none() {
            hung.push(seed);
            continue;
        }
        assert_ok(&format!("threads round {seed}"), &out);
        assert!(stdout.contains(" 0 wrong"), "{stdout}");
    }
    hung
}

#[test]
fn many_threads_stream_and_cancel_at_random() {
    let exe = compile_with(false, "threads", &["tests/c/threads.c"], &[]);
    let emu = EmulatorProcess::start_with(&["--delay-ms", "0"]);
    let hung = stress(&exe, &emu.url, "48", "10", rounds(), &[]);
    assert!(hung.is_empty(), "rounds {hung:?} of {} hung (a stream never ended)", rounds());
}

/// ThreadSanitizer instruments the C program only: it checks the C side's own sharing (the slot
/// table, counters, the callback's data) and sees the pthread calls, but not the Rust library's
/// accesses or its futex-based locks (it is not instrumented), so races inside the library are
/// out of its reach. Worse, the malloc/memcpy interceptors it does see from inside the library
/// report memory handed between threads under a Rust lock as a race (seen: a VecDeque buffer
/// malloc'd on one thread, memcpy'd on another), so calls from the library are suppressed.
#[test]
fn many_threads_under_thread_sanitizer() {
    let exe = compile_with(false, "threads_tsan", &["tests/c/threads.c"], &["-fsanitize=thread"]);
    let supp = common::library().join("tsan.supp");
    std::fs::write(&supp, "called_from_lib:libustb_openai.so.0\n").unwrap();
    let emu = EmulatorProcess::start_with(&["--delay-ms", "0"]);
    let options = format!("halt_on_error=1:exitcode=66:suppressions={}", supp.display());
    let env = [("TSAN_OPTIONS", options.as_str())];
    let hung = stress(&exe, &emu.url, "32", "5", 1, &env);
    assert!(hung.is_empty(), "the ThreadSanitizer run hung");
}
