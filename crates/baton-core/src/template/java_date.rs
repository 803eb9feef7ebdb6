//! Java `DateTimeFormatter` patterns (what Kestra's `date`, `dateAdd` and `timestamp` filters
//! take) implemented over chrono: formatting, parsing with `existingFormat`, Kestra's preset
//! names (`iso`, `sql`, `iso_date`, …), time zones, and calendar-aware date arithmetic.
//!
//! Locale-dependent text is English. `e`/`c` (localized day of week) are ISO numbers (Monday
//! = 1) and `w`/`Y` are ISO week fields, which is what the `iso_week_date` preset needs.

use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetName, Tz};

use super::date_parse::parse_offset;
pub(crate) use super::date_parse::{parse_iso, parse_with};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Zone {
    Region(Tz),
    Fixed(FixedOffset),
}

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Zone {
    pub(crate) const UTC: Zone = Zone::Region(Tz::UTC);

    /// Parses a Java `ZoneId`: a region (`Europe/Paris`), `UTC`/`Z`, or an offset (`+01:00`).
    pub(crate) fn parse(name: &str) -> Result<Zone, String> {
        let name = name.trim();
        if name == "Z" {
            return Ok(Zone::UTC);
        }
        if let Ok(tz) = Tz::from_str(name) {
            return Ok(Zone::Region(tz));
        }
        let offset_text = ["UTC", "GMT", "UT"]
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .unwrap_or(name);
        parse_offset(offset_text)
            .map(|(secs, _)| secs)
            .and_then(FixedOffset::east_opt)
            .map(Zone::Fixed)
            .ok_or_else(|| format!("unknown time zone '{name}'"))
    }

    fn offset_at(&self, instant: &DateTime<Utc>) -> i32 {
        match self {
            Zone::Region(tz) => tz
                .offset_from_utc_datetime(&instant.naive_utc())
                .fix()
                .local_minus_utc(),
            Zone::Fixed(fixed) => fixed.local_minus_utc(),
        }
    }

    fn id(&self) -> String {
        match self {
            Zone::Region(tz) => tz.name().to_string(),
            Zone::Fixed(fixed) => offset_text(fixed.local_minus_utc(), true, true),
        }
    }

    fn abbreviation(&self, instant: &DateTime<Utc>) -> String {
        match self {
            Zone::Region(tz) => {
                let offset = tz.offset_from_utc_datetime(&instant.naive_utc());
                offset
                    .abbreviation()
                    .map_or_else(|| self.id(), str::to_string)
            }
            Zone::Fixed(_) => self.id(),
        }
    }

    /// The instant a local date-time denotes in this zone. Like Java's `ZonedDateTime`, an
    /// overlap keeps `preferred` offset when it is one of the two (else the earlier), and a
    /// gap moves the time forward by the gap's length.
    pub(crate) fn localize(&self, local: NaiveDateTime, preferred: Option<i32>) -> DateTime<Utc> {
        let tz = match self {
            Zone::Region(tz) => tz,
            Zone::Fixed(fixed) => {
                let offset = Duration::seconds(i64::from(fixed.local_minus_utc()));
                return Utc.from_utc_datetime(&(local - offset));
            }
        };
        match tz.from_local_datetime(&local) {
            LocalResult::Single(dt) => dt.with_timezone(&Utc),
            LocalResult::Ambiguous(early, late) => {
                let late_offset = late.offset().fix().local_minus_utc();
                if preferred == Some(late_offset) {
                    late.with_timezone(&Utc)
                } else {
                    early.with_timezone(&Utc)
                }
            }
            LocalResult::None => {
                let before = Utc.from_utc_datetime(&local);
                let offset_before = tz
                    .offset_from_utc_datetime(&(local - Duration::days(1)))
                    .fix()
                    .local_minus_utc();
                before - Duration::seconds(i64::from(offset_before))
            }
        }
    }
}

/// A moment seen in a zone: what the formatter prints.
pub(crate) struct Zoned {
    pub instant: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub offset: i32,
    pub zone: Zone,
}

