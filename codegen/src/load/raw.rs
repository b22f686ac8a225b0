//! The raw shape of a schema file: plain serde structs that mirror the YAML
//! format one to one, with the source location of every name and value
//! ([`Spanned`]). Nothing here is checked beyond its YAML shape; unknown keys
//! and duplicate keys are load errors, everything else is `validate`'s job.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A typebus schema file: shared `types` and `events`, both optional. Names
/// are global across the files of a schema directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `types` and `events`")]
#[cfg_attr(
    feature = "schema-format",
    derive(schemars::JsonSchema),
    schemars(rename = "SchemaFile", title = "typebus schema file")
)]
pub(crate) struct RawFile {
    /// Shared types (structs and enums) by name, in UpperCamelCase.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "OrderedMap<RawType>"))]
    pub(crate) types: Option<OrderedMap<RawType>>,
    /// Events by name, in UpperCamelCase (the generated struct's name).
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "OrderedMap<RawEvent>"))]
    pub(crate) events: Option<OrderedMap<RawEvent>>,
}

/// A shared type: an enum (`enum:`, optionally `open: true`) or a struct
/// (`fields:`), never both. Which one it is is checked by `validate`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a type: a mapping with `enum` or `fields`"
)]
#[cfg_attr(
    feature = "schema-format",
    derive(schemars::JsonSchema),
    schemars(rename = "Type")
)]
pub(crate) struct RawType {
    /// Free text; becomes the generated type's documentation.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String"))]
    pub(crate) description: Option<Spanned<String>>,
    /// An enum: its wire values (unique, non-empty strings).
    #[serde(default, rename = "enum")]
    #[cfg_attr(
        feature = "schema-format",
        schemars(with = "Vec<String>", length(min = 1))
    )]
    pub(crate) values: Option<Spanned<Vec<Spanned<String>>>>,
    /// An enum only: `true` keeps values this schema does not list
    /// (`Other(String)`) instead of rejecting them.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "bool"))]
    pub(crate) open: Option<Spanned<bool>>,
    /// A struct: its fields by wire name, in wire order.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "OrderedMap<RawField>"))]
    pub(crate) fields: Option<Spanned<OrderedMap<Spanned<RawField>>>>,
}

/// An event: its subject, contract version and payload fields.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an event: a mapping with `subject`, `version` and `fields`"
)]
#[cfg_attr(feature = "schema-format", derive(schemars::JsonSchema), schemars(rename = "Event", extend("required" = ["subject", "version", "fields"])))]
pub(crate) struct RawEvent {
    /// The NATS subject the event is published on, e.g. `ticket:created`:
    /// literal, no wildcards (`*`, `>`), no whitespace, no empty tokens.
    /// (When it is missing, `validate` reports it at the event's name.)
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String", length(min = 1)))]
    pub(crate) subject: Option<Spanned<String>>,
    /// The contract version, from 1; bump it when the payload shape changes
    /// (the lock file records every released version's shape).
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "u32", range(min = 1)))]
    pub(crate) version: Option<Spanned<i64>>,
    /// Free text; becomes the generated struct's documentation.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String"))]
    pub(crate) description: Option<Spanned<String>>,
    /// Per-record ordering: which fields hold the record's id and its
    /// sequence number (the ordering guard applies each step once, in order).
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "RawAggregate"))]
    pub(crate) aggregate: Option<Spanned<RawAggregate>>,
    /// The payload fields by wire name, in wire order (may be `{}`).
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "OrderedMap<RawField>"))]
    pub(crate) fields: Option<Spanned<OrderedMap<Spanned<RawField>>>>,
    /// Which readers must keep decoding as the event changes, checked by
    /// `typebus check` against every version the lock file records:
    /// `backward` (the default: every recorded version reaches this one),
    /// `forward` (readers of every recorded version read this one), `full`,
    /// `none`; `backward-previous`, `forward-previous` and `full-previous`
    /// check against the previous version only.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "CompatMode"))]
    pub(crate) compat: Option<Spanned<String>>,
    /// The versions whose step to the next version is written by hand
    /// (`impl typebus::Upcast`): a change that is not mechanical.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "Vec<u32>"))]
    pub(crate) upcasts: Option<Spanned<Vec<Spanned<i64>>>>,
    /// Fields renamed, by the version that renamed them: `renames: { 2: {
    /// cost: price } }` says version 2 calls `price` what version 1 called
    /// `cost`; the generated upcast of that step moves it.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema-format",
        schemars(
            with = "std::collections::BTreeMap<u32, std::collections::BTreeMap<String, String>>"
        )
    )]
    pub(crate) renames: Option<Spanned<OrderedMap<Spanned<RawRenames>>>>,
}

/// The fields one version renamed: old wire name -> new wire name.
pub(crate) type RawRenames = OrderedMap<Spanned<String>>;

/// A compatibility mode (see `compat`).
#[cfg(feature = "schema-format")]
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
#[serde(rename_all = "kebab-case")]
enum CompatMode {
    Backward,
    Forward,
    Full,
    None,
    BackwardPrevious,
    ForwardPrevious,
    FullPrevious,
}

/// Per-record ordering: `aggregate: { id: FIELD, sequence: FIELD, name: NAME }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `id` and `sequence`")]
#[cfg_attr(feature = "schema-format", derive(schemars::JsonSchema), schemars(rename = "Aggregate", extend("required" = ["id", "sequence"])))]
pub(crate) struct RawAggregate {
    /// The field holding the record's id (a `string` or `uuid` field).
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String"))]
    pub(crate) id: Option<Spanned<String>>,
    /// The field holding the record's sequence number (an unsigned integer
    /// field, up by exactly 1 per event of the record).
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String"))]
    pub(crate) sequence: Option<Spanned<String>>,
    /// The key space, when several events share one record's sequence (for
    /// example `ticket` for ticket:created and ticket:updated); defaults to
    /// the subject.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String"))]
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
#[cfg_attr(feature = "schema-format", derive(schemars::JsonSchema), schemars(rename = "FieldSpec", extend("required" = ["type"])))]
pub(crate) struct RawFieldSpec {
    /// The field's type expression.
    #[serde(default, rename = "type")]
    #[cfg_attr(
        feature = "schema-format",
        schemars(with = "super::raw_schema::TypeExpr")
    )]
    pub(crate) ty: Option<Spanned<String>>,
    /// Free text; becomes the field's documentation.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "String"))]
    pub(crate) description: Option<Spanned<String>>,
    /// The value used when the field is missing from a payload; it must fit
    /// the field's type.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "schema-format", schemars(with = "RawValue"))]
    pub(crate) default: Option<Spanned<RawValue>>,
    /// `true`, `false`, or a note saying what to use instead.
    #[serde(default)]
    #[cfg_attr(feature = "schema-format", schemars(with = "RawDeprecated"))]
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
