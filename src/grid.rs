//! The `[sweep]` table: axes over the swept keys, the grid as their cartesian product, and
//! the map from a point index to its values (the grid is never materialised).

/// A key a sweep can replace, in the SPEC's grid order (the last varies fastest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AxisKey {
    /// `particle.mass`.
    Mass,
    /// `particle.friction`.
    Friction,
    /// Every discrete entry's `dt`.
    Dt,
    /// Every discrete entry's `learning_rate`.
    LearningRate,
    /// Every heavy-ball entry's `momentum`.
    Momentum,
}

impl AxisKey {
    /// All keys in grid order.
    pub const ALL: [AxisKey; 5] = [
        AxisKey::Mass,
        AxisKey::Friction,
        AxisKey::Dt,
        AxisKey::LearningRate,
        AxisKey::Momentum,
    ];

    /// The key's name in scenario files and CSV headers.
    pub fn as_str(self) -> &'static str {
        match self {
            AxisKey::Mass => "mass",
            AxisKey::Friction => "friction",
            AxisKey::Dt => "dt",
            AxisKey::LearningRate => "learning_rate",
            AxisKey::Momentum => "momentum",
        }
    }
}

/// How an axis' values are written.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisSpec {
    /// `10^x` for x = numpy's `linspace(start, stop, count)`.
    Logspace {
        /// First base-10 exponent.
        start: f64,
        /// Last base-10 exponent.
        stop: f64,
        /// Number of values.
        count: u64,
    },
    /// numpy's `linspace(start, stop, count)`.
    Linspace {
        /// First value.
        start: f64,
        /// Last value.
        stop: f64,
        /// Number of values.
        count: u64,
    },
    /// The values as listed.
    Values(Vec<f64>),
}

impl AxisSpec {
    /// The table key of this form (`logspace`, `linspace`, `values`).
    pub fn form(&self) -> &'static str {
        match self {
            AxisSpec::Logspace { .. } => "logspace",
            AxisSpec::Linspace { .. } => "linspace",
            AxisSpec::Values(_) => "values",
        }
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        match self {
            AxisSpec::Logspace { count, .. } | AxisSpec::Linspace { count, .. } => *count,
            AxisSpec::Values(v) => v.len() as u64,
        }
    }

    /// Whether there are no values (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` (`i < len()`), computed exactly as numpy does; nothing is stored, so a
    /// long axis costs no memory.
    pub fn value(&self, i: u64) -> f64 {
        match *self {
            AxisSpec::Logspace { start, stop, count } => {
                libm::pow(10.0, linspace_at(start, stop, count, i))
            }
            AxisSpec::Linspace { start, stop, count } => linspace_at(start, stop, count, i),
            AxisSpec::Values(ref v) => v[i as usize],
        }
    }

    /// The smallest and the largest value: a linspace's or logspace's ends (their values
    /// run monotonically, rounding included), a list's fold; NaN never, once validated.
    pub fn bounds(&self) -> (f64, f64) {
        match self {
            AxisSpec::Values(v) => v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                }),
            _ => {
                let (a, b) = (self.value(0), self.value(self.len() - 1));
                (a.min(b), a.max(b))
            }
        }
    }

    /// All values, in order.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len()).map(|i| self.value(i))
    }
}

/// Value `i` of numpy's `linspace(start, stop, count)` to the last bit: `i·step + start`
/// with `step = (stop − start)/(count − 1)`, the last value `stop`; one value is `start`.
pub fn linspace_at(start: f64, stop: f64, count: u64, i: u64) -> f64 {
    if count == 1 {
        return start;
    }
    if i == count - 1 {
        return stop;
    }
    let div = (count - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    if step == 0.0 {
        // numpy's branch for a step that underflows: scale before multiplying.
        i as f64 / div * delta + start
    } else {
        i as f64 * step + start
    }
}

/// numpy's `linspace(start, stop, count)`.
pub fn linspace(start: f64, stop: f64, count: u64) -> Vec<f64> {
    (0..count)
        .map(|i| linspace_at(start, stop, count, i))
        .collect()
}

/// One axis of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The key it replaces.
    pub key: AxisKey,
    /// How it was written (and so its values).
    pub spec: AxisSpec,
}

