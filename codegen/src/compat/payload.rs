//! Compares two payload shapes field by field, through lists, maps and
//! named types, and classifies every difference with the [`Reads`]
//! relation in both directions.

use std::collections::BTreeSet;

use super::reads::{Reads, strip_optional};
use super::shape::{FieldShape, Shape, TypeShapeKind};
use super::{Change, ChangeKind, Presence, Verdict};
use crate::model::{Location, TypeExpr};

/// Every wire-relevant difference between `old` and `new`, in field order.
pub fn compare_shapes(old: &Shape, new: &Shape) -> Vec<Change> {
    let mut walk = Walk {
        old,
        new,
        seen: BTreeSet::new(),
        out: Vec::new(),
    };
    walk.fields(&old.fields, &new.fields, "");
    walk.out
}

struct Walk<'a> {
    old: &'a Shape,
    new: &'a Shape,
    /// Pairs of named types already compared: each is reported once, and a
    /// recursive type terminates.
    seen: BTreeSet<(String, String)>,
    out: Vec<Change>,
}

impl Walk<'_> {
    fn push(
        &mut self,
        kind: ChangeKind,
        old: Option<&Location>,
        new: Option<&Location>,
        verdict: Verdict,
    ) {
        self.out.push(Change {
            kind,
            old: old.cloned(),
            new: new.cloned(),
            verdict,
        });
    }

    fn fields(&mut self, old: &[FieldShape], new: &[FieldShape], prefix: &str) {
        // Both lists are sorted by wire name: merge them.
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(o), Some(n)) => o.wire.cmp(&n.wire),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    let o = &old[i];
                    self.push(
                        ChangeKind::FieldRemoved {
                            field: join(prefix, &o.wire),
                            was: presence(o),
                        },
                        o.location.as_ref(),
                        None,
                        Verdict {
                            old_readers: o.tolerates_absence(),
                            new_readers: true,
                        },
                    );
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let n = &new[j];
                    self.push(
                        ChangeKind::FieldAdded {
                            field: join(prefix, &n.wire),
                            presence: presence(n),
                        },
                        None,
                        n.location.as_ref(),
                        Verdict {
                            old_readers: true,
                            new_readers: n.tolerates_absence(),
                        },
                    );
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    self.field(&old[i], &new[j], prefix);
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    fn field(&mut self, o: &FieldShape, n: &FieldShape, prefix: &str) {
        let field = join(prefix, &o.wire);
        let (ol, nl) = (o.location.as_ref(), n.location.as_ref());
        match (o.may_be_absent(), n.may_be_absent()) {
            (true, false) => self.push(
                ChangeKind::OptionalToRequired {
                    field: field.clone(),
                },
                ol,
                nl,
                Verdict {
                    old_readers: true,
                    new_readers: n.tolerates_absence(),
                },
            ),
            (false, true) => self.push(
                ChangeKind::RequiredToOptional {
                    field: field.clone(),
                },
                ol,
                nl,
                Verdict {
                    old_readers: o.tolerates_absence(),
                    new_readers: true,
                },
            ),
            _ => {}
        }
        // Writers always write a field that has a default, so a default only
        // matters to events from other producers: never a decode failure.
        let kind = match (&o.default, &n.default) {
            (None, Some(value)) => Some(ChangeKind::DefaultAdded {
                field: field.clone(),
                value: value.clone(),
            }),
            (Some(value), None) => Some(ChangeKind::DefaultRemoved {
                field: field.clone(),
                value: value.clone(),
            }),
            (Some(from), Some(to)) if from != to => Some(ChangeKind::DefaultChanged {
                field: field.clone(),
                from: from.clone(),
                to: to.clone(),
            }),
            _ => None,
        };
        if let Some(kind) = kind {
            self.push(kind, ol, nl, Verdict::BOTH);
        }
        self.ty(strip_optional(&o.ty), strip_optional(&n.ty), &field, ol, nl);
    }

    fn ty(
        &mut self,
        o: &TypeExpr,
        n: &TypeExpr,
        field: &str,
        ol: Option<&Location>,
        nl: Option<&Location>,
    ) {
        match (o, n) {
            (TypeExpr::List(a), TypeExpr::List(b)) => self.ty(a, b, &format!("{field}[]"), ol, nl),
            (TypeExpr::Map(a), TypeExpr::Map(b)) => self.ty(a, b, &format!("{field}{{}}"), ol, nl),
            (TypeExpr::Optional(a), TypeExpr::Optional(b)) => self.ty(a, b, field, ol, nl),
            (TypeExpr::Named(a), TypeExpr::Named(b)) => self.named(a, b, field, ol, nl),
            (a, b) if a == b => {}
            _ => self.type_changed(o, n, field, ol, nl),
        }
    }

    fn type_changed(
        &mut self,
        o: &TypeExpr,
        n: &TypeExpr,
        field: &str,
        ol: Option<&Location>,
        nl: Option<&Location>,
    ) {
        let verdict = Verdict {
            old_readers: Reads::new(self.new, self.old).ty(n, o),
            new_readers: Reads::new(self.old, self.new).ty(o, n),
        };
        self.push(
            ChangeKind::TypeChanged {
                field: field.to_owned(),
                from: o.clone(),
                to: n.clone(),
            },
            ol,
            nl,
            verdict,
        );
    }

    fn named(
        &mut self,
        a: &str,
        b: &str,
        field: &str,
        ol: Option<&Location>,
        nl: Option<&Location>,
    ) {
        let (old, new) = (self.old, self.new);
        let (Some(ot), Some(nt)) = (old.named(a), new.named(b)) else {
            if a != b {
                self.type_changed(
                    &TypeExpr::Named(a.to_owned()),
                    &TypeExpr::Named(b.to_owned()),
                    field,
                    ol,
                    nl,
                );
            }
            return;
        };
        match (&ot.kind, &nt.kind) {
            (TypeShapeKind::Struct(of), TypeShapeKind::Struct(nf)) => {
                if self.seen.insert((a.to_owned(), b.to_owned())) {
                    self.fields(of, nf, field);
                }
            }
            (
                TypeShapeKind::Enum {
                    open: o_open,
                    values: ov,
                },
                TypeShapeKind::Enum {
                    open: n_open,
                    values: nv,
                },
            ) => {
                if !self.seen.insert((a.to_owned(), b.to_owned())) {
                    return;
                }
                let (ol, nl) = (ot.location.as_ref(), nt.location.as_ref());
                if o_open != n_open {
                    let kind = if *n_open {
                        ChangeKind::EnumOpened {
                            field: field.to_owned(),
                            ty: b.to_owned(),
                        }
                    } else {
                        ChangeKind::EnumClosed {
                            field: field.to_owned(),
                            ty: b.to_owned(),
                        }
                    };
                    // A closed reader rejects the unknown values an open
                    // writer may pass on.
                    let verdict = Verdict {
                        old_readers: *o_open || !*n_open,
                        new_readers: *n_open || !*o_open,
                    };
                    self.push(kind, ol, nl, verdict);
                }
                for (value, loc) in nv {
                    if !ov.iter().any(|(v, _)| v == value) {
                        self.push(
                            ChangeKind::EnumValueAdded {
                                field: field.to_owned(),
                                ty: b.to_owned(),
                                value: value.clone(),
                                open: *o_open,
                            },
                            ol,
                            loc.as_ref().or(nl),
                            Verdict {
                                old_readers: *o_open,
                                new_readers: true,
                            },
                        );
                    }
                }
                for (value, loc) in ov {
                    if !nv.iter().any(|(v, _)| v == value) {
                        self.push(
                            ChangeKind::EnumValueRemoved {
                                field: field.to_owned(),
                                ty: b.to_owned(),
                                value: value.clone(),
                                open: *n_open,
                            },
                            loc.as_ref().or(ol),
                            nl,
                            Verdict {
                                old_readers: true,
                                new_readers: *n_open,
                            },
                        );
                    }
                }
            }
            _ => self.type_changed(
                &TypeExpr::Named(a.to_owned()),
                &TypeExpr::Named(b.to_owned()),
                field,
                ol,
                nl,
            ),
        }
    }
}

fn join(prefix: &str, wire: &str) -> String {
    if prefix.is_empty() {
        wire.to_owned()
    } else {
        format!("{prefix}.{wire}")
    }
}

fn presence(f: &FieldShape) -> Presence {
    if f.may_be_absent() {
        Presence::Optional
    } else if let Some(d) = &f.default {
        Presence::Default(d.clone())
    } else {
        Presence::Required
    }
}
