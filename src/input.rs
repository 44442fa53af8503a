//! Step 0: reading the files Pharos is given (config, posts, locales, templates, state,
//! ledgers, heartbeats). Only regular files are read, never more than a documented limit
//! checked before reading, and files that must come from the project are read only from
//! inside it. A refusal names the file, what it is, and the limit.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// What a kind of file may weigh. The README's limits table lists these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, for messages: "a config file".
    pub what: &'static str,
    /// The most bytes it may hold.
    pub bytes: u64,
}

const MIB: u64 = 1024 * 1024;

/// components.yaml and probes.yaml (a page of 2,000 components is about 300 KiB).
pub const CONFIG: Limit = Limit {
    what: "a config file",
    bytes: 8 * MIB,
};
/// The samples a worker kept while its store was away (`state::spool`).
pub const SPOOL: Limit = Limit {
    what: "a spool file",
    bytes: 256 * MIB,
};
/// One incident or maintenance post.
pub const POST: Limit = Limit {
    what: "a post",
    bytes: MIB,
};
/// A theme's locale file.
pub const LOCALE: Limit = Limit {
    what: "a locale file",
    bytes: MIB,
};
/// A theme's template.
pub const TEMPLATE: Limit = Limit {
    what: "a template",
    bytes: MIB,
};
/// A file of a theme's `static/` folder, copied into the site.
pub const STATIC: Limit = Limit {
    what: "a theme's static file",
    bytes: 16 * MIB,
};
/// One region's state file.
pub const STATE: Limit = Limit {
    what: "a region's state file",
    bytes: 64 * MIB,
};
/// The announcement ledger.
pub const LEDGER: Limit = Limit {
    what: "the announcement ledger",
    bytes: 16 * MIB,
};
/// A push probe's heartbeat.
pub const HEARTBEAT: Limit = Limit {
    what: "a heartbeat",
    bytes: 64 * 1024,
};
/// A CA bundle (`tls_ca_file`) or a file a target names (a key, a certificate).
pub const CREDENTIAL: Limit = Limit {
    what: "a certificate or key file",
    bytes: MIB,
};

