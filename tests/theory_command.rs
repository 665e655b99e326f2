//! `heavyball theory FILE [--format csv] [--point I]`: the closed forms of THEORY.md
//! §2–§5 printed for a scenario.
//!
//! Every expected number here is computed in this file from the formulas of THEORY.md
//! (never by calling `heavyball::theory`), so a wrong formula, a wrong input (the wrong
//! (m, μ), ε, p or eigenvalues) or a mislabelled row fails the test:
//!
//! * the KTH poster (H = diag(3, 30), m = 2, μ = 4, Δt = 0.5): critical frictions
//!   2√(mk), speed-up factors r/(k/μ), both components underdamped, the heavy ball
//!   (ε = 0.0625, p = 0.5, ρ = √p = 1/√2, stable, largest stable learning rate 0.1) and the
//!   massless scheme (ε = 0.125, ρ = 2.75, unstable);
//! * Goh's spectrum (0.01, 0.1, 1): the global optimum α = 400/121, β = 81/121, rate 9/11
//!   per step, gradient descent 2/1.01 and 0.99/1.01;
//! * a sweep point (overdamped and underdamped components side by side, the speed-up
//!   2μ/(μ + √(μ² − 4mk)) of the overdamped one), the massless limit, Nesterov's scheme,
//!   the Nesterov ODE and a twin-less learning-rate × momentum point (skipped), a flat
//!   direction (no optimum, no NaN);
//! * the CSV shape: the exact header, every value a finite number or empty;
//! * the text format names its three sections;
//! * bad input: `--point` out of range, a missing file, a malformed scenario → exit 2.

// The platform's libm (std's f64 methods) is fine here: an independent reference, not a result.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_heavyball");

fn heavyball(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN")
        .output()
        .unwrap()
}

fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// Writes a scenario into a fresh temporary folder; the folder lives as long as the guard.
fn scenario(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// The parsed `--format csv` output: (section, entry, component, quantity) → value.
struct Table {
    values: HashMap<(String, String, String, String), Option<f64>>,
    order: Vec<(String, String, String, String)>,
}

impl Table {
    fn of(path: &str, extra: &[&str]) -> Table {
        let mut args = vec!["theory", path, "--format", "csv"];
        args.extend_from_slice(extra);
        let o = heavyball(&args);
        assert!(
            o.status.success(),
            "theory {path} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(&o.stdout[..]);
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            header,
            ["section", "entry", "component", "quantity", "value"],
            "CSV header"
        );
        let mut values = HashMap::new();
        let mut order = Vec::new();
        for rec in r.records() {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), 5, "{rec:?}");
            let section = rec[0].to_string();
            assert!(
                ["continuous", "discrete", "optimum", "noise"].contains(&section.as_str()),
                "section {section}"
            );
            let component = rec[2].to_string();
            assert!(
                component.is_empty() || component.parse::<usize>().is_ok_and(|i| i >= 1),
                "component {component:?}"
            );
            let value = match &rec[4] {
                "" => None,
                v => {
                    let x: f64 = v
                        .parse()
                        .unwrap_or_else(|_| panic!("value {v:?} in {rec:?}"));
                    assert!(x.is_finite(), "non-finite value {v:?} in {rec:?}");
                    Some(x)
                }
            };
            let key = (section, rec[1].to_string(), component, rec[3].to_string());
            assert!(
                values.insert(key.clone(), value).is_none(),
                "duplicate row {key:?}"
            );
            order.push(key);
        }
        Table { values, order }
    }

    /// The value of a row that must exist; `component` is 1-based, None for the whole
    /// spectrum.
    fn opt(
        &self,
        section: &str,
        entry: &str,
        component: Option<usize>,
        quantity: &str,
    ) -> Option<f64> {
        let key = (
            section.to_string(),
            entry.to_string(),
            component.map_or_else(String::new, |i| i.to_string()),
            quantity.to_string(),
        );
        *self
            .values
            .get(&key)
            .unwrap_or_else(|| panic!("no row {key:?}"))
    }

    /// The value of a row that must exist and hold a number.
    fn num(&self, section: &str, entry: &str, component: Option<usize>, quantity: &str) -> f64 {
        self.opt(section, entry, component, quantity)
            .unwrap_or_else(|| panic!("empty {section},{entry},{component:?},{quantity}"))
    }

    fn has(&self, section: &str, entry: &str, component: Option<usize>, quantity: &str) -> bool {
        self.values.contains_key(&(
            section.to_string(),
            entry.to_string(),
            component.map_or_else(String::new, |i| i.to_string()),
            quantity.to_string(),
        ))
    }
}

