//! From spanned TOML to a resolved [`Scenario`]: schema, rules and defaults of SPEC.md.

use std::path::Path;

use super::reader::{Num, NumOrArray, Source, TableReader, parse_document};
use super::*;
use crate::dynamics::{DEFAULT_MAX_STEPS, MIN_RTOL};
use crate::error::InputError;
use crate::potential::Expression;

type Result<T> = std::result::Result<T, InputError>;

/// Most rows a single run writes per file (a typo in an interval must not fill the disk).
const MAX_ROWS: f64 = crate::dynamics::MAX_ROWS as f64;
/// Most solver steps of a continuous run: a budget beyond it is a typo (10⁸ steps of a
/// small problem already take minutes).
const MAX_SOLVER_STEPS: f64 = 1e8;

/// The keys and tables a scenario file may have at the top level.
const TOP_LEVEL_KEYS: [&str; 10] = [
    "name",
    "description",
    "potential",
    "particle",
    "continuous",
    "discrete",
    "stop",
    "sweep",
    "gradient",
    "output",
];

/// Parses and resolves scenario text; `file` names it in errors and gives the default name.
pub fn parse_str(text: &str, file: &Path) -> Result<Scenario> {
    let src = Source { file, text };
    let doc = parse_document(&src, text)?;
    let root = TableReader {
        src: &src,
        table: doc.get_ref(),
        path: String::new(),
        span: 0..0,
    };
    root.check_keys(&TOP_LEVEL_KEYS)?;
    // The tables are read in this order, so a file with several defects reports the first.
    let name = scenario_name(&root, file)?;
    let description = root
        .string("description")?
        .map(|(d, _)| d)
        .unwrap_or_default();

    let sweep = root.table("sweep")?.map(|t| sweep(&t)).transpose()?;

    let potential_table = root
        .table("potential")?
        .ok_or_else(|| root.missing("potential", "a [potential] table is required"))?;
    let potential = potential(&potential_table)?;
    let n = potential.dim();

    let gradient = root.table("gradient")?.map(|t| gradient(&t)).transpose()?;
    let noisy = gradient.is_some_and(|g| g.noise > 0.0);
    let continuous = continuous_table(&root, n, noisy)?;
    let model = continuous.as_ref().map_or(Model::HeavyBall, |c| c.model);
    check_nesterov_sweep(&root, model, sweep.as_ref())?;

    let particle_table = root
        .table("particle")?
        .ok_or_else(|| root.missing("particle", "a [particle] table is required"))?;
    check_particle_and_rate_axes(&root, &particle_table, continuous.as_ref(), sweep.as_ref())?;
    let twin = first_entry_twin(&root, &particle_table, continuous.as_ref(), sweep.as_ref())?;
    let entries = root.tables("discrete")?;
    let particleless = particleless(&entries, continuous.as_ref());
    let particle = particle(
        &particle_table,
        n,
        sweep.as_ref(),
        model,
        twin.as_ref(),
        &particleless,
    )?;
    // The position is never swept: one search serves every point.
    let potential = find_minimum(potential, &particle.position);
    let t_end = continuous.as_ref().map(|c| c.t_end);
    let discrete = discrete_entries(&root, &particle, t_end, sweep.as_ref(), twin.as_ref())?;
    check_sweep_discrete(&root, sweep.as_ref(), &discrete, t_end)?;
    if sweep.is_none() {
        check_total_rows(&root, continuous.as_ref(), &discrete)?;
    }
    let stop = root.table("stop")?.map(|t| stop(&t)).transpose()?;
    let stop = stop.unwrap_or_default();
    check_criterion_minimum(
        &potential,
        stop.criterion,
        &potential_table,
        root.table("stop")?.as_ref(),
    )?;
    let output = root.table("output")?.map(|t| output(&t, n)).transpose()?;
    let output = output.unwrap_or_default();
    Ok(Scenario {
        name,
        description,
        potential,
        particle,
        continuous,
        discrete,
        stop,
        output,
        gradient,
        sweep,
    })
}

/// Where a scenario file's `name` value stands (1-based line and column), for errors about
/// the name found after the file was read (two files of a batch with the same name); None
/// when the name is the file's stem or the file no longer reads.
pub(crate) fn name_position(file: &Path) -> Option<(usize, usize)> {
    let text = std::fs::read_to_string(file).ok()?;
    let src = Source { file, text: &text };
    let doc = parse_document(&src, &text).ok()?;
    let value = doc.get_ref().get("name")?;
    Some(src.position(value.span().start))
}

/// `name`, or the file's stem when there is none; either must be a usable folder name.
fn scenario_name(root: &TableReader<'_, '_>, file: &Path) -> Result<String> {
    match root.string("name")? {
        Some((name, span)) => {
            check_name(&name).map_err(|e| root.error_at("name", span, e.to_string()))?;
            Ok(name)
        }
        None => {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            check_name(&stem).map_err(|e| {
                root.error(
                    "name",
                    format!("the file name gives no usable default: {e}"),
                )
            })?;
            Ok(stem)
        }
    }
}

/// `[continuous]`, where there is one, for a potential of `n` coordinates.
fn continuous_table(
    root: &TableReader<'_, '_>,
    n: usize,
    noisy: bool,
) -> Result<Option<ContinuousSpec>> {
    let Some(t) = root.table("continuous")? else {
        return Ok(None);
    };
    let c = continuous(&t, noisy)?;
    let most = crate::dynamics::continuous::MAX_BDF_DIM;
    if c.method == Method::Bdf && n > most {
        return Err(t.error(
            "method",
            format!(
                "bdf factorises a dense Jacobian of the state (n^2 numbers for gradient flow, (2n)^2 with mass): n = {n} coordinates is beyond the {most} it takes; use dopri5 (or auto, which keeps to dopri5 there)"
            ),
        ));
    }
    Ok(Some(c))
}

/// The Nesterov ODE has no friction and no twin to sweep, and needs m > 0 everywhere.
fn check_nesterov_sweep(
    root: &TableReader<'_, '_>,
    model: Model,
    sweep: Option<&Sweep>,
) -> Result<()> {
    let (Model::Nesterov, Some(sweep_table)) = (model, root.table("sweep")?) else {
        return Ok(());
    };
    for key in [AxisKey::Friction, AxisKey::LearningRate, AxisKey::Momentum] {
        if sweep.is_some_and(|s| s.sweeps(key)) {
            return Err(sweep_table.error(
                key.as_str(),
                "continuous.model = \"nesterov\" has no friction (it is 3m/t) and no physical twin of an (eps, p) point to sweep",
            ));
        }
    }
    let masses = sweep.and_then(|s| s.axis(AxisKey::Mass));
    if let Some(zero) = masses.and_then(|a| a.spec.values().find(|&m| m <= 0.0)) {
        return Err(sweep_table.error(
            "mass",
            format!("the Nesterov ODE w'' + (3/t) w' = -grad E / m needs m > 0 at every point, and this axis has {zero:?}"),
        ));
    }
    Ok(())
}

/// The continuous particle a learning-rate × momentum sweep or a single run can take from
/// the first `[[discrete]]` entry: its (ε, p, Δt) (at point 0 of a sweep) and the twin
/// `m = pΔt²/ε`, `μ = (1 − p)Δt/ε` they stand for, where there is one.
struct Twin {
    scheme: Scheme,
    c: crate::dynamics::maps::Coefficients,
}

impl Twin {
    /// The twin's values, or why there is none, as every twin-related message says them.
    fn describe(&self) -> String {
        crate::problem::twin_description(self.scheme, &self.c)
    }
}

/// The first entry's twin, where the continuous particle may be it: under a learning-rate
/// or momentum sweep (always), or in a heavy-ball `[continuous]` run whose `[particle]`
/// lacks mass or friction (neither swept) and whose first entry gives `learning_rate`.
fn first_entry_twin(
    root: &TableReader<'_, '_>,
    particle: &TableReader<'_, '_>,
    continuous: Option<&ContinuousSpec>,
    sweep: Option<&Sweep>,
) -> Result<Option<Twin>> {
    let swept = |key: AxisKey| sweep.is_some_and(|s| s.sweeps(key));
    let rate_sweep = swept(AxisKey::LearningRate) || swept(AxisKey::Momentum);
    let single = continuous.is_some_and(|c| c.model == Model::HeavyBall)
        && (!particle.has("mass") || !particle.has("friction"))
        && !swept(AxisKey::Mass)
        && !swept(AxisKey::Friction);
    if !(rate_sweep || single) {
        return Ok(None);
    }
    let tables = root.tables("discrete")?;
    let Some(t) = tables.first() else {
        return Ok(None);
    };
    if !rate_sweep && !t.has("learning_rate") {
        return Ok(None);
    }
    let (scheme, form) = scheme_and_form(t)?;
    let none = Particle {
        mass: None,
        friction: None,
        position: Vec::new(),
        velocity: Vec::new(),
    };
    let params = discrete_params(t, scheme, &none, sweep)?;
    let form = form.unwrap_or(Form::PyTorch);
    let c = crate::dynamics::maps::coefficients(scheme, form, params, None);
    Ok(Some(Twin { scheme, c }))
}