impl Axis {
    /// Its first value (what a swept key holds in the resolved scenario).
    pub fn first(&self) -> f64 {
        self.spec.value(0)
    }
}

/// Axes of at most this many values are tabulated once per run ([`Sweep::tables`]): a
/// logspace value is a `pow` (~35 ns, twice a point on a two-axis grid), a table 8 bytes a
/// value.
const TABULATED: u64 = 1 << 16;

/// The grid: axes in SPEC order, the last varying fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The axes, in grid order.
    pub axes: Vec<Axis>,
}

/// The swept values at one grid point (None for keys not swept).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Values {
    /// Mass.
    pub mass: Option<f64>,
    /// Friction.
    pub friction: Option<f64>,
    /// Δt.
    pub dt: Option<f64>,
    /// ε.
    pub learning_rate: Option<f64>,
    /// p.
    pub momentum: Option<f64>,
}

impl Values {
    /// The value of one key.
    pub fn get(&self, key: AxisKey) -> Option<f64> {
        match key {
            AxisKey::Mass => self.mass,
            AxisKey::Friction => self.friction,
            AxisKey::Dt => self.dt,
            AxisKey::LearningRate => self.learning_rate,
            AxisKey::Momentum => self.momentum,
        }
    }

    fn set(&mut self, key: AxisKey, x: f64) {
        let slot = match key {
            AxisKey::Mass => &mut self.mass,
            AxisKey::Friction => &mut self.friction,
            AxisKey::Dt => &mut self.dt,
            AxisKey::LearningRate => &mut self.learning_rate,
            AxisKey::Momentum => &mut self.momentum,
        };
        *slot = Some(x);
    }
}

impl Sweep {
    /// Number of grid points (the product of the axes' lengths).
    pub fn len(&self) -> u64 {
        self.axes.iter().map(|a| a.spec.len()).product()
    }

    /// Whether the grid has no points (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The axis of a key, if swept.
    pub fn axis(&self, key: AxisKey) -> Option<&Axis> {
        self.axes.iter().find(|a| a.key == key)
    }

    /// Whether a key is swept.
    pub fn sweeps(&self, key: AxisKey) -> bool {
        self.axis(key).is_some()
    }

    /// The values at point `index` (mixed radix, the last axis fastest).
    pub fn values(&self, index: u64) -> Values {
        self.values_in(index, &[])
    }

    /// Each logspace axis' values, for axes of at most [`TABULATED`] values (None for the
    /// others: a linspace value is a product and a sum, a listed one is stored already):
    /// what [`Self::values_in`] looks up instead of computing.
    pub(crate) fn tables(&self) -> Vec<Option<Vec<f64>>> {
        self.axes
            .iter()
            .map(|a| {
                let logspace = matches!(a.spec, AxisSpec::Logspace { .. });
                (logspace && a.spec.len() <= TABULATED).then(|| a.spec.values().collect())
            })
            .collect()
    }

