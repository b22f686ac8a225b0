//! Placeholder until the bench is written (see below).
fn main() {}
