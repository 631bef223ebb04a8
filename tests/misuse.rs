//! Misuse of the C API from C: a program generated from the header's exports (NULL for each
//! pointer parameter, every other argument valid) and the handwritten tests/c/misuse.c, each
//! run plainly, under valgrind and under AddressSanitizer + UndefinedBehaviorSanitizer.
//! A missing compiler or valgrind fails these tests; nothing is skipped.

mod common;

use std::process::Command;
use std::time::Instant;

use common::{assert_ok, compile_with, library, root, run, run_bounded, EmulatorProcess, ASAN_ENV, SANITIZE, VALGRIND};

/// Where the header says NULL is allowed: (export, parameter, what the call then gives, the
/// header text that says so). `*` is the `ustb_error **error` of every export (the conventions
/// at the top of the header).
/// Every other NULL pointer must give USTB_INVALID_ARGUMENT.
const NULL_ALLOWED: &[(&str, &str, Expect, &str)] = &[
    ("*", "error", Expect::Ok, "If `error` is not NULL, *error is set"),
    ("ustb_client_new", "options_json", Expect::Ok, "`options_json` is NULL, `\"\"`, `\"{}\"` (all defaults)"),
    ("ustb_chat_stream_next", "len_out", Expect::Ok, "`*len_out` (if not NULL)"),
    ("ustb_chunk_delta", "content_out", Expect::Ok, "Each out-pointer may be NULL (not wanted)"),
    ("ustb_chunk_delta", "reasoning_out", Expect::Ok, "Each out-pointer may be NULL (not wanted)"),
    ("ustb_chunk_delta", "finish_reason_out", Expect::Ok, "Each out-pointer may be NULL (not wanted)"),
    // userdata is only handed back to the callback.
    ("ustb_chat_stream_for_each", "userdata", Expect::Ok, "`callback` is safe to call with `userdata`"),
    ("ustb_chat_stream_callback", "userdata", Expect::Ok, "`callback` is safe to call with `userdata`"),
    ("ustb_set_log_callback", "callback", Expect::Ok, "a NULL `callback` removes it"),
    ("ustb_set_log_callback", "userdata", Expect::Ok, "`userdata` is only passed to the callback (it may be NULL)"),
    ("ustb_string_free", "s", Expect::Void, "NULL is a no-op"),
    ("ustb_chat_stream_free", "stream", Expect::Void, "NULL is a no-op"),
    ("ustb_canceller_free", "canceller", Expect::Void, "NULL is a no-op"),
    ("ustb_client_free", "client", Expect::Void, "NULL is a no-op"),
    ("ustb_error_free", "error", Expect::Void, "NULL is a no-op"),
    // The platform calls run uncancellable (bounded by the timeouts) without a canceller.
    ("ustb_client_web_info", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_apps", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_app_detail", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_page_settings", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_new_session_id", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_sessions", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_session_delete", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_chat_history", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_models", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_login_state", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_doctor", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_client_doctor", "doctor_options", Expect::Ok, "`doctor_options` is NULL, `\"\"` or `\"{}\"` (the defaults)"),
    ("ustb_chat_stream_cancel", "stream", Expect::Void, "NULL is a no-op"),
    ("ustb_login_new", "options_json", Expect::Ok, "`options_json` is NULL, `\"\"`, `\"{}\"` or an object"),
    ("ustb_login_qr_start", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_login_qr_wait", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_login_sms_puzzle", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_login_sms_send", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_login_sms_submit", "cancel", Expect::Ok, "`cancel` may be NULL"),
    ("ustb_login_free", "login", Expect::Void, "NULL is a no-op"),
    ("ustb_canceller_cancel", "canceller", Expect::Void, "NULL is a no-op"),
    ("ustb_error_message", "error", Expect::Str(""), "Returns `\"\"` for NULL"),
    ("ustb_error_detail", "error", Expect::Str("{}"), "`\"{}\"` for NULL"),
    // NULL is allowed, but the value is not stated; 0 is the "none" value of both.
    ("ustb_error_api_code", "error", Expect::Zero, "`error` is NULL or an error from this library"),
    ("ustb_error_http_status", "error", Expect::Zero, "`error` is NULL or an error from this library"),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// A status function returns USTB_OK.
    Ok,
    /// A void function returns (no crash).
    Void,
    /// A string function returns this text.
    Str(&'static str),
    /// An integer function returns 0.
    Zero,
}

struct Param {
    ty: String,
    name: String,
}

struct Export {
    ret: String,
    name: String,
    params: Vec<Param>,
    /// The doc comment above the prototype, whitespace-normalised.
    doc: String,
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every `ustb_*` prototype of the header, with its doc comment, and the header's preamble.
fn parse_header(header: &str) -> (String, Vec<Export>) {
    let preamble = header[..header.find("#ifndef").expect("include guard")]
        .lines()
        .map(|l| l.trim().trim_start_matches("/*").trim_start_matches('*'))
        .collect::<Vec<_>>()
        .join(" ");
    let preamble = normalise(&preamble);
    let mut exports = Vec::new();
    let mut doc = String::new();
    for line in header.lines() {
        let t = line.trim();
        if t.starts_with("/**") {
            doc.clear();
        }
        if t.starts_with('*') || t.starts_with("/**") {
            doc.push_str(t.trim_start_matches("/**").trim_start_matches("*/").trim_start_matches('*'));
            doc.push(' ');
            continue;
        }
        if t.starts_with("typedef") || t.starts_with('#') || !t.ends_with(");") || !t.contains("ustb_") {
            continue;
        }
        let open = t.find('(').unwrap();
        let (head, args) = (&t[..open], &t[open + 1..t.len() - 2]);
        let split = head.rfind([' ', '*']).unwrap() + 1;
        let (ret, name) = (head[..split].trim().to_string(), head[split..].to_string());
        assert!(name.starts_with("ustb_"), "unexpected prototype: {t}");
        let params = if args == "void" {
            Vec::new()
        } else {
            args.split(", ")
                .map(|a| {
                    let split = a.rfind([' ', '*']).unwrap() + 1;
                    Param { ty: a[..split].trim().to_string(), name: a[split..].to_string() }
                })
                .collect()
        };
        exports.push(Export { ret, name, params, doc: normalise(&doc) });
    }
    (preamble, exports)
}

fn is_pointer(ty: &str) -> bool {
    ty.contains('*') || ty == "ustb_chunk_callback" || ty == "ustb_log_callback"
}

/// C code for one argument: declarations before the call, the argument, code after the call.
/// `consumed`: the call frees the argument (a `*_free` export).
fn argument(e: &Export, p: &Param, consumed: bool) -> Result<(String, String, String), String> {
    let v = format!("a_{}", p.name);
    let owned = |ty: &str, make: &str, free: &str| {
        let after = if consumed { String::new() } else { format!("{free}({v});") };
        Ok((format!("{ty} {v} = {make};"), v.clone(), after))
    };
    // Out-pointers start as a sentinel: a failure must set them to NULL.
    let out = |ty: &str, free: &str| {
        Ok((
            format!("{ty} {v} = ({ty})(void *)&SENTINEL;"),
            format!("&{v}"),
            format!("check_out(label, st, {v} == ({ty})(void *)&SENTINEL, {v} == NULL); if ({v} != ({ty})(void *)&SENTINEL) {free}({v});"),
        ))
    };
    match (p.ty.as_str(), p.name.as_str()) {
        ("const ustb_client *", _) => Ok((String::new(), "client".into(), String::new())),
        ("ustb_client *", _) => owned("ustb_client *", "fresh_client()", "ustb_client_free"),
        ("const char *", "request_json") => Ok((String::new(), "REQUEST".into(), String::new())),
        ("const char *", "options_json") => Ok((String::new(), "options".into(), String::new())),
        ("const char *", "chunk_json") => Ok((String::new(), "CHUNK".into(), String::new())),
        ("const char *", "session_id") => Ok((String::new(), "SESSION".into(), String::new())),
        ("const char *", "doctor_options") => Ok((String::new(), "\"{}\"".into(), String::new())),
        ("int64_t", "compose_id") => Ok((String::new(), "3".into(), String::new())),
        ("uint32_t", "page") => Ok((String::new(), "1".into(), String::new())),
        ("uint32_t", "page_size") => Ok((String::new(), "10".into(), String::new())),
        // A platform call's canceller comes from ustb_canceller_new (a stream's is refused).
        ("const ustb_canceller *", "cancel") => {
            owned("ustb_canceller *", "fresh_call_canceller()", "ustb_canceller_free")
        }
        ("char *", _) => owned("char *", "fresh_string()", "ustb_string_free"),
        ("char **", _) => out("char *", "ustb_string_free"),
        ("ustb_chat_stream **", _) => out("ustb_chat_stream *", "ustb_chat_stream_free"),
        ("ustb_canceller **", _) => out("ustb_canceller *", "ustb_canceller_free"),
        ("ustb_client **", _) => out("ustb_client *", "ustb_client_free"),
        ("ustb_login **", _) => out("ustb_login *", "ustb_login_free"),
        // A login that went through every step: QR code shown, logged in by SMS, a second SMS
        // code pending (`last_code`) and a puzzle fetched; calls that change it get their own.
        ("ustb_login *", _) => owned("ustb_login *", "fresh_login()", "ustb_login_free"),
        ("const ustb_login *", _) => Ok((String::new(), "ready_login".into(), String::new())),
        ("const char *", "phone") => Ok((String::new(), "fresh_phone()".into(), String::new())),
        ("const char *", "code") => Ok((String::new(), "last_code".into(), String::new())),
        ("uint32_t", "timeout_ms") => Ok((String::new(), "50".into(), String::new())),
        ("int32_t", "x") => Ok((String::new(), "USTB_PUZZLE_AUTO".into(), String::new())),
        ("uint32_t *", _) => Ok((format!("uint32_t {v} = 0;"), format!("&{v}"), String::new())),
        ("ustb_login_state *", _) => {
            Ok((format!("ustb_login_state {v} = USTB_LOGIN_WAITING;"), format!("&{v}"), String::new()))
        }
        // Borrowed bytes: set to NULL on failure, never freed.
        ("const uint8_t **", _) => Ok((
            format!("const uint8_t *{v} = (const uint8_t *)(void *)&SENTINEL;"),
            format!("&{v}"),
            format!("check_out(label, st, {v} == (const uint8_t *)(void *)&SENTINEL, {v} == NULL);"),
        )),
        ("ustb_chat_stream *" | "const ustb_chat_stream *", _) => {
            owned("ustb_chat_stream *", "fresh_stream()", "ustb_chat_stream_free")
        }
        ("ustb_canceller *" | "const ustb_canceller *", _) => {
            owned("ustb_canceller *", "fresh_canceller()", "ustb_canceller_free")
        }
        ("ustb_error *" | "const ustb_error *", _) => owned("ustb_error *", "fresh_error()", "ustb_error_free"),
        ("ustb_error **", "error") => Ok(("ustb_error *err = NULL;".into(), "&err".into(), String::new())),
        ("size_t *", _) => Ok((format!("size_t {v} = 0;"), format!("&{v}"), String::new())),
        ("ustb_chunk_callback", _) => Ok((String::new(), "count_chunk".into(), String::new())),
        ("ustb_log_callback", _) => Ok((String::new(), "count_log".into(), String::new())),
        ("ustb_log_level", _) => Ok((String::new(), "USTB_LOG_DEBUG".into(), String::new())),
        ("void *", "userdata") => Ok(("int chunks = 0;".into(), "&chunks".into(), String::new())),
        ("int", _) => Ok((String::new(), "1".into(), String::new())),
        (ty, name) => Err(format!("{}: no valid value for parameter `{ty} {name}`; teach tests/misuse.rs", e.name)),
    }
}

/// What the call must give when `null` (a parameter name, or None for all-valid) is NULL.
fn expectation(preamble: &str, e: &Export, null: Option<&str>) -> Result<Option<Expect>, String> {
    let Some(param) = null else { return Ok(None) };
    let error_out = e.params.iter().any(|p| p.name == param && p.ty == "ustb_error **");
    let allowed = NULL_ALLOWED.iter().find(|(f, p, _, _)| (*f == e.name || (*f == "*" && error_out)) && *p == param);
    match allowed {
        Some((f, _, expect, quote)) => {
            let text = if *f == "*" { preamble } else { &e.doc };
            if !text.contains(&normalise(quote)) {
                return Err(format!("{}: the header no longer says {quote:?} about NULL `{param}`", e.name));
            }
            Ok(Some(*expect))
        }
        None if e.ret == "ustb_status" => Ok(None),
        None => Err(format!("{}: NULL `{param}` is not documented and it returns no status", e.name)),
    }
}

/// The C block for one call of `e`, with parameter `null` NULL (None: every argument valid).
fn case(preamble: &str, e: &Export, null: Option<&str>) -> Result<String, String> {
    let consumed = e.name.ends_with("_free");
    let (mut decls, mut args, mut afters) = (Vec::new(), Vec::new(), Vec::new());
    for p in &e.params {
        if Some(p.name.as_str()) == null {
            args.push("NULL".to_string());
            continue;
        }
        let (d, a, after) = argument(e, p, consumed)?;
        decls.push(d);
        args.push(a);
        afters.push(after);
    }
    let label = format!("{}({})", e.name, null.map_or("all valid".to_string(), |p| format!("{p}=NULL")));
    let call = format!("{}({})", e.name, args.join(", "));
    let has_err = e.params.iter().any(|p| p.name == "error" && p.ty == "ustb_error **") && null != Some("error");
    let err = if has_err { "err" } else { "NULL" };
    let has_err = has_err as u8;
    let expect = expectation(preamble, e, null)?;
    // With every argument valid a status function succeeds; ustb_error_status reports the
    // status of fresh_error().
    let valid = if e.name == "ustb_error_status" { "USTB_INVALID_ARGUMENT" } else { "USTB_OK" };
    let check = match (e.ret.as_str(), expect) {
        ("ustb_status", None) if null.is_none() => {
            format!("ustb_status st = {call}; check_status(label, st, {valid}, {err}, {has_err});")
        }
        ("ustb_status", Some(Expect::Ok)) => {
            format!("ustb_status st = {call}; check_status(label, st, USTB_OK, {err}, {has_err});")
        }
        ("ustb_status", None) => {
            format!("ustb_status st = {call}; check_status(label, st, USTB_INVALID_ARGUMENT, {err}, {has_err});")
        }
        ("void", _) => format!("ustb_status st = USTB_OK; {call};"),
        ("const char *", Some(Expect::Str(s))) => {
            format!("ustb_status st = USTB_OK; check_str(label, {call}, \"{}\");", s.replace('"', "\\\""))
        }
        ("const char *", None) => format!("ustb_status st = USTB_OK; check_str(label, {call}, NULL);"),
        ("int64_t" | "uint16_t", Some(Expect::Zero)) => {
            format!("ustb_status st = USTB_OK; check_true(label, {call} == 0);")
        }
        ("int64_t" | "uint16_t", None) => format!("ustb_status st = USTB_OK; (void){call};"),
        (ret, _) => return Err(format!("{}: no check for return type {ret} with {expect:?}", e.name)),
    };
    Ok(format!(
        "    {{ /* {label} */\n        const char *label = \"{label}\";\n        {}\n        {check}\n        {}\n        (void)st; (void)label; cases++;\n    }}\n",
        decls.join("\n        "),
        afters.join("\n        ")
    ))
}

const PRELUDE: &str = r#"/* Generated by tests/misuse.rs from include/ustb_openai.h; do not edit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ustb_openai.h"

static const char *REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *SESSION = "0123456789abcdef0123456789abcdef";
static const char *CHUNK = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}";
static char options[512];
static ustb_client *client;
static char SENTINEL;
static int failures, cases;

static void fail(const char *label, const char *what) {
    fprintf(stderr, "%s: %s\n", label, what);
    failures++;
}

static void check_true(const char *label, int ok) {
    if (!ok) fail(label, "wrong result");
}

static void check_status(const char *label, ustb_status got, ustb_status want, ustb_error *err, int has_err) {
    if (got != want) {
        fprintf(stderr, "%s: got %s, want %s (%s)\n", label, ustb_status_name((int)got),
                ustb_status_name((int)want), ustb_error_message(err));
        failures++;
    }
    int failed = got != USTB_OK && got != USTB_END_OF_STREAM && got != USTB_STOPPED;
    if (has_err && failed && (err == NULL || ustb_error_status(err) != got)) fail(label, "no error, or its status differs");
    if (has_err && !failed && err != NULL) fail(label, "an error after success");
    ustb_error_free(err);
}

static void check_str(const char *label, const char *got, const char *want) {
    if (got == NULL || (want != NULL && strcmp(got, want) != 0)) fail(label, "wrong string");
}

/* On failure an out-pointer is set to NULL; on success it is no longer the sentinel. */
static void check_out(const char *label, ustb_status st, int untouched, int is_null) {
    int failed = st != USTB_OK && st != USTB_END_OF_STREAM && st != USTB_STOPPED;
    if (failed && !is_null) fail(label, "an out-pointer is not NULL after a failure");
    if (!failed && untouched) fail(label, "an out-pointer was not written");
}

static int count_chunk(void *userdata, const char *chunk, size_t len) {
    if (userdata) ++*(int *)userdata;
    return chunk[len] != '\0';
}

/* Stays set for every later call: userdata (a block's local, gone by then) is not used. */
static int log_lines;
static void count_log(void *userdata, ustb_log_level level, const char *message) {
    (void)userdata;
    if (level < USTB_LOG_ERROR || level > USTB_LOG_DEBUG || message == NULL || strchr(message, '\n') != NULL) {
        fail("count_log", "a malformed log line");
    }
    log_lines++;
}

static ustb_client *fresh_client(void) {
    ustb_client *c = NULL;
    if (ustb_client_new(options, &c, NULL) != USTB_OK) fail("fresh_client", "ustb_client_new failed");
    return c;
}

static ustb_chat_stream *fresh_stream(void) {
    ustb_chat_stream *s = NULL;
    if (ustb_chat_stream_open(client, REQUEST, &s, NULL) != USTB_OK) fail("fresh_stream", "open failed");
    return s;
}

/* A canceller outlives its stream (documented), so the stream is freed at once. */
static ustb_canceller *fresh_canceller(void) {
    ustb_chat_stream *s = fresh_stream();
    ustb_canceller *c = NULL;
    if (ustb_chat_stream_canceller(s, &c, NULL) != USTB_OK) fail("fresh_canceller", "canceller failed");
    ustb_chat_stream_free(s);
    return c;
}

static ustb_canceller *fresh_call_canceller(void) {
    ustb_canceller *c = NULL;
    if (ustb_canceller_new(&c, NULL) != USTB_OK) fail("fresh_call_canceller", "ustb_canceller_new failed");
    return c;
}

static ustb_error *fresh_error(void) {
    ustb_error *e = NULL;
    if (ustb_chunk_delta("not json", NULL, NULL, NULL, &e) != USTB_INVALID_ARGUMENT) fail("fresh_error", "no error");
    return e;
}

static char login_options[1024], last_code[8], phone[16];
static ustb_login *ready_login;

/* A new phone number each time (the SSO refuses a second code to one number within a minute). */
static const char *fresh_phone(void) {
    static int phones;
    snprintf(phone, sizeof phone, "13%04d%05d", (int)(getpid() % 10000), ++phones);
    return phone;
}

static void must(const char *what, ustb_status st, ustb_error *err) {
    if (st != USTB_OK) fail(what, ustb_error_message(err));
    ustb_error_free(err);
}

/* Through every step: a QR code, an SMS login, a second code pending, a puzzle fetched. */
static ustb_login *fresh_login(void) {
    ustb_login *l = NULL;
    ustb_error *e = NULL;
    must("fresh_login new", ustb_login_new(login_options, &l, &e), e);
    must("fresh_login qr", ustb_login_qr_start(l, NULL, &e), e);
    for (int round = 0; round < 2; round++) {
        must("fresh_login send", ustb_login_sms_send(l, fresh_phone(), USTB_PUZZLE_AUTO, NULL, &e), e);
        snprintf(last_code, sizeof last_code, "%s", phone + strlen(phone) - 6);
        if (round == 0) must("fresh_login submit", ustb_login_sms_submit(l, last_code, NULL, &e), e);
    }
    must("fresh_login puzzle", ustb_login_sms_puzzle(l, NULL, &e), e);
    return l;
}

static char *fresh_string(void) {
    char *s = NULL;
    if (ustb_client_cookies(client, &s, NULL) != USTB_OK) fail("fresh_string", "cookies failed");
    return s;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: misuse_generated BASE_URL\n");
        return 2;
    }
    snprintf(options, sizeof options, "{\"base_url\":\"%s\",\"vjuid_login\":\"gen\",\"max_retries\":0}", argv[1]);
    client = fresh_client();
    snprintf(login_options, sizeof login_options,
             "{\"base_url\":\"%s\",\"sso_base_url\":\"%s\",\"sis_base_url\":\"%s\",\"max_retries\":0}",
             argv[1], argv[1], argv[1]);
    ready_login = fresh_login();
"#;

const POSTLUDE: &str = r#"    ustb_client_free(client);
    ustb_login_free(ready_login);
    if (log_lines == 0) fail("count_log", "the log callback set with ustb_set_log_callback was never called");
    ustb_set_log_callback(NULL, NULL, USTB_LOG_OFF, NULL);
    printf("misuse_generated: %d cases, %d failures\n", cases, failures);
    return failures != 0;
}
"#;

/// The generated program's source, and how many calls it makes (all-valid and NULL ones).
fn generate(header: &str) -> Result<(String, usize, usize), Vec<String>> {
    let (preamble, exports) = parse_header(header);
    let (mut body, mut valid, mut nulls, mut errors) = (String::new(), 0, 0, Vec::new());
    for e in &exports {
        let pointers = e.params.iter().filter(|p| is_pointer(&p.ty)).map(|p| Some(p.name.as_str()));
        for null in std::iter::once(None).chain(pointers) {
            match case(&preamble, e, null) {
                Ok(c) => {
                    body.push_str(&c);
                    if null.is_some() {
                        nulls += 1
                    } else {
                        valid += 1
                    }
                }
                Err(msg) => errors.push(msg),
            }
        }
    }
    if errors.is_empty() {
        Ok((format!("{PRELUDE}{body}{POSTLUDE}"), valid, nulls))
    } else {
        Err(errors)
    }
}

/// Runs a compiled program plainly and under valgrind, and its sanitized build, against an
/// emulator child; each run must pass and print `marker`.
fn run_everywhere(name: &str, sources: &[&str], emulator_args: &[&str], marker: &str) {
    let plain = compile_with(false, name, sources, &[]);
    let sanitized = compile_with(false, &format!("{name}_asan"), sources, SANITIZE);
    let emu = EmulatorProcess::start_with(emulator_args);
    let url = emu.url.as_str();
    for (how, prefix, exe, env) in [
        ("plain", &[][..], &plain, &[][..]),
        ("valgrind", VALGRIND, &plain, &[][..]),
        ("ASan+UBSan", &[][..], &sanitized, ASAN_ENV),
    ] {
        let start = Instant::now();
        let out = run_bounded(prefix, exe, &[url], env, 300);
        eprintln!("{name} {how}: {:?} in {:.1?}", out.status, start.elapsed());
        assert_ok(&format!("{name} ({how})"), &out);
        assert!(String::from_utf8_lossy(&out.stdout).contains(marker), "{name} ({how}) did not finish");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
    }
}

/// The `ustb_*` functions the shared library exports, sorted.
fn exported_symbols() -> Vec<String> {
    let out = run(Command::new("nm").args(["-D", "--defined-only"]).arg(library().join("libustb_openai.so")));
    assert_ok("nm", &out);
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(" T ").map(|(_, n)| n.to_string()))
        .filter(|n| n.starts_with("ustb_"))
        .collect();
    names.sort();
    names
}

