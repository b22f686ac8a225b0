//! Generates the old and the new Rust types of every fixture under
//! `rules/<rule>/{old,new}/`, and a registry (`rules.rs`) with, per rule,
//! functions that encode a JSON sample with one side's types and decode
//! bytes with the other side's.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use typebus_codegen::Builder;
use typebus_codegen::model::{Model, RustIdent};

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let rules_dir = manifest.join("rules");
    println!("cargo:rerun-if-changed={}", rules_dir.display());
    let mut names: Vec<String> = fs::read_dir(&rules_dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();

    let mut modules = Vec::new();
    let mut entries = Vec::new();
    for name in &names {
        let rule_dir = rules_dir.join(name);
        let mut sides = Vec::new();
        for side in ["old", "new"] {
            let dir = rule_dir.join(side);
            rerun_for(&dir)?;
            let generated = Builder::new().schema_dir(&dir).generate()?;
            let file = out_dir.join(format!("{name}_{side}.rs"));
            fs::write(&file, generated.code())?;
            sides.push((side, file, generated.model().clone()));
        }
        let module = ident(name);
        let mut items = Vec::new();
        for (side, file, model) in &sides {
            let side_mod = ident(side);
            let file = file.to_string_lossy().into_owned();
            items.push(quote! {
                pub mod #side_mod {
                    include!(#file);
                }
            });
            items.push(codec(side, model));
        }
        modules.push(quote! {
            #[allow(dead_code, missing_docs, clippy::all)]
            pub mod #module {
                #(#items)*
            }
        });
        let dir = rule_dir.to_string_lossy().into_owned();
        entries.push(quote! {
            crate::Rule {
                name: #name,
                dir: #dir,
                old: crate::Side { encode: rules::#module::encode_old, decode: rules::#module::decode_old },
                new: crate::Side { encode: rules::#module::encode_new, decode: rules::#module::decode_new },
            }
        });
    }
    let registry = quote! {
        /// The generated old and new types of every rule.
        pub mod rules {
            #(#modules)*
        }
        /// Every rule, sorted by name.
        pub static RULES: &[crate::Rule] = &[#(#entries),*];
    };
    fs::write(out_dir.join("rules.rs"), registry.to_string())?;
    Ok(())
}

/// `encode_<side>(subject, json)` and `decode_<side>(subject, bytes)` over
/// the side's events.
fn codec(side: &str, model: &Model) -> TokenStream {
    let side_mod = ident(side);
    let encode = ident(&format!("encode_{side}"));
    let decode = ident(&format!("decode_{side}"));
    let subjects: Vec<&str> = model.events.iter().map(|e| e.subject.as_str()).collect();
    let types: Vec<Ident> = model.events.iter().map(|e| rust_ident(&e.ident)).collect();
    quote! {
        /// Decodes `json` into this side's type for `subject`, then writes
        /// it back: the bytes this side's publishers would send.
        pub fn #encode(subject: &str, json: &str) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
            match subject {
                #(#subjects => {
                    let event: #side_mod::#types = ::serde_json::from_str(json)
                        .map_err(|e| ::std::format!("sample does not fit `{}`: {e}", subject))?;
                    ::serde_json::to_vec(&event).map_err(|e| e.to_string())
                })*
                _ => ::core::result::Result::Err(::std::format!("no event on `{}` on this side", subject)),
            }
        }
        /// Decodes `bytes` as this side's listeners would.
        pub fn #decode(subject: &str, bytes: &[u8]) -> ::core::result::Result<(), crate::Failure> {
            match subject {
                #(#subjects => ::typebus::from_json::<#side_mod::#types>(subject, bytes)
                    .map(drop)
                    .map_err(|e| crate::Failure::Decode(e.to_string())),)*
                _ => ::core::result::Result::Err(crate::Failure::UnknownSubject),
            }
        }
    }
}

fn rust_ident(ident: &RustIdent) -> Ident {
    if ident.raw {
        Ident::new_raw(&ident.name, Span::call_site())
    } else {
        Ident::new(&ident.name, Span::call_site())
    }
}

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

fn rerun_for(dir: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in fs::read_dir(dir)? {
        println!("cargo:rerun-if-changed={}", entry?.path().display());
    }
    Ok(())
}