/// A mass or friction axis beside a learning-rate or momentum axis is refused: the latter
/// makes the continuous particle the first entry's twin at every point. The error names
/// the twin's values at point 0 where the entry gives them.
fn check_particle_and_rate_axes(
    root: &TableReader<'_, '_>,
    particle: &TableReader<'_, '_>,
    continuous: Option<&ContinuousSpec>,
    sweep: Option<&Sweep>,
) -> Result<()> {
    let (Some(sweep), Some(table)) = (sweep, root.table("sweep")?) else {
        return Ok(());
    };
    let find = |keys: [AxisKey; 2]| keys.into_iter().find(|&k| sweep.sweeps(k));
    let (Some(p), Some(r)) = (
        find([AxisKey::Mass, AxisKey::Friction]),
        find([AxisKey::LearningRate, AxisKey::Momentum]),
    ) else {
        return Ok(());
    };
    // The entry's own defects are reported once this one is fixed.
    let twin = first_entry_twin(root, particle, continuous, sweep.into())
        .ok()
        .flatten()
        .map_or(String::new(), |tw| {
            format!(" (at point 0: {})", tw.describe())
        });
    Err(table.error(
        p.as_str(),
        format!(
            "cannot be swept together with {}: a learning_rate/momentum sweep makes the continuous particle the twin of the first discrete entry at every point, m = p dt^2/eps, mu = (1 - p) dt/eps{twin}; sweep {} with the entries derived from the particle (dt and a map), or {} alone",
            r.as_str(),
            p.as_str(),
            r.as_str()
        ),
    ))
}

/// Every `[[discrete]]` entry, in file order; labels must differ. Where the continuous
/// particle is the first entry's twin, no entry can derive (ε, p) from it by a map.
fn discrete_entries(
    root: &TableReader<'_, '_>,
    particle: &Particle,
    t_end: Option<f64>,
    sweep: Option<&Sweep>,
    twin: Option<&Twin>,
) -> Result<Vec<DiscreteSpec>> {
    let mut discrete = Vec::new();
    for (i, t) in root.tables("discrete")?.iter().enumerate() {
        let d = discrete_entry(t, i + 1, particle, t_end, sweep)?;
        if let (DiscreteParams::FromParticle { .. }, None, None) = (d.params, particle.mass, twin) {
            // No twin to name: the particle is left out because other entries need none.
            return Err(map_without_particle(t, i + 1));
        }
        if let (DiscreteParams::FromParticle { .. }, None, Some(twin)) =
            (d.params, particle.mass, twin)
        {
            return Err(t.error(
                "dt",
                format!(
                    "a map derives (eps, p) from [particle] mass and friction, which are not given: {}; give this entry learning_rate and momentum, or [particle] mass and friction",
                    twin.describe()
                ),
            ));
        }
        if discrete.iter().any(|e: &DiscreteSpec| e.label == d.label) {
            return Err(t.error("label", format!("duplicate label \"{}\"", d.label)));
        }
        if d.label == crate::dynamics::CONTINUOUS_LABEL {
            return Err(t.error("label", crate::dynamics::RESERVED_LABEL));
        }
        discrete.push(d);
    }
    Ok(discrete)
}

/// The sweep's discrete axes need entries to replace, and a swept dt a bounded default
/// step count.
fn check_sweep_discrete(
    root: &TableReader<'_, '_>,
    sweep: Option<&Sweep>,
    discrete: &[DiscreteSpec],
    t_end: Option<f64>,
) -> Result<()> {
    let Some(sweep_table) = root.table("sweep")? else {
        return Ok(());
    };
    let swept = |key: AxisKey| sweep.is_some_and(|s| s.sweeps(key));
    let sweep_error =
        |key: AxisKey, why: &str| Err(sweep_table.error(key.as_str(), why.to_string()));
    if discrete.is_empty() {
        for key in [AxisKey::Dt, AxisKey::LearningRate, AxisKey::Momentum] {
            if swept(key) {
                return sweep_error(key, "there is no [[discrete]] entry for it to replace");
            }
        }
    }
    if let (Some(axis), Some(t_end)) = (sweep.and_then(|s| s.axis(AxisKey::Dt)), t_end) {
        // Entries without steps take ceil(t_end/dt) at each point; the smallest dt the most.
        let smallest = axis.spec.values().fold(f64::INFINITY, f64::min);
        let most = (t_end / smallest).ceil();
        if discrete.iter().any(|d| d.steps == Budget::Horizon) && most > MAX_ROWS {
            return sweep_error(
                AxisKey::Dt,
                &format!(
                    "t_end/dt = {most:e} steps by default at dt = {smallest:?}, more than {MAX_ROWS:e}; give the entries steps or sweep larger dt"
                ),
            );
        }
    }
    if swept(AxisKey::Momentum) && discrete.iter().all(|d| d.scheme == Scheme::GradientDescent) {
        return sweep_error(
            AxisKey::Momentum,
            "no heavy-ball or nesterov entry has a momentum to replace (gradient-descent has none)",
        );
    }
    Ok(())
}

/// Most trajectory rows one single run may write in all: each entry may take up to
/// [`MAX_ROWS`] steps, and with a continuous run its comparison rows again; several entries
/// together may not make it many times that (eight entries of 10⁷ steps wrote ~7 GB).
const MAX_TOTAL_ROWS: f64 = 3.0 * MAX_ROWS;

/// A single run's trajectory rows in all — `discrete.csv` (each entry's budget + 1),
/// `continuous.csv` and `comparison.csv` — within [`MAX_TOTAL_ROWS`], before anything runs;
/// the error points at the entry whose budget passes it.
fn check_total_rows(
    root: &TableReader<'_, '_>,
    continuous: Option<&ContinuousSpec>,
    discrete: &[DiscreteSpec],
) -> Result<()> {
    let mut rows = continuous.map_or(0.0, |c| (c.t_end / c.sample_interval).ceil() + 2.0);
    let per_step = if continuous.is_some() { 2.0 } else { 1.0 };
    for (i, d) in discrete.iter().enumerate() {
        let steps = match (d.steps, continuous) {
            (Budget::Steps(n), _) => n,
            (Budget::Horizon, Some(c)) => crate::problem::horizon_steps(c.t_end, d.params.dt()),
            _ => crate::dynamics::DEFAULT_STEPS,
        };
        rows += per_step * (steps as f64 + 1.0);
        if rows > MAX_TOTAL_ROWS {
            let tables = root.tables("discrete")?;
            let t = &tables[i];
            let key = if t.has("steps") { "steps" } else { "dt" };
            let what = if continuous.is_some() {
                " (discrete.csv and comparison.csv rows, with continuous.csv's)"
            } else {
                ""
            };
            return Err(t.error(
                key,
                format!(
                    "the entries up to this one would write {rows:e} trajectory rows{what}, more than {MAX_TOTAL_ROWS:e} for one scenario (about 3 GB); give fewer steps, or run the entries as separate scenarios"
                ),
            ));
        }
    }
    Ok(())
}

/// An expression's `variables`: an array of distinct names (errors at the one that is not).
fn variables(t: &TableReader<'_, '_>) -> Result<Vec<String>> {
    let mut spans = Vec::new();
    let variables = match t.get("variables").map(|v| v.get_ref()) {
        None => {
            return Err(t.missing(
                "variables",
                "the coordinate names, e.g. variables = [\"x\", \"y\"]",
            ));
        }
        Some(toml::de::DeValue::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items.iter() {
                match item.get_ref() {
                    toml::de::DeValue::String(s) => {
                        names.push(s.to_string());
                        spans.push(item.span());
                    }
                    _ => {
                        return Err(t.error_at(
                            "variables",
                            item.span(),
                            "must be an array of names (strings)",
                        ));
                    }
                }
            }
            names
        }
        Some(_) => return Err(t.error("variables", "must be an array of names (strings)")),
    };
    if let Err((index, e)) = crate::potential::check_variables(&variables) {
        return Err(match index.and_then(|i| spans.get(i)) {
            Some(at) => t.error_at("variables", at.clone(), e.message),
            None => t.error("variables", e.message),
        });
    }
    Ok(variables)
}

/// `kind = "expression"`: `variables`, `expression`, optional `minimum`; the formula is
/// parsed and differentiated here, so its errors point into the file.
fn expression(t: &TableReader<'_, '_>) -> Result<PotentialSpec> {
    t.check_keys(&["kind", "variables", "expression", "minimum"])?;
    let variables = variables(t)?;
    let (text, span) = t.string("expression")?.ok_or_else(|| {
        t.missing(
            "expression",
            "the formula, e.g. expression = \"(x^2 - 1)^2 + 0.3*x\"",
        )
    })?;
    let minimum_span = t.get("minimum").map(|v| v.span());
    let minimum = match t.num_array("minimum")? {
        Some((m, mspan)) if m.len() != variables.len() => {
            return Err(t.error_at(
                "minimum",
                mspan,
                format!(
                    "has {} entries, there are {} variables",
                    m.len(),
                    variables.len()
                ),
            ));
        }
        Some((m, _)) => Some(m),
        None => None,
    };
    if let Err(e) = Expression::new(&variables, &text, minimum.clone()) {
        // Point inside the string where the formula says (a basic string: one quote, no
        // escapes shift the offsets in practice), else at the string.
        let at = match e.span {
            Some(r) if span.end > span.start + 1 => {
                let s = (span.start + 1 + r.start).min(span.end);
                s..(span.start + 1 + r.end).min(span.end).max(s)
            }
            _ => span,
        };
        return Err(match minimum_span {
            Some(m) if e.message.contains("minimum") => t.error_at("minimum", m, e.message),
            _ => t.error_at("expression", at, e.message),
        });
    }
    Ok(PotentialSpec::Expression {
        variables,
        expression: text,
        // Without a given minimum, `find_minimum` fills this in once the position is read.
        minimum: minimum.map_or_else(
            || ExpressionMinimum::Unknown(String::new()),
            ExpressionMinimum::Given,
        ),
    })
}

