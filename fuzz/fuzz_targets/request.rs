//! The request normaliser, through the public API (no network: a stream sends on first read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ustb_openai::{Client, ErrorKind};

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let client = Client::from_json("{}").unwrap();
    if let Err(e) = client.chat_stream(text) {
        assert!(matches!(e.kind, ErrorKind::InvalidArgument | ErrorKind::InvalidRequest), "{e:?}");
    }
});