impl Zoned {
    pub(crate) fn new(instant: DateTime<Utc>, zone: Zone) -> Zoned {
        let offset = zone.offset_at(&instant);
        Zoned {
            instant,
            local: instant.naive_utc() + Duration::seconds(i64::from(offset)),
            offset,
            zone,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Literal(String),
    Field(char, usize),
    /// ISO fraction: nothing when zero, else 3, 6 or 9 digits after a dot.
    IsoFraction,
    /// `[Europe/Paris]` after ISO_ZONED_DATE_TIME when the zone is a region.
    ZoneBracket,
    /// RFC 1123 offset: `GMT` or `+0100`.
    Rfc1123Offset,
}

fn preset(name: &str) -> Option<Vec<Item>> {
    use Item::*;
    let pattern = |p: &str| compile(p).ok();
    let local_time = || {
        let mut items = compile("HH:mm:ss").unwrap_or_default();
        items.push(IsoFraction);
        items
    };
    let with = |mut head: Vec<Item>, tail: Vec<Item>| {
        head.extend(tail);
        head
    };
    let date = || compile("yyyy-MM-dd").unwrap_or_default();
    let offset = || vec![Field('X', 3)];
    Some(match name {
        "iso" => pattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")?,
        "iso_sec" => pattern("yyyy-MM-dd'T'HH:mm:ssXXX")?,
        "sql" => pattern("yyyy-MM-dd HH:mm:ss.SSSSSS")?,
        "sql_seq" => pattern("yyyy-MM-dd HH:mm:ss")?,
        "iso_local_date" => date(),
        "iso_date" => with(date(), offset()),
        "iso_local_time" => local_time(),
        "iso_time" | "iso_offset_time" => with(local_time(), offset()),
        "iso_local_date_time" => with(with(date(), vec![Literal("T".into())]), local_time()),
        "iso_offset_date_time" => with(
            with(with(date(), vec![Literal("T".into())]), local_time()),
            offset(),
        ),
        "iso_date_time" | "iso_zoned_date_time" => with(
            with(with(date(), vec![Literal("T".into())]), local_time()),
            vec![Field('X', 3), ZoneBracket],
        ),
        "iso_instant" => {
            let mut items = pattern("yyyy-MM-dd'T'HH:mm:ss")?;
            items.extend([IsoFraction, Literal("Z".into())]);
            items
        }
        "iso_ordinal_date" => pattern("yyyy-DDDXXX")?,
        "iso_week_date" => pattern("YYYY-'W'ww-eXXX")?,
        "rfc_1123_date_time" => with(pattern("EEE, d MMM yyyy HH:mm:ss ")?, vec![Rfc1123Offset]),
        _ => return None,
    })
}

fn compile(pattern: &str) -> Result<Vec<Item>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut text = String::new();
            i += 1;
            if chars.get(i) == Some(&'\'') {
                items.push(Item::Literal("'".into()));
                i += 1;
                continue;
            }
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated quote in date format '{pattern}'")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            items.push(Item::Literal(text));
        } else if c.is_ascii_alphabetic() {
            let mut count = 1;
            while chars.get(i + count) == Some(&c) {
                count += 1;
            }
            if !"GuyDMLdQqYwWEecFaBhKkHmsSAnNVvzOXxZ".contains(c) {
                return Err(format!(
                    "unknown pattern letter '{c}' in date format '{pattern}'"
                ));
            }
            items.push(Item::Field(c, count));
            i += count;
        } else if matches!(c, '[' | ']') {
            // Optional sections: always printed, and optional when parsing is not supported.
            i += 1;
        } else if matches!(c, '#' | '{' | '}') {
            return Err(format!(
                "reserved character '{c}' in date format '{pattern}'"
            ));
        } else {
            items.push(Item::Literal(c.to_string()));
            i += 1;
        }
    }
    Ok(items)
}

pub(super) fn items_for(format: &str) -> Result<Vec<Item>, String> {
    if matches!(format, "full" | "long" | "medium" | "short") {
        return Err(format!(
            "locale-dependent date style '{format}' is not supported; use a pattern"
        ));
    }
    match preset(format) {
        Some(items) => Ok(items),
        None => compile(format),
    }
}

/// Formats `zoned` with a Java pattern or one of Kestra's preset names.
pub(crate) fn format(zoned: &Zoned, format: &str) -> Result<String, String> {
    let items = items_for(format)?;
    let mut out = String::new();
    for item in &items {
        format_item(&mut out, zoned, item)?;
    }
    Ok(out)
}

fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let digits = value.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

