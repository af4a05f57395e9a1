//! Linux: raw inotify, one non-recursive watch per directory of the watch
//! set, its events handed on as [`notify::Event`]s (what
//! [`classify`](super::classify) and the daemon take).
//!
//! Why not `notify`'s inotify backend: every `watch` call there is a round
//! trip to its event-loop thread (plus a `stat`), so start-up paid two
//! context switches per directory; it subscribes to `IN_OPEN`, so the
//! start-up scan's own opening of every directory came back as events
//! (tens of MiB queued in the channel at 100k files, all meaning
//! "nothing"); and it keeps two maps of owned paths per watch. Here a
//! watch is one `inotify_add_watch` in the caller's thread, the mask holds
//! only what can change a snapshot, and one map (descriptor → path)
//! shared with the reader thread names the events.
//!
//! Event translation (kept as `notify` did it, so the daemon's semantics
//! are unchanged): `IN_Q_OVERFLOW` → an `Other` event flagged
//! [`notify::event::Flag::Rescan`]; `IN_MOVED_FROM`/`IN_MOVED_TO` →
//! `Modify(Name(From/To))` with the cookie as tracker; `IN_MOVE_SELF` →
//! `Modify(Name(From))` of the watched directory; `IN_CREATE`/`IN_DELETE`
//! → `Create`/`Remove` (folder or file); `IN_DELETE_SELF` →
//! `Remove(Folder)`; `IN_MODIFY` → `Modify(Data)`; `IN_CLOSE_WRITE` →
//! `Access(Close(Write))`; `IN_ATTRIB` → `Modify(Metadata)`;
//! `IN_IGNORED` (the kernel dropped a watch: its directory is gone) only
//! forgets the descriptor. Running out of watches (`ENOSPC`) is
//! [`notify::ErrorKind::MaxFilesWatch`], which the daemon turns into
//! polling with the sysctl message.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use notify::event::{
    AccessKind, AccessMode, CreateKind, DataChange, EventKind, Flag, MetadataKind, ModifyKind,
    RemoveKind, RenameMode,
};
use notify::Event;
use rustix::fs::inotify::{self, ReadFlags, WatchFlags};
use rustix::io::Errno;

use super::dirs::OsWatch;

/// What a watch asks the kernel for: whatever can change a snapshot, and
/// nothing that a read causes (`IN_OPEN`, `IN_ACCESS`, `IN_CLOSE_NOWRITE`).
const MASK: WatchFlags = WatchFlags::ATTRIB
    .union(WatchFlags::CREATE)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

/// Watch descriptors and the directories they name. Paths are shared
/// between the two directions (one allocation per watch).
#[derive(Default)]
struct Watches {
    by_wd: HashMap<i32, Arc<Path>>,
    by_path: HashMap<Arc<Path>, i32>,
}

impl Watches {
    fn insert(&mut self, wd: i32, path: &Path) {
        // The same directory again (or a hard-linked alias): one descriptor.
        if let Some(old) = self.by_wd.get(&wd) {
            self.by_path.remove(old);
        }
        if let Some(old_wd) = self.by_path.get(path).copied() {
            self.by_wd.remove(&old_wd);
        }
        let path: Arc<Path> = Arc::from(path);
        self.by_wd.insert(wd, Arc::clone(&path));
        self.by_path.insert(path, wd);
    }

    fn remove_wd(&mut self, wd: i32) {
        if let Some(path) = self.by_wd.remove(&wd) {
            if self.by_path.get(&path) == Some(&wd) {
                self.by_path.remove(&path);
            }
        }
    }
}

