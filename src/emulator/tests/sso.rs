//! The fake SSO and SIS: the QR and SMS flows step by step, every refusal, the QR script and
//! its control endpoint, and the TLS front.

use super::*;
use base64::Engine;
use serde_json::json;
use std::path::Path;

const CHAT: &str = "http://chat.ustb.edu.cn";

fn config(script: &str) -> Config {
    let sso = SsoConfig { qr_script: script.into(), long_poll: Duration::from_millis(300), ..SsoConfig::default() };
    Config { sso, ..Config::default() }
}

fn get(e: &Emulator, path: &str) -> Resp {
    request(e, &get_raw(path, None, ""))
}

fn post_json(e: &Emulator, path: &str, v: &Value) -> Resp {
    let r = request(e, &post(path, "application/json", v.to_string().as_bytes(), None, ""));
    assert_eq!(r.header("content-type"), Some("application/json;charset=UTF-8"), "{path}");
    r
}

/// The path and query of an absolute URL on the test's Host.
fn local(url: &str) -> &str {
    url.strip_prefix(CHAT).unwrap_or_else(|| panic!("{url} is not on {CHAT}"))
}

fn redirect_uri() -> String {
    let back = util::url_encode(&format!("{CHAT}/page/site/newPc?login_return=true"));
    format!("{CHAT}/common/actionCasLogin?redirect_url={back}")
}

/// Step 1; returns the lck.
fn start_login(e: &Emulator) -> String {
    let path = format!(
        "/idp/authCenter/authenticate?client_id=YW2025007&redirect_uri={}&login_return=true&state=ustb&response_type=code",
        util::url_encode(&redirect_uri())
    );
    let r = get(e, &path);
    assert_eq!(r.status, 302);
    let cookie = r.header("set-cookie").expect("SESSION cookie");
    assert!(cookie.starts_with("SESSION=") && cookie.ends_with("; Path=/; HttpOnly"), "{cookie}");
    let location = r.header("location").unwrap();
    let rest = location.strip_prefix(&format!("{CHAT}/ac/#/index?lck=context_oauth2_")).expect(location);
    let (id, tail) = rest.split_at(32);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()) && tail == "&entityId=YW2025007", "{location}");
    format!("context_oauth2_{id}")
}

/// Step 2: the (QR, SMS) chain codes.
fn chains(e: &Emulator, lck: &str) -> (String, String) {
    let r = post_json(e, "/idp/authn/queryAuthMethods", &json!({ "lck": lck, "entityId": "YW2025007" })).json();
    assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(200), Some("SUCCESS")));
    let m = &r["data"];
    assert_eq!((m[0]["moduleCode"].as_str(), m[1]["moduleCode"].as_str()), (Some("microQr"), Some("userAndSms")));
    let chain = |i: usize| m[i]["authChainCode"].as_str().unwrap().to_string();
    (chain(0), chain(1))
}

struct Qr {
    return_url: String,
    token: String,
}

/// Step 3.
fn micro_qr(e: &Emulator, lck: &str) -> Qr {
    let r = post_json(e, "/idp/authn/getMicroQr", &json!({ "entityId": "YW2025007", "lck": lck })).json();
    assert_eq!((r["code"].as_str(), r["message"].as_str()), (Some("200"), Some("成功")), "{r}");
    let d = &r["data"];
    assert_eq!(d["url"], format!("{CHAT}/connect/qrpage"));
    assert_eq!(d["appId"].as_str().unwrap().len(), 32);
    let return_url = d["returnUrl"].as_str().unwrap().to_string();
    assert_eq!(return_url, format!("{CHAT}/idp/authCenter/authenticateByLck?lck={lck}"));
    Qr { return_url, token: d["randomToken"].as_str().unwrap().to_string() }
}

/// The library's `sid\s?=\s?(\w{32})`.
fn find_sid(html: &str) -> Option<String> {
    html.match_indices("sid").find_map(|(i, _)| {
        let rest = html[i + 3..].strip_prefix(' ').unwrap_or(&html[i + 3..]);
        let rest = rest.strip_prefix('=')?;
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        (rest.len() >= 32 && rest.as_bytes()[..32].iter().all(|&b| word(b))).then(|| rest[..32].to_string())
    })
}