#[track_caller]
fn close(got: f64, want: f64, rel: f64) {
    let err = (got - want).abs();
    assert!(
        err <= rel * want.abs() || (want == 0.0 && err <= rel),
        "got {got:?}, want {want:?} (relative error {:e} > {rel:e})",
        err / want.abs()
    );
}

// ---------------------------------------------------------------------------------------
// THEORY.md formulas, written out independently of the crate.

/// §2: decay rate r = μ/(2m) − sqrt(μ²/(4m²) − k/m) when k ≤ μ²/(4m), else μ/(2m).
fn decay_rate(m: f64, mu: f64, k: f64) -> f64 {
    if m == 0.0 {
        return k / mu;
    }
    let g = mu / (2.0 * m);
    if k <= mu * mu / (4.0 * m) {
        g - (g * g - k / m).sqrt()
    } else {
        g
    }
}

/// Q20 for an underdamped component: (re, im) of −μ/(2m) ± i·sqrt(k/m − μ²/(4m²)).
fn underdamped_roots(m: f64, mu: f64, k: f64) -> (f64, f64) {
    let g = mu / (2.0 * m);
    (-g, (k / m - g * g).sqrt())
}

/// Q7, Q8.
fn qian(m: f64, mu: f64, dt: f64) -> (f64, f64) {
    (dt * dt / (m + mu * dt), m / (m + mu * dt))
}

// ---------------------------------------------------------------------------------------

#[test]
fn kth_poster_continuous() {
    let t = Table::of(&shipped("kth-poster.toml"), &[]);
    let (m, mu) = (2.0, 4.0);
    let c = |i, q| t.num("continuous", "continuous", Some(i), q);
    assert_eq!(t.num("continuous", "continuous", None, "skipped"), 0.0);
    assert_eq!(t.num("continuous", "continuous", None, "mass"), m);
    assert_eq!(t.num("continuous", "continuous", None, "friction"), mu);
    for (i, k) in [(1, 3.0f64), (2, 30.0f64)] {
        assert_eq!(c(i, "k"), k);
        // Result 2: critical damping at μ = 2√(mk): 2√6 and 2√60.
        close(c(i, "critical_friction"), 2.0 * (m * k).sqrt(), 1e-12);
        // μ² = 16 < 4mk (24, 240): both underdamped.
        assert!(mu * mu < 4.0 * m * k);
        assert_eq!(c(i, "damping_under"), 1.0, "k = {k}");
        assert_eq!(c(i, "damping_critical"), 0.0);
        assert_eq!(c(i, "damping_over"), 0.0);
        assert_eq!(c(i, "damping_massless"), 0.0);
        let (re, im) = underdamped_roots(m, mu, k);
        close(c(i, "lambda1_re"), re, 1e-12);
        close(c(i, "lambda1_im"), im, 1e-12);
        close(c(i, "lambda2_re"), re, 1e-12);
        close(c(i, "lambda2_im"), -im, 1e-12);
        let r = decay_rate(m, mu, k);
        close(c(i, "decay_rate"), r, 1e-12);
        // Q24: α = r/(k/μ).
        close(c(i, "speedup"), r / (k / mu), 1e-12);
    }
    // Underdamped: r = μ/(2m) = 1 for both, so α(3) = 4/3 > 1 (3 < μ²/(2m) = 4: momentum
    // helps) and α(30) = 2/15 < 1 (it hurts).
    close(c(1, "speedup"), 4.0 / 3.0, 1e-12);
    close(c(2, "speedup"), 2.0 / 15.0, 1e-12);
    close(t.num("continuous", "continuous", None, "rate"), 1.0, 1e-12);
}

