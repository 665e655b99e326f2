//! Figures of a result folder as files: a small SVG writer (deterministic bytes, invertible
//! marks), line charts, heat maps, PNG rasters and the self-contained `index.html`.
//!
//! This module draws what it is given; `figures` (above `report`) reads a result folder and decides
//! what to draw.

pub(crate) mod heat;
pub(crate) mod html;
pub(crate) mod lines;
pub(crate) mod png;
pub(crate) mod svg;
pub(crate) mod table;

pub use svg::ScaleKind;

/// One figure ready to be written: `plots/<name>.svg` (or `.png`).
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name without extension.
    pub name: String,
    /// A one-line caption.
    pub caption: String,
    /// The SVG text.
    pub svg: String,
    /// A raster of the same figure's cells (heat maps, on request).
    pub png: Option<Vec<u8>>,
}
