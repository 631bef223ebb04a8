//! The options parser: never panics; every refusal is InvalidArgument.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ustb_openai::{ErrorKind, Options};

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    if let Err(e) = Options::from_json(text) {
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e:?}");
    }
});