/// An expression's minimum once `[particle] position` is known: without a given minimum,
/// the one Newton's method reaches from the position (or why there is none). A given
/// minimum stays, marked found when it is bit for bit that point, so that a resolved
/// `scenario.toml`, which writes a found minimum out, reads back as it was written.
fn find_minimum(spec: PotentialSpec, position: &[f64]) -> PotentialSpec {
    let PotentialSpec::Expression {
        variables,
        expression,
        minimum,
    } = spec
    else {
        return spec;
    };
    let found = Expression::new(&variables, &expression, None)
        .expect("validated when the potential was read")
        .find_minimum(position);
    let same = |a: &[f64], b: &[f64]| {
        a.iter()
            .map(|x| x.to_bits())
            .eq(b.iter().map(|x| x.to_bits()))
    };
    let minimum = match (minimum, found) {
        (ExpressionMinimum::Given(w), Ok(f)) if same(&w, &f) => ExpressionMinimum::Found(f),
        (ExpressionMinimum::Given(w), _) => ExpressionMinimum::Given(w),
        (_, Ok(f)) => ExpressionMinimum::Found(f),
        (_, Err(why)) => ExpressionMinimum::Unknown(why.to_string()),
    };
    PotentialSpec::Expression {
        variables,
        expression,
        minimum,
    }
}

/// A stop criterion that measures from w* or E* (all but `gradient`) needs a known
/// minimum: refused, with Newton's reason, where the potential has none. The error points
/// at `stop.criterion`, or at the expression when the criterion is the default.
fn check_criterion_minimum(
    potential: &PotentialSpec,
    criterion: Criterion,
    potential_table: &TableReader<'_, '_>,
    stop_table: Option<&TableReader<'_, '_>>,
) -> Result<()> {
    let PotentialSpec::Expression {
        minimum: ExpressionMinimum::Unknown(why),
        ..
    } = potential
    else {
        return Ok(());
    };
    let needs = match criterion {
        Criterion::Gradient => return Ok(()),
        Criterion::Distance => "is |w - w*|, which needs the minimum w*",
        Criterion::Loss => "is E - E*, which needs E* = E(w*)",
        Criterion::Energy => "is sqrt(m|v|^2 + 2(E - E*)), which needs E* = E(w*)",
    };
    let reason = format!("no minimum is given, and Newton's method from [particle] position {why}");
    Err(match stop_table.filter(|t| t.has("criterion")) {
        Some(t) => t.error(
            "criterion",
            format!(
                "\"{}\" {needs}: {reason}; give [potential] minimum = [...], or use criterion = \"gradient\"",
                criterion.as_str()
            ),
        ),
        None => potential_table.error(
            "expression",
            format!(
                "the default stop criterion \"distance\" {needs}: {reason}; give minimum = [...], or set [stop] criterion = \"gradient\""
            ),
        ),
    })
}

/// `[gradient]`: `noise` (σ ≥ 0, required) and `seed` (default 0).
fn gradient(t: &TableReader<'_, '_>) -> Result<GradientSpec> {
    t.check_keys(&["noise", "seed"])?;
    let noise = t
        .num("noise")?
        .ok_or_else(|| t.missing("noise", "the noise's standard deviation, e.g. noise = 0.1"))?;
    if noise.value < 0.0 {
        return Err(t.error_at(
            "noise",
            noise.span.clone(),
            format!("must be >= 0, got {}", t.src.snippet(&noise.span)),
        ));
    }
    if noise.value > 0.0 && noise.value < f64::MIN_POSITIVE {
        // σ√Δt would underflow to 0: a continuous run without noise beside noisy steps.
        return Err(t.error_at(
            "noise",
            noise.span.clone(),
            format!(
                "must be 0 or at least the smallest normal number, {:e}, got {}",
                f64::MIN_POSITIVE,
                t.src.snippet(&noise.span)
            ),
        ));
    }
    let seed = t.uint("seed")?.map_or(0, |(s, _)| s);
    Ok(GradientSpec {
        noise: noise.value,
        seed,
    })
}

/// `[output]`: `coordinates` (1-based, distinct, within n); `plot` (a boolean).
fn output(t: &TableReader<'_, '_>, n: usize) -> Result<OutputSpec> {
    t.check_keys(&["coordinates", "plot"])?;
    let plot = plot_flag(t)?;
    let Some(items) = t.num_items("coordinates")? else {
        return Ok(OutputSpec {
            coordinates: None,
            plot,
        });
    };
    let mut coordinates = Vec::with_capacity(items.len());
    for item in &items {
        let i = item.value;
        if i.fract() != 0.0 || i < 1.0 || i > n as f64 {
            return Err(t.error_at(
                "coordinates",
                item.span.clone(),
                format!(
                    "must be whole numbers from 1 to n = {n} (1-based), got {}",
                    t.src.snippet(&item.span)
                ),
            ));
        }
        if coordinates.contains(&(i as usize)) {
            return Err(t.error_at(
                "coordinates",
                item.span.clone(),
                format!("coordinate {i} is listed twice"),
            ));
        }
        coordinates.push(i as usize);
    }
    Ok(OutputSpec {
        coordinates: Some(coordinates),
        plot,
    })
}

/// `[output] plot`: true draws the figures at the end of the run.
fn plot_flag(t: &TableReader<'_, '_>) -> Result<bool> {
    match t.get("plot").map(|v| v.get_ref()) {
        None => Ok(false),
        Some(toml::de::DeValue::Boolean(b)) => Ok(*b),
        Some(_) => Err(t.error("plot", "must be true or false")),
    }
}

/// Most points of one grid (a typo in a count must not fill the disk).
const MAX_POINTS: f64 = 1e8;

/// The `[sweep]` table: its axes in grid order, each value checked against the rule of the
/// key it replaces.
fn sweep(t: &TableReader<'_, '_>) -> Result<Sweep> {
    let names: Vec<&str> = AxisKey::ALL.iter().map(|k| k.as_str()).collect();
    t.check_keys(&names)?;
    let mut drafts = Vec::new();
    for key in AxisKey::ALL {
        if let Some(a) = t.table(key.as_str())? {
            let (spec, spans) = axis_spec(&a)?;
            drafts.push((a, key, spec, spans));
        }
    }
    if drafts.is_empty() {
        return Err(t.src.error(
            Some(t.span.clone()),
            "sweep",
            format!("has no axis; give one or more of {}", names.join(", ")),
        ));
    }
    // Counted before any value is computed: a typo in a count must not eat the memory.
    let points: f64 = drafts.iter().map(|d| d.2.len() as f64).product();
    if points > MAX_POINTS {
        return Err(t.src.error(
            Some(t.span.clone()),
            "sweep",
            format!("the grid has {points:e} points, more than {MAX_POINTS:e}; split it into several scenarios"),
        ));
    }
    let axes = drafts
        .into_iter()
        .map(|(a, key, spec, spans)| axis_values(&a, key, spec, spans))
        .collect::<Result<Vec<Axis>>>()?;
    Ok(Sweep { axes })
}

/// Where an axis' values stand in the file: each its own (`values`), or all in one array.
enum Spans {
    Each(Vec<std::ops::Range<usize>>),
    One(std::ops::Range<usize>),
}

/// One axis as written: exactly one of `logspace = [a, b, n]`, `linspace = [a, b, n]`,
/// `values = [...]`.
fn axis_spec(t: &TableReader<'_, '_>) -> Result<(AxisSpec, Spans)> {
    let forms = ["logspace", "linspace", "values"];
    t.check_keys(&forms)?;
    let given: Vec<&str> = forms.iter().copied().filter(|f| t.has(f)).collect();
    let form = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(t.src.error(
                Some(t.span.clone()),
                t.path.clone(),
                "give one of logspace = [a, b, n], linspace = [a, b, n] or values = [...]",
            ));
        }
        [_, second, ..] => {
            return Err(t.error(second, format!("give only one of {}", given.join(", "))));
        }
    };
    let items = t.num_items(form)?.expect("present");
    if form == "values" {
        if items.is_empty() {
            return Err(t.error("values", "must list at least one value"));
        }
        let values = items.iter().map(|n| n.value).collect();
        let spans = items.into_iter().map(|n| n.span).collect();
        return Ok((AxisSpec::Values(values), Spans::Each(spans)));
    }
    if items.len() != 3 {
        return Err(t.error(
            form,
            format!("must be [start, stop, count], got {} entries", items.len()),
        ));
    }
    let c = &items[2];
    if c.value < 1.0 || c.value.fract() != 0.0 || c.value > MAX_POINTS {
        return Err(t.error_at(
            &format!("{form}[3]"),
            c.span.clone(),
            format!(
                "the count must be a whole number from 1 to {MAX_POINTS:e}, got {}",
                t.src.snippet(&c.span)
            ),
        ));
    }
    let (start, stop, count) = (items[0].value, items[1].value, c.value as u64);
    if !(stop - start).is_finite() {
        return Err(t.error(form, "stop - start overflows a double; narrow the range"));
    }
    let spec = if form == "logspace" {
        AxisSpec::Logspace { start, stop, count }
    } else {
        AxisSpec::Linspace { start, stop, count }
    };
    Ok((spec, Spans::One(t.get(form).expect("present").span())))
}