/// Step 4: a new QR session.
fn qr_page(e: &Emulator, token: &str) -> String {
    let r = get(e, &format!("/connect/qrpage?appid=a&return_url=b&rand_token={token}&embed_flag=1"));
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/html;charset=UTF-8")));
    find_sid(&r.text()).expect("sid in the page")
}

fn new_sid(e: &Emulator) -> (String, Qr) {
    let lck = start_login(e);
    let qr = micro_qr(e, &lck);
    (qr_page(e, &qr.token), qr)
}

/// Step 6: (code, data).
fn poll(e: &Emulator, sid: &str) -> (i64, Value) {
    let r = get(e, &format!("/connect/state?sid={sid}"));
    assert_eq!(r.header("content-type"), Some("application/json;charset=UTF-8"));
    let v = r.json();
    assert!(v["message"].is_string(), "{v}");
    (v["code"].as_i64().expect("code"), v["data"].clone())
}

fn codes(e: &Emulator, sid: &str, n: usize) -> Vec<i64> {
    (0..n).map(|_| poll(e, sid).0).collect()
}

/// Step 7 / 7' reply → the destination page's decoded locationValue, if any.
fn destination(e: &Emulator, r: &Resp) -> Option<String> {
    if r.status != 302 {
        assert!(!r.text().contains("locationValue"));
        return None;
    }
    let location = r.header("location").unwrap();
    assert!(location.starts_with("/idp/authCenter/destination?ticket="), "{location}");
    let page = get(e, location).text();
    assert!(page.contains("var actionType = \"GET\";"), "{page}");
    let value = page.split("var locationValue = \"").nth(1)?.split('"').next()?;
    assert!(!value.contains("&code") && value.contains("&amp;code="), "escaped: {value}");
    Some(value.replace("&amp;", "&"))
}

/// Step 8: the login cookie's value, or None (then it redirected back to the SSO).
fn cas_login(e: &Emulator, url: &str) -> Option<String> {
    let r = get(e, local(url));
    assert_eq!(r.status, 302);
    let Some(cookie) = r.header("set-cookie") else {
        assert!(r.header("location").unwrap().starts_with(&format!("{CHAT}/idp/authCenter/authenticate?client_id=")));
        return None;
    };
    assert_eq!(r.header("location"), Some(format!("{CHAT}/page/site/newPc?login_return=true").as_str()));
    let value = cookie.strip_prefix("cookie_vjuid_login=")?.strip_suffix("; path=/; HttpOnly")?;
    Some(value.to_string())
}

fn chat_with(e: &Emulator, cookie: &str) -> Resp {
    request(e, &chat_raw(&[("compose_id", "3"), ("content", "hi")], Some(&format!("cookie_vjuid_login={cookie}")), ""))
}

fn by_lck(e: &Emulator, qr: &Qr, pass: &str) -> Resp {
    get(e, &format!("{}&appid=x&auth_code={pass}&rand_token={}", local(&qr.return_url), qr.token))
}

#[test]
fn qr_login_to_a_cookie_the_chat_accepts() {
    let mut c = config("scan@50,confirm@100");
    c.login_token = Some("the-login-token".into());
    let e = start(c);
    let lck = start_login(&e);
    chains(&e, &lck);
    let qr = micro_qr(&e, &lck);
    let sid = qr_page(&e, &qr.token);
    let img = get(&e, &format!("/connect/qrimg?sid={sid}"));
    assert_eq!((img.status, img.header("content-type")), (200, Some("image/png")));
    assert_eq!(img.body, qrimage::png(&format!("{CHAT}/connect/scan?sid={sid}")));
    assert_eq!(poll(&e, &sid), (2, Value::Null));
    let (code, pass) = poll(&e, &sid);
    assert_eq!(code, 1);
    let pass = pass.as_str().unwrap().to_string();
    assert_eq!(pass.len(), 32);
    // Final: repeats.
    assert_eq!(poll(&e, &sid), (1, json!(pass)));

    let url = destination(&e, &by_lck(&e, &qr, &pass)).expect("locationValue");
    assert!(url.starts_with(&format!("{}&code=", redirect_uri())) && url.ends_with("&state=ustb"), "{url}");
    // The pass code works once.
    assert_eq!(destination(&e, &by_lck(&e, &qr, &pass)), None);
    let cookie = cas_login(&e, &url).expect("cookie");
    assert_eq!(cookie, "the-login-token");
    assert_eq!(chat_with(&e, &cookie).header("content-type"), Some("text/event-stream; charset=utf-8"));
    // The code works once too.
    assert_eq!(cas_login(&e, &url), None);
    assert_eq!(get(&e, "/page/site/newPc?login_return=true").status, 200);
}