#[test]
fn kth_poster_discrete() {
    let t = Table::of(&shipped("kth-poster.toml"), &[]);
    let ks = [3.0, 30.0];

    // Heavy ball by Qian's map at Δt = 0.5: ε = 0.0625, p = 0.5.
    let hb = |i: Option<usize>, q| t.num("discrete", "heavy-ball", i, q);
    let (eps, p) = qian(2.0, 4.0, 0.5);
    assert_eq!((eps, p), (0.0625, 0.5));
    assert_eq!(hb(None, "scheme_heavy_ball"), 1.0);
    assert_eq!(hb(None, "learning_rate"), 0.0625);
    assert_eq!(hb(None, "momentum"), 0.5);
    assert_eq!(hb(None, "dt"), 0.5);
    for (i, k) in [(1, ks[0]), (2, ks[1])] {
        // Q31: b = 1 + p − εk; b² < 4p, so σ = b/2 ± i·sqrt(4p − b²)/2 and |σ| = √p.
        let b: f64 = 1.0 + p - eps * k;
        assert!(b * b < 4.0 * p);
        close(hb(Some(i), "sigma1_re"), b / 2.0, 1e-12);
        close(
            hb(Some(i), "sigma1_im"),
            (4.0 * p - b * b).sqrt() / 2.0,
            1e-12,
        );
        close(
            hb(Some(i), "sigma2_im"),
            -(4.0 * p - b * b).sqrt() / 2.0,
            1e-12,
        );
        close(hb(Some(i), "radius"), p.sqrt(), 1e-12);
        // Q35: p* = (1 − √(εk))², radius there |1 − √(εk)|.
        let s = (eps * k).sqrt();
        close(
            hb(Some(i), "optimal_momentum"),
            (1.0 - s) * (1.0 - s),
            1e-12,
        );
        close(hb(Some(i), "optimal_radius"), (1.0 - s).abs(), 1e-12);
    }
    // ρ = √p = 1/√2 = 0.7071067811865476.
    close(hb(None, "radius"), std::f64::consts::FRAC_1_SQRT_2, 1e-12);
    assert_eq!(hb(None, "stable"), 1.0);
    assert_eq!(hb(None, "result3_stable"), 1.0);
    // −ln ρ = ln 2 / 2 per step; per unit time ÷ Δt = 0.5.
    close(
        hb(None, "rate_per_step"),
        std::f64::consts::LN_2 / 2.0,
        1e-12,
    );
    close(hb(None, "rate_per_time"), std::f64::consts::LN_2, 1e-12);
    // Result 3: (2 + 2p)/k_max = 3/30.
    close(hb(None, "max_stable_learning_rate"), 0.1, 1e-12);
    // Optimal momentum for the spectrum at this ε: the largest per-component p*, the
    // k = 3 one; all roots then lie on |σ| = √p* = 1 − √(3ε).
    let s3 = (eps * 3.0f64).sqrt();
    close(hb(None, "optimal_momentum"), (1.0 - s3) * (1.0 - s3), 1e-12);
    close(hb(None, "optimal_radius"), 1.0 - s3, 1e-12);

    // The massless scheme at the same Δt: ε = Δt/μ = 0.125, p = 0, ρ = |1 − 0.125·30|.
    let gd = |i: Option<usize>, q| t.num("discrete", "gradient-descent", i, q);
    assert_eq!(gd(None, "scheme_gradient_descent"), 1.0);
    assert_eq!(gd(None, "learning_rate"), 0.125);
    assert_eq!(gd(None, "momentum"), 0.0);
    close(gd(Some(1), "sigma1_re"), 1.0 - 0.125 * 3.0, 1e-12);
    close(gd(Some(2), "sigma1_re"), 1.0 - 0.125 * 30.0, 1e-12);
    close(gd(Some(1), "radius"), 0.625, 1e-12);
    close(gd(Some(2), "radius"), 2.75, 1e-12);
    close(gd(None, "radius"), 2.75, 1e-12);
    assert_eq!(gd(None, "stable"), 0.0);
    close(gd(None, "rate_per_step"), -(2.75f64.ln()), 1e-12);
    close(gd(None, "rate_per_time"), -(2.75f64.ln()) / 0.5, 1e-12);
    close(gd(None, "max_stable_learning_rate"), 2.0 / 30.0, 1e-12);
    // Gradient descent has one root, no Result 3 verdict and no momentum to optimise.
    assert_eq!(
        t.opt("discrete", "gradient-descent", Some(2), "sigma2_re"),
        None
    );
    assert_eq!(
        t.opt("discrete", "gradient-descent", None, "result3_stable"),
        None
    );
    assert_eq!(
        t.opt("discrete", "gradient-descent", None, "optimal_momentum"),
        None
    );
}

#[test]
fn kth_poster_optimum() {
    let t = Table::of(&shipped("kth-poster.toml"), &[]);
    let o = |q| t.num("optimum", "optimum", None, q);
    let (l1, ln) = (3.0f64, 30.0f64);
    let kappa = ln / l1;
    assert_eq!(o("lambda_min"), l1);
    assert_eq!(o("lambda_max"), ln);
    close(o("condition_number"), kappa, 1e-12);
    close(
        o("momentum_alpha"),
        (2.0 / (l1.sqrt() + ln.sqrt())).powi(2),
        1e-12,
    );
    close(
        o("momentum_beta"),
        ((ln.sqrt() - l1.sqrt()) / (ln.sqrt() + l1.sqrt())).powi(2),
        1e-12,
    );
    close(
        o("momentum_rate"),
        (kappa.sqrt() - 1.0) / (kappa.sqrt() + 1.0),
        1e-12,
    );
    close(o("gd_alpha"), 2.0 / (l1 + ln), 1e-12);
    close(o("gd_rate"), (kappa - 1.0) / (kappa + 1.0), 1e-12);
}

