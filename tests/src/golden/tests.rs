//! Behaviour of the compiled golden files: what users of generated code
//! rely on beyond "it compiles".

use std::collections::BTreeMap;

use serde_json::json;
use typebus::Event;

use super::*;

#[test]
fn every_scalar_round_trips_with_wire_names() {
    use every_type::*;
    let json = json!({
        "aString": "s", "aBool": true, "anI32": -1, "anI64": -9007199254740993i64,
        "aU32": 4294967295u32, "aU64": 18446744073709551615u64, "anF32": 1.5, "anF64": 9.99,
        "aTimestamp": "2020-05-01T12:00:00.000Z",
        "aUuid": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "someJson": {"any": [1, "two", null]}
    });
    let event: EveryScalar = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(event.a_u64, u64::MAX);
    assert_eq!(event.a_timestamp.to_string(), "2020-05-01T12:00:00.000Z");
    assert_eq!(serde_json::to_value(&event).unwrap(), json);
    assert_eq!(EveryScalar::SUBJECT, "every:scalar");
    assert_eq!(EveryShape::VERSION, 3);
}

/// Hostile payloads (the README's table): each decodes to exactly what the
/// schema says, or fails with its JSON path and reason (a dead letter);
/// none panics, hangs, or is read as a different value.
#[test]
fn hostile_payloads_decode_exactly_or_fail_at_their_path() {
    use every_type::*;
    let scalar = |field: &str, value: &str| {
        let mut fields = vec![
            ("aString", r#""s""#),
            ("aBool", "true"),
            ("anI32", "-1"),
            ("anI64", "-1"),
            ("aU32", "1"),
            ("aU64", "1"),
            ("anF32", "1.5"),
            ("anF64", "9.99"),
            ("aTimestamp", r#""2020-05-01T12:00:00.000Z""#),
            ("aUuid", r#""67e55044-10b1-426f-9247-bb680e5fe0c8""#),
            ("someJson", "null"),
        ];
        for entry in &mut fields {
            if entry.0 == field {
                entry.1 = value;
            }
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    };
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let failing = [
        (
            scalar("aU64", "18446744073709551616"),
            "$.aU64",
            "invalid type: floating point `1.8446744073709552e+19`, expected u64",
        ),
        (
            scalar("aU64", "1e20"),
            "$.aU64",
            "invalid type: floating point",
        ),
        (
            scalar("aU64", "1.5"),
            "$.aU64",
            "invalid type: floating point",
        ),
        (
            scalar("aU32", "-1"),
            "$.aU32",
            "invalid value: integer `-1`, expected u32",
        ),
        (scalar("aU32", "4294967296"), "$.aU32", "expected u32"),
        (scalar("anI32", "2147483648"), "$.anI32", "expected i32"),
        (scalar("aU32", r#""5""#), "$.aU32", "invalid type: string"),
        (scalar("anF64", "1e400"), "$.anF64", "number out of range"),
        (
            scalar("anF32", "1e39"),
            "$.anF32",
            "number out of range for f32",
        ),
        (scalar("aString", r#""\ud800""#), "$.aString", "hex escape"),
        (
            scalar("aTimestamp", r#""2020-05-01T12:00:00""#),
            "$.aTimestamp",
            "",
        ),
        (scalar("aTimestamp", r#""2020-05-01""#), "$.aTimestamp", ""),
        (scalar("aUuid", r#""not-a-uuid""#), "$.aUuid", ""),
        (
            scalar("someJson", &deep),
            "$.someJson",
            "recursion limit exceeded",
        ),
        (
            scalar("aString", r#""a","aString":"b""#),
            "$",
            "duplicate field `aString`",
        ),
        (
            format!("{} trailing", scalar("", "")),
            "$",
            "trailing characters",
        ),
        (
            "[]".to_owned(),
            "$",
            "invalid type: array, expected a JSON object",
        ),
    ];
    for (body, path, reason) in &failing {
        let err = AnyEvent::decode("every:scalar", body.as_bytes()).unwrap_err();
        // The catalog's type-erased decoding says exactly what a listener's
        // `from_json` says.
        let direct =
            typebus::from_json::<EveryScalar>("every:scalar", body.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), direct.to_string());
        assert_eq!(err.path(), direct.path());
        // At the path, or inside it (the nesting case names its depth).
        let at = err.path().unwrap_or_default();
        assert!(
            at == *path || at.starts_with(&format!("{path}[")),
            "{body}: {err}"
        );
        assert!(err.to_string().contains(reason), "{body}: {err}");
    }

    // What does decode, decodes exactly.
    let ok = |body: &str| match AnyEvent::decode("every:scalar", body.as_bytes()) {
        Ok(AnyEvent::EveryScalar(event)) => event,
        other => panic!("{body}: {other:?}"),
    };
    assert_eq!(ok(&scalar("aU64", "18446744073709551615")).a_u64, u64::MAX);
    assert_eq!(ok(&scalar("anF64", "1e308")).an_f64, 1e308);
    assert_eq!(ok(&scalar("aString", r#""\ud83c\udf89""#)).a_string, "🎉");
    let offset = ok(&scalar("aTimestamp", r#""2020-05-01T14:00:00+02:00""#));
    assert_eq!(offset.a_timestamp.to_string(), "2020-05-01T12:00:00.000Z");
    let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        ok(&scalar("someJson", &nested)).some_json.to_string(),
        nested
    );

    // A list of 10,000 items is read whole; a map's repeated key keeps the
    // last value, as JSON.parse does.
    let tags: Vec<String> = (0..10_000).map(|n| format!("\"t{n}\"")).collect();
    let shape = format!(
        r#"{{"tags":[{}],"counts":{{"a":1,"a":2}},"point":{{"x":0,"y":0}},"level":"low","levels":[],"pointsByName":{{}},"matrix":[],"sparse":[],"nested":{{}}}}"#,
        tags.join(",")
    );
    let Ok(AnyEvent::EveryShape(shape)) = AnyEvent::decode("every:shape", shape.as_bytes()) else {
        panic!("the shape decodes");
    };
    assert_eq!(shape.tags.len(), 10_000);
    assert_eq!(shape.tags[9_999], "t9999");
    assert_eq!(shape.counts, BTreeMap::from([("a".into(), 2)]));
}

#[test]
fn shapes_nest_and_optionals_are_absent_when_none() {
    use every_type::*;
    let shape = EveryShape {
        tags: vec!["a".into()],
        counts: BTreeMap::from([("b".into(), 2), ("a".into(), 1)]),
        note: None,
        point: Point { x: 1.0, y: 2.5 },
        maybe_point: None,
        level: Level::High,
        levels: vec![Level::Low],
        points_by_name: BTreeMap::new(),
        matrix: vec![vec![1.0], vec![]],
        sparse: vec![Some("x".into()), None],
        nested: BTreeMap::from([("k".into(), vec![None, Some(Point { x: 0.0, y: 0.0 })])]),
        optional_list: None,
        optional_map: None,
        optional_time: None,
        optional_id: None,
    };
    let value = serde_json::to_value(&shape).unwrap();
    assert_eq!(
        value,
        json!({
            "tags": ["a"], "counts": {"a": 1, "b": 2}, "point": {"x": 1.0, "y": 2.5},
            "level": "high", "levels": ["low"], "pointsByName": {}, "matrix": [[1.0], []],
            "sparse": ["x", null], "nested": {"k": [null, {"x": 0.0, "y": 0.0}]}
        })
    );
    // Missing and null optionals both decode to None.
    let mut with_nulls = value.clone();
    with_nulls["note"] = json!(null);
    with_nulls["maybePoint"] = json!(null);
    assert_eq!(
        serde_json::from_value::<EveryShape>(with_nulls).unwrap(),
        shape
    );
    assert_eq!(serde_json::from_value::<EveryShape>(value).unwrap(), shape);

    assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
    assert_eq!(
        AnyEvent::decode("every.empty", b"{}").unwrap(),
        AnyEvent::Empty(Empty {})
    );
}

#[test]
fn closed_enums_use_wire_values_and_refuse_unknown_ones() {
    use enums::*;
    assert_eq!(OrderStatus::AwaitingPayment.as_str(), "awaiting:payment");
    assert_eq!(OrderStatus::AwaitingPayment.to_string(), "awaiting:payment");
    assert_eq!(
        "awaiting:payment".parse::<OrderStatus>(),
        Ok(OrderStatus::AwaitingPayment)
    );
    let err = "shipped".parse::<OrderStatus>().unwrap_err();
    assert_eq!(err.to_string(), "unknown `OrderStatus` value `shipped`");
    assert_eq!((err.enum_name(), err.value()), ("OrderStatus", "shipped"));
    assert_eq!(OrderStatus::ALL.len(), 4);
    for status in OrderStatus::ALL {
        let json = serde_json::to_string(status).unwrap();
        assert_eq!(json, format!("\"{status}\""));
        assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), *status);
    }
    let err = serde_json::from_str::<OrderStatus>("\"shipped\"").unwrap_err();
    assert!(err.to_string().contains("unknown variant `shipped`, expected one of `created`, `cancelled`, `awaiting:payment`, `complete`"), "{err}");
    assert!(serde_json::from_str::<OrderStatus>("1").is_err());
    // Escaped JSON strings decode too (no borrowing required).
    assert_eq!(
        serde_json::from_str::<OrderStatus>(r#""awaiting\u003apayment""#).unwrap(),
        OrderStatus::AwaitingPayment
    );
    assert_eq!("with space".parse::<Odd>(), Ok(Odd::WithSpace));
    assert_eq!(Odd::_2fa.as_str(), "2fa");
    assert_eq!(Odd::Émoji.as_str(), "émoji 🎉");
}

#[test]
fn open_enums_keep_unknown_values_and_write_them_back() {
    use enums::*;
    let channel: Channel = serde_json::from_str("\"smart-tv\"").unwrap();
    assert_eq!(channel, Channel::Unknown("smart-tv".into()));
    assert!(!channel.is_known());
    assert_eq!(serde_json::to_string(&channel).unwrap(), "\"smart-tv\"");
    assert_eq!("partner.api".parse::<Channel>(), Ok(Channel::PartnerApi));
    assert!(Channel::PartnerApi.is_known());
    assert_eq!(Channel::from("web"), Channel::Web);
    // `unknown` is a listed value of Health, so the catch-all is `Other`.
    assert_eq!(
        serde_json::from_str::<Health>("\"unknown\"").unwrap(),
        Health::Unknown
    );
    assert_eq!(
        serde_json::from_str::<Health>("\"degraded\"").unwrap(),
        Health::Other("degraded".into())
    );

    let event = json!({
        "status": "created", "channel": "carrier-pigeon", "channels": ["web", "fax"],
        "health": "ok", "odd": "x-y_z"
    });
    let decoded = AnyEvent::decode("status:changed", event.to_string().as_bytes()).unwrap();
    let AnyEvent::StatusChanged(changed) = &decoded;
    assert_eq!(changed.previous, None);
    assert_eq!(
        changed.channels,
        [Channel::Web, Channel::Unknown("fax".into())]
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&decoded.encode().unwrap()).unwrap(),
        event
    );
}

#[test]
fn defaults_fill_missing_fields() {
    use optional_and_defaults::*;
    let event: ReservationMade = serde_json::from_str(r#"{"id":"r1"}"#).unwrap();
    assert_eq!(event.note, None);
    assert_eq!(event.seats, 1);
    assert_eq!(event.offset, -5);
    assert_eq!(event.big, i64::MIN);
    assert_eq!(event.huge, u64::MAX);
    assert_eq!(event.ratio, 0.25);
    assert_eq!(event.whole_ratio, 2.0);
    assert_eq!(event.small, -1.5);
    assert!(!event.confirmed);
    assert_eq!(event.channel, "web \"beta\" \\ */");
    assert_eq!(event.priority, Priority::Normal);
    assert!(event.tags.is_empty() && event.labels.is_empty());
    assert_eq!(event.since.to_string(), "2020-05-01T12:00:00.000Z");
    assert_eq!(
        event.batch.to_string(),
        "67e55044-10b1-426f-9247-bb680e5fe0c8"
    );
    #[allow(deprecated)]
    let (code, rank) = (event.legacy_code.clone(), event.legacy_rank);
    assert_eq!((code, rank), (None, 0));
    // Present values win over defaults.
    let event: ReservationMade =
        serde_json::from_str(r#"{"id":"r2","seats":4,"priority":"high"}"#).unwrap();
    assert_eq!((event.seats, event.priority), (4, Priority::High));
}

#[test]
fn keyword_names_keep_their_wire_names() {
    use keywords_and_odd_names::*;
    let json = json!({
        "type": {"Where": "w", "Self": 1, "super": "s", "crate": "c", "match": 2, "async": true},
        "kind": "self", "d": {"e": "e", "visitor": "visit", "value": "v", "timestamp": "2020-05-01T12:00:00.000Z"},
        "localTimestamp": {"at": "2020-05-01T12:00:00.000Z"},
        "user-id": "u", "2ndPlace": "p", "_private": "x", "__dunder": "y", "HTTPStatus": 200,
        "ÉtéPrix": 1.5, "snake_already": "s", "camelCase": "c", "with space": "w"
    });
    let event: Match = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(event.r#type.r#match, 2);
    assert_eq!(event.r#type.self_, 1);
    assert_eq!(event.kind, Kind::Self_);
    assert_eq!(event._2nd_place, "p");
    assert_eq!(serde_json::to_value(&event).unwrap(), json);
    assert_eq!(<Match as Event>::SUBJECT, "odd.match");
    assert_eq!(Subject::OddSelf.as_str(), "odd.self");
    assert_eq!("odd.match".parse::<Subject>(), Ok(Subject::OddMatch));
}

#[test]
fn shared_types_from_other_files_are_one_type() {
    use shared_types::*;
    let money = Money {
        amount: 9.99,
        currency: Currency::Eur,
    };
    let shipped = ParcelShipped {
        id: "p".into(),
        to: Party {
            name: "n".into(),
            address: Address {
                street: "s".into(),
                city: "c".into(),
                country: "x".into(),
            },
            balance: Some(money.clone()),
        },
        from: Address {
            street: "s".into(),
            city: "c".into(),
            country: "x".into(),
        },
        insured_for: None,
    };
    let invoice = InvoiceIssued {
        id: "i".into(),
        total: money.clone(),
        bill_to: shipped.to.clone(),
        lines: vec![money],
    };
    assert_eq!(
        serde_json::to_value(&invoice.total).unwrap(),
        json!({"amount": 9.99, "currency": "EUR"})
    );
    assert_eq!(
        SUBJECTS,
        ["billing:invoice-issued", "shipping:parcel-shipped"]
    );
}

#[test]
fn many_files_give_one_module() {
    use many_files::*;
    assert_eq!(SUBJECTS.len(), 13);
    assert_eq!(Subject::ALL.len(), 13);
    for (subject, name) in Subject::ALL.iter().zip(SUBJECTS) {
        assert_eq!(subject.as_str(), *name);
        assert_eq!(name.parse::<Subject>().unwrap(), *subject);
    }
    let event = AnyEvent::decode(
        "service07.happened",
        br#"{"id":"a","thing":{"id":"t","rank":3}}"#,
    )
    .unwrap();
    assert_eq!(event.subject(), Subject::Service07Happened);
    assert_eq!(
        event,
        AnyEvent::from(Happened07 {
            id: "a".into(),
            thing: Thing07 {
                id: "t".into(),
                rank: 3
            }
        })
    );
}

#[test]
fn a_set_without_events_has_empty_subjects() {
    use types_only::*;
    assert!(SUBJECTS.is_empty());
    assert!(Subject::ALL.is_empty());
    let err = AnyEvent::decode("any", b"{}").unwrap_err();
    assert_eq!(err.to_string(), "unknown subject `any`");
    assert_eq!("any".parse::<Subject>().unwrap_err().subject(), "any");
    assert_eq!(Unit::Imperial.as_str(), "imperial");
    let c: Coordinates = serde_json::from_str(r#"{"lat":1,"lon":2.5}"#).unwrap();
    assert_eq!((c.lat, c.lon), (1.0, 2.5));
}

#[test]
fn hostile_descriptions_leave_the_fields_intact() {
    use hostile_descriptions::*;
    let sneaky: Sneaky =
        serde_json::from_str(r#"{"quote":"q","ticks":"t","comment":"c"}"#).unwrap();
    assert_eq!(sneaky.comment, "c");
    assert_eq!(Level::ALL, [Level::Low]);
    assert_eq!(SUBJECTS, ["hostile.documented", "hostile.injected"]);
}

#[test]
fn every_fixture_is_compiled_here() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../codegen/tests/golden");
    let source = include_str!("../golden.rs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let include = format!("include!(\"../../codegen/tests/golden/{name}/expected.rs\");");
        assert!(
            source.contains(&include),
            "tests/src/golden.rs does not include `{name}`"
        );
    }
}

/// A listener of the newest version reads every recorded version: v2 of
/// `ticket:updated` directly (its step to v3 is mechanical), v1 as its own
/// type, upcast by the hand-written impl to v2, then by the generated one
/// to v3.
#[test]
fn older_versions_decode_and_upcast_to_the_newest() {
    use versions::*;
    let v1 =
        br#"{"id":"t1","version":4,"title":"Gig","price":20.5,"labels":["vip","new","other"]}"#;
    let event = TicketUpdated::decode_version(1, "ticket:updated", v1).unwrap();
    assert_eq!(event.price_cents, 2050);
    assert_eq!(event.seats, 1);
    assert_eq!(event.currency, "USD");
    assert_eq!(event.tags, None);
    assert_eq!(event.order_id, None);
    // v1's open `Label` did not list `new`; v3's does.
    assert_eq!(
        event.labels,
        Some(vec![Label::Vip, Label::New, Label::Unknown("other".into())])
    );

    let v2 = br#"{"id":"t1","version":5,"title":"Gig","priceCents":999,"seats":4294967295}"#;
    let event = TicketUpdated::decode_version(2, "ticket:updated", v2).unwrap();
    assert_eq!((event.price_cents, event.seats), (999, u64::from(u32::MAX)));
    assert_eq!(event.currency, "USD");

    // The catalog decodes by version too.
    let any = AnyEvent::decode_version("ticket:updated", 1, v1).unwrap();
    let AnyEvent::TicketUpdated(from_catalog) = any else {
        panic!("{any:?}")
    };
    assert_eq!(from_catalog.price_cents, 2050);
    assert!(
        AnyEvent::decode("ticket:updated", v1).is_err(),
        "decode reads the newest version"
    );
    assert!(AnyEvent::decode_version("nope", 1, v1).is_err());

    // The newest version, and a version the lock does not record, decode as
    // the newest type.
    let v3 = br#"{"id":"t1","version":6,"title":"Gig","priceCents":1,"currency":"EUR"}"#;
    for version in [3, 4] {
        let event = TicketUpdated::decode_version(version, "ticket:updated", v3).unwrap();
        assert_eq!((event.currency.as_str(), event.seats), ("EUR", 1));
    }

    // A v1 body that does not fit v1 fails at its path, as v1.
    let err = TicketUpdated::decode_version(
        1,
        "ticket:updated",
        br#"{"id":"t1","version":4,"title":"Gig","price":"20"}"#,
    )
    .unwrap_err();
    assert_eq!(err.path(), Some("$.price"));
    // The same body read as v3 would have failed elsewhere: the version picks the type.
    assert!(TicketUpdated::decode_version(3, "ticket:updated", v1).is_err());
}

/// A mechanical step is decoded directly as the newest type; the generated
/// `Upcast` of the older type gives the same value (enum value added, a
/// nested number widened, a field added as optional, a shared type kept).
#[test]
fn a_mechanical_step_decodes_directly_and_agrees_with_its_generated_upcast() {
    use typebus::Upcast as _;
    use versions::*;
    let v1 = br#"{"id":"o1","status":"created","ticket":{"id":"t1","price":0.5},"count":3,"user":{"id":"u1"}}"#;
    let direct = OrderCreated::decode_version(1, "order:created", v1).unwrap();
    let old: OrderCreatedV1 = typebus::from_json("order:created", v1).unwrap();
    let upcast: OrderCreated = old.upcast();
    assert_eq!(direct, upcast);
    assert_eq!(direct.status, OrderStatus::Created);
    assert_eq!(direct.ticket.price, 0.5);
    assert_eq!(direct.count, 3);
    assert_eq!(direct.note, None);
    // Older types are events of their own version.
    assert_eq!(
        (
            OrderCreatedV1::SUBJECT,
            OrderCreatedV1::VERSION,
            OrderCreatedV1::NAME
        ),
        ("order:created", 1, "OrderCreated")
    );
    assert_eq!(TicketUpdatedV2::VERSION, 2);
    // Which older readers read the newest version: v1 of `seat:held` does
    // (v2 added an optional field); v1 of `order:created` does not (its
    // closed enum lacks `awaiting:payment`), nor v1/v2 of `ticket:updated`.
    assert_eq!(SeatHeld::READABLE_AS, [1]);
    assert!(OrderCreated::READABLE_AS.is_empty());
    assert!(TicketUpdated::READABLE_AS.is_empty());
    // Each step of `plan:changed` is mechanical, but `limit` was removed
    // (v2) and added back as a string (v3): a v1 body goes through the
    // steps instead of being read as v3, which would fail on `limit: 5`.
    let plan = PlanChanged::decode_version(1, "plan:changed", br#"{"id":"p","limit":5}"#).unwrap();
    assert_eq!(plan.limit, None);
    assert!(typebus::from_json::<PlanChanged>("plan:changed", br#"{"id":"p","limit":5}"#).is_err());
    assert_eq!(PlanChanged::READABLE_AS, [2]);
    // A field renamed in v2 (`renames: { 2: { row: rowNumber } }`): a v1
    // body goes through the generated step, which moves `row`.
    let moved = SeatMoved::decode_version(1, "seat:moved", br#"{"seat":"s1","row":4}"#).unwrap();
    assert_eq!((moved.seat.as_str(), moved.row_number), ("s1", 4));
    assert!(SeatMoved::decode_version(2, "seat:moved", br#"{"seat":"s1","row":4}"#).is_err());
    // v1's enum is its own (it lacks `awaiting:payment`).
    assert!(
        serde_json::from_str::<order_created_v1::OrderStatus>(r#""awaiting:payment""#).is_err()
    );
}
