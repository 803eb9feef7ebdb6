//! Postgres values (binary format, as sqlx receives them) to [`Cell`]s, by column type, as
//! Kestra's Postgres cell converter maps them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::postgres::types::PgInterval;
use sqlx::postgres::{PgRow, PgTypeKind, PgValueRef};
use sqlx::{Column, Decode, Row as _, TypeInfo, ValueRef};

use crate::rows::{Cell, Row};

/// The row's cells, named by their column labels.
pub(crate) fn row(row: &PgRow) -> Result<Row, String> {
    row.columns()
        .iter()
        .map(|column| {
            let value = row
                .try_get_raw(column.ordinal())
                .map_err(|e| format!("column '{}': {e}", column.name()))?;
            let cell = cell(value).map_err(|e| format!("column '{}': {e}", column.name()))?;
            Ok((column.name().to_owned(), cell))
        })
        .collect()
}

fn decode<'r, T: Decode<'r, sqlx::Postgres>>(value: PgValueRef<'r>) -> Result<T, String> {
    T::decode(value).map_err(|e| e.to_string())
}

fn cell(value: PgValueRef<'_>) -> Result<Cell, String> {
    if value.is_null() {
        return Ok(Cell::Null);
    }
    let info = value.type_info().into_owned();
    let name = info.name();
    Ok(match name {
        "BOOL" => Cell::Bool(decode(value)?),
        "INT2" => Cell::Int(decode::<i16>(value)?.into()),
        "INT4" => Cell::Int(decode::<i32>(value)?.into()),
        "INT8" => Cell::Int(decode(value)?),
        "OID" => Cell::Int(decode::<sqlx::postgres::types::Oid>(value)?.0.into()),
        "FLOAT4" => Cell::Float(decode::<f32>(value)?.into()),
        "FLOAT8" => Cell::Float(decode(value)?),
        "NUMERIC" => numeric(bytes(&value)?)?,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" | "\"CHAR\"" => {
            Cell::Text(decode(value)?)
        }
        "UUID" => Cell::Text(decode::<uuid::Uuid>(value)?.to_string()),
        "JSON" | "JSONB" => Cell::Json(decode(value)?),
        "BYTEA" => Cell::Bytes(decode(value)?),
        "DATE" => Cell::Date(decode::<NaiveDate>(value)?.to_string()),
        "TIME" => Cell::Text(decode::<NaiveTime>(value)?.to_string()),
        "TIMESTAMP" => Cell::DateTime(
            decode::<NaiveDateTime>(value)?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        "TIMESTAMPTZ" => Cell::DateTime(
            decode::<DateTime<Utc>>(value)?.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        "INTERVAL" => Cell::Text(interval(&decode::<PgInterval>(value)?)),
        "BOOL[]" => list(decode::<Vec<Option<bool>>>(value)?, Cell::Bool),
        "INT2[]" => list(decode::<Vec<Option<i16>>>(value)?, |v| Cell::Int(v.into())),
        "INT4[]" => list(decode::<Vec<Option<i32>>>(value)?, |v| Cell::Int(v.into())),
        "INT8[]" => list(decode::<Vec<Option<i64>>>(value)?, Cell::Int),
        "FLOAT4[]" => list(decode::<Vec<Option<f32>>>(value)?, |v| {
            Cell::Float(v.into())
        }),
        "FLOAT8[]" => list(decode::<Vec<Option<f64>>>(value)?, Cell::Float),
        "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" | "NAME[]" => {
            list(decode::<Vec<Option<String>>>(value)?, Cell::Text)
        }
        "UUID[]" => list(decode::<Vec<Option<uuid::Uuid>>>(value)?, |v| {
            Cell::Text(v.to_string())
        }),
        "JSON[]" | "JSONB[]" => list(decode::<Vec<Option<serde_json::Value>>>(value)?, Cell::Json),
        other => match info.kind() {
            // An enum travels as its label; a domain as its base type, which sqlx names.
            PgTypeKind::Enum(_) => Cell::Text(text(&value)?),
            _ => match text(&value) {
                Ok(text) => Cell::Text(text),
                Err(_) => {
                    return Err(format!(
                        "type {other} cannot be read yet; cast it in the query (e.g. \
                         column::text)"
                    ));
                }
            },
        },
    })
}

fn bytes<'r>(value: &PgValueRef<'r>) -> Result<&'r [u8], String> {
    value.as_bytes().map_err(|e| e.to_string())
}

