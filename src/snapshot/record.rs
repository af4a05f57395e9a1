//! Taking a snapshot end to end: lock, compute the tree (full scan or
//! incremental), skip when nothing changed (unless the user typed a label),
//! write the commit, flush, move the shadow ref. This is the one entry
//! point `snap`, the watcher and the hooks share, so every trigger obeys
//! the same rules.

use std::path::PathBuf;
use std::time::Duration;

use git2::Oid;
use serde::{Deserialize, Serialize};

use crate::error::{GitContext, Result};
use crate::snapshot::chain::{self, NewSnapshot};
use crate::snapshot::engine::{Engine, ScanOptions, ScanStats, Skipped};
use crate::snapshot::trailers::{self, Trailers};
use crate::workspace::lock::SnapshotLock;
use crate::workspace::Workspace;

/// Scans of a tree git is busy changing, before taking what is there.
const GIT_BUSY_ATTEMPTS: u32 = 4;
/// Pause between them.
const GIT_BUSY_PAUSE: Duration = Duration::from_millis(50);
/// git moves HEAD right after writing the index: an index this fresh may
/// belong to a checkout whose HEAD update is still to come.
const INDEX_SETTLE: Duration = Duration::from_millis(50);

/// What git's own operations change, compared around a scan.
#[derive(Debug, PartialEq, Eq)]
struct GitState {
    head: Option<Vec<u8>>,
    index: Option<crate::snapshot::engine::stat::Stat>,
    locked: bool,
}

impl GitState {
    fn read(ws: &Workspace) -> GitState {
        let stat = |p: &std::path::Path| {
            std::fs::symlink_metadata(p)
                .ok()
                .map(|m| crate::snapshot::engine::stat::Stat::from_metadata(&m))
        };
        GitState {
            head: ws.head().ok().map(|h| format!("{h:?}").into_bytes()),
            index: stat(&ws.index_path()),
            locked: ws.git_dir().join("index.lock").exists(),
        }
    }

