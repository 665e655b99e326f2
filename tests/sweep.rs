//! Sweeps: the grid (numpy's axes, order, swept keys, the (ε, p) → (m, μ) twin), W1's
//! discrete step counts against the reference recurrence and the numpy peer, continuous
//! crossing times against the exact solution, byte-identical summaries across thread
//! counts and shards, merge refusing bad shards, failed points, and Qian's triangle.

mod common;

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::exact::{exact_distance, first_crossing};
use common::{heavyball, num, read_csv};
use heavyball::dynamics::DiscreteParams;
use heavyball::scenario::{self, Scenario};
use heavyball::theory;

fn parse(text: &str) -> Scenario {
    scenario::parse_str(text, Path::new("test.toml")).unwrap()
}

/// W1 of ../shared/peers at N × N points; `continuous` adds the Dormand–Prince run.
fn w1(n: usize, continuous: bool) -> String {
    let c = if continuous {
        "[continuous]\nmethod = \"dopri5\"\nrtol = 1e-8\natol = 1e-10\nt_end = 200.0\n"
    } else {
        ""
    };
    format!(
        r#"name = "w1"
[potential]
kind = "quadratic"
eigenvalues = [6.0, 60.0]
[particle]
position = [1.0, 1.0]
{c}
[[discrete]]
label = "qian"
dt = 0.1
map = "qian"
steps = 200000
[stop]
tolerance = 1e-6
divergence = 1e12
[sweep]
mass = {{ logspace = [-2.0, 1.0, {n}] }}
friction = {{ logspace = [-1.0, 1.5, {n}] }}
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// Runs the binary, which must succeed.
fn run(args: &[&str]) {
    let o = heavyball(args);
    assert!(
        o.status.success(),
        "heavyball {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Distance in units in the last place between two positive floats.
fn ulps(a: f64, b: f64) -> u64 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
}

#[test]
fn axes_are_numpys_linspace_and_logspace() {
    // tests/fixtures/w1-axes.csv: numpy 2.4.6's linspace exponents and logspace values for
    // W1's axes, and the correctly rounded 10^x of each exponent.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/w1-axes.csv");
    let rows = read_csv(&fixture);
    assert_eq!(rows.len(), 240);
    let s20 = parse(&w1(20, false));
    let s100 = parse(&w1(100, false));
    for row in &rows {
        let (sweep, n) = if row["count"] == "20" {
            (&s20, 20)
        } else {
            (&s100, 100)
        };
        let key = row["axis"].as_str();
        let axis = sweep
            .sweep
            .as_ref()
            .unwrap()
            .axes
            .iter()
            .find(|a| a.key.as_str() == key)
            .unwrap();
        let (start, stop) = if key == "mass" {
            (-2.0, 1.0)
        } else {
            (-1.0, 1.5)
        };
        let i: usize = row["index"].parse().unwrap();
        // The exponents are numpy's linspace to the last bit.
        assert_eq!(
            heavyball::grid::linspace(start, stop, n)[i],
            num(row, "exponent"),
            "{key}[{i}]"
        );
        // The powers: the `libm` crate's pow, within one unit in the last place of the
        // correctly rounded value and of numpy's (whose AVX-512 pow is itself off by one on
        // some).
        let (ours, numpy, exact) = (
            axis.spec.value(i as u64),
            num(row, "numpy"),
            num(row, "correctly_rounded"),
        );
        assert!(
            ulps(ours, exact) <= 1,
            "{key}[{i}]: {ours} vs 10^x = {exact}"
        );
        assert!(
            ulps(ours, numpy) <= 1,
            "{key}[{i}]: {ours} vs numpy {numpy}"
        );
        if i == 0 || i + 1 == n as usize {
            assert_eq!(ours, numpy, "{key}: the endpoints are numpy's exactly");
        }
    }
    assert_eq!(s100.points(), 10_000);
    assert_eq!(s20.points(), 400);
}

#[test]
fn grid_order_is_mass_outer_last_axis_fastest() {
    let s = parse(&w1(100, false));
    let axes = &s.sweep.as_ref().unwrap().axes;
    let (ms, mus): (Vec<f64>, Vec<f64>) = (
        axes[0].spec.values().collect(),
        axes[1].spec.values().collect(),
    );
    assert_eq!((ms[0], ms[99]), (0.01, 10.0));
    assert_eq!((mus[0], mus[99]), (0.1, 31.622776601683793));
    for index in [0u64, 1, 99, 100, 101, 4321, 9999] {
        let p = s.point(index);
        let (i, j) = ((index / 100) as usize, (index % 100) as usize);
        assert_eq!(p.particle, Some((ms[i], mus[j])), "point {index}");
        // Qian's map at the point's own (m, μ).
        assert_eq!(
            p.discrete[0].0,
            DiscreteParams::FromParticle {
                dt: 0.1,
                map: heavyball::dynamics::Map::Qian
            }
        );
    }
}

#[test]
fn swept_keys_replace_their_targets_everywhere() {
    let s = parse(
        r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0]
[particle]
mass = 1.0
friction = 2.0
position = 1.0
[continuous]
t_end = 10.0
[[discrete]]
dt = 0.5
[[discrete]]
learning_rate = 0.1
momentum = 0.5
dt = 0.5
[[discrete]]
scheme = "gradient-descent"
learning_rate = 0.2
[sweep]
friction = { values = [3.0, 4.0] }
dt = { linspace = [0.1, 0.3, 3] }
"#,
    );
    assert_eq!(s.points(), 6);
    let p = s.point(5);
    assert_eq!(p.particle, Some((1.0, 4.0)));
    // numpy's linspace sets the last value to the stop exactly.
    let dt = 0.3;
    assert_eq!(p.values.dt, Some(dt));
    assert_eq!(
        p.discrete[0],
        (
            DiscreteParams::FromParticle {
                dt,
                map: heavyball::dynamics::Map::Qian
            },
            34
        )
    );
    assert_eq!(
        p.discrete[1],
        (
            DiscreteParams::Explicit {
                learning_rate: 0.1,
                momentum: 0.5,
                dt
            },
            34
        )
    );
    // The default budget follows each point's dt: ceil(10 / 0.1) at the first.
    assert_eq!(s.point(0).discrete[0].1, 100);
    assert_eq!(
        s.point(1).discrete[2].0.dt(),
        heavyball::grid::linspace(0.1, 0.3, 3)[1]
    );
    // The resolved text re-reads as the same scenario.
    assert_eq!(parse(&s.to_toml()), s);
}

#[test]
fn learning_rate_momentum_sweep_runs_the_physical_twin_or_skips() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "twin.toml",
        r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0]
[particle]
position = 1.0
[continuous]
t_end = 400.0
[[discrete]]
dt = 0.5
steps = 3000
[sweep]
learning_rate = { values = [-0.1, 0.0, 0.25] }
momentum = { values = [-0.5, 0.0, 0.5, 1.0] }
"#,
    );
    run(&["run", s(&input), "--out", s(dir.path()), "--quiet"]);
    let rows = read_csv(&dir.path().join("twin/summary.csv"));
    assert_eq!(rows.len(), 24);
    for pair in rows.chunks(2) {
        let (c, d) = (&pair[0], &pair[1]);
        assert_eq!(c["method"], "continuous");
        assert_eq!(d["method"], "heavy-ball-1");
        let (eps, p) = (num(d, "learning_rate"), num(d, "momentum"));
        assert_eq!(
            (num(c, "learning_rate"), num(c, "momentum"), num(c, "dt")),
            (eps, p, 0.5)
        );
        assert_ne!(d["status"], "skipped", "discrete rows always run");
        if eps > 0.0 && (0.0..1.0).contains(&p) {
            // m = pΔt²/ε, μ = (1 − p)Δt/ε (SPEC), and the twin is a real run.
            assert_eq!(num(c, "mass"), p * 0.25 / eps);
            assert_eq!(num(c, "friction"), (1.0 - p) * 0.5 / eps);
            assert_eq!(c["status"], "converged");
            let rate = theory::continuous_rate(num(c, "mass"), num(c, "friction"), &[1.0]);
            approx::assert_relative_eq!(num(c, "theory_rate"), rate, max_relative = 1e-15);
        } else {
            assert_eq!(c["status"], "skipped", "eps {eps}, p {p}");
            assert!(c["note"].starts_with("no physical twin"), "{}", c["note"]);
            assert_eq!((c["mass"].as_str(), c["friction"].as_str()), ("", ""));
        }
    }
}

