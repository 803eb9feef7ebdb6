//! ISO-8601 durations as Kestra (java.time.Duration) reads them: `PT15S`, `PT0.2S`, `P1DT2H`,
//! `-PT1M`. Years, months and weeks are not durations in java.time and are rejected here too,
//! because their length depends on the calendar.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signed duration with nanosecond precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoDuration {
    nanos: i128,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration '{text}': {reason} (expected ISO-8601 like PT30S, PT1H30M or P1D)")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

impl IsoDuration {
    pub const ZERO: Self = Self { nanos: 0 };

    pub fn from_secs(secs: i64) -> Self {
        Self {
            nanos: i128::from(secs) * NANOS_PER_SECOND,
        }
    }

    pub fn from_millis(millis: i64) -> Self {
        Self {
            nanos: i128::from(millis) * 1_000_000,
        }
    }

    pub fn as_nanos(self) -> i128 {
        self.nanos
    }

    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The duration as a `std` duration; `None` when it is negative or too long.
    pub fn to_std(self) -> Option<std::time::Duration> {
        let nanos = u128::try_from(self.nanos).ok()?;
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        Some(std::time::Duration::new(
            secs,
            (nanos % 1_000_000_000) as u32,
        ))
    }

    pub fn to_chrono(self) -> Option<chrono::TimeDelta> {
        let secs = i64::try_from(self.nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
        let nanos = self.nanos.rem_euclid(NANOS_PER_SECOND) as u32;
        chrono::TimeDelta::new(secs, nanos)
    }
}

impl FromStr for IsoDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| DurationError {
            text: text.to_owned(),
            reason,
        };
        let upper = text.trim().to_ascii_uppercase();
        let (negative, rest) = split_sign(&upper);
        let rest = rest
            .strip_prefix('P')
            .ok_or_else(|| fail("it must start with P"))?;
        let (date_part, time_part) = match rest.split_once('T') {
            Some((_, t)) if t.is_empty() => return Err(fail("nothing follows T")),
            Some((d, t)) => (d, Some(t)),
            None => (rest, None),
        };
        if date_part.is_empty() && time_part.is_none() {
            return Err(fail("it has no amount"));
        }
        let mut nanos: i128 = 0;
        let mut rest = date_part;
        if !rest.is_empty() {
            let (amount, unit, tail) = next_component(rest).ok_or_else(|| fail("bad number"))?;
            if unit != 'D' || !tail.is_empty() {
                return Err(fail(
                    "only days (D) may come before T; years, months and weeks have no fixed length",
                ));
            }
            nanos += amount.whole * 86_400 * NANOS_PER_SECOND;
            if amount.fraction_nanos != 0 {
                return Err(fail("only seconds may have a fraction"));
            }
            rest = tail;
        }
        debug_assert!(rest.is_empty());
        if let Some(mut time) = time_part {
            let mut last_rank = 0;
            while !time.is_empty() {
                let (amount, unit, tail) =
                    next_component(time).ok_or_else(|| fail("bad number"))?;
                let (rank, seconds) = match unit {
                    'H' => (1, 3600),
                    'M' => (2, 60),
                    'S' => (3, 1),
                    _ => return Err(fail("time units are H, M and S")),
                };
                if rank <= last_rank {
                    return Err(fail("units must come in the order H, M, S, each once"));
                }
                if amount.fraction_nanos != 0 && unit != 'S' {
                    return Err(fail("only seconds may have a fraction"));
                }
                last_rank = rank;
                nanos += amount.whole * seconds * NANOS_PER_SECOND + amount.fraction_nanos;
                time = tail;
            }
        }
        if nanos.unsigned_abs() > u128::from(u64::MAX) * 1_000_000_000 {
            return Err(fail("it is too long"));
        }
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
        })
    }
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

struct Amount {
    whole: i128,
    /// The fraction, in nanoseconds of the unit, carrying the sign of the whole amount.
    fraction_nanos: i128,
}

/// Reads `[-+]digits[.digits]UNIT` from the front of `text`.
fn next_component(text: &str) -> Option<(Amount, char, &str)> {
    let (negative, text) = split_sign(text);
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 || digits_end > 18 {
        return None;
    }
    let whole: i128 = text[..digits_end].parse().ok()?;
    let mut rest = &text[digits_end..];
    let mut fraction_nanos = 0;
    if let Some(after_point) = rest.strip_prefix(['.', ',']) {
        let end = after_point
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_point.len());
        if end == 0 || end > 9 {
            return None;
        }
        let padded = format!("{:0<9}", &after_point[..end]);
        fraction_nanos = padded.parse().ok()?;
        rest = &after_point[end..];
    }
    let unit = rest.chars().next()?;
    let sign = if negative { -1 } else { 1 };
    Some((
        Amount {
            whole: sign * whole,
            fraction_nanos: sign * fraction_nanos,
        },
        unit,
        &rest[1..],
    ))
}

impl fmt::Display for IsoDuration {
    /// Prints the shortest form java.time would print: `PT1H30M`, `PT0.2S`, `PT0S`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("PT0S");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let total = self.nanos.unsigned_abs();
        let secs = total / 1_000_000_000;
        let frac = total % 1_000_000_000;
        let (hours, minutes, seconds) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        write!(f, "{sign}PT")?;
        if hours > 0 {
            write!(f, "{hours}H")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}M")?;
        }
        if seconds > 0 || frac > 0 {
            if frac > 0 {
                let digits = format!("{frac:09}");
                write!(f, "{seconds}.{}S", digits.trim_end_matches('0'))?;
            } else {
                write!(f, "{seconds}S")?;
            }
        }
        Ok(())
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(text: &str, millis: i64) {
        let parsed: IsoDuration = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, IsoDuration::from_millis(millis), "{text}");
    }

    #[test]
    fn parses_what_kestra_flows_write() {
        ok("PT15S", 15_000);
        ok("PT0.2S", 200);
        ok("PT1H30M", 5_400_000);
        ok("P1D", 86_400_000);
        ok("P1DT1S", 86_401_000);
        ok("pt1m", 60_000);
        ok("-PT1M", -60_000);
        ok("PT-1.5S", -1_500);
        ok("PT0S", 0);
    }

    #[test]
    fn rejects_calendar_units_and_garbage() {
        for bad in [
            "", "P", "PT", "1S", "P1Y", "P1M", "P2W", "PT1S1M", "PT1.5M", "PT1H1H", "PTS", "PT1.S",
        ] {
            assert!(
                bad.parse::<IsoDuration>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn displays_like_java_time() {
        for (text, shown) in [
            ("PT90M", "PT1H30M"),
            ("PT0.2S", "PT0.2S"),
            ("P1D", "PT24H"),
            ("-PT5S", "-PT5S"),
        ] {
            assert_eq!(text.parse::<IsoDuration>().unwrap().to_string(), shown);
        }
    }

    #[test]
    fn converts_to_std_only_when_non_negative() {
        assert_eq!(
            IsoDuration::from_millis(1500).to_std(),
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(IsoDuration::from_millis(-1).to_std(), None);
    }
}
