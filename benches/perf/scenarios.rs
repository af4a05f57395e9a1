//! The scenarios without a watcher: one-file `snap`, cold snapshots,
//! restores and the agent hooks, each beside its git baseline.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::report::{Outcome, Row, Val};
use crate::run::{git, measure, median, output, sh, tool, Sample};
use crate::target::Target;
use crate::Opts;

pub type Op<'a> = Box<dyn FnMut(usize) -> Result<Sample, String> + 'a>;

/// Runs each op once per round, rotating which goes first.
pub fn alternate(rounds: usize, ops: &mut [Op<'_>]) -> Result<Vec<Vec<Sample>>, String> {
    let n = ops.len();
    let mut out = vec![Vec::new(); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            out[i].push(ops[i](round)?);
        }
    }
    Ok(out)
}

pub fn wall(v: &[Sample]) -> Duration {
    median(v.iter().map(|s| s.wall).collect())
}

pub fn peak_mib(v: &[Sample]) -> f64 {
    v.iter().map(|s| s.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0
}

pub fn savepoint(t: &Target, args: &[&str]) -> Command {
    tool(&t.savepoint, &t.dir, args)
}

pub fn git_status(t: &Target) -> Result<Sample, String> {
    measure(git(&t.dir, &["status", "--porcelain"]), None)
}

pub fn shadow_tip(t: &Target) -> String {
    output(git(&t.dir, &["rev-parse", "-q", "--verify", &t.shadow_ref]))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Runs `f`, turning its early failure into the outcome's failure while
/// keeping the rows it pushed.
pub fn collect(f: impl FnOnce(&mut Vec<Row>) -> Result<(), String>) -> Outcome {
    let mut rows = Vec::new();
    let failure = f(&mut rows).err();
    Outcome { rows, failure }
}

const PLUMBING: &str = "cp \"$(git rev-parse --git-dir)/index\" \"$(git rev-parse --git-dir)/bench-index\" && \
    export GIT_INDEX_FILE=\"$(git rev-parse --git-dir)/bench-index\" && git add -A && \
    t=$(git write-tree) && c=$(echo bench | git commit-tree $t -p HEAD) && git update-ref refs/bench/baseline $c";
const FRESH_ADD: &str = "f=\"$(git rev-parse --git-dir)/bench-fresh\"; rm -f \"$f\" && GIT_INDEX_FILE=\"$f\" git add -A";

/// (ii) one-file change, no watcher: `snap` vs `git status` vs plumbing,
/// and the peak RSS of `snap` and `git status`.
pub fn snap(o: &Opts, t: &Target) -> Outcome {
    collect(|rows| {
        measure(savepoint(t, &["snap"]), None)?;
        git_status(t)?;
        measure(sh(&t.dir, PLUMBING), None)?;
        let mut ops: Vec<Op> = vec![
            Box::new(|round| {
                t.write(&t.one, &format!("round {round} snap\n"))?;
                measure(savepoint(t, &["snap"]), None)
            }),
            Box::new(|round| {
                t.write(&t.one, &format!("round {round} status\n"))?;
                git_status(t)
            }),
            Box::new(|round| {
                t.write(&t.one, &format!("round {round} plumbing\n"))?;
                measure(sh(&t.dir, PLUMBING), None)
            }),
        ];
        let r = alternate(o.runs, &mut ops)?;
        let (s, g, p) = (&r[0], &r[1], &r[2]);
        rows.push(Row::new(
            "snap.vs_status",
            "one-file change, no watcher: `snap` vs `git status --porcelain`",
            Val::ms(wall(s)),
            Val::ms(wall(g)),
            "≤ 0.8×",
        ));
        rows.push(Row::new(
            "snap.vs_plumbing",
            "one-file change: `snap` vs plumbing (`add -A`+`write-tree`+`commit-tree`+`update-ref`)",
            Val::ms(wall(s)),
            Val::ms(wall(p)),
            "—",
        ));
        rows.push(Row::new(
            "snap.rss",
            "one-file change: peak RSS of `snap` vs `git status`",
            Val::Mib(peak_mib(s)),
            Val::Mib(peak_mib(g)),
            "—",
        ));
        Ok(())
    })
}

/// (v) the first snapshot with no stat cache (index present) and with no
/// index at all, vs `git add -A` into a fresh index.
pub fn cold(o: &Opts, t: &Target) -> Outcome {
    collect(|rows| {
        let gd = output(git(&t.dir, &["rev-parse", "--absolute-git-dir"]))?;
        let gd = Path::new(gd.trim()).to_path_buf();
        let forget = || {
            let _ = std::fs::remove_dir_all(gd.join("savepoint"));
            let _ = output(git(&t.dir, &["update-ref", "-d", &t.shadow_ref]));
        };
        let rounds = o.runs.min(5);
        let mut ops: Vec<Op> = vec![
            Box::new(|round| {
                t.write(&t.one, &format!("cold {round}\n"))?;
                forget();
                measure(savepoint(t, &["snap"]), None)
            }),
            Box::new(|_| measure(sh(&t.dir, FRESH_ADD), None)),
        ];
        let r = alternate(rounds, &mut ops)?;
        drop(ops);
        let fresh = wall(&r[1]);
        rows.push(Row::new(
            "cold.first_snap",
            "cold first `snap` (no stat cache) vs `git add -A` into a fresh index",
            Val::ms(wall(&r[0])),
            Val::ms(fresh),
            "≤ 0.2×",
        ));
        // No index: every file read and hashed. `Target::reset` moves the
        // index back should this fail half-way.
        std::fs::rename(gd.join("index"), gd.join("index.bench-away"))
            .map_err(|e| e.to_string())?;
        let mut noindex = Vec::new();
        let mut err = None;
        for round in 0..o.runs.min(3) {
            forget();
            match t
                .write(&t.one, &format!("noindex {round}\n"))
                .and_then(|_| measure(savepoint(t, &["snap"]), None))
            {
                Ok(s) => noindex.push(s),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        std::fs::rename(gd.join("index.bench-away"), gd.join("index"))
            .map_err(|e| e.to_string())?;
        if let Some(e) = err {
            return Err(e);
        }
        rows.push(Row::new(
            "cold.no_index",
            "cold `snap` with no index (hash every file) vs `git add -A` into a fresh index",
            Val::ms(wall(&noindex)),
            Val::ms(fresh),
            "—",
        ));
        Ok(())
    })
}

/// Changes `files` to state A, snapshots it, and prepares a temporary index
/// holding that snapshot plus a path list for `git checkout-index --stdin`.
/// Returns the snapshot id.
pub fn restore_setup(t: &Target, files: &[String], gd: &Path) -> Result<String, String> {
    t.write_all(files, "state A of")?;
    measure(savepoint(t, &["snap", "-m", "bench restore A"]), None)?;
    let id = shadow_tip(t);
    if id.is_empty() {
        return Err("no snapshot after `snap`".into());
    }
    let mut c = git(&t.dir, &["read-tree", &id]);
    c.env("GIT_INDEX_FILE", gd.join("bench-restore-index"));
    output(c)?;
    let mut list = files.join("\n");
    list.push('\n');
    std::fs::write(gd.join("bench-restore-paths"), list).map_err(|e| e.to_string())?;
    Ok(id)
}

fn checkout_index(t: &Target, gd: &Path, all: bool) -> Result<Sample, String> {
    let script = if all {
        "git checkout-index -a -f".to_owned()
    } else {
        format!(
            "git checkout-index -f --stdin < '{}'",
            gd.join("bench-restore-paths").display()
        )
    };
    let mut c = sh(&t.dir, &script);
    c.env("GIT_INDEX_FILE", gd.join("bench-restore-index"));
    measure(c, None)
}

/// The restored files hold state A again.
fn check_restored(t: &Target, files: &[String], what: &str) -> Result<(), String> {
    for f in [files.first(), files.last()].into_iter().flatten() {
        // An `eol=crlf` file comes back with CRLF.
        let got = std::fs::read_to_string(t.dir.join(f))
            .unwrap_or_default()
            .replace('\r', "");
        if got != format!("state A of {f}\n") {
            return Err(format!("{what} did not restore {f}"));
        }
    }
    Ok(())
}

/// How a restore round changes the files first (untimed), given the round
/// and who restores next, so no two rounds write the same content.
pub type Change<'a> = &'a dyn Fn(usize, &str) -> Result<(), String>;

/// A round of `savepoint <args>` bringing `files` back to state A.
pub fn restore_op<'a>(
    t: &'a Target,
    files: &'a [String],
    args: Vec<&'a str>,
    who: &'a str,
    change: Change<'a>,
) -> Op<'a> {
    Box::new(move |round| {
        change(round, who)?;
        let s = measure(savepoint(t, &args), None)?;
        check_restored(t, files, who)?;
        Ok(s)
    })
}

/// The same round by `git checkout-index` (`all`: `-a`).
pub fn checkout_op<'a>(
    t: &'a Target,
    files: &'a [String],
    gd: &'a Path,
    all: bool,
    change: Change<'a>,
) -> Op<'a> {
    Box::new(move |round| {
        change(round, "git")?;
        let s = checkout_index(t, gd, all)?;
        check_restored(t, files, "git checkout-index")?;
        Ok(s)
    })
}

