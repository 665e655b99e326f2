//! A potential written as a formula, e.g. `(1 - x)^2 + 100*(y - x^2)^2`, parsed by `exmex`.
//! The gradient and the Hessian are exmex's symbolic partial derivatives, built once in
//! [`Expression::new`]: exact up to floating-point evaluation, no finite differences.
//!
//! Syntax is exmex's: `+ - * / ^`, `sin cos tan asin acos atan sinh cosh tanh asinh acosh
//! atanh exp ln log log2 log10 sqrt`, the constants `PI`/`π`, `E`/`e`, `TAU`/`τ`, and numbers
//! like `2`, `0.5`, `.5` (plus, added here, `1e-3` and `2.5E+4`). There is no implicit
//! multiplication (`2*x`, not `2x`). Two exmex readings that differ from the usual ones are
//! refused rather than silently taken: exmex applies a unary minus before `^`
//! (`-x^2` is `(-x)^2`, so `exp(-x^2)` would be `exp(x^2)`), and it chains powers from the left
//! (`2^3^2` is 64). Write `-(x^2)` or `(-x)^2`, and `a^(b^c)` or `(a^b)^c`.

use std::fmt;
use std::ops::Range;

use exmex::prelude::*;
use exmex::{BinOp, FloatOpsFactory, MakeOperators, MatchLiteral, Operator};

use super::Potential;

/// Why an expression was refused: a message, and where in the expression string
/// (a byte range) when exmex says.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpressionError {
    /// What is wrong, in words (exmex's own message included for parse errors).
    pub message: String,
    /// The offending bytes of the expression string, when they can be located.
    pub span: Option<std::ops::Range<usize>>,
}

impl ExpressionError {
    fn new(message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        ExpressionError {
            message: message.into(),
            span,
        }
    }
}

impl fmt::Display for ExpressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExpressionError {}

/// exmex's number literals (`2`, `0.5`, `.5`) plus an exponent (`1e-3`, `2.5E+4`), which
/// exmex's default matcher lacks (it reads `1e3` as `1` next to the constant `e`).
#[derive(Clone, Debug)]
struct Literal;

impl MatchLiteral for Literal {
    fn is_literal(text: &str) -> Option<&str> {
        let b = text.as_bytes();
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let int_end = digits(0);
        let mut end = int_end;
        if b.get(end) == Some(&b'.') {
            let frac_end = digits(end + 1);
            if int_end == 0 && frac_end == end + 1 {
                return None; // a lone "."
            }
            end = frac_end;
        } else if int_end == 0 {
            return None;
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            let mut k = end + 1;
            if matches!(b.get(k), Some(b'+' | b'-')) {
                k += 1;
            }
            let exp_end = digits(k);
            // Without digits the `e` is not an exponent (it is left to the tokenizer).
            if exp_end > k {
                end = exp_end;
            }
        }
        Some(&text[..end])
    }
}

type Flat = FlatEx<f64, LibmOps, Literal>;

/// exmex's own operators ([`FloatOpsFactory`]: the same names, priorities and derivative
/// rules), with the elementary functions taken from the `libm` crate rather than the
/// platform's libm, whose last bit may differ from CPU to CPU (glibc picks an FMA or an SSE2
/// variant at load time): an expression's values, and so its runs, are the same bits on
/// every machine.
#[derive(Clone, Debug)]
pub(crate) struct LibmOps;

/// A function of one number.
type Unary = fn(f64) -> f64;

/// The unary functions [`LibmOps`] replaces, by exmex's names.
const LIBM_UNARY: [(&str, Unary); 18] = [
    ("sin", libm::sin),
    ("cos", libm::cos),
    ("tan", libm::tan),
    ("asin", libm::asin),
    ("acos", libm::acos),
    ("atan", libm::atan),
    ("sinh", libm::sinh),
    ("cosh", libm::cosh),
    ("tanh", libm::tanh),
    ("asinh", libm::asinh),
    ("acosh", libm::acosh),
    ("atanh", libm::atanh),
    ("exp", libm::exp),
    ("cbrt", libm::cbrt),
    ("ln", libm::log),
    ("log", libm::log),
    ("log2", libm::log2),
    ("log10", libm::log10),
];

impl MakeOperators<f64> for LibmOps {
    fn make<'a>() -> Vec<Operator<'a, f64>> {
        FloatOpsFactory::<f64>::make()
            .into_iter()
            .map(|op| {
                let libm_bin: Option<fn(f64, f64) -> f64> = match op.repr() {
                    "^" => Some(libm::pow),
                    "atan2" => Some(libm::atan2),
                    _ => None,
                };
                if let (Some(apply), Ok(bin)) = (libm_bin, op.bin()) {
                    return Operator::make_bin(op.repr(), BinOp { apply, ..bin });
                }
                match LIBM_UNARY.iter().find(|(n, _)| *n == op.repr()) {
                    Some(&(name, f)) => Operator::make_unary(name, f),
                    None => op,
                }
            })
            .collect()
    }
}

/// Variables up to this count are gathered on the stack for evaluation.
const STACK_VARS: usize = 16;

/// One exmex expression and where its variables sit in the coordinate vector.
#[derive(Clone)]
struct Compiled {
    ex: Flat,
    /// `slots[k]` is the coordinate of exmex's k-th variable (exmex orders them
    /// alphabetically, not as the caller listed them).
    slots: Box<[usize]>,
    /// The slots are `0, 1, …, k−1`: the coordinates can be passed as they are.
    direct: bool,
}

impl Compiled {
    /// `variables` must contain every variable of `ex` (checked by the caller).
    fn new(ex: Flat, variables: &[String]) -> Self {
        let slots: Box<[usize]> = ex
            .var_names()
            .iter()
            .map(|name| {
                variables
                    .iter()
                    .position(|v| v == name)
                    .expect("variables were checked against the expression")
            })
            .collect();
        let direct = slots.iter().enumerate().all(|(k, &s)| k == s);
        Compiled { ex, slots, direct }
    }

    /// The value at the coordinates `w`. exmex evaluates on the stack for expressions of up
    /// to 32 flattened nodes and allocates beyond; the permutation of the coordinates into
    /// exmex's order is on the stack up to [`STACK_VARS`] variables.
    #[inline]
    fn eval(&self, w: &[f64]) -> f64 {
        let k = self.slots.len();
        let result = if self.direct {
            self.ex.eval(&w[..k])
        } else if k <= STACK_VARS {
            let mut buf = [0.0; STACK_VARS];
            for (b, &s) in buf.iter_mut().zip(self.slots.iter()) {
                *b = w[s];
            }
            self.ex.eval(&buf[..k])
        } else {
            let buf: Vec<f64> = self.slots.iter().map(|&s| w[s]).collect();
            self.ex.eval(&buf)
        };
        // exmex fails only when the number of values differs from its variable count,
        // which is fixed here at construction.
        result.expect("exmex evaluation with the expression's own variable count")
    }
}

