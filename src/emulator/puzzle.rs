//! The fake SSO's slider puzzle: a generated background with a piece-shaped hole, and the piece.
//!
//! Shaped like AJ-Captcha's block puzzle (what the real SSO serves): a 310×155 picture, and
//! a jigsaw piece image as tall as the picture with the piece at its own row, transparent
//! elsewhere. The picture is made of gradients, waves, shapes and noise, so that edges are
//! everywhere and a solver has to match the piece's outline, as with a photo.

#![allow(dead_code)] // until the emulator's SSO endpoints use it

use super::qrimage::encode;

/// Background size (AJ-Captcha's).
pub const WIDTH: usize = 310;
pub const HEIGHT: usize = 155;
/// The piece's bounding square.
const PIECE: usize = 47;

/// One puzzle and its answer.
pub struct Puzzle {
    /// RGB PNG, 310×155.
    pub background_png: Vec<u8>,
    /// RGBA PNG as tall as the background: the piece at its own `y`, transparent elsewhere.
    pub piece_png: Vec<u8>,
    /// Left edge of the hole in the background.
    pub x: u32,
    /// Top edge of the piece.
    pub y: u32,
}

/// A puzzle made from `seed` (same seed, same puzzle).
pub fn generate(seed: u64) -> Puzzle {
    let mut rng = Rng(seed);
    let mut picture = background(&mut rng);
    let mask = piece_mask(&mut rng);
    let x = 60 + rng.below(191); // 60..=250
    let y = 5 + rng.below(96); // 5..=100
    let mut piece = vec![0u8; PIECE * HEIGHT * 4];
    for (py, row) in mask.iter().enumerate() {
        for (px, &cell) in row.iter().enumerate() {
            if cell == Cell::Outside {
                continue;
            }
            let at = ((y + py) * WIDTH + x + px) * 3;
            let hole = &mut picture[at..at + 3];
            let out = &mut piece[((y + py) * PIECE + px) * 4..][..4];
            for c in 0..3 {
                let v = hole[c] as u32;
                // The piece keeps the picture (lightened at its border); the hole gets a dark
                // veil and a light outline, as real captchas draw them.
                (out[c], hole[c]) = match cell {
                    Cell::Border => (((v + 255) / 2) as u8, ((v + 3 * 230) / 4) as u8),
                    _ => (v as u8, (v * 2 / 5) as u8),
                };
            }
            out[3] = 255;
        }
    }
    Puzzle {
        background_png: encode(WIDTH as u32, HEIGHT as u32, png::ColorType::Rgb, &picture),
        piece_png: encode(PIECE as u32, HEIGHT as u32, png::ColorType::Rgba, &piece),
        x: x as u32,
        y: y as u32,
    }
}