/// One inotify instance and the thread that reads it.
pub(crate) struct Inotify {
    adder: Adder,
    /// Closing (dropping) the write end wakes the reader to exit.
    stop: Option<OwnedFd>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Adds and removes watches of an [`Inotify`] from any thread: the
/// start-up scan's walker threads watch each directory right before they
/// list it.
pub(crate) struct Adder {
    fd: Arc<OwnedFd>,
    watches: Arc<Mutex<Watches>>,
}

impl Inotify {
    /// An instance whose events go to `handler`, from a thread of its own.
    pub(crate) fn new(handler: impl notify::EventHandler) -> notify::Result<Inotify> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| watch_error(e, None))?;
        let (stop_rx, stop_tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| watch_error(e, None))?;
        let fd = Arc::new(fd);
        let watches = Arc::new(Mutex::new(Watches::default()));
        let reader = {
            let (fd, watches) = (Arc::clone(&fd), Arc::clone(&watches));
            std::thread::Builder::new()
                .name("inotify".into())
                .spawn(move || read_loop(&fd, &stop_rx, &watches, handler))
                .map_err(notify::Error::io)?
        };
        Ok(Inotify {
            adder: Adder { fd, watches },
            stop: Some(stop_tx),
            reader: Some(reader),
        })
    }

    /// Watch the directory `dir` (not what is below it).
    pub(crate) fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        self.adder.watch(dir)
    }

    /// Watch a git dir (HEAD, `info/exclude`): the same kind of watch.
    pub(crate) fn watch_git_dir(&mut self, dir: &Path) -> notify::Result<()> {
        self.watch(dir)
    }

    /// Watch each directory of `dirs`, under one lock. Stops at the first
    /// error with the directories not yet watched (the failed one first).
    pub(crate) fn watch_all<'d>(
        &mut self,
        dirs: &'d [PathBuf],
    ) -> Result<(), (notify::Error, &'d [PathBuf])> {
        let mut watches = self.adder.watches();
        for (i, dir) in dirs.iter().enumerate() {
            match inotify::add_watch(self.adder.fd.as_fd(), dir, MASK) {
                Ok(wd) => watches.insert(wd, dir),
                Err(e) => return Err((watch_error(e, Some(dir)), &dirs[i..])),
            }
        }
        Ok(())
    }

    /// Stop watching `dir`.
    pub(crate) fn unwatch(&mut self, dir: &Path) {
        self.adder.unwatch(dir);
    }

    /// Another handle that adds and removes this instance's watches (for
    /// the start-up scan's threads); `None` on systems where the scan
    /// cannot add them (see [`notify_os`](super::notify_os)).
    pub(crate) fn scan_adder(&mut self) -> notify::Result<Option<Adder>> {
        Ok(Some(Adder {
            fd: Arc::clone(&self.adder.fd),
            watches: Arc::clone(&self.adder.watches),
        }))
    }
}

impl Adder {
    fn watches(&self) -> MutexGuard<'_, Watches> {
        // A panic elsewhere with the lock held leaves plain maps behind.
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watch the directory `dir` (not what is below it).
    pub(crate) fn watch(&self, dir: &Path) -> notify::Result<()> {
        // Under the lock: the reader must not see the new descriptor's
        // first events before it can name them.
        let mut watches = self.watches();
        let wd = inotify::add_watch(self.fd.as_fd(), dir, MASK)
            .map_err(|e| watch_error(e, Some(dir)))?;
        watches.insert(wd, dir);
        Ok(())
    }

    /// Stop watching `dir`.
    pub(crate) fn unwatch(&self, dir: &Path) {
        let mut watches = self.watches();
        if let Some(wd) = watches.by_path.get(dir).copied() {
            watches.remove_wd(wd);
            // Already gone when the directory was removed: nothing to undo.
            let _ = inotify::remove_watch(self.fd.as_fd(), wd);
        }
    }
}

impl OsWatch for Inotify {
    fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        self.adder.watch(dir)
    }

    fn unwatch(&mut self, dir: &Path) {
        self.adder.unwatch(dir);
    }
}

