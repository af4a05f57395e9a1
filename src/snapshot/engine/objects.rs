//! Where one computation's new objects go. A few are written loose, as
//! libgit2 writes them, and flushed one by one before the ref moves; past
//! [`PACK_MIN`] (or from the start, when the caller expects many: a burst,
//! a cold first snapshot) they go into one pack ([`crate::git::pack`]),
//! finished and flushed by [`ObjectSink::finish`] before the tree is handed
//! on. A thousand loose objects cost a thousand temporary files, renames
//! and fan-out directory entries, then a flush of the whole file system;
//! one pack costs one file, its index and three flushes.
//!
//! Small writes never make a pack, so a day of edits does not pile up
//! packs: only recordings of at least [`PACK_MIN`] new objects add one, and
//! git's `gc --auto` consolidates them (`gc.autoPackLimit`).
//!
//! Until `finish`, packed objects are only here: the trees among them are
//! kept to be read back ([`ObjectSink::tree`]: a tree patch may descend
//! into a subtree written by the same update).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use git2::{ObjectType, Odb, OdbLookupFlags, Oid};

use crate::git::pack::{Entry, PackWriter};

/// From this many new objects on, a computation's objects go into a pack.
/// Below it the loose objects are flushed one by one (a few milliseconds
/// each at worst); above, a pack's three flushes are cheaper, and the
/// packs stay few enough for `gc --auto` to deal with.
pub(crate) const PACK_MIN: usize = 64;

/// How an object was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The store (or this computation's pack) already had it.
    Existing,
    /// Written as a loose object: to be flushed before a ref points at it.
    Loose,
    /// Added to the pack, durable once [`ObjectSink::finish`] returned.
    Packed,
}

/// One computation's destination for new objects, shared by its threads.
pub(crate) struct ObjectSink {
    objects_dir: PathBuf,
    /// Objects still to be written loose before the rest go to the pack.
    loose_left: AtomicUsize,
    pack: Mutex<Pending>,
}

/// The pack under construction.
#[derive(Default)]
struct Pending {
    writer: Option<PackWriter>,
    ids: HashSet<Oid>,
    /// The packed trees' contents, for [`ObjectSink::tree`].
    trees: HashMap<Oid, Vec<u8>>,
}

impl std::fmt::Debug for ObjectSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSink")
            .field("objects_dir", &self.objects_dir)
            .field("loose_left", &self.loose_left)
            .finish_non_exhaustive()
    }
}

impl ObjectSink {
    /// A sink writing into `objects_dir` (the repository's `objects`).
    pub(crate) fn new(objects_dir: &Path) -> ObjectSink {
        ObjectSink {
            objects_dir: objects_dir.to_path_buf(),
            loose_left: AtomicUsize::new(PACK_MIN),
            pack: Mutex::new(Pending::default()),
        }
    }

    /// Pack every new object from now on (the caller expects many).
    pub(crate) fn pack_from_now(&self) {
        self.loose_left.store(0, Ordering::Relaxed);
    }

    /// Does the next new object go to the pack?
    fn packing(&self) -> bool {
        self.loose_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pack.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write `data` as a `kind` object unless the store or the pack has it.
    pub(crate) fn write(
        &self,
        odb: &Odb<'_>,
        kind: ObjectType,
        data: &[u8],
    ) -> Result<(Oid, Stored), git2::Error> {
        let oid = Oid::hash_object(kind, data)?;
        if odb.exists_ext(oid, OdbLookupFlags::NO_REFRESH) {
            return Ok((oid, Stored::Existing));
        }
        if !self.packing() {
            return Ok((odb.write(kind, data)?, Stored::Loose));
        }
        if self.lock().ids.contains(&oid) {
            return Ok((oid, Stored::Existing));
        }
        // Compressed outside the lock: the threads of a burst share it.
        let entry = Entry::new(oid, kind, data).map_err(pack_error)?;
        let mut pending = self.lock();
        if !pending.ids.insert(oid) {
            return Ok((oid, Stored::Existing));
        }
        if kind == ObjectType::Tree {
            pending.trees.insert(oid, data.to_vec());
        }
        let added = match &mut pending.writer {
            Some(w) => w.add(entry),
            None => PackWriter::create(&self.objects_dir).and_then(|mut w| {
                w.add(entry)?;
                pending.writer = Some(w);
                Ok(())
            }),
        };
        if let Err(e) = added {
            pending.ids.remove(&oid);
            return Err(pack_error(e));
        }
        Ok((oid, Stored::Packed))
    }

    /// The content of tree `oid` if it is in the unfinished pack.
    pub(crate) fn tree(&self, oid: Oid) -> Option<Vec<u8>> {
        self.lock().trees.get(&oid).cloned()
    }

    /// Finish the pack, if anything went into it: from then on its objects
    /// are durable and readable by every process. Returns how many objects
    /// it holds.
    pub(crate) fn finish(&self) -> std::io::Result<usize> {
        let mut pending = self.lock();
        let Some(writer) = pending.writer.take() else {
            return Ok(0);
        };
        let n = writer.len();
        let path = writer.finish()?;
        tracing::debug!(objects = n, pack = %path.display(), "wrote pack");
        pending.ids.clear();
        pending.trees.clear();
        Ok(n)
    }
}

fn pack_error(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&format!("write pack: {e}"))
}
