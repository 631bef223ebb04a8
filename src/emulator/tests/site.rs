//! The non-chat endpoints.

use super::*;

#[test]
fn site_endpoints() {
    let e = start(Config::default());
    let r = request(&e, &get_raw("/site/user_info", None, ""));
    let cookie = r.header("set-cookie").expect("set-cookie");
    let value = cookie.strip_prefix("easy_session=").unwrap().strip_suffix("; path=/; HttpOnly").unwrap();
    assert!(value.len() == 32 && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(r.json()["d"]["uid"], 0);
    let r = request(&e, &get_raw("/site/user_info", Some("cookie_vjuid_login=test-login"), ""));
    assert!(r.header("set-cookie").is_some(), "a login without a session gets one");
    let r = request(&e, &get_raw("/site/user_info", Some(COOKIE), ""));
    assert!(r.header("set-cookie").is_none());
    let d = &r.json()["d"];
    assert!(d["uid"].as_i64().unwrap() > 0 && d["type_name"] == "学生");
    for k in ["account", "type_name", "uid", "user_name", "user_number", "identity_name"] {
        assert!(!d[k].is_null(), "{k}");
    }

    let info = request(&e, &get_raw("/common/web_info", None, "")).json();
    assert_eq!((info["e"].as_i64(), info["d"]["isCas"].as_bool()), (Some(0), Some(true)));
    let list = request(&e, &get_raw("/site/ai/compose_list?classid=0", None, "")).json();
    let app = list["d"].as_array().unwrap().iter().find(|a| a["id"] == 3).expect("id 3");
    assert_eq!((app["name"].as_str(), app["is_stream"].as_i64()), (Some("DeepSeek"), Some(1)));
    assert_eq!(request(&e, &get_raw("/site/ai/compose_detail?id=3", None, "")).json()["d"]["id"], 3);
    let ps = request(&e, &get_raw("/site/voom/page-setting?compose_id=3&type=pc", None, "")).json();
    assert_eq!(
        ps["d"]["model_select"]["model_content"]["value"],
        serde_json::json!([{"label": "DeepSeek", "value": "DeepSeek"}])
    );
    assert!(ps["d"]["deepThinking_select"].is_object() && ps["d"]["networking_select"].is_object());

    let sid = request(&e, &get_raw("/site/voom/get_new_session_id?compose_id=3", Some(COOKIE), "")).json()["d"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sid.len(), 32);
    let fields = [("compose_id", "3"), ("content", "会话里的问题"), ("session_id", sid.as_str())];
    request(&e, &chat_raw(&fields, Some(COOKIE), ""));
    let sessions = request(&e, &get_raw("/site/voom/session_list?page=1&pageSize=10", Some(COOKIE), "")).json();
    let s = &sessions["d"][0];
    assert_eq!((s["sess_id"].as_str(), s["last_content"].as_str()), (Some(sid.as_str()), Some("会话里的问题")));
    let hist =
        request(&e, &get_raw(&format!("/site/voom/chat_history_info?session_id={sid}"), Some(COOKIE), "")).json();
    let msgs = hist["d"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["content"], "会话里的问题");
    assert!(msgs[1]["ct"].is_string());
    let del = multipart(&[("session_id", sid.as_str())]);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    assert_eq!(request(&e, &post("/site/voom/session_delete", &ct, &del, Some(COOKIE), "")).json()["e"], 0);
    let sessions = request(&e, &get_raw("/site/voom/session_list?page=1&pageSize=10", Some(COOKIE), "")).json();
    assert_eq!(sessions["d"], serde_json::json!([]));

    let page = request(&e, &get_raw("/page/front/Mdefault/chat?ext=%7B%7D", Some(COOKIE), ""));
    assert_eq!(page.status, 200);
    let page = request(&e, &get_raw("/page/front/Mdefault/chat?ext=%7B%7D", None, ""));
    assert_eq!(page.status, 302);
    assert!(page.header("location").unwrap().starts_with("https://sso.ustb.edu.cn/"));
    let missing = request(&e, &get_raw("/no/such/path", None, ""));
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("<html>"));
}

#[test]
fn logged_out_and_bad_parameters() {
    let e = start(Config { login_token: Some("test-login".into()), ..Config::default() });
    let wrong = "cookie_vjuid_login=expired-login";
    for path in [
        "/site/voom/get_new_session_id?compose_id=3",
        "/site/voom/session_list?page=1&pageSize=10",
        "/site/voom/chat_history_info?session_id=abc",
        "/site/voom/session_delete?session_id=abc",
    ] {
        for cookie in [None, Some(wrong)] {
            let r = request(&e, &get_raw(path, cookie, "")).json();
            assert_eq!((r["e"].as_i64(), r["m"].as_str()), (Some(10042), Some("请登录")), "{path} {cookie:?}");
        }
    }
    let page = request(&e, &get_raw("/page/front/Mdefault/chat?ext=%7B%7D", Some(wrong), ""));
    assert_eq!(page.status, 302);
    // The site's public pages need no login.
    for path in ["/common/web_info", "/site/ai/compose_list?classid=0", "/site/voom/page-setting?compose_id=5&type=pc"]
    {
        assert_eq!(request(&e, &get_raw(path, None, "")).json()["e"], 0, "{path}");
    }
    let qwen = request(&e, &get_raw("/site/voom/page-setting?compose_id=5&type=pc", None, "")).json();
    assert_eq!(qwen["d"]["model_select"]["model_content"]["value"][0]["value"], "qwen-max");
    let bad = [
        ("/site/voom/page-setting?type=pc", "compose_id不能为空"),
        ("/site/voom/page-setting?compose_id=99&type=pc", "应用不存在"),
        ("/site/ai/compose_detail?id=99", "应用不存在"),
        ("/site/voom/get_new_session_id", "compose_id不能为空"),
        ("/site/voom/chat_history_info", "session_id不能为空"),
        ("/site/voom/session_delete", "session_id不能为空"),
    ];
    for (path, m) in bad {
        let r = request(&e, &get_raw(path, Some(COOKIE), "")).json();
        assert_eq!((r["e"].as_i64(), r["m"].as_str()), (Some(1), Some(m)), "{path}");
    }
}