/// An axis' values, each checked against the rule of the key it replaces.
fn axis_values(
    t: &TableReader<'_, '_>,
    key: AxisKey,
    spec: AxisSpec,
    spans: Spans,
) -> Result<Axis> {
    let form = spec.form();
    let broken = |x: f64| {
        let rule = match key {
            // 10^x below the normal range: a mass of 0 would run the massless limit, a
            // subnormal one on 1 to 15 significant digits.
            _ if form == "logspace" && x < f64::MIN_POSITIVE => {
                "10^x underflows a double (x must stay above -307.65)"
            }
            AxisKey::Mass if x < 0.0 => "mass must be >= 0",
            AxisKey::Friction if x <= 0.0 => "friction must be > 0",
            AxisKey::Dt if x <= 0.0 => "dt must be > 0",
            _ if !x.is_finite() && form == "logspace" => {
                "10^x overflows a double (|x| must stay below 308)"
            }
            _ if !x.is_finite() => "every value must be finite",
            _ => return None,
        };
        Some(rule)
    };
    let first = first_broken(&spec, |x| broken(x).is_some()).map(|i| i as usize);
    if let Some(i) = first {
        let x = spec.value(i as u64);
        let rule = broken(x).expect("the first value that breaks a rule");
        let (key, span, what) = match &spans {
            Spans::Each(each) => (
                format!("values[{}]", i + 1),
                each[i].clone(),
                "got".to_string(),
            ),
            Spans::One(span) => (
                form.to_string(),
                span.clone(),
                format!("but its value {} of {} is", i + 1, spec.len()),
            ),
        };
        return Err(t.error_at(&key, span, format!("{rule}, {what} {x:?}")));
    }
    Ok(Axis { key, spec })
}

/// The index of the first value of `spec` for which `breaks` holds. A linspace or logspace
/// runs monotonically from its first value to its last, and every rule on an axis is a
/// threshold, so the values that break one are a prefix or a suffix: the ends say whether
/// there are any, and a bisection finds the first (a 1e8-value logspace is 1e8 `pow`s, ten
/// seconds, when scanned). A list of values is scanned.
fn first_broken(spec: &AxisSpec, breaks: impl Fn(f64) -> bool) -> Option<u64> {
    if let AxisSpec::Values(v) = spec {
        return v.iter().position(|&x| breaks(x)).map(|i| i as u64);
    }
    let last = spec.len() - 1;
    if breaks(spec.value(0)) {
        return Some(0);
    }
    if !breaks(spec.value(last)) {
        return None;
    }
    // value(lo) passes, value(hi) breaks.
    let (mut lo, mut hi) = (0, last);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if breaks(spec.value(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Why a name is no usable folder name.
#[derive(Debug, thiserror::Error)]
enum BadName {
    #[error("must not be empty")]
    Empty,
    #[error("must not start with '.', got \"{0}\"")]
    Hidden(String),
    #[error(
        "must be a plain folder name (no '/', '\\', control characters or any of <>:\"|?*), got \"{0}\""
    )]
    NotPlain(String),
    #[error(
        "is {0} bytes long; at most {MAX_NAME_BYTES} (the result's folder, and its hidden .NAME.partial-PID beside it, must fit every file system's 255)"
    )]
    TooLong(usize),
    #[error(
        "\"{0}\" is a device name on Windows (CON, PRN, AUX, NUL, COM1–9, LPT1–9, with or without an extension): no folder can have it there"
    )]
    Device(String),
    #[error("must not end with '.' or ' ' (Windows drops them from a folder's name), got \"{0}\"")]
    TrailingDot(String),
}

/// Whether Windows reserves `name` for a device: its part before the first '.', trimmed of
/// trailing spaces, is one of the device names in any case.
fn windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    let stem = stem.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix).is_some_and(|d| {
            matches!(
                d,
                "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
            )
        })
    };
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL") || numbered("COM") || numbered("LPT")
}

/// The longest scenario name, in bytes: a result folder is written as
/// `.NAME.partial-PID` (up to 30 bytes more) before it is renamed, and file systems take 255.
const MAX_NAME_BYTES: usize = 200;

/// A name must be usable as one folder under the output root, on every file system.
fn check_name(name: &str) -> std::result::Result<(), BadName> {
    let odd = |c: char| c.is_control() || "/\\<>:\"|?*".contains(c);
    if name.is_empty() {
        Err(BadName::Empty)
    } else if name.starts_with('.') {
        Err(BadName::Hidden(name.into()))
    } else if name.contains(odd) {
        Err(BadName::NotPlain(name.into()))
    } else if name.len() > MAX_NAME_BYTES {
        Err(BadName::TooLong(name.len()))
    } else if windows_device(name) {
        Err(BadName::Device(name.into()))
    } else if name.ends_with(['.', ' ']) {
        Err(BadName::TrailingDot(name.into()))
    } else {
        Ok(())
    }
}

/// Picks one of `options` by name; unknown or not-yet-supported names are errors.
fn choice<T: Copy>(
    t: &TableReader<'_, '_>,
    key: &str,
    options: &[(&str, T)],
    later: &[&str],
) -> Result<Option<T>> {
    let Some((value, span)) = t.string(key)? else {
        return Ok(None);
    };
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
        return Ok(Some(*v));
    }
    if later.contains(&value.as_str()) {
        return Err(t.error_at(
            key,
            span,
            format!("\"{value}\" is not supported by this version yet"),
        ));
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    Err(t.error_at(
        key,
        span,
        format!(
            "unknown {key} \"{value}\"; expected one of {}",
            names.join(", ")
        ),
    ))
}

fn positive(t: &TableReader<'_, '_>, key: &str, n: &Num) -> Result<f64> {
    if n.value > 0.0 {
        Ok(n.value)
    } else {
        Err(t.error_at(
            key,
            n.span.clone(),
            format!("must be > 0, got {}", t.src.snippet(&n.span)),
        ))
    }
}

fn positive_opt(t: &TableReader<'_, '_>, key: &str) -> Result<Option<f64>> {
    t.num(key)?.map(|n| positive(t, key, &n)).transpose()
}

/// The potential kinds this version builds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Quadratic,
    Colorization,
    Rosenbrock,
    ConvexRosenbrock,
    Expression,
}

/// Largest colorization grid (pixels) or convex-Rosenbrock dimension: a sparse Hessian of
/// ~60 bytes a pixel and a few state vectors stay within a workstation's memory.
const MAX_PIXELS: f64 = 1e8;

fn potential(t: &TableReader<'_, '_>) -> Result<PotentialSpec> {
    let kind = choice(
        t,
        "kind",
        &[
            ("quadratic", Kind::Quadratic),
            ("colorization", Kind::Colorization),
            ("rosenbrock", Kind::Rosenbrock),
            ("convex-rosenbrock", Kind::ConvexRosenbrock),
            ("expression", Kind::Expression),
        ],
        &[],
    )?
    .ok_or_else(|| t.missing("kind", "say which potential, e.g. kind = \"quadratic\""))?;
    match kind {
        Kind::Quadratic => quadratic(t),
        Kind::Colorization => colorization(t),
        Kind::Rosenbrock => {
            t.check_keys(&["kind", "a", "b"])?;
            let a = t.num("a")?.map_or(1.0, |n| n.value);
            let b = positive_opt(t, "b")?.unwrap_or(100.0);
            // Its own checks (the Hessian's bound), at check time, at the key they name.
            if let Err(crate::potential::PotentialError::OutOfRange { what, rule, value }) =
                crate::potential::Rosenbrock::new(a, b)
            {
                return Err(t.error(what, format!("must be {rule}, got {value:?}")));
            }
            Ok(PotentialSpec::Rosenbrock { a, b })
        }
        Kind::Expression => expression(t),
        Kind::ConvexRosenbrock => {
            t.check_keys(&["kind", "n", "kappa"])?;
            let (n, span) = t
                .uint("n")?
                .ok_or_else(|| t.missing("n", "the dimension, e.g. n = 25"))?;
            if n == 0 || n as f64 > MAX_PIXELS {
                return Err(t.error_at(
                    "n",
                    span,
                    format!("must be between 1 and {MAX_PIXELS:e}, got {n}"),
                ));
            }
            let kappa = t.num("kappa")?.ok_or_else(|| {
                t.missing("kappa", "the condition parameter κ > 1, e.g. kappa = 100.0")
            })?;
            if kappa.value <= 1.0 {
                return Err(t.error_at(
                    "kappa",
                    kappa.span.clone(),
                    format!("must be > 1, got {}", t.src.snippet(&kappa.span)),
                ));
            }
            Ok(PotentialSpec::ConvexRosenbrock {
                n: n as usize,
                kappa: kappa.value,
            })
        }
    }
}

fn colorization(t: &TableReader<'_, '_>) -> Result<PotentialSpec> {
    t.check_keys(&["kind", "grid", "colored", "value"])?;
    let (rows, cols) = colorization_grid(t)?;
    let colored = colored_pixels(t, rows, cols)?;
    let value = t.num("value")?.map_or(1.0, |n| n.value);
    Ok(PotentialSpec::Colorization {
        grid: (rows, cols),
        colored,
        value,
    })
}

