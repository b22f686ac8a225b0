//! The parts of `#[serde(...)]` that decide an event's wire form: renames,
//! skips, `flatten`, custom (de)serializers, and container attributes that
//! replace the JSON object altogether.
//!
//! Only what the schema check needs is read; every other serde key is
//! skipped. A malformed `#[serde]` attribute is left to serde_derive, which
//! reports it in the same compile.

use proc_macro2::{Span, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned as _;
use syn::{Attribute, LitStr, Token};

use typebus_codegen::serde_case::RenameRule;

/// A rename for serialization and one for deserialization, as serde keeps
/// them (`rename = "x"` sets both; `rename(serialize = "x")` one).
pub(crate) struct Both<T> {
    /// Applies when writing the JSON.
    pub(crate) serialize: Option<T>,
    /// Applies when reading the JSON.
    pub(crate) deserialize: Option<T>,
}

impl<T> Default for Both<T> {
    fn default() -> Self {
        Both {
            serialize: None,
            deserialize: None,
        }
    }
}

/// Container (struct-level) serde attributes.
#[derive(Default)]
pub(crate) struct Container {
    /// `rename_all`, for each direction.
    pub(crate) rename_all: Both<RenameRule>,
    /// A `rename_all` value serde does not know, with its literal (serde
    /// reports it too; the field names are then unknown).
    pub(crate) bad_rename_all: Option<LitStr>,
    /// Keys such as `transparent` or `into` that make the JSON something
    /// other than this struct's fields, with their spans.
    pub(crate) replaces_object: Vec<(String, Span)>,
}

/// Field-level serde attributes.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `rename`, for each direction.
    pub(crate) rename: Both<String>,
    /// `skip`, `skip_serializing` or `skip_deserializing`, at its key.
    pub(crate) skip: Option<(String, Span)>,
    /// `flatten`, at its key.
    pub(crate) flatten: Option<Span>,
    /// `with`, `serialize_with` or `deserialize_with`: the Rust type does not
    /// decide the wire form, so it is not compared with the schema.
    pub(crate) custom: bool,
}

/// Container keys that make the JSON something other than the struct's own
/// fields.
const REPLACES_OBJECT: &[&str] = &["transparent", "from", "try_from", "into", "remote"];

impl Container {
    /// Reads the serde attributes of a struct.
    pub(crate) fn parse(attrs: &[Attribute]) -> Self {
        let mut container = Container::default();
        for attr in serde_attrs(attrs) {
            // Parse errors are serde_derive's to report.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    let (serialize, deserialize) = both_directions(&meta)?;
                    for (lit, slot) in [
                        (serialize, &mut container.rename_all.serialize),
                        (deserialize, &mut container.rename_all.deserialize),
                    ] {
                        if let Some(lit) = lit {
                            match RenameRule::from_name(&lit.value()) {
                                Some(rule) => *slot = Some(rule),
                                None => container.bad_rename_all = Some(lit),
                            }
                        }
                    }
                    return Ok(());
                }
                if let Some(key) = REPLACES_OBJECT.iter().find(|key| meta.path.is_ident(key)) {
                    container
                        .replaces_object
                        .push(((*key).to_owned(), meta.path.span()));
                }
                skip_value(&meta)
            });
        }
        container
    }
}

impl FieldAttrs {
    /// Reads the serde attributes of a field.
    pub(crate) fn parse(attrs: &[Attribute]) -> Self {
        let mut field = FieldAttrs::default();
        for attr in serde_attrs(attrs) {
            let _ = attr.parse_nested_meta(|meta| {
                let key = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match key.as_str() {
                    "rename" => {
                        let (serialize, deserialize) = both_directions(&meta)?;
                        if let Some(lit) = serialize {
                            field.rename.serialize = Some(lit.value());
                        }
                        if let Some(lit) = deserialize {
                            field.rename.deserialize = Some(lit.value());
                        }
                        return Ok(());
                    }
                    "skip" | "skip_serializing" | "skip_deserializing" => {
                        field.skip = Some((key, meta.path.span()));
                    }
                    "flatten" => field.flatten = Some(meta.path.span()),
                    "with" | "serialize_with" | "deserialize_with" => field.custom = true,
                    _ => {}
                }
                skip_value(&meta)
            });
        }
        field
    }
}

/// The `#[serde]` attributes among `attrs`.
fn serde_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("serde"))
}

/// `key = "x"` (both directions) or `key(serialize = "x", deserialize = "y")`.
fn both_directions(meta: &ParseNestedMeta<'_>) -> syn::Result<(Option<LitStr>, Option<LitStr>)> {
    if meta.input.peek(Token![=]) {
        let lit: LitStr = meta.value()?.parse()?;
        return Ok((Some(lit.clone()), Some(lit)));
    }
    let mut serialize = None;
    let mut deserialize = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            serialize = Some(inner.value()?.parse()?);
        } else if inner.path.is_ident("deserialize") {
            deserialize = Some(inner.value()?.parse()?);
        } else {
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok((serialize, deserialize))
}

/// Skips the value of a key this module does not read: `= ...` up to the
/// next comma, or a parenthesised list.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let value = meta.value()?;
        skip_to_comma(value)
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<TokenTree>().map(drop)
    } else {
        Ok(())
    }
}

fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}