/// A potential given by a formula in named coordinates, with exact (symbolic) gradient and
/// Hessian.
///
/// Evaluating E, a gradient entry or a Hessian entry walks one exmex expression; nothing is
/// allocated on the heap unless an expression (derivatives included, which grow) flattens
/// to more than 32 nodes, or it has more than 16 variables in a non-alphabetical order.
#[derive(Clone)]
pub struct Expression {
    text: String,
    variables: Vec<String>,
    value: Compiled,
    /// ∂E/∂w_i; None where E does not depend on w_i.
    gradient: Vec<Option<Compiled>>,
    /// ∂²E/∂w_i∂w_j for j ≥ i, row by row (row i holds j = i, …, n−1); None where zero.
    hessian: Vec<Option<Compiled>>,
    minimum: Option<Vec<f64>>,
    minimum_value: Option<f64>,
    spectrum: Option<Vec<f64>>,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("text", &self.text)
            .field("variables", &self.variables)
            .field("minimum", &self.minimum)
            .finish_non_exhaustive()
    }
}

impl Expression {
    /// `variables`: the coordinate names in order (w1 = `variables[0]`, ...).
    /// `minimum`: w* if the user knows it (validated by the caller to have the right length).
    pub fn new(
        variables: &[String],
        expression: &str,
        minimum: Option<Vec<f64>>,
    ) -> Result<Self, ExpressionError> {
        check_variables(variables).map_err(|(_, e)| e)?;
        // exmex skips only spaces; tabs and newlines (multi-line TOML strings) become spaces,
        // byte for byte, so spans still point into the caller's string.
        let text: String = expression
            .chars()
            .map(|c| if c.is_ascii_whitespace() { ' ' } else { c })
            .collect();
        check_size(&text, variables.len())?;
        let (ex, (gradient, hessian)) = on_deep_stack(|| {
            let ex = parse_checked(&text, variables)?;
            let partials = derivatives(&ex, variables)?;
            Ok((ex, partials))
        })?;
        let mut potential = Expression {
            text,
            variables: variables.to_vec(),
            value: Compiled::new(ex, variables),
            gradient,
            hessian,
            minimum: None,
            minimum_value: None,
            spectrum: None,
        };
        if let Some(w) = minimum {
            potential.set_minimum(w)?;
        }
        Ok(potential)
    }

