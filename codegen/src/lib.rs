//! typebus-codegen: YAML event schemas -> validated model -> Rust.
