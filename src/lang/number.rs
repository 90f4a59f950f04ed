//! Canonical text of numbers, shared by the formatter, arm labels and plans.

/// The canonical text of a float: shortest round-trip digits, always
/// recognisable as a float (`0.5`, `1.0`, `0.0005`, `1e-6`, `2.5e20`).
///
/// Plain decimal for 1e-4 <= |x| < 1e16 (and zero), scientific otherwise.
pub fn format_float(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // `{:e}` is shortest round-trip: `1e-6`, `2.5e20`.
        format!("{x:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn canonical_forms() {
        for (x, s) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (5e-4, "0.0005"),
            (1e-6, "1e-6"),
            (2.5e20, "2.5e20"),
            (0.0, "0.0"),
            (-3.25, "-3.25"),
        ] {
            assert_eq!(format_float(x), s);
            assert_eq!(s.parse::<f64>().unwrap(), x);
        }
    }
}
