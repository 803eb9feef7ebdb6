//! Reading dates: ISO-8601 inputs and Java patterns (`existingFormat`).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::java_date::{DAYS, Item, MONTHS, Zone, items_for};

/// Parses `Z`, `+01`, `+0100`, `+01:00` into seconds east, returning the bytes consumed.
pub(super) fn parse_offset(text: &str) -> Option<(i32, usize)> {
    if text.starts_with('Z') || text.starts_with('z') {
        return Some((0, 1));
    }
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let rest = &text[1..];
    let digits = |s: &str, n: usize| -> Option<i32> {
        let part = s.get(..n)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let hours = digits(rest, 2).or_else(|| digits(rest, 1))?;
    let hour_len = if digits(rest, 2).is_some() { 2 } else { 1 };
    let after = &rest[hour_len..];
    let (minutes, minute_len) = if let Some(m) = after.strip_prefix(':').and_then(|s| digits(s, 2))
    {
        (m, 3)
    } else if let Some(m) = digits(after, 2) {
        (m, 2)
    } else {
        (0, 0)
    };
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some((
        sign * (hours * 3600 + minutes * 60),
        1 + hour_len + minute_len,
    ))
}

/// Parses Kestra's date inputs: ISO-8601 with offset or zone (`…Z`, `…+01:00`,
/// `…+01:00[Europe/Paris]`), a local date-time or a plain date (both read in `zone`).
pub(crate) fn parse_iso(text: &str, zone: Zone) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let (body, bracket_zone) = match text.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((body, name)) => (body, Some(Zone::parse(name)?)),
        None => (text, None),
    };
    let zone = bracket_zone.unwrap_or(zone);
    let unparseable =
        || format!("cannot parse '{text}' as a date; expected ISO-8601 like 2024-01-31T10:00:00Z");
    let body = body.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&body) {
        return Ok(dt.with_timezone(&Utc));
    }
    // Offsets without seconds or with a compact offset: split the offset off and parse both.
    let split_at = body
        .char_indices()
        .skip(10)
        .find(|(_, c)| matches!(c, 'Z' | 'z' | '+' | '-'))
        .map(|(i, _)| i);
    let (local_text, offset) = match split_at {
        Some(i) => {
            let (offset, used) = parse_offset(&body[i..]).ok_or_else(unparseable)?;
            if used != body.len() - i {
                return Err(unparseable());
            }
            (&body[..i], Some(offset))
        }
        None => (body.as_str(), None),
    };
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(local_text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(local_text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(unparseable)?;
    Ok(match offset {
        Some(offset) => Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(offset)))),
        None => zone.localize(local, None),
    })
}

/// Parses `text` with a Java pattern (`existingFormat`); missing fields default to the
/// start of their range, and a text without an offset is read in `zone`.
pub(crate) fn parse_with(text: &str, pattern: &str, zone: Zone) -> Result<DateTime<Utc>, String> {
    let items = items_for(pattern)?;
    let fail = || format!("cannot parse '{text}' with date format '{pattern}'");
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut nano) =
        (1970i32, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut zone = zone;
    let mut rest = text;
    for (index, item) in items.iter().enumerate() {
        let next_is_numeric =
            matches!(items.get(index + 1), Some(Item::Field(c, _)) if "yuMdHhKkmsSD".contains(*c));
        match item {
            Item::Literal(lit) => rest = rest.strip_prefix(lit.as_str()).ok_or_else(fail)?,
            Item::IsoFraction => {
                if let Some(after) = rest.strip_prefix('.') {
                    let len = after.bytes().take_while(u8::is_ascii_digit).count();
                    let digits = format!("{:0<9}", &after[..len.min(9)]);
                    nano = digits.parse().map_err(|_| fail())?;
                    rest = &after[len..];
                }
            }
            Item::ZoneBracket | Item::Rfc1123Offset => {}
            Item::Field(c, n) => {
                let (c, n) = (*c, *n);
                let numeric = |rest: &mut &str, exact: Option<usize>| -> Result<i64, String> {
                    let available = rest.bytes().take_while(u8::is_ascii_digit).count();
                    let len = exact.map_or(available.min(9), |e| e.min(available));
                    if len == 0 || exact.is_some_and(|e| e != len) {
                        return Err(fail());
                    }
                    let value = rest[..len].parse().map_err(|_| fail())?;
                    *rest = &rest[len..];
                    Ok(value)
                };
                let exact = if n >= 2 || next_is_numeric {
                    Some(n.max(if next_is_numeric { n } else { 1 }))
                } else {
                    None
                };
                match c {
                    'y' | 'u' | 'Y' => {
                        let value = numeric(
                            &mut rest,
                            if n == 2 || next_is_numeric {
                                Some(n)
                            } else {
                                None
                            },
                        )?;
                        year = i32::try_from(if n == 2 { 2000 + value } else { value })
                            .map_err(|_| fail())?;
                    }
                    'M' | 'L' if n >= 3 => {
                        let found = MONTHS
                            .iter()
                            .position(|m| {
                                let name = if n == 3 { &m[..3] } else { m };
                                rest.get(..name.len())
                                    .is_some_and(|p| p.eq_ignore_ascii_case(name))
                            })
                            .ok_or_else(fail)?;
                        rest = &rest[if n == 3 { 3 } else { MONTHS[found].len() }..];
                        month = found as u32 + 1;
                    }
                    'E' => {
                        let found = DAYS
                            .iter()
                            .find(|d| {
                                let name = if n <= 3 { &d[..3] } else { d };
                                rest.get(..name.len())
                                    .is_some_and(|p| p.eq_ignore_ascii_case(name))
                            })
                            .ok_or_else(fail)?;
                        rest = &rest[if n <= 3 { 3 } else { found.len() }..];
                    }
                    'a' => {
                        let upper = rest
                            .get(..2)
                            .map(str::to_ascii_uppercase)
                            .ok_or_else(fail)?;
                        pm = Some(match upper.as_str() {
                            "AM" => false,
                            "PM" => true,
                            _ => return Err(fail()),
                        });
                        rest = &rest[2..];
                    }
                    'S' => {
                        let len = rest.bytes().take_while(u8::is_ascii_digit).count().min(n);
                        let digits = format!("{:0<9}", &rest[..len]);
                        nano = digits
                            .get(..9)
                            .and_then(|d| d.parse().ok())
                            .ok_or_else(fail)?;
                        rest = &rest[len..];
                    }
                    'X' | 'x' | 'Z' => {
                        let (secs, used) = parse_offset(rest).ok_or_else(fail)?;
                        offset = Some(secs);
                        rest = &rest[used..];
                    }
                    'V' | 'z' | 'v' => {
                        let len = rest
                            .find(|ch: char| !(ch.is_ascii_alphanumeric() || "/_+-".contains(ch)))
                            .unwrap_or(rest.len());
                        zone = Zone::parse(&rest[..len])?;
                        rest = &rest[len..];
                    }
                    _ => {
                        let value =
                            u32::try_from(numeric(&mut rest, exact)?).map_err(|_| fail())?;
                        match c {
                            'M' | 'L' => month = value,
                            'd' => day = value,
                            'H' | 'k' => hour = value % 24,
                            'h' | 'K' => hour = value % 12,
                            'm' => minute = value,
                            's' => second = value,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    if !rest.is_empty() {
        return Err(fail());
    }
    if pm == Some(true) {
        hour = hour % 12 + 12;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_nano_opt(hour, minute, second, nano))
        .ok_or_else(fail)?;
    Ok(match offset {
        Some(secs) => Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(secs)))),
        None => zone.localize(local, None),
    })
}
