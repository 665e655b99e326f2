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

fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub(super) fn to_toml(s: &Scenario) -> String {
    let mut out = String::new();
    let o = &mut out;
    // `writeln!` into a String cannot fail.
    let _ = writeln!(o, "name = {}", string(&s.name));
    let _ = writeln!(o, "description = {}", string(&s.description));

    let _ = writeln!(o, "\n[potential]");
    match &s.potential {
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
    }

    let p = &s.particle;
    let _ = writeln!(o, "\n[particle]");
    let _ = writeln!(o, "mass = {}", num(p.mass));
    let _ = writeln!(o, "friction = {}", num(p.friction));
    let _ = writeln!(o, "position = {}", list(&p.position));
    let _ = writeln!(o, "velocity = {}", list(&p.velocity));

    if let Some(c) = &s.continuous {
        let _ = writeln!(o, "\n[continuous]");
        let _ = writeln!(o, "method = \"{}\"", c.method.as_str());
        let _ = writeln!(o, "rtol = {}", num(c.rtol));
        let _ = writeln!(o, "atol = {}", num(c.atol));
        let _ = writeln!(o, "t_end = {}", num(c.t_end));
        let _ = writeln!(o, "sample_interval = {}", num(c.sample_interval));
        if let Some(step) = c.step {
            let _ = writeln!(o, "step = {}", num(step));
        }
        let _ = writeln!(o, "max_steps = {}", c.max_steps);
    }

    for d in &s.discrete {
        let _ = writeln!(o, "\n[[discrete]]");
        let _ = writeln!(o, "label = {}", string(&d.label));
        let _ = writeln!(o, "scheme = \"{}\"", d.scheme.as_str());
        match d.params {
            DiscreteParams::FromParticle { dt, map } => {
                let _ = writeln!(o, "dt = {}", num(dt));
                if d.scheme == Scheme::HeavyBall {
                    let _ = writeln!(o, "map = \"{}\"", map.as_str());
                }
            }
            DiscreteParams::Explicit {
                learning_rate,
                momentum,
                dt,
            } => {
                let _ = writeln!(o, "learning_rate = {}", num(learning_rate));
                let _ = writeln!(o, "momentum = {}", num(momentum));
                let _ = writeln!(o, "dt = {}", num(dt));
            }
        }
        let _ = writeln!(o, "steps = {}", d.steps);
    }

    let _ = writeln!(o, "\n[stop]");
    let _ = writeln!(o, "criterion = \"{}\"", s.stop.criterion.as_str());
    let _ = writeln!(o, "tolerance = {}", num(s.stop.tolerance));
    let _ = writeln!(o, "divergence = {}", num(s.stop.divergence));
    out
}
