//! The [`Event`] trait every typed event implements, and [`Upcast`], the
//! step from one released version of an event to the next.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::decode::DecodeError;

/// A typed event: a payload with a fixed NATS subject and contract version.
///
/// Implemented by `#[derive(Event)]`, which generated code uses too. The JSON
/// of the value is the whole message body on the wire; metadata (the contract
/// version, the message id) travels in headers.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The subject the event is published on, e.g. `ticket:created`.
    const SUBJECT: &'static str;
    /// The contract version of the payload shape (>= 1).
    const VERSION: u32;
    /// The event's name, e.g. `TicketCreated`.
    const NAME: &'static str;
    /// The older versions of this event whose readers decode every body of
    /// this version (forward compatible): publishers send them in the
    /// `Typebus-Readable-As` header, and a listener built for one of them
    /// reads the event instead of dead-lettering it as too new. Generated
    /// code fills it in from the compat engine; empty by default.
    const READABLE_AS: &'static [u32] = &[];

    /// Decodes a body written as contract version `version` of this event
    /// (the `Typebus-Version` header) into this version: what a listener
    /// calls for every delivery it may read.
    ///
    /// The default decodes every version as this one, which is right for an
    /// event with one released version. Generated code overrides it for an
    /// event whose older versions are recorded in `typebus.lock`: each older
    /// body is decoded as the type of its own version (`TicketUpdatedV1`)
    /// and upcast, one version at a time, to this one (see [`Upcast`]).
    fn decode_version(version: u32, subject: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let _ = version;
        crate::contract::decode::from_json(subject, payload)
    }
}

/// The step from one released version of an event to the next: what a
/// listener of the newest version runs on an event of an older one.
///
/// Generated code implements it where the change is mechanical (a field
/// added as optional or with a default, a field removed, a number widened,
/// enum values added, a nested type changed in those ways) and requires it
/// where it is not: a change of type, a field made required, a split
/// field. That impl is written beside the generated code (in the crate
/// that holds it), and a missing one is a compile error naming both
/// versions.
///
/// ```ignore
/// // `price` went from an f64 of dollars (v1) to integer cents (v2).
/// impl typebus::Upcast<TicketUpdated> for TicketUpdatedV1 {
///     fn upcast(self) -> TicketUpdated {
///         TicketUpdated {
///             id: self.id,
///             price_cents: (self.price * 100.0).round() as i64,
///             // ...
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "no upcast from `{Self}` to `{Next}`: the schema change between these versions is not mechanical",
    label = "`{Next}` cannot be made from `{Self}` by typebus",
    note = "write `impl typebus::Upcast<{Next}> for {Self} {{ fn upcast(self) -> {Next} {{ ... }} }}` in the crate that holds the generated code; both versions are recorded in `typebus.lock`"
)]
pub trait Upcast<Next> {
    /// This event, converted to the next version.
    fn upcast(self) -> Next;
}