#[test]
fn final_states_and_their_codes() {
    for (script, want) in [
        ("expire@20", vec![3, 3]),
        ("expire202@20", vec![202, 202]),
        ("invalid@20", vec![102, 102]),
        ("scan@20,expire@40", vec![2, 3, 3]),
        ("confirm@20,scan@10", vec![2, 1]),
    ] {
        let e = start(config(script));
        let (sid, _) = new_sid(&e);
        assert_eq!(codes(&e, &sid, want.len()), want, "{script}");
    }
}

#[test]
fn long_poll_waits_for_the_next_change_or_times_out() {
    let e = start(config("scan@150,confirm@5000"));
    let t = Instant::now();
    let (sid, _) = new_sid(&e);
    assert_eq!(poll(&e, &sid).0, 2);
    assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(poll(&e, &sid).0, 4);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(280) && waited < Duration::from_secs(3), "{waited:?}");
    // Unknown sids are answered at once.
    let mut c = config("scan@150");
    c.sso.long_poll = Duration::from_secs(5);
    let e = start(c);
    let t = Instant::now();
    assert_eq!(poll(&e, "nosuchsid0000000000000000000000x").0, 101);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_waiting_poll_blocks_nobody_and_ends_when_its_client_leaves() {
    let mut c = config("scan@60000");
    c.sso.long_poll = Duration::from_secs(30);
    let e = start(c);
    let (sid, qr) = new_sid(&e);
    let mut waiting = Client::connect(&e);
    waiting.send(&get_raw(&format!("/connect/state?sid={sid}"), None, ""));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let other = qr_page(&e, &qr.token);
    assert_eq!(poll(&e, "nosuchsid0000000000000000000000x").0, 101);
    assert!(t.elapsed() < Duration::from_secs(2), "the lock is free while a poll waits");
    assert_ne!(other, sid);
    drop(waiting);
    let t = Instant::now();
    while !lock(&e.shared.conns).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(2), "the poll ends when its client leaves");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn changes_are_reported_once_and_in_order_when_polled_late() {
    let e = start(config("scan@10,confirm@20"));
    let (sid, _) = new_sid(&e);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(codes(&e, &sid, 3), [2, 1, 1]);
}

