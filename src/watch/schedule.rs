//! When to snapshot: the pending changes and the moment they are due.
//!
//! A batch is due after `quiet` without new events, but never later than
//! `max_wait` after the first pending event, so a continuous burst still
//! snapshots regularly. It is held back (`not_before`) while git holds
//! `index.lock` — up to `max_wait` — and after a failed snapshot. In
//! polling mode the poll time is a deadline of its own. Pure state with no
//! clock of its own: every call takes `now`, which keeps it testable.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// More pending paths than this and a stat-cached full scan is cheaper
/// than patching the tree path by path.
pub(crate) const MAX_PATHS: usize = 20_000;
/// How long a batch is held back while git holds `index.lock` (a checkout
/// or commit in progress), up to `max_wait`.
pub(crate) const GIT_BUSY_RETRY: Duration = Duration::from_millis(100);

/// Pending changes and their timing.
#[derive(Debug)]
pub(crate) struct Schedule {
    quiet: Duration,
    max_wait: Duration,
    paths: BTreeSet<PathBuf>,
    full: bool,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Do not snapshot before this (git busy, or backing off after an
    /// error).
    not_before: Option<Instant>,
}

/// A batch that is due: what changed since the last snapshot.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    /// A full (stat-cached) scan is needed: overflow, ignore rules changed,
    /// branch switch, too many paths.
    pub(crate) full: bool,
    /// Changed paths (absolute), when not `full`.
    pub(crate) paths: Vec<PathBuf>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        !self.full && self.paths.is_empty()
    }
}

impl Schedule {
    pub(crate) fn new(quiet: Duration, max_wait: Duration) -> Self {
        Schedule {
            quiet,
            max_wait: max_wait.max(quiet),
            paths: BTreeSet::new(),
            full: false,
            first: None,
            last: None,
            not_before: None,
        }
    }

    fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// A path changed.
    pub(crate) fn path(&mut self, path: PathBuf, now: Instant) {
        if !self.full {
            self.paths.insert(path);
            if self.paths.len() > MAX_PATHS {
                self.full = true;
                self.paths.clear();
            }
        }
        self.touch(now);
    }

    /// Something changed that needs a full scan; the paths collected so far
    /// are dropped (the scan covers them).
    pub(crate) fn full(&mut self, now: Instant) {
        self.full = true;
        self.paths.clear();
        self.touch(now);
    }

    /// Is anything pending?
    fn is_pending(&self) -> bool {
        self.full || !self.paths.is_empty()
    }

