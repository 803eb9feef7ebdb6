//! `date`, `dateAdd` and the `timestamp*` filters.
//!
//! Inputs are ISO-8601 strings (with an offset, a `[Zone/Id]`, or local and then read in
//! `timeZone`), strings in `existingFormat`, or numbers, which are epoch **seconds** as in
//! Kestra's `AbstractDate` (a `Long` is `Instant.ofEpochSecond`). Without `timeZone` the zone
//! is UTC: Kestra uses the server's default zone, and Baton's core reads no system settings.

use chrono::{DateTime, TimeZone, Utc};
use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use super::filters::{FilterImpl, filter_error};
use super::functions::{arg, str_arg};
use super::java_date::{self, Zone, Zoned};
use super::runtime::describe;

pub(crate) const FILTERS: &[(&str, FilterImpl)] = &[
    ("date", date),
    ("dateAdd", date_add),
    ("timestamp", timestamp),
    ("timestampMilli", timestamp_milli),
    ("timestampMicro", timestamp_micro),
    ("timestampNano", timestamp_nano),
];

fn text<'a>(
    args: &'a [Value],
    index: usize,
    filter: &str,
    param: &str,
) -> Result<Option<&'a str>, Error> {
    str_arg(args, index, &format!("filter '{filter}'"), param)
}

fn zone(args: &[Value], index: usize, filter: &str) -> Result<Zone, Error> {
    match text(args, index, filter, "timeZone")? {
        Some(name) => Zone::parse(name).map_err(|e| filter_error(filter, e)),
        None => Ok(Zone::UTC),
    }
}

/// The instant an input denotes; see the module documentation for the accepted forms.
fn instant(
    input: &Value,
    zone: Zone,
    existing: Option<&str>,
    filter: &str,
) -> Result<DateTime<Utc>, Error> {
    let out_of_range = || filter_error(filter, format_args!("{} is out of range", describe(input)));
    match input.kind() {
        ValueKind::Number => {
            if let Some(seconds) = input.as_i64().filter(|_| input.is_integer()) {
                return Utc
                    .timestamp_opt(seconds, 0)
                    .single()
                    .ok_or_else(out_of_range);
            }
            let seconds = f64::try_from(input.clone()).map_err(|_| out_of_range())?;
            let whole = seconds.floor();
            let nanos = ((seconds - whole) * 1e9).round() as u32;
            if !whole.is_finite() || whole.abs() > 1e13 {
                return Err(out_of_range());
            }
            Utc.timestamp_opt(whole as i64, nanos.min(999_999_999))
                .single()
                .ok_or_else(out_of_range)
        }
        ValueKind::String => {
            let text = input.as_str().unwrap_or_default();
            match existing {
                Some(pattern) => java_date::parse_with(text, pattern, zone),
                None => java_date::parse_iso(text, zone),
            }
            .map_err(|e| filter_error(filter, e))
        }
        _ => Err(filter_error(
            filter,
            format_args!(
                "needs a date string or epoch seconds, got {}",
                describe(input)
            ),
        )),
    }
}

fn render(instant: DateTime<Utc>, zone: Zone, format: &str, filter: &str) -> Result<Value, Error> {
    java_date::format(&Zoned::new(instant, zone), format)
        .map(Value::from)
        .map_err(|e| filter_error(filter, e))
}

fn date(input: &Value, args: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(Value::from(()));
    }
    let format = text(args, 0, "date", "format")?.unwrap_or("iso");
    let zone = zone(args, 1, "date")?;
    let existing = text(args, 2, "date", "existingFormat")?;
    let instant = instant(input, zone, existing, "date")?;
    render(instant, zone, format, "date")
}

fn date_add(input: &Value, args: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(Value::from(()));
    }
    let amount = arg(args, 0)
        .and_then(Value::as_i64)
        .ok_or_else(|| filter_error("dateAdd", "'amount' must be an integer"))?;
    let unit = text(args, 1, "dateAdd", "unit")?
        .ok_or_else(|| filter_error("dateAdd", "missing argument 'unit' (e.g. 'DAYS')"))?;
    let format = text(args, 2, "dateAdd", "format")?.unwrap_or("iso");
    let zone = zone(args, 3, "dateAdd")?;
    let existing = text(args, 4, "dateAdd", "existingFormat")?;
    let start = instant(input, zone, existing, "dateAdd")?;
    let moved = java_date::add(start, amount, &unit.to_ascii_uppercase(), zone)
        .map_err(|e| filter_error("dateAdd", e))?;
    render(moved, zone, format, "dateAdd")
}

fn epoch(input: &Value, args: &[Value], filter: &str, per_second: i64) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(Value::from(()));
    }
    let zone = zone(args, 0, filter)?;
    let existing = text(args, 1, filter, "existingFormat")?;
    let instant = instant(input, zone, existing, filter)?;
    let sub_second = i64::from(instant.timestamp_subsec_nanos()) / (1_000_000_000 / per_second);
    instant
        .timestamp()
        .checked_mul(per_second)
        .and_then(|v| v.checked_add(sub_second))
        .map(Value::from)
        .ok_or_else(|| filter_error(filter, "date is out of range"))
}

fn timestamp(input: &Value, args: &[Value]) -> Result<Value, Error> {
    epoch(input, args, "timestamp", 1)
}

fn timestamp_milli(input: &Value, args: &[Value]) -> Result<Value, Error> {
    epoch(input, args, "timestampMilli", 1_000)
}

fn timestamp_micro(input: &Value, args: &[Value]) -> Result<Value, Error> {
    epoch(input, args, "timestampMicro", 1_000_000)
}

fn timestamp_nano(input: &Value, args: &[Value]) -> Result<Value, Error> {
    epoch(input, args, "timestampNano", 1_000_000_000)
}