/// Qian's heavy ball on W1 exactly as the peers write it: `|w|² < tol²` with
/// `w0*w0 + w1*w1`, `w_new = w − ε(Hw) + p(w − w_prev)`; (k_conv or None, diverged).
fn reference(m: f64, mu: f64) -> (Option<u64>, bool) {
    let dt = 0.1;
    let (eps, p) = (dt * dt / (m + mu * dt), m / (m + mu * dt));
    let h = [6.0, 60.0];
    let (mut w, mut w_prev) = ([1.0f64, 1.0], [1.0f64, 1.0]);
    for k in 1..=200_000u64 {
        let next = [
            w[0] - eps * (h[0] * w[0]) + p * (w[0] - w_prev[0]),
            w[1] - eps * (h[1] * w[1]) + p * (w[1] - w_prev[1]),
        ];
        w_prev = w;
        w = next;
        let r2 = w[0] * w[0] + w[1] * w[1];
        if r2 < 1e-12 {
            return (Some(k), false);
        }
        // The peers' `not r2 <= div2`: NaN counts as diverged too.
        if !matches!(
            r2.partial_cmp(&1e24),
            Some(Ordering::Less | Ordering::Equal)
        ) {
            return (None, true);
        }
    }
    (None, false)
}

#[test]
fn w1_discrete_steps_are_the_reference_recurrence_and_the_numpy_peer() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(20, false));
    run(&["run", s(&input), "--out", s(dir.path()), "--quiet"]);
    let rows = read_csv(&dir.path().join("w1/summary.csv"));
    // tests/fixtures/w1-numpy-N20.csv: ../shared/peers/sweep_numpy.py --N 20.
    let peer =
        read_csv(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/w1-numpy-N20.csv"));
    assert_eq!(rows.len(), 400);
    let mut converged = 0;
    for (i, (row, peer)) in rows.iter().zip(&peer).enumerate() {
        assert_eq!(num(row, "point") as usize, i);
        let (m, mu) = (num(row, "mass"), num(row, "friction"));
        let (k, diverged) = reference(m, mu);
        let status = match (k, diverged) {
            (Some(_), _) => "converged",
            (None, true) => "diverged",
            (None, false) => "not-converged",
        };
        assert_eq!(row["status"], status, "m = {m}, mu = {mu}");
        let peer_k: i64 = peer["k_conv"].parse().unwrap();
        assert_eq!(peer["diverged"] == "1", diverged, "m = {m}, mu = {mu}");
        if let Some(k) = k {
            converged += 1;
            assert_eq!(num(row, "steps") as u64, k, "m = {m}, mu = {mu}");
            assert_eq!(peer_k as u64, k, "the numpy peer, m = {m}, mu = {mu}");
            // t_converged = k·Δt exactly as the engine computes it.
            assert_eq!(num(row, "t_converged"), k as f64 * 0.1);
        } else {
            assert_eq!(peer_k, -1);
        }
    }
    assert!(converged > 300, "{converged} of 400 converge");
}

