//! Where one computation's new objects go. Few are written loose, as
//! libgit2 writes them, and flushed one by one before the ref moves; from
//! [`PACK_MIN`] on, all of them go into one pack ([`crate::git::pack`]).
//! Which it is is known only at the end, so the first objects are held in
//! memory until [`ObjectSink::finish`] writes them loose, or until there
//! are enough of them to start the pack (at once when the caller expects
//! many: a burst, a first snapshot). `finish` completes and flushes the
//! pack before the tree is handed on. A thousand loose objects cost a
//! thousand temporary files, renames and fan-out directory entries, then a
//! flush of the whole file system; one pack costs one file, its index and
//! three flushes.
//!
//! Small writes never make a pack, so a day of edits does not pile up
//! packs: only recordings of at least [`PACK_MIN`] new objects add one, and
//! git's `gc --auto` consolidates them (`gc.autoPackLimit`).
//!
//! Until `finish`, the objects kept here are in no store: the trees among
//! them can be read back ([`ObjectSink::tree`]: a tree patch may descend
//! into a subtree written by the same update).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use git2::{ObjectType, Odb, Oid};

use crate::git::pack::{Entry, PackWriter};

/// From this many new objects on, a computation's objects go into a pack.
/// Speed alone would pack even a handful (flushing loose objects one by one
/// costs a few milliseconds each; a pack costs three flushes, whatever its
/// size); the limit keeps packs to bursts, so that they stay few for
/// lookups and for `gc --auto`.
pub(crate) const PACK_MIN: usize = 64;

/// Objects held back (while there are fewer than [`PACK_MIN`]) take at most
/// this much memory; past it they go into a pack.
const HOLD_BYTES: usize = 16 << 20;

/// How an object was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The store (or this sink) already had it.
    Existing,
    /// Written as a loose object: to be flushed before a ref points at it.
    Loose,
    /// Kept by the sink: packed, or written loose by [`ObjectSink::finish`]
    /// (which names those).
    Kept,
}

/// One computation's destination for new objects, shared by its threads.
pub(crate) struct ObjectSink {
    objects_dir: PathBuf,
    /// Every new object goes to the pack (no holding back).
    packing: AtomicBool,
    pending: Mutex<Pending>,
}

/// Objects kept so far.
#[derive(Default)]
struct Pending {
    /// The pack, once there is one.
    writer: Option<PackWriter>,
    /// Objects held back while it is not known whether a pack pays.
    held: Vec<(Oid, ObjectType, Vec<u8>)>,
    held_bytes: usize,
    ids: HashSet<Oid>,
    /// The kept trees' contents, for [`ObjectSink::tree`].
    trees: HashMap<Oid, Vec<u8>>,
}

impl std::fmt::Debug for ObjectSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSink")
            .field("objects_dir", &self.objects_dir)
            .field("packing", &self.packing)
            .finish_non_exhaustive()
    }
}

impl ObjectSink {
    /// A sink writing into `objects_dir` (the repository's `objects`).
    pub(crate) fn new(objects_dir: &Path) -> ObjectSink {
        ObjectSink {
            objects_dir: objects_dir.to_path_buf(),
            packing: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
        }
    }

    /// Pack every new object from now on (the caller expects many).
    pub(crate) fn pack_from_now(&self) {
        self.packing.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep `data`, the `kind` object `oid` the store lacks (see
    /// `super::blob::write_if_missing`), unless the sink has it already.
    pub(crate) fn write(
        &self,
        oid: Oid,
        kind: ObjectType,
        data: &[u8],
    ) -> Result<Stored, git2::Error> {
        if self.lock().ids.contains(&oid) {
            return Ok(Stored::Existing);
        }
        // Compressed outside the lock when packing: a burst's threads
        // share it.
        let entry = match self.packing.load(Ordering::Relaxed) {
            true => Some(Entry::new(oid, kind, data).map_err(pack_error)?),
            false => None,
        };
        let mut p = self.lock();
        if !p.ids.insert(oid) {
            return Ok(Stored::Existing);
        }
        if kind == ObjectType::Tree {
            p.trees.insert(oid, data.to_vec());
        }
        let stored = match entry {
            Some(entry) => self.add(&mut p, entry),
            None if p.writer.is_none()
                && p.held.len() + 1 < PACK_MIN
                && p.held_bytes + data.len() <= HOLD_BYTES =>
            {
                p.held.push((oid, kind, data.to_vec()));
                p.held_bytes += data.len();
                Ok(())
            }
            None => {
                // Enough for a pack: this object and everything after it.
                self.packing.store(true, Ordering::Relaxed);
                Entry::new(oid, kind, data).and_then(|e| self.add(&mut p, e))
            }
        };
        if let Err(e) = stored {
            p.ids.remove(&oid);
            p.trees.remove(&oid);
            return Err(pack_error(e));
        }
        Ok(Stored::Kept)
    }

    /// Add `entry` to the pack, starting it (with the objects held so far)
    /// if need be.
    fn add(&self, p: &mut Pending, entry: Entry) -> std::io::Result<()> {
        if p.writer.is_none() {
            p.writer = Some(PackWriter::create(&self.objects_dir)?);
        }
        let held = std::mem::take(&mut p.held);
        p.held_bytes = 0;
        let w = p.writer.as_mut().expect("just set");
        for (oid, kind, data) in held {
            w.add(Entry::new(oid, kind, &data)?)?;
        }
        w.add(entry)
    }

    /// The content of tree `oid` if this sink kept it.
    pub(crate) fn tree(&self, oid: Oid) -> Option<Vec<u8>> {
        self.lock().trees.get(&oid).cloned()
    }

    /// Put what was kept in the store: the pack finished (durable and
    /// readable by every process from then on), or the few objects held
    /// back written loose through `odb` — returned, as they still need
    /// their flush before a ref may point at them.
    pub(crate) fn finish(&self, odb: &Odb<'_>) -> Result<Vec<Oid>, crate::error::StoreError> {
        use crate::error::StoreError;
        let mut p = self.lock();
        let mut loose = Vec::new();
        if p.writer.is_none() && !self.packing.load(Ordering::Relaxed) {
            for (_, kind, data) in std::mem::take(&mut p.held) {
                loose.push(odb.write(kind, &data).map_err(StoreError::Git)?);
            }
        } else if !p.held.is_empty() {
            // Told to pack after the last write: the held ones go in now.
            let (oid, kind, data) = p.held.pop().expect("not empty");
            let entry = Entry::new(oid, kind, &data).map_err(StoreError::Io)?;
            self.add(&mut p, entry).map_err(StoreError::Io)?;
        }
        if let Some(writer) = p.writer.take() {
            let n = writer.len();
            let path = writer.finish().map_err(StoreError::Io)?;
            tracing::debug!(objects = n, pack = %path.display(), "wrote pack");
        }
        p.held_bytes = 0;
        p.ids.clear();
        p.trees.clear();
        Ok(loose)
    }
}

fn pack_error(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&format!("write pack: {e}"))
}
