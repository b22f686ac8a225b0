//! Compatibility between two schema sets: every change per event, each
//! classified by who can still decode what.
//!
//! Two questions are asked of every change, answered for the generated types
//! and serde_json as they really behave (unknown fields are ignored, `?`
//! fields are left out when `None`, closed enums reject unknown values, open
//! enums keep them):
//!
//! - **old readers** (forward compatibility): can a service built from the
//!   old schemas decode events written by the new ones?
//! - **new readers** (backward compatibility): can a service built from the
//!   new schemas decode events written by the old ones?
//!
//! A [`Mode`] says which answers must be yes; changes of the contract itself
//! (a payload that changed while its `version` did not) violate every mode
//! but [`Mode::None`].
//!
//! ```
//! # fn main() -> Result<(), typebus_codegen::Error> {
//! use typebus_codegen::SchemaSet;
//! use typebus_codegen::compat::{self, Mode};
//!
//! let old = SchemaSet::from_sources("old", [("e.yaml", "events:\n  Ping:\n    subject: ping\n    version: 1\n    fields:\n      id: string\n")])?.validate()?;
//! let new = SchemaSet::from_sources("new", [("e.yaml", "events:\n  Ping:\n    subject: ping\n    version: 2\n    fields:\n      id: string\n      at: timestamp\n")])?.validate()?;
//! let diff = compat::diff(&old, &new);
//! let change = &diff[0].changes[0];
//! assert_eq!(change.kind.to_string(), "field `at` added (required)");
//! assert!(change.violates(Mode::Backward)); // new readers need `at`
//! assert!(!change.violates(Mode::Forward)); // old readers ignore it
//! # Ok(())
//! # }
//! ```

mod history;
mod payload;
mod reads;
mod shape;

use std::collections::BTreeMap;
use std::fmt;

pub use history::{Rule, check_history};
pub use payload::compare_shapes;
pub use shape::{FieldShape, Shape, TypeShape, TypeShapeKind, default_text};

pub(crate) use reads::Reads;
pub(crate) use shape::json_string;

use crate::model::{EventDef, Location, Model, TypeExpr};

/// Which readers must keep decoding, as in schema-registry compatibility
/// modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// New readers decode old events (consumers deploy first). The default.
    Backward,
    /// Old readers decode new events (producers deploy first).
    Forward,
    /// Both.
    Full,
    /// Nothing is enforced; changes are only listed.
    None,
}

/// Who can decode what after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Readers built from the old schemas decode events written with the new
    /// ones (forward compatible).
    pub old_readers: bool,
    /// Readers built from the new schemas decode events written with the old
    /// ones (backward compatible).
    pub new_readers: bool,
}

impl Verdict {
    /// Both directions decode.
    pub const BOTH: Verdict = Verdict {
        old_readers: true,
        new_readers: true,
    };
}

/// Whether a field may be missing, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// `T?`: left out when `None`.
    Optional,
    /// Has a default (canonical JSON text) used when missing.
    Default(String),
    /// Must be present.
    Required,
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Presence::Optional => f.write_str("optional"),
            Presence::Default(d) => write!(f, "with default {d}"),
            Presence::Required => f.write_str("required"),
        }
    }
}

