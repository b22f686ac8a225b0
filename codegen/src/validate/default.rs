//! `default:` values checked against the field's type.
//!
//! - integers must fit the integer type (`u32`: 0..=4294967295, ...);
//! - `f32`/`f64` take any finite number that fits;
//! - `bool` takes `true`/`false`, `string` a string (quote numbers: `"5"`);
//! - `timestamp` takes an RFC 3339 string `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`
//!   (checked here by hand, with real month lengths), `uuid` a hyphenated UUID;
//! - an enum takes one of its wire values;
//! - `list<T>` takes only `[]`, `map<T>` only `{}`;
//! - `json` and struct types take no default, and neither does an optional
//!   field (a missing optional field already is `None`).

use crate::load::raw::RawValue;
use crate::model::{DefaultValue, Scalar, TypeExpr};

use super::TypeTable;

/// Why a default does not fit: a message and an optional hint.
pub(crate) type Misfit = (String, Option<String>);

/// Checks `value` against `ty`.
pub(crate) fn check(
    value: &RawValue,
    ty: &TypeExpr,
    types: &TypeTable,
) -> Result<DefaultValue, Misfit> {
    let misfit = |help: Option<String>| {
        Err((
            format!("default {} does not fit type `{ty}`", describe(value)),
            help,
        ))
    };
    if *value == RawValue::Null && !matches!(ty, TypeExpr::Optional(_)) {
        return misfit(Some(
            "only an optional type (`T?`) can be null, and a missing optional field already is `None`".to_owned(),
        ));
    }
    match ty {
        TypeExpr::Optional(_) => Err((
            "an optional field cannot have a default".to_owned(),
            Some(
                "a missing optional field is `None`; remove `default`, or make the type required"
                    .to_owned(),
            ),
        )),
        TypeExpr::List(_) => match value {
            RawValue::Seq(0) => Ok(DefaultValue::Empty),
            _ => misfit(Some(
                "the only default of a list is the empty list `[]`".to_owned(),
            )),
        },
        TypeExpr::Map(_) => match value {
            RawValue::Map(0) => Ok(DefaultValue::Empty),
            _ => misfit(Some(
                "the only default of a map is the empty map `{}`".to_owned(),
            )),
        },
        TypeExpr::Named(name) => match types.enum_values(name) {
            Some(values) => match value {
                RawValue::String(s) if values.iter().any(|v| v == s) => {
                    Ok(DefaultValue::EnumValue(s.clone()))
                }
                _ => misfit(Some(format!("expected one of {}", list(values)))),
            },
            None => Err((
                format!("a field of struct type `{name}` cannot have a default"),
                Some("defaults are for scalars, enums, and empty lists or maps".to_owned()),
            )),
        },
        TypeExpr::Scalar(scalar) => scalar_default(value, *scalar).map_err(|help| {
            (
                format!("default {} does not fit type `{ty}`", describe(value)),
                help,
            )
        }),
    }
}

fn scalar_default(value: &RawValue, scalar: Scalar) -> Result<DefaultValue, Option<String>> {
    match (scalar, value) {
        (Scalar::String, RawValue::String(s)) => Ok(DefaultValue::String(s.clone())),
        (Scalar::String, RawValue::Int(_) | RawValue::Float(_) | RawValue::Bool(_)) => {
            Err(Some("quote it to make it a string".to_owned()))
        }
        (Scalar::String, _) => Err(None),
        (Scalar::Bool, RawValue::Bool(b)) => Ok(DefaultValue::Bool(*b)),
        (Scalar::Bool, _) => Err(Some("write `true` or `false`".to_owned())),
        (Scalar::I32 | Scalar::I64 | Scalar::U32 | Scalar::U64, value) => {
            let (min, max): (i128, i128) = match scalar {
                Scalar::I32 => (i32::MIN.into(), i32::MAX.into()),
                Scalar::I64 => (i64::MIN.into(), i64::MAX.into()),
                Scalar::U32 => (0, u32::MAX.into()),
                _ => (0, u64::MAX.into()),
            };
            match value {
                RawValue::Int(n) if (min..=max).contains(n) => Ok(DefaultValue::Int(*n)),
                _ => Err(Some(format!(
                    "{} `{}` is a whole number from {min} to {max}, written without quotes",
                    article(scalar),
                    scalar.schema_name()
                ))),
            }
        }
        (Scalar::F32 | Scalar::F64, RawValue::Int(n)) => float(*n as f64, scalar),
        (Scalar::F32 | Scalar::F64, RawValue::Float(x)) => float(*x, scalar),
        (Scalar::F32 | Scalar::F64, _) => Err(Some("write a number without quotes".to_owned())),
        (Scalar::Timestamp, RawValue::String(s)) if is_rfc3339(s) => {
            Ok(DefaultValue::String(s.clone()))
        }
        (Scalar::Timestamp, _) => Err(Some(
            "write an RFC 3339 timestamp in quotes, e.g. \"2020-05-01T12:00:00.000Z\"".to_owned(),
        )),
        (Scalar::Uuid, RawValue::String(s)) if is_uuid(s) => Ok(DefaultValue::String(s.clone())),
        (Scalar::Uuid, _) => Err(Some(
            "write a hyphenated UUID, e.g. \"67e55044-10b1-426f-9247-bb680e5fe0c8\"".to_owned(),
        )),
        (Scalar::Json, _) => Err(Some(
            "`json` fields cannot have a default; make the field optional (`json?`)".to_owned(),
        )),
    }
}

