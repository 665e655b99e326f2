//! PNG rasters of heat-map cells (one pixel per cell, scaled by whole pixels), for grids
//! too large for one SVG rect per cell.

/// The cells `colours[ix · ny + iy]` as an RGB PNG: x to the right, y upwards (the first
/// y value at the bottom row), each cell `scale × scale` pixels.
pub(crate) fn cells_png(nx: usize, ny: usize, colours: &[[u8; 3]], scale: usize) -> Vec<u8> {
    let (w, h) = (nx * scale, ny * scale);
    let mut data = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let iy = ny - 1 - row / scale;
        for col in 0..w {
            data.extend_from_slice(&colours[(col / scale) * ny + iy]);
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

/// A scale that makes a raster at least about 400 pixels on its shorter side.
pub(crate) fn upscale(nx: usize, ny: usize) -> usize {
    (400 / nx.min(ny).max(1)).clamp(1, 64)
}
