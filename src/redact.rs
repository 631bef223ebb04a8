//! The forms a secret (a cookie value) takes in text a server sends back: as is, JSON-escaped
//! (with `\/`, or ASCII-only `\uXXXX`), percent-encoded, base64 (at any alignment inside a
//! longer base64 text). Errors and the doctor replace each form with `<redacted>`; captures
//! mask each, keeping its length (`mask_pairs` in `src/upstream/record/mod.rs`).

use base64::Engine;

/// Shorter secrets are left alone: they would match ordinary words.
pub const MIN_SECRET: usize = 4;
/// A base64 piece shorter than this could be anything.
const MIN_BASE64: usize = 8;
pub const REDACTED: &str = "<redacted>";

/// How a form is written, so a capture can mask it without breaking its escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    /// JSON or Rust string escapes (`\"`, `\/`, `\u5f20`).
    Escaped,
    /// `%XX` sequences.
    Percent,
}

/// Every form of `secret`, longest first, without repeats.
pub fn forms(secret: &str) -> Vec<(String, Kind)> {
    let mut out = vec![(secret.to_string(), Kind::Plain)];
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json[1..json.len().max(2) - 1].to_string();
    let ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.encode_utf16(&mut [0; 2]).iter().map(|u| format!("\\u{u:04x}")).collect()
            }
        })
        .collect();
    let debug = format!("{secret:?}");
    let debug = debug[1..debug.len() - 1].to_string();
    for escaped in [json.clone(), json.replace('/', "\\/"), ascii.clone(), ascii.replace('/', "\\/"), debug] {
        out.push((escaped, Kind::Escaped));
    }
    let upper = crate::util::url_encode(secret);
    // encodeURIComponent leaves these as they are.
    let mut component = upper.clone();
    for c in ['!', '\'', '(', ')', '*'] {
        component = component.replace(&format!("%{:02X}", c as u8), &c.to_string());
    }
    let lower = percent_lower(&upper);
    for p in [upper, lower, component] {
        out.push((p, Kind::Percent));
    }
    for engine in [&base64::engine::general_purpose::STANDARD_NO_PAD, &base64::engine::general_purpose::URL_SAFE_NO_PAD]
    {
        for align in 0..3 {
            let piece = base64_piece(engine, secret.as_bytes(), align);
            if piece.len() >= MIN_BASE64 {
                out.push((piece, Kind::Plain));
            }
        }
    }
    // Messages quote server text Debug-escaped (`excerpt`): each form as it looks there too.
    let quoted: Vec<(String, Kind)> =
        out.iter().map(|(f, _)| format!("{f:?}")).map(|q| (q[1..q.len() - 1].to_string(), Kind::Escaped)).collect();
    out.extend(quoted);
    out.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|(f, _)| f.len() >= MIN_SECRET && seen.insert(f.clone()));
    out
}

/// `%2f` for `%2F`, the rest unchanged.
fn percent_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hex = 0u8;
    for c in s.chars() {
        out.push(if hex > 0 { c.to_ascii_lowercase() } else { c });
        hex = if c == '%' { 2 } else { hex.saturating_sub(1) };
    }
    out
}

/// The base64 characters that depend only on `bytes` when `align` bytes precede them.
fn base64_piece(engine: &impl Engine, bytes: &[u8], align: usize) -> String {
    let mut padded = vec![0u8; align];
    padded.extend_from_slice(bytes);
    let text = engine.encode(&padded);
    let (first_bit, end_bit) = (8 * align, 8 * (align + bytes.len()));
    // Character i holds bits 6i..6i+6.
    let first = first_bit.div_ceil(6);
    let end = end_bit / 6;
    text.get(first..end.max(first)).unwrap_or("").to_string()
}

/// `text` with every form of each secret (of `MIN_SECRET` bytes or more) replaced by
/// `<redacted>`, and a form's start left right before a "…" where an excerpt was cut.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET) {
        for (form, _) in forms(secret) {
            if out.contains(&form) {
                out = out.replace(&form, REDACTED);
            }
            out = redact_cut(&out, &form);
        }
    }
    out
}

/// `excerpt` cuts at 120 characters and adds "…": the longest start of `form` (of
/// `MIN_SECRET` bytes or more) right before a "…" (or `"…`) is replaced.
fn redact_cut(text: &str, form: &str) -> String {
    let mut out = text.to_string();
    for cut in ["\"…", "…"] {
        let mut from = 0;
        while let Some(i) = out[from..].find(cut).map(|i| from + i) {
            let before = &out[..i];
            let last = before.as_bytes().last().copied();
            // The last byte first: the full comparison runs for few `k`.
            let k = (MIN_SECRET..form.len().min(before.len() + 1))
                .rev()
                .find(|&k| {
                    Some(form.as_bytes()[k - 1]) == last && form.is_char_boundary(k) && before.ends_with(&form[..k])
                })
                .unwrap_or(0);
            if k > 0 {
                out.replace_range(i - k..i, REDACTED);
                from = i - k + REDACTED.len() + cut.len();
            } else {
                from = i + cut.len();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_cookie_is_redacted() {
        let secret = "Ab/cD+ef\"9=Kq!x";
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("name={secret};"));
        let texts = [
            format!("echo {secret}"),
            format!("{{\"c\":{}}}", serde_json::to_string(secret).unwrap().replace('/', "\\/")),
            format!("q={}&x", crate::util::url_encode(secret)),
            format!("q={}&x", percent_lower(&crate::util::url_encode(secret))),
            format!("b64 {b64} end"),
            format!("{:?}", format!("x{secret}")),
        ];
        for text in &texts {
            let out = redact_text(text, &[secret]);
            assert!(out.contains(REDACTED), "{text} -> {out}");
            for piece in ["cD", "Kq"] {
                assert!(!out.contains(piece), "{text} -> {out}");
            }
        }
        // Non-ASCII, escaped as \uXXXX by an ASCII-only encoder.
        let out = redact_text("{\"n\":\"\\u5f20\\u5927\\u660e\"}", &["张大明"]);
        assert_eq!(out, "{\"n\":\"<redacted>\"}");
        // Short values are left alone.
        assert_eq!(redact_text("ab cd", &["ab"]), "ab cd");
    }

    #[test]
    fn cut_forms_are_redacted() {
        let out = redact_text("x=\"Sekret\\\"Va\"…", &["Sekret\"Value-42abc"]);
        assert_eq!(out, "x=\"<redacted>\"…");
        let out = redact_text("a=Sekre… b=Sekr…", &["Sekret\"Value-42abc"]);
        assert_eq!(out, "a=<redacted>… b=<redacted>…");
    }

    #[test]
    fn base64_pieces_are_those_inside_any_text() {
        let secret = b"0123456789";
        for prefix in ["", "a", "ab", "abc"] {
            let mut text = prefix.as_bytes().to_vec();
            text.extend_from_slice(secret);
            text.extend_from_slice(b"zz");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&text);
            let piece = base64_piece(&base64::engine::general_purpose::STANDARD_NO_PAD, secret, prefix.len() % 3);
            assert!(piece.len() >= 12 && encoded.contains(&piece), "{prefix:?}: {piece} in {encoded}");
        }
    }
}