#[test]
fn a_qr_code_expires_after_its_lifetime() {
    let mut c = config("scan@20,confirm@60000");
    c.sso.qr_lifetime = Duration::from_millis(200);
    c.sso.long_poll = Duration::from_secs(5);
    let e = start(c);
    let (sid, _) = new_sid(&e);
    let t = Instant::now();
    assert_eq!(codes(&e, &sid, 2), [2, 3]);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn renewal_uses_the_next_phase_and_the_last_repeats() {
    let e = start(config("expire@20;scan@20,confirm@40"));
    let (sid, qr) = new_sid(&e);
    assert_eq!(codes(&e, &sid, 1), [3]);
    // A new page for the same token is a new sid with the second phase.
    let sid2 = qr_page(&e, &qr.token);
    assert_ne!(sid, sid2);
    assert_eq!(codes(&e, &sid2, 2), [2, 1]);
    let sid3 = qr_page(&e, &qr.token);
    assert_eq!(codes(&e, &sid3, 2), [2, 1]);
    assert_eq!(codes(&e, &sid, 1), [3], "the first sid stays expired");
}

#[test]
fn control_endpoint_replaces_the_script() {
    let e = start(config("scan@20,confirm@40"));
    let set = |script: &str| request(&e, &post("/emulator/sso/qr-script", "text/plain", script.as_bytes(), None, ""));
    assert_eq!(set("invalid@10;expire202@10").status, 204);
    let (sid, qr) = new_sid(&e);
    assert_eq!(poll(&e, &sid).0, 102);
    assert_eq!(poll(&e, &qr_page(&e, &qr.token)).0, 202);
    // A new script restarts the phases.
    assert_eq!(set("invalid@10;expire202@10").status, 204);
    assert_eq!(poll(&e, &qr_page(&e, &qr.token)).0, 102);
    for bad in ["dance@10", "scan@", "scan", "scan@10;;confirm@20", "", "scan@-1"] {
        let r = set(bad);
        assert_eq!(r.status, 400, "{bad:?}");
        assert!(r.text().starts_with("bad QR script"), "{}", r.text());
    }
    // A refused script changes nothing.
    assert_eq!(poll(&e, &qr_page(&e, &qr.token)).0, 202);
    assert!(SsoConfig { qr_script: "scan@1,fly@2".into(), ..SsoConfig::default() }
        .validate()
        .unwrap_err()
        .contains("fly"));
    let bad = Emulator::start(config("nope"), "127.0.0.1:0").err().expect("refused");
    assert_eq!(bad.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn long_poll_ends_when_the_emulator_stops() {
    let mut c = config("scan@60000");
    c.sso.long_poll = Duration::from_secs(30);
    let e = start(c);
    let (sid, _) = new_sid(&e);
    let mut client = Client::connect(&e);
    client.send(&get_raw(&format!("/connect/state?sid={sid}"), None, ""));
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    e.stop();
    client.read_to_end();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn qr_refusals() {
    let e = start(config("scan@20,confirm@40"));
    let r = get(&e, "/idp/authCenter/authenticate?client_id=other&redirect_uri=x");
    assert_eq!((r.status, r.header("content-type")), (400, Some("text/html;charset=UTF-8")));
    assert_eq!(get(&e, "/idp/authCenter/authenticate?client_id=YW2025007").status, 400);
    let unknown = json!({ "lck": "context_oauth2_nope", "entityId": "YW2025007" });
    let r = post_json(&e, "/idp/authn/queryAuthMethods", &unknown).json();
    assert_eq!(r, json!({ "code": 400, "message": "登录上下文无效", "data": null }));
    let r = post_json(&e, "/idp/authn/getMicroQr", &unknown).json();
    assert_eq!(r, json!({ "code": "400", "message": "登录上下文无效", "data": null }));
    let page = get(&e, "/connect/qrpage?appid=a&return_url=b&rand_token=unknown&embed_flag=1");
    assert_eq!(page.status, 200);
    assert_eq!(find_sid(&page.text()), None);
    assert_eq!(get(&e, "/connect/qrimg?sid=nosuchsid").status, 404);

    // Step 7: before the confirmation, a wrong code, another login's lck.
    let (sid, qr) = new_sid(&e);
    assert_eq!(poll(&e, &sid).0, 2);
    let (_, other) = new_sid(&e);
    let pass = poll(&e, &sid).1.as_str().unwrap().to_string();
    assert_eq!(destination(&e, &by_lck(&e, &qr, "0123456789abcdef0123456789abcdef")), None);
    let foreign = Qr { return_url: other.return_url, token: qr.token.clone() };
    assert_eq!(destination(&e, &by_lck(&e, &foreign, &pass)), None);
    assert_eq!(destination(&e, &get(&e, "/idp/authCenter/destination?ticket=nope")), None);
    assert!(destination(&e, &by_lck(&e, &qr, &pass)).is_some());
    // Step 8 with a made-up code.
    let url = format!("{}&code=abcdefabcdefabcdefabcdefabcdefab&state=ustb", redirect_uri());
    assert_eq!(cas_login(&e, &url), None);
}

/// 3'–5': a puzzle solved right (the public client sends x − 5), for `phone`.
fn send_sms(e: &Emulator, lck: &str, phone: &str, offset: i64) -> Value {
    let p = get(e, "/idp/captcha/getBlockPuzzle").json();
    assert_eq!((p["code"].as_i64(), p["data"]["secretKey"].clone()), (Some(200), Value::Null));
    let token = p["data"]["token"].as_str().unwrap();
    let (x, _) = e.sso_puzzle_answer(token).expect("answer stored");
    send_with(e, lck, phone, token, i64::from(x) - 5 + offset)
}

fn send_with(e: &Emulator, lck: &str, phone: &str, token: &str, x: i64) -> Value {
    let point = json!({ "x": x, "y": 5 }).to_string();
    let body = json!({ "loginName": phone, "pointJson": point, "token": token, "lck": lck });
    post_json(e, "/idp/authn/sendSmsMsg", &body).json()
}

fn sms_code(r: &Value) -> &str {
    assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(200), Some("SUCCESS")), "{r}");
    r["data"]["code"].as_str().expect("data.code")
}

fn execute(e: &Emulator, lck: &str, chain: &str, phone: &str, code: &str) -> Value {
    let body = json!({
        "authModuleCode": "userAndSms", "authChainCode": chain, "entityId": "YW2025007",
        "requestType": "chain_type", "lck": lck,
        "authPara": { "loginName": phone, "smsCode": code, "verifyCode": "" },
    });
    post_json(e, "/idp/authn/authExecute", &body).json()
}

fn engine(e: &Emulator, token: &str) -> Resp {
    let body = format!("loginToken={token}");
    request(
        e,
        &post(
            "/idp/authCenter/authnEngine?locale=zh-CN",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
            None,
            "",
        ),
    )
}

#[test]
fn sms_login_to_a_cookie_the_chat_accepts() {
    let e = start(config("scan@20"));
    let open = get(&e, "/idp/captcha/checkOpen?type=sms");
    assert_eq!(open.json(), json!({ "code": 200, "message": "SUCCESS", "data": true }));
    let lck = start_login(&e);
    let (_, chain) = chains(&e, &lck);
    let p = get(&e, "/idp/captcha/getBlockPuzzle").json();
    let b64 = base64::engine::general_purpose::STANDARD;
    for key in ["originalImageBase64", "jigsawImageBase64"] {
        b64.decode(p["data"][key].as_str().unwrap()).expect("base64");
    }
    let token = p["data"]["token"].as_str().unwrap();
    let shape: Vec<usize> = token.split('-').map(str::len).collect();
    assert_eq!((shape, &token[14..15]), (vec![8, 4, 4, 4, 12], "4"), "{token}");

    let r = send_sms(&e, &lck, "13812345678", 3);
    assert_eq!(sms_code(&r), "200");
    assert_eq!(r["data"]["message"], "发送成功");
    let r = execute(&e, &lck, &chain, "13812345678", "345678");
    assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(200), Some("SUCCESS")), "{r}");
    let login_token = r["loginToken"].as_str().unwrap();
    assert_eq!(login_token.len(), 32);
    let url = destination(&e, &engine(&e, login_token)).expect("locationValue");
    // The login token works once.
    assert_eq!(destination(&e, &engine(&e, login_token)), None);
    let cookie = cas_login(&e, &url).expect("cookie");
    assert!(cookie.len() == 32 && cookie.bytes().all(|b| b.is_ascii_alphanumeric()), "{cookie}");
    assert_eq!(chat_with(&e, &cookie).header("content-type"), Some("text/event-stream; charset=utf-8"));
}