/// Why a file was not read.
#[derive(Debug)]
pub enum Refused {
    /// It does not exist.
    Missing,
    /// It is not a regular file.
    NotAFile(&'static str),
    /// It is larger than its limit.
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// The limit it broke.
        limit: Limit,
    },
    /// Its text is not UTF-8: the first bad byte is at this line and column.
    NotUtf8 {
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (in characters) of the first bad byte.
        col: usize,
    },
    /// It lies outside the folder it must come from (a symbolic link out of it).
    Outside(String),
    /// The system refused to read it.
    Io(std::io::Error),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Missing => write!(f, "no such file"),
            Refused::NotAFile(kind) => write!(
                f,
                "is {kind}, not a regular file; only regular files are read: replace it with one"
            ),
            Refused::TooLarge { size, limit } => write!(
                f,
                "is {} bytes, more than the {} bytes {} may hold; make it smaller (see README, Limits)",
                size, limit.bytes, limit.what
            ),
            Refused::NotUtf8 { line, col } => write!(
                f,
                "is not UTF-8 text: the first bad byte is at line {line}, column {col}; save it as UTF-8"
            ),
            Refused::Outside(dir) => write!(
                f,
                "leads outside {dir} (a symbolic link); only files inside it are read: copy the file in instead"
            ),
            Refused::Io(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// Whether the file is simply not there.
    pub fn is_missing(&self) -> bool {
        matches!(self, Refused::Missing)
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Read the bytes of the regular file at `path`, at most `limit`. The file is opened
/// without blocking (a FIFO never hangs the read), its type and size are checked on the
/// open file, and no more than the limit is ever read even if it grows meanwhile.
pub fn read_bytes(path: &Path, limit: Limit) -> Result<Vec<u8>, Refused> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Refused::Missing,
            _ => Refused::Io(e),
        })?;
    let meta = file.metadata().map_err(Refused::Io)?;
    if !meta.file_type().is_file() {
        return Err(Refused::NotAFile(kind_of(meta.file_type())));
    }
    if meta.len() > limit.bytes {
        return Err(Refused::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(Refused::Io)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(Refused::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bytes`] as UTF-8 text; a byte-order mark is kept for the parser to drop.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, Refused> {
    let bytes = read_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Valid up to here by construction.
        let before = std::str::from_utf8(good).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Refused::NotUtf8 { line, col }
    })
}

/// [`read_text`] of a file that must lie inside `dir` (after following links); `shown`
/// names `dir` in the refusal.
pub fn read_text_within(
    path: &Path,
    dir: &Path,
    shown: &str,
    limit: Limit,
) -> Result<String, Refused> {
    within(path, dir, shown)?;
    read_text(path, limit)
}

/// What a file's metadata says of its bytes, for a rebuild loop: when a file's stamp is
/// the one it had when it was last read, its bytes are taken to be the same and it is not
/// read again (git's index does the same). A stamp is only given to a regular file (not
/// a link, whose target can change under an unchanged link) whose last change is at
/// least [`Stamp::SETTLED`] old: a write within the file system's timestamp granularity
/// of the one before leaves the same times, so a file that changed just now is always
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// How old a file's last change must be for its stamp to be trusted.
    pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

    /// The stamp of `path` as it is now, if it has one that can be trusted.
    pub fn of(path: &Path) -> Option<Stamp> {
        Stamp::of_metadata(&std::fs::symlink_metadata(path).ok()?)
    }

    /// The stamp of a file whose metadata (not following a link) is `meta`, as
    /// `std::fs::DirEntry::metadata` gives it from its folder without a lookup by path.
    pub fn of_metadata(meta: &std::fs::Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        if !meta.file_type().is_file() {
            return None;
        }
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                u64::try_from(meta.ctime()).ok()?,
                u32::try_from(meta.ctime_nsec()).ok()?,
            );
        let age = std::time::SystemTime::now().duration_since(changed).ok()?;
        (age >= Stamp::SETTLED).then(|| Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// [`read_bytes`] of a file that must lie inside `dir`.
pub fn read_bytes_within(
    path: &Path,
    dir: &Path,
    shown: &str,
    limit: Limit,
) -> Result<Vec<u8>, Refused> {
    within(path, dir, shown)?;
    read_bytes(path, limit)
}

/// Refuse `path` when its real path is outside `dir`'s. `path` lies below `dir`, so only
/// a symbolic link on the way can lead out: without one (an `lstat` per step, usually one
/// or two) nothing more is resolved.
fn within(path: &Path, dir: &Path, shown: &str) -> Result<(), Refused> {
    let mut step = path;
    let mut linked = false;
    while step != dir && !step.as_os_str().is_empty() {
        match std::fs::symlink_metadata(step) {
            Ok(meta) if meta.file_type().is_symlink() => {
                linked = true;
                break;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refused::Missing),
            Err(e) => return Err(Refused::Io(e)),
        }
        match step.parent() {
            Some(parent) => step = parent,
            None => break,
        }
    }
    if !linked && path.starts_with(dir) {
        return Ok(());
    }
    let real = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Refused::Missing,
        _ => Refused::Io(e),
    })?;
    let dir = std::fs::canonicalize(dir).map_err(Refused::Io)?;
    if real.starts_with(&dir) {
        Ok(())
    } else {
        Err(Refused::Outside(shown.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limit = Limit {
        what: "a test file",
        bytes: 16,
    };

    #[test]
    fn only_regular_files_within_their_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "fine").unwrap();
        assert_eq!(read_text(&ok, SMALL).unwrap(), "fine");

        let big = dir.path().join("big");
        std::fs::write(&big, [b'x'; 17]).unwrap();
        let e = read_text(&big, SMALL).unwrap_err();
        assert_eq!(
            e.to_string(),
            "is 17 bytes, more than the 16 bytes a test file may hold; make it smaller (see README, Limits)"
        );

        let e = read_text(dir.path(), SMALL).unwrap_err();
        assert!(e.to_string().starts_with("is a folder,"), "{e}");
        let e = read_text(Path::new("/dev/zero"), SMALL).unwrap_err();
        assert!(e.to_string().starts_with("is a device,"), "{e}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = read_text(&fifo, SMALL).unwrap_err();
        assert!(e.to_string().starts_with("is a named pipe (FIFO),"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(read_text(&link, SMALL), Err(Refused::NotAFile(_))));
        assert!(
            read_text(&dir.path().join("none"), SMALL)
                .unwrap_err()
                .is_missing()
        );
    }

    #[test]
    fn bad_utf8_is_located_and_links_out_of_the_folder_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"ok\nab\xffc").unwrap();
        let e = read_text(&bad, SMALL).unwrap_err();
        assert!(matches!(e, Refused::NotUtf8 { line: 2, col: 3 }), "{e}");

        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        let outside = dir.path().join("secret");
        std::fs::write(&outside, "s").unwrap();
        std::os::unix::fs::symlink(&outside, inner.join("x.md")).unwrap();
        let e = read_text_within(&inner.join("x.md"), &inner, "incidents/", SMALL).unwrap_err();
        assert!(e.to_string().starts_with("leads outside incidents/"), "{e}");
        // A linked folder on the way leads out as well.
        std::os::unix::fs::symlink(dir.path(), inner.join("up")).unwrap();
        let e = read_text_within(&inner.join("up/secret"), &inner, "incidents/", SMALL);
        assert!(matches!(e, Err(Refused::Outside(_))), "{e:?}");
        std::fs::write(inner.join("y.md"), "y").unwrap();
        assert_eq!(
            read_text_within(&inner.join("y.md"), &inner, "incidents/", SMALL).unwrap(),
            "y"
        );
    }
}
