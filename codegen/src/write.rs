//! Writing generated code: only when the content changed, and atomically
//! (a temporary file in the same directory, then a rename), so a reader or
//! a concurrent build never sees a half-written file and an unchanged file
//! keeps its modification time (no needless rebuilds).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::Error;

/// Writes `contents` to `path` unless it already holds exactly that.
/// Returns whether the file changed. Creates missing parent directories.
pub fn write_if_changed(path: &Path, contents: &str) -> Result<bool, Error> {
    let write_error = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    match fs::read(path) {
        Ok(existing) if existing == contents.as_bytes() => return Ok(false),
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(write_error(err)),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(write_error)?;
    let temp = TempFile::create(&dir, path).map_err(write_error)?;
    temp.write_and_rename(contents.as_bytes(), path)
        .map_err(write_error)?;
    Ok(true)
}

/// A temporary file next to the target, removed on drop unless renamed.
struct TempFile {
    path: PathBuf,
    file: Option<fs::File>,
}

impl TempFile {
    fn create(dir: &Path, target: &Path) -> io::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let stem = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| String::from("out"));
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{stem}.{}.{n}.tmp", std::process::id()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(file),
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
    }

    fn write_and_rename(mut self, contents: &[u8], target: &Path) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.write_all(contents)?;
            file.sync_all()?;
        }
        fs::rename(&self.path, target)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            self.file.take();
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn writes_only_when_changed_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/events.rs");
        assert!(write_if_changed(&path, "one").unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "one");

        let old = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!write_if_changed(&path, "one").unwrap());
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), old);

        assert!(write_if_changed(&path, "two").unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["events.rs"]);
    }

    #[test]
    fn an_unwritable_target_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("events.rs");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let err = write_if_changed(&path, "code").unwrap_err();
        assert!(err.to_string().starts_with("cannot write `"), "{err}");
        assert!(err.to_string().contains("events.rs"), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["events.rs"], "the temporary file is removed");
    }
}