#[test]
fn sms_refusals() {
    let mut c = config("scan@20");
    c.sso.sms_interval = Duration::from_secs(1);
    let e = start(c);
    let lck = start_login(&e);
    let (qr_chain, chain) = chains(&e, &lck);
    // Wrong answer; then the same token again with the right one: used up.
    let p = get(&e, "/idp/captcha/getBlockPuzzle").json();
    let token = p["data"]["token"].as_str().unwrap();
    let (x, _) = e.sso_puzzle_answer(token).unwrap();
    let r = send_with(&e, &lck, "13812345678", token, i64::from(x) + 15);
    assert_eq!((sms_code(&r), r["data"]["message"].as_str()), ("5054", Some("验证码校验失败")));
    assert_eq!(e.sso_puzzle_answer(token), None);
    assert_eq!(sms_code(&send_with(&e, &lck, "13812345678", token, i64::from(x) - 5)), "5054");
    assert_eq!(sms_code(&send_with(&e, &lck, "13812345678", "no-such-token", 0)), "5054");
    assert_eq!(sms_code(&send_sms(&e, &lck, "13812345678", -5)), "5054", "off by 5");
    // Phone format.
    for bad in ["23812345678", "1381234567", "1381234567x", ""] {
        let r = send_sms(&e, &lck, bad, 4);
        assert_eq!((sms_code(&r), r["data"]["message"].as_str()), ("400", Some("手机号格式错误")), "{bad}");
    }
    // No code sent yet; then sent; then too soon (for any login), then after the interval.
    assert_eq!(execute(&e, &lck, &chain, "13812345678", "345678")["message"], "请先获取验证码");
    assert_eq!(sms_code(&send_sms(&e, &lck, "13812345678", -4)), "200");
    let r = send_sms(&e, &lck, "13812345678", 0);
    assert_eq!((sms_code(&r), r["data"]["message"].as_str()), ("201", Some("发送过于频繁")));
    let other = start_login(&e);
    assert_eq!(sms_code(&send_sms(&e, &other, "13812345678", 0)), "201");
    assert_eq!(sms_code(&send_sms(&e, &other, "13900000001", 0)), "200", "another phone");
    let unknown = send_with(&e, "context_oauth2_nope", "13812345678", "t", 0);
    assert_eq!(unknown, json!({ "code": 400, "message": "登录上下文无效", "data": null }));
    std::thread::sleep(Duration::from_millis(1050));
    assert_eq!(sms_code(&send_sms(&e, &lck, "13812345678", 0)), "200");
    // authExecute refusals.
    let refused = |r: Value, why: &str| assert_eq!(r, json!({ "code": 400, "message": why }));
    refused(execute(&e, &lck, &chain, "13812345678", "000000"), "验证码错误");
    refused(execute(&e, &lck, &qr_chain, "13812345678", "345678"), "认证链无效");
    refused(execute(&e, &lck, &chain, "13900000001", "000001"), "请先获取验证码");
    assert_eq!(execute(&e, "context_oauth2_nope", &chain, "13812345678", "345678")["code"], 400);
    // A code sent for another login does not work here, and the right one still does.
    let (_, other_chain) = chains(&e, &other);
    refused(execute(&e, &other, &other_chain, "13812345678", "345678"), "请先获取验证码");
    assert_eq!(execute(&e, &lck, &chain, "13812345678", "345678")["code"], 200);
    assert_eq!(destination(&e, &engine(&e, "not-a-token")), None);
}

