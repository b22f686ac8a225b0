//! The validated model (IR) of a schema set: what `validate` produces and
//! `emit` consumes. Every node keeps the [`Location`] it came from, and every
//! list is in a deterministic order (sorted by name), never hash order.

use std::fmt;
use std::sync::Arc;

/// Where a node was written: a schema file (relative to the schema
/// directory, `/`-separated) and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The schema file, relative to the schema directory, with `/` separators.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A Rust identifier derived from a schema name: the text, and whether it
/// must be written as a raw identifier (`r#type`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RustIdent {
    /// The identifier without any `r#` prefix, e.g. `type` or `self_`.
    pub name: String,
    /// Whether it is a keyword that must be written `r#name`.
    pub raw: bool,
}

impl fmt::Display for RustIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw {
            write!(f, "r#{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

/// A whole validated schema set.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The schema files that were read, relative to the schema directory,
    /// sorted.
    pub files: Vec<Arc<str>>,
    /// Shared types from every file's `types:`, sorted by name.
    pub types: Vec<TypeDef>,
    /// Events from every file's `events:`, sorted by name.
    pub events: Vec<EventDef>,
    /// The older released versions of those events, as the lock file
    /// recorded them (empty without a lock file), sorted by event name,
    /// then version.
    pub history: Vec<Released>,
    /// How events may change (`compat:` and `upcasts:`), by event name, for
    /// those that declare it. Checked by `typebus check` against the lock
    /// file; not part of the generated code (nor of its fingerprint).
    pub evolution: std::collections::BTreeMap<String, Evolution>,
}

/// What an event declares about how it may change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evolution {
    /// `compat:`: the event's own compatibility rule, and where it was
    /// written.
    pub compat: Option<(crate::compat::Rule, Location)>,
    /// `upcasts:`: the versions whose step to the next version is written
    /// by hand (`impl typebus::Upcast`), sorted.
    pub upcasts: Vec<u32>,
    /// `renames:`: by version, the fields renamed in that version (its
    /// step from the previous recorded version), new wire name -> old wire
    /// name. The generated upcast of that step moves the old field into the
    /// new one. Part of the generated code's fingerprint.
    pub renames: std::collections::BTreeMap<u32, std::collections::BTreeMap<String, String>>,
}

impl Model {
    /// The older versions of event `name` whose readers decode its current
    /// version (see [`Released::reads_current`]), oldest first: what
    /// publishers send in `Typebus-Readable-As`.
    pub fn readable_as(&self, name: &str) -> Vec<u32> {
        self.history
            .iter()
            .filter(|r| r.event.name == name && r.reads_current)
            .map(|r| r.event.version)
            .collect()
    }

    /// The events and types whose Rust name is not their schema name
    /// (`ticketCreated` -> `TicketCreated`, `self` -> `Self_`), sorted by
    /// location. Valid, but the event then has two names (the schema's, and
    /// the Rust type's, which the `Typebus-Event` header carries): the CLI
    /// and `Builder::compile` show each as a warning.
    pub fn renamed(&self) -> Vec<Renamed<'_>> {
        let events = self
            .events
            .iter()
            .map(|e| ("event", &e.name, &e.ident, &e.location));
        let types = self
            .types
            .iter()
            .map(|t| ("type", &t.name, &t.ident, &t.location));
        let mut renamed: Vec<Renamed<'_>> = events
            .chain(types)
            .filter(|(_, name, ident, _)| ident.name != **name)
            .map(|(kind, name, ident, location)| Renamed {
                kind,
                name,
                rust_name: &ident.name,
                location,
            })
            .collect();
        renamed.sort_by(|a, b| a.location.cmp(b.location));
        renamed
    }
}

/// An event or type whose Rust name differs from its schema name (see
/// [`Model::renamed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renamed<'a> {
    /// `event` or `type`.
    pub kind: &'static str,
    /// The name in the schema.
    pub name: &'a str,
    /// The name of the generated Rust type.
    pub rust_name: &'a str,
    /// Where the name was written.
    pub location: &'a Location,
}

impl Renamed<'_> {
    /// `event name `ticketCreated` is generated as `TicketCreated` ...`,
    /// without the location.
    pub fn message(&self) -> String {
        format!(
            "{} name `{}` is generated as `{}`; name it `{}` in the schema to give it one name",
            self.kind, self.name, self.rust_name, self.rust_name
        )
    }
}

/// An event: a payload with a subject and a contract version.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDef {
    /// The schema name, e.g. `TicketCreated`.
    pub name: String,
    /// The Rust type name (UpperCamelCase, keyword-safe).
    pub ident: RustIdent,
    /// The NATS subject, e.g. `ticket:created`.
    pub subject: String,
    /// The Rust variant name of the subject in `enum Subject`.
    pub subject_variant: RustIdent,
    /// The contract version, >= 1.
    pub version: u32,
    /// Free text, emitted as rustdoc.
    pub description: Option<String>,
    /// Per-record ordering, when the event declares `aggregate`.
    pub aggregate: Option<Aggregate>,
    /// The payload fields in the order the schema lists them (wire order).
    pub fields: Vec<Field>,
    /// Where the event's name was written.
    pub location: Location,
}