/// `grid = [rows, cols]`: two whole numbers >= 1, at most [`MAX_PIXELS`] pixels.
fn colorization_grid(t: &TableReader<'_, '_>) -> Result<(usize, usize)> {
    let items = t
        .num_items("grid")?
        .ok_or_else(|| t.missing("grid", "the image size, grid = [rows, cols]"))?;
    let whole = |n: f64| n >= 1.0 && n.fract() == 0.0;
    if items.len() != 2 {
        let span = items
            .first()
            .map(|n| n.span.clone())
            .unwrap_or(t.span.clone());
        return Err(t.error_at(
            "grid",
            span,
            format!("must be [rows, cols], got {} entries", items.len()),
        ));
    }
    for item in &items {
        if !whole(item.value) {
            return Err(t.error_at(
                "grid",
                item.span.clone(),
                format!(
                    "must be a whole number >= 1, got {}",
                    t.src.snippet(&item.span)
                ),
            ));
        }
    }
    let (rows, cols) = (items[0].value, items[1].value);
    if rows * cols > MAX_PIXELS {
        return Err(t.error_at(
            "grid",
            items[0].span.start..items[1].span.end,
            format!("{rows} x {cols} pixels is more than the {MAX_PIXELS:e} supported"),
        ));
    }
    Ok((rows as usize, cols as usize))
}

/// `colored = [[row, col], ...]`: at least one pixel, each inside the grid (0-based), none
/// twice.
fn colored_pixels(
    t: &TableReader<'_, '_>,
    rows: usize,
    cols: usize,
) -> Result<Vec<(usize, usize)>> {
    let (pixels, span) = t.matrix_rows("colored")?.ok_or_else(|| {
        t.missing(
            "colored",
            "at least one colored pixel, colored = [[row, col], ...] (without one the minimum is not unique)",
        )
    })?;
    if pixels.is_empty() {
        return Err(t.error_at(
            "colored",
            span,
            "must list at least one pixel (without one the minimum is not unique)",
        ));
    }
    let mut colored = Vec::with_capacity(pixels.len());
    let mut seen = std::collections::HashSet::new();
    for (i, (p, at)) in pixels.iter().enumerate() {
        // The key names the pixel (1-based, like every entry index) and points at it.
        let bad = |m: String| t.error_at(&format!("colored[{}]", i + 1), at.clone(), m);
        if p.len() != 2 {
            return Err(bad(format!("must be [row, col], got {} numbers", p.len())));
        }
        let (r, c) = (p[0], p[1]);
        if r < 0.0 || c < 0.0 || r.fract() != 0.0 || c.fract() != 0.0 {
            return Err(bad(format!(
                "[{r}, {c}] must be whole numbers >= 0 (0-based)"
            )));
        }
        if r >= rows as f64 || c >= cols as f64 {
            return Err(bad(format!(
                "[{r}, {c}] is outside the {rows} x {cols} grid (rows 0..{}, cols 0..{})",
                rows - 1,
                cols - 1
            )));
        }
        let pixel = (r as usize, c as usize);
        if !seen.insert(pixel) {
            return Err(bad(format!("[{r}, {c}] is listed twice")));
        }
        colored.push(pixel);
    }
    Ok(colored)
}

fn quadratic(t: &TableReader<'_, '_>) -> Result<PotentialSpec> {
    t.check_keys(&["kind", "hessian", "eigenvalues", "minimum"])?;

    let hessian = match (t.matrix("hessian")?, t.num_array("eigenvalues")?) {
        (Some(_), Some(_)) => {
            return Err(t.error(
                "eigenvalues",
                "give either hessian or eigenvalues, not both",
            ));
        }
        (None, None) => {
            return Err(t.missing("hessian", "a quadratic needs hessian or eigenvalues"));
        }
        (Some((rows, span)), None) => {
            crate::potential::check_hessian(&rows)
                .map_err(|e| t.error_at("hessian", span, e.to_string()))?;
            HessianSpec::Dense(rows)
        }
        (None, Some((ev, span))) => {
            if ev.is_empty() {
                return Err(t.error_at("eigenvalues", span, "must not be empty"));
            }
            if let Some(i) = ev.iter().position(|v| *v < 0.0) {
                // At the entry, as a non-finite entry's error is.
                let items = t.num_items("eigenvalues")?.unwrap_or_default();
                let at = items.get(i).map_or(span, |n| n.span.clone());
                return Err(t.error_at(
                    &format!("eigenvalues[{}]", i + 1),
                    at,
                    format!("must be >= 0 (positive semi-definite), got {:?}", ev[i]),
                ));
            }
            HessianSpec::Diagonal(ev)
        }
    };
    let n = match &hessian {
        HessianSpec::Dense(rows) => rows.len(),
        HessianSpec::Diagonal(ev) => ev.len(),
    };
    let minimum = match t.num_array("minimum")? {
        Some((m, span)) if m.len() != n => {
            return Err(t.error_at(
                "minimum",
                span,
                format!("has {} entries, the Hessian has dimension {n}", m.len()),
            ));
        }
        Some((m, _)) => m,
        None => vec![0.0; n],
    };
    Ok(PotentialSpec::Quadratic { hessian, minimum })
}

fn coordinates(t: &TableReader<'_, '_>, key: &str, n: usize) -> Result<Option<Vec<f64>>> {
    match t.num_or_array(key)? {
        None => Ok(None),
        Some((NumOrArray::Scalar(v), _)) => Ok(Some(vec![v; n])),
        Some((NumOrArray::Array(a), span)) if a.len() != n => Err(t.error_at(
            key,
            span,
            format!("has {} entries, the potential has dimension {n}", a.len()),
        )),
        Some((NumOrArray::Array(a), _)) => Ok(Some(a)),
    }
}

/// Where nothing may use a particle's mass and friction: a file without `[continuous]`
/// whose `[[discrete]]` entries may each give their own (ε, p).
enum Particleless<'t, 'a, 'b> {
    /// A `[continuous]` run, or no entries: a particle as always.
    No,
    /// Every entry gives `learning_rate`: mass and friction may be left out.
    Yes,
    /// This entry (1-based) gives no `learning_rate`: it needs a particle (a map) or is
    /// wrong in itself.
    Entry(usize, &'t TableReader<'a, 'b>),
}

fn particleless<'t, 'a, 'b>(
    tables: &'t [TableReader<'a, 'b>],
    continuous: Option<&ContinuousSpec>,
) -> Particleless<'t, 'a, 'b> {
    if continuous.is_some() || tables.is_empty() {
        return Particleless::No;
    }
    match tables
        .iter()
        .enumerate()
        .find(|(_, t)| !t.has("learning_rate"))
    {
        None => Particleless::Yes,
        Some((i, t)) => Particleless::Entry(i + 1, t),
    }
}

/// Whether a `[particle]` that gives `given` of mass and friction (neither swept) goes
/// without them: where every entry gives its own (ε, p) and it gives neither. One alone is
/// refused there. An entry with a map (its `dt`, or a swept one) where the particle gives
/// neither is named at its `dt`; one with `momentum` alone is left to `discrete_entries`,
/// whose check names the `learning_rate` it lacks; any other asks for the mass.
fn goes_without(
    t: &TableReader<'_, '_>,
    given: &[&str],
    particleless: &Particleless<'_, '_, '_>,
    dt_swept: bool,
) -> Result<bool> {
    match (particleless, given) {
        (Particleless::Yes, []) => Ok(true),
        (Particleless::Yes, [key]) => {
            let other = if *key == "mass" { "friction" } else { "mass" };
            Err(t.error(
                key,
                format!(
                    "{key} without {other}: nothing uses a particle here (every [[discrete]] entry gives its own learning_rate, and there is no [continuous]), and one of your own needs both; remove {key}, or give {other} too"
                ),
            ))
        }
        (Particleless::Entry(_, entry), []) if entry.has("momentum") && !entry.has("dt") => {
            Ok(true)
        }
        (Particleless::Entry(i, entry), []) if entry.has("dt") || dt_swept => {
            Err(map_without_particle(entry, *i))
        }
        _ => Ok(false),
    }
}

/// Entry `i`'s map needs a particle the file does not give (and no continuous twin).
fn map_without_particle(entry: &TableReader<'_, '_>, i: usize) -> InputError {
    entry.error(
        "dt",
        format!(
            "a map derives (eps, p) from [particle] mass and friction, which are not given; give discrete[{i}] learning_rate and momentum, or [particle] mass and friction"
        ),
    )
}

fn particle(
    t: &TableReader<'_, '_>,
    n: usize,
    sweep: Option<&Sweep>,
    model: Model,
    twin: Option<&Twin>,
    particleless: &Particleless<'_, '_, '_>,
) -> Result<Particle> {
    t.check_keys(&["mass", "friction", "position", "velocity"])?;
    let swept = |key: AxisKey| sweep.and_then(|s| s.axis(key));
    let position = coordinates(t, "position", n)?
        .ok_or_else(|| t.missing("position", "the particle needs a starting position"))?;
    let velocity = coordinates(t, "velocity", n)?.unwrap_or_else(|| vec![0.0; n]);
    let given: Vec<&str> = ["mass", "friction"]
        .into_iter()
        .filter(|k| t.has(k))
        .collect();
    // A learning-rate or momentum sweep makes each point's particle the twin
    // (`takes_twin`): mass and friction are refused there.
    let own = [
        AxisKey::Mass,
        AxisKey::Friction,
        AxisKey::LearningRate,
        AxisKey::Momentum,
    ];
    let dt_swept = swept(AxisKey::Dt).is_some();
    let unused =
        own.iter().all(|&k| swept(k).is_none()) && goes_without(t, &given, particleless, dt_swept)?;
    let continuous = matches!(particleless, Particleless::No);
    let (mass, friction) = if unused || takes_twin(t, sweep, twin, continuous)? {
        (None, None)
    } else {
        let mass = particle_mass(t, swept(AxisKey::Mass))?;
        if model == Model::Nesterov {
            check_nesterov(t, mass, swept(AxisKey::Mass).is_some(), &velocity)?;
            (Some(mass), None)
        } else {
            let friction = match (t.num("friction")?, swept(AxisKey::Friction)) {
                (_, Some(axis)) => axis.first(),
                (Some(mu), None) => positive(t, "friction", &mu)?,
                (None, None) => {
                    return Err(t.missing("friction", "the particle needs friction = mu > 0"));
                }
            };
            (Some(mass), Some(friction))
        }
    };
    Ok(Particle {
        mass,
        friction,
        position,
        velocity,
    })
}

