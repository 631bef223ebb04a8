//! Unit tests of the parsers and serializers.

use super::*;

#[test]
fn multipart_parser() {
    assert_eq!(multipart::boundary("multipart/form-data; boundary=\"a b\""), Some("a b".into()));
    assert_eq!(multipart::boundary("Multipart/Form-Data;charset=utf-8; boundary=xyz"), Some("xyz".into()));
    assert_eq!(multipart::boundary("application/json"), None);
    let body = b"preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n\r\n--xy\r\n--xyz\r\ncontent-disposition: form-data; filename=\"f;x\"; name=empty\r\n\r\n\r\n--xyz--\r\n";
    let fields = multipart::parse(body, "xyz").unwrap();
    assert_eq!(fields, vec![("a\"b".to_string(), "\r\n--xy".to_string()), ("empty".to_string(), String::new())]);
    assert!(
        multipart::parse(b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "xyz").is_none()
    );
    assert!(multipart::parse(b"no delimiter at all", "xyz").is_none());
}

#[test]
fn json_styles() {
    let v = serde_json::json!({ "s": "x\"\\\n\t\u{1}é中", "a": [null, 1, true], "o": {} });
    assert_eq!(v.to_string(), r#"{"s":"x\"\\\n\t\u0001é中","a":[null,1,true],"o":{}}"#);
    assert_eq!(json::python(&v), r#"{"s": "x\"\\\n\t\u0001é中", "a": [null, 1, true], "o": {}}"#);
    let ranges = events::char_ranges("a中b", 2);
    assert_eq!(ranges, vec![0..4, 4..5]);
}

/// serde_json escapes exactly what Python's `json.dumps(ensure_ascii=False)` escapes, which
/// upstream's `original_stream` was written with: every ASCII character and a few others.
#[test]
fn json_escaping_is_pythons() {
    fn python_escape(c: char) -> String {
        match c {
            '"' => "\\\"".into(),
            '\\' => "\\\\".into(),
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            '\u{8}' => "\\b".into(),
            '\u{c}' => "\\f".into(),
            c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        }
    }
    let others = ['\u{80}', 'é', '\u{2028}', '\u{2029}', '中', '\u{feff}', '😀'];
    for c in (0u8..0x80).map(char::from).chain(others) {
        let want = format!("\"{}\"", python_escape(c));
        let value = serde_json::json!(c.to_string());
        assert_eq!(json::python(&value), want, "U+{:04X}", c as u32);
        assert_eq!(value.to_string(), want, "U+{:04X}", c as u32);
    }
}

#[test]
fn handles_are_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Emulator>();
    shareable::<Config>();
    shareable::<Recorded>();
}
