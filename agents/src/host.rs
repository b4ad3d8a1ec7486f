//! Reading the host's file system from inside the agent's container.
//!
//! Every path is a host path resolved under the host root; symlinks are followed by hand so that an absolute
//! link target lands inside the host root, never in the agent container's own file system. Each path is
//! lstat'ed, listed and read at most once per scan: results are cached, and the counters let tests prove it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// Symlink hops allowed while resolving one path (Linux allows 40).
const MAX_SYMLINK_HOPS: u32 = 40;
/// Largest file the agent reads: configs and manifests are small; anything bigger is not what we look for.
pub const MAX_READ_BYTES: u64 = 4 * 1024 * 1024;

/// An I/O failure, cloneable so that it can be cached; its text never quotes file content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsError {
    pub kind: io::ErrorKind,
    pub message: String,
}

impl FsError {
    fn from_io(err: &io::Error) -> Self {
        let message = match err.kind() {
            io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => err.to_string(),
        };
        FsError {
            kind: err.kind(),
            message,
        }
    }

    fn other(message: impl Into<String>) -> Self {
        FsError {
            kind: io::ErrorKind::Other,
            message: message.into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == io::ErrorKind::NotFound
    }
}

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How often each real path was touched; a scan must touch each at most once.
#[derive(Debug, Default, Clone)]
pub struct IoCounters {
    pub lstats: HashMap<PathBuf, u32>,
    pub reads: HashMap<PathBuf, u32>,
    pub listings: HashMap<PathBuf, u32>,
}

impl IoCounters {
    /// Paths touched more than once by the same kind of operation.
    pub fn repeated(&self) -> Vec<(String, &Path, u32)> {
        let mut repeated = Vec::new();
        for (kind, map) in [
            ("lstat", &self.lstats),
            ("read", &self.reads),
            ("list", &self.listings),
        ] {
            for (path, count) in map {
                if *count > 1 {
                    repeated.push((kind.to_owned(), path.as_path(), *count));
                }
            }
        }
        repeated
    }

    pub fn files_read(&self) -> usize {
        self.reads.len()
    }
}

/// Results of one kind of operation, by host path, failures included (they are answers too).
type Cache<T> = RefCell<HashMap<PathBuf, Result<T, FsError>>>;

/// The host's file system as seen under `root`.
#[derive(Debug)]
pub struct HostFs {
    root: PathBuf,
    lstat_cache: Cache<Metadata>,
    link_cache: Cache<PathBuf>,
    read_cache: Cache<Rc<Vec<u8>>>,
    list_cache: Cache<Rc<Vec<String>>>,
    counters: RefCell<IoCounters>,
}

impl HostFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostFs {
            root: root.into(),
            lstat_cache: RefCell::default(),
            link_cache: RefCell::default(),
            read_cache: RefCell::default(),
            list_cache: RefCell::default(),
            counters: RefCell::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn counters(&self) -> IoCounters {
        self.counters.borrow().clone()
    }

    /// The real path of a host path, without resolving anything.
    fn real(&self, host_path: &Path) -> PathBuf {
        let relative = host_path.strip_prefix("/").unwrap_or(host_path);
        if relative.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(relative)
        }
    }

    fn lstat_host(&self, host_path: &Path) -> Result<Metadata, FsError> {
        if let Some(cached) = self.lstat_cache.borrow().get(host_path) {
            return cached.clone();
        }
        let real = self.real(host_path);
        *self
            .counters
            .borrow_mut()
            .lstats
            .entry(real.clone())
            .or_default() += 1;
        let result = fs::symlink_metadata(&real).map_err(|err| FsError::from_io(&err));
        self.lstat_cache
            .borrow_mut()
            .insert(host_path.to_owned(), result.clone());
        result
    }

    fn read_link_host(&self, host_path: &Path) -> Result<PathBuf, FsError> {
        if let Some(cached) = self.link_cache.borrow().get(host_path) {
            return cached.clone();
        }
        let result = fs::read_link(self.real(host_path)).map_err(|err| FsError::from_io(&err));
        self.link_cache
            .borrow_mut()
            .insert(host_path.to_owned(), result.clone());
        result
    }

    /// Resolves every symlink of a host path inside the host root; the result names no symlink.
    pub fn resolve(&self, host_path: &str) -> Result<PathBuf, FsError> {
        if !host_path.starts_with('/') {
            return Err(FsError::other(format!(
                "\"{host_path}\" is not an absolute path"
            )));
        }
        let mut resolved = PathBuf::from("/");
        let mut pending: VecDeque<OsString> = normal_parts(Path::new(host_path));
        let mut hops = 0;
        while let Some(part) = pending.pop_front() {
            if part == ".." {
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&part);
            let metadata = self.lstat_host(&candidate)?;
            if !metadata.file_type().is_symlink() {
                resolved = candidate;
                continue;
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(FsError::other("too many levels of symbolic links"));
            }
            let target = self.read_link_host(&candidate)?;
            if target.is_absolute() {
                // The host's absolute links point into the host, which is under our root.
                resolved = PathBuf::from("/");
            }
            for (index, target_part) in normal_parts(&target).into_iter().enumerate() {
                pending.insert(index, target_part);
            }
        }
        Ok(resolved)
    }

