//! Output files: names derived from the common name, exclusive creation, and private files
//! created with mode 0600.
//!
//! Nothing here ever overwrites an existing file: [`create_new`] and [`create_private`] use
//! `O_CREAT | O_EXCL` (`OpenOptions::create_new`), and [`refuse_existing`] lets a command check
//! every file it will write *before* it orders anything.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use secrecy::zeroize::Zeroizing;

/// Errors while writing output files.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// One or more output files already exist.
    #[error("refusing to overwrite existing file(s): {}; choose another --out or --name, or move them away", list(.0))]
    Exists(Vec<PathBuf>),
    /// Any other I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Derives a safe file stem from a common name: ASCII letters and digits are kept
/// (lower-cased), every other run of characters becomes a single `-`, and leading or
/// trailing `-` are dropped; at most 64 characters. `"Locke Cole"` gives `locke-cole`.
/// Returns `None` when nothing usable is left (e.g. a name made only of symbols).
pub fn derive_name(common_name: &str) -> Option<String> {
    let mut out = String::new();
    let mut dash = false;
    for c in common_name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
        if out.len() >= 64 {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Checks that `name` is a safe file stem for `--name`: non-empty, at most 100 characters,
/// only ASCII letters, digits, `.`, `_` and `-`, not starting with `.` or `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 100 || !ok_chars || name.starts_with(['.', '-']) {
        return Err(format!(
            "invalid --name {name:?}: use 1 to 100 ASCII letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// The files an order writes, all in one directory and named after one stem.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderFiles {
    /// `<name>.key`: the private key (PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
    /// `<name>.csr`: the certificate signing request (PEM).
    pub csr: PathBuf,
    /// `<name>.order.json`: order id, request ids and status, to resume later.
    pub order: PathBuf,
    /// `<name>.crt`: the issued certificate, leaf first then the chain (PEM).
    pub crt: PathBuf,
    /// `<name>.p12`: PKCS#12 with the key and the chain (mode 0600).
    pub p12: PathBuf,
    /// `<name>.p12.pass`: the generated PKCS#12 password (mode 0600).
    pub p12_pass: PathBuf,
}

impl OrderFiles {
    /// The files for stem `name` in directory `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let f = |ext: &str| dir.join(format!("{name}.{ext}"));
        Self {
            key: f("key"),
            csr: f("csr"),
            order: f("order.json"),
            crt: f("crt"),
            p12: f("p12"),
            p12_pass: f("p12.pass"),
        }
    }
}

/// Fails with [`FileError::Exists`] listing every path of `paths` that already exists (or is
/// a dangling symlink).
pub fn refuse_existing<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<(), FileError> {
    let existing: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .map(Path::to_path_buf)
        .collect();
    if existing.is_empty() {
        Ok(())
    } else {
        Err(FileError::Exists(existing))
    }
}

/// Creates directory `dir` (and its parents) when missing.
pub fn ensure_dir(dir: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(dir).map_err(|source| FileError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn create(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            FileError::Exists(vec![path.to_path_buf()])
        } else {
            io(source)
        }
    })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a file holding a secret (an API key, a private key, a password) into memory that is
/// wiped when dropped. The buffer is sized from the file's length before reading, so reading
/// does not reallocate and leave unwiped copies behind.
pub fn read_secret(path: &Path) -> std::io::Result<Zeroizing<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut text = Zeroizing::new(String::new());
    // One byte more than the content, for the read that sees the end of the file.
    text.reserve(usize::try_from(len).unwrap_or(0).saturating_add(1));
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// Creates `path` exclusively (never overwrites) with mode 0600 and writes `bytes`: for
/// private keys, PKCS#12 files and passwords.
pub fn create_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    create(path, bytes, 0o600)
}

/// Creates `path` exclusively (never overwrites) with mode 0644 (less the umask) and writes
/// `bytes`: for CSRs, certificates and order records.
pub fn create_new(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    create(path, bytes, 0o644)
}

/// Replaces the content of a non-secret file this tool wrote earlier (the order record, a
/// bulk row's CSR), atomically: the bytes go to a fresh temporary file with a random name in the
/// same directory (`tempfile`), are synced, and the file is renamed over `path`. A crash at any
/// point leaves either the old or the new content at `path`, and a temporary file left by a
/// crash never blocks a later write (its name is never reused).
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{stem}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_secret_reads_the_whole_file_into_wiped_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let text: Zeroizing<String> = read_secret(&path).unwrap();
        assert_eq!(text.as_str(), "s3cret\n");
        // Sized before reading: the content fits the first allocation.
        assert!(text.capacity() <= "s3cret\n".len() + 1);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_secret(&path).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        assert_eq!(
            read_secret(&dir.path().join("missing")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn derives_names() {
        assert_eq!(derive_name("Locke Cole").as_deref(), Some("locke-cole"));
        assert_eq!(
            derive_name("  Dr. José  O'Brien ").as_deref(),
            Some("dr-jos-o-brien")
        );
        assert_eq!(
            derive_name("../../etc/passwd").as_deref(),
            Some("etc-passwd")
        );
        assert_eq!(derive_name("ÉÉ"), None);
        assert_eq!(
            derive_name("a".repeat(200).as_str()).map(|s| s.len()),
            Some(64)
        );
    }

    #[test]
    fn checks_names() {
        assert!(check_name("locke-cole_2.v1").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_files_are_0600_and_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        create_private(&path, b"secret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = create_private(&path, b"other").unwrap_err();
        assert!(matches!(err, FileError::Exists(_)), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let err = refuse_existing([path.as_path(), dir.path().join("nope").as_path()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to overwrite existing file(s): {}; choose another --out or --name, or move them away",
                path.display()
            )
        );
    }

    #[test]
    fn replace_overwrites_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.order.json");
        create_new(&path, b"1").unwrap();
        replace(&path, b"2").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2");
    }

    #[test]
    fn replace_ignores_temporary_files_a_crash_left_and_leaves_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.order.json");
        create_new(&path, b"1").unwrap();
        // What the old fixed-name scheme left after a crash between write and rename.
        std::fs::write(dir.path().join("a.order.json.tmp"), b"stale").unwrap();
        replace(&path, b"2").unwrap();
        replace(&path, b"3").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"3");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.order.json", "a.order.json.tmp"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & !0o022, 0o644 & !0o022, "{mode:o}");
            assert_eq!(mode & 0o077 & !0o044, 0, "{mode:o}");
        }
    }
}