/// Whether the particle is the first discrete entry's twin (no mass, no friction of its
/// own): always where the learning rate or momentum is swept (mass and friction are then
/// refused), and in a single run that gives neither (one alone is refused: a particle of
/// one's own needs both).
/// `continuous`: the file has a `[continuous]` run (or no runs at all).
fn takes_twin(
    t: &TableReader<'_, '_>,
    sweep: Option<&Sweep>,
    twin: Option<&Twin>,
    continuous: bool,
) -> Result<bool> {
    let swept = |key: AxisKey| sweep.and_then(|s| s.axis(key));
    if let Some(axis) = swept(AxisKey::LearningRate).or(swept(AxisKey::Momentum)) {
        if let Some(key) = ["mass", "friction"].into_iter().find(|k| t.has(k)) {
            if !continuous {
                let why = format!(
                    "{} is swept and there is no [continuous]: each entry's row carries its own particle (m = p dt^2/eps, mu = (1 - p) dt/eps) and nothing uses this key; remove it",
                    axis.key.as_str()
                );
                return Err(t.error(key, why));
            }
            return Err(t.error(
                key,
                format!(
                    "{} is swept, so the continuous particle is the twin of the first discrete entry (m = p dt^2/eps, mu = (1 - p) dt/eps){}; remove this key",
                    axis.key.as_str(),
                    twin.map_or(String::new(), |tw| format!(" (at point 0: {})", tw.describe()))
                ),
            ));
        }
        return Ok(true);
    }
    let Some(twin) = twin else { return Ok(false) };
    match (t.has("mass"), t.has("friction")) {
        (false, false) => Ok(true),
        (true, true) => Ok(false),
        (has_mass, _) => {
            let (given, other) = if has_mass {
                ("mass", "friction")
            } else {
                ("friction", "mass")
            };
            Err(t.error(
                given,
                format!(
                    "{given} without {other}: a particle of your own needs both, and without both {}; give {other} too, or remove {given} to take the twin",
                    twin.describe()
                ),
            ))
        }
    }
}

/// The particle's mass: the sweep's first where mass is swept (a written value is
/// replaced), else the file's, m >= 0.
fn particle_mass(t: &TableReader<'_, '_>, swept: Option<&Axis>) -> Result<f64> {
    match (t.num("mass")?, swept) {
        (_, Some(axis)) => Ok(axis.first()),
        (Some(m), None) if m.value < 0.0 => Err(t.error_at(
            "mass",
            m.span.clone(),
            format!("must be >= 0, got {}", t.src.snippet(&m.span)),
        )),
        (Some(m), None) => Ok(m.value),
        (None, None) => Err(t.missing("mass", "the particle needs mass = m >= 0")),
    }
}

/// SPEC: the Nesterov ODE's friction is 3m/t; it needs a mass (unless swept) and starts at
/// rest.
fn check_nesterov(
    t: &TableReader<'_, '_>,
    mass: f64,
    mass_swept: bool,
    velocity: &[f64],
) -> Result<()> {
    if t.has("friction") {
        return Err(t.error(
            "friction",
            "continuous.model = \"nesterov\" sets the friction to 3m/t; remove this key",
        ));
    }
    if mass <= 0.0 && !mass_swept {
        return Err(t.error(
            "mass",
            "the Nesterov ODE w'' + (3/t) w' = -grad E / m needs m > 0",
        ));
    }
    if velocity.iter().any(|&v| v != 0.0) {
        return Err(t.error(
            "velocity",
            "the Nesterov ODE starts at rest: its friction 3m/t is infinite at t = 0",
        ));
    }
    Ok(())
}

/// `[continuous]`; `noisy`: the gradient has noise, so the run is a stochastic
/// differential equation, which only BAOAB integrates.
fn continuous(t: &TableReader<'_, '_>, noisy: bool) -> Result<ContinuousSpec> {
    t.check_keys(&[
        "method",
        "rtol",
        "atol",
        "t_end",
        "sample_interval",
        "step",
        "max_steps",
        "model",
    ])?;
    let (model, method) = model_and_method(t, noisy)?;
    // What the run will integrate with: `auto` on a noisy gradient is BAOAB at every point.
    let fixed_step = match method {
        Method::Rk4 | Method::Baoab => Some(method),
        Method::Auto if noisy => Some(Method::Baoab),
        _ => None,
    };
    let defaults = ContinuousSpec::default();
    let rtol = positive_opt(t, "rtol")?.unwrap_or(defaults.rtol);
    if rtol >= 1.0 {
        return Err(t.error(
            "rtol",
            format!(
                "must be < 1 (a relative error of 100% or more controls nothing), got {rtol:?}"
            ),
        ));
    }
    if rtol <= MIN_RTOL {
        return Err(t.error(
            "rtol",
            format!(
                "must be > 10·ε = {MIN_RTOL:e} (a relative error below a double's rounding cannot be controlled; Hairer's DOPRI5 refuses it too), got {rtol:e}"
            ),
        ));
    }
    let atol = positive_opt(t, "atol")?.unwrap_or(defaults.atol);
    let t_end = positive_opt(t, "t_end")?.unwrap_or(defaults.t_end);
    let sample_interval = match positive_opt(t, "sample_interval")? {
        Some(given) => given,
        // The default, t_end/1000, must be a number a step can reach: blame t_end, which
        // was given, not an interval that was not.
        None if t_end / 1000.0 < f64::MIN_POSITIVE => {
            return Err(t.error(
                "t_end",
                format!(
                    "= {t_end:e} is too small: its default sample_interval t_end/1000 is below the smallest normal number; give a larger t_end or a sample_interval"
                ),
            ));
        }
        None => t_end / 1000.0,
    };
    // Checked after the tolerances and times, so a file's first error stays the first.
    check_nesterov_method(t, model, method)?;
    let step = fixed_step_size(t, method, fixed_step)?;
    let max_steps = max_solver_steps(t)?;
    check_run_length(t, fixed_step, step, t_end, sample_interval, max_steps)?;
    Ok(ContinuousSpec {
        method,
        rtol,
        atol,
        t_end,
        sample_interval,
        step,
        max_steps,
        model,
    })
}

/// `model` and `method`, refusing an ODE solver for a noisy gradient.
fn model_and_method(t: &TableReader<'_, '_>, noisy: bool) -> Result<(Model, Method)> {
    let model = choice(
        t,
        "model",
        &[
            ("heavy-ball", Model::HeavyBall),
            ("nesterov", Model::Nesterov),
        ],
        &[],
    )?
    .unwrap_or(Model::HeavyBall);
    let method = choice(
        t,
        "method",
        &[
            ("auto", Method::Auto),
            ("dopri5", Method::Dopri5),
            ("dop853", Method::Dop853),
            ("rk4", Method::Rk4),
            ("bdf", Method::Bdf),
            ("baoab", Method::Baoab),
        ],
        &[],
    )?
    .unwrap_or(Method::Auto);
    if noisy && !matches!(method, Method::Auto | Method::Baoab) {
        return Err(t.error(
            "method",
            format!(
                "with [gradient] noise > 0 the particle obeys a stochastic differential equation, which {} (an ODE solver) cannot integrate; use method = \"baoab\" (or \"auto\")",
                method.as_str()
            ),
        ));
    }
    Ok((model, method))
}

/// The solvers that cannot integrate Nesterov's time-dependent friction 3m/t.
fn check_nesterov_method(t: &TableReader<'_, '_>, model: Model, method: Method) -> Result<()> {
    if model == Model::Nesterov && method == Method::Bdf {
        return Err(t.error(
            "method",
            "bdf is not wired for the Nesterov ODE's friction 3m/t (its Jacobian is singular at t = 0); use dopri5, dop853 or rk4",
        ));
    }
    Ok(())
}

/// `step`: required by the fixed-step schemes (`fixed_step`), refused by the adaptive ones.
fn fixed_step_size(
    t: &TableReader<'_, '_>,
    method: Method,
    fixed_step: Option<Method>,
) -> Result<Option<f64>> {
    let step = positive_opt(t, "step")?;
    match (fixed_step, step) {
        (Some(Method::Rk4), None) => Err(t.missing("step", "rk4 needs a fixed step > 0")),
        (Some(_), None) => Err(t.missing(
            "step",
            "the stochastic scheme (baoab) takes fixed steps: give step > 0, below 2*sqrt(m/k_max) for stability",
        )),
        (Some(_), Some(s)) => Ok(Some(s)),
        (None, Some(_)) => Err(t.error(
            "step",
            format!(
                "a fixed step is for rk4 and baoab; {} chooses its own steps",
                method.as_str()
            ),
        )),
        (_, None) => Ok(None),
    }
}

