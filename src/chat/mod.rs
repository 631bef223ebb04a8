//! Chat: request normalisation, reply decoding, OpenAI-shaped output.

pub mod decode;
pub mod output;
pub mod request;
pub mod stream;
pub mod tools;

pub use stream::ChatStream;
