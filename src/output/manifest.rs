//! `manifest.json`: what produced a result folder and what every CSV column means.

use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::columns::Column;
use crate::error::Error;

/// The facts of one run that the manifest records.
pub struct Manifest {
    /// When the run started.
    pub started: SystemTime,
    /// Wall-clock seconds it took.
    pub wall_seconds: f64,
    /// Worker threads used.
    pub threads: usize,
    /// `"I/N"` for a shard, else None.
    pub shard: Option<String>,
    /// SHA-256 of the resolved `scenario.toml`.
    pub scenario_hash: String,
    /// The grid points run (a shard's slice, or the whole grid).
    pub points: Range<u64>,
    /// Points of the whole grid.
    pub grid_points: u64,
    /// For each CSV written, its columns in order.
    pub files: Vec<(String, Vec<Column>)>,
}

impl Manifest {
    /// The manifest as JSON.
    pub fn to_json(&self) -> Value {
        let columns: serde_json::Map<String, Value> = self
            .files
            .iter()
            .map(|(file, cols)| {
                let list: Vec<Value> = cols
                    .iter()
                    .map(|c| json!({"name": c.name, "meaning": c.meaning, "unit": c.unit}))
                    .collect();
                (file.clone(), Value::Array(list))
            })
            .collect();
        json!({
            "engine": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "started": humantime::format_rfc3339_millis(self.started).to_string(),
            "wall_seconds": self.wall_seconds,
            "threads": self.threads,
            "shard": self.shard,
            "scenario_hash": self.scenario_hash,
            "points": self.points.end - self.points.start,
            "first_point": self.points.start,
            "grid_points": self.grid_points,
            "columns": Value::Object(columns),
        })
    }

    /// Writes `manifest.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join("manifest.json");
        let mut text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }
}