    /// [`Self::values`], taking each axis' value from `tables` ([`Self::tables`]) where it
    /// has one: the same numbers.
    pub(crate) fn values_in(&self, index: u64, tables: &[Option<Vec<f64>>]) -> Values {
        let mut out = Values::default();
        let mut rest = index;
        for (k, axis) in self.axes.iter().enumerate().rev() {
            let len = axis.spec.len();
            let i = rest % len;
            let x = match tables.get(k) {
                Some(Some(table)) => table[i as usize],
                _ => axis.spec.value(i),
            };
            out.set(axis.key, x);
            rest /= len;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy() {
        // numpy.linspace(-1, 1.5, 5).tolist() == [-1.0, -0.375, 0.25, 0.875, 1.5]
        assert_eq!(linspace(-1.0, 1.5, 5), vec![-1.0, -0.375, 0.25, 0.875, 1.5]);
        // numpy.linspace(0, 1, 4).tolist() == [0.0, 0.3333333333333333, 0.6666666666666666, 1.0]
        assert_eq!(
            linspace(0.0, 1.0, 4),
            vec![0.0, 0.3333333333333333, 0.6666666666666666, 1.0]
        );
        assert_eq!(linspace(2.0, 7.0, 1), vec![2.0]);
        assert_eq!(linspace(3.0, 3.0, 3), vec![3.0, 3.0, 3.0]);
    }

    /// An axis' bounds are the least and greatest of its values, ascending or descending.
    #[test]
    fn bounds_are_the_extreme_values() {
        let axes = [
            AxisSpec::Logspace {
                start: 1.5,
                stop: -300.0,
                count: 7,
            },
            AxisSpec::Linspace {
                start: -1.0,
                stop: 1.5,
                count: 5,
            },
            AxisSpec::Linspace {
                start: 3.0,
                stop: 3.0,
                count: 1,
            },
            AxisSpec::Values(vec![0.5, -2.0, 7.0, 1.0]),
        ];
        for axis in axes {
            let lo = axis.values().fold(f64::INFINITY, f64::min);
            let hi = axis.values().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(axis.bounds(), (lo, hi), "{axis:?}");
        }
        let (lo, hi) = AxisSpec::Logspace {
            start: 1.5,
            stop: -300.0,
            count: 7,
        }
        .bounds();
        assert_eq!((lo, hi), (1e-300, libm::pow(10.0, 1.5)));
    }

    /// The tabulated axes give each point the values [`AxisSpec::value`] computes: a short
    /// logspace axis tabulated, a linspace one and a logspace one longer than [`TABULATED`]
    /// computed on demand, every index of the short axes and four of the long one.
    #[test]
    fn tabulated_values_are_the_computed_ones() {
        let s = Sweep {
            axes: vec![
                Axis {
                    key: AxisKey::Mass,
                    spec: AxisSpec::Logspace {
                        start: -2.0,
                        stop: 1.0,
                        count: 300,
                    },
                },
                Axis {
                    key: AxisKey::Friction,
                    spec: AxisSpec::Linspace {
                        start: 0.1,
                        stop: 3.0,
                        count: 7,
                    },
                },
                Axis {
                    key: AxisKey::Dt,
                    spec: AxisSpec::Logspace {
                        start: -3.0,
                        stop: -1.0,
                        count: TABULATED + 1,
                    },
                },
            ],
        };
        let tables = s.tables();
        assert_eq!(
            tables.iter().map(Option::is_some).collect::<Vec<_>>(),
            [true, false, false]
        );
        let long = TABULATED + 1;
        for i in 0..300 * 7 {
            for j in [0, 1, long / 2, long - 1] {
                let index = i * long + j;
                assert_eq!(
                    s.values_in(index, &tables),
                    s.values(index),
                    "point {index}"
                );
            }
        }
        let at = s.values_in(299 * 7 * long + 6 * long + long - 1, &tables);
        assert_eq!(
            (at.mass, at.friction, at.dt),
            (Some(10.0), Some(3.0), Some(0.1))
        );
    }

    #[test]
    fn index_order_is_last_fastest() {
        let axis = |key, values: Vec<f64>| Axis {
            key,
            spec: AxisSpec::Values(values),
        };
        let s = Sweep {
            axes: vec![
                axis(AxisKey::Mass, vec![1.0, 2.0]),
                axis(AxisKey::Friction, vec![10.0, 20.0, 30.0]),
            ],
        };
        assert_eq!(s.len(), 6);
        let pairs: Vec<(f64, f64)> = (0..6)
            .map(|i| {
                let v = s.values(i);
                (v.mass.unwrap(), v.friction.unwrap())
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                (1.0, 10.0),
                (1.0, 20.0),
                (1.0, 30.0),
                (2.0, 10.0),
                (2.0, 20.0),
                (2.0, 30.0)
            ]
        );
    }
}