    /// The Hessian at `w`, by rows.
    fn hessian_rows(&self, w: &[f64]) -> Vec<Vec<f64>> {
        let n = self.variables.len();
        let mut h = vec![0.0; n * n];
        let mut entries = self.hessian.iter();
        for i in 0..n {
            for j in i..n {
                let v = entries
                    .next()
                    .and_then(Option::as_ref)
                    .map_or(0.0, |d| d.eval(w));
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
        }
        h.chunks(n).map(<[f64]>::to_vec).collect()
    }

    /// Records w*, E(w*) and the Hessian spectrum there, refusing a point where E, ∇E or
    /// the Hessian is not finite (the spectrum would be meaningless).
    fn set_minimum(&mut self, w: Vec<f64>) -> Result<(), ExpressionError> {
        let n = self.variables.len();
        if w.len() != n {
            return Err(ExpressionError::new(
                format!(
                    "the minimum has {} coordinates but there are {n} variables",
                    w.len()
                ),
                None,
            ));
        }
        let at = || format!("at the given minimum {w:?}");
        let e = self.value(&w);
        if !e.is_finite() {
            return Err(ExpressionError::new(
                format!("E is not finite ({e}) {}", at()),
                None,
            ));
        }
        let mut g = vec![0.0; n];
        self.gradient_into(&w, &mut g);
        if let Some((i, gi)) = g.iter().enumerate().find(|(_, g)| !g.is_finite()) {
            return Err(ExpressionError::new(
                format!(
                    "the gradient is not finite (∂E/∂{} = {gi}) {}",
                    self.variables[i],
                    at()
                ),
                None,
            ));
        }
        let rows = self.hessian_rows(&w);
        if rows.iter().flatten().any(|h| !h.is_finite()) {
            return Err(ExpressionError::new(
                format!("the Hessian is not finite {}", at()),
                None,
            ));
        }
        // Stationary to the digits given: a Newton step from it of at most 1e-6 of |w*|
        // (or of 1), or ∇E at round-off where the Hessian is not positive definite.
        let step = self.newton_solve(&w, &g).map(|s| s.amax());
        let stationary = match step {
            Some(s) => s <= 1e-6 * norm_inf(&w).max(1.0),
            None => norm_inf(&g) <= 1e-8,
        };
        if !stationary {
            let newton = step.map_or(String::new(), |s| {
                format!(", {s:.3e} from where it vanishes")
            });
            return Err(ExpressionError::new(
                format!(
                    "∇E = {} {}{newton}: not a minimum; give it to more digits, or leave `minimum` out for Newton's method to find it",
                    show(&g),
                    at()
                ),
                None,
            ));
        }
        // Second order, as Newton's end point: a maximum or saddle is stationary too.
        match self.check_second_order(&w, e, 0.0) {
            Ok(()) => {}
            Err(NoMinimum::Saddle { eigenvalue, .. }) => {
                let why = format!(
                    "the Hessian has the eigenvalue {eigenvalue:?} < 0 {}: a saddle or a maximum, not a minimum",
                    at()
                );
                return Err(ExpressionError::new(why, None));
            }
            Err(NoMinimum::FallsAlongFlat { e, beside, .. }) => {
                let why = format!(
                    "E falls from {e:?} to {beside:?} along a flat direction of the Hessian {}: not a minimum",
                    at()
                );
                return Err(ExpressionError::new(why, None));
            }
            Err(other) => return Err(ExpressionError::new(other.to_string(), None)),
        }
        self.spectrum = Some(self.spectrum_at(&w, &rows));
        self.minimum_value = Some(e);
        self.minimum = Some(w);
        Ok(())
    }

    /// The Hessian's eigenvalues (ascending) at the minimum `w`, where its rows are `rows`,
    /// with each flat one set to 0: at most 1e-8 of the curvature along its eigenvector a
    /// probe away on both sides ([`FLAT_PROBE`], as Newton's flat test). Newton's method
    /// crawls onto x⁴'s minimum only to ~1e-81, where the Hessian is ~1e-161: that is a flat
    /// minimum, not a quadratic 1e161 times slower than any other.
    fn spectrum_at(&self, w: &[f64], rows: &[Vec<f64>]) -> Vec<f64> {
        let n = w.len();
        let eigen = nalgebra::DMatrix::from_fn(n, n, |i, j| rows[i][j]).symmetric_eigen();
        let s = FLAT_PROBE * norm_inf(w).max(1.0);
        let mut flat: Vec<(f64, bool)> = (0..n)
            .map(|k| {
                let lambda = eigen.eigenvalues[k];
                let v: Vec<f64> = eigen.eigenvectors.column(k).iter().copied().collect();
                let beside = [s, -s].map(|t| self.curvature_along(w, &v, t));
                // NaN beside (a pole) fails the comparison: not flat.
                let flat = beside.iter().all(|&c| lambda.abs() <= 1e-8 * c);
                (lambda, flat)
            })
            .collect();
        flat.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The values as every other potential's: the same bits as before where none is flat.
        let mut values = super::symmetric_eigenvalues(rows);
        for (value, (_, flat)) in values.iter_mut().zip(&flat) {
            if *flat {
                *value = 0.0;
            }
        }
        values
    }

    /// vᵀ H(w + t·v) v: the curvature along the unit vector `v` at `t` from `w`.
    fn curvature_along(&self, w: &[f64], v: &[f64], t: f64) -> f64 {
        let at: Vec<f64> = w.iter().zip(v).map(|(w, v)| w + t * v).collect();
        let rows = self.hessian_rows(&at);
        let hv = rows
            .iter()
            .map(|row| row.iter().zip(v).map(|(h, v)| h * v).sum::<f64>());
        hv.zip(v).map(|(hv, v)| hv * v).sum()
    }

    /// The local minimum that a damped Newton method reaches from `start`, or why it
    /// reached none (the message completes "Newton's method from the position …").
    ///
    /// Each iteration takes the Newton step −H⁻¹∇E where the exact Hessian is positive
    /// definite (Cholesky), else the steepest descent −∇E, and backtracks (halving) until
    /// Armijo's sufficient decrease of E holds. It stops when the step is at round-off
    /// (no coordinate moves by more than a few ulps, or no representable step decreases
    /// E), or after [`NEWTON_ITERATIONS`]. The end point is accepted only if E and ∇E are
    /// finite there, |∇E|∞ ≤ 1e-8·max(1, |∇E(start)|∞), the Hessian has no negative
    /// eigenvalue, and E does not fall along any flat eigen-direction (which rules out a
    /// degenerate stationary point such as the inflection of x³). Deterministic: the same
    /// start gives the same bits.
    pub fn find_minimum(&self, start: &[f64]) -> Result<Vec<f64>, NoMinimum> {
        let mut g = vec![0.0; self.variables.len()];
        let e = self.value(start);
        self.gradient_into(start, &mut g);
        if !e.is_finite() || !all_finite(&g) {
            return Err(NoMinimum::CannotStart {
                w: start.to_vec(),
                e,
                gradient: g,
            });
        }
        let gradient_tolerance = 1e-8 * norm_inf(&g).max(1.0);
        // The curvature scale below which a Hessian eigenvalue counts as flat: the end
        // point's own largest, or the start's (at x³'s inflection the whole Hessian is tiny).
        let h0 = self.hessian_rows(start).concat();
        let curvature = if all_finite(&h0) { norm_inf(&h0) } else { 0.0 };
        let run = self.newton_iterate(start, e, g)?;
        self.check_converged(&run, gradient_tolerance)?;
        self.check_second_order(&run.x, run.e, curvature)?;
        Ok(run.x)
    }

    /// Newton's phase one: damped steps from `start` (where E is `e` and ∇E is `g`) until
    /// the step reaches round-off or the budget runs out; an error where ∇E stops being
    /// finite or E falls without bound.
    fn newton_iterate(
        &self,
        start: &[f64],
        mut e: f64,
        mut g: Vec<f64>,
    ) -> Result<NewtonRun, NoMinimum> {
        let mut x = start.to_vec();
        let mut last_step = 0.0;
        // Far beyond any minimum a formula plausibly has: E is falling without bound.
        let far = 1e100 * norm_inf(start).max(1.0);
        let mut trial = vec![0.0; x.len()];
        let mut end = NewtonEnd::Budget;
        for _ in 0..NEWTON_ITERATIONS {
            let d: Vec<f64> = match self.newton_solve(&x, &g) {
                Some(step) => step.iter().map(|v| -v).collect(),
                None => g.iter().map(|v| -v).collect(),
            };
            let slope: f64 = g.iter().zip(&d).map(|(g, d)| g * d).sum();
            // ∇E = 0 (or a direction that is no descent at round-off): nothing to follow.
            if !(slope < 0.0 && all_finite(&d)) {
                end = NewtonEnd::Settled;
                break;
            }
            let Some((t, et)) = self.line_search(&x, &d, e, slope, &mut trial) else {
                end = NewtonEnd::Settled; // no representable step decreases E
                break;
            };
            let round_off = trial
                .iter()
                .zip(&x)
                .all(|(y, x)| (y - x).abs() <= 4.0 * f64::EPSILON * x.abs());
            last_step = t * norm_inf(&d);
            std::mem::swap(&mut x, &mut trial);
            e = et;
            self.gradient_into(&x, &mut g);
            if !all_finite(&g) {
                return Err(NoMinimum::GradientNotFinite { w: x, gradient: g });
            }
            if norm_inf(&x) > far || e < -1e300 {
                return Err(NoMinimum::Unbounded { w: x, e });
            }
            if round_off {
                end = NewtonEnd::Settled;
                break;
            }
        }
        Ok(NewtonRun {
            x,
            g,
            e,
            last_step,
            end,
        })
    }

    /// H⁻¹·`g` at `x`, where the Hessian there is finite and positive definite (Cholesky).
    fn newton_solve(&self, x: &[f64], g: &[f64]) -> Option<nalgebra::DVector<f64>> {
        let n = x.len();
        let rows = self.hessian_rows(x);
        all_finite(rows.iter().flatten().copied())
            .then(|| nalgebra::DMatrix::from_fn(n, n, |i, j| rows[i][j]).cholesky())
            .flatten()
            .map(|c| c.solve(&nalgebra::DVector::from_column_slice(g)))
    }

    /// Backtracks along `d` from `x` (halving from the full step) until Armijo's decrease
    /// of E from `e` holds: the step t and E there, the point left in `trial`; None when
    /// the step vanishes below round-off first.
    fn line_search(
        &self,
        x: &[f64],
        d: &[f64],
        e: f64,
        slope: f64,
        trial: &mut [f64],
    ) -> Option<(f64, f64)> {
        let mut t = 1.0;
        while t > 0.0 {
            for ((y, x), d) in trial.iter_mut().zip(x).zip(d) {
                *y = x + t * d;
            }
            if trial == x {
                return None; // the step vanished below round-off
            }
            let et = self.value(trial);
            // Written so that a NaN E fails the test and the step is halved.
            if et <= e + ARMIJO * t * slope {
                return Some((t, et));
            }
            t *= 0.5;
        }
        None
    }

    /// Newton's phase two: the end point must have a small gradient, or sit a round-off
    /// Newton step from a positive definite minimum, and not be a budget spent striding.
    fn check_converged(&self, run: &NewtonRun, gradient_tolerance: f64) -> Result<(), NoMinimum> {
        let NewtonRun {
            x,
            g,
            e,
            last_step,
            end,
        } = run;
        let g_norm = norm_inf(g);
        // Near a steep minimum round-off keeps |∇E| at ~ε·|H|·|w*| however close w is (so a
        // start near w* would tighten the gradient test past reach): where H is positive
        // definite, a Newton step at round-off of w counts as converged too.
        let newton_settled = self
            .newton_solve(x, g)
            .map(|step| step.amax())
            .is_some_and(|step| step <= 1e-8 * norm_inf(x).max(1.0));
        // A budget spent while still striding (exp(x) drifting to −∞ one unit per Newton
        // step, with a vanishing gradient) is no convergence; a geometric crawl onto a flat
        // minimum (x⁴) ends with a tiny step and goes on to the tests below.
        let striding = matches!(end, NewtonEnd::Budget)
            && (last_step.is_nan() || *last_step > 1e-8 * norm_inf(x).max(1.0));
        if striding || g_norm.is_nan() || (g_norm > gradient_tolerance && !newton_settled) {
            let w = x.clone();
            return Err(match end {
                NewtonEnd::Budget => NoMinimum::Budget {
                    w,
                    e: *e,
                    gradient_norm: g_norm,
                    last_step: *last_step,
                },
                NewtonEnd::Settled => NoMinimum::Stalled {
                    w,
                    gradient_norm: g_norm,
                },
            });
        }
        Ok(())
    }

    /// Newton's phase three, second order at the end point `x` (E = `e`): a finite
    /// Hessian with no negative eigenvalue, and E not falling along a flat direction.
    fn check_second_order(&self, x: &[f64], e: f64, curvature: f64) -> Result<(), NoMinimum> {
        let n = x.len();
        let rows = self.hessian_rows(x);
        if !all_finite(rows.iter().flatten().copied()) {
            return Err(NoMinimum::HessianNotFinite { w: x.to_vec() });
        }
        let eigen = nalgebra::DMatrix::from_fn(n, n, |i, j| rows[i][j]).symmetric_eigen();
        let largest = eigen.eigenvalues.amax();
        for (k, &lambda) in eigen.eigenvalues.iter().enumerate() {
            // Round-off leaves the eigenvalues of a singular Hessian a few ulps of the
            // largest one on either side of zero.
            if lambda < -1e3 * f64::EPSILON * largest {
                return Err(NoMinimum::Saddle {
                    w: x.to_vec(),
                    eigenvalue: lambda,
                });
            }
            // A flat direction: second order says nothing; E must not fall along it on
            // either side (a true flat minimum, x⁴ or a valley, passes; x³ at 0 does not).
            if lambda <= 1e-8 * largest.max(curvature) {
                let v: Vec<f64> = eigen.eigenvectors.column(k).iter().copied().collect();
                self.probe_flat(x, e, &v)?;
            }
        }
        Ok(())
    }

    /// E at `x ± s·v` (`v` a flat eigen-direction) must not fall below `e`.
    fn probe_flat(&self, x: &[f64], e: f64, v: &[f64]) -> Result<(), NoMinimum> {
        let s = FLAT_PROBE * norm_inf(x).max(1.0);
        // Relative to E* alone: far out on 1/x the whole landscape is tiny.
        let drop = 1e-12 * e.abs();
        let mut trial = vec![0.0; x.len()];
        for sign in [1.0, -1.0] {
            for ((y, x), v) in trial.iter_mut().zip(x).zip(v) {
                *y = x + sign * s * v;
            }
            let ep = self.value(&trial);
            if ep < e - drop {
                return Err(NoMinimum::FallsAlongFlat {
                    w: x.to_vec(),
                    e,
                    beside: ep,
                });
            }
        }
        Ok(())
    }
}

/// Why Newton's method from a position reached no minimum ([`Expression::find_minimum`]):
/// where it stopped and what it found there. The text completes "Newton's method from the
/// position …".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoMinimum {
    /// E or ∇E is not finite at the start.
    #[error("cannot start: E = {e:?}, ∇E = {} at w = {}", show(.gradient), show(.w))]
    CannotStart {
        /// The start.
        w: Vec<f64>,
        /// E there.
        e: f64,
        /// ∇E there.
        gradient: Vec<f64>,
    },
    /// ∇E stopped being finite on the way.
    #[error("reached w = {} where ∇E = {} is not finite", show(.w), show(.gradient))]
    GradientNotFinite {
        /// Where.
        w: Vec<f64>,
        /// ∇E there.
        gradient: Vec<f64>,
    },
    /// w ran beyond 1e100 times the start (or E below −1e300) with E still falling.
    #[error("ran off to w = {} with E = {e:?} still falling: E looks unbounded below", show(.w))]
    Unbounded {
        /// Where.
        w: Vec<f64>,
        /// E there.
        e: f64,
    },
    /// [`NEWTON_ITERATIONS`] spent while still striding, or without a small gradient.
    #[error(
        "did not settle within {NEWTON_ITERATIONS} iterations: it ended at w = {} with E = {e:?}, |∇E| = {gradient_norm:?} and a last step of {last_step:?} (E may be unbounded below, or approach its infimum only at infinity)",
        show(.w)
    )]
    Budget {
        /// Where it ended.
        w: Vec<f64>,
        /// E there.
        e: f64,
        /// |∇E|∞ there.
        gradient_norm: f64,
        /// |t·d|∞ of the last step.
        last_step: f64,
    },
    /// No step decreases E, yet the gradient is not small.
    #[error(
        "stalled at w = {} where |∇E| = {gradient_norm:?} is not small (no step decreases E)",
        show(.w)
    )]
    Stalled {
        /// Where.
        w: Vec<f64>,
        /// |∇E|∞ there.
        gradient_norm: f64,
    },
    /// The Hessian at the end point is not finite.
    #[error("stopped at w = {} where the Hessian is not finite", show(.w))]
    HessianNotFinite {
        /// The end point.
        w: Vec<f64>,
    },
    /// A negative Hessian eigenvalue at the end point.
    #[error(
        "stopped at w = {}, a saddle point: the Hessian has the eigenvalue {eigenvalue:?} < 0",
        show(.w)
    )]
    Saddle {
        /// The end point.
        w: Vec<f64>,
        /// The eigenvalue.
        eigenvalue: f64,
    },
    /// E falls along a flat eigen-direction of the Hessian (x³ at its inflection).
    #[error(
        "stopped at w = {}, a stationary point that is no minimum: E falls from {e:?} to {beside:?} along a flat direction of the Hessian",
        show(.w)
    )]
    FallsAlongFlat {
        /// The end point.
        w: Vec<f64>,
        /// E there.
        e: f64,
        /// E a probe's step away along the flat direction.
        beside: f64,
    },
}

