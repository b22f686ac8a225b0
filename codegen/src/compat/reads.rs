//! Whether a reader's type decodes every value a writer's type can write,
//! with serde_json and the generated types (tolerant structs, `?` fields
//! omitted when `None`, closed enums rejecting unknown values, open enums
//! keeping them). A value-dependent case (`u64` read as `u32`) counts as
//! not decoding: compatibility must hold for every value.

use std::collections::BTreeSet;

use super::shape::{FieldShape, Shape, TypeShapeKind};
use crate::model::{Scalar, TypeExpr};

/// Decides `reads(writer type, reader type)` over two shapes (the writer's
/// named types come from `writer`, the reader's from `reader`).
pub(crate) struct Reads<'a> {
    writer: &'a Shape,
    reader: &'a Shape,
    /// Pairs of named types being compared: a recursive type is assumed to
    /// read itself while its own comparison is in progress.
    assumed: BTreeSet<(String, String)>,
}

impl<'a> Reads<'a> {
    pub(crate) fn new(writer: &'a Shape, reader: &'a Shape) -> Self {
        Self {
            writer,
            reader,
            assumed: BTreeSet::new(),
        }
    }

    /// Whether every value of writer type `w` decodes as reader type `r`.
    pub(crate) fn ty(&mut self, w: &TypeExpr, r: &TypeExpr) -> bool {
        match (w, r) {
            (_, TypeExpr::Scalar(Scalar::Json)) => true,
            (TypeExpr::Optional(w), TypeExpr::Optional(r)) => self.ty(w, r),
            // The writer may write `null` (a nested `?`): only `?` reads it.
            (TypeExpr::Optional(_), _) => false,
            (w, TypeExpr::Optional(r)) => self.ty(w, r),
            (TypeExpr::Scalar(w), TypeExpr::Scalar(r)) => scalar(*w, *r),
            (TypeExpr::List(w), TypeExpr::List(r)) => self.ty(w, r),
            (TypeExpr::Map(w), TypeExpr::Map(r)) => self.ty(w, r),
            (TypeExpr::Named(w), TypeExpr::Named(r)) => self.named(w, r),
            (TypeExpr::Named(w), r) => self.named_as(w, r),
            (w, TypeExpr::Named(r)) => self.as_named(w, r),
            _ => false,
        }
    }

    /// Whether an object written with `w` fields decodes into `r` fields.
    pub(crate) fn fields(&mut self, w: &[FieldShape], r: &[FieldShape]) -> bool {
        r.iter()
            .all(|rf| match w.iter().find(|wf| wf.wire == rf.wire) {
                None => rf.tolerates_absence(),
                Some(wf) => self.field(wf, rf),
            })
    }

    /// Whether field `wf` as written decodes as field `rf` (same wire name).
    pub(crate) fn field(&mut self, wf: &FieldShape, rf: &FieldShape) -> bool {
        if wf.may_be_absent() && !rf.tolerates_absence() {
            return false;
        }
        let w = strip_optional(&wf.ty);
        let r = strip_optional(&rf.ty);
        self.ty(w, r)
    }

    fn named(&mut self, w: &str, r: &str) -> bool {
        let key = (w.to_owned(), r.to_owned());
        if self.assumed.contains(&key) {
            return true;
        }
        let (Some(wt), Some(rt)) = (self.writer.named(w), self.reader.named(r)) else {
            return false;
        };
        match (&wt.kind, &rt.kind) {
            (TypeShapeKind::Struct(wf), TypeShapeKind::Struct(rf)) => {
                self.assumed.insert(key.clone());
                let ok = self.fields(wf, rf);
                self.assumed.remove(&key);
                ok
            }
            (
                TypeShapeKind::Enum {
                    open: w_open,
                    values: wv,
                },
                TypeShapeKind::Enum {
                    open: r_open,
                    values: rv,
                },
            ) => *r_open || (!*w_open && wv.iter().all(|(v, _)| rv.iter().any(|(x, _)| x == v))),
            _ => false,
        }
    }

    /// A named writer type read as a structural reader type.
    fn named_as(&mut self, w: &str, r: &TypeExpr) -> bool {
        let Some(wt) = self.writer.named(w) else {
            return false;
        };
        match (&wt.kind, r) {
            (TypeShapeKind::Enum { .. }, TypeExpr::Scalar(Scalar::String)) => true,
            (TypeShapeKind::Struct(fields), TypeExpr::Map(r)) => {
                let fields = fields.clone();
                fields.iter().all(|f| self.ty(strip_optional(&f.ty), r))
            }
            _ => false,
        }
    }

    /// A structural writer type read as a named reader type.
    fn as_named(&mut self, w: &TypeExpr, r: &str) -> bool {
        let Some(rt) = self.reader.named(r) else {
            return false;
        };
        match (w, &rt.kind) {
            (TypeExpr::Scalar(Scalar::String), TypeShapeKind::Enum { open, .. }) => *open,
            // A map may hold any keys: only a struct whose every field may be
            // missing reads it, and then only when each value type fits.
            (TypeExpr::Map(w), TypeShapeKind::Struct(fields)) => {
                let fields = fields.clone();
                fields
                    .iter()
                    .all(|f| f.tolerates_absence() && self.ty(w, strip_optional(&f.ty)))
            }
            _ => false,
        }
    }
}

/// The type inside a field-level `?`.
pub(crate) fn strip_optional(ty: &TypeExpr) -> &TypeExpr {
    match ty {
        TypeExpr::Optional(inner) => inner,
        other => other,
    }
}

/// Scalars: serde_json reads an integer into any wider integer and into
/// floats, an `f32` into an `f64`, timestamps and uuids as strings; nothing
/// else. An `f64` does not read as an `f32`: typebus refuses a number
/// beyond `f32::MAX` (serde alone would make it infinity), as it refuses an
/// integer beyond a narrower integer.
fn scalar(w: Scalar, r: Scalar) -> bool {
    use Scalar::*;
    if w == r || r == Json {
        return true;
    }
    matches!(
        (w, r),
        (I32, I64)
            | (U32, I64)
            | (U32, U64)
            | (I32 | I64 | U32 | U64, F32 | F64)
            | (F32, F64)
            | (Timestamp | Uuid, String)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_widening_reads_narrowing_does_not() {
        assert!(scalar(Scalar::I32, Scalar::I64));
        assert!(scalar(Scalar::U32, Scalar::U64));
        assert!(scalar(Scalar::U32, Scalar::I64));
        assert!(!scalar(Scalar::I64, Scalar::I32));
        assert!(!scalar(Scalar::U64, Scalar::U32));
        assert!(!scalar(Scalar::I32, Scalar::U32));
        assert!(!scalar(Scalar::U64, Scalar::I64));
    }

    #[test]
    fn floats_never_read_as_integers() {
        assert!(!scalar(Scalar::F64, Scalar::I64));
        assert!(!scalar(Scalar::F32, Scalar::U64));
        assert!(scalar(Scalar::I64, Scalar::F64));
        assert!(!scalar(Scalar::F64, Scalar::F32));
        assert!(scalar(Scalar::F32, Scalar::F64));
    }

    #[test]
    fn strings_and_json() {
        assert!(scalar(Scalar::Timestamp, Scalar::String));
        assert!(!scalar(Scalar::String, Scalar::Timestamp));
        assert!(scalar(Scalar::Bool, Scalar::Json));
        assert!(!scalar(Scalar::Json, Scalar::String));
    }
}
