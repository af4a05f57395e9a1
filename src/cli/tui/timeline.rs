//! The snapshots the timeline lists, read lazily: one commit read per row
//! (message and committer time — no tree is diffed), page by page as the
//! list scrolls, newest first; with `--all` the chains are merged by time
//! as they are read. [`Timeline::refresh`] notices new snapshots (a
//! watcher, a hook, another command) by comparing the chain tips — a ref
//! read each — and puts them on top; a chain rewritten under it (`prune`)
//! or a branch switch reloads it.

use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use git2::{Oid, Repository};
use savepoint::snapshot::{chain, trailers};
use savepoint::workspace::Workspace;

/// Rows read per page.
pub const PAGE: usize = 200;
/// New snapshots read on top of a chain at one refresh before it counts as
/// rewritten and is read again from its tip.
const MAX_NEW: usize = 5_000;

/// One snapshot, as the list shows it.
#[derive(Debug, Clone)]
pub struct Row {
    pub oid: Oid,
    pub id: String,
    pub refname: Arc<str>,
    pub time: DateTime<FixedOffset>,
    pub trigger: String,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Every prompt the snapshot carries, in order.
    pub prompts: Vec<String>,
    /// The subject without `savepoint: <trigger>: `.
    pub summary: String,
}

impl Row {
    /// Read one commit; `None` when it is not a snapshot (the chain's base).
    pub fn read(
        repo: &Repository,
        oid: Oid,
        refname: &Arc<str>,
    ) -> Result<Option<(Row, Option<Oid>)>> {
        let commit = repo.find_commit(oid)?;
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let Some(t) = trailers::parse(&message) else {
            return Ok(None);
        };
        let summary = chain::subject_tail(commit.summary().unwrap_or(""), &t.trigger).to_owned();
        let row = Row {
            oid,
            id: chain::short_id(oid),
            refname: Arc::clone(refname),
            time: chain::commit_time(&commit),
            trigger: t.trigger,
            agent: t.agent,
            session: t.session,
            prompts: t.prompts,
            summary,
        };
        Ok(Some((row, commit.parent_id(0).ok())))
    }
}

/// Reading one chain, newest first: the next row, read ahead so chains
/// can be merged by time.
#[derive(Debug)]
struct Cursor {
    refname: Arc<str>,
    tip: Oid,
    next: Option<(Row, Option<Oid>)>,
}

impl Cursor {
    fn new(repo: &Repository, refname: &str, tip: Oid) -> Result<Cursor> {
        let refname: Arc<str> = Arc::from(refname);
        let next = Row::read(repo, tip, &refname)?;
        Ok(Cursor { refname, tip, next })
    }

    fn take(&mut self, repo: &Repository) -> Result<Option<Row>> {
        let Some((row, parent)) = self.next.take() else {
            return Ok(None);
        };
        if let Some(p) = parent {
            self.next = Row::read(repo, p, &self.refname)?;
        }
        Ok(Some(row))
    }
}

/// The prompt group a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Led by the row at this index (which carries the prompts).
    Prompt(usize),
    /// No prompt before it in its session.
    None,
    /// Not known until older rows are read.
    Unknown,
}

/// Whose session a row counts in: its own, or — for a row without one
/// (the watcher's, a manual snapshot) — that of the next older row of its
/// chain, so the watcher's snapshots during a prompt stay in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionOf {
    /// The session of the row at this index.
    Row(usize),
    None,
    Unknown,
}

/// What a refresh found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Refreshed {
    /// Rows put on top (the rest moved down by that many).
    pub added: usize,
    /// The list was read again from the tips: positions mean nothing now.
    pub reloaded: bool,
}

/// The rows read so far and how to read more.
#[derive(Debug)]
pub struct Timeline {
    /// Every chain (`--all`) or the current one.
    pub all: bool,
    /// The chain(s) listed: their names and tips when read.
    pub chains: Vec<(String, Oid)>,
    /// The current work tree's chain (what `@` means).
    pub current: String,
    pub rows: Vec<Row>,
    /// Per row: its session and its prompt group (see [`Timeline::derive`]).
    sessions: Vec<SessionOf>,
    groups: Vec<Group>,
    cursors: Vec<Cursor>,
}

impl Timeline {
    pub fn open(ws: &Workspace, all: bool) -> Result<Timeline> {
        let current = ws.chain_ref()?;
        let chains = Self::chains(ws, all, &current)?;
        let mut t = Timeline {
            all,
            chains: Vec::new(),
            current,
            rows: Vec::new(),
            sessions: Vec::new(),
            groups: Vec::new(),
            cursors: Vec::new(),
        };
        t.reset(ws.repo(), chains)?;
        Ok(t)
    }

    fn chains(ws: &Workspace, all: bool, current: &str) -> Result<Vec<(String, Oid)>> {
        let repo = ws.repo();
        Ok(if all {
            chain::all_chains(repo)?
        } else {
            chain::tip(repo, current)?
                .map(|t| (current.to_owned(), t))
                .into_iter()
                .collect()
        })
    }

    fn reset(&mut self, repo: &Repository, chains: Vec<(String, Oid)>) -> Result<()> {
        self.cursors = chains
            .iter()
            .map(|(r, t)| Cursor::new(repo, r, *t))
            .collect::<Result<_>>()?;
        self.chains = chains;
        self.rows.clear();
        self.derive();
        self.load_more(repo, PAGE)?;
        Ok(())
    }

    /// The session row `i` counts in.
    pub fn session_of(&self, i: usize) -> Option<&str> {
        match self.sessions.get(i) {
            Some(SessionOf::Row(j)) => self.rows[*j].session.as_deref(),
            _ => None,
        }
    }