/// A value of a type Baton does not know, when its binary form is text (as for enums and
/// text-like extension types).
fn text(value: &PgValueRef<'_>) -> Result<String, String> {
    let bytes = bytes(value)?;
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err("binary data".to_owned());
    }
    Ok(text.to_owned())
}

fn list<T>(values: Vec<Option<T>>, cell: impl Fn(T) -> Cell) -> Cell {
    Cell::List(
        values
            .into_iter()
            .map(|v| v.map_or(Cell::Null, &cell))
            .collect(),
    )
}

/// ISO-8601, as `java.time` prints durations: `P1M2DT3.5S`.
fn interval(interval: &PgInterval) -> String {
    let mut text = String::from("P");
    if interval.months != 0 {
        text.push_str(&format!("{}M", interval.months));
    }
    if interval.days != 0 {
        text.push_str(&format!("{}D", interval.days));
    }
    if interval.microseconds != 0 || text == "P" {
        let seconds = interval.microseconds as f64 / 1_000_000.0;
        text.push_str(&format!("T{seconds}S"));
    }
    text
}

/// NUMERIC's binary form: digit count, weight, sign, display scale, then base-10000 digits.
fn numeric(bytes: &[u8]) -> Result<Cell, String> {
    let word = |i: usize| -> Result<i16, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated NUMERIC value".to_owned())
    };
    let count = usize::try_from(word(0)?).map_err(|_| "bad NUMERIC digit count".to_owned())?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let scale = usize::try_from(word(3)?).map_err(|_| "bad NUMERIC scale".to_owned())?;
    match sign {
        0xC000 => return Ok(Cell::Float(f64::NAN)),
        0xD000 => return Ok(Cell::Float(f64::INFINITY)),
        0xF000 => return Ok(Cell::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let digits: Vec<i16> = (0..count).map(|i| word(4 + i)).collect::<Result<_, _>>()?;
    // Integer part: groups at weights weight..=0; fraction: groups at weights -1, -2, ….
    let mut integer = String::new();
    for w in (0..=weight).rev() {
        let index = usize::try_from(weight - w).unwrap_or(usize::MAX);
        let group = digits.get(index).copied().unwrap_or(0);
        if integer.is_empty() {
            if group != 0 {
                integer.push_str(&group.to_string());
            }
        } else {
            integer.push_str(&format!("{group:04}"));
        }
    }
    if integer.is_empty() {
        integer.push('0');
    }
    let mut fraction = String::new();
    let mut w = -1;
    while fraction.len() < scale {
        let index = usize::try_from(weight - w).unwrap_or(usize::MAX);
        let group = digits.get(index).copied().unwrap_or(0);
        fraction.push_str(&format!("{group:04}"));
        w -= 1;
    }
    fraction.truncate(scale);
    let negative = sign == 0x4000 && (integer != "0" || fraction.chars().any(|c| c != '0'));
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    text.push_str(&integer);
    if scale > 0 {
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(Cell::Decimal(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [digits.len() as i16, weight, sign as i16, scale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_keep_their_digits_and_scale() {
        let text = |weight, sign, scale, digits: &[i16]| match numeric(&numeric_bytes(
            weight, sign, scale, digits,
        ))
        .unwrap()
        {
            Cell::Decimal(text) => text,
            other => panic!("{other:?}"),
        };
        // 12345678.9 = [1234, 5678, 9000] weight 1, scale 1
        assert_eq!(text(1, 0, 1, &[1234, 5678, 9000]), "12345678.9");
        assert_eq!(text(0, 0x4000, 2, &[12, 5000]), "-12.50");
        assert_eq!(text(-1, 0, 4, &[5]), "0.0005");
        assert_eq!(text(0, 0, 0, &[]), "0");
        assert_eq!(text(1, 0, 0, &[1]), "10000");
        assert_eq!(text(0, 0, 3, &[]), "0.000");
    }
}
