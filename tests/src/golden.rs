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

#[cfg(test)]
mod tests;
