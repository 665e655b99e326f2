//! The C math library's functions, pinned for a whole program:
//! [`portable_math!`](crate::portable_math!).
//!
//! The engine's own code takes its elementary functions from the `libm` crate (clippy
//! refuses std's), so it computes the same bits on every machine. The crates it runs on do
//! not: `ode_solvers` and diffsol size their steps with std's `powf`, and std's f64 methods
//! call the system's libm, where glibc picks an FMA, AVX2 or SSE2 variant of `pow`, `exp`,
//! `log`, `sin`… per CPU, and the variants round a last bit differently on some inputs. One
//! such bit in a BDF step size changes a stiff point's evaluation count and crossing time
//! (W1 at N = 100, point 694, with glibc's FMA code masked). A program that defines these
//! functions itself binds std's calls to its own definitions instead of the system's;
//! [`portable_math!`](crate::portable_math!) defines them as the `libm` crate's, so that
//! every caller in the program computes the same bits everywhere.

#[doc(hidden)]
pub use libm as __libm;

/// Defines the C math library's double-precision functions (`pow`, `exp`, `log`, `sin`,
/// `sincos`, …) in the calling program as the `libm` crate's, so that every f64 method of
/// std — in heavyball's dependencies as in your own code — computes the same bits on every
/// machine (module [`portable_math`](mod@crate::portable_math)). Invoke it once, at the top
/// level of a binary (or of a `cdylib` linked with `-Bsymbolic`, as the Python module is): the
/// `heavyball` command line does. A library never invokes it.
///
/// # Example
///
/// ```
/// heavyball::portable_math!();
///
/// fn main() {
///     // std's powf runs the `libm` crate's pow: the same bits on every CPU. (glibc's FMA
///     // build of pow, which an FMA node would pick, rounds this one a unit higher.)
///     let (x, y): (f64, f64) = std::hint::black_box((3.901029868149471, 1.8110000000000004));
///     assert_eq!(x.powf(y), 11.765913951702476);
/// }
/// ```
#[macro_export]
macro_rules! portable_math {
    () => {
        $crate::portable_math!(@unary acos asin atan cbrt cos cosh exp exp10 exp2 expm1 log log10
            log1p log2 sin sinh tan tanh);
        $crate::portable_math!(@binary atan2 hypot pow);
        /// The `libm` crate's `sincos` (LLVM joins `sin(x)` and `cos(x)` into one call).
        ///
        /// # Safety
        /// `s` and `c` are valid for writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sincos(x: f64, s: *mut f64, c: *mut f64) {
            let (sin, cos) = $crate::portable_math::__libm::sincos(x);
            // SAFETY: the caller's.
            unsafe { (s.write(sin), c.write(cos)) };
        }
    };
    (@unary $($f:ident)*) => {
        $(
            /// The `libm` crate's function of the same name.
            #[unsafe(no_mangle)]
            pub extern "C" fn $f(x: f64) -> f64 {
                $crate::portable_math::__libm::$f(x)
            }
        )*
    };
    (@binary $($f:ident)*) => {
        $(
            /// The `libm` crate's function of the same name.
            #[unsafe(no_mangle)]
            pub extern "C" fn $f(x: f64, y: f64) -> f64 {
                $crate::portable_math::__libm::$f(x, y)
            }
        )*
    };
}
