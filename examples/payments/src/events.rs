//! The ticketing contracts as this service's build script generated them
//! from `schemas/`: the same subjects and JSON as the `ticketing-events`
//! crate, compiled here rather than depended on.

typebus::include_events!();