impl OsWatch for Adder {
    fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        Adder::watch(self, dir)
    }

    fn unwatch(&mut self, dir: &Path) {
        Adder::unwatch(self, dir);
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// `errno` from inotify as `notify` reports it: `ENOSPC` is the watch limit.
fn watch_error(e: Errno, path: Option<&Path>) -> notify::Error {
    let err = if e == Errno::NOSPC {
        notify::Error::new(notify::ErrorKind::MaxFilesWatch)
    } else if e == Errno::NOENT {
        notify::Error::new(notify::ErrorKind::PathNotFound)
    } else {
        // `EMFILE` from `inotify_init1` is fs.inotify.max_user_instances:
        // the polling message names it.
        notify::Error::io(std::io::Error::from(e))
    };
    match path {
        Some(p) => err.add_path(p.to_path_buf()),
        None => err,
    }
}

/// Read events until the stop pipe closes; hand each on.
fn read_loop(
    fd: &OwnedFd,
    stop: &OwnedFd,
    watches: &Mutex<Watches>,
    mut handler: impl notify::EventHandler,
) {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    loop {
        let mut fds = [
            PollFd::new(fd, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => {
                handler.handle_event(Err(watch_error(e, None)));
                return;
            }
        }
        if !fds[1].revents().is_empty() {
            return; // the write end was closed: stop
        }
        let mut events = Vec::new();
        let mut reader = inotify::Reader::new(fd, &mut buf);
        loop {
            match reader.next() {
                Ok(ev) => {
                    let mut watches = watches.lock().unwrap_or_else(|p| p.into_inner());
                    let dir = watches.by_wd.get(&ev.wd()).cloned();
                    if ev.events().contains(ReadFlags::IGNORED) {
                        watches.remove_wd(ev.wd());
                    }
                    drop(watches);
                    let name = ev.file_name().map(|n| OsStr::from_bytes(n.to_bytes()));
                    translate(ev.events(), ev.cookie(), dir.as_deref(), name, &mut events);
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    handler.handle_event(Err(watch_error(e, None)));
                    return;
                }
            }
        }
        for ev in events {
            handler.handle_event(Ok(ev));
        }
    }
}

/// The events one inotify record stands for. `dir` is the watched
/// directory its descriptor names (`None`: unknown or no longer watched),
/// `name` the entry inside it the record is about (`None`: the directory
/// itself).
fn translate(
    mask: ReadFlags,
    cookie: u32,
    dir: Option<&Path>,
    name: Option<&OsStr>,
    out: &mut Vec<Event>,
) {
    if mask.contains(ReadFlags::QUEUE_OVERFLOW) {
        out.push(Event::new(EventKind::Other).set_flag(Flag::Rescan));
        return;
    }
    let Some(dir) = dir else {
        return; // a watch already removed: its events are stale
    };
    let path = match name {
        Some(n) if !n.is_empty() => dir.join(n),
        _ => dir.to_path_buf(),
    };
    let is_dir = mask.contains(ReadFlags::ISDIR);
    let rename = if mask.contains(ReadFlags::MOVED_FROM) {
        Some(RenameMode::From)
    } else if mask.contains(ReadFlags::MOVED_TO) {
        Some(RenameMode::To)
    } else {
        None
    };
    if let Some(mode) = rename {
        out.push(
            Event::new(EventKind::Modify(ModifyKind::Name(mode)))
                .set_tracker(cookie as usize)
                .add_path(path.clone()),
        );
    }
    let mut push = |kind: EventKind| out.push(Event::new(kind).add_path(path.clone()));
    if mask.contains(ReadFlags::MOVE_SELF) {
        push(EventKind::Modify(ModifyKind::Name(RenameMode::From)));
    }
    if mask.contains(ReadFlags::CREATE) {
        push(EventKind::Create(if is_dir {
            CreateKind::Folder
        } else {
            CreateKind::File
        }));
    }
    if mask.contains(ReadFlags::DELETE) {
        push(EventKind::Remove(if is_dir {
            RemoveKind::Folder
        } else {
            RemoveKind::File
        }));
    }
    if mask.contains(ReadFlags::DELETE_SELF) {
        push(EventKind::Remove(RemoveKind::Folder));
    }
    if mask.contains(ReadFlags::MODIFY) {
        push(EventKind::Modify(ModifyKind::Data(DataChange::Any)));
    }
    if mask.contains(ReadFlags::CLOSE_WRITE) {
        push(EventKind::Access(AccessKind::Close(AccessMode::Write)));
    }
    if mask.contains(ReadFlags::ATTRIB) {
        push(EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::classify::{self, EventAction};
    use std::sync::mpsc;
    use std::time::Duration;

    fn one(mask: ReadFlags, name: Option<&str>) -> Vec<Event> {
        let mut out = Vec::new();
        translate(
            mask,
            7,
            Some(Path::new("/w/d")),
            name.map(OsStr::new),
            &mut out,
        );
        out
    }

    #[test]
    fn reads_and_listings_are_not_subscribed_changes_are() {
        // The start-up scan opens every directory and reads files: none of
        // that may come back as events (it did with `notify`: tens of MiB
        // of queued "nothing" at 100k files).
        for read in [
            WatchFlags::OPEN,
            WatchFlags::ACCESS,
            WatchFlags::CLOSE_NOWRITE,
        ] {
            assert!(!MASK.intersects(read), "{read:?}");
        }
        for change in [
            WatchFlags::CREATE,
            WatchFlags::DELETE,
            WatchFlags::MOVED_FROM,
            WatchFlags::MOVED_TO,
            WatchFlags::MODIFY,
            WatchFlags::CLOSE_WRITE,
            WatchFlags::ATTRIB,
            WatchFlags::DELETE_SELF,
            WatchFlags::MOVE_SELF,
        ] {
            assert!(MASK.contains(change), "{change:?}");
        }
    }

    #[test]
    fn an_overflow_is_a_rescan_even_without_a_known_descriptor() {
        let mut out = Vec::new();
        translate(ReadFlags::QUEUE_OVERFLOW, 0, None, None, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(classify::event(&out[0]), EventAction::Rescan);
    }

    #[test]
    fn moves_are_renames_from_and_to_with_the_cookie() {
        let from = one(ReadFlags::MOVED_FROM, Some("a"));
        let to = one(ReadFlags::MOVED_TO | ReadFlags::ISDIR, Some("b"));
        assert_eq!(
            from[0].kind,
            EventKind::Modify(ModifyKind::Name(RenameMode::From))
        );
        assert_eq!(
            to[0].kind,
            EventKind::Modify(ModifyKind::Name(RenameMode::To))
        );
        assert_eq!(from[0].paths, [PathBuf::from("/w/d/a")]);
        assert_eq!(to[0].paths, [PathBuf::from("/w/d/b")]);
        assert_eq!((from[0].tracker(), to[0].tracker()), (Some(7), Some(7)));
        for ev in from.iter().chain(&to) {
            assert_eq!(classify::event(ev), EventAction::Paths { structural: true });
        }
        // The watched directory itself moved away.
        let me = one(ReadFlags::MOVE_SELF, None);
        assert_eq!(me[0].paths, [PathBuf::from("/w/d")]);
        assert_eq!(
            classify::event(&me[0]),
            EventAction::Paths { structural: true }
        );
    }

    #[test]
    fn creates_and_deletes_say_folder_or_file_and_are_structural() {
        let dir = one(ReadFlags::CREATE | ReadFlags::ISDIR, Some("new"));
        assert_eq!(dir[0].kind, EventKind::Create(CreateKind::Folder));
        assert_eq!(
            one(ReadFlags::DELETE, Some("f"))[0].kind,
            EventKind::Remove(RemoveKind::File)
        );
        assert_eq!(
            one(ReadFlags::DELETE_SELF, None)[0].kind,
            EventKind::Remove(RemoveKind::Folder)
        );
        assert_eq!(
            classify::event(&dir[0]),
            EventAction::Paths { structural: true }
        );
        let write = one(ReadFlags::CLOSE_WRITE, Some("f"));
        assert_eq!(
            classify::event(&write[0]),
            EventAction::Paths { structural: false }
        );
    }

    #[test]
    fn a_dropped_watch_and_unknown_descriptors_give_no_events() {
        let mut out = Vec::new();
        translate(
            ReadFlags::IGNORED,
            0,
            Some(Path::new("/w/d")),
            None,
            &mut out,
        );
        translate(ReadFlags::MODIFY, 0, None, Some(OsStr::new("f")), &mut out);
        assert!(out.is_empty(), "{out:?}");

        let mut w = Watches::default();
        w.insert(3, Path::new("/w/d"));
        w.insert(4, Path::new("/w/e"));
        w.remove_wd(3);
        assert!(!w.by_wd.contains_key(&3) && !w.by_path.contains_key(Path::new("/w/d")));
        // The same path watched again under a new descriptor (recreated).
        w.insert(5, Path::new("/w/e"));
        assert_eq!(w.by_path.get(Path::new("/w/e")), Some(&5));
        assert!(!w.by_wd.contains_key(&4));
    }

    #[test]
    fn running_out_of_watches_is_max_files_watch_with_the_sysctl_message() {
        let e = watch_error(Errno::NOSPC, Some(Path::new("/w/d")));
        assert!(matches!(e.kind, notify::ErrorKind::MaxFilesWatch), "{e:?}");
        let msg = super::super::backend::polling_message(&e);
        assert!(msg.contains("fs.inotify.max_user_watches"), "{msg}");
        assert!(msg.contains("polling"), "{msg}");
        assert!(!matches!(
            watch_error(Errno::NOENT, None).kind,
            notify::ErrorKind::MaxFilesWatch
        ));
    }

    /// Wait (bounded) for an event matching `want`; reads, opens and
    /// closes without writing never arrive.
    fn wait_for(
        rx: &mpsc::Receiver<notify::Result<Event>>,
        want: impl Fn(&Event) -> bool,
    ) -> Event {
        loop {
            let ev = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("event")
                .expect("no error");
            assert!(
                !matches!(
                    ev.kind,
                    EventKind::Access(AccessKind::Open(_) | AccessKind::Close(AccessMode::Read))
                ),
                "{ev:?}"
            );
            if want(&ev) {
                return ev;
            }
        }
    }

    #[test]
    fn live_events_name_the_paths_and_reads_are_not_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::write(root.join("f"), "x").unwrap();
        let (tx, rx) = mpsc::channel();
        let mut ino = Inotify::new(move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
        ino.watch_all(std::slice::from_ref(&root))
            .map_err(|(e, _)| e)
            .unwrap();
        // A read (and a listing) first: must produce nothing.
        let _ = std::fs::read(root.join("f")).unwrap();
        let _ = std::fs::read_dir(&root).unwrap().count();
        // A directory created with files already in it: its creation is
        // reported (the daemon then watches and walks it).
        let elsewhere = tempfile::tempdir().unwrap();
        let staged = elsewhere.path().join("staged");
        std::fs::create_dir_all(staged.join("inner")).unwrap();
        std::fs::write(staged.join("inner/g"), "y").unwrap();
        std::fs::rename(&staged, root.join("sub")).unwrap();
        let ev = wait_for(&rx, |e| e.paths == [root.join("sub")]);
        assert_eq!(ev.kind, EventKind::Modify(ModifyKind::Name(RenameMode::To)));
        // ... which the daemon answers by watching and walking it.
        assert_eq!(
            classify::watch_change(true, true, false, false),
            classify::WatchChange::Add
        );
        std::fs::create_dir(root.join("made")).unwrap();
        let ev = wait_for(&rx, |e| e.paths == [root.join("made")]);
        assert_eq!(ev.kind, EventKind::Create(CreateKind::Folder));
        std::fs::rename(root.join("f"), root.join("g")).unwrap();
        let from = wait_for(&rx, |e| e.paths == [root.join("f")]);
        let to = wait_for(&rx, |e| e.paths == [root.join("g")]);
        assert_eq!(
            from.kind,
            EventKind::Modify(ModifyKind::Name(RenameMode::From))
        );
        assert_eq!(to.kind, EventKind::Modify(ModifyKind::Name(RenameMode::To)));
        assert_eq!(from.tracker(), to.tracker());
        // A watched subdirectory removed: the kernel drops its watch.
        ino.watch(&root.join("made")).unwrap();
        std::fs::remove_dir(root.join("made")).unwrap();
        wait_for(&rx, |e| {
            e.paths == [root.join("made")] && e.kind == EventKind::Remove(RemoveKind::Folder)
        });
        drop(ino); // the reader thread exits (join would hang otherwise)
    }
}
