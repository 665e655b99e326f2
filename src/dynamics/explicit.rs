//! The explicit Runge–Kutta loops on nalgebra vectors: Hairer's DOPRI5 (Dormand–Prince
//! 5(4)) and DOP853 (Dormand–Prince 8(5,3)) with their initial step, PI controller, step
//! budget and step-size underflow test, and the classic RK4 — each as `ode_solvers` 0.6.2
//! runs it, operation for operation (the same bits; a unit test compares every step), but
//! without what it adds around them: a store of every accepted step (its `Sparse` output:
//! 8·(2n + 1) bytes a step, 4 MB a step at 512 × 512), a dozen vector allocations a step on
//! dynamic vectors, and DOP853's stage time c₁₂ = 0 (Hairer's is 1; it differs only where
//! the right-hand side reads t).
//!
//! Each accepted step's end state and derivative go to the system's `solout`, which may end
//! the run; the step watcher builds its own interpolant from them.

use nalgebra::{DefaultAllocator, Dim, OVector, allocator::Allocator};
use ode_solvers::controller::Controller;
use ode_solvers::dop_shared::{IntegrationError, System};

use super::dormand_prince::{A as DP_A, C as DP_C};
use super::settings::ContinuousSpec;

/// `ode_solvers`' Dopri5 error weights b − b̂ (its literals, which the engine's lane kernel
/// does not use).
const DP_E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Hairer's stiffness test: h·λ̂ above this …
const DOPRI5_STIFF: f64 = 3.25;
/// … this many tests in a row is stiff; …
const STIFF_IN_A_ROW: u32 = 15;
/// … and this many below it in a row forgets the count.
const NON_STIFF_RESET: u32 = 6;

/// `ode_solvers`' `sign`: |a| with the sign of b (b = 0 counts as negative).
fn sign(a: f64, b: f64) -> f64 {
    if b > 0.0 { a.abs() } else { -a.abs() }
}