/// Most iterations of [`Expression::find_minimum`] (Newton converges in tens where it
/// converges at all; the bound keeps a slow crawl cheap and finite).
pub const NEWTON_ITERATIONS: usize = 500;

/// Armijo's sufficient-decrease constant: accept a step once E fell by this share of what
/// the slope promised.
const ARMIJO: f64 = 1e-4;

/// Relative length of the probe along a flat Hessian direction (times max(1, |w*|∞)).
const FLAT_PROBE: f64 = 1e-2;

/// Where Newton's iteration ended, for the checks that follow it.
struct NewtonRun {
    /// The end point.
    x: Vec<f64>,
    /// ∇E there.
    g: Vec<f64>,
    /// E there.
    e: f64,
    /// |t·d|∞ of the last step taken (0 when none was).
    last_step: f64,
    end: NewtonEnd,
}

/// Why the Newton iteration stopped.
#[derive(Clone, Copy)]
enum NewtonEnd {
    /// The step reached round-off (or the gradient vanished).
    Settled,
    /// The iteration budget ran out.
    Budget,
}

fn all_finite(xs: impl IntoIterator<Item = impl std::borrow::Borrow<f64>>) -> bool {
    xs.into_iter().all(|x| x.borrow().is_finite())
}

fn norm_inf(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// A point for a message: its coordinates, shortened beyond eight.
fn show(xs: &[f64]) -> String {
    if xs.len() <= 8 {
        format!("{xs:?}")
    } else {
        format!("{:?} (first 8 of {})", &xs[..8], xs.len())
    }
}

impl Potential for Expression {
    fn dim(&self) -> usize {
        self.variables.len()
    }

    fn value(&self, w: &[f64]) -> f64 {
        self.value.eval(w)
    }

    fn gradient_into(&self, w: &[f64], g: &mut [f64]) {
        for (g, d) in g.iter_mut().zip(&self.gradient) {
            *g = d.as_ref().map_or(0.0, |d| d.eval(w));
        }
    }

    fn hessian_vector_into(&self, w: &[f64], x: &[f64], out: &mut [f64]) {
        let n = self.variables.len();
        out[..n].fill(0.0);
        // Each symmetric entry is evaluated once and used for both (i, j) and (j, i).
        let mut k = 0;
        for i in 0..n {
            for j in i..n {
                if let Some(d) = &self.hessian[k] {
                    let h = d.eval(w);
                    out[i] += h * x[j];
                    if j != i {
                        out[j] += h * x[i];
                    }
                }
                k += 1;
            }
        }
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn minimum(&self) -> Option<&[f64]> {
        self.minimum.as_deref()
    }

    fn minimum_value(&self) -> Option<f64> {
        self.minimum_value
    }

    fn hessian_spectrum(&self) -> Option<&[f64]> {
        self.spectrum.as_deref()
    }
}

/// Parses `text` (whitespace already made spaces), refusing variables outside `variables`
/// and the forms exmex reads differently from the usual convention.
fn parse_checked(text: &str, variables: &[String]) -> Result<Flat, ExpressionError> {
    let ex = Flat::parse(text).map_err(|e| parse_error(text, e.msg()))?;
    if let Some(name) = ex.var_names().iter().find(|v| !variables.contains(v)) {
        return Err(ExpressionError::new(
            format!(
                "unknown variable \"{name}\"; variables are {}",
                variables.join(", ")
            ),
            identifier_span(text, name),
        ));
    }
    if let Some(span) = unary_minus_before_power(text) {
        let written = &text[span.clone()];
        return Err(ExpressionError::new(
            format!(
                "ambiguous \"{written}\": exmex applies a unary minus before ^ \
                 (-x^2 would mean (-x)^2); write -(x^2) or (-x)^2"
            ),
            Some(span),
        ));
    }
    if let Some(span) = chained_power(text) {
        return Err(ExpressionError::new(
            "ambiguous chained power a^b^c: exmex reads it as (a^b)^c; \
             write (a^b)^c or a^(b^c)",
            Some(span),
        ));
    }
    Ok(ex)
}

/// Most operations (operators and opening parentheses) an expression may have: exmex's
/// symbolic derivative of a sum of n terms takes time ~n^2.6 (95 terms 0.15 s, 1 000 terms
/// 68 s and 10 GB, measured 2026-12-06).
pub const MAX_OPERATIONS: usize = 200;

/// Most operations × variables: the gradient is one derivative per variable (a sum of 20
/// squares in 20 variables, 1 600, takes 0.8 s; of 50, 10 000, 13 s).
pub const MAX_WORK: usize = 4_000;

/// Refuses a formula whose derivatives would take too long to build (see [`MAX_OPERATIONS`]
/// and [`MAX_WORK`]), before exmex sees it.
fn check_size(text: &str, variables: usize) -> Result<(), ExpressionError> {
    let operations = text.bytes().filter(|b| b"+-*/^(".contains(b)).count();
    let advice = "for a large potential use kind = \"quadratic\", or write it in Rust or Python (a Potential of your own)";
    if operations > MAX_OPERATIONS {
        return Err(ExpressionError::new(
            format!(
                "too long to differentiate symbolically: {operations} operations (operators and parentheses), at most {MAX_OPERATIONS}; {advice}"
            ),
            None,
        ));
    }
    if operations * variables > MAX_WORK {
        return Err(ExpressionError::new(
            format!(
                "too large to differentiate symbolically: {operations} operations in {variables} variables, at most {MAX_WORK} operations × variables; {advice}"
            ),
            None,
        ));
    }
    Ok(())
}

/// Stack for exmex's parsing and differentiation, which recurse through the expression's
/// nesting with large frames (a sum of 95 terms overflowed the main thread's 8 MiB).
/// Reserved, not committed: only what the recursion touches becomes memory.
const BUILD_STACK: usize = 256 << 20;

/// Runs `build` on a thread of its own with a [`BUILD_STACK`] stack.
fn on_deep_stack<T: Send>(
    build: impl FnOnce() -> Result<T, ExpressionError> + Send,
) -> Result<T, ExpressionError> {
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("expression".into())
            .stack_size(BUILD_STACK)
            .spawn_scoped(s, build);
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => Err(ExpressionError::new(
                format!("no room to build the expression's derivatives: {e}"),
                None,
            )),
        }
    })
}

