//! Logging in through the university SSO (WeChat QR code or SMS code) to get the
//! `cookie_vjuid_login` cookie. See docs/PROTOCOL.md section 6.

#![allow(dead_code)] // until the flow lands

pub(crate) mod puzzle;
pub(crate) mod qrtext;
