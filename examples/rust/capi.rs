//! The C API calls the benchmark makes, exactly as a C program would make them.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use ustb_openai::ffi::*;

/// A chat request for `prompt`, as request JSON. It asks for the usage chunk, so the library
/// writes the same chunks as the decode floor (`__bench::decode_chunks` includes usage).
pub fn request(prompt: &str) -> CString {
    let req = serde_json::json!({
        "messages": [{ "role": "user", "content": prompt }],
        "stream_options": { "include_usage": true },
    });
    CString::new(req.to_string()).unwrap()
}

/// A client of `url` with a login cookie.
pub fn client(url: &str) -> *mut ustb_client {
    let opts = CString::new(format!("{{\"base_url\":\"{url}\",\"vjuid_login\":\"bench\"}}")).unwrap();
    let mut c = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_client_new(opts.as_ptr(), &mut c, &mut err) };
    check(st, err, "ustb_client_new");
    c
}

/// A raw pointer that may cross threads (the client is documented fully thread-safe).
#[derive(Clone, Copy)]
pub struct Shared(pub *mut ustb_client);
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Panics with the library's message unless `st` is OK.
fn check(st: ustb_status, err: *mut ustb_error, what: &str) {
    if st == ustb_status::USTB_OK {
        return;
    }
    let msg = if err.is_null() {
        String::new()
    } else {
        let m = unsafe { CStr::from_ptr(ustb_error_message(err)) }.to_string_lossy().into_owned();
        unsafe { ustb_error_free(err) };
        m
    };
    panic!("{what}: {st:?} {msg}");
}

fn open(c: *mut ustb_client, req: &CString) -> *mut ustb_chat_stream {
    let mut s = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_stream_open(c, req.as_ptr(), &mut s, &mut err) };
    check(st, err, "ustb_chat_stream_open");
    s
}

/// One `ustb_chat_stream_next`: `Some(len)` for a chunk (freed at once), `None` at the end.
fn next(s: *mut ustb_chat_stream) -> Option<usize> {
    let mut chunk = ptr::null_mut();
    let mut len = 0;
    let mut err = ptr::null_mut();
    match unsafe { ustb_chat_stream_next(s, &mut chunk, &mut len, &mut err) } {
        ustb_status::USTB_OK => {
            unsafe { ustb_string_free(chunk) };
            Some(len)
        }
        ustb_status::USTB_END_OF_STREAM => None,
        other => {
            check(other, err, "ustb_chat_stream_next");
            None
        }
    }
}

/// Streams one reply through the pull API; returns (chunks, bytes of chunk JSON).
pub fn pull(c: *mut ustb_client, req: &CString) -> (usize, usize) {
    pull_watching(c, req, |_| {})
}

/// As `pull`, calling `watch(chunks so far)` after every 4,096th chunk.
pub fn pull_watching(c: *mut ustb_client, req: &CString, mut watch: impl FnMut(usize)) -> (usize, usize) {
    let s = open(c, req);
    let (mut n, mut bytes) = (0, 0);
    while let Some(len) = next(s) {
        n += 1;
        bytes += len;
        if n % 4096 == 0 {
            watch(n);
        }
    }
    unsafe { ustb_chat_stream_free(s) };
    (n, bytes)
}

/// Seconds from `ustb_chat_stream_open` to the first chunk in hand (the stream is then freed).
pub fn first_chunk(c: *mut ustb_client, req: &CString) -> f64 {
    let t = std::time::Instant::now();
    let s = open(c, req);
    next(s).expect("a first chunk");
    let secs = t.elapsed().as_secs_f64();
    unsafe { ustb_chat_stream_free(s) };
    secs
}

unsafe extern "C" fn count(userdata: *mut c_void, _chunk: *const c_char, _len: usize) -> c_int {
    *(userdata as *mut usize) += 1;
    0
}

/// Streams one reply through the callback API; returns the chunks.
pub fn for_each(c: *mut ustb_client, req: &CString) -> usize {
    let s = open(c, req);
    let mut n = 0usize;
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_stream_for_each(s, Some(count), &mut n as *mut usize as *mut c_void, &mut err) };
    check(st, err, "ustb_chat_stream_for_each");
    unsafe { ustb_chat_stream_free(s) };
    n
}

/// `ustb_chat_create`: hands the completion JSON, still owned by the library, to `inspect`.
pub fn create<T>(c: *mut ustb_client, req: &CString, inspect: impl FnOnce(&[u8]) -> T) -> T {
    let mut out = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_create(c, req.as_ptr(), &mut out, &mut err) };
    check(st, err, "ustb_chat_create");
    let result = inspect(unsafe { CStr::from_ptr(out) }.to_bytes());
    unsafe { ustb_string_free(out) };
    result
}