/// `max_steps`: at least 1, at most [`MAX_SOLVER_STEPS`].
fn max_solver_steps(t: &TableReader<'_, '_>) -> Result<u64> {
    match t.uint("max_steps")? {
        Some((0, span)) => Err(t.error_at("max_steps", span, "must be >= 1, got 0")),
        Some((s, span)) if s as f64 > MAX_SOLVER_STEPS => {
            // A budget beyond it is a typo: bound it.
            Err(t.error_at(
                "max_steps",
                span,
                format!("must be <= {MAX_SOLVER_STEPS:e}, got {s}"),
            ))
        }
        Some((s, _)) => Ok(s),
        None => Ok(DEFAULT_MAX_STEPS),
    }
}

/// The caps on a run's length: fixed steps within `max_steps`, rows within [`MAX_ROWS`].
fn check_run_length(
    t: &TableReader<'_, '_>,
    fixed_step: Option<Method>,
    step: Option<f64>,
    t_end: f64,
    sample_interval: f64,
    max_steps: u64,
) -> Result<()> {
    let step_given = step;
    let effective = match fixed_step {
        // BAOAB shortens the step to divide sample_interval (rows on step ends).
        Some(Method::Baoab) => step.map(|s| super::step_dividing(s, sample_interval)),
        _ => step,
    };
    if let Some(step) = effective {
        // rk4 and BAOAB take exactly ceil(t_end/step) steps: more than the budget would fail.
        let needed = (t_end / step).ceil();
        if needed > max_steps as f64 {
            return Err(t.error(
                "step",
                if Some(step) == step_given {
                    format!("t_end/step = {needed} steps, more than max_steps = {max_steps}")
                } else {
                    format!(
                        "t_end/step = {needed} steps (the step shortened to {step:?} to divide sample_interval), more than max_steps = {max_steps}"
                    )
                },
            ));
        }
    }
    let rows = t_end / sample_interval;
    if rows > MAX_ROWS {
        return Err(t.error(
            "sample_interval",
            format!("t_end/sample_interval = {rows:e} rows, more than {MAX_ROWS:e}; use a larger interval"),
        ));
    }
    Ok(())
}

fn discrete_entry(
    t: &TableReader<'_, '_>,
    index: usize,
    particle: &Particle,
    t_end: Option<f64>,
    sweep: Option<&Sweep>,
) -> Result<DiscreteSpec> {
    t.check_keys(&[
        "scheme",
        "label",
        "dt",
        "map",
        "learning_rate",
        "momentum",
        "steps",
        "parameterization",
    ])?;
    let (scheme, form) = scheme_and_form(t)?;
    let label = entry_label(t, scheme, index)?;
    let params = discrete_params(t, scheme, particle, sweep)?;
    let steps = step_budget(t, t_end, sweep, params)?;
    // Qian's map is a discretisation written in w (Polyak's form); explicit (ε, p) are read
    // PyTorch's way unless the entry says otherwise (SPEC's default).
    let form = form.unwrap_or(match (scheme, params) {
        (Scheme::HeavyBall, DiscreteParams::FromParticle { .. }) => Form::Polyak,
        _ => Form::PyTorch,
    });
    Ok(DiscreteSpec {
        label,
        scheme,
        form,
        params,
        steps,
    })
}

/// The axis of `key` if the sweep has one.
fn swept_axis(sweep: Option<&Sweep>, key: AxisKey) -> Option<&Axis> {
    sweep.and_then(|s| s.axis(key))
}

/// `scheme` and `parameterization` (None: the default, which depends on the params); only
/// the heavy ball has more than one form.
fn scheme_and_form(t: &TableReader<'_, '_>) -> Result<(Scheme, Option<Form>)> {
    let scheme = choice(
        t,
        "scheme",
        &[
            ("heavy-ball", Scheme::HeavyBall),
            ("gradient-descent", Scheme::GradientDescent),
            ("nesterov", Scheme::Nesterov),
        ],
        &[],
    )?
    .unwrap_or(Scheme::HeavyBall);
    let form = choice(
        t,
        "parameterization",
        &[
            ("pytorch", Form::PyTorch),
            ("ema", Form::Ema),
            ("polyak", Form::Polyak),
        ],
        &[],
    )?;
    if let (Some(f @ (Form::Ema | Form::Polyak)), false) = (form, scheme == Scheme::HeavyBall) {
        return Err(t.error(
            "parameterization",
            format!(
                "\"{}\" is a way of writing the heavy ball; {} has one form (learning_rate = eps, momentum = p)",
                f.as_str(),
                scheme.as_str()
            ),
        ));
    }
    Ok((scheme, form))
}

/// `label`, one CSV field; by default the scheme and the entry's index.
fn entry_label(t: &TableReader<'_, '_>, scheme: Scheme, index: usize) -> Result<String> {
    match t.string("label")? {
        Some((l, span)) if l.is_empty() => Err(t.error_at("label", span, "must not be empty")),
        Some((l, span)) if l.chars().any(char::is_control) => Err(t.error_at(
            "label",
            span,
            "must not hold line breaks or other control characters (it is one CSV field)",
        )),
        Some((l, _)) => Ok(l),
        None => Ok(format!("{}-{index}", scheme.as_str())),
    }
}

/// Where the entry's (ε, p) come from: a learning-rate or momentum sweep, its own
/// `learning_rate` and `momentum`, or a map from the particle's (m, μ) and `dt`.
fn discrete_params(
    t: &TableReader<'_, '_>,
    scheme: Scheme,
    particle: &Particle,
    sweep: Option<&Sweep>,
) -> Result<DiscreteParams> {
    let dt = match (positive_opt(t, "dt")?, swept_axis(sweep, AxisKey::Dt)) {
        (_, Some(axis)) => Some(axis.first()),
        (dt, None) => dt,
    };
    let map = choice(
        t,
        "map",
        &[
            ("qian", Map::Qian),
            ("symplectic-euler", Map::SymplecticEuler),
        ],
        &[],
    )?;
    let learning_rate = t.num("learning_rate")?.map(|n| n.value);
    let momentum = t.num("momentum")?;
    let rate_axis =
        swept_axis(sweep, AxisKey::LearningRate).or(swept_axis(sweep, AxisKey::Momentum));

    if let Some(axis) = rate_axis {
        // A learning-rate or momentum sweep: every entry takes (ε, p) from it or from its own keys.
        let axis_name = axis.key.as_str();
        if map.is_some() {
            return Err(t.error(
                "map",
                format!("{axis_name} is swept, so this entry's (learning_rate, momentum) come from the sweep; remove map"),
            ));
        }
        let (learning_rate, momentum) =
            swept_rate_and_momentum(t, scheme, sweep, learning_rate, momentum)?;
        return Ok(DiscreteParams::Explicit {
            learning_rate,
            momentum,
            dt: dt.unwrap_or(1.0),
        });
    }
    match (learning_rate, momentum) {
        (Some(_), _) if map.is_some() => Err(t.error(
            "map",
            "a map derives the learning rate; give either map or learning_rate, not both",
        )),
        (None, Some(_)) => {
            Err(t.missing("learning_rate", "momentum needs learning_rate beside it"))
        }
        (Some(lr), momentum) => Ok(DiscreteParams::Explicit {
            learning_rate: lr,
            momentum: explicit_momentum(t, scheme, momentum)?,
            dt: dt.unwrap_or(1.0),
        }),
        (None, None) => map_params(t, scheme, dt, map, particle, sweep),
    }
}

/// The momentum beside an explicit learning rate: required, except for gradient descent.
fn explicit_momentum(
    t: &TableReader<'_, '_>,
    scheme: Scheme,
    momentum: Option<Num>,
) -> Result<f64> {
    match (scheme, momentum) {
        (Scheme::HeavyBall | Scheme::Nesterov, None) => {
            Err(t.missing("momentum", "learning_rate needs momentum beside it"))
        }
        (Scheme::HeavyBall | Scheme::Nesterov, Some(p)) => Ok(p.value),
        (Scheme::GradientDescent, p) => gradient_descent_momentum(t, p),
    }
}

/// (ε, p) under a learning-rate or momentum sweep: the swept one from its axis, the other
/// from the entry's own key.
fn swept_rate_and_momentum(
    t: &TableReader<'_, '_>,
    scheme: Scheme,
    sweep: Option<&Sweep>,
    learning_rate: Option<f64>,
    momentum: Option<Num>,
) -> Result<(f64, f64)> {
    let learning_rate = match (swept_axis(sweep, AxisKey::LearningRate), learning_rate) {
        (Some(a), _) => a.first(),
        (None, Some(lr)) => lr,
        (None, None) => {
            return Err(t.missing(
                "learning_rate",
                "momentum is swept but learning_rate is not: give this entry's learning_rate",
            ));
        }
    };
    let momentum = match (scheme, swept_axis(sweep, AxisKey::Momentum), momentum) {
        (Scheme::HeavyBall | Scheme::Nesterov, Some(a), _) => a.first(),
        (Scheme::HeavyBall | Scheme::Nesterov, None, Some(p)) => p.value,
        (Scheme::HeavyBall | Scheme::Nesterov, None, None) => {
            return Err(t.missing(
                "momentum",
                "learning_rate is swept but momentum is not: give this entry's momentum",
            ));
        }
        (Scheme::GradientDescent, Some(_), Some(_)) => {
            return Err(t.error(
                "momentum",
                "gradient-descent has no momentum for the momentum sweep to replace; remove this key",
            ));
        }
        (Scheme::GradientDescent, _, p) => gradient_descent_momentum(t, p)?,
    };
    Ok((learning_rate, momentum))
}

