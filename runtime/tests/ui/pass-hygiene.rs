// The expansion names nothing unqualified: user items that shadow
// primitives, prelude names or the crate name cannot break it. (The serde
// impls are written by hand: serde's own derive is not hygienic against a
// shadowed `str`.)
#![allow(non_camel_case_types, dead_code)]

mod typebus {}
struct str;
struct u32;
type Result<T> = core::result::Result<T, ()>;
trait Event {}
enum Option {}

#[derive(::typebus::Event)]
#[event(subject = "ticket:updated", version = 3)]
struct TicketUpdated;

impl serde::Serialize for TicketUpdated {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> serde::Deserialize<'de> for TicketUpdated {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> core::result::Result<Self, D::Error> {
        <() as serde::Deserialize>::deserialize(deserializer).map(|()| TicketUpdated)
    }
}

fn main() {
    assert_eq!(<TicketUpdated as ::typebus::Event>::SUBJECT, "ticket:updated");
    assert_eq!(<TicketUpdated as ::typebus::Event>::VERSION, 3);
    assert_eq!(<TicketUpdated as ::typebus::Event>::NAME, "TicketUpdated");
}
