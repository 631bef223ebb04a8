//! The SMS slider puzzle solver: finds where the piece fits in the background by image
//! matching.
//!
//! The background shows the piece's hole: a veiled area with a drawn outline, so the
//! background's edges are strongest along the piece's outline at the answer. For each x the
//! solver adds up the background's edge strength (Sobel on luma) along the piece's outline
//! placed there, and takes the best x.

use std::io::Cursor;

use crate::error::{Error, Result};

/// Larger images are refused before their pixels are decoded (bounds memory and time).
const MAX_SIDE: u32 = 2000;

/// The x offset (pixels from the left edge of `background_png`) of the piece's left edge.
pub fn solve(background_png: &[u8], piece_png: &[u8]) -> Result<u32> {
    let what = "the slider puzzle";
    let background = decode(background_png, &format!("{what} background"))?;
    let piece = decode(piece_png, &format!("{what} piece"))?;
    if piece.width > background.width || piece.height > background.height {
        return Err(Error::protocol(format!(
            "{what}: the piece ({}×{}) is larger than the background ({}×{})",
            piece.width, piece.height, background.width, background.height
        )));
    }
    let opaque = |x: usize, y: usize| piece.rgba[(y * piece.width + x) * 4 + 3] >= 128;
    // The outline: opaque pixels next to a transparent one or the image's edge.
    let mut outline = Vec::new();
    for y in 0..piece.height {
        for x in 0..piece.width {
            let edge = x == 0 || y == 0 || x + 1 == piece.width || y + 1 == piece.height;
            if opaque(x, y)
                && (edge || !opaque(x - 1, y) || !opaque(x + 1, y) || !opaque(x, y - 1) || !opaque(x, y + 1))
            {
                outline.push((x, y));
            }
        }
    }
    if outline.is_empty() {
        return Err(Error::protocol(format!("{what}: the piece has no opaque pixels")));
    }
    let edges = sobel(&background);
    let score =
        |shift: usize| -> u64 { outline.iter().map(|&(x, y)| edges[y * background.width + x + shift] as u64).sum() };
    let best =
        (0..=background.width - piece.width).max_by_key(|&shift| (score(shift), std::cmp::Reverse(shift))).unwrap_or(0);
    Ok(best as u32)
}

/// Gradient magnitude (|gx| + |gy| of the Sobel operator on luma); 0 on the image's border.
fn sobel(image: &Image) -> Vec<u32> {
    let (w, h) = (image.width, image.height);
    let luma: Vec<i32> = (0..w * h).map(|i| image.luma(i) as i32).collect();
    let mut out = vec![0u32; w * h];
    for y in 1..h.saturating_sub(1) {
        let (up, mid, down) = (&luma[(y - 1) * w..], &luma[y * w..], &luma[(y + 1) * w..]);
        for x in 1..w - 1 {
            let gx = up[x + 1] + 2 * mid[x + 1] + down[x + 1] - up[x - 1] - 2 * mid[x - 1] - down[x - 1];
            let gy = down[x - 1] + 2 * down[x] + down[x + 1] - up[x - 1] - 2 * up[x] - up[x + 1];
            out[y * w + x] = gx.unsigned_abs() + gy.unsigned_abs();
        }
    }
    out
}

/// A decoded image, 8-bit RGBA.
pub(crate) struct Image {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl Image {
    /// Luma of pixel `i` (BT.601 weights), composited over white by its alpha.
    pub fn luma(&self, i: usize) -> u8 {
        let p = &self.rgba[i * 4..i * 4 + 4];
        let y = (299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32) / 1000;
        ((y * p[3] as u32 + 255 * (255 - p[3] as u32)) / 255) as u8
    }
}

/// Decodes any PNG (gray, RGB, palette, with or without alpha, 1 to 16 bits) to 8-bit RGBA.
/// `what` names the image in errors. Images over 2000 px on a side are refused from the
/// header.
pub(crate) fn decode(bytes: &[u8], what: &str) -> Result<Image> {
    let bad = |e: &dyn std::fmt::Display| Error::protocol(format!("{what}: not a usable PNG ({e})"));
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let (width, height) = decoder.read_header_info().map_err(|e| bad(&e))?.size();
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::protocol(format!(
            "{what}: a {width}×{height} image (expected 1 to {MAX_SIDE} px on a side)"
        )));
    }
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let size = reader.output_buffer_size().ok_or_else(|| bad(&"too large"))?;
    let mut buffer = vec![0u8; size];
    let frame = reader.next_frame(&mut buffer).map_err(|e| bad(&e))?;
    let (w, h, line) = (frame.width as usize, frame.height as usize, frame.line_size);
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad(&"palette not expanded")),
    };
    if frame.bit_depth != png::BitDepth::Eight || w == 0 || h == 0 || line < w * channels || buffer.len() < line * h {
        return Err(bad(&"unexpected pixel layout"));
    }
    let mut rgba = Vec::with_capacity(w * h * 4);
    for row in buffer.chunks(line).take(h) {
        for p in row[..w * channels].chunks(channels) {
            rgba.extend_from_slice(&match p {
                [g] => [*g, *g, *g, 255],
                [g, a] => [*g, *g, *g, *a],
                [r, g, b] => [*r, *g, *b, 255],
                [r, g, b, a] => [*r, *g, *b, *a],
                _ => unreachable!("chunks of 1 to 4"),
            });
        }
    }
    Ok(Image { width: w, height: h, rgba })
}

