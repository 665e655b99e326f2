//! A status is never wrong: a non-finite iterate is `diverged` before any criterion is
//! read (∇E(∞) = 0 and E(∞) − E* < 0 must not read as converged), in every loop; a
//! tolerance no squared norm can meet is refused where it is written.

mod common;

use std::collections::HashMap;

use common::{heavyball, read_csv};

/// Runs an inline scenario, returning its summary rows by method (or the failed output).
fn run(toml: &str) -> Result<HashMap<String, HashMap<String, String>>, String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("s.toml");
    std::fs::write(&input, toml).unwrap();
    let out = dir.path().join("out");
    let o = heavyball(&[
        "run",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(read_csv(&out.join("inv").join("summary.csv"))
        .into_iter()
        .map(|r| (r["method"].clone(), r))
        .collect())
}

/// E = 1/x from `position`, with `run` (a `[[discrete]]` or `[continuous]` table) and a
/// `[stop]` body.
fn inverse(position: &str, run: &str, stop: &str) -> String {
    format!(
        "name = \"inv\"\n[potential]\nkind = \"expression\"\nvariables = [\"x\"]\nexpression = \"1/x\"\n\
         {}\n[particle]\nmass = 1.0\nfriction = 1.0\nposition = [{position}]\n{run}\n[stop]\n{stop}\n",
        if stop.contains("loss") {
            "minimum = [1.0]"
        } else {
            ""
        }
    )
}

const DISCRETE: &str = "[[discrete]]\ndt = 0.1\nsteps = 5";
const BAOAB: &str = "[continuous]\nmethod = \"baoab\"\nstep = 0.1";

#[test]
fn a_non_finite_iterate_is_diverged_in_every_loop() {
    for (position, run_table, stop) in [
        ("0.0", DISCRETE, "criterion = \"gradient\""),
        ("1e-200", DISCRETE, "criterion = \"gradient\""),
        ("0.0", DISCRETE, "criterion = \"loss\""),
        ("0.0", BAOAB, "criterion = \"gradient\""),
        ("1e-200", BAOAB, "criterion = \"gradient\""),
        (
            "0.0",
            "[continuous]\nmethod = \"rk4\"\nstep = 0.1",
            "criterion = \"gradient\"",
        ),
    ] {
        let rows = run(&inverse(position, run_table, stop)).unwrap();
        assert!(!rows.is_empty());
        for (method, row) in &rows {
            assert_eq!(
                row["status"], "diverged",
                "{method} from {position} ({stop}): {row:?}"
            );
            assert_eq!(row["t_converged"], "", "{method}");
            assert_eq!(row["final_value"], "", "{method}");
        }
    }
}

#[test]
fn a_tolerance_whose_square_underflows_is_refused() {
    let quadratic = |criterion: &str, tolerance: &str| {
        format!(
            "name = \"inv\"\n[potential]\nkind = \"quadratic\"\neigenvalues = [1.0]\n[particle]\n\
             mass = 1.0\nfriction = 1.0\nposition = [1.5]\n{DISCRETE}\n[stop]\n\
             criterion = \"{criterion}\"\ntolerance = {tolerance}\n"
        )
    };
    for criterion in ["distance", "gradient", "energy"] {
        let err = run(&quadratic(criterion, "1e-300")).unwrap_err();
        assert!(
            err.contains("s.toml:") && err.contains("stop.tolerance") && err.contains("underflows"),
            "{criterion}: {err}"
        );
        // The smallest allowed one runs.
        run(&quadratic(criterion, "1.5e-154")).unwrap();
    }
    assert!(
        run(&quadratic("loss", "1e-310"))
            .unwrap_err()
            .contains("stop.tolerance")
    );
    run(&quadratic("loss", "1e-300")).unwrap();
    let far = quadratic("distance", "1e-6").replace("[stop]\n", "[stop]\ndivergence = 1e200\n");
    assert!(run(&far).unwrap_err().contains("stop.divergence"));
}
