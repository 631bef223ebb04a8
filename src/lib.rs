//! ustb-openai: a native client for 北科大 AI 助手 (chat.ustb.edu.cn).

#[cfg(feature = "emulator")]
pub mod emulator;
