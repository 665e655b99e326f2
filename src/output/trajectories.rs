//! A single run's trajectories: written to CSV files as they happen
//! ([`CsvTrajectories`]), or kept in memory ([`Trajectories`]) with the same columns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::columns::{self, Column, StateLayout};
use super::{CsvFile, Field};
use crate::error::Error;
use crate::point::{ComparisonRow, Trajectory, TrajectorySink};

/// The file and columns of a trajectory table.
/// A trajectory table's file name and columns.
pub fn trajectory_table(kind: Trajectory, layout: &StateLayout) -> (&'static str, Vec<Column>) {
    match kind {
        Trajectory::Continuous => ("continuous.csv", columns::continuous(layout)),
        Trajectory::Discrete => ("discrete.csv", columns::discrete(layout)),
        Trajectory::Comparison => ("comparison.csv", columns::comparison()),
    }
}

/// A comparison row's fields, in `comparison.csv`'s column order.
pub fn comparison_fields<'a>(label: &'a str, row: &ComparisonRow) -> [Field<'a>; 8] {
    [
        Field::Text(label),
        Field::Int(row.step),
        Field::Num(row.t),
        Field::Opt(row.continuous_loss),
        Field::Opt(row.discrete_loss),
        Field::Opt(row.continuous_distance),
        Field::Opt(row.discrete_distance),
        Field::Opt(row.gap),
    ]
}

/// Writes `continuous.csv`, `discrete.csv` and `comparison.csv` into a folder, row by
/// row, and remembers each file's columns for the manifest.
pub struct CsvTrajectories {
    dir: PathBuf,
    open: Option<CsvFile>,
    /// The files written so far, with their columns.
    pub files: Vec<(String, Vec<Column>)>,
    /// The SHA-256 (hex) of each file finished, hashed while written.
    pub sha256: BTreeMap<String, String>,
}

impl CsvTrajectories {
    /// Writes into `dir`.
    pub fn new(dir: &Path) -> Self {
        CsvTrajectories {
            dir: dir.to_path_buf(),
            open: None,
            files: Vec::new(),
            sha256: BTreeMap::new(),
        }
    }

    fn csv(&mut self) -> &mut CsvFile {
        self.open.as_mut().expect("a table has begun")
    }
}

impl TrajectorySink for CsvTrajectories {
    fn begin(&mut self, kind: Trajectory, layout: &StateLayout) -> Result<(), Error> {
        let (name, cols) = trajectory_table(kind, layout);
        self.open = Some(CsvFile::create(
            &self.dir.join(name),
            &columns::names(&cols),
        )?);
        self.files.push((name.to_string(), cols));
        Ok(())
    }

    fn continuous(&mut self, row: &[f64]) -> Result<(), Error> {
        let csv = self.csv();
        csv.nums(row)?;
        csv.end_row()
    }

    fn discrete(&mut self, label: &str, k: u64, row: &[f64]) -> Result<(), Error> {
        let csv = self.csv();
        csv.field(Field::Text(label))?;
        csv.field(Field::Int(k))?;
        csv.nums(row)?;
        csv.end_row()
    }

    fn comparison(&mut self, label: &str, row: &ComparisonRow) -> Result<(), Error> {
        let csv = self.csv();
        for f in comparison_fields(label, row) {
            csv.field(f)?;
        }
        csv.end_row()
    }

    fn end(&mut self, _: Trajectory) -> Result<(), Error> {
        let digest = self.open.take().expect("a table has begun").finish()?;
        let (name, _) = self.files.last().expect("a table has begun");
        self.sha256.insert(name.clone(), digest);
        Ok(())
    }
}

/// A table of numbers with named columns (text columns such as `method` kept apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The column names, as in the CSV header.
    pub columns: Vec<String>,
    /// The `method` column (discrete and comparison tables), one entry per row.
    pub labels: Vec<String>,
    /// The numeric columns of each row, in header order (after `method`); an empty CSV
    /// field is NaN.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// The values of column `name`, one per row (`method` is not numeric: see `labels`).
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let skip = usize::from(self.columns.first().is_some_and(|c| c == "method"));
        let j = self
            .columns
            .iter()
            .position(|c| c == name)?
            .checked_sub(skip)?;
        Some(self.rows.iter().map(|r| r[j]).collect())
    }
}

/// A single run's trajectories in memory: the same tables and columns the CSV files
/// hold (a table the run did not produce stays empty, without columns).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trajectories {
    /// `continuous.csv`.
    pub continuous: Table,
    /// `discrete.csv`.
    pub discrete: Table,
    /// `comparison.csv`.
    pub comparison: Table,
}

impl Trajectories {
    fn table(&mut self, kind: Trajectory) -> &mut Table {
        match kind {
            Trajectory::Continuous => &mut self.continuous,
            Trajectory::Discrete => &mut self.discrete,
            Trajectory::Comparison => &mut self.comparison,
        }
    }
}

impl TrajectorySink for Trajectories {
    fn begin(&mut self, kind: Trajectory, layout: &StateLayout) -> Result<(), Error> {
        self.table(kind).columns = columns::names(&trajectory_table(kind, layout).1);
        Ok(())
    }

    fn continuous(&mut self, row: &[f64]) -> Result<(), Error> {
        self.continuous.rows.push(row.to_vec());
        Ok(())
    }

    fn discrete(&mut self, label: &str, k: u64, row: &[f64]) -> Result<(), Error> {
        let mut r = Vec::with_capacity(row.len() + 1);
        r.push(k as f64);
        r.extend_from_slice(row);
        self.discrete.labels.push(label.to_string());
        self.discrete.rows.push(r);
        Ok(())
    }

    fn comparison(&mut self, label: &str, row: &ComparisonRow) -> Result<(), Error> {
        let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
        self.comparison.labels.push(label.to_string());
        self.comparison.rows.push(vec![
            row.step as f64,
            row.t,
            nan(row.continuous_loss),
            nan(row.discrete_loss),
            nan(row.continuous_distance),
            nan(row.discrete_distance),
            nan(row.gap),
        ]);
        Ok(())
    }

    fn end(&mut self, _: Trajectory) -> Result<(), Error> {
        Ok(())
    }
}
