//! Unit tests of the parsers and serializers.

use super::*;

#[test]
fn multipart_parser() {
    assert_eq!(
        multipart::boundary("multipart/form-data; boundary=\"a b\""),
        Some("a b".into())
    );
    assert_eq!(
        multipart::boundary("Multipart/Form-Data;charset=utf-8; boundary=xyz"),
        Some("xyz".into())
    );
    assert_eq!(multipart::boundary("application/json"), None);
    let body = b"preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n\r\n--xy\r\n--xyz\r\ncontent-disposition: form-data; filename=\"f;x\"; name=empty\r\n\r\n\r\n--xyz--\r\n";
    let fields = multipart::parse(body, "xyz").unwrap();
    assert_eq!(
        fields,
        vec![
            ("a\"b".to_string(), "\r\n--xy".to_string()),
            ("empty".to_string(), String::new())
        ]
    );
    assert!(multipart::parse(
        b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
        "xyz"
    )
    .is_none());
    assert!(multipart::parse(b"no delimiter at all", "xyz").is_none());
}

#[test]
fn json_styles() {
    let v = json::obj! { "a" => "x\"\\\n\t\u{1}é中", "b" => json::J::Arr(vec![json::J::Null, 1.into(), true.into()]), "c" => json::obj! {} };
    assert_eq!(
        v.compact(),
        r#"{"a":"x\"\\\n\t\u0001é中","b":[null,1,true],"c":{}}"#
    );
    assert_eq!(
        v.python(),
        r#"{"a": "x\"\\\n\t\u0001é中", "b": [null, 1, true], "c": {}}"#
    );
    let ranges = events::char_ranges("a中b", 2);
    assert_eq!(ranges, vec![0..4, 4..5]);
    for s in ["plain", "\u{7f}\u{8}\u{c}\r", "\u{2028}"] {
        let mut mine = String::new();
        json::escape_into(&mut mine, s);
        assert_eq!(mine, serde_json::to_string(s).unwrap());
    }
}

#[test]
fn handles_are_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Emulator>();
    shareable::<Config>();
    shareable::<Recorded>();
}
