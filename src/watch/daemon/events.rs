//! What the daemon does with each event: [`classify`] says what it means,
//! this applies it — paths into the schedule, watches added or removed
//! (falling back to polling when the notifier runs out), HEAD and the
//! index looked at, a full scan asked for.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Daemon, Report};
use crate::watch::backend;
use crate::watch::classify::{self, EventAction, PathAction, WatchChange};
use crate::watch::dirs::Rules;
use crate::workspace::Head;

impl Daemon<'_> {
    pub(super) fn on_event(&mut self, event: notify::Event) {
        let now = Instant::now();
        match classify::event(&event) {
            EventAction::Nothing => {}
            EventAction::Rescan => {
                tracing::info!("the notifier lost events; rescanning");
                self.schedule.full(now);
                self.rebuild = true;
            }
            EventAction::Paths { structural } => {
                for path in event.paths {
                    let path = self.backend.known_path(path);
                    self.on_path(path, structural, now);
                }
            }
        }
    }

    pub(super) fn on_notify_error(&mut self, e: notify::Error) {
        if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
            self.fall_back_to_polling(&e);
        } else {
            tracing::warn!(error = %e, "file watcher error");
            self.state.push_error(&format!("file watcher: {e}"));
        }
        self.schedule.full(Instant::now());
    }

    fn on_path(&mut self, path: PathBuf, structural: bool, now: Instant) {
        let action = classify::path(&self.layout, &path);
        // (`info/exclude` is a git-dir path even when `.git` is inside.)
        let in_work_tree = match action {
            PathAction::WorkTree | PathAction::Attributes => true,
            PathAction::IgnoreRules => path.file_name().is_some_and(|n| n == ".gitignore"),
            _ => false,
        };
        if in_work_tree && !self.backend.delivers(&path) {
            return;
        }
        match action {
            PathAction::Nothing => {}
            PathAction::Head => self.check_head(now),
            PathAction::Index => self.on_index_change(now),
            PathAction::IgnoreRules => {
                self.schedule.full(now);
                self.rebuild = true;
            }
            PathAction::Attributes => self.schedule.full(now),
            PathAction::WorkTree => self.on_work_tree_path(path, structural, now),
        }
    }

    fn on_work_tree_path(&mut self, path: PathBuf, structural: bool, now: Instant) {
        let is_dir = structural && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        let set = self.backend.set();
        match classify::watch_change(
            structural,
            is_dir,
            set.contains(&path),
            set.has_under(&path),
        ) {
            // A new (or moved-in) directory: watch it and below, and
            // re-walk it, since files may predate the watch.
            WatchChange::Add => self.add_watches(&path),
            WatchChange::Remove => self.backend.remove_watches(&path),
            WatchChange::Keep => {}
        }
        if self.backend.set().relevant(&path, is_dir, self.rules()) {
            self.schedule.path(path, now);
        }
    }

    /// git replaced the index: paths that became tracked or untracked
    /// (`git add -f` of an ignored file, `git rm --cached`) change the
    /// snapshot although no work-tree file changed. Schedule them, and
    /// watch an ignored directory that now holds a tracked file.
    fn on_index_change(&mut self, now: Instant) {
        let changed = self.engine.refresh_index_changes(self.ws);
        for rel in changed {
            let abs = self
                .ws
                .workdir()
                .join(crate::snapshot::engine::bytes_path(&rel));
            if let Some(dir) = abs.parent() {
                let rules = Rules::of(&self.engine);
                if let Err(e) = self.backend.ensure_watched(dir, rules) {
                    self.fall_back_to_polling(&e);
                }
                self.state.watches = self.backend.set().len();
            }
            self.schedule.path(abs, now);
        }
    }

    /// A branch switch or a detached HEAD that moved: what was collected
    /// so far belongs to the checkout, and the new chain's tip may be far
    /// from the work tree — a full scan decides.
    pub(super) fn check_head(&mut self, now: Instant) {
        let head = self.ws.head().ok();
        self.on_head(head, now);
    }

    /// HEAD was read as `head`: everything follows from this one read
    /// (HEAD may have moved again since).
    fn on_head(&mut self, head: Option<Head>, now: Instant) {
        if !classify::head_moved(self.last_head.as_ref(), head.as_ref()) {
            return;
        }
        let refname = head.as_ref().map(|h| self.ws.chain_ref_for(h));
        self.last_head = head;
        self.schedule.full(now);
        if let Some(refname) = refname {
            tracing::info!(%refname, "HEAD moved");
            (self.report)(Report::BranchSwitch { refname });
        }
    }

    /// The engine's current ignore rules and tracked files.
    fn rules(&self) -> Rules<'_> {
        Rules::of(&self.engine)
    }

    /// Watch `dir` and below; out of watches, poll instead.
    pub(super) fn add_watches(&mut self, dir: &Path) {
        if let Err(e) = self.backend.add_watches(dir, Rules::of(&self.engine)) {
            self.fall_back_to_polling(&e);
        }
    }

    /// Recompute the watch set (ignore rules changed, or the notifier lost
    /// events).
    pub(super) fn rebuild_watches(&mut self) {
        self.rebuild = false;
        if self.backend.is_polling() {
            return;
        }
        self.engine.reload_rules(self.ws);
        if let Err(e) = self.backend.rebuild(Rules::of(&self.engine)) {
            self.fall_back_to_polling(&e);
        }
        self.state.watches = self.backend.set().len();
    }

    pub(super) fn fall_back_to_polling(&mut self, e: &notify::Error) {
        self.warn(backend::polling_message(e));
        self.backend.fall_back_to_polling();
        self.state.mode = self.backend.mode().into();
        self.state.watches = 0;
    }

    /// Something went wrong, but the watcher carries on: log it, keep it in
    /// the status file and tell the caller.
    pub(super) fn warn(&mut self, msg: String) {
        tracing::warn!("{msg}");
        self.state.push_error(&msg);
        (self.report)(Report::Warning(msg));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::daemon::WatchOptions;
    use crate::workspace::Workspace;

    /// A work tree on `main` with one commit, and a branch `dev` at it.
    fn on_main() -> (tempfile::TempDir, Workspace) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(tmp.path()).unwrap();
        let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(0, 0)).unwrap();
        let tree = repo
            .find_tree(repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        let c = repo
            .commit(Some("refs/heads/main"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        repo.set_head("refs/heads/main").unwrap();
        repo.branch("dev", &repo.find_commit(c).unwrap(), false)
            .unwrap();
        let ws = Workspace::open(repo.path(), tmp.path()).unwrap();
        (tmp, ws)
    }

    #[test]
    fn a_branch_switch_schedules_a_full_scan_and_names_the_chain_it_compared() {
        let (_tmp, ws) = on_main();
        let cfg = ws.config().unwrap();
        let opts = WatchOptions::from_config(cfg);
        let mut reports = Vec::new();
        let mut report = |r| reports.push(r);
        let mut d = Daemon::new(&ws, cfg, &opts, &mut report).unwrap();
        d.last_head = ws.head().ok();
        let now = Instant::now();
        d.check_head(now);
        assert!(d.schedule.take().is_empty(), "HEAD did not move");

        ws.repo().set_head("refs/heads/dev").unwrap();
        d.check_head(now);
        let dev = ws.head().unwrap();
        assert_eq!(d.last_head.as_ref(), Some(&dev));
        assert!(d.schedule.take().full);
        d.check_head(now);
        assert!(d.schedule.take().is_empty(), "reported once");
        drop(d);
        let want = ws.chain_ref_for(&dev);
        assert!(
            matches!(&reports[..], [Report::BranchSwitch { refname }] if *refname == want),
            "{reports:?}"
        );
    }

    /// HEAD is read once per look: when it moves again right after the
    /// read, the switch reported is to the chain that was compared (and
    /// scheduled for), not to whatever a second read would find.
    #[test]
    fn a_branch_switch_names_the_head_that_was_read_not_a_later_one() {
        let (_tmp, ws) = on_main();
        let cfg = ws.config().unwrap();
        let opts = WatchOptions::from_config(cfg);
        let mut reports = Vec::new();
        let mut report = |r| reports.push(r);
        let mut d = Daemon::new(&ws, cfg, &opts, &mut report).unwrap();
        let main = ws.head().unwrap();
        d.last_head = Some(main.clone());
        let dev = Head::Branch {
            name: "dev".into(),
            commit: main.commit(),
        };
        // Read as `dev`; HEAD is back on `main` by the time anyone looks.
        d.on_head(Some(dev.clone()), Instant::now());
        assert_eq!(d.last_head.as_ref(), Some(&dev));
        assert!(d.schedule.take().full);
        drop(d);
        let want = ws.chain_ref_for(&dev);
        assert_ne!(want, ws.chain_ref().unwrap());
        assert!(
            matches!(&reports[..], [Report::BranchSwitch { refname }] if *refname == want),
            "{reports:?}"
        );
    }
}
