//! Chat: request normalisation, reply decoding, OpenAI-shaped output.

pub mod decode;
pub mod output;
pub mod request;
mod request_json;
pub mod stream;
pub mod tools;

pub use stream::ChatStream;