    /// When the pending batch becomes due (`None`: nothing pending).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if !self.is_pending() {
            return None;
        }
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_wait))
    }

    /// Has the batch waited its maximum (so it must not be postponed)?
    pub(crate) fn overdue(&self, now: Instant) -> bool {
        self.first.is_some_and(|f| now >= f + self.max_wait)
    }

    /// When the loop must wake up without a message: the batch's deadline
    /// or the next poll, whichever comes first — neither before
    /// `not_before` (a poll that is due while the batch is held back would
    /// otherwise wake the loop at once, again and again).
    pub(crate) fn wake_at(&self, next_poll: Option<Instant>) -> Option<Instant> {
        let held = |t: Instant| self.not_before.map_or(t, |nb| t.max(nb));
        match (self.deadline().map(held), next_poll.map(held)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The loop woke up without a message at `now`: is a snapshot due?
    /// A poll that is due asks for a full scan without waiting for quiet;
    /// otherwise the batch waits for its deadline. Either waits for
    /// `not_before`, and while `git_busy()` (asked only then) for
    /// [`GIT_BUSY_RETRY`] more — unless the batch is overdue.
    pub(crate) fn due(
        &mut self,
        now: Instant,
        next_poll: Option<Instant>,
        git_busy: impl FnOnce() -> bool,
    ) -> bool {
        let polling = next_poll.is_some_and(|next| now >= next);
        if polling {
            self.full(now);
        }
        let Some(deadline) = self.deadline() else {
            return false;
        };
        let at = if polling { now } else { deadline };
        if now < self.not_before.map_or(at, |nb| at.max(nb)) {
            return false;
        }
        // git is writing (checkout, commit, stash): let it finish.
        if git_busy() && !self.overdue(now) {
            self.not_before = Some(now + GIT_BUSY_RETRY);
            return false;
        }
        true
    }

    /// A snapshot failed: retry with a full scan, but not before `until`
    /// (not in a tight loop).
    pub(crate) fn retry_full(&mut self, now: Instant, until: Instant) {
        self.full(now);
        self.not_before = Some(until);
    }

    /// What is pending, left pending (a look, not a snapshot).
    pub(crate) fn pending(&self) -> Batch {
        Batch {
            full: self.full,
            paths: if self.full {
                Vec::new()
            } else {
                self.paths.iter().cloned().collect()
            },
        }
    }

    /// Take everything pending, whether due or not.
    pub(crate) fn take(&mut self) -> Batch {
        self.first = None;
        self.last = None;
        self.not_before = None;
        let full = std::mem::take(&mut self.full);
        let paths = std::mem::take(&mut self.paths).into_iter().collect();
        Batch { full, paths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_look_at_what_is_pending_leaves_it_pending() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        s.path("/w/a".into(), t0);
        let look = s.pending();
        assert_eq!(look.paths, vec![PathBuf::from("/w/a")]);
        assert_eq!(s.deadline(), Some(t0 + 100 * MS));
        assert_eq!(s.take(), look);
        assert!(s.pending().is_empty());
        s.path("/w/b".into(), t0);
        s.full(t0);
        assert_eq!(
            s.pending(),
            Batch {
                full: true,
                paths: vec![]
            }
        );
    }

    #[test]
    fn due_after_quiet_period() {
        let t0 = Instant::now();
        let mut d = Schedule::new(100 * MS, 1000 * MS);
        assert_eq!(d.deadline(), None);
        d.path("a".into(), t0);
        d.path("b".into(), t0 + 50 * MS);
        d.path("a".into(), t0 + 60 * MS);
        assert_eq!(d.deadline(), Some(t0 + 160 * MS));
        let b = d.take();
        assert_eq!(b.paths, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert!(!b.full);
        assert_eq!(d.deadline(), None);
        assert!(d.take().is_empty());
    }

    #[test]
    fn continuous_events_hit_the_ceiling() {
        let t0 = Instant::now();
        let mut d = Schedule::new(100 * MS, 1000 * MS);
        for i in 0..100u32 {
            d.path(format!("f{i}").into(), t0 + i * 20 * MS);
        }
        // Events every 20 ms never leave 100 ms of quiet: the ceiling rules.
        assert_eq!(d.deadline(), Some(t0 + 1000 * MS));
        assert!(d.overdue(t0 + 1000 * MS));
        assert!(!d.overdue(t0 + 999 * MS));
    }

    #[test]
    fn full_scan_absorbs_paths() {
        let t0 = Instant::now();
        let mut d = Schedule::new(100 * MS, 1000 * MS);
        d.path("a".into(), t0);
        d.full(t0);
        d.path("b".into(), t0);
        let b = d.take();
        assert!(b.full);
        assert!(b.paths.is_empty());
    }

    #[test]
    fn too_many_paths_become_a_full_scan() {
        let t0 = Instant::now();
        let mut d = Schedule::new(100 * MS, 1000 * MS);
        for i in 0..=MAX_PATHS {
            d.path(format!("f{i}").into(), t0);
        }
        assert!(d.take().full);
    }

    #[test]
    fn max_wait_never_below_quiet() {
        let t0 = Instant::now();
        let mut d = Schedule::new(500 * MS, 100 * MS);
        d.path("a".into(), t0);
        assert_eq!(d.deadline(), Some(t0 + 500 * MS));
    }

    #[test]
    fn nothing_pending_sleeps_until_the_next_poll_or_a_message() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        assert_eq!(s.wake_at(None), None);
        assert_eq!(s.wake_at(Some(t0 + 2000 * MS)), Some(t0 + 2000 * MS));
        assert!(!s.due(t0, None, || unreachable!("git is asked only when due")));
    }

    #[test]
    fn a_batch_is_due_at_its_deadline_and_not_before() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        s.path("a".into(), t0);
        assert_eq!(s.wake_at(Some(t0 + 2000 * MS)), Some(t0 + 100 * MS));
        assert!(!s.due(t0 + 99 * MS, None, || false));
        assert!(s.due(t0 + 100 * MS, None, || false));
    }

    #[test]
    fn git_busy_holds_the_batch_back_until_it_is_overdue() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        s.path("a".into(), t0);
        let at = t0 + 100 * MS;
        assert!(!s.due(at, None, || true));
        // Held back by GIT_BUSY_RETRY, then asked again.
        assert_eq!(s.wake_at(None), Some(at + GIT_BUSY_RETRY));
        assert!(!s.due(at + GIT_BUSY_RETRY - MS, None, || false));
        assert!(!s.due(at + GIT_BUSY_RETRY, None, || true));
        // At max_wait git no longer holds it back.
        assert!(s.due(t0 + 1000 * MS, None, || true));
        // Taking the batch forgets the hold-back.
        assert!(!s.take().is_empty());
        s.path("b".into(), t0 + 2000 * MS);
        assert_eq!(s.wake_at(None), Some(t0 + 2100 * MS));
    }

    #[test]
    fn a_failed_snapshot_retries_with_a_full_scan_later() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        s.path("a".into(), t0);
        let _ = s.take();
        s.retry_full(t0, t0 + 1000 * MS);
        assert_eq!(s.wake_at(None), Some(t0 + 1000 * MS));
        // New events do not bring the retry forward.
        s.path("b".into(), t0 + 10 * MS);
        assert!(!s.due(t0 + 500 * MS, None, || false));
        assert!(s.due(t0 + 1000 * MS, None, || false));
        assert_eq!(
            s.take(),
            Batch {
                full: true,
                paths: vec![]
            }
        );
    }

    #[test]
    fn a_due_poll_is_a_full_scan_without_waiting_for_quiet() {
        let t0 = Instant::now();
        let mut s = Schedule::new(500 * MS, 1000 * MS);
        assert_eq!(s.wake_at(Some(t0 + 2000 * MS)), Some(t0 + 2000 * MS));
        assert!(!s.due(t0 + 1999 * MS, Some(t0 + 2000 * MS), || false));
        s.path("a".into(), t0 + 1900 * MS);
        let poll = t0 + 2000 * MS;
        assert!(s.due(poll, Some(poll), || false));
        assert!(s.take().full);
        // git busy still holds a poll back, until max_wait.
        assert!(!s.due(poll, Some(poll), || true));
        assert!(s.due(poll + 1000 * MS, Some(poll), || true));
    }

    #[test]
    fn a_failed_snapshot_in_polling_mode_waits_instead_of_spinning() {
        // The poll that failed is still "due" (`next_poll` only moves after
        // a scan that worked): the loop must not wake at once, over and over.
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        let next_poll = Some(t0);
        assert!(s.due(t0, next_poll, || false));
        let _ = s.take();
        s.retry_full(t0, t0 + 1000 * MS);
        assert_eq!(s.wake_at(next_poll), Some(t0 + 1000 * MS));
        assert!(!s.due(t0 + 10 * MS, next_poll, || false));
        assert!(s.due(t0 + 1000 * MS, next_poll, || false));
    }

    #[test]
    fn git_busy_in_polling_mode_waits_instead_of_spinning() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS, 1000 * MS);
        let next_poll = Some(t0);
        assert!(!s.due(t0, next_poll, || true));
        assert_eq!(s.wake_at(next_poll), Some(t0 + GIT_BUSY_RETRY));
        assert!(!s.due(t0 + MS, next_poll, || unreachable!("held back")));
        assert!(s.due(t0 + GIT_BUSY_RETRY, next_poll, || false));
    }
}