fn float(x: f64, scalar: Scalar) -> Result<DefaultValue, Option<String>> {
    let max = if scalar == Scalar::F32 {
        f64::from(f32::MAX)
    } else {
        f64::MAX
    };
    if x.is_finite() && x.abs() <= max {
        Ok(DefaultValue::Float(x))
    } else {
        let bound = if scalar == Scalar::F32 {
            "3.4e38"
        } else {
            "1.8e308"
        };
        Err(Some(format!(
            "an `{}` is a finite number of magnitude up to about {bound}",
            scalar.schema_name()
        )))
    }
}

/// "a" or "an" before a scalar's name, as it is read aloud (`an i32`, `a u64`).
fn article(scalar: Scalar) -> &'static str {
    if scalar.schema_name().starts_with(['i', 'f']) {
        "an"
    } else {
        "a"
    }
}

/// How a value is named in messages: `` `5` ``, `` `"5"` ``, `` `null` ``,
/// `a list`, `a map`.
fn describe(value: &RawValue) -> String {
    match value {
        RawValue::Null => "`null`".to_owned(),
        RawValue::Bool(b) => format!("`{b}`"),
        RawValue::Int(n) => format!("`{n}`"),
        RawValue::Float(x) => format!("`{x:?}`"),
        RawValue::String(s) => {
            let shown: String = s.chars().take(64).collect();
            let more = if shown.len() < s.len() { "..." } else { "" };
            format!("`\"{}{more}\"`", shown.escape_debug())
        }
        RawValue::Seq(0) => "`[]`".to_owned(),
        RawValue::Seq(_) => "`[...]`".to_owned(),
        RawValue::Map(0) => "`{}`".to_owned(),
        RawValue::Map(_) => "`{...}`".to_owned(),
    }
}

/// `` `a`, `b` and `c` ``
pub(crate) fn list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().take(8).map(|v| format!("`{v}`")).collect();
    let mut text = quoted.join(", ");
    if values.len() > 8 {
        text.push_str(", ...");
    }
    text
}

/// Strict RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`.
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0, 4),
        digits(5, 2),
        digits(8, 2),
        digits(11, 2),
        digits(14, 2),
        digits(17, 2),
    ) else {
        return false;
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &fraction[n..];
    }
    if rest == "Z" {
        return true;
    }
    let o = rest.as_bytes();
    o.len() == 6
        && (o[0] == b'+' || o[0] == b'-')
        && o[3] == b':'
        && o[1..3].iter().chain(&o[4..6]).all(u8::is_ascii_digit)
        && rest[1..3].parse::<u32>().is_ok_and(|h| h <= 23)
        && rest[4..6].parse::<u32>().is_ok_and(|m| m <= 59)
}

/// A hyphenated UUID: 8-4-4-4-12 hex digits.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        for ok in [
            "2020-05-01T12:00:00.000Z",
            "2020-05-01T12:00:00Z",
            "2024-02-29T23:59:59.123456789+05:30",
            "1970-01-01T00:00:00-00:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2020-05-01",
            "2020-05-01 12:00:00Z",
            "2021-02-29T00:00:00Z",
            "2020-13-01T00:00:00Z",
            "2020-04-31T00:00:00Z",
            "2020-05-01T24:00:00Z",
            "2020-05-01T12:00:60Z",
            "2020-05-01T12:00:00",
            "2020-05-01T12:00:00.Z",
            "2020-05-01T12:00:00.0000000000Z",
            "2020-05-01T12:00:00+5:30",
            "2020-05-01T12:00:00+24:00",
            "2020-05-01T12:00:00ZZ",
            "２020-05-01T12:00:00Z",
            "2020-05-01T12:00:00.5é",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        assert!(is_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8"));
        assert!(!is_uuid("67e5504410b1426f9247bb680e5fe0c8"));
        assert!(!is_uuid("67e55044-10b1-426f-9247-bb680e5fe0cg"));
        assert!(!is_uuid("67e55044-10b1-426f-9247-bb680e5fe0c"));
    }
}
