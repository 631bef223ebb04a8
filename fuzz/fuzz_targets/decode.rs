//! The event decoder and chunk writer: each input line is one event's data; nothing panics,
//! and every chunk written is JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ustb_openai::chat::decode::Decoder;
use ustb_openai::chat::output::ChunkWriter;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let mut dec = Decoder::new();
    let mut w = ChunkWriter::new("DeepSeek", true);
    let mut usage = None;
    for line in text.split('\n') {
        match dec.feed(line) {
            Ok(d) => {
                usage = d.usage.or(usage);
                if let Some(c) = w.delta_chunk(&d) {
                    serde_json::from_str::<serde_json::Value>(&c).expect("chunk is JSON");
                }
            }
            Err(_) => return,
        }
    }
    if let Ok(d) = dec.finish(false) {
        if let Some(c) = w.delta_chunk(&d) {
            serde_json::from_str::<serde_json::Value>(&c).expect("chunk is JSON");
        }
    }
    if let Some(c) = w.usage_chunk(usage) {
        serde_json::from_str::<serde_json::Value>(&c).expect("usage chunk is JSON");
    }
});
