//! The fake SSO's slider puzzle: a generated background with a piece-shaped hole, and the piece.

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
    let _ = seed;
    Puzzle { background_png: Vec::new(), piece_png: Vec::new(), x: 0, y: 0 }
}
