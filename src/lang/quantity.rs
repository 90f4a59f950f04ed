//! Memory sizes and durations as a Slurm job asks for them: the two string
//! formats of `resources(mem: "32G", time: "12h")`.
//!
//! The checker validates them ([`parse_memory`], [`parse_duration`]) and
//! the planner turns a duration into the form `sbatch --time` reads
//! ([`slurm_duration`]); both go through the same parser, so a string the
//! checker accepts always converts.
//!
//! - A memory size is `^\d+[KMGT]?$`, more than zero, written as Slurm's
//!   `--mem` reads it: a bare number is megabytes.
//! - A duration is one of Slurm's `--time` forms, `MM`, `MM:SS`,
//!   `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS` (a bare number is minutes),
//!   or a human form: numbers with units `d`, `h`, `m`, `s` in that order,
//!   each at most once (`30m`, `4h`, `2d`, `1d12h`, `1h30m`). More than zero.

use std::fmt;

/// Why a memory size or a duration does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    /// What is wrong, for the diagnostic's message: "`32GB` is not a memory size".
    pub message: String,
    /// Which part is wrong, when one is: "its hours must be below 24".
    pub detail: Option<String>,
    /// How to write it instead.
    pub help: String,
    /// The value is well formed but zero (an `OutOfRange`, not a `TypeMismatch`).
    pub zero: bool,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.detail {
            Some(d) => write!(f, ": {d}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for QuantityError {}

fn error(message: impl Into<String>, help: impl Into<String>) -> QuantityError {
    QuantityError {
        message: message.into(),
        detail: None,
        help: help.into(),
        zero: false,
    }
}

const MEMORY_HELP: &str = "write a whole number with an optional unit K, M, G or T (`\"512M\"`, `\"32G\"`); a bare number is megabytes";

/// A memory size in bytes, from the form `sbatch --mem` reads (`"512M"`, `"32G"`, `"2048"` MB).
pub fn parse_memory(s: &str) -> Result<u64, QuantityError> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    if number.is_empty() {
        return Err(error(format!("`{s}` is not a memory size"), MEMORY_HELP));
    }
    let scale: u64 = match unit {
        "" | "M" => 1 << 20,
        "K" => 1 << 10,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            let first = unit.chars().next().map(|c| c.to_ascii_uppercase());
            let help = match first {
                Some(u @ ('K' | 'M' | 'G' | 'T')) => {
                    format!("write `\"{number}{u}\"`: one upper-case letter, as Slurm reads it")
                }
                _ => MEMORY_HELP.to_string(),
            };
            return Err(error(format!("`{s}` is not a memory size"), help));
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| error(format!("`{s}` is too large"), MEMORY_HELP))?;
    if n == 0 {
        return Err(QuantityError {
            message: "a memory size must be more than 0".into(),
            detail: None,
            help: "Slurm reads `--mem=0` as the whole node's memory: ask for a size instead".into(),
            zero: true,
        });
    }
    n.checked_mul(scale)
        .ok_or_else(|| error(format!("`{s}` is too large"), MEMORY_HELP))
}

const DURATION_HELP: &str = "write `\"30m\"`, `\"4h\"`, `\"2d\"`, `\"1d12h\"`, or one of Slurm's forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS";

/// A duration in seconds, from a Slurm `--time` form or a human one (`"4h"`, `"1d12h"`).
pub fn parse_duration(s: &str) -> Result<u64, QuantityError> {
    let bad = || error(format!("`{s}` is not a duration"), DURATION_HELP);
    let too_large = || error(format!("`{s}` is too long"), DURATION_HELP);
    let seconds = if s.bytes().any(|b| b.is_ascii_alphabetic()) {
        human_duration(s).ok_or_else(bad)?
    } else {
        slurm_form(s).map_err(|e| e.unwrap_or_else(bad))?
    };
    let seconds = seconds.ok_or_else(too_large)?;
    if seconds == 0 {
        return Err(QuantityError {
            message: "a duration must be more than 0".into(),
            detail: None,
            help: DURATION_HELP.into(),
            zero: true,
        });
    }
    Ok(seconds)
}

/// A whole number of at least one digit and nothing else.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for u64: read as "too large" by the caller's checked arithmetic.
    Some(s.parse().unwrap_or(u64::MAX))
}

/// `30m`, `1d12h`, `1h30m`, `90s`: units in the order d, h, m, s, each once.
/// `Some(None)` when the numbers overflow.
fn human_duration(s: &str) -> Option<Option<u64>> {
    const UNITS: [(u8, u64); 4] = [(b'd', 86_400), (b'h', 3_600), (b'm', 60), (b's', 1)];
    let mut rest = s.as_bytes();
    let mut next_unit = 0;
    let mut total: Option<u64> = Some(0);
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let n = number(std::str::from_utf8(&rest[..digits]).ok()?)?;
        let unit = *rest.get(digits)?;
        let at = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        next_unit = at + 1;
        total = total.and_then(|t| n.checked_mul(UNITS[at].1).and_then(|x| t.checked_add(x)));
        rest = &rest[digits + 1..];
    }
    (next_unit > 0).then_some(total)
}

