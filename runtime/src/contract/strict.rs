//! [`Strict`]: a serde adapter that refuses the JSON serde would quietly
//! misread, at any depth.
//!
//! - **Structs only from objects.** serde's derived `Deserialize` for a
//!   struct also accepts a sequence of its field values in declaration
//!   order: `["t1",20]` reads as `{id: "t1", price: 20}`. No service sends
//!   that, and a reordered array would decode into the wrong fields. Under
//!   [`Strict`] a struct gets an object or fails with `invalid type: array,
//!   expected a JSON object`, naming what it found.
//! - **`f32` in range.** serde reads an `f32` from any JSON number by an
//!   `as` cast, so `1e39` becomes infinity. Under [`Strict`] a finite number
//!   beyond `f32::MAX` is `number out of range for f32`.
//!
//! Everything else passes through unchanged (lists stay arrays, map keys
//! are read as they are).

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// A deserializer whose structs, and those of every value inside, read
/// only from objects, and whose `f32`s stay finite.
pub(crate) struct Strict<D>(pub(crate) D);

/// A visitor whose nested values are read through [`Strict`].
struct Nested<V>(V);

/// A seed, a sequence, a map or an enum whose values are read through
/// [`Strict`].
struct Values<A>(A);

/// The visitor of one struct: an object, or an error naming what was found.
struct Struct<V> {
    name: &'static str,
    visitor: V,
}

macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Nested(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_f32(F32(visitor))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Nested(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Nested(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Nested(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Nested(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // Self-describing input (JSON) says what it holds: `Struct` takes a
        // map and refuses the rest by name.
        self.0.deserialize_any(Struct { name, visitor })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Nested(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

impl<V> Struct<V> {
    fn found<E: de::Error>(&self, what: fmt::Arguments<'_>) -> E {
        E::custom(format_args!(
            "invalid type: {what}, expected a JSON object (`{}`)",
            self.name
        ))
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Struct<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object (`{}`)", self.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(Values(map))
    }

    // The rest are refused by serde's defaults ("invalid type: boolean
    // `true`, expected a JSON object"), except the two that serde names
    // otherwise than JSON does.
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<V::Value, A::Error> {
        Err(self.found(format_args!("array")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        Err(self.found(format_args!("null")))
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.0.$method(value)
        }
    )*};
}

/// The visitor of an `f32`: a number that does not fit is an error, not
/// infinity. Every other visit passes through unchanged.
struct F32<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for F32<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<V::Value, E> {
        if value.is_finite() && (value as f32).is_infinite() {
            return Err(E::custom(format_args!(
                "number out of range for f32: {value}"
            )));
        }
        self.0.visit_f64(value)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Nested<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char)
        visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
        visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Strict(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Values(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Values(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Values(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Values<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Values<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.0.next_element_seed(Values(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Values<A> {
    type Error = A::Error;

    // JSON keys are strings: nothing to check in them.
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(Values(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Values<A> {
    type Error = A::Error;
    type Variant = Values<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(seed)?;
        Ok((value, Values(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Values<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.0.newtype_variant_seed(Values(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Nested(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(
            fields,
            Struct {
                name: "variant",
                visitor,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use crate::contract::decode::from_json;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Seat {
        row: u32,
        number: u32,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Order {
        id: String,
        seats: Vec<Seat>,
        best: Option<Seat>,
        by_name: BTreeMap<String, Seat>,
        status: Status,
        pair: (u8, u8),
        #[serde(default)]
        note: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Status {
        Created,
        Cancelled,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    enum Shape {
        Box { side: u32 },
    }

    fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        from_json::<T>("order:created", json.as_bytes())
            .map_err(|err| format!("{} | {}", err.path().unwrap_or_default(), err))
    }

    const GOOD: &str = r#"{"id":"o1","seats":[{"row":1,"number":2}],"best":{"row":3,"number":4},
        "byName":{"a":{"row":5,"number":6}},"status":"created","pair":[7,8]}"#;

    #[test]
    fn objects_decode_as_before() {
        let order: Order = decode(GOOD).unwrap();
        assert_eq!(order.seats, [Seat { row: 1, number: 2 }]);
        assert_eq!(order.best, Some(Seat { row: 3, number: 4 }));
        assert_eq!(order.by_name["a"], Seat { row: 5, number: 6 });
        assert_eq!(order.status, Status::Created);
        assert_eq!(order.pair, (7, 8));
        assert_eq!(order.note, None);
        let shape: Shape = decode(r#"{"Box":{"side":3}}"#).unwrap();
        assert_eq!(shape, Shape::Box { side: 3 });
        let null: Order =
            decode(&GOOD.replace(r#""best":{"row":3,"number":4}"#, r#""best":null"#)).unwrap();
        assert_eq!(null.best, None);
    }

    #[test]
    fn borrowed_strings_still_borrow() {
        #[derive(Deserialize)]
        struct Borrowing<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        let json = br#"{"name":"plain"}"#;
        let mut de = serde_json::Deserializer::from_slice(json);
        let value = Borrowing::deserialize(super::Strict(&mut de)).unwrap();
        assert!(matches!(value.name, Cow::Borrowed("plain")));
    }

    #[test]
    fn arrays_are_refused_wherever_a_struct_is_expected() {
        let cases = [
            (r#"["o1",[],null,{},"created",[7,8]]"#.to_owned(), "$ |"),
            (
                GOOD.replace(r#"[{"row":1,"number":2}]"#, "[[1,2]]"),
                "$.seats[0] |",
            ),
            (GOOD.replace(r#"{"row":3,"number":4}"#, "[3,4]"), "$.best |"),
            (
                GOOD.replace(r#"{"row":5,"number":6}"#, "[5,6]"),
                "$.byName.a |",
            ),
        ];
        for (json, path) in cases {
            let err = decode::<Order>(&json).unwrap_err();
            assert!(err.starts_with(path), "{json}: {err}");
            assert!(
                err.contains("invalid type: array, expected a JSON object (`"),
                "{json}: {err}"
            );
        }
        let err = decode::<Shape>(r#"{"Box":[3]}"#).unwrap_err();
        assert!(
            err.contains("invalid type: array, expected a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn an_f32_out_of_range_is_an_error_not_infinity() {
        #[derive(Debug, Deserialize)]
        struct Small {
            x: f32,
        }
        assert_eq!(decode::<Small>(r#"{"x":3.4e38}"#).unwrap().x, 3.4e38);
        assert_eq!(decode::<Small>(r#"{"x":-1}"#).unwrap().x, -1.0);
        assert_eq!(decode::<Small>(r#"{"x":1e-50}"#).unwrap().x, 0.0);
        for json in [r#"{"x":1e39}"#, r#"{"x":-1e39}"#] {
            let err = decode::<Small>(json).unwrap_err();
            assert!(
                err.starts_with("$.x | ") && err.contains("number out of range for f32"),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn other_json_types_are_named_too() {
        for (json, found) in [
            (
                "null",
                "invalid type: null, expected a JSON object (`Seat`)",
            ),
            (
                "true",
                "invalid type: boolean `true`, expected a JSON object (`Seat`)",
            ),
            (
                "12",
                "invalid type: integer `12`, expected a JSON object (`Seat`)",
            ),
            (
                r#""s""#,
                "invalid type: string \"s\", expected a JSON object (`Seat`)",
            ),
        ] {
            let err = decode::<Seat>(json).unwrap_err();
            assert!(err.contains(found), "{json}: {err}");
        }
    }
}