    /// The prompt group of row `i`.
    pub fn group_of(&self, i: usize) -> Group {
        self.groups.get(i).copied().unwrap_or(Group::Unknown)
    }

    /// Work out every row's session and group, oldest first, each from
    /// the next older row of its chain: O(rows), after every change to
    /// them (a few microseconds per thousand rows), so drawing a screen
    /// never scans.
    fn derive(&mut self) {
        let n = self.rows.len();
        self.sessions = vec![SessionOf::None; n];
        self.groups = vec![Group::None; n];
        // Per chain: the index of the older row already seen.
        let mut older: std::collections::HashMap<&str, usize> = Default::default();
        for i in (0..n).rev() {
            let row = &self.rows[i];
            let next = older.insert(&row.refname, i);
            let (next_session, next_group) = match next {
                Some(j) => (self.sessions[j], self.groups[j]),
                None => {
                    let done = self
                        .cursors
                        .iter()
                        .find(|c| c.refname == row.refname)
                        .is_none_or(|c| c.next.is_none());
                    if done {
                        (SessionOf::None, Group::None)
                    } else {
                        (SessionOf::Unknown, Group::Unknown)
                    }
                }
            };
            let session = if row.session.is_some() {
                SessionOf::Row(i)
            } else {
                next_session
            };
            let name = |s: SessionOf| match s {
                SessionOf::Row(j) => Some(self.rows[j].session.as_deref()),
                SessionOf::None => Some(None),
                SessionOf::Unknown => None,
            };
            let group = if !row.prompts.is_empty() {
                Group::Prompt(i)
            } else {
                match (name(session), name(next_session)) {
                    (Some(a), Some(b)) if a == b => next_group,
                    (Some(_), Some(_)) => Group::None,
                    _ => Group::Unknown,
                }
            };
            self.sessions[i] = session;
            self.groups[i] = group;
        }
    }

    /// Is every row read?
    pub fn exhausted(&self) -> bool {
        self.cursors.iter().all(|c| c.next.is_none())
    }

    /// Read up to `n` more rows (the newest of the chains' next ones
    /// first); returns how many were read.
    pub fn load_more(&mut self, repo: &Repository, n: usize) -> Result<usize> {
        let mut read = 0;
        while read < n {
            let newest = self
                .cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.next.as_ref().map(|(r, _)| (i, r.time.timestamp())))
                .max_by_key(|&(i, t)| (t, std::cmp::Reverse(i)))
                .map(|(i, _)| i);
            let Some(i) = newest else { break };
            match self.cursors[i].take(repo)? {
                Some(row) => {
                    self.rows.push(row);
                    read += 1;
                }
                None => break,
            }
        }
        if read > 0 {
            self.derive();
        }
        Ok(read)
    }

    /// Look at the tips again. New snapshots on top of a chain are put on
    /// top of the list; anything else (a rewritten or new chain, a branch
    /// switch) reads the list again.
    pub fn refresh(&mut self, ws: &Workspace) -> Result<Refreshed> {
        let repo = ws.repo();
        let current = ws.chain_ref()?;
        let chains = Self::chains(ws, self.all, &current)?;
        if chains == self.chains && current == self.current {
            return Ok(Refreshed::default());
        }
        let same_set = current == self.current
            && chains.len() == self.chains.len()
            && chains
                .iter()
                .zip(&self.chains)
                .all(|((a, _), (b, _))| a == b);
        if same_set {
            if let Some(added) = self.fast_forward(repo, &chains)? {
                return Ok(Refreshed {
                    added,
                    reloaded: false,
                });
            }
        }
        self.current = current;
        self.reset(repo, chains)?;
        Ok(Refreshed {
            added: 0,
            reloaded: true,
        })
    }

    /// New snapshots on top of unchanged chains: read them (newest first)
    /// and put them on top. `None` when a chain does not lead back to its
    /// old tip (rewritten).
    fn fast_forward(
        &mut self,
        repo: &Repository,
        chains: &[(String, Oid)],
    ) -> Result<Option<usize>> {
        let mut new_rows: Vec<Row> = Vec::new();
        for ((refname, tip), old) in chains.iter().zip(&self.chains) {
            if *tip == old.1 {
                continue;
            }
            let refname: Arc<str> = Arc::from(refname.as_str());
            let mut next = Some(*tip);
            let mut found = false;
            let mut rows = Vec::new();
            while let Some(oid) = next {
                if oid == old.1 {
                    found = true;
                    break;
                }
                if rows.len() >= MAX_NEW {
                    break;
                }
                match Row::read(repo, oid, &refname)? {
                    Some((row, parent)) => {
                        rows.push(row);
                        next = parent;
                    }
                    None => break,
                }
            }
            if !found {
                return Ok(None);
            }
            new_rows.extend(rows);
        }
        // Newest first, like the rest (stable for equal times: the
        // chain's own order).
        new_rows.sort_by_key(|r| std::cmp::Reverse(r.time.timestamp()));
        let added = new_rows.len();
        new_rows.append(&mut self.rows);
        self.rows = new_rows;
        for (cursor, (_, tip)) in self.cursors.iter_mut().zip(chains) {
            cursor.tip = *tip;
        }
        self.chains = chains.to_vec();
        self.derive();
        Ok(Some(added))
    }

    /// The position of `oid`, reading on until it is found or the chains
    /// end (at most `limit` rows read).
    pub fn find(&mut self, repo: &Repository, oid: Oid, limit: usize) -> Result<Option<usize>> {
        let mut read = 0;
        loop {
            if let Some(i) = self.rows.iter().position(|r| r.oid == oid) {
                return Ok(Some(i));
            }
            if self.exhausted() || read >= limit {
                return Ok(None);
            }
            read += self.load_more(repo, PAGE)?;
        }
    }
}
