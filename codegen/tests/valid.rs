//! The happy path of load -> validate: a schema set using every construct
//! becomes the expected model, with names, order, types, defaults and
//! source locations.

use std::sync::Arc;

use typebus_codegen::SchemaSet;
use typebus_codegen::model::{
    DefaultValue, EventDef, Field, Location, Model, RustIdent, Scalar, TypeDef, TypeExpr, TypeKind,
};

const ORDERS: &str = "\
# Orders.
events:
  OrderCreated:
    subject: order:created
    version: 2
    description: |
      An order was placed.
    aggregate: { id: id, sequence: version, name: order }
    fields:
      id: string
      version: u64
      status: OrderStatus
      userId: string
      expiresAt: timestamp
      ticket: TicketRef
      note: { type: string?, description: Free text. }
      seats: { type: u32, default: 1 }
      tags: { type: list<string>, default: [] }
      attrs: map<json>
      type: { type: bool, default: false, deprecated: use `kind` }
      old: { type: f64, default: 2, deprecated: true }
      gone: { type: i32, default: -5, deprecated: false }
  AnEvent:
    subject: a.b.c
    version: 1
    fields: {}
";

const TYPES: &str = "\
types:
  TicketRef:
    fields:
      id: uuid
      price: f64
      parts: list<TicketRef>
      children: 'map<TicketRef>?'
  OrderStatus:
    description: Where an order is.
    enum: [created, cancelled, \"awaiting:payment\", complete]
  Mood:
    enum: [happy, sad]
    open: true
  WithDefaults:
    fields:
      status: { type: OrderStatus, default: \"awaiting:payment\" }
      when: { type: timestamp, default: \"2020-05-01T12:00:00.000Z\" }
      key: { type: uuid, default: 67e55044-10b1-426f-9247-bb680e5fe0c8 }
      small: { type: f32, default: 1.5 }
      big: { type: u64, default: 18446744073709551615 }
      low: { type: i64, default: -9223372036854775808 }
      name: { type: string, default: \"\" }
      opts: { type: map<u32>, default: {} }
";

fn model() -> Model {
    SchemaSet::from_sources(
        "schemas",
        [("orders.yaml", ORDERS), ("shared/types.yml", TYPES)],
    )
    .expect("the sources load")
    .validate()
    .expect("the sources are valid")
}

fn loc(file: &str, line: u32, column: u32) -> Location {
    Location {
        file: Arc::from(file),
        line,
        column,
    }
}

fn ident(name: &str) -> RustIdent {
    RustIdent {
        name: name.to_owned(),
        raw: false,
    }
}

fn event<'m>(model: &'m Model, name: &str) -> &'m EventDef {
    model
        .events
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no event `{name}`"))
}

fn ty<'m>(model: &'m Model, name: &str) -> &'m TypeDef {
    model
        .types
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no type `{name}`"))
}

fn field<'a>(fields: &'a [Field], wire: &str) -> &'a Field {
    fields
        .iter()
        .find(|f| f.wire == wire)
        .unwrap_or_else(|| panic!("no field `{wire}`"))
}

fn struct_fields(def: &TypeDef) -> &[Field] {
    match &def.kind {
        TypeKind::Struct { fields } => fields,
        TypeKind::Enum { .. } => panic!("{} is an enum", def.name),
    }
}

#[test]
fn files_events_and_types_are_sorted() {
    let model = model();
    let files: Vec<&str> = model.files.iter().map(|f| &**f).collect();
    assert_eq!(files, ["orders.yaml", "shared/types.yml"]);
    let events: Vec<&str> = model.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["AnEvent", "OrderCreated"]);
    let types: Vec<&str> = model.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(types, ["Mood", "OrderStatus", "TicketRef", "WithDefaults"]);
}

#[test]
fn events_keep_subject_version_description_and_location() {
    let model = model();
    let e = event(&model, "OrderCreated");
    assert_eq!(e.ident, ident("OrderCreated"));
    assert_eq!(e.subject, "order:created");
    assert_eq!(e.subject_variant, ident("OrderCreated"));
    assert_eq!(e.version, 2);
    assert_eq!(e.description.as_deref(), Some("An order was placed."));
    assert_eq!(e.location, loc("orders.yaml", 3, 3));
    let a = event(&model, "AnEvent");
    assert_eq!(a.subject_variant, ident("ABC"));
    assert!(a.fields.is_empty());
    assert!(a.aggregate.is_none());
}

