//! The NATS subject and name rules of typebus, in one place.
//!
//! Every crate of the workspace applies these rules through this crate: the
//! schema compiler (`typebus-codegen`) when it reads a schema file, the
//! derive (`typebus-macros`) when it reads `#[event(subject = "...")]`, and
//! the runtime (`typebus`) before it publishes, listens or provisions. The
//! crate has no dependencies, so that `typebus-codegen`, a build-dependency
//! of every service, stays lean.
//!
//! - [`subject_problems`] and [`check_subject`]: a literal subject, the kind
//!   typebus publishes events and dead letters on (see [`SubjectProblemKind`]
//!   for the rules, the `$` namespace among them).
//! - [`check_name`]: a stream or consumer name.
//! - [`sanitise`]: any text (a queue group, a subject) made into a valid name
//!   and subject token.
//!
//! ```
//! use typebus_names::{SubjectProblemKind, check_name, check_subject, sanitise, subject_problems};
//!
//! assert_eq!(check_subject("ticket:created"), Ok(()));
//!
//! // Every problem, with the character offset it starts at.
//! let problems = subject_problems("orders..created *");
//! assert_eq!(problems.len(), 3);
//! assert_eq!(problems[0].kind, SubjectProblemKind::EmptyToken);
//! assert_eq!(problems[0].offset, 6);
//! assert_eq!(problems[1].kind.to_string(), "contains whitespace or a control character");
//! assert_eq!(problems[2].kind, SubjectProblemKind::Wildcard('*'));
//!
//! // The `$` namespace belongs to the server.
//! let reserved = check_subject("$JS.API.INFO").unwrap_err();
//! assert_eq!(reserved.kind, SubjectProblemKind::Reserved);
//! println!("{}", reserved.kind.hint());
//!
//! // Names: one character set for stream names, consumer names and tokens.
//! assert_eq!(sanitise("orders service/eu.1"), "orders_service_eu_1");
//! assert_eq!(check_name(&sanitise("a.b*c")), Ok(()));
//! assert!(check_name("a.b").is_err());
//! ```

mod name;
mod subject;

pub use name::{NameProblem, check_name, is_forbidden_in_name, sanitise};
pub use subject::{SubjectProblem, SubjectProblemKind, check_subject, subject_problems};
