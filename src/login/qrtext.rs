//! Renders a QR code PNG as text for a terminal.

use super::puzzle::{decode, Image};
use crate::error::{Error, Result};

const WHAT: &str = "the QR code image";
/// Light modules kept around the code: enough for phone scanners, small on screen.
const QUIET: usize = 2;

/// The QR code in `png` as lines of text (Unicode half blocks), one line per two module rows,
/// each line ending in `\n`, with a 2-module quiet zone and no escape codes.
///
/// Dark modules are drawn as filled blocks (`█`, `▀`, `▄`), light ones as spaces. On a
/// terminal with a dark background the code therefore shows inverted (light on dark); most
/// phone scanners, WeChat's included, read both.
pub fn render(png: &[u8]) -> Result<String> {
    let image = decode(png, WHAT)?;
    let grid = modules(&image)?;
    let side = grid.len() + 2 * QUIET;
    let dark = |row: usize, col: usize| {
        let (r, c) = (row.wrapping_sub(QUIET), col.wrapping_sub(QUIET));
        r < grid.len() && c < grid.len() && grid[r][c]
    };
    let mut out = String::new();
    for row in (0..side).step_by(2) {
        for col in 0..side {
            out.push(match (dark(row, col), dark(row + 1, col)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// The code's modules (true = dark), read at each module's centre. The grid is found from
/// the dark pixels' bounding box and the top-left finder pattern (7 modules wide), and
/// checked by the three finder patterns.
fn modules(image: &Image) -> Result<Vec<Vec<bool>>> {
    let none = |why: &str| Error::protocol(format!("{WHAT}: no QR code found ({why})"));
    let (w, h) = (image.width, image.height);
    let luma: Vec<u8> = (0..w * h).map(|i| image.luma(i)).collect();
    let (lo, hi) = luma.iter().fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
    if hi.saturating_sub(lo) < 64 {
        return Err(none("no dark and light areas"));
    }
    let threshold = (lo as u16 + hi as u16).div_ceil(2) as u8;
    let dark = |x: usize, y: usize| x < w && y < h && luma[y * w + x] < threshold;
    let (mut left, mut top, mut right, mut bottom) = (w, h, 0, 0);
    for y in 0..h {
        for x in (0..w).filter(|&x| dark(x, y)) {
            (left, top, right, bottom) = (left.min(x), top.min(y), right.max(x), bottom.max(y));
        }
    }
    // The top-left finder's top and left sides: dark runs of 7 modules from the box's corner,
    // measured through the middle of its first module row and column.
    let run = |x: usize, y: usize, dx: usize, dy: usize| (0..).take_while(|&i| dark(x + i * dx, y + i * dy)).count();
    let first = run(left, top, 1, 0).min(run(left, top, 0, 1));
    if first == 0 {
        return Err(none("no finder pattern in the top-left corner"));
    }
    let (mid_x, mid_y) = (left + first / 14, top + first / 14);
    let module = (run(left, mid_y, 1, 0) + run(mid_x, top, 0, 1)) as f64 / 14.0;
    let (box_w, box_h) = ((right + 1 - left) as f64, (bottom + 1 - top) as f64);
    let n = (box_w / module).round() as usize;
    if n != (box_h / module).round() as usize || !(21..=177).contains(&n) || (n - 17) % 4 != 0 {
        return Err(none("the dark area is not a QR grid"));
    }
    let (mw, mh) = (box_w / n as f64, box_h / n as f64);
    let grid: Vec<Vec<bool>> = (0..n)
        .map(|r| {
            let y = top + ((r as f64 + 0.5) * mh) as usize;
            (0..n).map(|c| dark(left + ((c as f64 + 0.5) * mw) as usize, y)).collect()
        })
        .collect();
    let finder = |r0: usize, c0: usize| {
        (0..49usize).all(|i| {
            let (r, c) = (i / 7, i % 7);
            let ring = r.abs_diff(3).max(c.abs_diff(3));
            grid[r0 + r][c0 + c] == (ring != 2)
        })
    };
    if !(finder(0, 0) && finder(0, n - 7) && finder(n - 7, 0)) {
        return Err(none("the finder patterns do not match"));
    }
    Ok(grid)
}

#[cfg(all(test, feature = "emulator"))]
mod tests {
    use super::*;
    use crate::emulator::qrimage::{encode, png};

    /// The text back to modules (true = dark), quiet zone removed.
    fn parse(text: &str) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in text.lines() {
            let cells: Vec<char> = line.chars().collect();
            rows.push(cells.iter().map(|c| matches!(c, '█' | '▀')).collect::<Vec<_>>());
            rows.push(cells.iter().map(|c| matches!(c, '█' | '▄')).collect::<Vec<_>>());
        }
        let n = rows[0].len() - 2 * QUIET;
        rows[QUIET..QUIET + n].iter().map(|r| r[QUIET..QUIET + n].to_vec()).collect()
    }

    fn expected(text: &str) -> Vec<Vec<bool>> {
        let code = qrcode::QrCode::new(text).unwrap();
        let colors = code.to_colors();
        colors.chunks(code.width()).map(|r| r.iter().map(|&c| c == qrcode::Color::Dark).collect()).collect()
    }

    fn texts() -> Vec<String> {
        vec![
            "a".into(),
            "http://127.0.0.1:40000/connect/scan?sid=0123456789abcdefABCDEF0123456789".into(),
            "https://sis.ustb.edu.cn/connect/scan?sid=".to_string() + &"Zx9".repeat(40),
            "北京科技大学 统一身份认证".repeat(12),
        ]
    }

    #[test]
    fn renders_the_emulator_image_module_for_module() {
        for text in texts() {
            let out = render(&png(&text)).unwrap();
            assert!(!out.contains('\x1b'));
            let n = expected(&text).len();
            assert_eq!(out.lines().count(), (n + 2 * QUIET).div_ceil(2), "{text}");
            assert!(out.lines().all(|l| l.chars().count() == n + 2 * QUIET));
            assert_eq!(parse(&out), expected(&text), "{text}");
        }
    }

    /// The image scaled by 1.3 (nearest neighbour: modules 10 or 11 px wide), as RGB with
    /// less contrast: still the same modules.
    #[test]
    fn renders_scaled_rgb_images() {
        for text in texts() {
            let image = decode(&png(&text), "test").unwrap();
            let side = image.width * 13 / 10;
            let mut rgb = Vec::with_capacity(side * side * 3);
            for y in 0..side {
                for x in 0..side {
                    let v = image.luma(y * 10 / 13 * image.width + x * 10 / 13).clamp(40, 200);
                    rgb.extend_from_slice(&[v, v, v]);
                }
            }
            let scaled = encode(side as u32, side as u32, png::ColorType::Rgb, &rgb);
            assert_eq!(parse(&render(&scaled).unwrap()), expected(&text), "{text}");
        }
    }

    #[test]
    fn images_without_a_code_are_clear_errors() {
        let white = encode(100, 100, png::ColorType::Grayscale, &[255; 100 * 100]);
        let mut square = [255u8; 100 * 100];
        for y in 20..60 {
            square[y * 100 + 20..y * 100 + 60].fill(0);
        }
        let square = encode(100, 100, png::ColorType::Grayscale, &square);
        let puzzle = crate::emulator::puzzle::generate(1).background_png;
        let qr = png("hello");
        for bad in [&white[..], &square, &puzzle, b"", b"\x89PNG\r\n\x1a\n", &qr[..qr.len() / 2]] {
            let e = render(bad).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Protocol);
            assert!(e.message.contains("the QR code image"), "{}", e.message);
        }
        let mut state = 99u64;
        for cut in (0..qr.len()).step_by(7) {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut bytes = qr.clone();
            bytes[cut] ^= (state >> 40) as u8 | 1;
            let _ = render(&bytes); // may decode (a flipped pixel): only no panic
            assert!(cut + 12 >= qr.len() || render(&qr[..cut]).is_err(), "{cut}");
            // 12: IEND
        }
    }
}