#[test]
fn w1_continuous_crossings_are_the_exact_first_crossings() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(20, true));
    run(&["run", s(&input), "--out", s(dir.path()), "--quiet"]);
    let rows = read_csv(&dir.path().join("w1/summary.csv"));
    let (ks, w0, v0) = ([6.0, 60.0], [1.0, 1.0], [0.0, 0.0]);
    let (mut checked, mut above) = (0, 0);
    for row in rows.iter().filter(|r| r["method"] == "continuous") {
        let (m, mu) = (num(row, "mass"), num(row, "friction"));
        let exact = first_crossing(m, mu, &ks, &w0, &v0, 1e-6, 200.0);
        match exact {
            Some(t) => {
                assert_eq!(row["status"], "converged", "m = {m}, mu = {mu}");
                // rtol 1e-8: 3.5e-6 relative, as in tests/continuous.rs for the same grid —
                // or, where |w| crosses tol slowly, the shift that W1's atol (1e-10) of error
                // in |w| makes: 1e-4 of |w| = tol, more than the relative error the
                // step's rtol allows there. On an overdamped point's slow decay
                // (|w|' ≈ −k/μ·|w|) that is up to ~1e-5 of t, and a one-ulp change of m
                // moves the error within it (m = 3.3598182862837813, μ = 17.25: 4.3e-6).
                let h = 1e-3 * t;
                let slope = (exact_distance(m, mu, &ks, &w0, &v0, t - h)
                    - exact_distance(m, mu, &ks, &w0, &v0, t + h))
                    / (2.0 * h);
                // Capped: a crossing that only grazes tol (slope → 0) gets no free pass.
                let allowed = 3.5e-6_f64.max(1e-10 / (slope.abs() * t)).min(2e-5);
                let rel = (num(row, "t_converged") - t).abs() / t;
                assert!(
                    rel < allowed,
                    "m = {m}, mu = {mu}: {} vs exact {t} ({rel:e} > {allowed:e})",
                    row["t_converged"]
                );
                above += usize::from(rel >= 3.5e-6);
                checked += 1;
            }
            None => assert_eq!(row["status"], "not-converged", "m = {m}, mu = {mu}"),
        }
        // Result 2's rate of the slowest component, beside every row.
        let rate = theory::continuous_rate(m, mu, &ks);
        approx::assert_relative_eq!(num(row, "theory_rate"), rate, max_relative = 1e-15);
    }
    assert!(checked > 300, "{checked} converged points checked");
    assert!(above <= 2, "{above} of {checked} crossings beyond 3.5e-6");
}