/// What changed. Field paths are wire names joined with `.` through nested
/// structs, with `[]` for list items and `{}` for map values
/// (`ticket.price`, `lines[].sku`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A new event (subject) exists.
    EventAdded,
    /// An event (subject) no longer exists.
    EventRemoved,
    /// The event kept its name but moved to another subject: readers on
    /// either side no longer receive the other side's events.
    SubjectRenamed {
        /// The old subject.
        from: String,
        /// The new subject.
        to: String,
    },
    /// The event's schema (and Rust type) name changed; the subject did not.
    EventRenamed {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// The event's `aggregate` (per-record ordering) changed: decoding is
    /// unaffected, but ordering guards of old and new listeners key or
    /// sequence the records differently.
    AggregateChanged {
        /// `name(id: FIELD, sequence: FIELD)` before, or `none`.
        from: String,
        /// The same after.
        to: String,
    },
    /// The payload changed but `version` did not.
    VersionNotBumped {
        /// The unchanged version.
        version: u32,
    },
    /// `version` went down.
    VersionDecreased {
        /// The old version.
        from: u32,
        /// The new version.
        to: u32,
    },
    /// A field was added.
    FieldAdded {
        /// The field's path.
        field: String,
        /// Whether it may be missing.
        presence: Presence,
    },
    /// A field was removed.
    FieldRemoved {
        /// The field's path.
        field: String,
        /// Whether it could be missing.
        was: Presence,
    },
    /// A field's type changed.
    TypeChanged {
        /// The field's path.
        field: String,
        /// The old type.
        from: TypeExpr,
        /// The new type.
        to: TypeExpr,
    },
    /// `T?` became `T`.
    OptionalToRequired {
        /// The field's path.
        field: String,
    },
    /// `T` became `T?`.
    RequiredToOptional {
        /// The field's path.
        field: String,
    },
    /// A field got a default.
    DefaultAdded {
        /// The field's path.
        field: String,
        /// The default, as JSON text.
        value: String,
    },
    /// A field lost its default.
    DefaultRemoved {
        /// The field's path.
        field: String,
        /// The old default, as JSON text.
        value: String,
    },
    /// A field's default changed.
    DefaultChanged {
        /// The field's path.
        field: String,
        /// The old default, as JSON text.
        from: String,
        /// The new default, as JSON text.
        to: String,
    },
    /// An enum gained a value.
    EnumValueAdded {
        /// The path of the field holding the enum.
        field: String,
        /// The enum's (new) name.
        ty: String,
        /// The wire value.
        value: String,
        /// Whether the old enum was open (old readers keep unknown values).
        open: bool,
    },
    /// An enum lost a value.
    EnumValueRemoved {
        /// The path of the field holding the enum.
        field: String,
        /// The enum's (new) name.
        ty: String,
        /// The wire value.
        value: String,
        /// Whether the new enum is open (new readers keep unknown values).
        open: bool,
    },
    /// A closed enum became `open: true`.
    EnumOpened {
        /// The path of the field holding the enum.
        field: String,
        /// The enum's name.
        ty: String,
    },
    /// An open enum became closed.
    EnumClosed {
        /// The path of the field holding the enum.
        field: String,
        /// The enum's name.
        ty: String,
    },
}

impl ChangeKind {
    /// Whether the change breaks the versioning contract itself rather than
    /// decoding: it violates every mode but [`Mode::None`].
    pub fn is_policy(&self) -> bool {
        matches!(
            self,
            ChangeKind::VersionNotBumped { .. } | ChangeKind::VersionDecreased { .. }
        )
    }

