//! multipart/form-data bodies as upstream receives them: CRLF line ends, parts with a
//! Content-Disposition name, a closing `--boundary--`.

/// The boundary, if `content_type` is multipart/form-data.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    for p in parts {
        if let Some((k, v)) = p.trim().split_once('=') {
            if k.trim().eq_ignore_ascii_case("boundary") {
                let v = v.trim();
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                return (!v.is_empty() && v.len() <= 200).then(|| v.to_string());
            }
        }
    }
    None
}

/// The fields in order, or `None` if the body is not well-formed multipart.
pub(crate) fn parse(body: &[u8], boundary: &str) -> Option<Vec<(String, String)>> {
    let delim = format!("--{boundary}").into_bytes();
    let mut sep = b"\r\n".to_vec();
    sep.extend_from_slice(&delim);

    // The first delimiter opens the body or follows a preamble line.
    let mut pos = if body.starts_with(&delim) { delim.len() } else { find(body, &sep, 0)? + sep.len() };
    let mut fields = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Some(fields);
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        pos += 2;
        let (headers, data_start) = if body[pos..].starts_with(b"\r\n") {
            (&body[pos..pos], pos + 2)
        } else {
            let end = find(body, b"\r\n\r\n", pos)?;
            (&body[pos..end], end + 4)
        };
        let data_end = find(body, &sep, data_start)?;
        let name = std::str::from_utf8(headers).ok().and_then(disposition_name);
        if let Some(name) = name {
            fields.push((name, String::from_utf8_lossy(&body[data_start..data_end]).into_owned()));
        }
        pos = data_end + sep.len();
    }
}

/// `name` from `Content-Disposition: form-data; name="…"`.
fn disposition_name(headers: &str) -> Option<String> {
    let line = headers.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-disposition").then_some(v)
    })?;
    let mut rest = line.split_once(';')?.1;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return None;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        let (value, after) = param_value(&rest[eq + 1..])?;
        if key == "name" {
            return Some(value);
        }
        rest = after;
    }
}

/// A quoted string (with backslash escapes) or a token; returns it and the text after it.
fn param_value(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(q) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?.1),
                '"' => return Some((out, &q[i + 1..])),
                c => out.push(c),
            }
        }
        None
    } else {
        let end = s.find(';').unwrap_or(s.len());
        Some((s[..end].trim().to_string(), &s[end..]))
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        match hay[i..hay.len() - needle.len() + 1].iter().position(|&b| b == first) {
            Some(off) => i += off,
            None => return None,
        }
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}
