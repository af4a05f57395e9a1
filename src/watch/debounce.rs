//! When to snapshot: collects changed paths and decides the moment a batch
//! is due — after `quiet` without new events, but never later than
//! `max_wait` after the first pending event, so a continuous burst still
//! snapshots regularly. Pure state, no clock of its own: every call takes
//! `now`, which keeps it testable.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// More pending paths than this and a stat-cached full scan is cheaper
/// than patching the tree path by path.
pub const MAX_PATHS: usize = 20_000;

/// Pending changes and their timing.
#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    max_wait: Duration,
    paths: BTreeSet<PathBuf>,
    full: bool,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// A batch that is due: what changed since the last snapshot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// A full (stat-cached) scan is needed: overflow, ignore rules changed,
    /// branch switch, too many paths.
    pub full: bool,
    /// Changed paths (absolute), when not `full`.
    pub paths: Vec<PathBuf>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        !self.full && self.paths.is_empty()
    }
}

impl Debouncer {
    pub fn new(quiet: Duration, max_wait: Duration) -> Self {
        Debouncer {
            quiet,
            max_wait: max_wait.max(quiet),
            paths: BTreeSet::new(),
            full: false,
            first: None,
            last: None,
        }
    }

    fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// A path changed.
    pub fn path(&mut self, path: PathBuf, now: Instant) {
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
    pub fn full(&mut self, now: Instant) {
        self.full = true;
        self.paths.clear();
        self.touch(now);
    }

    /// Is anything pending?
    pub fn is_pending(&self) -> bool {
        self.full || !self.paths.is_empty()
    }

    /// When the pending batch becomes due (`None`: nothing pending).
    pub fn deadline(&self) -> Option<Instant> {
        if !self.is_pending() {
            return None;
        }
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_wait))
    }

    /// Has the batch waited its maximum (so it must not be postponed)?
    pub fn overdue(&self, now: Instant) -> bool {
        self.first.is_some_and(|f| now >= f + self.max_wait)
    }

    /// Take everything pending, whether due or not.
    pub fn take(&mut self) -> Batch {
        self.first = None;
        self.last = None;
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
    fn due_after_quiet_period() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(100 * MS, 1000 * MS);
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
        let mut d = Debouncer::new(100 * MS, 1000 * MS);
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
        let mut d = Debouncer::new(100 * MS, 1000 * MS);
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
        let mut d = Debouncer::new(100 * MS, 1000 * MS);
        for i in 0..=MAX_PATHS {
            d.path(format!("f{i}").into(), t0);
        }
        assert!(d.take().full);
    }

    #[test]
    fn max_wait_never_below_quiet() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(500 * MS, 100 * MS);
        d.path("a".into(), t0);
        assert_eq!(d.deadline(), Some(t0 + 500 * MS));
    }
}