/// std's `powf`, as `ode_solvers` calls it (and its controller still does): the `pow` the
/// program links — the `libm` crate's under [`crate::portable_math!`], as in the command
/// line — so these loops size their steps exactly as `ode_solvers`' did in any program.
#[allow(clippy::disallowed_methods)]
fn powf(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// The run's step budget, tolerances and direction (`ode_solvers`' `from_param` with
/// x = 0, x_end = h_max = t_end and h = 0: the initial step is Hairer's).
struct Limits {
    t_end: f64,
    rtol: f64,
    atol: f64,
    n_max: u32,
    posneg: f64,
}

impl Limits {
    fn of(spec: &ContinuousSpec) -> Self {
        Limits {
            t_end: spec.t_end,
            rtol: spec.rtol,
            atol: spec.atol,
            n_max: u32::try_from(spec.max_steps).unwrap_or(u32::MAX),
            posneg: sign(1.0, spec.t_end),
        }
    }

    /// Hairer's PI controller (safety 0.9, h ≤ |t_end|).
    fn controller(&self, alpha: f64, beta: f64, fac_max: f64, fac_min: f64) -> Controller<f64> {
        Controller::new(alpha, beta, fac_max, fac_min, self.t_end, 0.9, self.posneg)
    }

    /// The scale of component `y` in the error norms.
    fn scale(&self, y: f64) -> f64 {
        self.atol + y * self.rtol
    }

    /// `ode_solvers`' tests before a step from `x` of size `h`: the step budget (`spent`
    /// after `n_step` steps: DOP853 stops at n_max, DOPRI5 one step later) and underflow.
    fn refuse(&self, x: f64, h: f64, n_step: u32, spent: bool) -> Result<(), IntegrationError> {
        if spent {
            return Err(IntegrationError::MaxNumStepReached { x, n_step });
        }
        if 0.1 * h.abs() <= f64::EPSILON * x.abs() {
            return Err(IntegrationError::StepSizeUnderflow { x });
        }
        Ok(())
    }

    /// The step from `x` clipped to end at t_end when it would pass 1.01·h beyond it, and
    /// whether it is the last.
    fn clip(&self, x: f64, h: f64) -> (f64, bool) {
        if (x + 1.01 * h - self.t_end) * self.posneg > 0.0 {
            (self.t_end - x, true)
        } else {
            (h, false)
        }
    }
}

/// Hairer's initial step (`ode_solvers`' `hinit`, `root` the method's 1/order: 1/5 or
/// 1/8), with f(0, y) and a trial evaluation in `scratch`.
fn initial_step<D: Dim, S: System<f64, OVector<f64, D>>>(
    f: &S,
    y: &OVector<f64, D>,
    limits: &Limits,
    root: f64,
    scratch: &mut [OVector<f64, D>; 3],
) -> f64
where
    DefaultAllocator: Allocator<D>,
{
    let [f0, f1, y1] = scratch;
    let (x, h_max, posneg) = (0.0, limits.t_end.abs(), limits.posneg);
    f.system(x, y, f0);
    let (mut d0, mut d1) = (0.0, 0.0);
    for (y, f0) in y.iter().zip(f0.iter()) {
        let sc = limits.scale(y.abs());
        d0 += (y / sc) * (y / sc);
        d1 += (f0 / sc) * (f0 / sc);
    }
    let mut h0 = if d0 < 1e-10 || d1 < 1e-10 {
        1e-6
    } else {
        0.01 * (d0 / d1).sqrt()
    };
    h0 = sign(h0.min(h_max), posneg);
    for ((y1, y), f0) in y1.iter_mut().zip(y.iter()).zip(f0.iter()) {
        *y1 = y + f0 * h0;
    }
    f.system(x + h0, y1, f1);
    let mut d2 = 0.0;
    for ((y, f0), f1) in y.iter().zip(f0.iter()).zip(f1.iter()) {
        let sc = limits.scale(y.abs());
        d2 += ((f1 - f0) / sc) * ((f1 - f0) / sc);
    }
    d2 = d2.sqrt() / h0;
    let h1 = if d1.sqrt().max(d2.abs()) <= 1e-15 {
        1e-6_f64.max(h0.abs() * 1e-3)
    } else {
        powf(0.01 / d1.sqrt().max(d2), root)
    };
    sign((100.0 * h0.abs()).min(h1.min(h_max)), posneg)
}

/// Hairer's stiffness test after an accepted step (`ode_solvers`' counters `iasti` and
/// `non_stiff`): h·λ̂ with λ̂² = |Δf|²/|Δy|² over the step's last two stages.
struct StiffnessTest {
    every: u32,
    stiff: u32,
    non_stiff: u32,
}

impl StiffnessTest {
    /// Whether the test is due after `accepted` steps.
    fn due(&self, accepted: u32) -> bool {
        accepted.is_multiple_of(self.every) || self.stiff > 0
    }

    /// Counts one test of `h_lamb`; `true` when the run is found stiff.
    fn stiff_after(&mut self, h_lamb: f64) -> bool {
        if h_lamb > DOPRI5_STIFF {
            self.stiff += 1;
            self.non_stiff = 0;
            self.stiff == STIFF_IN_A_ROW
        } else {
            self.non_stiff += 1;
            if self.non_stiff == NON_STIFF_RESET {
                self.stiff = 0;
            }
            false
        }
    }
}

/// Dormand–Prince 5(4) from t = 0 to `spec.t_end` (or until `solout` says stop): Hairer's
/// DOPRI5 as `ode_solvers`' `Dopri5` runs it with safety 0.9, β = 0.04, step factors in
/// [0.2, 10], h ≤ t_end and its stiffness test every `n_stiff` accepted steps (`u32::MAX`:
/// never), which ends the run with `StiffnessDetected` where it finds the run stiff.
pub(super) fn dopri5<D: Dim, S: System<f64, OVector<f64, D>>>(
    mut f: S,
    y0: OVector<f64, D>,
    spec: &ContinuousSpec,
    n_stiff: u32,
) -> Result<(), IntegrationError>
where
    DefaultAllocator: Allocator<D>,
{
    let limits = Limits::of(spec);
    let beta = 0.04;
    let mut controller = limits.controller(0.2 - beta * 0.75, beta, 10.0, 0.2);
    let mut stiffness = StiffnessTest {
        every: n_stiff,
        stiff: 0,
        non_stiff: 0,
    };
    let mut k: [OVector<f64, D>; 7] = std::array::from_fn(|_| y0.clone());
    let [mut y_next, mut y_stiff, mut diff] = std::array::from_fn(|_| y0.clone());
    let mut h = initial_step(
        &f,
        &y0,
        &limits,
        1.0 / 5.0,
        &mut std::array::from_fn(|_| y0.clone()),
    );
    let mut y = y0;
    let (mut x, mut n_step, mut accepted, mut h_new) = (0.0, 0u32, 0u32, 0.0);
    let mut last = false;
    f.system(x, &y, &mut k[0]);
    while !last {
        limits.refuse(x, h, n_step, n_step > limits.n_max)?;
        (h, last) = limits.clip(x, h);
        n_step += 1;
        for s in 1..7 {
            y_next.copy_from(&y);
            for (kj, a) in k.iter().zip(DP_A[s]).take(s) {
                for (yn, kj) in y_next.iter_mut().zip(kj.iter()) {
                    *yn += kj * h * a;
                }
            }
            f.system(x + h * DP_C[s], &y_next, &mut k[s]);
            if s == 5 {
                y_stiff.copy_from(&y_next);
            }
        }
        let (head, tail) = k.split_at_mut(6);
        head[1].copy_from(&tail[0]);
        // The error estimate, into k₄ (ode_solvers' k[3]), element by element in its order.
        let mut err = 0.0;
        for i in 0..y.len() {
            let e = (k[0][i] * DP_E[0]
                + k[2][i] * DP_E[2]
                + k[3][i] * DP_E[3]
                + k[4][i] * DP_E[4]
                + k[5][i] * DP_E[5]
                + k[1][i] * DP_E[6])
                * h;
            k[3][i] = e;
            let sc = limits.scale(y[i].abs().max(y_next[i].abs()));
            err += (e / sc) * (e / sc);
        }
        err = (err / y.len() as f64).sqrt();
        if controller.accept(err, h, &mut h_new) {
            accepted += 1;
            if stiffness.due(accepted) {
                diff.copy_from(&k[1]);
                diff -= &k[5];
                let num = diff.dot(&diff);
                diff.copy_from(&y_next);
                diff -= &y_stiff;
                let den = diff.dot(&diff);
                let h_lamb = if den > 0.0 {
                    h * (num / den).sqrt()
                } else {
                    0.0
                };
                if stiffness.stiff_after(h_lamb) {
                    return Err(IntegrationError::StiffnessDetected { x });
                }
            }
            let (head, tail) = k.split_at_mut(1);
            head[0].copy_from(&tail[0]);
            y.copy_from(&y_next);
            x += h;
            if f.solout(x, &y_next, &k[0]) {
                return Ok(());
            }
            if last {
                return Ok(());
            }
        } else {
            last = false;
        }
        h = h_new;
    }
    Ok(())
}

/// Dormand–Prince 8(5,3) from t = 0 to `spec.t_end` (or until `solout` says stop): Hairer's
/// DOP853 as `ode_solvers`' `Dop853` runs it with safety 0.9, β = 0, step factors in
/// [0.333, 6], h ≤ t_end and no stiffness test, but with its twelfth stage at t + h
/// (`ode_solvers` 0.6.2 has c₁₂ = 0).
pub(super) fn dop853<D: Dim, S: System<f64, OVector<f64, D>>>(
    mut f: S,
    y0: OVector<f64, D>,
    spec: &ContinuousSpec,
) -> Result<(), IntegrationError>
where
    DefaultAllocator: Allocator<D>,
{
    use dop853_tableau::{A, B, BHH, C, E};
    let limits = Limits::of(spec);
    let beta = 0.0;
    let mut controller = limits.controller(1.0 / 8.0 - beta * 0.2, beta, 6.0, 0.333);
    let mut k: [OVector<f64, D>; 12] = std::array::from_fn(|_| y0.clone());
    let mut y_next = y0.clone();
    let mut h = initial_step(
        &f,
        &y0,
        &limits,
        0.125,
        &mut std::array::from_fn(|_| y0.clone()),
    );
    let mut y = y0;
    let (mut x, mut n_step, mut h_new) = (0.0, 0u32, 0.0);
    let mut last = false;
    f.system(x, &y, &mut k[0]);
    while !last {
        limits.refuse(x, h, n_step, n_step >= limits.n_max)?;
        (h, last) = limits.clip(x, h);
        n_step += 1;
        for s in 1..12 {
            y_next.copy_from(&y);
            for (kj, a) in k.iter().zip(A[s - 1]) {
                let ha = h * a;
                for (yn, kj) in y_next.iter_mut().zip(kj.iter()) {
                    *yn += kj * ha;
                }
            }
            f.system(x + h * C[s], &y_next, &mut k[s]);
        }
        let (head, tail) = k.split_at_mut(10);
        head[1].copy_from(&tail[0]);
        head[2].copy_from(&tail[1]);
        // The new solution into k₅ with its increment in k₄ (ode_solvers' k[4], k[3]), and
        // the two error estimates, element by element in ode_solvers' order.
        let (mut err, mut err2) = (0.0, 0.0);
        for i in 0..y.len() {
            let b = k[0][i] * B[0]
                + k[5][i] * B[5]
                + k[6][i] * B[6]
                + k[7][i] * B[7]
                + k[8][i] * B[8]
                + k[9][i] * B[9]
                + k[1][i] * B[10]
                + k[2][i] * B[11];
            k[3][i] = b;
            k[4][i] = y[i] + b * h;
            let e = k.iter().zip(E).fold(0.0, |e, (k, c)| e + k[i] * c);
            let e_bhh = b - k[0][i] * BHH[0] - k[8][i] * BHH[1] - k[2][i] * BHH[2];
            let sc = limits.scale(y[i].abs().max(k[4][i].abs()));
            err += (e / sc) * (e / sc);
            err2 += (e_bhh / sc) * (e_bhh / sc);
        }
        let mut deno = err + 0.01 * err2;
        if deno <= 0.0 {
            deno = 1.0;
        }
        err = h.abs() * err * (1.0 / (deno * y.len() as f64)).sqrt();
        if controller.accept(err, h, &mut h_new) {
            let (head, tail) = k.split_at_mut(4);
            f.system(x + h, &tail[0], &mut head[3]);
            let (head, tail) = k.split_at_mut(3);
            head[0].copy_from(&tail[0]);
            y.copy_from(&k[4]);
            x += h;
            if f.solout(x, &y, &k[0]) || last {
                return Ok(());
            }
        } else {
            last = false;
        }
        h = h_new;
    }
    Ok(())
}

/// Classic Runge–Kutta 4 with fixed step `h` from t = 0 to `t_end` (⌈t_end/h⌉ steps), each
/// step's end handed to `solout` with the step's first stage, until it says stop:
/// `ode_solvers`' `Rk4` operation for operation (the same bits), without its store of
/// every step (10⁸ steps of n = 2 asked it for 3.2 GB up front) or an allocation a step.
pub(super) fn rk4<D: Dim, S>(mut f: S, mut y: OVector<f64, D>, t_end: f64, h: f64)
where
    S: System<f64, OVector<f64, D>>,
    DefaultAllocator: Allocator<D>,
{
    let (half, sixth) = (h / 2.0, h / 6.0);
    let mut k = [y.clone(), y.clone(), y.clone(), y.clone()];
    let (mut buffer, mut y_new) = (y.clone(), y.clone());
    let mut t = 0.0;
    let shifted = |buffer: &mut OVector<f64, D>, y: &OVector<f64, D>, k: &OVector<f64, D>, s| {
        buffer
            .iter_mut()
            .zip(y.iter())
            .zip(k.iter())
            .for_each(|((b, y), k)| *b = *y + *k * s);
    };
    for _ in 0..(t_end / h).ceil() as u64 {
        f.system(t, &y, &mut k[0]);
        shifted(&mut buffer, &y, &k[0], half);
        f.system(t + half, &buffer, &mut k[1]);
        shifted(&mut buffer, &y, &k[1], half);
        f.system(t + half, &buffer, &mut k[2]);
        shifted(&mut buffer, &y, &k[2], h);
        f.system(t + h, &buffer, &mut k[3]);
        t += h;
        for (i, yn) in y_new.iter_mut().enumerate() {
            *yn = y[i] + (k[0][i] + k[1][i] * 2.0 + k[2][i] * 2.0 + k[3][i]) * sixth;
        }
        let stop = f.solout(t, &y_new, &k[0]);
        y.copy_from(&y_new);
        if stop {
            break;
        }
    }
}

/// DOP853's coefficients as `ode_solvers` 0.6.2 has them (Hairer's `dop853.f`), but for
/// c₁₂ = 1.
#[allow(clippy::excessive_precision)]
mod dop853_tableau {
    /// Stage coefficients a_{s,j} for stages 2..=12 (row s − 2).
    pub const A: [&[f64]; 11] = [
        &[5.26001519587677318785587544488E-2],
        &[
            1.97250569845378994544595329183E-2,
            5.91751709536136983633785987549E-2,
        ],
        &[
            2.95875854768068491816892993775E-2,
            0.0,
            8.87627564304205475450678981324E-2,
        ],
        &[
            2.41365134159266685502369798665E-1,
            0.0,
            -8.84549479328286085344864962717E-1,
            9.24834003261792003115737966543E-1,
        ],
        &[
            3.7037037037037037037037037037E-2,
            0.0,
            0.0,
            1.70828608729473871279604482173E-1,
            1.25467687566822425016691814123E-1,
        ],
        &[
            3.7109375E-2,
            0.0,
            0.0,
            1.70252211019544039314978060272E-1,
            6.02165389804559606850219397283E-2,
            -1.7578125E-2,
        ],
        &[
            3.70920001185047927108779319836E-2,
            0.0,
            0.0,
            1.70383925712239993810214054705E-1,
            1.07262030446373284651809199168E-1,
            -1.53194377486244017527936158236E-2,
            8.27378916381402288758473766002E-3,
        ],
        &[
            6.24110958716075717114429577812E-1,
            0.0,
            0.0,
            -3.36089262944694129406857109825E0,
            -8.68219346841726006818189891453E-1,
            2.75920996994467083049415600797E1,
            2.01540675504778934086186788979E1,
            -4.34898841810699588477366255144E1,
        ],
        &[
            4.77662536438264365890433908527E-1,
            0.0,
            0.0,
            -2.48811461997166764192642586468E0,
            -5.90290826836842996371446475743E-1,
            2.12300514481811942347288949897E1,
            1.52792336328824235832596922938E1,
            -3.32882109689848629194453265587E1,
            -2.03312017085086261358222928593E-2,
        ],
        &[
            -9.3714243008598732571704021658E-1,
            0.0,
            0.0,
            5.18637242884406370830023853209E0,
            1.09143734899672957818500254654E0,
            -8.14978701074692612513997267357E0,
            -1.85200656599969598641566180701E1,
            2.27394870993505042818970056734E1,
            2.49360555267965238987089396762E0,
            -3.0467644718982195003823669022E0,
        ],
        &[
            2.27331014751653820792359768449E0,
            0.0,
            0.0,
            -1.05344954667372501984066689879E1,
            -2.00087205822486249909675718444E0,
            -1.79589318631187989172765950534E1,
            2.79488845294199600508499808837E1,
            -2.85899827713502369474065508674E0,
            -8.87285693353062954433549289258E0,
            1.23605671757943030647266201528E1,
            6.43392746015763530355970484046E-1,
        ],
    ];
    /// Weights of the 8th-order solution.
    pub const B: [f64; 12] = [
        5.42937341165687622380535766363E-2,
        0.0,
        0.0,
        0.0,
        0.0,
        4.45031289275240888144113950566E0,
        1.89151789931450038304281599044E0,
        -5.8012039600105847814672114227E0,
        3.1116436695781989440891606237E-1,
        -1.52160949662516078556178806805E-1,
        2.01365400804030348374776537501E-1,
        4.47106157277725905176885569043E-2,
    ];
    /// Weights of the embedded 3rd-order solution's difference.
    pub const BHH: [f64; 3] = [
        0.244094488188976377952755905512E+00,
        0.733846688281611857341361741547E+00,
        0.220588235294117647058823529412E-01,
    ];
    /// Nodes (c₁₂ = 1: Hairer's; `ode_solvers` has 0).
    pub const C: [f64; 12] = [
        0.0,
        0.526001519587677318785587544488E-01,
        0.789002279381515978178381316732E-01,
        0.118350341907227396726757197510E+00,
        0.281649658092772603273242802490E+00,
        0.333333333333333333333333333333E+00,
        0.25E+00,
        0.307692307692307692307692307692E+00,
        0.651282051282051282051282051282E+00,
        0.6E+00,
        0.857142857142857142857142857142E+00,
        1.0,
    ];
    /// Weights of the 5th-order error estimate.
    pub const E: [f64; 12] = [
        0.1312004499419488073250102996E-01,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.1225156446376204440720569753E+01,
        -0.4957589496572501915214079952E+00,
        0.1664377182454986536961530415E+01,
        -0.3503288487499736816886487290E+00,
        0.3341791187130174790297318841E+00,
        0.8192320648511571246570742613E-01,
        -0.2235530786388629525884427845E-01,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DVector, SVector};
    use ode_solvers::{Dop853, Dopri5, OutputType};

    /// Every accepted step's (t, y, f(y)) as `solout` sees it.
    type Steps = Vec<(f64, Vec<f64>, Vec<f64>)>;

    /// A right-hand side that records what `solout` is shown and stops after `stop` steps.
    struct Recorded<'a, F> {
        rhs: F,
        steps: &'a mut Steps,
        stop: usize,
    }

    impl<D: Dim, F: Fn(f64, &[f64], &mut [f64])> System<f64, OVector<f64, D>> for Recorded<'_, F>
    where
        DefaultAllocator: Allocator<D>,
    {
        fn system(&self, t: f64, y: &OVector<f64, D>, dy: &mut OVector<f64, D>) {
            (self.rhs)(t, y.as_slice(), dy.as_mut_slice());
        }
        fn solout(&mut self, t: f64, y: &OVector<f64, D>, dy: &OVector<f64, D>) -> bool {
            self.steps
                .push((t, y.as_slice().to_vec(), dy.as_slice().to_vec()));
            self.steps.len() >= self.stop
        }
    }

    /// A damped particle on E = ½(6w₁² + 60w₂²) + w₁⁴ (state (w, v), m = 1, μ = 0.3).
    fn particle(_t: f64, y: &[f64], dy: &mut [f64]) {
        let (w, v) = y.split_at(2);
        dy[0] = v[0];
        dy[1] = v[1];
        dy[2] = -6.0 * w[0] - 4.0 * w[0] * w[0] * w[0] - 0.3 * v[0];
        dy[3] = -60.0 * w[1] - 0.3 * v[1];
    }

    fn spec(t_end: f64, max_steps: u64) -> ContinuousSpec {
        ContinuousSpec {
            rtol: 1e-9,
            atol: 1e-11,
            t_end,
            max_steps,
            ..Default::default()
        }
    }

    type Outcome = (Result<(), String>, Steps);

    /// Ours and `ode_solvers`' run of `method` ("dopri5" with stiffness test every
    /// `n_stiff` steps, or "dop853") from `y0`, as (outcome, steps).
    fn both<D: Dim, F: Fn(f64, &[f64], &mut [f64]) + Copy>(
        method: &str,
        rhs: F,
        y0: OVector<f64, D>,
        spec: &ContinuousSpec,
        n_stiff: u32,
        stop: usize,
    ) -> (Outcome, Outcome)
    where
        DefaultAllocator: Allocator<D>,
    {
        let (mut ours, mut theirs) = (Steps::new(), Steps::new());
        let f = |steps| Recorded { rhs, steps, stop };
        let (n_max, t_end) = (spec.max_steps as u32, spec.t_end);
        let (a, b) = if method == "dopri5" {
            let mut s = Dopri5::from_param(
                f(&mut theirs),
                0.0,
                t_end,
                t_end,
                y0.clone(),
                spec.rtol,
                spec.atol,
                0.9,
                0.04,
                0.2,
                10.0,
                t_end,
                0.0,
                n_max,
                n_stiff,
                OutputType::Sparse,
            );
            (
                dopri5(f(&mut ours), y0, spec, n_stiff),
                s.integrate().map(|_| ()),
            )
        } else {
            let mut s = Dop853::from_param(
                f(&mut theirs),
                0.0,
                t_end,
                t_end,
                y0.clone(),
                spec.rtol,
                spec.atol,
                0.9,
                0.0,
                0.333,
                6.0,
                t_end,
                0.0,
                n_max,
                u32::MAX,
                OutputType::Sparse,
            );
            (dop853(f(&mut ours), y0, spec), s.integrate().map(|_| ()))
        };
        let text = |r: Result<(), IntegrationError>| r.map_err(|e| e.to_string());
        ((text(a), ours), (text(b), theirs))
    }

    /// The same outcome and steps, bit for bit.
    fn assert_same(ours: &Outcome, theirs: &Outcome, what: &str) {
        assert_eq!(ours.0, theirs.0, "{what}");
        assert_eq!(ours.1.len(), theirs.1.len(), "{what}: accepted steps");
        for (i, (a, b)) in ours.1.iter().zip(&theirs.1).enumerate() {
            let bits = |s: &(f64, Vec<f64>, Vec<f64>)| {
                let mut v = vec![s.0.to_bits()];
                v.extend(s.1.iter().chain(&s.2).map(|x| x.to_bits()));
                v
            };
            assert_eq!(bits(a), bits(b), "{what}: step {i}");
        }
    }

    #[test]
    fn both_methods_take_ode_solvers_steps_bit_for_bit() {
        let y0 = [1.0, -0.5, 0.0, 2.0];
        for method in ["dopri5", "dop853"] {
            for (t_end, max_steps, stop) in [
                (40.0, 100_000, usize::MAX),
                (40.0, 30, usize::MAX),
                (40.0, 100_000, 57),
            ] {
                let s = spec(t_end, max_steps);
                let what = format!("{method}, t_end {t_end}, {max_steps} steps, stop after {stop}");
                let (ours, theirs) = both(
                    method,
                    particle,
                    SVector::<f64, 4>::from(y0),
                    &s,
                    1000,
                    stop,
                );
                assert!(ours.1.len() > 25, "{what}: {} steps", ours.1.len());
                assert_same(&ours, &theirs, &what);
                let (ours, theirs) = both(
                    method,
                    particle,
                    DVector::from_row_slice(&y0),
                    &s,
                    1000,
                    stop,
                );
                assert_same(&ours, &theirs, &format!("{what}, dynamic"));
            }
        }
        // The budget ends both alike: dop853 after n_max steps, dopri5 one attempt later.
        let (ours, _) = both(
            "dop853",
            particle,
            SVector::<f64, 4>::from(y0),
            &spec(40.0, 30),
            1000,
            usize::MAX,
        );
        assert!(ours.0.unwrap_err().contains("Need more than 30 steps"));
    }

    #[test]
    fn dopri5_finds_a_stiff_run_where_ode_solvers_does() {
        // x' = −2000 x, y' = 1: once x has decayed, the steps are held at h·2000 ≈ 3.3 by
        // stability alone, which Hairer's test reports after 15 tests in a row.
        let stiff = |_t: f64, y: &[f64], dy: &mut [f64]| {
            dy[0] = -2000.0 * y[0];
            dy[1] = 1.0;
        };
        let s = spec(50.0, 1_000_000);
        let (ours, theirs) = both(
            "dopri5",
            stiff,
            SVector::<f64, 2>::new(1.0, 0.0),
            &s,
            1000,
            usize::MAX,
        );
        assert!(
            ours.0.as_ref().unwrap_err().contains("stiff"),
            "{:?}",
            ours.0
        );
        assert_same(&ours, &theirs, "stiff");
        // Off, it runs to the end.
        let (ours, theirs) = both(
            "dopri5",
            stiff,
            SVector::<f64, 2>::new(1.0, 0.0),
            &s,
            u32::MAX,
            usize::MAX,
        );
        assert_eq!(ours.0, Ok(()));
        assert_eq!(ours.1.last().unwrap().0, 50.0);
        assert_same(&ours, &theirs, "stiff, test off");
    }

    #[test]
    fn dop853_evaluates_its_twelfth_stage_at_the_steps_end() {
        // y' = cos t: the quadrature alone. With c₁₂ = 1 the method is of order 8 and meets
        // sin(20) to the tolerance; `ode_solvers`' c₁₂ = 0 samples cos at the step's start
        // for the weight b₁₂ and misses it by orders of magnitude more.
        let rhs = |t: f64, _y: &[f64], dy: &mut [f64]| dy[0] = libm::cos(t);
        let s = ContinuousSpec {
            rtol: 1e-12,
            atol: 1e-12,
            ..spec(20.0, 100_000)
        };
        let (ours, theirs) = both(
            "dop853",
            rhs,
            SVector::<f64, 1>::new(0.0),
            &s,
            0,
            usize::MAX,
        );
        let end = |o: &Outcome| o.1.last().unwrap().1[0];
        let exact = libm::sin(20.0);
        let (e_ours, e_theirs) = ((end(&ours) - exact).abs(), (end(&theirs) - exact).abs());
        assert!(e_ours < 1e-11, "ours {e_ours:e}");
        assert!(
            e_theirs > 1e3 * e_ours,
            "ode_solvers {e_theirs:e} vs {e_ours:e}"
        );
    }
}
