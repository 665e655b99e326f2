//! Links the module with `-Bsymbolic` on Linux, so that its own calls to `pow`, `exp`, `log`…
//! bind to the definitions `heavyball::portable_math!` puts in it (the `libm` crate's), not
//! to the system libm that Python has already loaded: the same bits as the command line.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    }
}
