//! typebus: typed events over NATS JetStream.
//!
//! Events are described once in YAML schema files and compiled into Rust by
//! `typebus-codegen` (from a `build.rs`), or declared by hand with
//! `#[derive(Event)]`. This crate holds what every event type relies on at
//! run time: the [`Event`] trait, the wire types ([`Timestamp`], [`Uuid`]) and
//! the error a payload that does not decode produces ([`DecodeError`]).
//!
//! With the `bus` feature (on with the default `nats`), it also moves them:
//! a [`Bus`] over a [`Transport`] hands out typed [`Publisher`]s and runs
//! [`Listener`]s (durable queue groups, redelivery, nak backoff, dead
//! letters, in-progress acks, graceful shutdown). `typebus::nats::connect`
//! gives a bus over NATS JetStream. A contracts-only crate depends on
//! `typebus` with `default-features = false` and pulls in none of that.
//!
//! ```
//! use typebus::Event;
//!
//! #[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
//! #[event(subject = "expiration:complete", version = 1)]
//! struct ExpirationComplete {
//!     #[serde(rename = "orderId")]
//!     order_id: String,
//! }
//!
//! assert_eq!(ExpirationComplete::SUBJECT, "expiration:complete");
//! assert_eq!(ExpirationComplete::VERSION, 1);
//! assert_eq!(ExpirationComplete::NAME, "ExpirationComplete");
//! ```

// Lets `#[derive(Event)]` (which expands to `::typebus::...`) be used inside this crate.
#[allow(unused_extern_crates)]
extern crate self as typebus;

mod backoff;
mod contract;

pub mod ordering;

#[cfg(feature = "bus")]
mod bus;
#[cfg(feature = "bus")]
pub mod error;
#[cfg(feature = "bus")]
pub mod memory;
#[cfg(feature = "bus")]
pub use bus::transport;
#[cfg(feature = "bus")]
pub use contract::headers;

#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "testing")]
pub mod testing;

pub use backoff::Backoff;
pub use contract::decode::{DecodeError, UnknownSubject, UnknownValue, from_json};
pub use contract::encode::{to_json, to_json_string};
pub use contract::event::{Event, Upcast};
pub use contract::timestamp::{ParseTimestampError, Timestamp};
pub use ordering::Versioned;
pub use typebus_macros::{Event, contract};
pub use uuid::Uuid;

#[cfg(feature = "bus")]
pub use bus::Bus;
#[cfg(feature = "bus")]
pub use bus::dead_letters::{
    DeadLetter, DeadLetterFilter, DeadLetters, EventCount, Failure, GroupSummary, Handled, Report,
};
#[cfg(feature = "bus")]
pub use bus::delivery::{Delivery, DeliveryInfo};
#[cfg(feature = "bus")]
pub use bus::dispose::Disposition;
#[cfg(feature = "bus")]
pub use bus::engine::{ListenerHandle, shutdown_all_on_signal, shutdown_signal};
#[cfg(feature = "bus")]
pub use bus::listener::{DeadLetterKind, HandlerError, Listener, consumer_name};
#[cfg(feature = "bus")]
pub use bus::options::{Dispatch, ListenOptions};
#[cfg(feature = "bus")]
pub use bus::publisher::{PendingPublish, PublishRetry, Publisher};
#[cfg(feature = "bus")]
pub use bus::transport::{
    ProvisionOutcome, PublishAck, Storage, StoredMessage, StreamConfig, Transport,
};
#[cfg(feature = "bus")]
pub use contract::headers::Headers;
#[cfg(feature = "bus")]
pub use error::{
    AckError, AckErrorKind, ConnectError, ConnectErrorKind, DeadLetterError, DeadLetterErrorKind,
    ListenError, ListenErrorKind, ProvisionError, ProvisionErrorKind, PublishError,
    PublishErrorKind, StreamError, StreamErrorKind,
};

/// Includes the code that `typebus_codegen::Builder::compile` wrote to
/// `$OUT_DIR/events.rs` from a build script.
///
/// ```ignore
/// mod events {
///     typebus::include_events!();
/// }
/// ```
#[macro_export]
macro_rules! include_events {
    () => {
        ::core::include!(::core::concat!(::core::env!("OUT_DIR"), "/events.rs"));
    };
    ($file:literal) => {
        ::core::include!(::core::concat!(::core::env!("OUT_DIR"), "/", $file));
    };
}

/// Not public API: paths that generated code and `#[derive(Event)]` expand to.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;
    pub use typebus_macros::catalog;

    pub use crate::contract::decode::from_json_tracked;
}
