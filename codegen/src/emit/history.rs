//! Older released versions ([`Released`]): each version's types in a module
//! of its own, the version's event re-exported beside the newest
//! (`TicketUpdatedV1`), the generated [`Upcast`] to the next version where
//! the change is mechanical, and the newest event's `impl Event` whose
//! `decode_version` decodes every recorded version.
//!
//! A version whose every step to the newest is mechanical is decoded as the
//! newest type directly: a mechanical change is one the newest type reads
//! (fields added as optional or with a default, removed, widened, enum
//! values added), so that costs what decoding the newest version costs.
//! Only a version behind a hand-written step is decoded as its own type and
//! upcast step by step.
//!
//! [`Upcast`]: https://docs.rs/typebus/latest/typebus/trait.Upcast.html

use std::collections::BTreeMap;

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use super::upcast::{Side, Step, step};
use super::{Context, enums, idents, structs};
use crate::model::{EventDef, Model, Released, TypeKind};

/// The released versions of `event`, oldest first.
pub(crate) fn versions_of<'m>(model: &'m Model, event: &EventDef) -> Vec<&'m Released> {
    model
        .history
        .iter()
        .filter(|r| r.event.name == event.name)
        .collect()
}

/// The indices into `versions` of those behind a hand-written step: the
/// versions `decode_version` decodes as their own type and upcasts. Empty
/// when the newest type reads every version itself (then the event keeps
/// the derived `Event` impl).
pub(super) fn upcast_versions(model: &Model, versions: &[&Released]) -> Vec<usize> {
    // Each step analysed once: version i is direct when every step from it
    // on is mechanical.
    let mechanical: Vec<bool> = (0..versions.len())
        .map(|j| step_problem(model, versions, j).is_none())
        .collect();
    (0..versions.len())
        .filter(|&i| !direct(model, versions[i], &mechanical[i..]))
        .collect()
}

/// The module of one older version, its re-export, and its step to the
/// next version (`next`: the next older version, or `None` for the newest).
pub(super) fn released(
    cx: &mut Context<'_>,
    released: &Released,
    next: Option<&Released>,
) -> TokenStream {
    let at = &released.event.location;
    let (module, ident, alias) = match (
        idents::ident(&released.module, at),
        idents::ident(&released.event.ident, at),
        idents::ident(&released.alias, at),
    ) {
        (Ok(module), Ok(ident), Ok(alias)) => (module, ident, alias),
        (module, ident, alias) => {
            for diagnostic in [module.err(), ident.err(), alias.err()]
                .into_iter()
                .flatten()
            {
                cx.error(diagnostic);
            }
            return TokenStream::new();
        }
    };
    let own = own_model(cx.model, released);
    let mut sub = Context::new(&own);
    let mut items = structs::event(&mut sub, &own.events[0], true);
    for def in &released.types {
        items.extend(match &def.kind {
            TypeKind::Struct { fields } => structs::type_struct(&mut sub, def, fields),
            TypeKind::Enum { open, values } => enums::string_enum(&mut sub, def, *open, values),
        });
    }
    for name in &released.shared {
        if let Some(def) = cx.type_def(name)
            && let Ok(shared) = idents::ident(&def.ident, &def.location)
        {
            items.extend(quote! {
                #[allow(unused_imports)]
                pub use super::#shared;
            });
        }
    }
    let next_model;
    let (next_side_model, next_event, next_path) = match next {
        Some(next) => {
            next_model = own_model(cx.model, next);
            let Ok(next_module) = idents::ident(&next.module, at) else {
                return TokenStream::new();
            };
            (
                &next_model,
                &next_model.events[0],
                quote!(super::#next_module::),
            )
        }
        None => {
            let Some(newest) = cx
                .model
                .events
                .iter()
                .find(|e| e.name == released.event.name)
            else {
                return TokenStream::new();
            };
            (cx.model, newest, quote!(super::))
        }
    };
    let shared_of = |r: Option<&Released>, name: &str| match r {
        Some(r) => r.shared.iter().any(|s| s == name),
        None => true,
    };
    let none = BTreeMap::new();
    let old_side = Side {
        model: &own,
        event: &own.events[0],
        path: TokenStream::new(),
        parent: &|name: &str| shared_of(Some(released), name),
        renames: &none,
    };
    let new_side = Side {
        model: next_side_model,
        event: next_event,
        path: next_path,
        parent: &|name: &str| shared_of(next, name),
        renames: renames_in(cx.model, &released.event.name, next_event.version).unwrap_or(&none),
    };
    let step_doc = match step(&old_side, &new_side) {
        Step::Mechanical(tokens) => {
            items.extend(tokens);
            format!(
                "Its upcast to version {} is generated: the change is mechanical.",
                new_side.event.version
            )
        }
        Step::Manual(reason) => format!(
            "Its upcast to version {} is written by hand (`impl typebus::Upcast`), because {reason}.",
            new_side.event.version
        ),
    };
    sub.absorb_into(cx);
    let doc = format!(
        " Version {} of `{}` (`{}`), as recorded in `typebus.lock`. {step_doc}",
        released.event.version, released.event.name, released.event.subject
    );
    quote! {
        #[doc = #doc]
        pub mod #module {
            #items
        }

        #[doc = #doc]
        #[allow(unused_imports)]
        pub use self::#module::#ident as #alias;
    }
}

