//! Generated code is hygienic: it compiles inside a module that shadows
//! the prelude (`Result`, `Option`, `Some`, `None`, `Ok`, `Err`, `String`,
//! `Vec`, `Box`, the derive names, prelude macros) and the crate names
//! `serde`, `std` and `typebus` for relative paths, because every path it
//! writes is fully qualified (`::core::`, `::std::`, `::typebus::`).
//!
//! Generated code also names primitives as `::core::primitive::u64`, but
//! serde_derive's expansion names `str`, `u8` and `u64` bare, so types named
//! like primitives are not shadowed here.
//!
//! Each fixture is included into its own shadowing module; the tests then
//! use the generated types from outside to show they still work.

// The included modules are private to this test crate; setup errors fail loudly.
#![allow(unreachable_pub, clippy::unwrap_used)]

/// Defines, in the current module, items that shadow every name generated
/// code could otherwise pick up by accident.
macro_rules! shadow_everything {
    () => {
        #[allow(dead_code, non_camel_case_types, unused_imports, unused_macros)]
        mod shadows {
            pub struct Result;
            pub type Option = ();
            pub struct Some;
            pub struct None;
            pub struct Ok;
            pub struct Err;
            pub struct String;
            pub struct Vec;
            pub struct Box;
            pub struct BTreeMap;
            pub struct HashMap;
            pub struct Serialize;
            pub struct Deserialize;
            pub struct Serializer;
            pub struct Deserializer;
            pub struct Debug;
            pub struct Clone;
            pub struct PartialEq;
            pub struct Default;
            pub struct Display;
            pub struct FromStr;
            pub struct From;
            pub struct Into;
            pub struct ToString;
            pub struct Formatter;
            pub struct Event;
            pub struct Timestamp;
            pub struct Uuid;
            pub struct Value;
            pub struct DecodeError;
            pub struct UnknownSubject;
            pub struct Upcast;
            pub struct Label;
            pub mod serde {}
            pub mod serde_json {}
            pub mod std {}
            pub mod typebus {}
            pub mod fmt {}
        }
        #[allow(unused_imports)]
        use shadows::*;
    };
}

// Macros of the prelude, shadowed for everything below (macro_rules are
// textually scoped), including the generated code.
#[allow(unused_macros)]
macro_rules! matches {
    ($($t:tt)*) => {
        ::core::compile_error!("the shadowed `matches!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! unreachable {
    ($($t:tt)*) => {
        ::core::compile_error!("the shadowed `unreachable!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! panic {
    ($($t:tt)*) => {
        ::core::compile_error!("the shadowed `panic!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! vec {
    ($($t:tt)*) => {
        ::core::compile_error!("the shadowed `vec!` was used")
    };
}

mod every_type {
    shadow_everything!();
    include!("../../codegen/tests/golden/every-type/expected.rs");
}

mod optional_and_defaults {
    shadow_everything!();
    include!("../../codegen/tests/golden/optional-and-defaults/expected.rs");
}

mod enums {
    shadow_everything!();
    include!("../../codegen/tests/golden/enums/expected.rs");
}

mod keywords_and_odd_names {
    shadow_everything!();
    include!("../../codegen/tests/golden/keywords-and-odd-names/expected.rs");
}

mod types_only {
    shadow_everything!();
    include!("../../codegen/tests/golden/types-only/expected.rs");
}

mod versions {
    shadow_everything!();
    include!("../../codegen/tests/golden/versions/expected.rs");

    impl ::typebus::Upcast<ticket_updated_v2::TicketUpdated> for TicketUpdatedV1 {
        fn upcast(self) -> ticket_updated_v2::TicketUpdated {
            ticket_updated_v2::TicketUpdated {
                id: self.id,
                labels: ::core::option::Option::None,
                order_id: self.order_id,
                price_cents: (self.price * 100.0) as i64,
                seats: 1,
                title: self.title,
                version: self.version,
            }
        }
    }
}

mod ticketing {
    shadow_everything!();
    include!("../../generated/src/events.rs");
}

#[test]
fn shadowed_modules_still_encode_and_decode() {
    let json = br#"{"tags":[],"counts":{},"point":{"x":1,"y":2},"level":"low","levels":[],"pointsByName":{},"matrix":[],"sparse":[],"nested":{}}"#;
    let event = every_type::AnyEvent::decode("every:shape", json).unwrap();
    assert_eq!(event.subject(), every_type::Subject::EveryShape);
    let every_type::AnyEvent::EveryShape(shape) = &event else {
        ::core::panic!("{event:?}")
    };
    assert_eq!(shape.level, every_type::Level::Low);
    assert_eq!(shape.note, None);
    assert!(event.encode().is_ok());

    let reservation: optional_and_defaults::ReservationMade =
        serde_json::from_str(r#"{"id":"r"}"#).unwrap();
    assert_eq!(reservation.seats, 1);
    assert_eq!(
        reservation.priority,
        optional_and_defaults::Priority::Normal
    );

    assert_eq!(
        "x".parse::<enums::Channel>(),
        Ok(enums::Channel::Unknown("x".into()))
    );
    assert!("x".parse::<enums::OrderStatus>().is_err());
    assert_eq!(keywords_and_odd_names::Kind::Self_.as_str(), "self");
    assert!(types_only::AnyEvent::decode("a", b"{}").is_err());
    assert_eq!(ticketing::SUBJECTS.len(), 6);

    use typebus::Event as _;
    let v1 = br#"{"id":"t","version":1,"title":"x","price":2}"#;
    let event = versions::TicketUpdated::decode_version(1, "ticket:updated", v1).unwrap();
    assert_eq!((event.price_cents, event.seats), (200, 1));
    let v1 = br#"{"id":"o","status":"created","ticket":{"id":"t","price":1},"count":1,"user":{"id":"u"}}"#;
    let event = versions::OrderCreated::decode_version(1, "order:created", v1).unwrap();
    assert_eq!(event.status, versions::OrderStatus::Created);
}