/// An older released version of an event, read from the lock file: its
/// payload as recorded, generated as a type of its own in a module of its
/// own (`ticket_updated_v1::TicketUpdated`, re-exported beside the newest
/// as `TicketUpdatedV1`), so a listener of the newest version can decode
/// it and upcast it.
#[derive(Debug, Clone, PartialEq)]
pub struct Released {
    /// The version as an event: the current event's name, Rust name and
    /// subject, this version's number and fields, no aggregate. Its
    /// locations are the current event's (a lock entry has none).
    pub event: EventDef,
    /// The module holding the version's types (`ticket_updated_v1`).
    pub module: RustIdent,
    /// The name the version's event type is re-exported as beside the
    /// newest (`TicketUpdatedV1`).
    pub alias: RustIdent,
    /// The named types the version reaches whose recorded shape differs
    /// from the current schemas' type of that name: generated in the
    /// module, sorted by name.
    pub types: Vec<TypeDef>,
    /// The named types the version reaches that the current schemas
    /// declare with the same shape: re-exported into the module, sorted.
    pub shared: Vec<String>,
    /// Whether a reader of this version decodes every body of the event's
    /// current version (forward compatibility, as the compat engine
    /// decides it): publishers of the current version then say so in
    /// `Typebus-Readable-As`, and listeners still built for this version
    /// read those events instead of dead-lettering them.
    pub reads_current: bool,
    /// Whether the current version's reader decodes every body of this
    /// version (backward compatibility): with every step from this version
    /// mechanical, its bodies are then decoded as the current type
    /// directly, without the conversions.
    pub read_by_current: bool,
}

/// `aggregate: { id: FIELD, sequence: FIELD }`: which fields identify the
/// record an event belongs to and its per-record sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The aggregate's name, shared by events of one record's key space.
    /// Defaults to the event's name when the schema gives none.
    pub name: String,
    /// Index into the event's `fields` of the record id.
    pub id_field: usize,
    /// Index into the event's `fields` of the sequence number.
    pub sequence_field: usize,
    /// Where `aggregate` was written.
    pub location: Location,
}

/// A shared type from `types:`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    /// The schema name, e.g. `OrderStatus`.
    pub name: String,
    /// The Rust type name.
    pub ident: RustIdent,
    /// Free text, emitted as rustdoc.
    pub description: Option<String>,
    /// A struct or an enum.
    pub kind: TypeKind,
    /// Where the type's name was written.
    pub location: Location,
}

/// What a shared type is.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// An object with fields, in wire order.
    Struct {
        /// The fields in the order the schema lists them.
        fields: Vec<Field>,
    },
    /// A string enum.
    Enum {
        /// Whether unknown values are kept (`open: true`) instead of failing
        /// to decode.
        open: bool,
        /// The values in the order the schema lists them.
        values: Vec<EnumValue>,
    },
}

/// One value of a string enum.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    /// The value on the wire, verbatim (`awaiting:payment`).
    pub wire: String,
    /// The Rust variant name (`AwaitingPayment`).
    pub ident: RustIdent,
    /// Where the value was written.
    pub location: Location,
}

/// A field of an event or a struct type.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The JSON key, verbatim (`userId`).
    pub wire: String,
    /// The Rust field name (`user_id`); a `#[serde(rename)]` is emitted when it
    /// differs from `wire`.
    pub ident: RustIdent,
    /// The field's type.
    pub ty: TypeExpr,
    /// Free text, emitted as rustdoc.
    pub description: Option<String>,
    /// The value used when the field is missing from the JSON.
    pub default: Option<DefaultValue>,
    /// `Some(note)` when the field is deprecated (the note may be empty).
    pub deprecated: Option<String>,
    /// Where the field's key was written.
    pub location: Location,
    /// Where the field's type expression was written.
    pub type_location: Location,
}

/// A resolved type expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// A built-in scalar.
    Scalar(Scalar),
    /// `list<T>`: a JSON array.
    List(Box<TypeExpr>),
    /// `map<T>`: a JSON object with string keys, in key order.
    Map(Box<TypeExpr>),
    /// `T?`: absent from the JSON when `None`; accepted when missing or `null`.
    Optional(Box<TypeExpr>),
    /// A type from `types:`, by schema name.
    Named(String),
}

/// The built-in scalar types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scalar {
    /// `string`
    String,
    /// `bool`
    Bool,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `timestamp`: RFC 3339 on the wire, `typebus::Timestamp` in Rust.
    Timestamp,
    /// `uuid`: `typebus::Uuid`.
    Uuid,
    /// `json`: any JSON value, `serde_json::Value`.
    Json,
}

impl Scalar {
    /// Every scalar, in the order the schema reference lists them.
    pub const ALL: &'static [Scalar] = &[
        Scalar::String,
        Scalar::Bool,
        Scalar::I32,
        Scalar::I64,
        Scalar::U32,
        Scalar::U64,
        Scalar::F32,
        Scalar::F64,
        Scalar::Timestamp,
        Scalar::Uuid,
        Scalar::Json,
    ];

    /// The name used in schema files.
    pub fn schema_name(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Bool => "bool",
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::Timestamp => "timestamp",
            Scalar::Uuid => "uuid",
            Scalar::Json => "json",
        }
    }
}

impl fmt::Display for TypeExpr {
    /// Writes the schema syntax of the type (`list<string>?`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeExpr::Scalar(s) => f.write_str(s.schema_name()),
            TypeExpr::List(t) => write!(f, "list<{t}>"),
            TypeExpr::Map(t) => write!(f, "map<{t}>"),
            TypeExpr::Optional(t) => write!(f, "{t}?"),
            TypeExpr::Named(n) => f.write_str(n),
        }
    }
}

/// A validated `default`: a value that fits the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// A boolean.
    Bool(bool),
    /// An integer that fits the field's integer type.
    Int(i128),
    /// A number for `f32`/`f64`.
    Float(f64),
    /// A string for `string` (or `timestamp`/`uuid`, already checked to parse).
    String(String),
    /// A wire value of the field's enum type.
    EnumValue(String),
    /// `null` for an optional field, or `[]`/`{}` for lists and maps.
    Empty,
}