#[test]
fn sms_closed() {
    let mut c = config("scan@20");
    c.sso.sms_open = false;
    let e = start(c);
    let r = get(&e, "/idp/captcha/checkOpen?type=sms");
    assert_eq!((r.status, r.header("content-type")), (404, Some("text/html;charset=UTF-8")));
}

#[test]
fn tls_front_serves_https_with_https_urls() {
    let dir = format!("{}/tests/tls", env!("CARGO_MANIFEST_DIR"));
    let e = start(config("scan@20"));
    let addr = e
        .serve_tls("127.0.0.1:0", Path::new(&format!("{dir}/server.pem")), Path::new(&format!("{dir}/server.key")))
        .expect("TLS front");
    let ca = std::fs::read(format!("{dir}/ca.pem")).unwrap();
    let roots: Vec<_> = ureq::tls::parse_pem(&ca)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(roots.len(), 1);
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots))).build();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().tls_config(tls).max_redirects(0).http_status_as_error(false).build().into();
    let url = format!("https://{addr}/idp/authCenter/authenticate?client_id=YW2025007&redirect_uri=x");
    for _ in 0..2 {
        let r = agent.get(&url).call().expect("https request");
        assert_eq!(r.status(), 302);
        let location = r.headers().get("location").unwrap().to_str().unwrap();
        assert!(location.starts_with(&format!("https://{addr}/ac/#/index?lck=context_oauth2_")), "{location}");
    }
    // The same request in plain HTTP still gets http:// URLs.
    let plain = request(&e, &get_raw("/idp/authCenter/authenticate?client_id=YW2025007&redirect_uri=x", None, ""));
    assert!(plain.header("location").unwrap().starts_with("http://chat.ustb.edu.cn/ac/"));
    // An unknown CA is refused.
    let strict: ureq::Agent = ureq::Agent::config_builder().max_redirects(0).build().into();
    assert!(strict.get(&url).call().is_err());
    let t = Instant::now();
    e.stop();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(agent.get(&url).call().is_err(), "stopped with the emulator");
}

