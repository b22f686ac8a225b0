//! Reading the schema directory as it was at a git revision, by shelling
//! out to `git` (`rev-parse`, `ls-tree`, `cat-file`).

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::CliError;

/// A schema directory as stored at a revision.
pub(crate) struct TreeFiles {
    /// `REV:path/from/repo/root`, for locations.
    pub(crate) root: String,
    /// `(path relative to the schema directory, text)`.
    pub(crate) files: Vec<(String, String)>,
}

/// The schema files under `dir` at `rev`. `Ok(None)` when `rev` is not a
/// revision of the repository holding `dir` (or there is none).
pub(crate) fn schema_files_at(dir: &Path, rev: &str) -> Result<Option<TreeFiles>, CliError> {
    // The directory may be gone in the working tree; ask from its nearest
    // existing ancestor.
    let Some(existing) = dir.ancestors().find(|d| d.is_dir()) else {
        return Ok(None);
    };
    let Some(top) = git(existing, &["rev-parse", "--show-toplevel"])? else {
        return Ok(None);
    };
    let top = Path::new(top.trim_end());
    let commit = format!("{rev}^{{commit}}");
    if git(top, &["rev-parse", "--verify", "--quiet", &commit])?.is_none() {
        return Ok(None);
    }
    let top_real = std::fs::canonicalize(top).unwrap_or_else(|_| top.to_path_buf());
    let dir_real = canonical_lenient(dir);
    let rel = dir_real
        .strip_prefix(&top_real)
        .map_err(|_| {
            CliError::Usage(format!(
                "`{}` is not inside the git repository at `{}`",
                dir.display(),
                top.display()
            ))
        })?
        .to_string_lossy()
        .replace('\\', "/");
    let tree = if rel.is_empty() {
        rev.to_owned()
    } else {
        format!("{rev}:{rel}")
    };
    let listing = git(top, &["ls-tree", "-r", "-z", "--name-only", &tree])?.ok_or_else(|| {
        CliError::Usage(format!(
            "`{tree}` does not exist: the schema directory is not in revision `{rev}`"
        ))
    })?;
    let names: Vec<&str> = listing
        .split('\0')
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    if names.is_empty() {
        return Err(CliError::Usage(format!(
            "no schema files (`*.yaml` or `*.yml`) in `{tree}`"
        )));
    }
    let texts = cat_files(top, &tree, &names)?;
    Ok(Some(TreeFiles {
        root: tree,
        files: names.iter().map(|n| (*n).to_owned()).zip(texts).collect(),
    }))
}

/// `dir` canonicalized through its nearest existing ancestor.
fn canonical_lenient(dir: &Path) -> std::path::PathBuf {
    let mut missing = Vec::new();
    let mut at = dir;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            let mut out = real;
            for part in missing.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                at = parent;
            }
            _ => return dir.to_path_buf(),
        }
    }
}

/// Runs git in `dir`; `Ok(None)` when it exits unsuccessfully.
fn git(dir: &Path, args: &[&str]) -> Result<Option<String>, CliError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| CliError::Io {
            what: "`git` (is it installed?)".to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Ok(None);
    }
    String::from_utf8(output.stdout)
        .map(Some)
        .map_err(|_| CliError::Usage("git printed text that is not UTF-8".to_owned()))
}

/// The contents of `tree/name` for every name, with one `git cat-file
/// --batch`.
fn cat_files(top: &Path, tree: &str, names: &[&str]) -> Result<Vec<String>, CliError> {
    let io_error = |source| CliError::Io {
        what: "`git cat-file`".to_owned(),
        source,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_error)?;
    let mut request = String::new();
    for name in names {
        request.push_str(tree);
        request.push('/');
        request.push_str(name);
        request.push('\n');
    }
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| CliError::Usage("cannot talk to `git cat-file`".to_owned()))?;
    // Write from another thread so a large answer cannot dead-lock the pipes.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut raw = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_end(&mut raw).map_err(io_error)?;
    }
    match writer.join() {
        Ok(result) => result.map_err(io_error)?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    child.wait().map_err(io_error)?;
    parse_batch(&raw, names.len()).ok_or_else(|| {
        CliError::Usage(format!("cannot read the schema files of `{tree}` from git"))
    })
}

/// Splits `git cat-file --batch` output: per object a header line
/// `<oid> <type> <size>` then `size` bytes and a newline.
fn parse_batch(mut raw: &[u8], count: usize) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let end = raw.iter().position(|b| *b == b'\n')?;
        let header = std::str::from_utf8(&raw[..end]).ok()?;
        let mut parts = header.split(' ');
        let (_oid, kind, size) = (parts.next()?, parts.next()?, parts.next()?);
        if kind != "blob" {
            return None;
        }
        let size: usize = size.parse().ok()?;
        let body = raw.get(end + 1..end + 1 + size)?;
        out.push(String::from_utf8(body.to_vec()).ok()?);
        raw = raw.get(end + 2 + size..)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_output_is_split_by_declared_sizes() {
        let raw = b"abc blob 3\nx\ny\ndef blob 0\n\n";
        assert_eq!(
            parse_batch(raw, 2),
            Some(vec!["x\ny".to_owned(), String::new()])
        );
    }

    #[test]
    fn missing_objects_are_an_error() {
        assert_eq!(parse_batch(b"HEAD:x missing\n", 1), None);
    }
}
