//! Events: subject, version, fields and aggregate.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::closest;
use super::{Cx, Subjects, TypeTable, at, default, inside, placeholder, subject, trimmed};
use crate::compat::Rule;
use crate::ident;
use crate::load::ParsedFile;
use crate::load::raw::{RawAggregate, RawEvent};
use crate::model::{Aggregate, EventDef, Evolution, Field, Location, RustIdent, Scalar, TypeExpr};

impl Cx<'_> {
    /// Checks one `events:` entry.
    pub(super) fn event_def(
        &mut self,
        file: &ParsedFile,
        name: &Spanned<String>,
        raw: &RawEvent,
        table: &TypeTable,
        subjects: &mut Subjects,
        aggregates: &mut BTreeMap<String, (TypeExpr, String, Location)>,
    ) -> EventDef {
        let location = at(file, &name.referenced);
        let event = name.value.as_str();
        let ident = ident::type_ident(event).unwrap_or_else(|_| placeholder());
        let subject_variant = match &raw.subject {
            Some(subject) => self.subject(file, event, subject, subjects),
            None => {
                self.error_help(
                    location.clone(),
                    format!("event `{event}` has no `subject`"),
                    "add `subject: ...`, the NATS subject it is published on",
                );
                placeholder()
            }
        };
        let version = match &raw.version {
            Some(version) => self.version(file, version),
            None => {
                self.error_help(
                    location.clone(),
                    format!("event `{event}` has no `version`"),
                    "add `version: 1`",
                );
                1
            }
        };
        let fields = match &raw.fields {
            Some(fields) => self.fields(file, event, &fields.value, table),
            None => {
                self.error_help(
                    location.clone(),
                    format!("event `{event}` has no `fields`"),
                    "list its payload under `fields:`, or write `fields: {}` for an empty payload",
                );
                Vec::new()
            }
        };
        let aggregate = raw
            .aggregate
            .as_ref()
            .and_then(|agg| self.aggregate(file, event, agg, &fields, aggregates));
        EventDef {
            name: event.to_owned(),
            ident,
            subject: raw
                .subject
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            subject_variant,
            version,
            description: trimmed(&raw.description),
            aggregate,
            fields,
            location,
        }
    }

    /// Checks `compat:` and `upcasts:`; `None` when the event declares
    /// neither.
    pub(super) fn evolution(
        &mut self,
        file: &ParsedFile,
        raw: &RawEvent,
        version: u32,
        current_fields: &[Field],
    ) -> Option<Evolution> {
        if raw.compat.is_none() && raw.upcasts.is_none() && raw.renames.is_none() {
            return None;
        }
        let compat = raw.compat.as_ref().and_then(|text| {
            let location = at(file, &text.referenced);
            match text.value.parse::<Rule>() {
                Ok(rule) => Some((rule, location)),
                Err(message) => {
                    let help = closest(&text.value, Rule::NAMES.iter().copied())
                        .map(|name| format!("did you mean `{name}`?"))
                        .unwrap_or_else(|| {
                            "see `compat` in the README's \"Changing an event\"".to_owned()
                        });
                    self.error_help(location, message, help);
                    None
                }
            }
        });
        let mut upcasts = Vec::new();
        for from in raw.upcasts.iter().flat_map(|list| &list.value) {
            let location = at(file, &from.referenced);
            match u32::try_from(from.value) {
                Ok(v) if v >= 1 && v < version => upcasts.push(v),
                _ => self.error_help(
                    location,
                    format!(
                        "`upcasts` lists version {}, which is not an older version of this event (it is at version {version})",
                        from.value
                    ),
                    "list the versions whose step to the next version is written by hand, each from 1 to the current version - 1",
                ),
            }
        }
        upcasts.sort_unstable();
        upcasts.dedup();
        let mut renames: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (in_version, fields) in raw.renames.iter().flat_map(|map| &map.value.entries) {
            let location = at(file, &in_version.referenced);
            let Some(v) = in_version
                .value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|v| *v >= 2 && *v <= version)
            else {
                self.error_help(
                    location,
                    format!(
                        "`renames` lists version `{}`, which cannot rename fields (this event is at version {version})",
                        in_version.value
                    ),
                    "key each rename by the version that made it, from 2 to the current version: `renames: { 2: { oldName: newName } }`",
                );
                continue;
            };
            let entry = renames.entry(v).or_default();
            for (old, new) in &fields.value.entries {
                if v == version && !current_fields.iter().any(|f| f.wire == new.value) {
                    self.error(
                        at(file, &new.referenced),
                        format!(
                            "`renames` of version {v} renames `{}` to `{}`, which is not a field of this version",
                            old.value, new.value
                        ),
                    );
                }
                if entry.insert(new.value.clone(), old.value.clone()).is_some() {
                    self.error(
                        at(file, &new.referenced),
                        format!(
                            "`renames` of version {v} gives `{}` two old names",
                            new.value
                        ),
                    );
                }
            }
        }
        Some(Evolution {
            compat,
            upcasts,
            renames,
        })
    }

    /// Checks a version: an integer from 1 to `u32::MAX`.
    fn version(&mut self, file: &ParsedFile, version: &Spanned<i64>) -> u32 {
        let location = at(file, &version.referenced);
        match u32::try_from(version.value) {
            Ok(v) if v >= 1 => v,
            _ if version.value < 1 => {
                self.error_help(
                    location,
                    format!("version must be at least 1, found {}", version.value),
                    "contract versions start at 1",
                );
                1
            }
            _ => {
                self.error(
                    location,
                    format!(
                        "version {} is too large (at most {})",
                        version.value,
                        u32::MAX
                    ),
                );
                1
            }
        }
    }

    /// Checks `aggregate:` against the event's fields.
    fn aggregate(
        &mut self,
        file: &ParsedFile,
        event: &str,
        agg: &Spanned<RawAggregate>,
        fields: &[Field],
        aggregates: &mut BTreeMap<String, (TypeExpr, String, Location)>,
    ) -> Option<Aggregate> {
        let location = at(file, &agg.referenced);
        let agg_name = match &agg.value.name {
            Some(n) if n.value.trim().is_empty() => {
                self.error(at(file, &n.referenced), "empty aggregate name");
                event.to_owned()
            }
            Some(n) => {
                self.too_long(&at(file, &n.referenced), "aggregate name", &n.value);
                n.value.clone()
            }
            None => event.to_owned(),
        };
        let role = |cx: &mut Self, named: &Option<Spanned<String>>, role: &str| match named {
            Some(named) => cx
                .aggregate_field(file, event, fields, named, role)
                .map(|i| (i, at(file, &named.referenced))),
            None => {
                cx.error_help(
                    location.clone(),
                    format!("aggregate of `{event}` has no `{role}`"),
                    "write `aggregate: { id: FIELD, sequence: FIELD }`",
                );
                None
            }
        };
        let id = role(self, &agg.value.id, "id");
        let sequence = role(self, &agg.value.sequence, "sequence");
        if let Some((i, id_at)) = &id {
            let field = &fields[*i];
            let ty = &field.ty;
            if !matches!(ty, TypeExpr::Scalar(Scalar::String | Scalar::Uuid)) {
                self.error_help(
                    id_at.clone(),
                    format!(
                        "aggregate id `{}` must be a `string` or `uuid` field, not `{ty}`",
                        field.wire
                    ),
                    "the record id identifies the record and is always present",
                );
            } else if let Some((first_ty, first_event, first)) = aggregates.get(&agg_name) {
                if first_ty != ty {
                    let help = format!("`{first_event}` at {} uses `{first_ty}`", self.show(first));
                    self.error_help(
                        id_at.clone(),
                        format!(
                            "events of aggregate `{agg_name}` disagree on the id type: `{ty}` here"
                        ),
                        help,
                    );
                }
            } else {
                aggregates.insert(
                    agg_name.clone(),
                    (ty.clone(), event.to_owned(), location.clone()),
                );
            }
        }
        if let Some((s, sequence_at)) = &sequence {
            let field = &fields[*s];
            let ty = &field.ty;
            if !matches!(ty, TypeExpr::Scalar(Scalar::U32 | Scalar::U64)) {
                self.error_help(
                    sequence_at.clone(),
                    format!(
                        "aggregate sequence `{}` must be a `u32` or `u64` field, not `{ty}`",
                        field.wire
                    ),
                    "the per-record sequence number is an unsigned integer that is always present",
                );
            }
            if let Some((i, _)) = &id
                && i == s
            {
                self.error(
                    sequence_at.clone(),
                    format!(
                        "aggregate id and sequence are the same field `{}`",
                        field.wire
                    ),
                );
            }
        }
        Some(Aggregate {
            name: agg_name,
            id_field: id?.0,
            sequence_field: sequence?.0,
            location,
        })
    }

    /// The index of the field an aggregate names, or a diagnostic.
    fn aggregate_field(
        &mut self,
        file: &ParsedFile,
        event: &str,
        fields: &[Field],
        named: &Spanned<String>,
        role: &str,
    ) -> Option<usize> {
        let found = fields.iter().position(|f| f.wire == named.value);
        if found.is_none() {
            let help = match self
                .suggester
                .closest(&named.value, fields.iter().map(|f| f.wire.as_str()))
            {
                Some(near) => format!("did you mean `{near}`?"),
                None if fields.is_empty() => format!("`{event}` has no fields"),
                None => format!(
                    "the fields of `{event}` are {}",
                    default::list(&fields.iter().map(|f| f.wire.clone()).collect::<Vec<_>>())
                ),
            };
            self.error_help(
                at(file, &named.referenced),
                format!(
                    "aggregate {role} `{}` is not a field of `{event}`",
                    named.value
                ),
                help,
            );
        }
        found
    }

    /// Checks a subject and returns its `Subject` variant.
    fn subject(
        &mut self,
        file: &ParsedFile,
        event: &str,
        subject: &Spanned<String>,
        subjects: &mut Subjects,
    ) -> RustIdent {
        let location = at(file, &subject.referenced);
        let text = subject.value.as_str();
        if self.too_long(&location, "subject", text) {
            return placeholder();
        }
        if let Err(e) = subject::check(text) {
            self.error_help(
                inside(file, &subject.referenced, text, e.offset),
                e.message,
                e.help,
            );
            return placeholder();
        }
        if let Some((first_event, first)) = subjects.by_subject.get(text) {
            let help = format!("`{first_event}` uses it at {}", self.show(first));
            self.error_help(location, format!("duplicate subject `{text}`"), help);
            return placeholder();
        }
        subjects
            .by_subject
            .insert(text.to_owned(), (event.to_owned(), location.clone()));
        match ident::type_ident(text) {
            Ok(variant) => {
                if let Some((first_subject, first)) = subjects.by_variant.get(&variant.name) {
                    let help = format!("`{first_subject}` is at {}", self.show(first));
                    self.error_help(
                        location,
                        format!(
                            "subjects `{first_subject}` and `{text}` both become the variant `Subject::{}`",
                            variant.name
                        ),
                        help,
                    );
                } else {
                    subjects
                        .by_variant
                        .insert(variant.name.clone(), (text.to_owned(), location));
                }
                variant
            }
            Err(e) => {
                self.error(
                    location,
                    format!("cannot derive a `Subject` variant from `{text}`: {e}"),
                );
                placeholder()
            }
        }
    }
}