    /// Follows symlinks and returns the resolved host path with its metadata.
    pub fn stat(&self, host_path: &str) -> Result<(PathBuf, Metadata), FsError> {
        let resolved = self.resolve(host_path)?;
        let metadata = self.lstat_host(&resolved)?;
        Ok((resolved, metadata))
    }

    /// The metadata of a directory entry, without following it if it is a symlink.
    pub fn lstat_in(&self, resolved_dir: &Path, name: &str) -> Result<Metadata, FsError> {
        self.lstat_host(&resolved_dir.join(name))
    }

    /// Whether a host path exists (following symlinks).
    pub fn exists(&self, host_path: &str) -> bool {
        self.stat(host_path).is_ok()
    }

    /// Reads a whole file, at most [`MAX_READ_BYTES`].
    pub fn read(&self, host_path: &str) -> Result<Rc<Vec<u8>>, FsError> {
        let (resolved, metadata) = self.stat(host_path)?;
        if let Some(cached) = self.read_cache.borrow().get(&resolved) {
            return cached.clone();
        }
        let result = if !metadata.is_file() {
            Err(FsError::other("not a regular file"))
        } else if metadata.len() > MAX_READ_BYTES {
            Err(FsError::other(format!(
                "larger than {} MiB",
                MAX_READ_BYTES / 1024 / 1024
            )))
        } else {
            let real = self.real(&resolved);
            *self
                .counters
                .borrow_mut()
                .reads
                .entry(real.clone())
                .or_default() += 1;
            read_bounded(&real).map(Rc::new)
        };
        self.read_cache
            .borrow_mut()
            .insert(resolved, result.clone());
        result
    }

    /// Lists a directory's entry names, sorted bytewise.
    pub fn list(&self, host_path: &str) -> Result<(PathBuf, Rc<Vec<String>>), FsError> {
        let (resolved, metadata) = self.stat(host_path)?;
        if let Some(cached) = self.list_cache.borrow().get(&resolved) {
            return cached.clone().map(|names| (resolved, names));
        }
        let result = if !metadata.is_dir() {
            Err(FsError::other("not a directory"))
        } else {
            let real = self.real(&resolved);
            *self
                .counters
                .borrow_mut()
                .listings
                .entry(real.clone())
                .or_default() += 1;
            list_names(&real).map(Rc::new)
        };
        self.list_cache
            .borrow_mut()
            .insert(resolved.clone(), result.clone());
        result.map(|names| (resolved, names))
    }
}

fn normal_parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn read_bounded(real: &Path) -> Result<Vec<u8>, FsError> {
    let file = fs::File::open(real).map_err(|err| FsError::from_io(&err))?;
    let mut content = Vec::new();
    // The size was checked by stat, but a file can grow between the two calls.
    file.take(MAX_READ_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(|err| FsError::from_io(&err))?;
    if content.len() as u64 > MAX_READ_BYTES {
        return Err(FsError::other(
            "grew beyond the read limit while being read",
        ));
    }
    Ok(content)
}

fn list_names(real: &Path) -> Result<Vec<String>, FsError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(real).map_err(|err| FsError::from_io(&err))? {
        let entry = entry.map_err(|err| FsError::from_io(&err))?;
        // Names that are not UTF-8 cannot be any file the benchmark names.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlinks_resolve_inside_the_host_root() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/kubernetes/real")).unwrap();
        fs::write(root.path().join("etc/kubernetes/real/kubelet.conf"), "x").unwrap();
        symlink(
            "/etc/kubernetes/real/kubelet.conf",
            root.path().join("etc/kubernetes/kubelet.conf"),
        )
        .unwrap();
        // A relative link that tries to climb out of the root stops at the root.
        symlink(
            "../../../../../etc/kubernetes/real",
            root.path().join("etc/climb"),
        )
        .unwrap();
        let host = HostFs::new(root.path());
        assert_eq!(
            host.resolve("/etc/kubernetes/kubelet.conf").unwrap(),
            PathBuf::from("/etc/kubernetes/real/kubelet.conf")
        );
        assert_eq!(
            host.resolve("/etc/climb/kubelet.conf").unwrap(),
            PathBuf::from("/etc/kubernetes/real/kubelet.conf")
        );
        assert_eq!(&*host.read("/etc/kubernetes/kubelet.conf").unwrap(), b"x");
    }

    #[test]
    fn symlink_loops_end_in_an_error() {
        let root = tempfile::tempdir().unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        symlink("/a", root.path().join("b")).unwrap();
        let host = HostFs::new(root.path());
        let err = host.stat("/a").unwrap_err();
        assert!(err.message.contains("symbolic links"), "{err}");
    }

    #[test]
    fn each_path_is_read_and_stated_once() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("f"), "x").unwrap();
        let host = HostFs::new(root.path());
        for _ in 0..3 {
            host.read("/f").unwrap();
            host.stat("/f").unwrap();
        }
        assert!(host.counters().repeated().is_empty());
        assert_eq!(host.counters().files_read(), 1);
    }
}