fn bytes(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn summaries_are_byte_identical_across_threads_runs_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(20, true));
    let out = |tag: &str| dir.path().join(tag);
    run(&[
        "run",
        s(&input),
        "--out",
        s(&out("t1")),
        "--threads",
        "1",
        "--quiet",
    ]);
    let reference = bytes(&out("t1").join("w1/summary.csv"));
    assert_eq!(reference.iter().filter(|&&b| b == b'\n').count(), 1 + 800);
    for (tag, threads) in [("t2", "2"), ("t2-again", "2"), ("t5", "5")] {
        run(&[
            "run",
            s(&input),
            "--out",
            s(&out(tag)),
            "--threads",
            threads,
            "--quiet",
        ]);
        assert!(
            bytes(&out(tag).join("w1/summary.csv")) == reference,
            "{tag}"
        );
    }
    // The vector extension of the lane kernels (capped by HEAVYBALL_SIMD; one the CPU
    // lacks falls back) changes no byte.
    for isa in ["baseline", "avx2", "avx512"] {
        let tag = format!("isa-{isa}");
        let o = Command::new(env!("CARGO_BIN_EXE_heavyball"))
            .args([
                "run",
                s(&input),
                "--out",
                s(&out(&tag)),
                "--threads",
                "2",
                "--quiet",
            ])
            .env("HEAVYBALL_SIMD", isa)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            bytes(&out(&tag).join("w1/summary.csv")) == reference,
            "{tag}"
        );
    }
    for n in [1u32, 2, 3, 7] {
        let o = out(&format!("shards-{n}"));
        for i in 1..=n {
            run(&[
                "run",
                s(&input),
                "--out",
                s(&o),
                "--shard",
                &format!("{i}/{n}"),
                "--quiet",
            ]);
            let m: serde_json::Value = serde_json::from_slice(&bytes(
                &o.join(format!("w1/shards/{i}-of-{n}/manifest.json")),
            ))
            .unwrap();
            assert_eq!(m["shard"], format!("{i}/{n}"));
        }
        run(&["merge", s(&o.join("w1"))]);
        assert!(
            bytes(&o.join("w1/summary.csv")) == reference,
            "{n} shards merged"
        );
        assert_eq!(
            bytes(&o.join("w1/scenario.toml")),
            bytes(&out("t1").join("w1/scenario.toml"))
        );
    }
}

