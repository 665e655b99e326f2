//! Clear words where a user stumbles: TOML syntax errors in plain words with their
//! position, "did you mean" for a misspelt key, integers and flags as integers in the
//! theory CSV, and `check`'s estimate of what a scenario will write.

mod common;

use common::heavyball;

/// `check` on `text` (a file in a fresh folder): its exit code and stderr.
fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let out = heavyball(&["check", path.to_str().unwrap()]);
    let err = String::from_utf8(out.stderr).unwrap();
    // The path is the temporary file's: keep what follows it.
    let line = err
        .trim_end()
        .split_once("s.toml:")
        .map(|(_, r)| r.to_string());
    (out.status.code().unwrap(), line.unwrap_or(err))
}

fn particle_with(line: &str) -> String {
    format!(
        "[potential]\nkind = \"quadratic\"\neigenvalues = [1.0]\n[particle]\n{line}\nfriction = 1.0\nposition = 1.0\n"
    )
}

#[test]
fn toml_syntax_errors_are_in_plain_words_at_their_position() {
    let cases = [
        (
            "mass = 1.0.0",
            "5:11: toml: not a number: unexpected characters in or after it",
        ),
        (
            "mass = 1e",
            "5:10: toml: not a number: the exponent after `e` has no digits",
        ),
        (
            "mass = ",
            "5:8: toml: a value is missing or unquoted after `=` (numbers as 1.0, text in \"quotes\")",
        ),
        (
            "mass = \"x",
            "5:10: toml: a string is not closed: its closing quote is missing",
        ),
        (
            "mass = [1, 2",
            "6:1: toml: an array is not closed, or a comma is missing between its elements",
        ),
        (
            "[particle",
            "5:10: toml: a table header is not closed: `]` is missing",
        ),
        (
            "mass == 2",
            "5:7: toml: one `=` too many: write key = value",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(
            check(&particle_with(line)),
            (2, expected.to_string()),
            "{line}"
        );
    }
}

#[test]
fn a_misspelt_key_gets_its_nearest_allowed_key() {
    let text = "[potential]\nkind = \"quadratic\"\neigenvalues = [1.0]\n[particle]\nmass = 1.0\nfricton = 1.0\nposition = 1.0\n";
    assert_eq!(
        check(text),
        (
            2,
            "6:1: particle.fricton: unknown key; did you mean `friction`? (expected one of mass, friction, position, velocity)".to_string()
        )
    );
    // Nothing near: the list alone.
    let far = text.replace("fricton", "zzzzzz");
    assert_eq!(
        check(&far),
        (
            2,
            "6:1: particle.zzzzzz: unknown key; expected one of mass, friction, position, velocity"
                .to_string()
        )
    );
}

#[test]
fn the_theory_csv_writes_counts_and_flags_as_integers() {
    let path = common::scenarios_dir().join("kth-poster.toml");
    let out = heavyball(&["theory", "--format", "csv", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |entry: &str, component: &str, quantity: &str| -> String {
        text.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f[1] == entry && f[2] == component && f[3] == quantity)
            .unwrap_or_else(|| panic!("no row {entry},{component},{quantity}"))[4]
            .to_string()
    };
    // m = 2, μ = 4 on k = 3, 30: both components underdamped (μ² < 4mk), k = 3 slowest.
    assert_eq!(value("continuous", "", "skipped"), "0");
    assert_eq!(value("continuous", "", "slowest_component"), "1");
    assert_eq!(value("continuous", "1", "damping_under"), "1");
    assert_eq!(value("continuous", "1", "damping_critical"), "0");
    assert_eq!(value("heavy-ball", "", "scheme_heavy_ball"), "1");
    assert_eq!(value("heavy-ball", "", "stable"), "1");
    assert_eq!(value("gradient-descent", "", "stable"), "0");
    // Numbers stay numbers: ρ = 1/√2 for the heavy ball.
    assert_eq!(value("heavy-ball", "", "radius"), "0.7071067811865476");
}

#[test]
fn check_estimates_what_a_scenario_writes() {
    let dir = common::scenarios_dir();
    let out = heavyball(&[
        "check",
        dir.join("w1-mass-friction.toml").to_str().unwrap(),
        dir.join("kth-poster.toml").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // W1: 100 × 100 points, a continuous and a discrete row each, 210 bytes a row.
    assert!(
        lines[0].ends_with("ok (w1-mass-friction): 10000 points, 20000 summary rows, about 4.2 MB"),
        "{}",
        lines[0]
    );
    // KTH poster: 3 rows; the heavy ball's and gradient descent's budgets ceil(40/0.5) =
    // 80 steps each (81 rows), the continuous run 40/0.05 + 2 rows and 162 comparison rows.
    assert!(
        lines[1].contains("ok (kth-poster): 1 point, 3 summary rows, up to 1126 trajectory rows"),
        "{}",
        lines[1]
    );
}

/// A colorization grid's set-up is shown by `check` before it runs: 10⁶ pixels, one
/// colored: its extremes by bisection, 120 evaluations × 10⁶ terms = 1.2e8 operations, and
/// 97 bytes a pixel (5 CSR entries of 16 bytes, offsets, mask, minimum); with 30 pixels the
/// exact method's 120·10⁶·465 = 5.6e10 passes the 4e10 budget and Lanczos, capped at
/// 3076 steps of 13 operations a pixel (4.0e10), takes over.
#[test]
fn check_shows_a_colorization_grids_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = |d: usize| {
        let pixels: Vec<String> = (0..d).map(|i| format!("[{i}, {i}]")).collect();
        format!(
            "name = \"c\"\n[potential]\nkind = \"colorization\"\ngrid = [1000, 1000]\ncolored = [{}]\n\
             [particle]\nmass = 1.0\nfriction = 1.0\nposition = 0.0\n[[discrete]]\nscheme = \"heavy-ball\"\n\
             learning_rate = 0.1\nmomentum = 0.9\nsteps = 3\n",
            pixels.join(", ")
        )
    };
    for (d, expected) in [
        (
            1,
            "; set-up: extreme eigenvalues exactly, by bisection on the secular equation (Lanczos if λ_min ≥ μ₂/2), about 1.2e8 operations (under a second), 97.0 MB of memory",
        ),
        (
            30,
            "; set-up: extreme eigenvalues by Lanczos, capped, about 4.0e10 operations (~40 s), 97.0 MB of memory",
        ),
    ] {
        let path = dir.path().join(format!("c{d}.toml"));
        std::fs::write(&path, scenario(d)).unwrap();
        let out = heavyball(&["check", path.to_str().unwrap()]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.trim_end().ends_with(expected), "{text}");
    }
}

/// A mass axis beside a momentum axis is refused with the twin's numbers at point 0 (the
/// entry's ε = 0.02, Δt = 1 and the axis' first p = 0.5: m = pΔt²/ε = 25, μ = (1 − p)Δt/ε
/// = 25), not only its formula.
#[test]
fn a_particle_axis_beside_a_rate_axis_names_the_twin() {
    let text = "[potential]\nkind = \"quadratic\"\neigenvalues = [1.0, 10.0]\n[particle]\n\
                position = [1.0, 1.0]\n[continuous]\nt_end = 40.0\n[[discrete]]\n\
                learning_rate = 0.02\nmomentum = 0.9\n[sweep]\n\
                mass = { values = [1.0, 2.0] }\nmomentum = { values = [0.5, 0.9] }\n";
    let (code, line) = check(text);
    assert_eq!(code, 2);
    assert!(
        line.starts_with("12:8: sweep.mass: cannot be swept together with momentum"),
        "{line}"
    );
    assert!(
        line.contains(
            "(eps = 0.02, p = 0.5, dt = 1): m = p dt^2/eps = 25, mu = (1 - p) dt/eps = 25)"
        ),
        "{line}"
    );
}

/// User text comes back escaped: a line break, a terminal escape sequence and U+2028 in a
/// value print as `\n`, `\u{1b}` and `\u{2028}`, so the error stays one line with no control
/// character; a name that some file system cannot take is refused where it is written.
#[test]
fn user_text_in_errors_is_escaped_and_names_fit_every_file_system() {
    let text = "[potential]\nkind = \"a\\nb\\u001b[31mred\\u2028\"\neigenvalues = [1.0]\n";
    let (code, line) = check(text);
    assert_eq!(code, 2);
    assert!(line.starts_with("2:8: potential.kind: "), "{line}");
    assert!(line.contains(r"a\nb\u{1b}[31mred\u{2028}"), "{line}");
    assert!(
        !line.chars().any(|c| c.is_control() || c == '\u{2028}'),
        "{line:?}"
    );

    let named = |name: &str| {
        check(&format!(
            "name = \"{name}\"\n{}[continuous]\nt_end = 1.0\n",
            particle_with("mass = 1.0")
        ))
    };
    let (code, line) = named(&"a".repeat(201));
    assert_eq!(code, 2);
    assert!(
        line.starts_with("1:8: name: is 201 bytes long; at most 200"),
        "{line}"
    );
    assert_eq!(named(&"a".repeat(200)).0, 0);
    for odd in ["a:b", "a|b", "a?b", "a*b", "a<b"] {
        let (code, line) = named(odd);
        assert_eq!(code, 2, "{odd}");
        assert!(line.contains("must be a plain folder name"), "{line}");
    }
}

/// One cap on the trajectory rows a single run writes in all, checked before anything runs:
/// three entries of 10⁷ steps (each within its own cap) pass 3·10⁷ at the third, which is
/// named with its position; two pass.
#[test]
fn a_single_run_may_not_write_more_than_its_total_of_rows() {
    let entry =
        "[[discrete]]\nscheme = \"gradient-descent\"\nlearning_rate = 0.1\nsteps = 10000000\n";
    let text = |n: usize| format!("{}{}", particle_with("mass = 1.0"), entry.repeat(n));
    let (code, line) = check(&text(3));
    assert_eq!(code, 2);
    assert!(
        line.starts_with("19:9: discrete[3].steps: the entries up to this one would write 3.0000003e7 trajectory rows, more than 3e7"),
        "{line}"
    );
    assert_eq!(check(&text(2)).0, 0);
}
