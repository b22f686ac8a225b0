//! The raw shape of a schema file: plain serde structs that mirror the YAML
//! format one to one, with the source location of every name and value
//! ([`Spanned`]). Nothing here is checked beyond its YAML shape; unknown keys
//! and duplicate keys are load errors, everything else is `validate`'s job.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One schema file: `types:` and `events:`, both optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `types` and `events`")]
pub(crate) struct RawFile {
    /// Shared types, by name, in file order.
    #[serde(default)]
    pub(crate) types: Option<OrderedMap<RawType>>,
    /// Events, by name, in file order.
    #[serde(default)]
    pub(crate) events: Option<OrderedMap<RawEvent>>,
}

/// A shared type: an enum (`enum:`, `open:`) or a struct (`fields:`).
/// Which one it is, and that it is not both, is checked by `validate`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a type: a mapping with `enum` or `fields`"
)]
pub(crate) struct RawType {
    /// Free text.
    #[serde(default)]
    pub(crate) description: Option<Spanned<String>>,
    /// The wire values of an enum.
    #[serde(default, rename = "enum")]
    pub(crate) values: Option<Spanned<Vec<Spanned<String>>>>,
    /// Whether an enum keeps unknown values.
    #[serde(default)]
    pub(crate) open: Option<Spanned<bool>>,
    /// The fields of a struct, in wire order.
    #[serde(default)]
    pub(crate) fields: Option<Spanned<OrderedMap<Spanned<RawField>>>>,
}

/// An event.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an event: a mapping with `subject`, `version` and `fields`"
)]
pub(crate) struct RawEvent {
    /// The NATS subject (required; its absence is reported by `validate`,
    /// at the event's name, together with every other problem).
    #[serde(default)]
    pub(crate) subject: Option<Spanned<String>>,
    /// The contract version (required, >= 1).
    #[serde(default)]
    pub(crate) version: Option<Spanned<i64>>,
    /// Free text.
    #[serde(default)]
    pub(crate) description: Option<Spanned<String>>,
    /// Per-record ordering.
    #[serde(default)]
    pub(crate) aggregate: Option<Spanned<RawAggregate>>,
    /// The payload fields, in wire order (required; may be `{}`).
    #[serde(default)]
    pub(crate) fields: Option<Spanned<OrderedMap<Spanned<RawField>>>>,
}

/// `aggregate: { id: FIELD, sequence: FIELD, name: NAME }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `id` and `sequence`")]
pub(crate) struct RawAggregate {
    /// The field holding the record id (required).
    #[serde(default)]
    pub(crate) id: Option<Spanned<String>>,
    /// The field holding the per-record sequence number (required).
    #[serde(default)]
    pub(crate) sequence: Option<Spanned<String>>,
    /// The key space shared by several events of one record.
    #[serde(default)]
    pub(crate) name: Option<Spanned<String>>,
}

/// A field: a bare type expression (`userId: string`) or a mapping with
/// `type` and optional `description`, `default`, `deprecated`.
#[derive(Debug)]
pub(crate) enum RawField {
    /// `name: TYPE`; its location is the one of the enclosing [`Spanned`].
    Short(String),
    /// `name: { type: TYPE, ... }`.
    Long(Box<RawFieldSpec>),
}

/// The mapping form of a field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `type`")]
pub(crate) struct RawFieldSpec {
    /// The type expression (required).
    #[serde(default, rename = "type")]
    pub(crate) ty: Option<Spanned<String>>,
    /// Free text.
    #[serde(default)]
    pub(crate) description: Option<Spanned<String>>,
    /// The value used when the field is missing (`null` is kept as a value).
    #[serde(default, deserialize_with = "present")]
    pub(crate) default: Option<Spanned<RawValue>>,
    /// `true`, `false`, or a note saying what to use instead.
    #[serde(default)]
    pub(crate) deprecated: Option<Spanned<RawDeprecated>>,
}

/// `deprecated: true | false | "note"`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawDeprecated {
    /// `true` or `false`.
    Flag(bool),
    /// A note (implies deprecated).
    Note(String),
}

/// Any YAML value, as far as a `default` needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    /// `null` or `~`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A sequence with this many elements.
    Seq(usize),
    /// A mapping with this many entries.
    Map(usize),
}

/// A YAML mapping kept in file order, each key with its location.
#[derive(Debug)]
pub(crate) struct OrderedMap<V> {
    /// The entries in the order they were written.
    pub(crate) entries: Vec<(Spanned<String>, V)>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Spanned<RawValue>>, D::Error> {
    Spanned::<RawValue>::deserialize(d).map(Some)
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<V>()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap { entries })
            }
        }

        d.deserialize_map(MapVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for RawField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;

        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = RawField;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a type expression or a mapping with `type`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawField::Short(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(RawField::Short(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawFieldSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|spec| RawField::Long(Box::new(spec)))
            }
        }

        d.deserialize_any(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for RawDeprecated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DeprecatedVisitor;

        impl Visitor<'_> for DeprecatedVisitor {
            type Value = RawDeprecated;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true`, `false` or a note")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawDeprecated::Flag(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawDeprecated::Note(v.to_owned()))
            }
        }

        d.deserialize_any(DeprecatedVisitor)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = RawValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawValue::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawValue::Null)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                RawValue::deserialize(d)
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawValue::Bool(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawValue::Int(v.into()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawValue::Int(v.into()))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
                Ok(RawValue::Int(v))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
                i128::try_from(v)
                    .map(RawValue::Int)
                    .map_err(|_| E::custom("integer is too large"))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawValue::Float(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawValue::String(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(RawValue::String(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(RawValue::Seq(n))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut n = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(RawValue::Map(n))
            }
        }

        d.deserialize_any(ValueVisitor)
    }
}