#[test]
fn merge_refuses_a_missing_foreign_mixed_damaged_or_running_shard_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(6, false));
    let o = dir.path().join("out");
    for i in 1..=3 {
        run(&[
            "run",
            s(&input),
            "--out",
            s(&o),
            "--shard",
            &format!("{i}/3"),
            "--quiet",
        ]);
    }
    let shards = o.join("w1/shards");
    let merged = o.join("w1/summary.csv");
    let refuse = |what: &str, names: &str| {
        let r = heavyball(&["merge", s(&o.join("w1"))]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(names), "{what}: {err}");
        assert!(!merged.exists(), "{what}: nothing is written");
    };
    // Missing: shard 2 of 3 moved away.
    fs::rename(shards.join("2-of-3"), dir.path().join("kept")).unwrap();
    refuse("missing", "shards/2-of-3");
    // Foreign: shard 2 of a scenario with another tolerance.
    let other = write(
        dir.path(),
        "w1.toml",
        &w1(6, false).replace("tolerance = 1e-6", "tolerance = 1e-7"),
    );
    let o2 = dir.path().join("other");
    run(&[
        "run",
        s(&other),
        "--out",
        s(&o2),
        "--shard",
        "2/3",
        "--quiet",
    ]);
    fs::rename(o2.join("w1/shards/2-of-3"), shards.join("2-of-3")).unwrap();
    refuse("foreign", "shards/2-of-3");
    // A shard of another split.
    fs::remove_dir_all(shards.join("2-of-3")).unwrap();
    fs::rename(dir.path().join("kept"), shards.join("2-of-3")).unwrap();
    run(&[
        "run",
        s(&input),
        "--out",
        s(&o),
        "--shard",
        "1/2",
        "--quiet",
    ]);
    refuse("mixed splits", "1-of-2");
    fs::remove_dir_all(shards.join("1-of-2")).unwrap();
    // Edited: shard 3's scenario.toml no longer the one its manifest hashed.
    let t3 = shards.join("3-of-3/scenario.toml");
    let toml = bytes(&t3);
    let edited = String::from_utf8(toml.clone())
        .unwrap()
        .replace("tolerance = 1e-6", "tolerance = 1e-7");
    assert_ne!(edited.as_bytes(), &toml[..]);
    fs::write(&t3, edited).unwrap();
    refuse(
        "edited scenario",
        "its scenario.toml does not match the scenario_hash in its manifest.json",
    );
    fs::write(&t3, &toml).unwrap();
    // Damaged: the last row of shard 3 cut short (its manifest's sha256 no longer matches).
    let s3 = shards.join("3-of-3/summary.csv");
    let good = bytes(&s3);
    fs::write(&s3, &good[..good.len() - 20]).unwrap();
    refuse("damaged", "shards/3-of-3/summary.csv");
    fs::write(&s3, &good).unwrap();
    // Bad JSON in a shard's manifest.
    let m3 = shards.join("3-of-3/manifest.json");
    let manifest = fs::read_to_string(&m3).unwrap();
    fs::write(&m3, "{\"engine\": ").unwrap();
    refuse(
        "bad JSON",
        "shards/3-of-3/manifest.json: merge: not valid JSON",
    );
    // Another program's manifest of the same shape.
    let foreign = manifest.replace("\"engine\": \"heavyball\"", "\"engine\": \"x\"");
    assert_ne!(foreign, manifest);
    fs::write(&m3, foreign).unwrap();
    refuse(
        "another engine",
        "shards/3-of-3/manifest.json: merge: names the engine \"x\", not \"heavyball\"",
    );
    // Timing edited by hand: a start that is no time, a negative or unbounded wall time,
    // and walls that each fit a double but not their sum.
    let wall = manifest.find("\"wall_seconds\": ").unwrap() + "\"wall_seconds\": ".len();
    let wall_end = wall + manifest[wall..].find(['\n', ',']).unwrap();
    let with_wall = |x: &str| manifest[..wall].to_string() + x + &manifest[wall_end..];
    let started = manifest.find("\"started\": \"").unwrap() + "\"started\": \"".len();
    let started_end = started + manifest[started..].find('"').unwrap();
    let yesterday = manifest[..started].to_string() + "yesterday" + &manifest[started_end..];
    for (what, edited, said) in [
        (
            "no time",
            yesterday,
            "its started = \"yesterday\" is not an RFC 3339 UTC time",
        ),
        (
            "negative",
            with_wall("-2.5"),
            "its wall_seconds = -2.5 is not a time in seconds",
        ),
        ("unbounded", with_wall("1e999"), "not valid JSON"),
        (
            "too large a sum",
            with_wall("1.7e308"),
            "wall_seconds add up beyond",
        ),
    ] {
        fs::write(&m3, &edited).unwrap();
        if what == "too large a sum" {
            let m2 = shards.join("2-of-3/manifest.json");
            let kept = fs::read_to_string(&m2).unwrap();
            let w = kept.find("\"wall_seconds\": ").unwrap() + "\"wall_seconds\": ".len();
            let e = w + kept[w..].find(['\n', ',']).unwrap();
            fs::write(&m2, kept[..w].to_string() + "1.7e308" + &kept[e..]).unwrap();
            refuse(what, said);
            fs::write(&m2, kept).unwrap();
        } else {
            refuse(what, said);
        }
    }
    fs::write(&m3, &manifest).unwrap();
    // A row short, with a manifest that vouches for it (its SHA-256 redone): the count
    // of rows, not only the hash, is checked.
    let short = &good[..good[..good.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1];
    fs::write(&s3, short).unwrap();
    fs::write(
        &m3,
        manifest.replace(&common::sha256_hex(&good), &common::sha256_hex(short)),
    )
    .unwrap();
    refuse("a row short", "rows, expected");
    fs::write(&s3, &good).unwrap();
    fs::write(&m3, &manifest).unwrap();
    // A shard's summary.csv missing, a folder, a FIFO (which a read would wait on forever).
    fs::rename(&s3, dir.path().join("s3")).unwrap();
    refuse(
        "no summary",
        "shards/3-of-3/summary.csv: merge: cannot read: No such file",
    );
    fs::create_dir(&s3).unwrap();
    refuse(
        "a folder",
        "shards/3-of-3/summary.csv: merge: cannot read: not a regular file",
    );
    fs::remove_dir(&s3).unwrap();
    let fifo = std::ffi::CString::new(s(&s3)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    refuse(
        "a FIFO",
        "shards/3-of-3/summary.csv: merge: cannot read: not a regular file",
    );
    fs::remove_file(&s3).unwrap();
    fs::rename(dir.path().join("s3"), &s3).unwrap();
    // A shard folder renamed with a leading zero: named, not read as shard 1's absence.
    fs::rename(shards.join("1-of-3"), shards.join("01-of-3")).unwrap();
    refuse(
        "misnamed",
        "shards/01-of-3: merge: is not a shard folder's name (run --shard names shard 1 of 3 1-of-3)",
    );
    fs::rename(shards.join("01-of-3"), shards.join("1-of-3")).unwrap();
    // A shard still being written: only its hidden partial folder is there.
    let running = shards.join(format!(".2-of-3.partial-{}", std::process::id()));
    fs::rename(shards.join("2-of-3"), &running).unwrap();
    refuse("still running", "shard 2 of 3 is missing (.2-of-3.partial-");
    // An unsharded run of the same sweep into the same folder would replace it, shards and
    // all, under the running shard: refused, exit 1, the shards left as they are.
    let r = heavyball(&["run", s(&input), "--out", s(&o), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    let pid = std::process::id();
    assert!(
        err.contains(&format!(
            "holds a shard that process {pid} is still writing"
        )),
        "{err}"
    );
    assert!(running.exists() && shards.join("1-of-3").exists());
    fs::rename(&running, shards.join("2-of-3")).unwrap();
    // Whole again: merge succeeds and equals the unsharded run.
    run(&["merge", s(&o.join("w1"))]);
    let whole = dir.path().join("whole");
    fs::write(&input, w1(6, false)).unwrap();
    run(&["run", s(&input), "--out", s(&whole), "--quiet"]);
    assert!(bytes(&merged) == bytes(&whole.join("w1/summary.csv")));
    // The merged manifest: the whole grid (6 × 6 points from 0), the three shards it came
    // from in order, no shard of its own, the unsharded run's scenario hash, and the
    // SHA-256 of the merged file as it is on disk.
    let json =
        |p: &std::path::Path| -> serde_json::Value { serde_json::from_slice(&bytes(p)).unwrap() };
    let m = json(&o.join("w1/manifest.json"));
    let unsharded = json(&whole.join("w1/manifest.json"));
    assert_eq!(
        (m["points"].as_u64(), m["grid_points"].as_u64()),
        (Some(36), Some(36))
    );
    assert_eq!(m["first_point"], 0);
    assert_eq!(
        m["merged_from"],
        serde_json::json!(["shards/1-of-3", "shards/2-of-3", "shards/3-of-3"])
    );
    assert!(m["shard"].is_null());
    assert_eq!(m["scenario_hash"], unsharded["scenario_hash"]);
    assert_eq!(
        m["sha256"]["summary.csv"],
        common::sha256_hex(&bytes(&merged))
    );
    assert_eq!(m["sha256"], unsharded["sha256"]);
}

#[test]
fn a_stalled_point_fails_with_a_note_and_the_sweep_goes_on() {
    // m = 1e-7 with μ = 1: the fast mode −μ/m = −1e7 holds an explicit solver to steps of
    // ~3e-7, so 1000 steps cannot reach the crossing; the other masses converge.
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "stiff.toml",
        r#"
[potential]
kind = "quadratic"
eigenvalues = [1.0]
[particle]
friction = 1.0
position = 1.0
[continuous]
method = "dopri5"
t_end = 40.0
max_steps = 1000
[sweep]
mass = { values = [0.5, 1e-7, 2.0] }
"#,
    );
    run(&["run", s(&input), "--out", s(dir.path()), "--quiet"]);
    let rows = read_csv(&dir.path().join("stiff/summary.csv"));
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["status"], "failed");
    assert!(rows[1]["note"].contains("max_steps"), "{}", rows[1]["note"]);
    for i in [0, 2] {
        let (m, mu) = (num(&rows[i], "mass"), 1.0);
        assert_eq!(rows[i]["status"], "converged");
        let exact = first_crossing(m, mu, &[1.0], &[1.0], &[0.0], 1e-6, 40.0).unwrap();
        approx::assert_relative_eq!(num(&rows[i], "t_converged"), exact, max_relative = 1e-6);
    }
    // With method = "auto" the stiff point runs on BDF and converges at the exact time.
    let text = std::fs::read_to_string(&input)
        .unwrap()
        .replace("dopri5", "auto");
    std::fs::write(&input, text).unwrap();
    run(&["run", s(&input), "--out", s(dir.path()), "--quiet"]);
    let rows = read_csv(&dir.path().join("stiff/summary.csv"));
    assert_eq!(rows[1]["solver"], "bdf");
    assert_eq!(rows[1]["status"], "converged");
    let exact = first_crossing(1e-7, 1.0, &[1.0], &[1.0], &[0.0], 1e-6, 40.0).unwrap();
    approx::assert_relative_eq!(num(&rows[1], "t_converged"), exact, max_relative = 1e-6);
    assert_eq!(
        (rows[0]["solver"].as_str(), rows[2]["solver"].as_str()),
        ("dopri5", "dopri5")
    );
}

/// w_k of the heavy ball on E = ½w² from w_0 = w_−1 = 1.
fn heavy_ball_1d(eps: f64, p: f64, k: usize) -> f64 {
    let (mut w, mut prev) = (1.0f64, 1.0f64);
    for _ in 0..k {
        let next = w - eps * w + p * (w - prev);
        prev = w;
        w = next;
    }
    w
}

#[test]
fn qians_triangle_measured_status_follows_result_3() {
    let dir = tempfile::tempdir().unwrap();
    let input =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/qian-stability-triangle.toml");
    run(&["run", s(&input), "--out", s(dir.path()), "--quiet"]);
    let rows = read_csv(&dir.path().join("qian-stability-triangle/summary.csv"));
    let s = scenario::load(&input).unwrap();
    assert_eq!(rows.len() as u64, s.points());
    let k = 1.0;
    let (mut stable, mut unstable, mut passes) = (0, 0, 0);
    for row in &rows {
        let (eps, p) = (num(row, "learning_rate"), num(row, "momentum"));
        // Result 3: stable iff |p| < 1 and 0 < εk < 2 + 2p.
        let result3 = p.abs() < 1.0 && 0.0 < eps * k && eps * k < 2.0 + 2.0 * p;
        let rho = num(row, "theory_radius");
        approx::assert_relative_eq!(
            rho,
            theory::heavy_ball_radius(eps, p, k),
            max_relative = 1e-15
        );
        if (eps * k - (2.0 + 2.0 * p)).abs() > 1e-9 {
            assert_eq!(row["theory_stable"] == "true", result3, "eps {eps}, p {p}");
        }
        // Away from the boundary the measured status agrees: converged within the budget
        // when ρ^steps is far below the tolerance, diverged when ρ > 1 grows past 1e12.
        // On one spring an unstable run can still pass through the tolerance ball on its
        // way out (w_3 = 0 exactly at ε = 0.64, p = −0.81): then the iterate is really there.
        if rho < 0.98 {
            assert_eq!(row["status"], "converged", "eps {eps}, p {p}, rho {rho}");
            stable += 1;
        } else if rho > 1.02 {
            unstable += 1;
            if row["status"] == "converged" {
                let k = num(row, "steps") as usize;
                assert!(
                    heavy_ball_1d(eps, p, k).abs() < 1e-6,
                    "eps {eps}, p {p}, k {k}"
                );
                passes += 1;
            } else {
                assert_eq!(row["status"], "diverged", "eps {eps}, p {p}, rho {rho}");
            }
        }
    }
    assert!(
        stable > 10_000 && unstable > 10_000,
        "{stable} stable, {unstable} unstable"
    );
    assert!(
        passes * 100 < unstable,
        "{passes} of {unstable} unstable runs pass the ball"
    );
}

/// The binary with `args` as task `id` of a Slurm job array of `count` tasks from `min`.
fn in_job_array(args: &[&str], (id, count, min): (&str, &str, &str)) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_heavyball"))
        .args(args)
        .env("SLURM_ARRAY_TASK_ID", id)
        .env("SLURM_ARRAY_TASK_COUNT", count)
        .env("SLURM_ARRAY_TASK_MIN", min)
        .env_remove("SLURM_ARRAY_TASK_STEP")
        .output()
        .unwrap()
}