/// Compiled partial derivatives; None where one is identically zero.
type Partials = Vec<Option<Compiled>>;

/// The symbolic gradient and upper-triangular Hessian of `ex` (laid out as [`Expression`]'s
/// fields), compiled.
fn derivatives(ex: &Flat, variables: &[String]) -> Result<(Partials, Partials), ExpressionError> {
    let n = variables.len();
    let mut gradient = Vec::with_capacity(n);
    let mut hessian = Vec::with_capacity(n * (n + 1) / 2);
    let mut first = Vec::with_capacity(n);
    for name in variables {
        let d = partial(ex, name).map_err(|e| {
            ExpressionError::new(
                format!("cannot differentiate with respect to \"{name}\": {e}"),
                None,
            )
        })?;
        gradient.push(d.as_ref().map(|d| Compiled::new(d.clone(), variables)));
        first.push(d);
    }
    for i in 0..n {
        for j in i..n {
            let second = match &first[i] {
                None => None,
                Some(d) => partial(d, &variables[j]).map_err(|e| {
                    ExpressionError::new(
                        format!(
                            "cannot build the second derivative with respect to \"{}\" \
                             and \"{}\": {e}",
                            variables[i], variables[j]
                        ),
                        None,
                    )
                })?,
            };
            hessian.push(second.map(|d| Compiled::new(d, variables)));
        }
    }
    Ok((gradient, hessian))
}

/// ∂ex/∂`name`; None when `ex` does not involve `name` (the partial is 0).
fn partial(ex: &Flat, name: &str) -> Result<Option<Flat>, String> {
    match ex.var_names().iter().position(|v| v == name) {
        None => Ok(None),
        Some(k) => ex
            .clone()
            .partial(k)
            .map(Some)
            .map_err(|e| e.msg().to_string()),
    }
}

