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
    assert_eq!(SUBJECTS, ["hostile.injected"]);
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