fn text_form(out: &mut String, full: &str, count: usize) {
    match count {
        1..=3 => out.extend(full.chars().take(3)),
        4 => out.push_str(full),
        _ => out.extend(full.chars().take(1)),
    }
}

fn format_item(out: &mut String, z: &Zoned, item: &Item) -> Result<(), String> {
    let l = &z.local;
    let (c, n) = match item {
        Item::Literal(text) => {
            out.push_str(text);
            return Ok(());
        }
        Item::IsoFraction => {
            let nanos = l.nanosecond() % 1_000_000_000;
            if nanos != 0 {
                let digits = format!("{nanos:09}");
                let keep = if nanos.is_multiple_of(1_000_000) {
                    3
                } else if nanos.is_multiple_of(1_000) {
                    6
                } else {
                    9
                };
                out.push('.');
                out.push_str(&digits[..keep]);
            }
            return Ok(());
        }
        Item::ZoneBracket => {
            if let Zone::Region(_) = z.zone {
                out.push('[');
                out.push_str(&z.zone.id());
                out.push(']');
            }
            return Ok(());
        }
        Item::Rfc1123Offset => {
            if z.offset == 0 {
                out.push_str("GMT");
            } else {
                out.push_str(&offset_text(z.offset, false, false));
            }
            return Ok(());
        }
        Item::Field(c, n) => (*c, *n),
    };
    let year = i64::from(l.year());
    match c {
        'G' => out.push_str(if year > 0 { "AD" } else { "BC" }),
        'u' | 'y' | 'Y' => {
            let year = if c == 'Y' {
                i64::from(l.iso_week().year())
            } else {
                year
            };
            if n == 2 {
                pad(out, year.rem_euclid(100), 2);
            } else {
                pad(out, year, n);
            }
        }
        'M' | 'L' if n >= 3 => {
            let month = MONTHS[l.month0() as usize];
            text_form(out, month, n);
        }
        'M' | 'L' => pad(out, i64::from(l.month()), n),
        'd' => pad(out, i64::from(l.day()), n),
        'D' => pad(out, i64::from(l.ordinal()), n),
        'Q' | 'q' => {
            let quarter = i64::from(l.month0() / 3 + 1);
            match n {
                1 | 2 => pad(out, quarter, n),
                3 => out.push_str(&format!("Q{quarter}")),
                _ => out.push_str(["1st", "2nd", "3rd", "4th"][quarter as usize - 1]),
            }
            if n >= 4 {
                out.push_str(" quarter");
            }
        }
        'w' => pad(out, i64::from(l.iso_week().week()), n),
        'W' => pad(
            out,
            i64::from((l.day() + 6 - l.weekday().num_days_from_monday()) / 7 + 1),
            n,
        ),
        'E' => text_form(out, DAYS[l.weekday().num_days_from_monday() as usize], n),
        'e' | 'c' if n <= 2 => pad(out, i64::from(l.weekday().number_from_monday()), n),
        'e' | 'c' => text_form(out, DAYS[l.weekday().num_days_from_monday() as usize], n),
        'F' => pad(out, i64::from((l.day() - 1) / 7 + 1), n),
        'a' => out.push_str(if l.hour() < 12 { "AM" } else { "PM" }),
        'B' => out.push_str(match l.hour() {
            6..=11 => "in the morning",
            12..=17 => "in the afternoon",
            18..=20 => "in the evening",
            _ => "at night",
        }),
        'h' => pad(out, i64::from((l.hour() + 11) % 12 + 1), n),
        'K' => pad(out, i64::from(l.hour() % 12), n),
        'k' => pad(out, i64::from(if l.hour() == 0 { 24 } else { l.hour() }), n),
        'H' => pad(out, i64::from(l.hour()), n),
        'm' => pad(out, i64::from(l.minute()), n),
        's' => pad(out, i64::from(l.second()), n),
        'S' => {
            let digits = format!("{:09}", l.nanosecond() % 1_000_000_000);
            let mut fraction: String = digits.chars().take(n.min(9)).collect();
            fraction.extend(std::iter::repeat_n('0', n.saturating_sub(9)));
            out.push_str(&fraction);
        }
        'A' => pad(out, i64::from(l.num_seconds_from_midnight()) * 1000, n),
        'n' => pad(out, i64::from(l.nanosecond()), n),
        'N' => pad(
            out,
            i64::from(l.num_seconds_from_midnight()) * 1_000_000_000 + i64::from(l.nanosecond()),
            n,
        ),
        'V' => out.push_str(&z.zone.id()),
        'v' | 'z' => out.push_str(&z.zone.abbreviation(&z.instant)),
        'O' => {
            out.push_str("GMT");
            if z.offset != 0 {
                let text = offset_text(z.offset, true, n >= 4);
                out.push_str(if n >= 4 {
                    &text
                } else {
                    text.trim_end_matches(":00")
                });
            }
        }
        'X' | 'x' => {
            if c == 'X' && z.offset == 0 {
                out.push('Z');
            } else {
                let text = match n {
                    1 => {
                        let full = offset_text(z.offset, false, true);
                        full.trim_end_matches("00").to_string()
                    }
                    2 | 4 => offset_text(z.offset, false, true),
                    _ => offset_text(z.offset, true, true),
                };
                out.push_str(&text);
            }
        }
        'Z' => match n {
            1..=3 => out.push_str(&offset_text(z.offset, false, true)),
            4 => {
                out.push_str("GMT");
                if z.offset != 0 {
                    out.push_str(&offset_text(z.offset, true, true));
                }
            }
            _ if z.offset == 0 => out.push('Z'),
            _ => out.push_str(&offset_text(z.offset, true, true)),
        },
        other => return Err(format!("unsupported pattern letter '{other}'")),
    }
    Ok(())
}

