//! PNG rasters of heat-map cells (one pixel per cell, scaled by whole pixels), for grids
//! too large for one SVG rect per cell.

/// The cells `colours[ix · ny + iy]` as an RGB PNG: x to the right, y upwards (the first
/// y value at the bottom row), each cell `sx × sy` pixels.
pub(crate) fn cells_png(
    nx: usize,
    ny: usize,
    colours: &[[u8; 3]],
    (sx, sy): (usize, usize),
) -> Vec<u8> {
    let (w, h) = (nx * sx, ny * sy);
    let mut data = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let iy = ny - 1 - row / sy;
        for col in 0..w {
            data.extend_from_slice(&colours[(col / sx) * ny + iy]);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().expect("a PNG header writes to memory");
        writer
            .write_image_data(&data)
            .expect("PNG data of the declared size writes to memory");
    }
    out
}

/// Most pixels scaling adds (a cell of a huge grid stays one pixel).
const MAX_PIXELS: usize = 4_000_000;

/// Pixels a cell takes on each axis: as many whole pixels as make the axis about 400 px
/// (at most 64), then fewer on the more scaled axis while the raster holds more than
/// [`MAX_PIXELS`], so that a long thin grid (300 000 × 1) stays a few megabytes rather than
/// 64 × 64 pixels a cell.
pub(crate) fn upscale(nx: usize, ny: usize) -> (usize, usize) {
    let side = |n: usize| (400 / n.max(1)).clamp(1, 64);
    let (mut sx, mut sy) = (side(nx), side(ny));
    while nx * sx * ny * sy > MAX_PIXELS && (sx > 1 || sy > 1) {
        if sx >= sy {
            sx = (MAX_PIXELS / (nx * ny * sy)).clamp(1, sx - 1);
        } else {
            sy = (MAX_PIXELS / (nx * ny * sx)).clamp(1, sy - 1);
        }
    }
    (sx, sy)
}

#[cfg(test)]
mod tests {
    use super::upscale;

    /// Small grids reach ~400 px a side; a long thin one stays within four megapixels;
    /// a huge one stays a pixel a cell.
    #[test]
    fn rasters_are_scaled_per_axis_within_four_megapixels() {
        assert_eq!(upscale(20, 20), (20, 20));
        assert_eq!(upscale(3, 300), (64, 1));
        assert_eq!(upscale(1000, 1000), (1, 1));
        assert_eq!(upscale(20_000, 1), (1, 64));
        assert_eq!(upscale(300_000, 1), (1, 13));
        assert_eq!(upscale(1, 1_000_000), (4, 1));
        assert_eq!(upscale(3_000, 3_000), (1, 1));
    }
}