#[test]
fn generated_null_misuse_of_every_export() {
    let header = std::fs::read_to_string(root().join("include/ustb_openai.h")).unwrap();
    let (source, valid, nulls) = generate(&header).unwrap_or_else(|e| panic!("cannot generate:\n{}", e.join("\n")));
    // The parser found every function the library exports.
    let mut parsed: Vec<String> = parse_header(&header).1.into_iter().map(|e| e.name).collect();
    parsed.sort();
    assert_eq!(parsed, exported_symbols(), "the header's prototypes and the library's exports differ");
    assert_eq!(valid, parsed.len());
    let path = library().join("misuse_generated.c");
    std::fs::write(&path, source).unwrap();
    eprintln!("generated {} all-valid and {nulls} NULL-argument calls", valid);
    let path = path.to_str().unwrap().to_string();
    run_everywhere("misuse_generated", &[&path], &["--delay-ms", "0"], &format!("{} cases, 0 failures", valid + nulls));
}

#[test]
fn generator_fails_on_an_export_it_cannot_call() {
    let header = std::fs::read_to_string(root().join("include/ustb_openai.h")).unwrap();
    let added = header.replace(
        "void ustb_error_free(ustb_error *error);",
        "void ustb_error_free(ustb_error *error);\n\nustb_status ustb_new_thing(const ustb_client *client, double x, ustb_error **error);\n\nvoid ustb_undocumented(ustb_client *client);",
    );
    let errors = generate(&added).expect_err("generation must fail");
    assert!(
        errors.iter().any(|e| e.starts_with("ustb_new_thing: no valid value for parameter `double x`")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.starts_with("ustb_undocumented: NULL `client` is not documented")), "{errors:?}");
    // A NULL allowance whose header text is gone fails too.
    let reworded = header.replace("Each out-pointer may be NULL (not wanted)", "Out-pointers are required");
    let errors = generate(&reworded).expect_err("generation must fail");
    assert!(errors.iter().any(|e| e.starts_with("ustb_chunk_delta: the header no longer says")), "{errors:?}");
}

#[test]
fn handwritten_misuse() {
    run_everywhere("misuse", &["tests/c/misuse.c"], &["--delay-ms", "0"], "misuse: all checks passed");
}

#[test]
fn api_test_under_address_and_undefined_behaviour_sanitizers() {
    let exe = compile_with(false, "api_test_asan", &["tests/c/api_test.c"], SANITIZE);
    let emu = EmulatorProcess::start();
    let out = run_bounded(&[], &exe, &[&emu.url], ASAN_ENV, 120);
    assert_ok("api_test (ASan+UBSan)", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
