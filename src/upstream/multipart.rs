//! `multipart/form-data` bodies exactly as the upstream web page sends them: parts carry only
//! `Content-Disposition: form-data; name="…"`, CRLF line ends, a closing `--boundary--`.

/// An encoded body and the `Content-Type` header value that goes with it.
#[derive(Default)]
pub struct Multipart {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Encodes `fields` in order. The boundary is random and re-drawn in the (astronomically
/// unlikely) case that a value contains it.
pub fn encode(fields: &[(&str, &str)]) -> Multipart {
    loop {
        let boundary = format!("----ustbopenai{}", crate::util::random_hex(24));
        if fields.iter().any(|(k, v)| k.contains(&boundary) || v.contains(&boundary)) {
            continue;
        }
        let mut body = Vec::with_capacity(fields.iter().map(|(k, v)| k.len() + v.len() + 100).sum());
        for (name, value) in fields {
            body.extend_from_slice(b"--");
            body.extend_from_slice(boundary.as_bytes());
            body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(escape_name(name).as_bytes());
            body.extend_from_slice(b"\"\r\n\r\n");
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"--\r\n");
        return Multipart { content_type: format!("multipart/form-data; boundary={boundary}"), body };
    }
}

/// Field names are ours (`history[0][role]` and the like), but quote-escape them anyway as
/// browsers do, so a name can never break the header.
fn escape_name(name: &str) -> String {
    name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_exact() {
        let m = encode(&[("content", "你好"), ("history[0][role]", "user")]);
        let boundary = m.content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let expected = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n你好\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"history[0][role]\"\r\n\r\nuser\r\n--{b}--\r\n",
            b = boundary
        );
        assert_eq!(String::from_utf8(m.body).unwrap(), expected);
    }

    #[test]
    fn boundaries_differ_and_values_may_hold_dashes_and_crlf() {
        let a = encode(&[("content", "--\r\n--x")]);
        let b = encode(&[("content", "--\r\n--x")]);
        assert_ne!(a.content_type, b.content_type);
        assert!(String::from_utf8(a.body).unwrap().contains("\r\n\r\n--\r\n--x\r\n"));
    }
}