#[test]
fn tls_front_refuses_bad_files() {
    let e = start(Config::default());
    let missing = e.serve_tls("127.0.0.1:0", Path::new("/nonexistent.pem"), Path::new("/nonexistent.key"));
    assert!(missing.unwrap_err().to_string().contains("/nonexistent.pem"));
}

#[test]
fn replies_can_name_other_hosts_as_the_real_servers_do() {
    let hosts = ReplyHosts {
        sso: "https://sso.example".into(),
        sis: "https://sis.example".into(),
        chat: "http://chat.example:81".into(),
    };
    let mut c = config("confirm@0");
    c.sso.reply_hosts = Some(hosts);
    let e = start(c);
    let path = format!(
        "/idp/authCenter/authenticate?client_id=YW2025007&redirect_uri={}&response_type=code",
        util::url_encode(&redirect_uri())
    );
    let location = get(&e, &path).header("location").unwrap().to_string();
    let lck = location.strip_prefix("https://sso.example/ac/#/index?lck=").expect(&location);
    let lck = lck.split('&').next().unwrap();
    let r = post_json(&e, "/idp/authn/getMicroQr", &json!({ "entityId": "YW2025007", "lck": lck })).json();
    let d = &r["data"];
    assert_eq!(d["url"], "https://sis.example/connect/qrpage");
    let return_url = d["returnUrl"].as_str().unwrap();
    let by_lck = return_url.strip_prefix("https://sso.example").expect(return_url);
    let token = d["randomToken"].as_str().unwrap();
    let sid = qr_page(&e, token);
    let img = get(&e, &format!("/connect/qrimg?sid={sid}"));
    assert_eq!(img.body, qrimage::png(&format!("https://sis.example/connect/scan?sid={sid}")));
    let (code, pass) = poll(&e, &sid);
    assert_eq!(code, 1);
    let r = get(&e, &format!("{by_lck}&appid=x&auth_code={}&rand_token={token}", pass.as_str().unwrap()));
    let location = r.header("location").unwrap();
    let ticket = location.strip_prefix("https://sso.example/idp/authCenter/destination").expect(location);
    let page = get(&e, &format!("/idp/authCenter/destination{ticket}")).text();
    let back = util::url_encode("http://chat.example:81/page/site/newPc?login_return=true");
    let want =
        format!("var locationValue = \"http://chat.example:81/common/actionCasLogin?redirect_url={back}&amp;code=");
    assert!(page.contains(&want), "{page}");
}

#[test]
fn instant_polls_repeat_the_current_state_at_once() {
    let mut c = config("scan@200,confirm@60000");
    c.sso.instant_polls = true;
    c.sso.long_poll = Duration::from_secs(10);
    let e = start(c);
    let (sid, _) = new_sid(&e);
    let t = Instant::now();
    assert_eq!(codes(&e, &sid, 3), [4, 4, 4]);
    assert!(t.elapsed() < Duration::from_secs(5), "not held: {:?}", t.elapsed());
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(codes(&e, &sid, 3), [2, 2, 2]);
}

#[test]
fn polls_can_flood_the_client_with_cookies() {
    let mut c = config("confirm@60000");
    c.sso.poll_cookies = 3;
    c.sso.long_poll = Duration::ZERO;
    let e = start(c);
    let (sid, _) = new_sid(&e);
    let names = |r: &Resp| -> Vec<String> {
        let cookies = r.headers.iter().filter(|(n, _)| n == "set-cookie");
        cookies
            .map(|(_, v)| {
                let (name, rest) = v.split_once('=').unwrap();
                assert_eq!(rest, format!("{}; Path=/", "c".repeat(POLL_COOKIE_BYTES)));
                name.to_string()
            })
            .collect()
    };
    let first = get(&e, &format!("/connect/state?sid={sid}"));
    assert_eq!(first.json()["code"], 4);
    assert_eq!(names(&first), ["flood0", "flood1", "flood2"]);
    assert_eq!(names(&get(&e, &format!("/connect/state?sid={sid}"))), ["flood3", "flood4", "flood5"]);
}