pub fn git_dir(t: &Target) -> Result<std::path::PathBuf, String> {
    Ok(output(git(&t.dir, &["rev-parse", "--absolute-git-dir"]))?
        .trim()
        .into())
}

/// (iii) ~2,500 changed files in a few directories: `restore <snap> --
/// <dirs>` and a whole-snapshot `restore`, vs `git checkout-index -f` of
/// the same paths from a temporary index holding the snapshot.
pub fn restore(o: &Opts, t: &Target) -> Outcome {
    collect(|rows| {
        let gd = git_dir(t)?;
        let files = &t.restore_files;
        let id = restore_setup(t, files, &gd)?;
        let mut dirs_args = vec!["restore", id.as_str(), "--"];
        dirs_args.extend(t.restore_dirs.iter().map(String::as_str));
        let change =
            |round: usize, who: &str| t.write_all(files, &format!("state B{round} {who} of"));
        let mut ops: Vec<Op> = vec![
            restore_op(t, files, dirs_args, "restore -- <dirs>", &change),
            restore_op(t, files, vec!["restore", &id], "restore (whole)", &change),
            checkout_op(t, files, &gd, false, &change),
        ];
        let r = alternate(o.runs.min(5), &mut ops)?;
        let base = wall(&r[2]);
        rows.push(Row::new(
            "restore.dirs",
            format!(
                "`restore <snap> -- <{} dirs>`, {} changed files, vs `git checkout-index -f --stdin` of them",
                t.restore_dirs.len(),
                files.len()
            ),
            Val::ms(wall(&r[0])),
            Val::ms(base),
            "≪ 1 s",
        ));
        rows.push(Row::new(
            "restore.whole",
            format!(
                "`restore <snap>` (whole snapshot), {} changed files, vs the same `checkout-index`",
                files.len()
            ),
            Val::ms(wall(&r[1])),
            Val::ms(base),
            "≪ 1 s",
        ));
        rows.push(Row::new(
            "restore.rss",
            "`restore -- <dirs>`: peak RSS vs `git checkout-index`",
            Val::Mib(peak_mib(&r[0])),
            Val::Mib(peak_mib(&r[2])),
            "—",
        ));
        Ok(())
    })
}

