//! How an event's JSON is written: as `JSON.stringify` writes it, so a
//! Rust publisher's bytes are the Node services' bytes.
//!
//! serde_json writes a float with Rust's shortest round-trip notation:
//! `20.0`, `1e21`, `5e-7`, `-0.0`. JavaScript's Number-to-String (ECMA-262,
//! `Number::toString`) writes the same values `20`, `1e+21`, `5e-7` and `0`,
//! and `1e-6` as `0.000001`. The numbers read back the same either way; the
//! bytes differ, and byte-exact bodies are what lets a Rust service replace
//! a Node one without a consumer, a deduplicating proxy or a signature over
//! the body noticing. Floats here go through `ryu-js`, the ECMAScript port
//! of the `ryu` algorithm serde_json uses; everything else is serde_json's.

use std::io;

use serde::Serialize;

/// Writes `value` as JSON with its numbers as JavaScript writes them
/// (`20`, not `20.0`): the body [`Publisher`](crate::Publisher), the
/// outbox and `AnyEvent::encode` send.
///
/// Integers and strings are written as serde_json writes them; a float is
/// written as `JSON.stringify` writes the same number (an `f32` as its
/// shortest decimal, in JavaScript's notation). NaN and infinities become
/// `null`, as in both.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Ticket {
///     price: f64,
///     tiny: f64,
///     huge: f64,
/// }
///
/// let json = typebus::to_json(&Ticket { price: 20.0, tiny: 5e-7, huge: 1e21 }).unwrap();
/// assert_eq!(json, br#"{"price":20,"tiny":5e-7,"huge":1e+21}"#);
/// ```
///
/// # Errors
///
/// When `value`'s `Serialize` fails (a map with non-string keys, a
/// custom impl that errors).
pub fn to_json<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, JsNumbers,
    ))?;
    Ok(out)
}

/// [`to_json`] as a `String`.
///
/// # Errors
///
/// As [`to_json`].
pub fn to_json_string<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    let json = to_json(value)?;
    // serde_json writes UTF-8 only; the error arm is never taken.
    String::from_utf8(json).map_err(<serde_json::Error as serde::ser::Error>::custom)
}

/// serde_json's compact formatter with floats in ECMAScript notation.
/// serde_json calls `write_f64`/`write_f32` for finite values only.
#[derive(Debug, Clone, Copy)]
struct JsNumbers;