#[test]
fn goh_optimum() {
    let t = Table::of(&shipped("goh-three-eigenvalues.toml"), &[]);
    let o = |q| t.num("optimum", "optimum", None, q);
    assert_eq!(o("lambda_min"), 0.01);
    assert_eq!(o("lambda_max"), 1.0);
    close(o("condition_number"), 100.0, 1e-12);
    // α = (2/(0.1 + 1))² = 400/121, β = (0.9/1.1)² = 81/121, rate (10 − 1)/(10 + 1).
    close(o("momentum_alpha"), 400.0 / 121.0, 1e-12);
    close(o("momentum_alpha"), 3.3057851239669422, 1e-12);
    close(o("momentum_beta"), 81.0 / 121.0, 1e-12);
    close(o("momentum_rate"), 9.0 / 11.0, 1e-12);
    close(o("gd_alpha"), 2.0 / 1.01, 1e-12);
    close(o("gd_rate"), 0.99 / 1.01, 1e-12);

    // The shipped entries run at those optima.
    let hb = |i: Option<usize>, q| t.num("discrete", "momentum-optimal", i, q);
    close(hb(None, "learning_rate"), 400.0 / 121.0, 1e-12);
    close(hb(None, "momentum"), 81.0 / 121.0, 1e-12);
    // Both ends of the spectrum sit at a double root (ill-conditioned: ~1e-8), the middle
    // on the circle |σ| = √β.
    close(hb(None, "radius"), 9.0 / 11.0, 1e-7);
    close(hb(Some(2), "radius"), 9.0 / 11.0, 1e-12);
    assert_eq!(hb(None, "stable"), 1.0);
    assert_eq!(hb(None, "result3_stable"), 1.0);
    // At this ε the best momentum for the spectrum is β itself, with ρ = 9/11 exactly.
    close(hb(None, "optimal_momentum"), 81.0 / 121.0, 1e-12);
    close(hb(None, "optimal_radius"), 9.0 / 11.0, 1e-12);
    let gd = |q| t.num("discrete", "gd-optimal", None, q);
    close(gd("radius"), 0.99 / 1.01, 1e-12);
    close(gd("rate_per_step"), -(0.99f64 / 1.01).ln(), 1e-12);

    // Continuous twin m = 0.2025, μ = 0.1: k = 0.01 is overdamped (μ² = 0.01 > 4mk =
    // 0.0081), with speed-up 2μ/(μ + √(μ² − 4mk)) = 0.2/(0.1 + √0.0019) > 1.
    let (m, mu, k) = (0.2025f64, 0.1f64, 0.01f64);
    let c = |i, q| t.num("continuous", "continuous", Some(i), q);
    assert_eq!(c(1, "damping_over"), 1.0);
    close(
        c(1, "speedup"),
        2.0 * mu / (mu + (mu * mu - 4.0 * m * k).sqrt()),
        1e-12,
    );
    assert!(c(1, "speedup") > 1.0);
    close(c(1, "decay_rate"), decay_rate(m, mu, k), 1e-12);
    // Slow root −μ/(2m) + sqrt(μ²/(4m²) − k/m), fast root with the minus sign.
    let g = mu / (2.0 * m);
    close(c(1, "lambda1_re"), -g + (g * g - k / m).sqrt(), 1e-12);
    close(c(1, "lambda2_re"), -g - (g * g - k / m).sqrt(), 1e-12);
    assert_eq!(c(1, "lambda1_im"), 0.0);
    assert_eq!(c(3, "damping_under"), 1.0);
    close(
        t.num("continuous", "continuous", None, "rate"),
        decay_rate(m, mu, k),
        1e-12,
    );
    assert_eq!(
        t.num("continuous", "continuous", None, "slowest_component"),
        1.0
    );
}

const SWEEP: &str = r#"
name = "sweep"
[potential]
kind = "quadratic"
eigenvalues = [3.0, 30.0]
[particle]
mass = 1.0
friction = 1.0
position = 1.0
[continuous]
t_end = 10.0
sample_interval = 0.1
[[discrete]]
label = "hb"
scheme = "heavy-ball"
dt = 0.1
[stop]
criterion = "distance"
tolerance = 1e-6
[sweep]
mass = { values = [1.0, 10.0] }
friction = { values = [1.0, 2.0, 35.0] }
"#;