/// The model an older version's items are emitted from: its event, its
/// own types, and the current types it shares (for lookups only).
fn own_model(model: &Model, released: &Released) -> Model {
    let mut types = released.types.clone();
    types.extend(
        model
            .types
            .iter()
            .filter(|t| released.shared.contains(&t.name))
            .cloned(),
    );
    types.sort_by(|a, b| a.name.cmp(&b.name));
    Model {
        files: Vec::new(),
        types,
        events: vec![released.event.clone()],
        history: Vec::new(),
        evolution: Default::default(),
    }
}

/// The `impl ::typebus::Event` of the newest version of an event with
/// older ones, written out when it differs from the derived one:
/// `READABLE_AS` lists the older versions that read it, and
/// `decode_version` decodes a version behind a hand-written step as its
/// own type and upcasts it (every other version as this type).
pub(super) fn event_impl(
    event: &EventDef,
    ident: &Ident,
    versions: &[&Released],
    upcast: &[usize],
    readable_as: &[u32],
) -> TokenStream {
    let mut arms = TokenStream::new();
    for &i in upcast {
        let released = versions[i];
        let mut chain: Vec<TokenStream> = Vec::new();
        for r in &versions[i..] {
            let Ok(module) = idents::ident(&r.module, &r.event.location) else {
                return TokenStream::new();
            };
            chain.push(quote!(self::#module::#ident));
        }
        chain.push(quote!(#ident));
        let version = Literal::u32_unsuffixed(released.event.version);
        let first = &chain[0];
        let mut body = quote! {
            let event = ::typebus::from_json::<#first>(subject, payload)?;
        };
        for pair in chain.windows(2) {
            let (from, to) = (&pair[0], &pair[1]);
            body.extend(quote! {
                let event = <#from as ::typebus::Upcast<#to>>::upcast(event);
            });
        }
        arms.extend(quote! {
            #version => {
                #body
                ::core::result::Result::Ok(event)
            }
        });
    }
    let subject = &event.subject;
    let version = Literal::u32_unsuffixed(event.version);
    let name = &event.ident.name;
    let decode = (!arms.is_empty()).then(|| {
        quote! {
            fn decode_version(
                version: ::core::primitive::u32,
                subject: &::core::primitive::str,
                payload: &[::core::primitive::u8],
            ) -> ::core::result::Result<Self, ::typebus::DecodeError> {
                match version {
                    #arms
                    _ => ::typebus::from_json::<Self>(subject, payload),
                }
            }
        }
    });
    let readable = (!readable_as.is_empty()).then(|| {
        let versions = readable_as.iter().map(|v| Literal::u32_unsuffixed(*v));
        quote!(const READABLE_AS: &'static [::core::primitive::u32] = &[#(#versions),*];)
    });
    quote! {
        #[automatically_derived]
        impl ::typebus::Event for #ident {
            const SUBJECT: &'static ::core::primitive::str = #subject;
            const VERSION: ::core::primitive::u32 = #version;
            const NAME: &'static ::core::primitive::str = #name;
            #readable
            #decode
        }
    }
}

/// Whether `released`'s bodies are decoded as the newest type directly:
/// the newest type reads them, and every step from that version to the
/// newest is mechanical (so the conversions would give the same value). A
/// field removed and later added back with another type is read only
/// through the steps.
fn direct(model: &Model, released: &Released, mechanical_from_here: &[bool]) -> bool {
    let renamed_since = model
        .evolution
        .get(&released.event.name)
        .is_some_and(|e| e.renames.keys().any(|&v| v > released.event.version));
    released.read_by_current && !renamed_since && mechanical_from_here.iter().all(|&m| m)
}

/// The fields `event` renamed in `version` (new wire name -> old), if any.
fn renames_in<'m>(
    model: &'m Model,
    event: &str,
    version: u32,
) -> Option<&'m BTreeMap<String, String>> {
    model.evolution.get(event)?.renames.get(&version)
}

/// Why the step from `versions[j]` to the next version (the next older
/// one, or the newest) is not mechanical, or `None` when it is.
pub(crate) fn step_problem(model: &Model, versions: &[&Released], j: usize) -> Option<String> {
    let old = own_model(model, versions[j]);
    let next_own;
    let (new_model, new_event, shared): (&Model, &EventDef, Option<&Released>) =
        match versions.get(j + 1) {
            Some(next) => {
                next_own = own_model(model, next);
                (&next_own, &next_own.events[0], Some(next))
            }
            None => match model
                .events
                .iter()
                .find(|e| e.name == versions[j].event.name)
            {
                Some(newest) => (model, newest, None),
                None => return Some("the event is gone".to_owned()),
            },
        };
    let none = BTreeMap::new();
    let old_side = Side {
        model: &old,
        event: &old.events[0],
        path: TokenStream::new(),
        parent: &|name: &str| versions[j].shared.iter().any(|s| s == name),
        renames: &none,
    };
    let new_side = Side {
        model: new_model,
        event: new_event,
        path: quote!(super::),
        parent: &|name: &str| shared.is_none_or(|r| r.shared.iter().any(|s| s == name)),
        renames: renames_in(model, &versions[j].event.name, new_event.version).unwrap_or(&none),
    };
    match step(&old_side, &new_side) {
        Step::Mechanical(_) => None,
        Step::Manual(reason) => Some(reason),
    }
}
