mod common;
use common::*;
use std::ptr;
use std::time::{Duration, Instant};
use ustb_openai::emulator::{Config, SsoConfig};
use ustb_openai::ffi::*;

#[test]
fn measure() {
    for (script, first) in [("confirm@60000", None), ("scan@0,confirm@60000", Some(2000u32))] {
        let sso = SsoConfig { qr_script: script.into(), instant_polls: true, ..SsoConfig::default() };
        let emu = emulator_with(Config { sso, ..Config::default() });
        let u = emu.base_url();
        let opts = cstring(&serde_json::json!({"base_url":u,"sso_base_url":u,"sis_base_url":u,"max_retries":0}).to_string());
        let (mut l, mut err) = (ptr::null_mut(), ptr::null_mut());
        check(unsafe { ustb_login_new(opts.as_ptr(), &mut l, &mut err) }, err).unwrap();
        check(unsafe { ustb_login_qr_start(l, NONE, &mut err) }, err).unwrap();
        let mut state = ustb_login_state::USTB_LOGIN_WAITING;
        if let Some(ms) = first {
            check(unsafe { ustb_login_qr_wait(l, ms, NONE, &mut state, &mut err) }, err).unwrap();
        }
        let polls = || emu.requests().iter().filter(|r| r.path.starts_with("/connect/state?")).count();
        let before = polls();
        let ms = if first.is_some() { 100 } else { 3000 };
        let t = Instant::now();
        check(unsafe { ustb_login_qr_wait(l, ms, NONE, &mut state, &mut err) }, err).unwrap();
        eprintln!("MEASURE script {script}: qr_wait({ms}) -> {state:?} in {:?}, {} polls", t.elapsed(), polls() - before);
        unsafe { ustb_login_free(l) };
        let _ = Duration::ZERO;
    }
}