#[test]
fn fields_keep_wire_order_and_rust_names() {
    let model = model();
    let e = event(&model, "OrderCreated");
    let wires: Vec<&str> = e.fields.iter().map(|f| f.wire.as_str()).collect();
    assert_eq!(
        wires,
        [
            "id",
            "version",
            "status",
            "userId",
            "expiresAt",
            "ticket",
            "note",
            "seats",
            "tags",
            "attrs",
            "type",
            "old",
            "gone"
        ]
    );
    assert_eq!(field(&e.fields, "userId").ident, ident("user_id"));
    assert_eq!(field(&e.fields, "expiresAt").ident, ident("expires_at"));
    assert_eq!(
        field(&e.fields, "type").ident,
        RustIdent {
            name: "type".to_owned(),
            raw: true
        }
    );
}

#[test]
fn type_expressions_resolve() {
    let model = model();
    let e = event(&model, "OrderCreated");
    let t = |w: &str| field(&e.fields, w).ty.clone();
    assert_eq!(t("id"), TypeExpr::Scalar(Scalar::String));
    assert_eq!(t("version"), TypeExpr::Scalar(Scalar::U64));
    assert_eq!(t("status"), TypeExpr::Named("OrderStatus".to_owned()));
    assert_eq!(t("expiresAt"), TypeExpr::Scalar(Scalar::Timestamp));
    assert_eq!(
        t("note"),
        TypeExpr::Optional(Box::new(TypeExpr::Scalar(Scalar::String)))
    );
    assert_eq!(
        t("tags"),
        TypeExpr::List(Box::new(TypeExpr::Scalar(Scalar::String)))
    );
    assert_eq!(
        t("attrs"),
        TypeExpr::Map(Box::new(TypeExpr::Scalar(Scalar::Json)))
    );
    let r = ty(&model, "TicketRef");
    assert_eq!(
        field(struct_fields(r), "children").ty,
        TypeExpr::Optional(Box::new(TypeExpr::Map(Box::new(TypeExpr::Named(
            "TicketRef".to_owned()
        )))))
    );
    assert_eq!(
        field(struct_fields(r), "children").ty.to_string(),
        "map<TicketRef>?"
    );
}

#[test]
fn descriptions_defaults_and_deprecation() {
    let model = model();
    let e = event(&model, "OrderCreated");
    let f = |w: &str| field(&e.fields, w);
    assert_eq!(f("note").description.as_deref(), Some("Free text."));
    assert_eq!(f("note").default, None);
    assert_eq!(f("seats").default, Some(DefaultValue::Int(1)));
    assert_eq!(f("tags").default, Some(DefaultValue::Empty));
    assert_eq!(f("type").default, Some(DefaultValue::Bool(false)));
    assert_eq!(f("type").deprecated.as_deref(), Some("use `kind`"));
    assert_eq!(f("old").default, Some(DefaultValue::Float(2.0)));
    assert_eq!(f("old").deprecated.as_deref(), Some(""));
    assert_eq!(f("gone").default, Some(DefaultValue::Int(-5)));
    assert_eq!(f("gone").deprecated, None);
    assert_eq!(f("id").deprecated, None);

    let d = struct_fields(ty(&model, "WithDefaults"));
    let g = |w: &str| field(d, w).default.clone().unwrap();
    assert_eq!(
        g("status"),
        DefaultValue::EnumValue("awaiting:payment".to_owned())
    );
    assert_eq!(
        g("when"),
        DefaultValue::String("2020-05-01T12:00:00.000Z".to_owned())
    );
    assert_eq!(
        g("key"),
        DefaultValue::String("67e55044-10b1-426f-9247-bb680e5fe0c8".to_owned())
    );
    assert_eq!(g("small"), DefaultValue::Float(1.5));
    assert_eq!(g("big"), DefaultValue::Int(u64::MAX.into()));
    assert_eq!(g("low"), DefaultValue::Int(i64::MIN.into()));
    assert_eq!(g("name"), DefaultValue::String(String::new()));
    assert_eq!(g("opts"), DefaultValue::Empty);
}

#[test]
fn aggregates_point_at_fields() {
    let model = model();
    let e = event(&model, "OrderCreated");
    let agg = e.aggregate.as_ref().unwrap();
    assert_eq!(agg.name, "order");
    assert_eq!(e.fields[agg.id_field].wire, "id");
    assert_eq!(e.fields[agg.sequence_field].wire, "version");
    assert_eq!(agg.location, loc("orders.yaml", 8, 16));
}