/// At least one variable, each a name exmex reads as that variable, none twice; else the
/// index of the first offending name (None: the list is empty) and why.
pub(crate) fn check_variables(
    variables: &[String],
) -> Result<(), (Option<usize>, ExpressionError)> {
    if variables.is_empty() {
        return Err((
            None,
            ExpressionError::new("no variables: name at least one coordinate", None),
        ));
    }
    for (i, name) in variables.iter().enumerate() {
        if variables[..i].contains(name) {
            return Err((
                Some(i),
                ExpressionError::new(format!("variable \"{name}\" is listed twice"), None),
            ));
        }
        // The name alone must parse to exactly itself: this rejects constants (e, PI),
        // function names (sin), numbers and stray characters, whatever exmex's rules are.
        let alone = Flat::parse(name);
        if !alone.is_ok_and(|ex| ex.var_names() == [name.as_str()]) {
            let identifier = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            let why = if identifier {
                "it is a constant or function name in expressions (e.g. e, E, PI, sin, min)"
            } else {
                "use letters, digits and underscores, starting with a letter or underscore"
            };
            return Err((
                Some(i),
                ExpressionError::new(format!("invalid variable name \"{name}\": {why}"), None),
            ));
        }
    }
    Ok(())
}

/// Turns exmex's parse error into one that reads well, locating it where the message allows
/// (exmex reports no positions: only the unparsed rest of the text, or the operators
/// involved).
fn parse_error(text: &str, msg: &str) -> ExpressionError {
    let error = |m: &str, span| ExpressionError::new(format!("cannot parse expression: {m}"), span);
    let reprs = quoted_reprs(msg);
    if let Some(rest) = msg.strip_prefix("don't know how to parse ") {
        let span = text.ends_with(rest).then(|| {
            let start = text.len() - rest.len();
            start..start + rest.chars().next().map_or(0, char::len_utf8)
        });
        error(msg, span)
    } else if msg.starts_with("a binary operator cannot be on the right of another operator") {
        // exmex prints the operators' Debug form (with function addresses): keep the names.
        let reprs = debug_reprs(msg);
        match reprs.as_slice() {
            [op, previous] => error(
                &format!("binary operator '{op}' cannot follow operator '{previous}'"),
                pair_span(text, previous, op),
            ),
            _ => error("a binary operator cannot follow another operator", None),
        }
    } else if msg.contains("closing paren") && reprs.len() == 1 {
        let span = if msg.starts_with("an operator cannot be on the left") {
            pair_span(text, &reprs[0], ")")
        } else {
            pair_span(text, ")", &reprs[0])
        };
        error(msg, span)
    } else if msg.contains("violated by") && reprs.len() == 2 {
        error(msg, pair_span(text, &reprs[0], &reprs[1]))
    } else if msg == "parentheses mismatch" || msg.starts_with("too many closing parentheses") {
        error(
            &format!("unbalanced parentheses (exmex: {msg})"),
            paren_span(text),
        )
    } else if msg.starts_with("we have ") && msg.contains("one more node than op") {
        error(
            &format!(
                "operands and operators do not match: an operator is missing (no implicit \
                 multiplication: write 2*x, not 2x) or a two-argument function such as \
                 min(a, b) got one argument (exmex: {msg})"
            ),
            None,
        )
    } else if msg == "the last element cannot be an operator" {
        let end = text.trim_end().len();
        let start = text[..end].char_indices().next_back().map_or(0, |(i, _)| i);
        error(
            &format!("the expression ends with an operator (exmex: {msg})"),
            (end > 0).then_some(start..end),
        )
    } else if msg == "cannot parse empty string" {
        error("the expression is empty", None)
    } else {
        error(msg, None)
    }
}

/// The names between single quotes in an exmex message (`violated by '+' left of '*'`).
fn quoted_reprs(msg: &str) -> Vec<String> {
    let Some((_, tail)) = msg.split_once("violated by") else {
        return Vec::new();
    };
    tail.split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The `repr: "…"` fields of operators printed with `{:?}` in an exmex message.
fn debug_reprs(msg: &str) -> Vec<String> {
    msg.split("repr: \"")
        .skip(1)
        .filter_map(|s| s.split_once('"').map(|(r, _)| r.to_string()))
        .collect()
}

/// The first place where `a` is followed (spaces allowed) by `b`.
fn pair_span(text: &str, a: &str, b: &str) -> Option<Range<usize>> {
    text.match_indices(a).find_map(|(i, _)| {
        let after = i + a.len();
        let rest = &text[after..];
        let skipped = rest.len() - rest.trim_start_matches(' ').len();
        rest[skipped..]
            .starts_with(b)
            .then(|| i..after + skipped + b.len())
    })
}

/// The first `)` without a matching `(`, else the last unclosed `(`.
fn paren_span(text: &str) -> Option<Range<usize>> {
    let mut open = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '(' => open.push(i),
            ')' if open.pop().is_none() => return Some(i..i + 1),
            _ => {}
        }
    }
    open.pop().map(|i| i..i + 1)
}

/// Where `name` first appears as a whole variable (`{name}` or a bare identifier).
fn identifier_span(text: &str, name: &str) -> Option<Range<usize>> {
    let braced = format!("{{{name}}}");
    if let Some(i) = text.find(&braced) {
        return Some(i..i + braced.len());
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).find_map(|(i, _)| {
        let end = i + name.len();
        let before = text[..i].chars().next_back().is_some_and(is_ident);
        let after = text[end..].chars().next().is_some_and(is_ident);
        (!before && !after).then_some(i..end)
    })
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// The index after the parenthesis closing the one at `open`.
fn after_group(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The end of the operand starting at `i` (after spaces and unary signs): a number, a
/// `{variable}`, a parenthesised group, or a name with its call's parentheses. Only a
/// scan for the two ambiguities below, on text exmex has already accepted.
fn operand_end(b: &[u8], i: usize) -> Option<usize> {
    let mut i = skip_spaces(b, i);
    while matches!(b.get(i), Some(b'+' | b'-')) {
        i = skip_spaces(b, i + 1);
    }
    let c = *b.get(i)?;
    if c == b'(' {
        after_group(b, i)
    } else if c == b'{' {
        b[i..].iter().position(|&c| c == b'}').map(|k| i + k + 1)
    } else if c.is_ascii_digit() || c == b'.' {
        // Literal works on text; the bytes from i start at a char boundary (ASCII here).
        let text = std::str::from_utf8(&b[i..]).ok()?;
        Literal::is_literal(text).map(|l| i + l.len())
    } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
        let mut k = i;
        while b
            .get(k)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
        {
            k += 1;
        }
        let after = skip_spaces(b, k);
        if b.get(after) == Some(&b'(') {
            after_group(b, after)
        } else {
            Some(k)
        }
    } else {
        None
    }
}

/// A unary minus whose operand is raised to a power (`-x^2`, `exp(-x^2)`, `2*-sin(x)^2`):
/// exmex reads it as `(-x)^2`. Returns the bytes from the minus to the `^`.
fn unary_minus_before_power(text: &str) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let mut previous: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'{' {
            // A braced variable name may hold any characters: step over it.
            i += b[i..]
                .iter()
                .position(|&c| c == b'}')
                .map_or(b.len() - i, |k| k + 1);
            previous = Some(b'}');
            continue;
        }
        if c != b' ' {
            let unary = matches!(
                previous,
                None | Some(b'(' | b',' | b'+' | b'-' | b'*' | b'/' | b'^')
            );
            if c == b'-'
                && unary
                && let Some(end) = operand_end(b, i + 1)
            {
                let next = skip_spaces(b, end);
                if b.get(next) == Some(&b'^') {
                    return Some(i..next + 1);
                }
            }
            previous = Some(c);
        }
        i += 1;
    }
    None
}

