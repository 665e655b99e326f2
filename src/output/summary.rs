//! The rows of `summary.csv`: a [`SummaryRow`] formatted, field by field.

use super::{Field, Rows};
use crate::point::{NOTE_SEPARATOR, SummaryRow};

/// Formats one summary row (SPEC's required columns plus `note`) into `csv`.
pub fn write_summary_row(row: &SummaryRow, csv: &mut Rows) {
    let r = &row.report;
    csv.field(Field::Int(row.point));
    csv.field(Field::Text(&row.method));
    csv.field(Field::Opt(row.mass));
    csv.field(Field::Opt(row.friction));
    csv.field(Field::Opt(row.dt));
    csv.field(Field::Opt(row.learning_rate));
    csv.field(Field::Opt(row.momentum));
    csv.field(Field::Text(r.status.as_str()));
    csv.field(Field::Opt(r.crossings.tight));
    csv.field(Field::Int(r.steps));
    csv.field(Field::Int(r.evaluations));
    csv.field(Field::Opt(r.final_value));
    csv.field(Field::Opt(row.theory_rate));
    csv.field(Field::Opt(row.theory_radius));
    csv.field(match row.theory_stable {
        Some(true) => Field::Text("true"),
        Some(false) => Field::Text("false"),
        None => Field::Empty,
    });
    csv.field(Field::Opt(r.measured_rate));
    csv.field(Field::Opt(row.speedup));
    csv.field(
        row.damping
            .map_or(Field::Empty, |d| Field::Text(d.as_str())),
    );
    csv.field(Field::Opt(row.damping_ratio));
    csv.field(Field::Opt(row.optimal_momentum));
    csv.field(Field::Opt(r.noise_floor));
    csv.field(Field::Opt(row.theory_noise_floor));
    csv.field(r.solver.map_or(Field::Empty, Field::Text));
    csv.joined(row.note_parts(), NOTE_SEPARATOR);
    csv.end_row();
}

/// Formats every row of a grid point.
pub fn write_point(rows: &[SummaryRow], csv: &mut Rows) {
    for row in rows {
        write_summary_row(row, csv);
    }
}

/// Writes a whole `summary.csv` (header, then `rows` in the order given) to `out`: the
/// same bytes the command line writes for the same rows.
pub fn write_summary(
    rows: impl IntoIterator<Item = SummaryRow>,
    mut out: impl std::io::Write,
) -> std::io::Result<()> {
    let mut csv = Rows::new();
    csv.header(&super::columns::names(&super::columns::summary()));
    for row in rows {
        write_summary_row(&row, &mut csv);
        if csv.bytes().len() >= 1 << 16 {
            out.write_all(csv.bytes())?;
            csv.clear();
        }
    }
    out.write_all(csv.bytes())
}