#[cfg(all(test, feature = "emulator"))]
mod tests {
    use super::*;
    use crate::emulator::puzzle::{generate, Puzzle};
    use crate::emulator::qrimage::encode;
    use std::time::Instant;

    /// How many of `puzzles` are solved within the emulator's ±4.
    fn successes(puzzles: &[Puzzle]) -> usize {
        puzzles
            .iter()
            .filter(|p| {
                let x = solve(&p.background_png, &p.piece_png).unwrap();
                let ok = x.abs_diff(p.x) <= 4;
                if !ok {
                    eprintln!("puzzle at ({}, {}): solved {x}", p.x, p.y);
                }
                ok
            })
            .count()
    }

    #[test]
    fn solves_emulator_puzzles() {
        let trials: u64 = std::env::var("USTB_PUZZLE_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
        let started = Instant::now();
        let puzzles: Vec<_> = (1000..1000 + trials).map(generate).collect();
        let generated = started.elapsed();
        let ok = successes(&puzzles);
        let solving = started.elapsed() - generated;
        let rate = ok as f64 / trials as f64;
        eprintln!(
            "slider puzzle: {ok}/{trials} solved ({:.1}%); per puzzle {:.2?} to solve, {:.2?} to generate",
            rate * 100.0,
            solving / trials.max(1) as u32,
            generated / trials.max(1) as u32
        );
        assert!(rate >= 0.97, "success rate {rate}");
    }

    /// The background re-saved as RGBA and as grayscale (what a proxy or a re-encoder might do).
    #[test]
    fn solves_rgba_and_grayscale_backgrounds() {
        for seed in 0..20 {
            let p = generate(seed);
            let image = decode(&p.background_png, "test").unwrap();
            let (w, h) = (image.width as u32, image.height as u32);
            let gray: Vec<u8> = (0..image.width * image.height).map(|i| image.luma(i)).collect();
            for png in [encode(w, h, png::ColorType::Rgba, &image.rgba), encode(w, h, png::ColorType::Grayscale, &gray)]
            {
                let x = solve(&png, &p.piece_png).unwrap();
                assert!(x.abs_diff(p.x) <= 4, "seed {seed}: {x} vs {}", p.x);
            }
        }
    }

    #[test]
    fn clear_errors_for_bad_images() {
        let p = generate(3);
        let message = |bg: &[u8], piece: &[u8]| {
            let e = solve(bg, piece).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Protocol);
            assert!(e.message.contains("the slider puzzle"), "{}", e.message);
            e.message
        };
        assert!(message(b"", &p.piece_png).contains("background"));
        assert!(message(&p.background_png, b"GIF89a").contains("piece"));
        let clear = encode(47, 155, png::ColorType::Rgba, &[0; 47 * 155 * 4]);
        assert!(message(&p.background_png, &clear).contains("no opaque"));
        assert!(message(&p.piece_png, &p.background_png).contains("larger"));
        let huge = with_size(&p.background_png, 100_000, 155);
        assert!(message(&huge, &p.piece_png).contains("100000×155"));
        assert!(message(&with_size(&p.background_png, 0, 0), &p.piece_png).contains("PNG"));
    }

    /// `png` with its header's size replaced (and the header checksum fixed).
    fn with_size(png: &[u8], width: u32, height: u32) -> Vec<u8> {
        let mut out = png.to_vec();
        out[16..20].copy_from_slice(&width.to_be_bytes());
        out[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |mut c, &b| {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
            c
        })
    }

    #[test]
    fn random_and_truncated_input_gives_errors_not_panics() {
        let p = generate(5);
        let mut state = 0x1234_5678_9abc_def0u64;
        for i in 0..300 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let cut = (state >> 33) as usize % p.background_png.len();
            let mut bg = p.background_png[..cut].to_vec();
            if i % 2 == 0 && cut > 0 {
                bg[(state >> 13) as usize % cut] ^= 1 << (state % 8); // a flipped bit
                bg.extend_from_slice(&p.background_png[cut..]);
            }
            let _ = solve(&bg, &p.piece_png);
            let _ = solve(&p.background_png, &bg);
            let noise: Vec<u8> = (0..cut % 200).map(|j| (state >> (j % 56)) as u8).collect();
            assert!(solve(&noise, &noise).is_err());
        }
    }
}