/// `+01:00` (colon) or `+0100`; `+00:00` for zero (the caller decides about `Z`).
fn offset_text(seconds: i32, colon: bool, _always_minutes: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let total = seconds.unsigned_abs();
    let (hours, minutes) = (total / 3600, (total % 3600) / 60);
    if colon {
        format!("{sign}{hours:02}:{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}")
    }
}

/// Adds `amount` of a Java `ChronoUnit` to `instant` as seen in `zone`: time units add exact
/// durations, date units move the local date and keep the wall-clock time (DST-aware).
pub(crate) fn add(
    instant: DateTime<Utc>,
    amount: i64,
    unit: &str,
    zone: Zone,
) -> Result<DateTime<Utc>, String> {
    let exact = |d: Option<Duration>| {
        d.and_then(|d| instant.checked_add_signed(d))
            .ok_or_else(|| "date out of range".to_string())
    };
    let months = match unit {
        "NANOS" => return exact(Some(Duration::nanoseconds(amount))),
        "MICROS" => return exact(Some(Duration::microseconds(amount))),
        "MILLIS" => return exact(Duration::try_milliseconds(amount)),
        "SECONDS" => return exact(Duration::try_seconds(amount)),
        "MINUTES" => return exact(Duration::try_minutes(amount)),
        "HOURS" => return exact(Duration::try_hours(amount)),
        "HALF_DAYS" => return exact(Duration::try_hours(amount.saturating_mul(12))),
        "DAYS" | "WEEKS" => None,
        "MONTHS" => Some(amount),
        "YEARS" => Some(amount.saturating_mul(12)),
        "DECADES" => Some(amount.saturating_mul(120)),
        "CENTURIES" => Some(amount.saturating_mul(1200)),
        "MILLENNIA" => Some(amount.saturating_mul(12000)),
        other => {
            return Err(format!(
                "unknown unit '{other}'; expected one of NANOS, MICROS, MILLIS, SECONDS, MINUTES, HOURS, HALF_DAYS, DAYS, WEEKS, MONTHS, YEARS, DECADES, CENTURIES, MILLENNIA"
            ));
        }
    };
    let zoned = Zoned::new(instant, zone);
    let local = match months {
        Some(months) => {
            let magnitude = chrono::Months::new(
                u32::try_from(months.unsigned_abs())
                    .map_err(|_| "date out of range".to_string())?,
            );
            if months >= 0 {
                zoned.local.checked_add_months(magnitude)
            } else {
                zoned.local.checked_sub_months(magnitude)
            }
        }
        None => {
            let days = if unit == "WEEKS" {
                amount.saturating_mul(7)
            } else {
                amount
            };
            Duration::try_days(days).and_then(|d| zoned.local.checked_add_signed(d))
        }
    }
    .ok_or_else(|| "date out of range".to_string())?;
    Ok(zone.localize(local, Some(zoned.offset)))
}
