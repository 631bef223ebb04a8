//! The SMS slider puzzle solver: finds where the piece fits in the background by image
//! matching.

use crate::error::Result;

/// The x offset (pixels from the left edge of `background_png`) of the piece's left edge.
pub fn solve(background_png: &[u8], piece_png: &[u8]) -> Result<u32> {
    let _ = (background_png, piece_png);
    Err(crate::error::Error::protocol("puzzle solver not written yet"))
}
