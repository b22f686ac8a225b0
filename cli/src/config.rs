//! Where the schemas and the generated file are: flags, else `typebus.toml`
//! (found by walking up from the current directory; its paths are relative
//! to its own directory), else `./schemas` and no output file. Without an
//! output file `generate` stops with a usage error and `check` checks only
//! the schemas and the lock file (the build.rs layout: the code is not
//! checked in).
//!
//! ```toml
//! # typebus.toml
//! schemas = "schemas"
//! out = "generated/src/events.rs"
//! compat = "backward"   # the default rule of events without `compat:`
//! ```
//!
//! `[streams.*]` and `[[listeners]]` describe the NATS side for `provision`
//! and `status` (see [`crate::bus_config`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use typebus_codegen::compat::Rule;

use crate::bus_config::{ListenerSection, StreamsSection};
use crate::error::CliError;

/// The config file's name.
pub(crate) const CONFIG_FILE: &str = "typebus.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    schemas: Option<PathBuf>,
    out: Option<PathBuf>,
    /// The compatibility rule of events that declare none (`compat:`).
    compat: Option<String>,
    #[serde(default)]
    streams: StreamsSection,
    #[serde(default)]
    listeners: Vec<ListenerSection>,
}

/// A path as used (absolute) and as shown to the user.
#[derive(Debug, Clone)]
pub(crate) struct UserPath {
    /// Absolute.
    pub(crate) path: PathBuf,
    /// As the user would type it from the current directory.
    pub(crate) shown: String,
}

/// The resolved paths of a run.
#[derive(Debug)]
pub(crate) struct Paths {
    /// The schema directory.
    pub(crate) schemas: UserPath,
    /// The generated file, when configured.
    pub(crate) out: Option<UserPath>,
    /// The compatibility rule of events that declare none: `compat` in
    /// typebus.toml, else `backward`.
    pub(crate) compat: Rule,
    /// `[streams.*]`: what `provision` creates and `status` checks.
    pub(crate) streams: StreamsSection,
    /// `[[listeners]]`: whose consumers `status` expects.
    pub(crate) listeners: Vec<ListenerSection>,
    /// `--schemas DIR` as the user passed it, to repeat in suggestions.
    schemas_flag: Option<String>,
    /// `--out FILE` as the user passed it.
    out_flag: Option<String>,
}

impl Paths {
    /// Resolves `--schemas` / `--out` against the config file.
    pub(crate) fn resolve(schemas: Option<&Path>, out: Option<&Path>) -> Result<Paths, CliError> {
        let cwd = std::env::current_dir().map_err(|source| CliError::Io {
            what: "the current directory".to_owned(),
            source,
        })?;
        let (config, config_dir) = match find_config(&cwd) {
            Some(file) => {
                let text = std::fs::read_to_string(&file).map_err(|source| CliError::Io {
                    what: format!("`{}`", file.display()),
                    source,
                })?;
                let config: ConfigFile = toml::from_str(&text).map_err(|e| {
                    CliError::Usage(format!(
                        "invalid `{}`: {}",
                        shown(&cwd, &file),
                        e.to_string().trim_end()
                    ))
                })?;
                let dir = file
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| cwd.clone());
                (config, dir)
            }
            None => (ConfigFile::default(), cwd.clone()),
        };
        let flag = |value: &Path| UserPath {
            path: cwd.join(value),
            shown: value.display().to_string(),
        };
        let configured = |value: &Path| {
            let path = config_dir.join(value);
            UserPath {
                shown: shown(&cwd, &path),
                path,
            }
        };
        let (mut schemas_flag, mut out_flag) = (None, None);
        let schemas = match schemas {
            Some(dir) => {
                schemas_flag = Some(format!("--schemas {}", quote(&dir.display().to_string())));
                flag(dir)
            }
            None => configured(config.schemas.as_deref().unwrap_or(Path::new("schemas"))),
        };
        let out = match out {
            Some(file) => {
                out_flag = Some(format!("--out {}", quote(&file.display().to_string())));
                Some(flag(file))
            }
            None => config.out.as_deref().map(configured),
        };
        let compat = match &config.compat {
            None => Rule::DEFAULT,
            Some(text) => text.parse().map_err(|message| {
                CliError::Usage(format!("invalid `{CONFIG_FILE}`: compat: {message}"))
            })?,
        };
        Ok(Paths {
            schemas,
            out,
            compat,
            streams: config.streams,
            listeners: config.listeners,
            schemas_flag,
            out_flag,
        })
    }

    /// The output file, or a usage error saying how to give one.
    pub(crate) fn require_out(&self) -> Result<&UserPath, CliError> {
        self.out.as_ref().ok_or_else(|| {
            CliError::Usage(format!(
                "no output file: pass `--out FILE` or set `out = \"...\"` in {CONFIG_FILE}"
            ))
        })
    }

    /// The lock file: `typebus.lock` in the schema directory.
    pub(crate) fn lock(&self) -> UserPath {
        let name = typebus_codegen::lock::LOCK_FILE_NAME;
        UserPath {
            path: self.schemas.path.join(name),
            shown: format!("{}/{name}", self.schemas.shown.trim_end_matches('/')),
        }
    }

    /// `typebus <command>` with the path flags this run was given
    /// (`--out` only when `with_out`).
    pub(crate) fn command(&self, command: &str, with_out: bool) -> String {
        let mut out = format!("typebus {command}");
        let out_flag = if with_out {
            self.out_flag.as_ref()
        } else {
            None
        };
        for flag in self.schemas_flag.iter().chain(out_flag) {
            out.push(' ');
            out.push_str(flag);
        }
        out
    }
}

fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|file| file.is_file())
}

/// `path` relative to `cwd` when inside it, else absolute.
fn shown(cwd: &Path, path: &Path) -> String {
    match path.strip_prefix(cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// Quotes a path for a shell command line when it needs it.
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '@' | '+' | ',')
        });
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