    /// Whether the change is only informative (no effect on the wire).
    pub fn is_informative(&self) -> bool {
        matches!(
            self,
            ChangeKind::EventRenamed { .. } | ChangeKind::AggregateChanged { .. }
        )
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeKind::EventAdded => f.write_str("event added"),
            ChangeKind::EventRemoved => f.write_str("event removed"),
            ChangeKind::SubjectRenamed { from, to } => {
                write!(f, "subject renamed `{from}` -> `{to}`")
            }
            ChangeKind::EventRenamed { from, to } => {
                write!(f, "event renamed `{from}` -> `{to}` (same subject)")
            }
            ChangeKind::AggregateChanged { from, to } => {
                write!(f, "aggregate {from} -> {to}")
            }
            ChangeKind::VersionNotBumped { version } => {
                write!(f, "payload changed but `version` is still {version}")
            }
            ChangeKind::VersionDecreased { from, to } => {
                write!(f, "`version` went down from {from} to {to}")
            }
            ChangeKind::FieldAdded { field, presence } => {
                write!(f, "field `{field}` added ({presence})")
            }
            ChangeKind::FieldRemoved { field, was } => {
                write!(f, "field `{field}` removed (was {was})")
            }
            ChangeKind::TypeChanged { field, from, to } => {
                write!(f, "field `{field}` {from} -> {to}")
            }
            ChangeKind::OptionalToRequired { field } => {
                write!(f, "field `{field}` optional -> required")
            }
            ChangeKind::RequiredToOptional { field } => {
                write!(f, "field `{field}` required -> optional")
            }
            ChangeKind::DefaultAdded { field, value } => {
                write!(f, "field `{field}` default {value} added")
            }
            ChangeKind::DefaultRemoved { field, value } => {
                write!(f, "field `{field}` default {value} removed")
            }
            ChangeKind::DefaultChanged { field, from, to } => {
                write!(f, "field `{field}` default {from} -> {to}")
            }
            ChangeKind::EnumValueAdded {
                field,
                ty,
                value,
                open,
            } => write!(
                f,
                "enum `{ty}` (field `{field}`) value `{value}` added{}",
                if *open { "" } else { " to a closed enum" }
            ),
            ChangeKind::EnumValueRemoved {
                field,
                ty,
                value,
                open,
            } => write!(
                f,
                "enum `{ty}` (field `{field}`) value `{value}` removed{}",
                if *open { "" } else { " from a closed enum" }
            ),
            ChangeKind::EnumOpened { field, ty } => {
                write!(f, "enum `{ty}` (field `{field}`) closed -> open")
            }
            ChangeKind::EnumClosed { field, ty } => {
                write!(f, "enum `{ty}` (field `{field}`) open -> closed")
            }
        }
    }
}

/// One change with its classification and where it is on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// Where the changed node was in the old schemas, when it existed there.
    pub old: Option<Location>,
    /// Where it is in the new schemas, when it exists there.
    pub new: Option<Location>,
    /// Who can still decode what.
    pub verdict: Verdict,
}

impl Change {
    /// The new location, else the old one.
    pub fn location(&self) -> Option<&Location> {
        self.new.as_ref().or(self.old.as_ref())
    }

    /// Whether the change is not allowed under `mode`.
    pub fn violates(&self, mode: Mode) -> bool {
        match mode {
            Mode::None => false,
            _ if self.kind.is_policy() => true,
            Mode::Backward => !self.verdict.new_readers,
            Mode::Forward => !self.verdict.old_readers,
            Mode::Full => !self.verdict.new_readers || !self.verdict.old_readers,
        }
    }
}

/// The changes of one event, matched across the two sets by subject (or,
/// when its subject changed, by name).
#[derive(Debug, Clone, PartialEq)]
pub struct EventDiff {
    /// The event's name (the new one when both exist).
    pub name: String,
    /// The event's subject (the new one when both exist).
    pub subject: String,
    /// The subject in the old schemas, when the event existed there.
    pub old_subject: Option<String>,
    /// The old version, when the event existed before.
    pub old_version: Option<u32>,
    /// The new version, when the event still exists.
    pub new_version: Option<u32>,
    /// Every change, in field order after the event-level ones.
    pub changes: Vec<Change>,
}

impl EventDiff {
    /// Whether any change violates `mode`.
    pub fn violates(&self, mode: Mode) -> bool {
        self.changes.iter().any(|c| c.violates(mode))
    }
}