#[test]
fn shards_come_from_the_flag_or_a_slurm_array_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(5, false));
    // A job-array task (here --array=0-2, task 1) runs shard 2 of 3, the same as --shard 2/3.
    let env = dir.path().join("env");
    let o = in_job_array(
        &["run", s(&input), "--out", s(&env), "--quiet"],
        ("1", "3", "0"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run(&[
        "run",
        s(&input),
        "--out",
        s(&dir.path().join("flag")),
        "--shard",
        "2/3",
        "--quiet",
    ]);
    let shard = "w1/shards/2-of-3/summary.csv";
    let rows = bytes(&dir.path().join("env").join(shard));
    assert!(rows == bytes(&dir.path().join("flag").join(shard)));
    // 25 points in 3 slices of 9, 8, 8: shard 2 holds points 9..17.
    let points: Vec<u64> = read_csv(&dir.path().join("flag").join(shard))
        .iter()
        .map(|r| num(r, "point") as u64)
        .collect();
    assert_eq!(points, (9..17).collect::<Vec<u64>>());

    for bad in [
        &["--shard", "0/3"][..],
        &["--shard", "4/3"],
        &["--shard", "x"],
        &["--threads", "0"],
    ] {
        let mut args = vec!["run", s(&input), "--out", s(dir.path())];
        args.extend_from_slice(bad);
        let o = heavyball(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).is_empty());
    }
    // More shards than points: refused (exit 2), nothing written, not an empty shard that
    // `merge` would wait for with the others.
    let o = heavyball(&[
        "run",
        s(&input),
        "--out",
        s(&dir.path().join("many")),
        "--shard",
        "1/1000",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        stderr.trim_end(),
        "error: scenario w1: shard 1/1000 (from --shard or the Slurm array): N = 1000 is more than the grid's 25 point(s); use N <= 25, or --shard none for the whole grid"
    );
    assert!(!dir.path().join("many").join("w1").exists());
    let bad = dir.path().join("bad-env");
    let o = in_job_array(
        &["run", s(&input), "--out", s(&bad), "--quiet"],
        ("7", "3", "1"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SLURM_ARRAY_TASK"));
    assert!(!dir.path().join("bad-env").exists());
}

/// `merge` leaves the folder holding the merged result alone, as a run does: a single run's
/// trajectories and an earlier merge's figures, left in OUT/<name>/, are gone; the
/// summary is the unsharded run's, byte for byte.
#[test]
fn merge_leaves_nothing_of_an_earlier_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let single = w1(5, false).replace(
        "position = [1.0, 1.0]",
        "position = [1.0, 1.0]\nmass = 1.0\nfriction = 2.0",
    );
    let single = write(
        dir.path(),
        "single.toml",
        &single[..single.find("[sweep]").unwrap()],
    );
    run(&["run", s(&single), "--out", s(&out), "--quiet"]);
    assert!(out.join("w1/discrete.csv").is_file());
    let input = write(dir.path(), "w1.toml", &w1(5, false));
    for shard in ["1/2", "2/2"] {
        run(&[
            "run",
            s(&input),
            "--out",
            s(&out),
            "--shard",
            shard,
            "--quiet",
        ]);
    }
    run(&["merge", s(&out.join("w1"))]);
    run(&["plot", s(&out.join("w1"))]);
    assert!(out.join("w1/index.html").is_file());
    run(&["merge", s(&out.join("w1"))]);
    let mut names: Vec<String> = fs::read_dir(out.join("w1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["manifest.json", "scenario.toml", "shards", "summary.csv"]
    );
    let plain = dir.path().join("plain");
    run(&["run", s(&input), "--out", s(&plain), "--quiet"]);
    assert!(bytes(&out.join("w1/summary.csv")) == bytes(&dir.path().join("plain/w1/summary.csv")));
}

/// `--shard none` in a job array's task (task 2 of 3) runs the whole grid into OUT/<name>/,
/// byte for byte the summary of a run outside any array, and no `shards/`.
#[test]
fn shard_none_runs_the_whole_grid_in_a_job_array() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(5, false));
    let env = dir.path().join("env");
    let args = [
        "run",
        s(&input),
        "--out",
        s(&env),
        "--quiet",
        "--shard",
        "none",
    ];
    let o = in_job_array(&args, ("2", "3", "1"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain = dir.path().join("plain");
    run(&["run", s(&input), "--out", s(&plain), "--quiet"]);
    let summary = |tag: &str| bytes(&dir.path().join(tag).join("w1/summary.csv"));
    assert!(summary("env") == summary("plain"));
    assert_eq!(read_csv(&dir.path().join("env/w1/summary.csv")).len(), 25);
    assert!(!dir.path().join("env/w1/shards").exists());
}

/// A single run of a W1 point (the lane kernel with one busy lane) writes the same
/// continuous row as the point in the sweep, where it shared the lanes with its
/// neighbours: every column but `point`.
#[test]
fn a_single_run_equals_its_sweep_point_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "w1.toml", &w1(20, true));
    run(&[
        "run",
        s(&input),
        "--out",
        s(&dir.path().join("sweep")),
        "--quiet",
    ]);
    let rows = read_csv(&dir.path().join("sweep/w1/summary.csv"));
    let continuous: Vec<_> = rows
        .iter()
        .filter(|r| r["method"] == "continuous")
        .collect();
    for row in [
        continuous[0],
        continuous[137],
        continuous[205],
        continuous[399],
    ] {
        let single = w1(20, true)
            .replace(
                "position = [1.0, 1.0]",
                &format!(
                    "position = [1.0, 1.0]\nmass = {}\nfriction = {}",
                    row["mass"], row["friction"]
                ),
            )
            .split("[sweep]")
            .next()
            .unwrap()
            .replace("name = \"w1\"", "name = \"one\"");
        let one = write(dir.path(), "one.toml", &single);
        let out = dir.path().join(format!("one-{}", row["point"]));
        run(&["run", s(&one), "--out", s(&out), "--quiet"]);
        let alone = read_csv(&out.join("one/summary.csv"));
        let alone = alone.iter().find(|r| r["method"] == "continuous").unwrap();
        for (key, value) in row.iter().filter(|(k, _)| *k != "point") {
            assert_eq!(&alone[key], value, "point {}: {key}", row["point"]);
        }
    }
}