/// The picture as RGB bytes.
fn background(rng: &mut Rng) -> Vec<u8> {
    let color = |rng: &mut Rng| [0; 3].map(|_| 40.0 + rng.below(180) as f32);
    let (from, to) = (color(rng), color(rng));
    let angle = rng.unit() * std::f32::consts::TAU;
    let (dx, dy) = (angle.cos(), angle.sin());
    let waves = [0; 3].map(|_| (rng.unit() * 0.08, rng.unit() * 0.08, rng.unit() * 6.3));
    let mut out = vec![0u8; WIDTH * HEIGHT * 3];
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let t = ((x as f32 - 155.0) * dx + (y as f32 - 77.0) * dy) / 350.0 + 0.5;
            for c in 0..3 {
                let (fx, fy, phase) = waves[c];
                let wave = 25.0 * (x as f32 * fx + y as f32 * fy + phase).sin();
                let v = from[c] + (to[c] - from[c]) * t + wave;
                out[(y * WIDTH + x) * 3 + c] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    for _ in 0..6 + rng.below(6) {
        let fill = color(rng);
        shape(rng, &mut out, fill);
    }
    for v in out.iter_mut() {
        *v = (*v as i32 + rng.below(25) as i32 - 12).clamp(0, 255) as u8;
    }
    out
}

/// A random circle or rectangle, 70% opaque.
fn shape(rng: &mut Rng, out: &mut [u8], color: [f32; 3]) {
    let (cx, cy) = (rng.below(WIDTH) as f32, rng.below(HEIGHT) as f32);
    let (rx, ry) = (8.0 + rng.below(50) as f32, 8.0 + rng.below(40) as f32);
    let round = rng.below(2) == 0;
    let (x0, x1) = ((cx - rx).max(0.0) as usize, ((cx + rx) as usize + 1).min(WIDTH));
    let (y0, y1) = ((cy - ry).max(0.0) as usize, ((cy + ry) as usize + 1).min(HEIGHT));
    for y in y0..y1 {
        for x in x0..x1 {
            let (u, v) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
            let inside = if round { u * u + v * v <= 1.0 } else { u.abs() <= 1.0 && v.abs() <= 1.0 };
            if inside {
                for c in 0..3 {
                    let p = &mut out[(y * WIDTH + x) * 3 + c];
                    *p = (*p as f32 * 0.3 + color[c] * 0.7) as u8;
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Cell {
    Outside,
    Inside,
    Border,
}

/// A 47×47 jigsaw piece: a 38 px square with a round knob on its top, its right side, or both
/// (never the left, so the piece's left edge is the square's).
fn piece_mask(rng: &mut Rng) -> Vec<Vec<Cell>> {
    let (top, side) = (9.0, 38.0);
    let knobs = match rng.below(3) {
        0 => [(19.0, top); 2],
        1 => [(side, top + 19.0); 2],
        _ => [(19.0, top), (side, top + 19.0)],
    };
    let inside = |x: usize, y: usize| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let in_square = fx < side && fy >= top && fy < top + side;
        let in_knob = |(kx, ky): (f32, f32)| (fx - kx).powi(2) + (fy - ky).powi(2) <= 64.0;
        in_square || knobs.iter().any(|&k| in_knob(k))
    };
    (0..PIECE)
        .map(|y| {
            (0..PIECE)
                .map(|x| {
                    let edge = x == 0 || y == 0 || !inside(x - 1, y) || !inside(x, y - 1);
                    match inside(x, y) {
                        false => Cell::Outside,
                        true if edge || !inside(x + 1, y) || !inside(x, y + 1) => Cell::Border,
                        true => Cell::Inside,
                    }
                })
                .collect()
        })
        .collect()
}

/// splitmix64: a tiny deterministic generator (no crate; every seed is fine).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::puzzle::decode;

    #[test]
    fn same_seed_same_puzzle_and_answers_in_range() {
        for seed in 0..40 {
            let (a, b) = (generate(seed), generate(seed));
            assert_eq!((a.x, a.y), (b.x, b.y));
            assert!(a.background_png == b.background_png && a.piece_png == b.piece_png);
            assert!((60..=250).contains(&a.x) && (5..=100).contains(&a.y), "{} {}", a.x, a.y);
        }
        assert_ne!(generate(1).background_png, generate(2).background_png);
    }

    #[test]
    fn images_have_the_captcha_sizes_and_the_piece_sits_at_y() {
        let p = generate(7);
        let background = decode(&p.background_png, "background").unwrap();
        assert_eq!((background.width, background.height), (WIDTH, HEIGHT));
        let piece = decode(&p.piece_png, "piece").unwrap();
        assert_eq!((piece.width, piece.height), (PIECE, HEIGHT));
        let opaque_rows: Vec<usize> =
            (0..HEIGHT).filter(|&y| (0..PIECE).any(|x| piece.rgba[(y * PIECE + x) * 4 + 3] == 255)).collect();
        assert!(opaque_rows.len() >= 38 && opaque_rows.len() <= PIECE, "{opaque_rows:?}");
        assert!(opaque_rows[0] >= p.y as usize && opaque_rows[0] <= p.y as usize + 9);
        // The left column of the piece is opaque: x is the piece's left edge.
        assert!((0..HEIGHT).any(|y| piece.rgba[y * PIECE * 4 + 3] == 255));
    }

    #[test]
    fn the_hole_is_darker_than_the_piece() {
        for seed in 0..20 {
            let p = generate(seed);
            let background = decode(&p.background_png, "background").unwrap();
            let piece = decode(&p.piece_png, "piece").unwrap();
            let (mut hole, mut original, mut count) = (0u64, 0u64, 0u64);
            for y in 0..HEIGHT {
                for x in 0..PIECE {
                    let i = y * PIECE + x;
                    if piece.rgba[i * 4 + 3] == 255 {
                        hole += background.luma(y * WIDTH + x + p.x as usize) as u64;
                        original += piece.luma(i) as u64;
                        count += 1;
                    }
                }
            }
            assert!(count > 1000, "{count}");
            assert!(hole * 10 < original * 6, "seed {seed}: hole {hole} vs piece {original}");
        }
    }
}
