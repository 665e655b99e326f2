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

/// Pixels a cell takes on each axis: as many whole pixels as make the raster about 400
/// pixels on its shorter side (at most 64), fewer where the raster would hold more than
/// [`MAX_PIXELS`], so that a long thin grid (300 000 × 1) stays a few megabytes rather than
/// 64 × 64 pixels a cell. Cells stay square.
pub(crate) fn upscale(nx: usize, ny: usize) -> (usize, usize) {
    let cells = nx.max(1).saturating_mul(ny.max(1));
    let k = (400 / nx.min(ny).max(1))
        .clamp(1, 64)
        .min((MAX_PIXELS / cells).isqrt())
        .max(1);
    (k, k)
}

#[cfg(test)]
mod tests {
    use super::upscale;

    /// Small grids reach ~400 px on the shorter side; a long thin one stays within four
    /// megapixels; a huge one stays a pixel a cell.
    #[test]
    fn rasters_stay_within_four_megapixels() {
        assert_eq!(upscale(20, 20), (20, 20));
        assert_eq!(upscale(15, 13), (30, 30));
        assert_eq!(upscale(3, 300), (64, 64));
        assert_eq!(upscale(1000, 1000), (1, 1));
        assert_eq!(upscale(20_000, 1), (14, 14));
        assert_eq!(upscale(300_000, 1), (3, 3));
        assert_eq!(upscale(1, 1_000_000), (2, 2));
        assert_eq!(upscale(3_000, 3_000), (1, 1));
    }
}