/// Slurm's forms. `Err(None)`: not one of them; `Err(Some(_))`: one of them with a field out
/// of range; `Ok(None)`: overflow.
fn slurm_form(s: &str) -> Result<Option<u64>, Option<QuantityError>> {
    let field_error = |what: &str, max: u64| {
        Some(QuantityError {
            detail: Some(format!("its {what} must be below {max}")),
            ..error(format!("`{s}` is not a duration"), DURATION_HELP)
        })
    };
    let (days, clock) = match s.split_once('-') {
        Some((d, rest)) => (Some(number(d).ok_or(None)?), rest),
        None => (None, s),
    };
    let fields: Vec<u64> = clock
        .split(':')
        .map(|f| number(f).ok_or(None))
        .collect::<Result<_, _>>()?;
    // (hours, minutes, seconds) by form.
    let (h, m, sec) = match (days.is_some(), fields.as_slice()) {
        (false, [mm]) => (0, *mm, 0),
        (false, [mm, ss]) => (0, *mm, *ss),
        (false, [hh, mm, ss]) => (*hh, *mm, *ss),
        (true, [hh]) => (*hh, 0, 0),
        (true, [hh, mm]) => (*hh, *mm, 0),
        (true, [hh, mm, ss]) => (*hh, *mm, *ss),
        _ => return Err(None),
    };
    if sec >= 60 {
        return Err(field_error("seconds", 60));
    }
    // The leading field may be any size (`90` minutes, `36:00:00`); a later one may not.
    if m >= 60 && (fields.len() == 3 || days.is_some()) {
        return Err(field_error("minutes", 60));
    }
    if days.is_some() && h >= 24 {
        return Err(field_error("hours", 24));
    }
    let total = days
        .unwrap_or(0)
        .checked_mul(86_400)
        .and_then(|d| h.checked_mul(3_600).and_then(|x| d.checked_add(x)))
        .and_then(|t| m.checked_mul(60).and_then(|x| t.checked_add(x)))
        .and_then(|t| t.checked_add(sec));
    Ok(total)
}

/// A duration in Slurm's `--time` form: `D-HH:MM:SS` from one day on, `HH:MM:SS` below.
pub fn slurm_duration(seconds: u64) -> String {
    let (d, rest) = (seconds / 86_400, seconds % 86_400);
    let (h, m, s) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512M"), Ok(512 << 20));
        assert_eq!(parse_memory("32G"), Ok(32 << 30));
        assert_eq!(parse_memory("2048"), Ok(2048 << 20));
        assert_eq!(parse_memory("1T"), Ok(1 << 40));
        assert_eq!(parse_memory("64K"), Ok(64 << 10));
        for bad in ["", "G", "32 G", "32GB", "3.5G", "-1G", "32X", "G32"] {
            let e = parse_memory(bad).unwrap_err();
            assert!(!e.zero, "{bad}");
        }
        let e = parse_memory("32g").unwrap_err();
        assert!(e.help.contains("\"32G\""), "{}", e.help);
        assert!(parse_memory("0").unwrap_err().zero);
        assert!(parse_memory("0G").unwrap_err().zero);
        assert!(parse_memory("99999999999999999999G").is_err());
        assert!(parse_memory("99999999999T").is_err());
    }

    #[test]
    fn slurm_duration_forms() {
        for (s, secs) in [
            ("90", 90 * 60),
            ("5:30", 5 * 60 + 30),
            ("120:00", 120 * 60),
            ("12:00:00", 12 * 3600),
            ("36:00:00", 36 * 3600),
            ("1-12", 86_400 + 12 * 3600),
            ("2-03:04", 2 * 86_400 + 3 * 3600 + 4 * 60),
            ("0-00:00:01", 1),
            ("1-00:00:00", 86_400),
        ] {
            assert_eq!(parse_duration(s), Ok(secs), "{s}");
        }
        for bad in [
            "",
            ":",
            "1:",
            "1::2",
            "1:2:3:4",
            "1-2:3:4:5",
            "-1",
            "1-",
            "12:60",
            "1:60:00",
            "1-24",
            "1-1:1:60",
            "1.5",
            "1 h",
            "h",
            "1-2-3",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("0").unwrap_err().zero);
        assert!(parse_duration("0-00:00:00").unwrap_err().zero);
    }

    #[test]
    fn human_duration_forms() {
        for (s, secs) in [
            ("30m", 30 * 60),
            ("4h", 4 * 3600),
            ("2d", 2 * 86_400),
            ("1d12h", 86_400 + 12 * 3600),
            ("1h30m", 5400),
            ("90s", 90),
            ("1d2h3m4s", 86_400 + 2 * 3600 + 3 * 60 + 4),
            ("48h", 48 * 3600),
        ] {
            assert_eq!(parse_duration(s), Ok(secs), "{s}");
        }
        for bad in [
            "h", "4", "4x", "30m1h", "1h1h", "4H", "1d 2h", "d1", "4hours", "1.5h",
        ] {
            if bad == "4" {
                // A bare number is Slurm's minutes, not an error.
                continue;
            }
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("0h").unwrap_err().zero);
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("999999999999999d").is_err());
    }

    #[test]
    fn durations_in_slurm_form() {
        for (s, slurm) in [
            ("30m", "00:30:00"),
            ("4h", "04:00:00"),
            ("12h", "12:00:00"),
            ("2d", "2-00:00:00"),
            ("1d12h", "1-12:00:00"),
            ("90", "01:30:00"),
            ("5:30", "00:05:30"),
            ("36:00:00", "1-12:00:00"),
            ("1-12", "1-12:00:00"),
            ("90s", "00:01:30"),
        ] {
            assert_eq!(slurm_duration(parse_duration(s).unwrap()), slurm, "{s}");
        }
    }
}
