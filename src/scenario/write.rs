//! The resolved scenario as TOML text: every default written out, numbers in shortest
//! round-trip form, so that reading it back gives the same [`Scenario`].

use std::fmt::Write;

use super::*;

fn num(x: f64) -> String {
    // Debug is Rust's shortest round-trip form and always a valid TOML float ("2.0", "1e-10").
    format!("{x:?}")
}

fn list(xs: &[f64]) -> String {
    let items: Vec<String> = xs.iter().map(|x| num(*x)).collect();
    format!("[{}]", items.join(", "))
}

/// A state vector: one number when it fills more than 16 coordinates alike (SPEC: a
/// single number fills every coordinate), so a large problem's file stays readable.
fn state(xs: &[f64]) -> String {
    match xs.first() {
        Some(&x) if xs.len() > 16 && xs.iter().all(|y| y.to_bits() == x.to_bits()) => num(x),
        _ => list(xs),
    }
}

fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The scenario as TOML: the top-level keys, then a function per table.
pub(super) fn to_toml(s: &Scenario) -> String {
    let mut out = String::new();
    let o = &mut out;
    // `writeln!` into a String cannot fail.
    let _ = writeln!(o, "name = {}", string(&s.name));
    let _ = writeln!(o, "description = {}", string(&s.description));
    potential(o, &s.potential);
    particle(o, s);
    if let Some(c) = &s.continuous {
        continuous(o, s, c);
    }
    for d in &s.discrete {
        discrete(o, s, d);
    }
    stop(o, &s.stop);
    if let Some(g) = &s.gradient {
        gradient(o, g);
    }
    if s.output.coordinates.is_some() || s.output.plot {
        output(o, &s.output);
    }
    if let Some(sweep) = &s.sweep {
        write_sweep(o, sweep);
    }
    out
}

fn potential(o: &mut String, spec: &PotentialSpec) {
    let _ = writeln!(o, "\n[potential]");
    match spec {
        PotentialSpec::Quadratic { hessian, minimum } => {
            let _ = writeln!(o, "kind = \"quadratic\"");
            match hessian {
                HessianSpec::Dense(rows) => {
                    let rows: Vec<String> = rows.iter().map(|r| list(r)).collect();
                    let _ = writeln!(o, "hessian = [{}]", rows.join(", "));
                }
                HessianSpec::Diagonal(ev) => {
                    let _ = writeln!(o, "eigenvalues = {}", list(ev));
                }
            }
            let _ = writeln!(o, "minimum = {}", list(minimum));
        }
        PotentialSpec::Colorization {
            grid,
            colored,
            value,
        } => {
            let _ = writeln!(o, "kind = \"colorization\"");
            let _ = writeln!(o, "grid = [{}, {}]", grid.0, grid.1);
            let pixels: Vec<String> = colored.iter().map(|(r, c)| format!("[{r}, {c}]")).collect();
            let _ = writeln!(o, "colored = [{}]", pixels.join(", "));
            let _ = writeln!(o, "value = {}", num(*value));
        }
        PotentialSpec::Rosenbrock { a, b } => {
            let _ = writeln!(o, "kind = \"rosenbrock\"");
            let _ = writeln!(o, "a = {}", num(*a));
            let _ = writeln!(o, "b = {}", num(*b));
        }
        PotentialSpec::Expression {
            variables,
            expression,
            minimum,
        } => expression_potential(o, variables, expression, minimum),
        PotentialSpec::ConvexRosenbrock { n, kappa } => {
            let _ = writeln!(o, "kind = \"convex-rosenbrock\"");
            let _ = writeln!(o, "n = {n}");
            let _ = writeln!(o, "kappa = {}", num(*kappa));
        }
    }
}

fn expression_potential(
    o: &mut String,
    variables: &[String],
    expression: &str,
    minimum: &ExpressionMinimum,
) {
    let _ = writeln!(o, "kind = \"expression\"");
    let names: Vec<String> = variables.iter().map(|v| string(v)).collect();
    let _ = writeln!(o, "variables = [{}]", names.join(", "));
    let _ = writeln!(o, "expression = {}", string(expression));
    match minimum {
        ExpressionMinimum::Given(m) => {
            let _ = writeln!(o, "minimum = {}", list(m));
        }
        ExpressionMinimum::Found(m) => {
            let _ = writeln!(
                o,
                "# the local minimum Newton's method reaches from [particle] position"
            );
            let _ = writeln!(o, "minimum = {}", list(m));
        }
        ExpressionMinimum::Unknown(why) => {
            // One comment line, whatever the reason says.
            let why = why.replace(['\n', '\r'], " ");
            let _ = writeln!(
                o,
                "# no minimum: Newton's method from [particle] position {why}"
            );
        }
    }
}

fn particle(o: &mut String, s: &Scenario) {
    let p = &s.particle;
    let _ = writeln!(o, "\n[particle]");
    // Keys a sweep replaces are written once, in [sweep].
    if let (Some(m), false) = (p.mass, s.sweeps(AxisKey::Mass)) {
        let _ = writeln!(o, "mass = {}", num(m));
    }
    if let (Some(mu), false) = (p.friction, s.sweeps(AxisKey::Friction)) {
        let _ = writeln!(o, "friction = {}", num(mu));
    }
    let _ = writeln!(o, "position = {}", state(&p.position));
    let _ = writeln!(o, "velocity = {}", state(&p.velocity));
}

