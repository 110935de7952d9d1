//! Durations as the spec writes them: `90s`, `5m`, `1h30m`, `500ms`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A positive length of time, written as one or more number-and-unit pairs
/// (units `h`, `m`, `s`, `ms`), as Go and Helm write durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

/// The longest duration a spec may give: every duration in it bounds a wait
/// or an interval, and one longer than a day is a typo (and, near the
/// largest numbers, would overflow the clock arithmetic of the waits).
pub const LONGEST: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is not a sequence of number-and-unit pairs.
    #[error("invalid duration `{0}`: write a number and a unit, like `90s`, `5m` or `1h30m`")]
    Malformed(String),
    /// The duration is zero.
    #[error("invalid duration `{0}`: it must be longer than zero")]
    Zero(String),
    /// The duration is longer than [`LONGEST`].
    #[error("invalid duration `{0}`: it may be 24h at most")]
    TooLong(String),
}

impl Duration {
    /// Wraps a standard duration.
    pub fn new(d: std::time::Duration) -> Self {
        Duration(d)
    }

    /// The standard duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || DurationError::Malformed(text.to_owned());
        let mut rest = text;
        let mut total = std::time::Duration::ZERO;
        if rest.is_empty() {
            return Err(malformed());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(malformed)?;
            if digits == 0 {
                return Err(malformed());
            }
            let number: f64 = rest[..digits].parse().map_err(|_| malformed())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let seconds = match &rest[..unit_len] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return Err(malformed()),
            };
            rest = &rest[unit_len..];
            let too_long = || DurationError::TooLong(text.to_owned());
            let part = number * seconds;
            if !part.is_finite() || part > LONGEST.as_secs_f64() {
                return Err(too_long());
            }
            let part = std::time::Duration::try_from_secs_f64(part).map_err(|_| malformed())?;
            total = total
                .checked_add(part)
                .filter(|t| *t <= LONGEST)
                .ok_or_else(too_long)?;
        }
        if total.is_zero() {
            return Err(DurationError::Zero(text.to_owned()));
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    /// Prints the shortest form that reads back to the same value (`1h30m`, `90s`
    /// prints as `1m30s`), which Go's and Helm's duration parsers also accept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        let (h, rem) = (millis / 3_600_000, millis % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, ms) = (rem / 1000, rem % 1000);
        let mut out = String::new();
        for (value, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
            if value > 0 {
                out.push_str(&format!("{value}{unit}"));
            }
        }
        if out.is_empty() {
            out.push_str("0s");
        }
        f.write_str(&out)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> f64 {
        text.parse::<Duration>().unwrap().get().as_secs_f64()
    }

    #[test]
    fn reads_go_style_durations() {
        assert_eq!(secs("90s"), 90.0);
        assert_eq!(secs("5m"), 300.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("1.5h"), 5400.0);
        assert_eq!(secs("250ms"), 0.25);
        assert_eq!(secs("2m30s"), 150.0);
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "", "5", "m", "5 m", "5min", "5mm", "-5s", "1h-30m", "..s", "0s",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn prints_a_form_that_reads_back() {
        for (text, shown) in [
            ("90s", "1m30s"),
            ("1h30m", "1h30m"),
            ("5m", "5m"),
            ("1500ms", "1s500ms"),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<Duration>().unwrap(), d);
        }
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        for text in [
            "10000000000000000000s10000000000000000000s",
            "18446744073709551615s",
            "99999999999999999999999999999999999h",
            "25h",
            "23h61m",
        ] {
            assert_eq!(
                text.parse::<Duration>(),
                Err(DurationError::TooLong(text.to_owned())),
                "{text}"
            );
        }
        assert_eq!("24h".parse::<Duration>().map(Duration::get), Ok(LONGEST));
    }
}