/// Every change from `old` to `new`, per event, sorted by subject; events
/// without changes are left out.
pub fn diff(old: &Model, new: &Model) -> Vec<EventDiff> {
    let old_by_subject: BTreeMap<&str, &EventDef> =
        old.events.iter().map(|e| (e.subject.as_str(), e)).collect();
    let new_subjects: BTreeMap<&str, &EventDef> =
        new.events.iter().map(|e| (e.subject.as_str(), e)).collect();
    let mut out = Vec::new();
    for n in &new.events {
        let o = old_by_subject.get(n.subject.as_str()).copied().or_else(|| {
            // Same name on a subject that no longer exists: a rename.
            old.events
                .iter()
                .find(|o| o.name == n.name && !new_subjects.contains_key(o.subject.as_str()))
        });
        let diff = match o {
            Some(o) => pair(old, o, new, n),
            None => EventDiff {
                name: n.name.clone(),
                subject: n.subject.clone(),
                old_subject: None,
                old_version: None,
                new_version: Some(n.version),
                changes: vec![Change {
                    kind: ChangeKind::EventAdded,
                    old: None,
                    new: Some(n.location.clone()),
                    verdict: Verdict::BOTH,
                }],
            },
        };
        if !diff.changes.is_empty() {
            out.push(diff);
        }
    }
    for o in &old.events {
        let matched = new_subjects.contains_key(o.subject.as_str())
            || new
                .events
                .iter()
                .any(|n| n.name == o.name && !old_by_subject.contains_key(n.subject.as_str()));
        if !matched {
            out.push(EventDiff {
                name: o.name.clone(),
                subject: o.subject.clone(),
                old_subject: Some(o.subject.clone()),
                old_version: Some(o.version),
                new_version: None,
                changes: vec![Change {
                    kind: ChangeKind::EventRemoved,
                    old: Some(o.location.clone()),
                    new: None,
                    // Old producers' events on this subject go unread.
                    verdict: Verdict {
                        old_readers: true,
                        new_readers: false,
                    },
                }],
            });
        }
    }
    out.sort_by(|a, b| a.subject.cmp(&b.subject));
    out
}

/// `name(id: FIELD, sequence: FIELD)` with wire names, or `none`.
fn aggregate(event: &EventDef) -> String {
    let Some(a) = &event.aggregate else {
        return "none".to_owned();
    };
    let wire = |i: usize| event.fields.get(i).map_or("?", |f| f.wire.as_str());
    format!(
        "`{}` (id: `{}`, sequence: `{}`)",
        a.name,
        wire(a.id_field),
        wire(a.sequence_field)
    )
}

fn pair(old: &Model, o: &EventDef, new: &Model, n: &EventDef) -> EventDiff {
    let mut changes = Vec::new();
    let here = |kind, verdict| Change {
        kind,
        old: Some(o.location.clone()),
        new: Some(n.location.clone()),
        verdict,
    };
    if o.subject != n.subject {
        changes.push(here(
            ChangeKind::SubjectRenamed {
                from: o.subject.clone(),
                to: n.subject.clone(),
            },
            Verdict {
                old_readers: false,
                new_readers: false,
            },
        ));
    }
    if o.name != n.name {
        changes.push(here(
            ChangeKind::EventRenamed {
                from: o.name.clone(),
                to: n.name.clone(),
            },
            Verdict::BOTH,
        ));
    }
    let (from, to) = (aggregate(o), aggregate(n));
    if from != to {
        changes.push(here(
            ChangeKind::AggregateChanged { from, to },
            Verdict::BOTH,
        ));
    }
    let payload = compare_shapes(&Shape::of_event(old, o), &Shape::of_event(new, n));
    if n.version < o.version {
        changes.push(here(
            ChangeKind::VersionDecreased {
                from: o.version,
                to: n.version,
            },
            Verdict::BOTH,
        ));
    } else if n.version == o.version && !payload.is_empty() {
        changes.push(here(
            ChangeKind::VersionNotBumped { version: n.version },
            Verdict::BOTH,
        ));
    }
    changes.extend(payload);
    EventDiff {
        name: n.name.clone(),
        subject: n.subject.clone(),
        old_subject: Some(o.subject.clone()),
        old_version: Some(o.version),
        new_version: Some(n.version),
        changes,
    }
}

#[cfg(test)]
mod tests;