fn continuous(o: &mut String, s: &Scenario, c: &ContinuousSpec) {
    let _ = writeln!(o, "\n[continuous]");
    let _ = writeln!(o, "method = \"{}\"", c.method.as_str());
    let _ = writeln!(o, "rtol = {}", num(c.rtol));
    let _ = writeln!(o, "atol = {}", num(c.atol));
    let _ = writeln!(o, "t_end = {}", num(c.t_end));
    let _ = writeln!(o, "sample_interval = {}", num(c.sample_interval));
    if let Some(step) = c.step {
        let noisy = s.gradient.is_some_and(|g| g.noise > 0.0);
        let baoab = c.method == Method::Baoab || (c.method == Method::Auto && noisy);
        if let Some(h) = c.baoab_step().filter(|&h| baoab && h != step) {
            // Said, not silently done: rows fall on step ends.
            let _ = writeln!(
                o,
                "# baoab steps by {}, the largest step <= step that divides sample_interval",
                num(h)
            );
        }
        let _ = writeln!(o, "step = {}", num(step));
    }
    let _ = writeln!(o, "max_steps = {}", c.max_steps);
    let _ = writeln!(o, "model = \"{}\"", c.model.as_str());
}

fn discrete(o: &mut String, s: &Scenario, d: &DiscreteSpec) {
    let _ = writeln!(o, "\n[[discrete]]");
    let _ = writeln!(o, "label = {}", string(&d.label));
    let _ = writeln!(o, "scheme = \"{}\"", d.scheme.as_str());
    let _ = writeln!(o, "parameterization = \"{}\"", d.form.as_str());
    // Keys a sweep replaces are written once, in [sweep].
    if !s.sweeps(AxisKey::Dt) {
        let _ = writeln!(o, "dt = {}", num(d.params.dt()));
    }
    match d.params {
        DiscreteParams::FromParticle { map, .. } => {
            if d.scheme != Scheme::GradientDescent {
                let _ = writeln!(o, "map = \"{}\"", map.as_str());
            }
        }
        DiscreteParams::Explicit {
            learning_rate,
            momentum,
            ..
        } => {
            if !s.sweeps(AxisKey::LearningRate) {
                let _ = writeln!(o, "learning_rate = {}", num(learning_rate));
            }
            if !s.sweeps(AxisKey::Momentum) {
                let _ = writeln!(o, "momentum = {}", num(momentum));
            }
        }
    }
    // A defaulted budget stays a default (written as a comment), so that running this
    // file again says where the budget came from exactly as this run did.
    match (d.steps, s.continuous.as_ref()) {
        (Budget::Steps(n), _) => {
            let _ = writeln!(o, "steps = {n}");
        }
        (Budget::Horizon, Some(c)) if !s.sweeps(AxisKey::Dt) => {
            let n = crate::problem::horizon_steps(c.t_end, d.params.dt());
            let _ = writeln!(o, "# steps = {n}: the default, ceil(t_end/dt)");
        }
        (Budget::Horizon, _) => {
            let _ = writeln!(o, "# steps: the default, ceil(t_end/dt) at each point's dt");
        }
        (Budget::Default, _) => {
            let _ = writeln!(
                o,
                "# steps = {}: the default without [continuous]",
                crate::dynamics::DEFAULT_STEPS
            );
        }
    }
}

fn stop(o: &mut String, spec: &StopSpec) {
    let _ = writeln!(o, "\n[stop]");
    let _ = writeln!(o, "criterion = \"{}\"", spec.criterion.as_str());
    let _ = writeln!(o, "tolerance = {}", num(spec.tolerance));
    let _ = writeln!(o, "divergence = {}", num(spec.divergence));
}

fn gradient(o: &mut String, g: &GradientSpec) {
    let _ = writeln!(o, "\n[gradient]");
    let _ = writeln!(o, "noise = {}", num(g.noise));
    let _ = writeln!(o, "seed = {}", g.seed);
}

fn output(o: &mut String, spec: &crate::problem::OutputSpec) {
    let _ = writeln!(o, "\n[output]");
    if let Some(coordinates) = &spec.coordinates {
        let items: Vec<String> = coordinates.iter().map(usize::to_string).collect();
        let _ = writeln!(o, "coordinates = [{}]", items.join(", "));
    }
    if spec.plot {
        let _ = writeln!(o, "plot = true");
    }
}

fn write_sweep(o: &mut String, sweep: &Sweep) {
    let _ = writeln!(o, "\n[sweep]");
    for a in &sweep.axes {
        let form = match &a.spec {
            AxisSpec::Logspace { start, stop, count }
            | AxisSpec::Linspace { start, stop, count } => {
                format!("[{}, {}, {count}]", num(*start), num(*stop))
            }
            AxisSpec::Values(v) => list(v),
        };
        let _ = writeln!(o, "{} = {{ {} = {form} }}", a.key.as_str(), a.spec.form());
    }
}
