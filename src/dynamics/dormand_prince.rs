//! The Dormand–Prince 5(4) coefficients (Dormand & Prince 1980; Hairer–Nørsett–Wanner I,
//! Table II.5.2), the method `ode_solvers`' Dopri5 runs: one copy, for the engine's dopri5
//! loop, the large-state driver on diffsol and the benches' hand-written limit step.

/// Nodes c.
pub const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];

/// Stage coefficients a, row by row (zero-padded); FSAL: the last row is [`B`].
pub const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [B[0], B[1], B[2], B[3], B[4], B[5]],
];

/// Weights of the 5th-order solution.
pub const B: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];

/// Weights of the embedded 4th-order solution.
pub const B_HAT: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// The error estimate's weights b − b̂.
pub fn error_weights() -> [f64; 7] {
    std::array::from_fn(|s| B[s] - B_HAT[s])
}
