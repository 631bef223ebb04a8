//! The fake SSO's QR image.

#![allow(dead_code)] // until the emulator's SSO endpoints use it

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module: a version 4 code (the emulator's URLs) comes out at about 330 px.
const SCALE: usize = 8;
/// Light modules around the code, as the QR standard asks.
const QUIET: usize = 4;

/// A grayscale PNG of the QR code encoding `text` (error correction M). Empty when the text
/// does not fit in a QR code (over about 2300 bytes), which no emulator URL comes near.
pub fn png(text: &str) -> Vec<u8> {
    let Ok(code) = QrCode::with_error_correction_level(text, EcLevel::M) else {
        return Vec::new();
    };
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Light {
            continue;
        }
        let (left, top) = ((i % modules + QUIET) * SCALE, (i / modules + QUIET) * SCALE);
        for y in top..top + SCALE {
            pixels[y * side + left..y * side + left + SCALE].fill(0);
        }
    }
    encode(side as u32, side as u32, png::ColorType::Grayscale, &pixels)
}

/// `pixels` (8 bits per sample, rows top to bottom) as a PNG file.
pub(crate) fn encode(width: u32, height: u32, color: png::ColorType, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    // Writing to a Vec fails only when `pixels` has the wrong length: a bug in the caller.
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(pixels).expect("PNG pixels match the size");
    writer.finish().expect("PNG end");
    out
}

#[cfg(test)]
mod tests {
    use crate::login::puzzle::decode;

    #[test]
    fn a_grayscale_image_of_the_code_with_a_quiet_zone() {
        let text = "http://127.0.0.1:40000/connect/scan?sid=0123456789abcdefABCDEF0123456789";
        let image = decode(&super::png(text), "qr").unwrap();
        let modules = qrcode::QrCode::new(text).unwrap().width();
        assert_eq!(image.width, (modules + 8) * 8);
        assert!((200..=400).contains(&image.width), "{}", image.width);
        // Top-left quiet zone light, the finder's corner dark.
        assert_eq!(image.luma(0), 255);
        assert_eq!(image.luma(32 * image.width + 32), 0);
        assert!(super::png(&"x".repeat(5000)).is_empty());
    }
}