impl serde_json::ser::Formatter for JsNumbers {
    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(ryu_js::Buffer::new().format_finite(value).as_bytes())
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(ryu_js::Buffer::new().format_finite(value).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What `JSON.stringify` wrote for each value (Node 20).
    const STRINGIFIED: &[(f64, &str)] = &[
        (20.0, "20"),
        (9.99, "9.99"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.5e300, "1.5e+300"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (5e-7, "5e-7"),
        (1.2345e-7, "1.2345e-7"),
        (-1e-7, "-1e-7"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
        (9007199254740993.0, "9007199254740992"),
        // Exactly halfway between two shortest candidates: the even one.
        (-1699035690989648.2, "-1699035690989648.2"),
        (f64::NAN, "null"),
        (f64::INFINITY, "null"),
        (f64::NEG_INFINITY, "null"),
    ];

    #[test]
    fn floats_are_written_as_json_stringify_writes_them() {
        for &(value, expected) in STRINGIFIED {
            assert_eq!(to_json_string(&value).unwrap(), expected, "{value:e}");
        }
    }

    #[test]
    fn f32_is_written_as_its_shortest_decimal() {
        assert_eq!(to_json_string(&0.1f32).unwrap(), "0.1");
        assert_eq!(to_json_string(&20f32).unwrap(), "20");
        assert_eq!(to_json_string(&1e21f32).unwrap(), "1e+21");
    }

    /// ECMA-262 `Number::toString(x)` for finite `x`, written from the
    /// spec's steps, with the shortest round-trip digits from Rust's `{:e}`
    /// (its `s` and `k`; `n` is the decimal exponent plus one).
    fn number_to_string(x: f64) -> String {
        if x == 0.0 {
            return "0".to_owned();
        }
        if x < 0.0 {
            return format!("-{}", number_to_string(-x));
        }
        let scientific = format!("{x:e}");
        let (mantissa, exponent) = scientific.split_once('e').unwrap();
        let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let k = digits.len();
        // When x lies exactly halfway between two k-digit candidates, the
        // spec takes the even one; Rust's shortest digits round half up.
        // (Every double's exact expansion fits in 1100 digits; the first,
        // cheap look rules out most values.)
        let near_half = format!("{x:.*e}", k + 1).contains("50e");
        let exact = if near_half {
            format!("{x:.1100e}")
        } else {
            String::new()
        };
        let exact = exact.split('e').next().unwrap().replace('.', "");
        let exact = exact.trim_end_matches('0');
        if near_half && exact.len() == k + 1 && exact.ends_with('5') {
            // Halfway between `lower` and the number one unit above it
            // (which cannot end in a carry: it would have fewer digits).
            let lower = &exact[..k];
            let last = lower.as_bytes()[k - 1] - b'0';
            let even = if last.is_multiple_of(2) {
                last
            } else {
                last + 1
            };
            digits = format!("{}{even}", &lower[..k - 1]);
        }
        let k = k as i64;
        let n = exponent.parse::<i64>().unwrap() + 1;
        if k <= n && n <= 21 {
            format!("{digits}{}", "0".repeat((n - k) as usize))
        } else if 0 < n && n <= 21 {
            format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
        } else if -6 < n && n <= 0 {
            format!("0.{}{digits}", "0".repeat(-n as usize))
        } else {
            let sign = if n > 0 { '+' } else { '-' };
            let (first, rest) = digits.split_at(1);
            let point = if rest.is_empty() { "" } else { "." };
            format!("{first}{point}{rest}e{sign}{}", (n - 1).abs())
        }
    }

    /// splitmix64: a fixed, seeded sequence, so a failure reproduces.
    fn numbers(mut state: u64) -> impl Iterator<Item = u64> {
        std::iter::repeat_with(move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }

    #[test]
    fn random_floats_follow_the_ecmascript_rule() {
        let mut checked = 0;
        // Every bit pattern: all exponents, subnormals, both signs.
        let any = numbers(1).map(f64::from_bits).filter(|x| x.is_finite());
        // What events carry: integers, cents, and values near the rule's
        // bounds (1e21, 1e-6), where the notation changes.
        let cents = numbers(2).map(|n| (n % 10_000_000) as f64 / 100.0);
        let integers = numbers(3).map(|n| (n >> (n % 64)) as f64);
        let bounds = numbers(4).map(|n| {
            let exponent = [-8, -7, -6, -5, 19, 20, 21, 22][(n % 8) as usize];
            (1.0 + (n >> 11) as f64 / (1u64 << 53) as f64) * 10f64.powi(exponent)
        });
        for x in any
            .take(100_000)
            .chain(cents.take(20_000))
            .chain(integers.take(20_000))
            .chain(bounds.take(20_000))
        {
            let json = to_json_string(&x).unwrap();
            assert_eq!(json, number_to_string(x), "{x:e} ({:#x})", x.to_bits());
            assert_eq!(json.parse::<f64>().unwrap(), x, "{json} reads back");
            checked += 1;
        }
        assert_eq!(checked, 160_000);
    }

    #[test]
    fn floats_nested_anywhere_are_written_the_same_way() {
        let value = serde_json::json!({"a": [1.0, {"b": 2.5e-7}], "c": -0.0, "d": 7});
        assert_eq!(
            to_json_string(&value).unwrap(),
            r#"{"a":[1,{"b":2.5e-7}],"c":0,"d":7}"#
        );
    }
}
