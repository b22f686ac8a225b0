//! Every `codegen/tests/golden/<name>/expected.rs`, compiled as a public
//! module (so `missing_docs` checks that generated code documents every
//! public item). `codegen/tests/golden.rs` checks that the files are what
//! the generator produces; this module checks that they compile, and its
//! tests that they behave.

/// The `aggregates` fixture: `Versioned` impls.
pub mod aggregates {
    include!("../../codegen/tests/golden/aggregates/expected.rs");
}

/// The `enums` fixture: closed and open enums.
pub mod enums {
    include!("../../codegen/tests/golden/enums/expected.rs");
}

/// The `every-type` fixture: every scalar and shape.
pub mod every_type {
    include!("../../codegen/tests/golden/every-type/expected.rs");
}

/// The `hostile-descriptions` fixture: descriptions that try to break out.
pub mod hostile_descriptions {
    include!("../../codegen/tests/golden/hostile-descriptions/expected.rs");
}

/// The `keywords-and-odd-names` fixture.
pub mod keywords_and_odd_names {
    include!("../../codegen/tests/golden/keywords-and-odd-names/expected.rs");
}

/// The `many-files` fixture.
pub mod many_files {
    include!("../../codegen/tests/golden/many-files/expected.rs");
}

/// The `optional-and-defaults` fixture.
pub mod optional_and_defaults {
    include!("../../codegen/tests/golden/optional-and-defaults/expected.rs");
}

/// The `shared-types` fixture: types shared across files.
pub mod shared_types {
    include!("../../codegen/tests/golden/shared-types/expected.rs");
}

/// The `ticketing` fixture (a copy of `schemas/`).
pub mod ticketing {
    include!("../../codegen/tests/golden/ticketing/expected.rs");
}

/// The `types-only` fixture: no events, so `Subject` and `AnyEvent` are empty.
pub mod types_only {
    include!("../../codegen/tests/golden/types-only/expected.rs");
}

/// The `versions` fixture: three versions of `ticket:updated` (v1 -> v2
/// written by hand below, v2 -> v3 generated) and two of `order:created`
/// (generated), the older ones read from the fixture's `typebus.lock`.
pub mod versions {
    include!("../../codegen/tests/golden/versions/expected.rs");

    /// The hand-written step the schema change requires: v1's `price`, an
    /// `f64` of dollars, became v2's `priceCents`, an integer of cents.
    impl ::typebus::Upcast<ticket_updated_v2::TicketUpdated> for TicketUpdatedV1 {
        fn upcast(self) -> ticket_updated_v2::TicketUpdated {
            ticket_updated_v2::TicketUpdated {
                id: self.id,
                labels: self.labels.map(|labels| {
                    labels
                        .iter()
                        .map(|label| Label::from(label.as_str()))
                        .collect()
                }),
                order_id: self.order_id,
                price_cents: (self.price * 100.0).round() as i64,
                seats: 1,
                title: self.title,
                version: self.version,
            }
        }
    }
}

#[cfg(test)]
mod tests;