    /// [`GitState::read`], after waiting (briefly, boundedly) for a lock to
    /// go and for a just-written index to be followed by its HEAD move.
    fn settled(ws: &Workspace) -> GitState {
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        loop {
            let fresh = std::fs::metadata(ws.index_path())
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < INDEX_SETTLE);
            let locked = ws.git_dir().join("index.lock").exists();
            if !(fresh || locked) || std::time::Instant::now() >= deadline {
                return GitState::read(ws);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How many changed paths a subject line names before `+N`.
pub const SUBJECT_PATHS: usize = 2;
/// How many skipped files get their own trailer line.
const SKIPPED_TRAILERS: usize = 20;

/// What to snapshot and how to label it.
#[derive(Debug, Clone)]
pub struct SnapRequest {
    /// `manual`, `watch`, `hook:<name>`, `claude:<Event>`, …
    pub trigger: String,
    /// A user message (`snap -m`): replaces the file summary in the subject.
    pub message: Option<String>,
    /// `message` is a label the user typed (`snap -m`): a snapshot is
    /// recorded even when the tree is unchanged, so the label can be found
    /// and named later (`@{/<text>}`). Hooks' messages never force one.
    pub label: bool,
    pub session: Option<String>,
    /// `claude`, `gemini`, `codex`, `cursor`, `human` (the agent trailer).
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub prompt: Option<String>,
    /// How long to wait for another snapshotter.
    pub lock_timeout: Duration,
    /// When set, only these paths changed since [`SnapRequest::since`]
    /// (the watcher's events).
    pub changed_paths: Option<Vec<PathBuf>>,
    /// The chain position `changed_paths` were collected against: the
    /// chain and the tip the recorder last wrote or saw. The paths are
    /// patched onto the tip only when the chain under the lock is still
    /// exactly there; after a checkout the watcher has not seen yet
    /// (another chain) or another process moved the chain (a hook, `snap`,
    /// `undo`, a `git update-ref`), they say nothing about the tip: a full
    /// scan is taken.
    pub since: Option<ChainPos>,
}

/// A chain, its tip and the tree recorded there at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPos {
    pub refname: String,
    /// `None`: the chain did not exist.
    pub tip: Option<Oid>,
    /// The tree the work tree had there: the tip's, or — on a chain not
    /// started yet, where a scan found nothing new — HEAD's. Changed
    /// paths are patched onto it, so a clean work tree under a watcher is
    /// not scanned whole on every request until its first change.
    pub tree: Option<Oid>,
}

impl SnapRequest {
    pub fn new(trigger: impl Into<String>) -> Self {
        SnapRequest {
            trigger: trigger.into(),
            message: None,
            label: false,
            session: None,
            agent: None,
            tool: None,
            prompt: None,
            lock_timeout: Duration::from_secs(30),
            changed_paths: None,
            since: None,
        }
    }
}

/// The result of a snapshot attempt. (Deserialized from a watcher's
/// answer, the fields `snap --json` does not print are empty.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapOutcome {
    /// The new snapshot (or the unchanged tip) as a 12-hex short id.
    pub id: Option<String>,
    #[serde(rename = "ref")]
    pub refname: String,
    pub created: bool,
    pub trigger: String,
    pub tree: String,
    /// Paths changed relative to the previous snapshot (or HEAD).
    pub files: Vec<String>,
    /// Files left out, with the reason.
    pub skipped: Vec<String>,
    #[serde(skip)]
    pub oid: Option<Oid>,
    #[serde(skip)]
    pub subject: String,
    #[serde(skip)]
    pub skipped_detail: Vec<Skipped>,
    #[serde(skip)]
    pub stats: ScanStats,
    /// HEAD as this snapshot saw it (under the lock).
    #[serde(skip)]
    pub head: Option<crate::workspace::Head>,
}

/// Take a snapshot of `ws` now.
pub fn take(ws: &Workspace, req: &SnapRequest, engine: Option<&mut Engine>) -> Result<SnapOutcome> {
    let state = ws.state().ensure()?;
    let _lock = SnapshotLock::acquire(state, req.lock_timeout)?;
    let repo = ws.repo();

    let mut own_engine;
    let engine = match engine {
        Some(e) => e,
        None => {
            own_engine = Engine::new(ws, ScanOptions::from_config(ws.config()?))?;
            &mut own_engine
        }
    };
    // git's checkout changes the work tree and the index under
    // `index.lock`, then moves HEAD: a scan that overlaps it would record
    // one branch's files on the other branch's chain. So the work tree is
    // read between two identical looks at (HEAD, index, index.lock); if
    // git moved in between, look again (a few times, then take what is
    // there: a snapshot of a moving tree beats none).
    let mut attempt = 0;
    let (head, refname, old_tip, reference_tree, outcome) = loop {
        attempt += 1;
        let before = GitState::settled(ws);
        // HEAD is read once per attempt: the chain and the base agree.
        let head = ws.head()?;
        let refname = ws.chain_ref_for(&head);
        let old_tip = chain::tip(repo, &refname)?;
        // The tree the chain currently holds (or HEAD's, for a new chain).
        let reference_tree: Option<Oid> = match (old_tip, head.commit()) {
            (Some(t), _) | (None, Some(t)) => Some(
                repo.find_commit(t)
                    .and_then(|c| c.tree())
                    .map(|t| t.id())
                    .git_context(|| format!("read tree of {t}"))?,
            ),
            (None, None) => None,
        };
        let here = ChainPos {
            refname: refname.clone(),
            tip: old_tip,
            tree: reference_tree,
        };
        let unmoved = attempt == 1 && req.since.as_ref() == Some(&here);
        let outcome = match (&req.changed_paths, reference_tree) {
            (Some(paths), Some(base)) if unmoved => engine.update(ws, base, paths)?,
            _ => engine.scan(ws)?,
        };
        if GitState::read(ws) == before || attempt >= GIT_BUSY_ATTEMPTS {
            break (head, refname, old_tip, reference_tree, outcome);
        }
        tracing::debug!(
            attempt,
            "git changed HEAD or the index during the scan; scanning again"
        );
        std::thread::sleep(GIT_BUSY_PAUSE);
    };
    let head_commit = head.commit();
    let skipped: Vec<String> = outcome.skipped.iter().map(|s| s.to_string()).collect();
    for s in &skipped {
        tracing::warn!("left out of the snapshot: {s}");
    }
    let empty_tree = Oid::hash_object(git2::ObjectType::Tree, b"")
        .git_context(|| "hash the empty tree".to_owned())?;
    let unchanged = reference_tree.unwrap_or(empty_tree) == outcome.tree;
    let mut result = SnapOutcome {
        id: old_tip.map(chain::short_id),
        refname: refname.clone(),
        created: false,
        trigger: req.trigger.clone(),
        tree: outcome.tree.to_string(),
        files: Vec::new(),
        skipped,
        oid: old_tip,
        subject: String::new(),
        skipped_detail: outcome.skipped.clone(),
        stats: outcome.stats.clone(),
        head: Some(head.clone()),
    };
    // Prompts are never lost: a prompt that finds nothing new waits (with
    // the others) for the next snapshot that records something.
    let mut pending = crate::snapshot::pending::Queue::load(state);
    let had_pending = !pending.prompts.is_empty();
    if let Some(prompt) = &req.prompt {
        pending.push(req.session.clone(), prompt);
    }
    // A label the user typed is always recorded (DESIGN §1).
    let labelled = req.label && req.message.as_deref().is_some_and(|m| !m.trim().is_empty());
    if unchanged && !labelled {
        if req.prompt.is_some() {
            pending.save(state);
        }
        return Ok(result);
    }

    let new_tree = repo
        .find_tree(outcome.tree)
        .git_context(|| "read snapshot tree".to_owned())?;
    let old_tree = match reference_tree {
        Some(t) => Some(repo.find_tree(t).git_context(|| format!("read tree {t}"))?),
        None => None,
    };
    let files = chain::changed_paths(repo, old_tree.as_ref(), &new_tree)?;
    let summary = trailers::summarize(&files, SUBJECT_PATHS);
    let (subject_tail, body) = match req
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(msg) => (trailers::one_line(msg, 200), Some(summary)),
        None => (summary, None),
    };
    let subject = format!("savepoint: {}: {}", req.trigger, subject_tail);
    let mut skipped_trailers: Vec<String> = result
        .skipped
        .iter()
        .take(SKIPPED_TRAILERS)
        .cloned()
        .collect();
    if result.skipped.len() > SKIPPED_TRAILERS {
        skipped_trailers.push(format!(
            "… and {} more",
            result.skipped.len() - SKIPPED_TRAILERS
        ));
    }
    // The snapshot's session is the request's, else the prompts' latest;
    // the other sessions whose prompts it carries are named after it.
    let session = req
        .session
        .clone()
        .or_else(|| pending.prompts.iter().rev().find_map(|p| p.session.clone()));
    let more_sessions: Vec<String> = pending
        .sessions()
        .into_iter()
        .filter(|s| Some(s) != session.as_ref())
        .collect();
    let trailers = Trailers {
        trigger: req.trigger.clone(),
        base: head_commit
            .map(|h| h.to_string())
            .unwrap_or_else(|| "unborn".to_owned()),
        session,
        more_sessions,
        agent: req.agent.clone(),
        tool: req.tool.clone(),
        prompts: pending.texts(),
        skipped: skipped_trailers,
    };
    crate::fs::durable::sync_objects(
        ws.common_dir(),
        &outcome.written,
        outcome.stats.used_git_cli,
    );
    let oid = chain::append(
        repo,
        &NewSnapshot {
            refname: &refname,
            old_tip,
            tree: outcome.tree,
            head: head_commit,
            subject: subject.clone(),
            body,
            trailers,
        },
    )?;
    if had_pending {
        crate::snapshot::pending::Queue::clear(state);
    }
    result.id = Some(chain::short_id(oid));
    result.oid = Some(oid);
    result.created = true;
    result.files = files;
    result.subject = subject;
    Ok(result)
}