/// (ε, p) derived by a map from the particle's (m, μ) and `dt`: needs `dt`, a constant
/// friction, and for symplectic Euler a mass > 0 at every point.
fn map_params(
    t: &TableReader<'_, '_>,
    scheme: Scheme,
    dt: Option<f64>,
    map: Option<Map>,
    particle: &Particle,
    sweep: Option<&Sweep>,
) -> Result<DiscreteParams> {
    let dt =
        dt.ok_or_else(|| t.missing("dt", "give dt (with a map) or learning_rate and momentum"))?;
    let map = match (scheme, map) {
        (Scheme::GradientDescent, Some(Map::SymplecticEuler)) => {
            return Err(t.error(
                "map",
                "gradient-descent uses Qian's map at m = 0; symplectic-euler needs a mass",
            ));
        }
        (Scheme::GradientDescent, _) => Map::Qian,
        (Scheme::HeavyBall | Scheme::Nesterov, map) => map.unwrap_or(Map::Qian),
    };
    if particle.mass.is_none() {
        // The first entry's twin: `discrete_entries` says so, naming its values.
        return Ok(DiscreteParams::FromParticle { dt, map });
    }
    if particle.friction.is_none() {
        return Err(t.error(
            "dt",
            "continuous.model = \"nesterov\" has no constant friction to derive (eps, p) from; give learning_rate and momentum",
        ));
    }
    let zero_mass = match swept_axis(sweep, AxisKey::Mass) {
        Some(a) => a.spec.values().any(|m| m == 0.0),
        None => particle.mass == Some(0.0),
    };
    if map == Map::SymplecticEuler && zero_mass {
        return Err(t.error(
            "map",
            "symplectic-euler divides by the mass; it needs particle.mass > 0 (at every point of a mass sweep)",
        ));
    }
    refuse_underflowing_map(t, scheme, map, dt, particle, sweep)?;
    Ok(DiscreteParams::FromParticle { dt, map })
}

/// A map whose learning rate falls below the normal doubles somewhere on the grid: its
/// steps would not move (ε·∇E rounds away beside w) and the row would read as a run. ε =
/// Δt²/(m + μΔt), Δt²/m or Δt/μ is smallest at the smallest Δt and the largest m and μ.
fn refuse_underflowing_map(
    t: &TableReader<'_, '_>,
    scheme: Scheme,
    map: Map,
    dt: f64,
    particle: &Particle,
    sweep: Option<&Sweep>,
) -> Result<()> {
    use crate::dynamics::maps;
    let extreme = |key: AxisKey, given: f64, largest: bool| match swept_axis(sweep, key) {
        Some(a) if largest => a.spec.bounds().1,
        Some(a) => a.spec.bounds().0,
        None => given,
    };
    let given = |x: Option<f64>| x.expect("map_params: the particle's mass and friction");
    let dt = extreme(AxisKey::Dt, dt, false);
    let m = extreme(AxisKey::Mass, given(particle.mass), true);
    let mu = extreme(AxisKey::Friction, given(particle.friction), true);
    let (eps, name, formula) = match (scheme, map) {
        (Scheme::GradientDescent, _) => (maps::gradient_descent(mu, dt).0, "qian", "dt/mu"),
        (_, Map::Qian) => (maps::qian(m, mu, dt).0, "qian", "dt^2/(m + mu dt)"),
        (_, Map::SymplecticEuler) => (
            maps::symplectic_euler(m, mu, dt).0,
            "symplectic-euler",
            "dt^2/m",
        ),
    };
    if eps.is_nan() || eps >= f64::MIN_POSITIVE {
        return Ok(());
    }
    let mut at = match scheme {
        Scheme::GradientDescent => format!("dt = {dt:?}, friction = {mu:?}"),
        _ => format!("dt = {dt:?}, mass = {m:?}, friction = {mu:?}"),
    };
    if [AxisKey::Dt, AxisKey::Mass, AxisKey::Friction]
        .iter()
        .any(|&key| swept_axis(sweep, key).is_some())
    {
        at.push_str(" (the grid's smallest dt, largest mass and friction)");
    }
    Err(t.error(
        "dt",
        format!(
            "the {name} map's learning rate {formula} is {eps:?} at {at}, below the smallest normal double {:e}: no step would move; choose a larger dt",
            f64::MIN_POSITIVE
        ),
    ))
}

/// `steps`: given (1 to [`MAX_ROWS`]), the default, or from `t_end` and `dt`
/// (each point's own `dt` when it is swept).
fn step_budget(
    t: &TableReader<'_, '_>,
    t_end: Option<f64>,
    sweep: Option<&Sweep>,
    params: DiscreteParams,
) -> Result<Budget> {
    match t.uint("steps")? {
        Some((0, span)) => Err(t.error_at("steps", span, "must be >= 1, got 0")),
        Some((s, span)) if s as f64 > MAX_ROWS => Err(t.error_at(
            "steps",
            span,
            format!("must be <= {MAX_ROWS:e} (one discrete.csv row per step), got {s}"),
        )),
        Some((s, _)) => Ok(Budget::Steps(s)),
        None => match t_end {
            None => Ok(Budget::Default),
            Some(_) if swept_axis(sweep, AxisKey::Dt).is_some() => Ok(Budget::Horizon),
            Some(t_end) => {
                // As a float: ceil(t_end/dt) may be far past u64 (dt = 1e-300).
                let steps = (t_end / params.dt()).ceil();
                if steps > MAX_ROWS {
                    return Err(t.error("dt", format!("t_end/dt = {steps:e} steps by default, more than {MAX_ROWS:e}; give steps or a larger dt")));
                }
                Ok(Budget::Horizon)
            }
        },
    }
}

/// A gradient-descent entry's momentum: 0, whether written or not.
fn gradient_descent_momentum(t: &TableReader<'_, '_>, p: Option<Num>) -> Result<f64> {
    match p {
        Some(p) if p.value != 0.0 => Err(t.error_at(
            "momentum",
            p.span.clone(),
            format!(
                "must be 0 for gradient-descent, got {}",
                t.src.snippet(&p.span)
            ),
        )),
        _ => Ok(0.0),
    }
}

fn stop(t: &TableReader<'_, '_>) -> Result<StopSpec> {
    t.check_keys(&["criterion", "tolerance", "divergence"])?;
    let criterion = choice(
        t,
        "criterion",
        &[
            ("distance", Criterion::Distance),
            ("loss", Criterion::Loss),
            ("gradient", Criterion::Gradient),
            ("energy", Criterion::Energy),
        ],
        &[],
    )?
    .unwrap_or(StopSpec::default().criterion);
    // Thresholds no squared norm can be compared with are refused where they are written.
    let limit = |key: &str, why: Option<String>| match (t.num(key), why) {
        (Ok(Some(n)), Some(why)) => Err(t.error_at(key, n.span.clone(), why)),
        _ => Ok(()),
    };
    let tolerance = positive_opt(t, "tolerance")?.unwrap_or(StopSpec::default().tolerance);
    limit(
        "tolerance",
        StopSpec::tolerance_problem(criterion, tolerance),
    )?;
    let divergence = positive_opt(t, "divergence")?.unwrap_or(StopSpec::default().divergence);
    limit("divergence", StopSpec::divergence_problem(divergence))?;
    if let Some(why) = StopSpec::thresholds_problem(criterion, tolerance, divergence) {
        // Blamed on the one written (the tolerance, when both are).
        let key = if t.has("tolerance") {
            "tolerance"
        } else {
            "divergence"
        };
        return Err(t.error(key, why));
    }
    Ok(StopSpec {
        criterion,
        tolerance,
        divergence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ends and the bisection name the same value a scan does: ascending and descending
    /// linspaces through 0, logspaces that overflow or underflow at either end (both ends
    /// broken included), every count from 1 to 40, under each axis rule.
    #[test]
    fn first_broken_is_the_scans_first() {
        let rules: [fn(f64) -> bool; 3] =
            [|x| x < 0.0, |x| x <= 0.0, |x| !x.is_finite() || x <= 0.0];
        for count in 1..=40 {
            let specs = [
                AxisSpec::Linspace {
                    start: 1.0,
                    stop: -1.0,
                    count,
                },
                AxisSpec::Linspace {
                    start: -1.0,
                    stop: 1.0,
                    count,
                },
                AxisSpec::Linspace {
                    start: 0.0,
                    stop: 3.0,
                    count,
                },
                AxisSpec::Logspace {
                    start: -2.0,
                    stop: 400.0,
                    count,
                },
                AxisSpec::Logspace {
                    start: 400.0,
                    stop: -400.0,
                    count,
                },
                AxisSpec::Logspace {
                    start: -400.0,
                    stop: 400.0,
                    count,
                },
            ];
            for spec in &specs {
                for breaks in rules {
                    let scanned = spec.values().position(breaks).map(|i| i as u64);
                    assert_eq!(
                        first_broken(spec, breaks),
                        scanned,
                        "{spec:?}, count {count}"
                    );
                }
            }
        }
    }
}
