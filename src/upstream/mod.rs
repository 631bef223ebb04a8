//! The wire: HTTP requests, the multipart body, the `{e,m,d}` envelope, error mapping.

pub mod body;
pub mod cancellable_json;
pub mod envelope;
pub mod http;
pub mod lookup;
pub mod multipart;
pub mod record;
pub mod transport;

pub use envelope::Envelope;
pub use http::{Cookies, Wire, WireConfig};
pub use transport::CancelToken;

/// The chat endpoint (multipart POST, SSE reply).
pub const CHAT_PATH: &str = "/site/ai/compose_chat";
/// Who the caller is; for a cookieless visitor it also issues an `easy_session`.
pub const USER_INFO_PATH: &str = "/site/user_info";
