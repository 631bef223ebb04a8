//! Chat: request normalisation, reply decoding, OpenAI-shaped output.

pub mod decode;
pub mod output;
pub mod request;
pub mod stream;

pub use stream::ChatStream;