/// A power whose exponent is itself followed by `^` (`a^b^c`), which exmex reads as
/// `(a^b)^c`. Returns the bytes from the first `^` to the second.
fn chained_power(text: &str) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => {
                i += b[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .map_or(b.len() - i, |k| k + 1);
                continue;
            }
            b'^' => {
                if let Some(end) = operand_end(b, i + 1) {
                    let next = skip_spaces(b, end);
                    if b.get(next) == Some(&b'^') {
                        return Some(i..next + 1);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operator of exmex's [`FloatOpsFactory`] is either exact on every CPU (IEEE
    /// arithmetic, sqrt, rounding, constants) or one of [`LibmOps`]' replacements, which
    /// evaluate to the `libm` crate's bits: a function exmex adds later fails here until
    /// it is placed.
    #[test]
    fn expression_functions_are_the_libm_crates() {
        const EXACT: [&str; 17] = [
            "*", "/", "+", "-", "min", "max", "abs", "signum", "floor", "round", "ceil", "trunc",
            "fract", "sqrt", "PI", "E", "TAU",
        ];
        let ops = LibmOps::make();
        for op in FloatOpsFactory::<f64>::make() {
            let name = op.repr();
            let replaced =
                name == "^" || name == "atan2" || LIBM_UNARY.iter().any(|(n, _)| *n == name);
            let constant = op.constant().is_some();
            assert!(
                replaced || constant || EXACT.contains(&name),
                "exmex's {name}"
            );
            assert!(ops.iter().any(|o| o.repr() == name), "{name} kept");
        }
        let x = 0.712_345_678_9;
        for (name, f) in LIBM_UNARY {
            let e = Flat::parse(&format!("{name}(x)")).unwrap();
            assert_eq!(e.eval(&[x]).unwrap().to_bits(), f(x).to_bits(), "{name}");
        }
        let e = Flat::parse("x^y + atan2(x, y)").unwrap();
        let want = libm::pow(x, 2.3) + libm::atan2(x, 2.3);
        assert_eq!(e.eval(&[x, 2.3]).unwrap().to_bits(), want.to_bits());
    }

    fn vars(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    const ROSENBROCK: &str = "(1 - x)^2 + 100*(y - x^2)^2";

    fn rosenbrock_gradient(x: f64, y: f64) -> [f64; 2] {
        [
            -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
            200.0 * (y - x * x),
        ]
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
    }

    /// xorshift64*: pseudo-random points without a dependency.
    fn uniform(state: &mut u64, lo: f64, hi: f64) -> f64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// A sum of 200 operations (deeper than exmex's recursion allowed on an 8 MiB stack at
    /// 95) builds, with its exact derivatives; one more operation is refused.
    #[test]
    fn long_sums_build_up_to_the_limit() {
        let sum = |terms: usize| vec!["x"; terms].join("+");
        let p = Expression::new(&vars(&["x"]), &sum(201), None).unwrap();
        let mut g = [0.0];
        p.gradient_into(&[0.5], &mut g);
        assert_eq!((p.value(&[0.5]), g[0]), (100.5, 201.0));
        let err = Expression::new(&vars(&["x"]), &sum(202), None).unwrap_err();
        assert!(err.message.contains("201 operations"), "{err}");
        // Operations × variables: 20 squares in 20 variables pass (1 600), 50 do not.
        let squares = |n: usize| {
            let names: Vec<String> = (1..=n).map(|i| format!("x{i}")).collect();
            let text: Vec<String> = names.iter().map(|x| format!("({x} - 1)^2")).collect();
            (names, text.join(" + "))
        };
        let (names, text) = squares(20);
        let p = Expression::new(&names, &text, Some(vec![1.0; 20])).unwrap();
        assert_eq!(p.hessian_spectrum(), Some(&[2.0; 20][..]));
        let (names, text) = squares(50);
        let err = Expression::new(&names, &text, None).unwrap_err();
        assert!(
            err.message.contains("199 operations in 50 variables"),
            "{err}"
        );
    }

    /// A given minimum must be stationary to its digits.
    #[test]
    fn a_given_minimum_is_checked() {
        let err = Expression::new(&vars(&["x"]), "x^2", Some(vec![5.0])).unwrap_err();
        assert!(
            err.message
                .starts_with("∇E = [10.0] at the given minimum [5.0]"),
            "{err}"
        );
        let well = "(x^2 - 1)^2 + 0.3*x";
        Expression::new(&vars(&["x"]), well, Some(vec![-1.035578714088854])).unwrap();
        assert!(Expression::new(&vars(&["x"]), well, Some(vec![-1.0356])).is_err());
    }

    #[test]
    fn rosenbrock_gradient_closed_form_and_finite_differences() {
        let p = Expression::new(&vars(&["x", "y"]), ROSENBROCK, None).unwrap();
        assert_eq!(p.dim(), 2);
        let mut g = [0.0; 2];
        for (x, y) in [(0.0, 0.0), (1.0, 1.0), (-1.2, 1.0), (0.3, -0.7), (2.5, 6.1)] {
            p.gradient_into(&[x, y], &mut g);
            let want = rosenbrock_gradient(x, y);
            for k in 0..2 {
                assert!(close(g[k], want[k], 1e-12), "{x},{y}: {g:?} vs {want:?}");
            }
            let e = (1.0 - x) * (1.0 - x) + 100.0 * (y - x * x) * (y - x * x);
            assert!(close(p.value(&[x, y]), e, 1e-12));
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let h = 1e-5;
        for _ in 0..20 {
            let w = [
                uniform(&mut state, -2.0, 2.0),
                uniform(&mut state, -1.0, 3.0),
            ];
            p.gradient_into(&w, &mut g);
            for k in 0..2 {
                let (mut plus, mut minus) = (w, w);
                plus[k] += h;
                minus[k] -= h;
                let fd = (p.value(&plus) - p.value(&minus)) / (2.0 * h);
                assert!(close(g[k], fd, 1e-6), "{w:?}[{k}]: {} vs {fd}", g[k]);
            }
        }
    }

    #[test]
    fn rosenbrock_hessian_and_spectrum_at_the_minimum() {
        let p = Expression::new(&vars(&["x", "y"]), ROSENBROCK, Some(vec![1.0, 1.0])).unwrap();
        let rows = p.hessian_rows(&[1.0, 1.0]);
        let want = [[802.0, -400.0], [-400.0, 200.0]];
        for i in 0..2 {
            for j in 0..2 {
                assert!(close(rows[i][j], want[i][j], 1e-12), "{rows:?}");
            }
        }
        // H·x through the Trait, against the same matrix.
        let mut out = [0.0; 2];
        p.hessian_vector_into(&[1.0, 1.0], &[0.5, -2.0], &mut out);
        assert!(close(out[0], 802.0 * 0.5 + 800.0, 1e-12));
        assert!(close(out[1], -200.0 - 400.0, 1e-12));
        let r = (301.0f64 * 301.0 + 400.0 * 400.0).sqrt();
        let spectrum = p.hessian_spectrum().unwrap();
        assert_eq!(spectrum.len(), 2);
        assert!((spectrum[0] - (501.0 - r)).abs() < 1e-9, "{spectrum:?}");
        assert!((spectrum[1] - (501.0 + r)).abs() < 1e-9, "{spectrum:?}");
        assert_eq!(p.minimum(), Some(&[1.0, 1.0][..]));
        assert_eq!(p.minimum_value(), Some(0.0));
    }

    #[test]
    fn rosenbrock_hessian_vector_away_from_the_minimum() {
        let p = Expression::new(&vars(&["x", "y"]), ROSENBROCK, None).unwrap();
        assert!(p.minimum().is_none() && p.minimum_value().is_none());
        assert!(p.hessian_spectrum().is_none());
        let (x, y) = (-0.8, 0.4);
        let h = [
            [2.0 - 400.0 * (y - x * x) + 800.0 * x * x, -400.0 * x],
            [-400.0 * x, 200.0],
        ];
        let v = [0.3, -1.7];
        let mut out = [0.0; 2];
        p.hessian_vector_into(&[x, y], &v, &mut out);
        for i in 0..2 {
            assert!(
                close(out[i], h[i][0] * v[0] + h[i][1] * v[1], 1e-12),
                "{out:?}"
            );
        }
    }

    #[test]
    fn double_well_gradient() {
        let p = Expression::new(&vars(&["x"]), "(x^2 - 1)^2 + 0.3*x", None).unwrap();
        let mut g = [0.0];
        for x in [-1.5, -1.0, -0.3, 0.0, 0.7, 1.0, 2.2] {
            p.gradient_into(&[x], &mut g);
            let want = 4.0 * x * (x * x - 1.0) + 0.3;
            assert!(close(g[0], want, 1e-12), "{x}: {} vs {want}", g[0]);
        }
    }

    #[test]
    fn variables_in_any_order_and_unused_ones() {
        // exmex orders variables alphabetically; the caller's order must win.
        let p = Expression::new(&vars(&["y", "unused", "x"]), "x - 2*y + x*y", None).unwrap();
        let w = [3.0, 100.0, 5.0]; // y = 3, x = 5
        assert!(close(p.value(&w), 5.0 - 6.0 + 15.0, 1e-15));
        let mut g = [f64::NAN; 3];
        p.gradient_into(&w, &mut g);
        assert_eq!(g, [-2.0 + 5.0, 0.0, 1.0 + 3.0]);
        let mut out = [f64::NAN; 3];
        p.hessian_vector_into(&w, &[1.0, 7.0, 2.0], &mut out);
        assert_eq!(out, [2.0, 0.0, 1.0]);
    }

    #[test]
    fn functions_whitespace_and_scientific_notation() {
        let p = Expression::new(
            &vars(&["a", "b"]),
            "exp(a)\n\t+ sin(b) * cos(a) + ln(a) + sqrt(b) + 2.5e-1*a + 1E2",
            None,
        )
        .unwrap();
        let (a, b) = (0.7f64, 1.3f64);
        let e = a.exp() + b.sin() * a.cos() + a.ln() + b.sqrt() + 0.25 * a + 100.0;
        assert!(close(p.value(&[a, b]), e, 1e-14));
        let mut g = [0.0; 2];
        p.gradient_into(&[a, b], &mut g);
        assert!(close(
            g[0],
            a.exp() - b.sin() * a.sin() + 1.0 / a + 0.25,
            1e-13
        ));
        assert!(close(g[1], b.cos() * a.cos() + 0.5 / b.sqrt(), 1e-13));
        // A negative base to a constant power: the power rule's ln(base) term is dropped
        // symbolically, not evaluated as ln(negative)·0 = NaN.
        let p = Expression::new(&vars(&["x"]), "(x - 3)^3", None).unwrap();
        p.gradient_into(&[1.0], &mut g[..1]);
        assert!(close(g[0], 12.0, 1e-15));
    }

    #[test]
    fn errors_name_the_problem() {
        let xy = vars(&["x", "y"]);
        let e = Expression::new(&xy, "x +* y", None).unwrap_err();
        assert!(e.message.contains("cannot parse"), "{e:?}");
        assert!(
            e.message.contains("'*'") && e.message.contains("'+'"),
            "{e:?}"
        );
        assert_eq!(e.span, Some(2..4));

        let e = Expression::new(&xy, "x $ y", None).unwrap_err();
        assert!(e.message.contains("don't know how to parse"), "{e:?}");
        assert_eq!(e.span, Some(2..3));

        let e = Expression::new(&xy, "(x + y", None).unwrap_err();
        assert!(e.message.contains("parentheses"), "{e:?}");
        assert_eq!(e.span, Some(0..1));

        let e = Expression::new(&xy, "2x + y", None).unwrap_err();
        assert!(e.message.contains("implicit multiplication"), "{e:?}");

        let e = Expression::new(&xy, "x^2 + z*y", None).unwrap_err();
        assert_eq!(e.message, "unknown variable \"z\"; variables are x, y");
        assert_eq!(e.span, Some(6..7));

        let e = Expression::new(&vars(&["x", "x"]), "x", None).unwrap_err();
        assert!(e.message.contains("\"x\" is listed twice"), "{e:?}");

        let e = Expression::new(&[], "1", None).unwrap_err();
        assert!(e.message.contains("no variables"), "{e:?}");

        for bad in ["e", "PI", "sin", "2x", "a b", ""] {
            let e = Expression::new(&vars(&[bad]), "1", None).unwrap_err();
            assert!(e.message.contains("invalid variable name"), "{bad}: {e:?}");
        }

        let e = Expression::new(&xy, "abs(x) + y", None).unwrap_err();
        assert!(
            e.message
                .contains("cannot differentiate with respect to \"x\""),
            "{e:?}"
        );

        let e = Expression::new(&xy, "exp(-x^2) + y", None).unwrap_err();
        assert!(e.message.contains("unary minus"), "{e:?}");
        assert_eq!(e.span, Some(4..7));
        // Parenthesised, either reading is accepted.
        assert!(Expression::new(&xy, "exp(-(x^2)) + (-y)^2 - x^2", None).is_ok());

        let e = Expression::new(&xy, "x^2^y", None).unwrap_err();
        assert!(e.message.contains("chained power"), "{e:?}");
        assert_eq!(e.span, Some(1..4));

        let e = Expression::new(&xy, "ln(x) + y", Some(vec![-1.0, 0.0])).unwrap_err();
        assert!(e.message.contains("E is not finite"), "{e:?}");
        let e = Expression::new(&xy, "sqrt(x) + y", Some(vec![0.0, 0.0])).unwrap_err();
        assert!(e.message.contains("gradient is not finite"), "{e:?}");
    }

    const _: () = {
        const fn send_sync<T: Send + Sync>() {}
        send_sync::<Expression>();
    };
}