#[test]
fn an_aggregate_without_a_name_is_named_after_its_event() {
    let src = "events:\n  TicketCreated:\n    subject: ticket:created\n    version: 1\n    aggregate: { id: id, sequence: version }\n    fields:\n      id: string\n      version: u32\n";
    let model = SchemaSet::from_sources("", [("t.yaml", src)])
        .unwrap()
        .validate()
        .unwrap();
    let agg = model.events[0].aggregate.as_ref().unwrap();
    assert_eq!(agg.name, "TicketCreated");
    assert_eq!((agg.id_field, agg.sequence_field), (0, 1));
}

#[test]
fn enums_keep_values_variants_and_openness() {
    let model = model();
    let s = ty(&model, "OrderStatus");
    assert_eq!(s.description.as_deref(), Some("Where an order is."));
    let TypeKind::Enum { open, values } = &s.kind else {
        panic!("OrderStatus is not an enum")
    };
    assert!(!open);
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|v| (v.wire.as_str(), v.ident.name.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("created", "Created"),
            ("cancelled", "Cancelled"),
            ("awaiting:payment", "AwaitingPayment"),
            ("complete", "Complete")
        ]
    );
    assert_eq!(values[2].location, loc("shared/types.yml", 10, 32));
    let TypeKind::Enum { open, .. } = &ty(&model, "Mood").kind else {
        panic!("Mood is not an enum")
    };
    assert!(open);
}

#[test]
fn every_node_keeps_its_location() {
    let model = model();
    let e = event(&model, "OrderCreated");
    // A bare type expression: the key, then the value.
    let user = field(&e.fields, "userId");
    assert_eq!(user.location, loc("orders.yaml", 13, 7));
    assert_eq!(user.type_location, loc("orders.yaml", 13, 15));
    // The mapping form: the type expression is the value of `type`.
    let note = field(&e.fields, "note");
    assert_eq!(note.location, loc("orders.yaml", 16, 7));
    assert_eq!(note.type_location, loc("orders.yaml", 16, 21));
    let r = ty(&model, "TicketRef");
    assert_eq!(r.location, loc("shared/types.yml", 2, 3));
    // A quoted expression starts at its quote.
    assert_eq!(
        field(struct_fields(r), "children").type_location,
        loc("shared/types.yml", 7, 17)
    );
}

#[test]
fn keyword_and_odd_names() {
    let src = "\
types:
  self:
    fields:
      self: string
      crate: string
      _id: string
      1st: string
      match: string
      Größe: u32
  Kind:
    enum: [fn, Self, \"1\", \"a-b\"]
";
    let model = SchemaSet::from_sources("", [("odd.yaml", src)])
        .unwrap()
        .validate()
        .unwrap();
    let s = ty(&model, "self");
    assert_eq!(s.ident, ident("Self_"));
    let names: Vec<String> = struct_fields(s)
        .iter()
        .map(|f| f.ident.to_string())
        .collect();
    assert_eq!(
        names,
        ["self_", "crate_", "_id", "_1st", "r#match", "größe"]
    );
    let TypeKind::Enum { values, .. } = &ty(&model, "Kind").kind else {
        panic!("Kind is not an enum")
    };
    let variants: Vec<String> = values.iter().map(|v| v.ident.to_string()).collect();
    assert_eq!(variants, ["Fn", "Self_", "_1", "AB"]);
}

#[test]
fn directory_order_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/types.yml"), TYPES).unwrap();
    std::fs::write(dir.path().join("orders.yaml"), ORDERS).unwrap();
    std::fs::write(dir.path().join("README.md"), "not a schema").unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/x.yaml"), "garbage: [").unwrap();
    let set = SchemaSet::from_dir(dir.path()).unwrap();
    let files: Vec<&str> = set.files().iter().map(|f| &**f).collect();
    assert_eq!(files, ["orders.yaml", "shared/types.yml"]);
    assert_eq!(set.paths().len(), 2);
    assert!(set.paths().iter().all(|p| p.is_absolute() && p.is_file()));
    assert!(set.paths()[1].ends_with("shared/types.yml"));
    assert_eq!(set.validate().unwrap(), model());
}

#[test]
fn a_missing_or_empty_directory_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = SchemaSet::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, typebus_codegen::Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("no schema files"), "{err}");
    let err = SchemaSet::from_dir(dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, typebus_codegen::Error::Read { .. }), "{err}");
}