#[test]
fn sweep_point_uses_its_own_particle() {
    let (_dir, path) = scenario("sweep.toml", SWEEP);
    let path = path.to_str().unwrap();
    // Grid order: mass slowest, friction fastest. Point 5 = (m = 10, μ = 35).
    let t = Table::of(path, &["--point", "5"]);
    let (m, mu) = (10.0f64, 35.0f64);
    assert_eq!(t.num("continuous", "continuous", None, "mass"), m);
    assert_eq!(t.num("continuous", "continuous", None, "friction"), mu);
    let c = |i, q| t.num("continuous", "continuous", Some(i), q);
    // k = 3: μ² = 1225 > 4mk = 120, overdamped; k = 30: 1225 > 1200, overdamped too.
    for (i, k) in [(1, 3.0f64), (2, 30.0f64)] {
        assert_eq!(c(i, "damping_over"), 1.0, "k = {k}");
        close(
            c(i, "speedup"),
            2.0 * mu / (mu + (mu * mu - 4.0 * m * k).sqrt()),
            1e-12,
        );
        close(c(i, "decay_rate"), decay_rate(m, mu, k), 1e-12);
        close(c(i, "critical_friction"), 2.0 * (m * k).sqrt(), 1e-12);
    }
    // The discrete entry follows the point's particle through Qian's map.
    let (eps, p) = qian(m, mu, 0.1);
    close(t.num("discrete", "hb", None, "learning_rate"), eps, 1e-12);
    close(t.num("discrete", "hb", None, "momentum"), p, 1e-12);
    close(
        t.num("discrete", "hb", None, "max_stable_learning_rate"),
        (2.0 + 2.0 * p) / 30.0,
        1e-12,
    );

    // Point 1 = (m = 1, μ = 2): k = 3 and 30 both underdamped (4 < 12).
    let t = Table::of(path, &["--point", "1"]);
    assert_eq!(t.num("continuous", "continuous", None, "mass"), 1.0);
    assert_eq!(t.num("continuous", "continuous", None, "friction"), 2.0);
    let (re, im) = underdamped_roots(1.0, 2.0, 3.0);
    close(
        t.num("continuous", "continuous", Some(1), "lambda1_re"),
        re,
        1e-12,
    );
    close(
        t.num("continuous", "continuous", Some(1), "lambda1_im"),
        im,
        1e-12,
    );
    close(
        t.num("continuous", "continuous", Some(1), "speedup"),
        1.0 / (3.0 / 2.0),
        1e-12,
    );

    // The text header says which point of how many, with its swept values.
    let o = heavyball(&["theory", path, "--point", "5"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("5 of 6"), "{text}");
    assert!(
        text.contains("mass = 10.0") && text.contains("friction = 35.0"),
        "{text}"
    );
}

#[test]
fn massless_particle_has_one_root_per_component() {
    let t = Table::of(&shipped("massless-limit.toml"), &[]);
    let c = |i, q| t.opt("continuous", "continuous", Some(i), q);
    let mu = t.num("continuous", "continuous", None, "friction");
    assert_eq!(t.num("continuous", "continuous", None, "mass"), 0.0);
    for i in [1, 2] {
        let k = c(i, "k").unwrap();
        // Q18: the single root −k/μ; gradient flow decays at k/μ, speed-up 1.
        close(c(i, "lambda1_re").unwrap(), -k / mu, 1e-12);
        assert_eq!(c(i, "lambda2_re"), None);
        assert_eq!(c(i, "lambda2_im"), None);
        close(c(i, "decay_rate").unwrap(), k / mu, 1e-12);
        assert_eq!(c(i, "speedup"), Some(1.0));
        assert_eq!(c(i, "damping_massless"), Some(1.0));
        assert_eq!(c(i, "damping_under"), Some(0.0));
    }
}

const NESTEROV: &str = r#"
name = "nesterov"
[potential]
kind = "quadratic"
eigenvalues = [1.0, 3.0]
[particle]
mass = 1.0
position = 1.0
[continuous]
model = "nesterov"
t_end = 10.0
sample_interval = 0.1
[[discrete]]
label = "nag"
scheme = "nesterov"
learning_rate = 0.1
momentum = 0.9
[[discrete]]
label = "nag-real"
scheme = "nesterov"
learning_rate = 0.5
momentum = 0.2
[stop]
criterion = "distance"
tolerance = 1e-6
"#;

#[test]
fn nesterov_scheme_and_ode() {
    let (_dir, path) = scenario("nesterov.toml", NESTEROV);
    let t = Table::of(path.to_str().unwrap(), &[]);
    // The Nesterov ODE (friction 3m/t) has no constant-coefficient roots: skipped.
    assert_eq!(t.num("continuous", "continuous", None, "skipped"), 1.0);
    assert_eq!(t.num("continuous", "continuous", None, "mass"), 1.0);
    assert!(!t.has("continuous", "continuous", Some(1), "lambda1_re"));

    // σ² − (1 + p)(1 − εk)σ + p(1 − εk) = 0 (THEORY §4).
    for (label, eps, p) in [("nag", 0.1f64, 0.9f64), ("nag-real", 0.5, 0.2)] {
        let d = |i: Option<usize>, q| t.opt("discrete", label, i, q);
        assert_eq!(d(None, "scheme_nesterov"), Some(1.0));
        let mut rho = 0.0f64;
        for (i, k) in [(1, 1.0f64), (2, 3.0f64)] {
            let g = 1.0 - eps * k;
            let (b, c) = ((1.0 + p) * g, p * g);
            let disc = b * b - 4.0 * c;
            let (s1, s2) = if disc < 0.0 {
                let im = (-disc).sqrt() / 2.0;
                close(d(Some(i), "sigma1_re").unwrap(), b / 2.0, 1e-12);
                close(d(Some(i), "sigma1_im").unwrap(), im, 1e-12);
                close(d(Some(i), "sigma2_im").unwrap(), -im, 1e-12);
                (c.sqrt(), c.sqrt())
            } else {
                let (r1, r2) = ((b + disc.sqrt()) / 2.0, (b - disc.sqrt()) / 2.0);
                close(d(Some(i), "sigma1_re").unwrap(), r1, 1e-12);
                close(d(Some(i), "sigma2_re").unwrap(), r2, 1e-12);
                assert_eq!(d(Some(i), "sigma1_im"), Some(0.0));
                (r1.abs(), r2.abs())
            };
            let rho_i = s1.max(s2);
            close(d(Some(i), "radius").unwrap(), rho_i, 1e-12);
            rho = rho.max(rho_i);
            // p* = (1 − √(εk))/(1 + √(εk)) where 0 < εk < 1.
            let s = (eps * k).sqrt();
            if eps * k < 1.0 {
                close(
                    d(Some(i), "optimal_momentum").unwrap(),
                    (1.0 - s) / (1.0 + s),
                    1e-12,
                );
                close(d(Some(i), "optimal_radius").unwrap(), 1.0 - s, 1e-12);
            } else {
                assert_eq!(d(Some(i), "optimal_momentum"), None);
            }
        }
        close(d(None, "radius").unwrap(), rho, 1e-12);
        assert_eq!(d(None, "stable"), Some(1.0));
        assert_eq!(d(None, "result3_stable"), None);
        // Jury's conditions: εk > 0 and 1 + (1 + 2p)(1 − εk) > 0, i.e.
        // ε < (2 + 2p)/((1 + 2p) k_max).
        close(
            d(None, "max_stable_learning_rate").unwrap(),
            (2.0 + 2.0 * p) / ((1.0 + 2.0 * p) * 3.0),
            1e-12,
        );
    }
    // The spectrum's optimal momentum at ε = 0.1 is the k = 1 component's p*.
    let s = 0.1f64.sqrt();
    close(
        t.num("discrete", "nag", None, "optimal_momentum"),
        (1.0 - s) / (1.0 + s),
        1e-12,
    );
    close(
        t.num("discrete", "nag", None, "optimal_radius"),
        1.0 - s,
        1e-7,
    );
    // At ε = 0.5, εk = 1.5 for k = 3: no closed form, an empty field.
    assert_eq!(
        t.opt("discrete", "nag-real", None, "optimal_momentum"),
        None
    );
}

#[test]
fn twinless_point_and_flat_direction() {
    // Qian's triangle: a learning-rate × momentum sweep; point 0 has p = −0.985 < 0, no
    // physical twin, so the continuous section is skipped.
    let t = Table::of(&shipped("qian-stability-triangle.toml"), &[]);
    assert_eq!(t.num("continuous", "continuous", None, "skipped"), 1.0);
    assert_eq!(t.opt("continuous", "continuous", None, "mass"), None);
    close(
        t.num("discrete", "heavy-ball", None, "momentum"),
        -0.985,
        1e-12,
    );

    // A flat direction (k = 0): no speed-up, no optimum, no stable learning rate, and no
    // NaN anywhere (Table::of rejects non-finite values).
    let (_dir, path) = scenario(
        "flat.toml",
        r#"
[potential]
kind = "quadratic"
eigenvalues = [0.0, 2.0]
[particle]
mass = 1.0
friction = 1.0
position = 1.0
[[discrete]]
scheme = "heavy-ball"
learning_rate = 0.1
momentum = 0.5
[stop]
criterion = "distance"
tolerance = 1e-6
"#,
    );
    let t = Table::of(path.to_str().unwrap(), &[]);
    assert_eq!(t.opt("continuous", "continuous", Some(1), "speedup"), None);
    assert_eq!(
        t.num("continuous", "continuous", Some(1), "decay_rate"),
        0.0
    );
    assert_eq!(t.num("continuous", "continuous", None, "rate"), 0.0);
    // k = 0: roots 0 and −μ/m.
    assert_eq!(
        t.num("continuous", "continuous", Some(1), "lambda1_re"),
        0.0
    );
    assert_eq!(
        t.num("continuous", "continuous", Some(1), "lambda2_re"),
        -1.0
    );
    assert_eq!(t.num("optimum", "optimum", None, "lambda_min"), 0.0);
    for q in [
        "condition_number",
        "momentum_alpha",
        "momentum_beta",
        "momentum_rate",
        "gd_alpha",
        "gd_rate",
    ] {
        assert_eq!(t.opt("optimum", "optimum", None, q), None, "{q}");
    }
    // The k = 0 component has roots 1 and p: ρ = 1, not stable.
    assert_eq!(t.num("discrete", "heavy-ball-1", None, "radius"), 1.0);
    assert_eq!(t.num("discrete", "heavy-ball-1", None, "stable"), 0.0);
    assert_eq!(
        t.num("discrete", "heavy-ball-1", None, "result3_stable"),
        0.0
    );
    assert_eq!(
        t.num("discrete", "heavy-ball-1", None, "rate_per_step"),
        0.0
    );
    assert_eq!(
        t.opt("discrete", "heavy-ball-1", None, "max_stable_learning_rate"),
        None
    );
}

#[test]
fn csv_rows_are_grouped_by_section() {
    let t = Table::of(&shipped("kth-poster.toml"), &[]);
    let sections: Vec<&str> = t.order.iter().map(|k| k.0.as_str()).collect();
    let first = |s| sections.iter().position(|x| *x == s).unwrap();
    let last = |s| sections.iter().rposition(|x| *x == s).unwrap();
    assert!(last("continuous") < first("discrete"));
    assert!(last("discrete") < first("optimum"));
    // One row per (component, quantity) for both components of both entries.
    for entry in ["heavy-ball", "gradient-descent"] {
        for i in [1, 2] {
            for q in [
                "k",
                "sigma1_re",
                "sigma1_im",
                "sigma2_re",
                "sigma2_im",
                "radius",
            ] {
                assert!(t.has("discrete", entry, Some(i), q), "{entry} {i} {q}");
            }
        }
    }
}

#[test]
fn text_format_has_the_three_sections() {
    let o = heavyball(&["theory", &shipped("kth-poster.toml")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    for title in [
        "\ncontinuous",
        "\ndiscrete heavy-ball",
        "\ndiscrete gradient-descent",
        "\noptimum",
    ] {
        assert!(text.contains(title), "no {title:?} in:\n{text}");
    }
    assert!(text.contains("kth-poster"));
    assert!(text.contains("0.7071067811865476"), "{text}");
    assert!(!text.contains("NaN"), "{text}");
    // --format text is the default.
    let o2 = heavyball(&["theory", &shipped("kth-poster.toml"), "--format", "text"]);
    assert_eq!(o2.stdout, text.as_bytes());
}

/// Nesterov at p = −1/2 (k_max = 10): Jury's third condition binds, ε_max = (1 − 1/p)/k_max
/// = 3/10, and the text names that formula, not (2 + 2p)/((1 + 2p) k_max), which has no
/// value at p = −1/2.
#[test]
fn nesterov_below_minus_a_third_names_its_bound() {
    let text = NESTEROV
        .replace("eigenvalues = [1.0, 3.0]", "eigenvalues = [0.01, 10.0]")
        .replace(
            "learning_rate = 0.5\nmomentum = 0.2",
            "learning_rate = 0.2\nmomentum = -0.5",
        );
    let (_dir, path) = scenario("nesterov.toml", &text);
    let t = Table::of(path.to_str().unwrap(), &[]);
    let bound = t.num("discrete", "nag-real", None, "max_stable_learning_rate");
    close(bound, 0.3, 1e-15);
    let o = heavyball(&["theory", path.to_str().unwrap()]);
    let said = String::from_utf8(o.stdout).unwrap();
    assert!(
        said.contains(&format!(
            "largest stable learning rate at p = -0.5: (1 − 1/p)/k_max = {bound}"
        )),
        "{said}"
    );
}

#[test]
fn point_out_of_range_is_bad_input() {
    let (_dir, path) = scenario("sweep.toml", SWEEP);
    let path = path.to_str().unwrap();
    for (p, format) in [("6", "csv"), ("1000", "text")] {
        let o = heavyball(&["theory", path, "--point", p, "--format", format]);
        assert_eq!(o.status.code(), Some(2), "--point {p}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(path) && err.contains("--point"), "{err}");
        assert!(
            err.contains("out of range") && err.contains("6 points"),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
    // The last point is in range.
    assert!(
        heavyball(&["theory", path, "--point", "5"])
            .status
            .success()
    );
    // A single run has only point 0.
    let o = heavyball(&["theory", &shipped("kth-poster.toml"), "--point", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("out of range"));
}

#[test]
fn missing_or_malformed_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-scenario.toml");
    let missing = missing.to_str().unwrap();
    for format in ["text", "csv"] {
        let o = heavyball(&["theory", missing, "--format", format]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(missing) && err.contains("no such file"),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
    // The usual located error of a malformed scenario.
    let bad = SWEEP.replace("mass = 1.0\nfriction", "mass = -1.0\nfriction");
    let (_d, path) = scenario(
        "bad.toml",
        &bad.replace("mass = { values = [1.0, 10.0] }\n", ""),
    );
    let path = path.to_str().unwrap();
    let o = heavyball(&["theory", path, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("error: {path}:")) && err.contains("particle.mass"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn noise_floors_are_the_closed_forms_and_the_summarys() {
    // The stochastic sweep's point 7 (ε = 0.1, p = 0.5, Δt = 1, σ = 0.1 on diag(1, 10)):
    // the heavy ball's floor Σ ½(1 + p)εσ²/((1 − p)(2(1 + p) − εk)) and its continuous
    // twin's equipartition n·σ²Δt/(4μ) = nσ²ε/(4(1 − p)), the same numbers (bit for bit) as
    // the summary's theory_noise_floor. A scenario without noise has no noise section.
    let file = shipped("stochastic-quadratic.toml");
    let t = Table::of(&file, &["--point", "7"]);
    let (eps, p, sigma) = (0.1, 0.5, 0.1);
    assert_eq!(t.num("noise", "noise", None, "sigma"), sigma);
    assert_eq!(t.num("noise", "noise", None, "dt"), 1.0);
    assert_eq!(t.num("noise", "noise", None, "intensity"), sigma);
    let goh: f64 = [1.0, 10.0]
        .iter()
        .map(|k| 0.5 * (1.0 + p) * eps * sigma * sigma / ((1.0 - p) * (2.0 * (1.0 + p) - eps * k)))
        .sum();
    close(
        t.num("noise", "sgd-momentum", None, "noise_floor"),
        goh,
        1e-13,
    );
    let twin = 2.0 * sigma * sigma * eps / (4.0 * (1.0 - p));
    close(
        t.num("noise", "continuous", None, "noise_floor"),
        twin,
        1e-13,
    );

    let dir = tempfile::tempdir().unwrap();
    let o = heavyball(&[
        "run",
        &file,
        "--out",
        dir.path().to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success());
    let summary =
        std::fs::read_to_string(dir.path().join("stochastic-quadratic/summary.csv")).unwrap();
    let mut r = csv::Reader::from_reader(summary.as_bytes());
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut compared = Vec::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if rec[col("point")] != *"7" {
            continue;
        }
        compared.push(rec[col("method")].to_string());
        let entry = if &rec[col("method")] == "continuous" {
            "continuous"
        } else {
            "sgd-momentum"
        };
        let theory: f64 = rec[col("theory_noise_floor")].parse().unwrap();
        assert_eq!(
            theory,
            t.num("noise", entry, None, "noise_floor"),
            "{entry}"
        );
    }
    // Both of point 7's rows were compared (a summary without them must not pass).
    assert_eq!(compared, ["continuous", "sgd-momentum"]);

    let quiet = Table::of(&shipped("kth-poster.toml"), &[]);
    assert!(!quiet.has("noise", "noise", None, "sigma"));
}

#[test]
fn a_missing_spectrum_is_said_of_the_potential_asked_about() {
    // The scenario's expression has no minimum: its message reports Newton's search from
    // [particle] position. A library user's own potential in its place (here the same
    // expression built apart, whose spectrum is as unknown) is not the scenario's: its
    // message says only what that potential lacks.
    let text = r#"
[potential]
kind = "expression"
variables = ["x", "y"]
expression = "500*x^2 - y"
[particle]
mass = 1.0
friction = 1.0
position = [1.0, 0.0]
[continuous]
t_end = 5.0
[stop]
criterion = "gradient"
tolerance = 1e-8
"#;
    let file = Path::new("slope.toml");
    let s = heavyball::scenario::parse_str(text, file).unwrap();
    let own = heavyball::report::analyse(file, &s, 0).unwrap_err();
    assert_eq!(own.key, "potential");
    assert!(
        own.message.contains("is not known")
            && own
                .message
                .contains("Newton's method from [particle] position"),
        "{}",
        own.message
    );
    let variables = ["x".to_string(), "y".to_string()];
    let p = heavyball::potential::Expression::new(&variables, "500*x^2 - y", None).unwrap();
    let theirs = heavyball::report::analyse_with(file, &s, 0, &p).unwrap_err();
    assert_eq!(
        (theirs.key.as_str(), theirs.message.as_str()),
        (
            "potential",
            "the Hessian spectrum at the minimum of this potential is not known, and the closed forms (docs/theory.md §2-§5) need it"
        )
    );
}
