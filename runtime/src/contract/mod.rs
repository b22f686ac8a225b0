//! The contract types: what an event is ([`Event`](event::Event)), how its
//! JSON is read ([`decode`], strictly: [`strict`]) and written
//! ([`encode`]), its timestamps and the headers that travel with it. No
//! transport, no runtime.

pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod event;
#[cfg(feature = "bus")]
pub mod headers;
pub(crate) mod strict;
pub(crate) mod timestamp;