/// (iii) up to 100,000 changed files: whole-snapshot `restore` vs
/// `git checkout-index -f` (`-a` when that is every tracked file).
pub fn restore_all(o: &Opts, t: &Target) -> Outcome {
    collect(|rows| {
        let gd = git_dir(t)?;
        let files = &t.many;
        let id = restore_setup(t, files, &gd)?;
        let every = files.len() == t.files;
        let change =
            |round: usize, who: &str| t.write_all(files, &format!("state B{round} {who} of"));
        let mut ops: Vec<Op> = vec![
            restore_op(t, files, vec!["restore", &id], "restore", &change),
            checkout_op(t, files, &gd, every, &change),
        ];
        let r = alternate(o.runs.min(3), &mut ops)?;
        rows.push(Row::new(
            "restore_all.whole",
            format!(
                "`restore <snap>`, {} changed files, vs `git checkout-index {}`",
                files.len(),
                if every {
                    "-a -f"
                } else {
                    "-f --stdin` of them`"
                }
            ),
            Val::ms(wall(&r[0])),
            Val::ms(wall(&r[1])),
            "≤ 1.5×",
        ));
        rows.push(Row::new(
            "restore_all.rss",
            "`restore` of those files: peak RSS vs `git checkout-index`",
            Val::Mib(peak_mib(&r[0])),
            Val::Mib(peak_mib(&r[1])),
            "flat in file size",
        ));
        Ok(())
    })
}

pub fn hook_payload(t: &Target, event: &str) -> String {
    let dir = t.dir.display().to_string();
    let file = t.dir.join(&t.one).display().to_string();
    let v = match event {
        "PostToolUse" => serde_json::json!({
            "session_id": "bench", "cwd": dir, "hook_event_name": "PostToolUse",
            "tool_name": "Edit", "tool_input": { "file_path": file },
        }),
        "SessionStart" => serde_json::json!({
            "session_id": "bench-next", "cwd": dir, "hook_event_name": "SessionStart",
            "source": "startup",
        }),
        _ => serde_json::json!({
            "session_id": "bench", "cwd": dir, "hook_event_name": "StopFailure",
            "error_type": "server_error", "error_message": "overloaded",
        }),
    };
    v.to_string()
}

pub fn hook(t: &Target, event: &str) -> Result<Sample, String> {
    measure(
        savepoint(t, &["hook", "claude"]),
        Some(hook_payload(t, event).as_bytes()),
    )
}

/// `hook claude` without a watcher: PostToolUse after a one-file change
/// (the hook's worker snapshots) and SessionStart, vs `git status`.
pub fn hooks(o: &Opts, t: &Target) -> Outcome {
    collect(|rows| {
        measure(savepoint(t, &["snap"]), None)?;
        let mut ops: Vec<Op> = vec![
            Box::new(|round| {
                t.write(&t.one, &format!("hook round {round}\n"))?;
                hook(t, "PostToolUse")
            }),
            Box::new(|_| hook(t, "SessionStart")),
            Box::new(|round| {
                t.write(&t.one, &format!("hook status round {round}\n"))?;
                git_status(t)
            }),
        ];
        let r = alternate(o.runs.max(3), &mut ops)?;
        let g = wall(&r[2]);
        rows.push(Row::new(
            "hooks.post_tool_use",
            "`hook claude` PostToolUse Edit, no watcher (snapshot by the hook's worker) vs `git status`",
            Val::ms(wall(&r[0])),
            Val::ms(g),
            "≤ 0.8×",
        ));
        rows.push(Row::new(
            "hooks.session_start",
            "`hook claude` SessionStart, no watcher (stat-cached scan) vs `git status`",
            Val::ms(wall(&r[1])),
            Val::ms(g),
            "≤ 0.8×",
        ));
        Ok(())
    })
}
