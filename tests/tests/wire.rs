//! Wire compatibility of `ticketing-events` with the JSON the original
//! (JavaScript) ticketing services publish: every payload of
//! REFERENCE.md decodes into the generated types and re-encodes to the same
//! bytes (`typebus::to_json`, what a publisher sends: same keys in the same
//! order, numbers as `JSON.stringify` writes them), a payload written by a
//! lenient encoder (`20.0`) still reads, optional fields are absent rather
//! than `null`, timestamps
//! written by `toISOString()` come back unchanged, unknown fields are
//! tolerated and a wrong type is reported with its JSON path.

// Test helpers fail loudly on setup errors, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use ticketing_events::{
    AnyEvent, DecodeError, Event, ExpirationComplete, OrderCancelled, OrderCancelledTicket,
    OrderCreated, OrderCreatedTicket, OrderStatus, PaymentCreated, Subject, TicketCreated,
    TicketUpdated, Timestamp,
};

/// A JSON value as JavaScript's `JSON.parse` sees it: objects keep their key
/// order, every number is an f64.
#[derive(Debug, Clone, PartialEq)]
enum Js {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Js>),
    Object(Vec<(String, Js)>),
}

impl<'de> Deserialize<'de> for Js {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Js;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Js, E> {
                Ok(Js::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Js, E> {
                Ok(Js::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Js, E> {
                Ok(Js::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Js, E> {
                Ok(Js::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Js, E> {
                Ok(Js::Number(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Js, E> {
                Ok(Js::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Js, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Js::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Js, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    entries.push((k, v));
                }
                Ok(Js::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

fn js(bytes: &[u8]) -> Js {
    serde_json::from_slice(bytes).unwrap()
}

fn keys(value: &Js) -> Vec<&str> {
    match value {
        Js::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
        _ => panic!("not an object: {value:?}"),
    }
}

/// The payloads of REFERENCE.md, as `JSON.stringify` of the old services'
/// object literals writes them (fields in the order the services list them).
const PAYLOADS: &[(&str, &str)] = &[
    (
        "ticket:created",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":0,"title":"concert","price":20,"userId":"5ebfd6b8a7bd3a001c6a3a1c"}"#,
    ),
    (
        "ticket:created",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":0,"title":"concert","price":9.99,"userId":"5ebfd6b8a7bd3a001c6a3a1c"}"#,
    ),
    (
        "ticket:updated",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":1,"title":"concert","price":9.99,"userId":"5ebfd6b8a7bd3a001c6a3a1c","orderId":"5ebfd6b8a7bd3a001c6a3a1d"}"#,
    ),
    (
        "ticket:updated",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":2,"title":"concert","price":20,"userId":"5ebfd6b8a7bd3a001c6a3a1c"}"#,
    ),
    (
        "order:created",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","version":0,"status":"created","userId":"5ebfd6b8a7bd3a001c6a3a1e","expiresAt":"2020-05-01T12:00:00.000Z","ticket":{"id":"5ebfd6b8a7bd3a001c6a3a1b","price":9.99}}"#,
    ),
    (
        "order:created",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","version":0,"status":"awaiting:payment","userId":"5ebfd6b8a7bd3a001c6a3a1e","expiresAt":"2020-05-01T12:15:30.123Z","ticket":{"id":"5ebfd6b8a7bd3a001c6a3a1b","price":20}}"#,
    ),
    (
        "order:cancelled",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","version":1,"ticket":{"id":"5ebfd6b8a7bd3a001c6a3a1b"}}"#,
    ),
    (
        "expiration:complete",
        r#"{"orderId":"5ebfd6b8a7bd3a001c6a3a1d"}"#,
    ),
    (
        "payment:created",
        r#"{"id":"5ebfd6b8a7bd3a001c6a3a1f","orderId":"5ebfd6b8a7bd3a001c6a3a1d","stripeId":"ch_1GqIC8Kj9yJ5FJ3y1FGSdRi5"}"#,
    ),
];

#[test]
fn every_reference_payload_is_re_encoded_byte_for_byte() {
    for (subject, payload) in PAYLOADS {
        let event = AnyEvent::decode(subject, payload.as_bytes())
            .unwrap_or_else(|err| panic!("{subject} {payload}: {err}"));
        assert_eq!(event.subject().as_str(), *subject);
        let encoded = event.encode().unwrap();
        assert_eq!(
            String::from_utf8(encoded).unwrap(),
            *payload,
            "{subject}: re-encoded bytes differ from the node services'"
        );
    }
}

#[test]
fn numbers_written_by_other_encoders_read_the_same() {
    // serde_json's own `20.0`, an exponent, and trailing zeros: all the
    // number 20, written back as JSON.stringify writes it.
    for price in ["20.0", "2e1", "20.000", "2.0E+1"] {
        let payload = PAYLOADS[0]
            .1
            .replace(r#""price":20"#, &format!(r#""price":{price}"#));
        let event = AnyEvent::decode("ticket:created", payload.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(event.encode().unwrap()).unwrap(),
            PAYLOADS[0].1
        );
    }
}

#[test]
fn every_subject_has_a_reference_payload() {
    let mut covered: Vec<&str> = PAYLOADS.iter().map(|(s, _)| *s).collect();
    covered.dedup();
    covered.sort();
    let mut subjects = ticketing_events::SUBJECTS.to_vec();
    subjects.sort();
    assert_eq!(covered, subjects);
    assert_eq!(subjects.len(), 6);
}

#[test]
fn typed_events_write_the_old_services_json() {
    let created = TicketCreated {
        id: "5ebfd6b8a7bd3a001c6a3a1b".into(),
        version: 0,
        title: "concert".into(),
        price: 9.99,
        user_id: "5ebfd6b8a7bd3a001c6a3a1c".into(),
    };
    // Byte for byte what JSON.stringify writes.
    assert_eq!(typebus::to_json_string(&created).unwrap(), PAYLOADS[1].1);
    let integral = TicketCreated {
        price: 20.0,
        ..created.clone()
    };
    assert_eq!(typebus::to_json_string(&integral).unwrap(), PAYLOADS[0].1);
    assert_eq!(TicketCreated::SUBJECT, "ticket:created");
    assert_eq!(TicketCreated::VERSION, 1);

    let order = OrderCreated {
        id: "5ebfd6b8a7bd3a001c6a3a1d".into(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "5ebfd6b8a7bd3a001c6a3a1e".into(),
        expires_at: "2020-05-01T12:00:00.000Z".parse().unwrap(),
        ticket: OrderCreatedTicket {
            id: "5ebfd6b8a7bd3a001c6a3a1b".into(),
            price: 9.99,
        },
    };
    assert_eq!(typebus::to_json_string(&order).unwrap(), PAYLOADS[4].1);

    let cancelled = OrderCancelled {
        id: "5ebfd6b8a7bd3a001c6a3a1d".into(),
        version: 1,
        ticket: OrderCancelledTicket {
            id: "5ebfd6b8a7bd3a001c6a3a1b".into(),
        },
    };
    assert_eq!(typebus::to_json_string(&cancelled).unwrap(), PAYLOADS[6].1);
    let expired = ExpirationComplete {
        order_id: "5ebfd6b8a7bd3a001c6a3a1d".into(),
    };
    assert_eq!(typebus::to_json_string(&expired).unwrap(), PAYLOADS[7].1);
    let paid = PaymentCreated {
        id: "5ebfd6b8a7bd3a001c6a3a1f".into(),
        order_id: "5ebfd6b8a7bd3a001c6a3a1d".into(),
        stripe_id: "ch_1GqIC8Kj9yJ5FJ3y1FGSdRi5".into(),
    };
    assert_eq!(typebus::to_json_string(&paid).unwrap(), PAYLOADS[8].1);
}

#[test]
fn integral_and_fractional_prices_are_equal_numbers() {
    for (payload, price) in [(PAYLOADS[0].1, 20.0), (PAYLOADS[1].1, 9.99)] {
        let ticket: TicketCreated =
            typebus::from_json("ticket:created", payload.as_bytes()).unwrap();
        assert_eq!(ticket.price, price);
        let Js::Object(entries) = js(&typebus::to_json(&ticket).unwrap()) else {
            panic!()
        };
        assert_eq!(entries[3], ("price".to_owned(), Js::Number(price)));
    }
}

#[test]
fn an_absent_order_id_is_left_out_never_null() {
    let released: TicketUpdated =
        typebus::from_json("ticket:updated", PAYLOADS[3].1.as_bytes()).unwrap();
    assert_eq!(released.order_id, None);
    let json = serde_json::to_string(&released).unwrap();
    assert!(!json.contains("orderId"), "{json}");
    assert_eq!(
        keys(&js(json.as_bytes())),
        ["id", "version", "title", "price", "userId"]
    );

    // A null from a sloppy publisher reads as absent, and is written absent.
    let with_null = r#"{"id":"a","version":3,"title":"t","price":1,"userId":"u","orderId":null}"#;
    let decoded: TicketUpdated =
        typebus::from_json("ticket:updated", with_null.as_bytes()).unwrap();
    assert_eq!(decoded.order_id, None);
    assert!(!serde_json::to_string(&decoded).unwrap().contains("orderId"));

    let reserved: TicketUpdated =
        typebus::from_json("ticket:updated", PAYLOADS[2].1.as_bytes()).unwrap();
    assert_eq!(
        reserved.order_id.as_deref(),
        Some("5ebfd6b8a7bd3a001c6a3a1d")
    );
    assert_eq!(
        keys(&js(&serde_json::to_vec(&reserved).unwrap())),
        ["id", "version", "title", "price", "userId", "orderId"]
    );
}

#[test]
fn to_iso_string_timestamps_come_back_unchanged() {
    let order: OrderCreated =
        typebus::from_json("order:created", PAYLOADS[5].1.as_bytes()).unwrap();
    let expected: Timestamp = "2020-05-01T12:15:30.123Z".parse().unwrap();
    assert_eq!(order.expires_at, expected);
    let json = serde_json::to_string(&order).unwrap();
    assert!(
        json.contains(r#""expiresAt":"2020-05-01T12:15:30.123Z""#),
        "{json}"
    );
    assert_eq!(order.status, OrderStatus::AwaitingPayment);

    // Another offset is read, and written back as UTC with `Z`.
    let offset = PAYLOADS[4]
        .1
        .replace("2020-05-01T12:00:00.000Z", "2020-05-01T14:00:00+02:00");
    let order: OrderCreated = typebus::from_json("order:created", offset.as_bytes()).unwrap();
    assert!(
        serde_json::to_string(&order)
            .unwrap()
            .contains(r#""expiresAt":"2020-05-01T12:00:00.000Z""#)
    );
}

#[test]
fn unknown_fields_are_tolerated() {
    let newer = r#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","version":1,"ticket":{"id":"t","section":"B"},"reason":"expired","__v":0}"#;
    let event = AnyEvent::decode("order:cancelled", newer.as_bytes()).unwrap();
    let AnyEvent::OrderCancelled(cancelled) = event else {
        panic!("{event:?}")
    };
    assert_eq!(cancelled.ticket.id, "t");
    assert_eq!(cancelled.version, 1);
}

#[test]
fn a_wrong_type_is_reported_with_its_json_path() {
    let cases = [
        (
            "order:created",
            PAYLOADS[4]
                .1
                .replace(r#""price":9.99"#, r#""price":"free""#),
            "$.ticket.price",
        ),
        (
            "order:created",
            PAYLOADS[4]
                .1
                .replace(r#""status":"created""#, r#""status":"shipped""#),
            "$.status",
        ),
        (
            "order:created",
            PAYLOADS[4].1.replace(".000Z", " tomorrow"),
            "$.expiresAt",
        ),
        (
            "ticket:created",
            PAYLOADS[0].1.replace(r#""version":0"#, r#""version":-1"#),
            "$.version",
        ),
        (
            "payment:created",
            r#"{"id":"p","orderId":7,"stripeId":"s"}"#.to_owned(),
            "$.orderId",
        ),
    ];
    for (subject, payload, path) in cases {
        let err = AnyEvent::decode(subject, payload.as_bytes()).unwrap_err();
        assert_eq!(err.path(), Some(path), "{subject} {payload}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid `{subject}` payload at {path}: ")),
            "{err}"
        );
    }
    // A missing required field names the object that lacks it.
    let err = AnyEvent::decode("expiration:complete", b"{}").unwrap_err();
    assert!(err.to_string().contains("missing field `orderId`"), "{err}");
}

/// A JSON array is never an event, nor a nested struct, even when its items
/// line up with the fields in order (serde's derive alone would take it):
/// `AnyEvent::decode` refuses it at its path, naming what it found.
#[test]
fn arrays_are_not_events() {
    let cases = [
        (
            "ticket:created",
            r#"["5ebfd6b8a7bd3a001c6a3a1b",0,"concert",20,"5ebfd6b8a7bd3a001c6a3a1c"]"#.to_owned(),
            "$",
            "TicketCreated",
        ),
        (
            "order:created",
            PAYLOADS[4].1.replace(
                r#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","price":9.99}"#,
                r#"["5ebfd6b8a7bd3a001c6a3a1b",9.99]"#,
            ),
            "$.ticket",
            "OrderCreatedTicket",
        ),
    ];
    for (subject, payload, path, name) in cases {
        let err = AnyEvent::decode(subject, payload.as_bytes()).unwrap_err();
        assert_eq!(err.path(), Some(path), "{subject} {payload}: {err}");
        assert!(
            err.to_string().contains(&format!(
                "invalid type: array, expected a JSON object (`{name}`)"
            )),
            "{err}"
        );
    }
}

#[test]
fn unknown_subjects_and_subject_names() {
    let err = AnyEvent::decode("ticket:deleted", b"{}").unwrap_err();
    assert!(matches!(err, DecodeError::UnknownSubject(_)), "{err:?}");
    assert_eq!(err.to_string(), "unknown subject `ticket:deleted`");
    assert_eq!(Subject::ALL.len(), 6);
    for subject in Subject::ALL {
        assert_eq!(subject.as_str().parse::<Subject>().unwrap(), *subject);
        assert_eq!(subject.to_string(), subject.as_str());
    }
    assert_eq!(
        ticketing_events::SUBJECTS,
        [
            "expiration:complete",
            "order:cancelled",
            "order:created",
            "payment:created",
            "ticket:created",
            "ticket:updated"
        ]
    );
}
