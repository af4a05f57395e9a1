//! The watcher: start-up vs `git status`, work per one-file event, a
//! 1,000-file burst, the commands that should answer from a running watcher
//! (each alternating with `git status`), idle CPU and RSS, and last a
//! `restore` with the watcher running.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::report::{Outcome, Row, Val};
use crate::run::{measure, median, wait_for, Sample};
use crate::scenarios::{
    alternate, checkout_op, collect, git_dir, git_status, hook, restore_op, restore_setup,
    savepoint, shadow_tip, wall, Op,
};
use crate::target::Target;
use crate::Opts;

pub const DEBOUNCE_MS: u64 = 50;

fn watch_state(dir: &Path) -> Option<serde_json::Value> {
    let gd = dir.join(".git");
    let bytes = std::fs::read(gd.join("savepoint/watch.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat; after "pid (comm)" they are at 11 and 12.
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn rss_mib(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A watcher this run started; stopped (final snapshot) on drop.
struct Watcher<'a> {
    t: &'a Target,
    child: Option<Child>,
}

impl Watcher<'_> {
    fn start(t: &Target, limit: Duration) -> Result<(Watcher<'_>, Duration), String> {
        let started = Instant::now();
        let child = savepoint(t, &["watch", "--debounce", &DEBOUNCE_MS.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("savepoint watch: {e}"))?;
        let pid = child.id();
        let mut w = Watcher {
            t,
            child: Some(child),
        };
        let ready = wait_for("the watcher's start-up (watch.json)", limit, || {
            watch_state(&t.dir).is_some_and(|s| s["pid"] == pid) || w.exited()
        });
        let took = started.elapsed();
        ready?;
        if w.exited() {
            return Err("`savepoint watch` exited during start-up".into());
        }
        Ok((w, took))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = measure(savepoint(self.t, &["stop"]), None);
            let t = Instant::now();
            while matches!(child.try_wait(), Ok(None)) {
                if t.elapsed() > Duration::from_secs(60) {
                    let _ = child.kill();
                    eprintln!("the watcher did not stop within 60 s; killed");
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Watcher<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn snapshots_taken(dir: &Path) -> u64 {
    watch_state(dir)
        .and_then(|s| s["snapshots_taken"].as_u64())
        .unwrap_or(0)
}

fn last_work(dir: &Path) -> Duration {
    Duration::from_secs_f64(
        watch_state(dir)
            .and_then(|s| s["last_snapshot_ms"].as_f64())
            .unwrap_or(0.0)
            / 1000.0,
    )
}

pub fn watch(o: &Opts, t: &Target) -> Outcome {
    collect(|rows| {
        let limit = Duration::from_secs(o.timeout);
        // A warm stat cache, as after any earlier snapshot.
        measure(savepoint(t, &["snap"]), None)?;
        git_status(t)?;

        // Start-up vs `git status`, alternating; the last watcher stays.
        let rounds = o.runs.clamp(1, 3);
        let (mut startups, mut statuses) = (Vec::new(), Vec::new());
        let mut w = None;
        for round in 0..rounds {
            if round % 2 == 1 {
                statuses.push(git_status(t)?.wall);
            }
            if let Some(mut old) = w.take() {
                Watcher::stop(&mut old);
            }
            let (nw, took) = Watcher::start(t, limit)?;
            startups.push(took);
            w = Some(nw);
            if round % 2 == 0 {
                statuses.push(git_status(t)?.wall);
            }
        }
        let mut w = w.expect("at least one round");
        let pid = w.pid();
        let watches = watch_state(&t.dir)
            .and_then(|s| s["watches"].as_u64())
            .unwrap_or(0);
        rows.push(Row::new(
            "watch.startup",
            format!("watcher start-up (stat-cached scan + {watches} watches) vs `git status --porcelain`"),
            Val::ms(median(startups)),
            Val::ms(median(statuses)),
            "≤ 1.5×",
        ));

        // Work per one-file event.
        let (mut work, mut wall_t) = (Vec::new(), Vec::new());
        for round in 0..o.runs.max(3) {
            let before = shadow_tip(t);
            let started = Instant::now();
            t.write(&t.one, &format!("watch round {round}\n"))?;
            wait_for("a one-file snapshot by the watcher", limit, || {
                shadow_tip(t) != before
            })?;
            wall_t.push(started.elapsed());
            // The status file is written right after the ref moves.
            std::thread::sleep(Duration::from_millis(20));
            work.push(last_work(&t.dir));
            std::thread::sleep(Duration::from_millis(200));
        }
        rows.push(Row::new(
            "watch.event_work",
            "watcher: work from debounced one-file event to moved ref",
            Val::ms(median(work)),
            Val::None,
            "≤ 10 ms",
        ));
        rows.push(Row::new(
            "watch.event_wall",
            format!(
                "watcher: wall time from write to moved ref (debounce {DEBOUNCE_MS} ms included)"
            ),
            Val::ms(median(wall_t)),
            Val::None,
            "—",
        ));

        // A burst: rewrite up to 1,000 files as fast as possible, with
        // content no earlier run wrote (else every blob is already stored
        // and the burst's object writes go unmeasured).
        let before = snapshots_taken(&t.dir);
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        t.write_all(&t.burst, &format!("burst {nonce}"))?;
        std::thread::sleep(Duration::from_millis(DEBOUNCE_MS * 4 + 500));
        wait_for("the burst's snapshot", limit, || {
            snapshots_taken(&t.dir) > before
        })?;
        std::thread::sleep(Duration::from_millis(300));
        rows.push(Row::new(
            "watch.burst",
            format!(
                "watcher: {}-file burst → snapshots after quiet; work of the last",
                t.burst.len()
            ),
            Val::Text(format!(
                "{} snapshot(s); {:.1} ms",
                snapshots_taken(&t.dir) - before,
                last_work(&t.dir).as_secs_f64() * 1000.0
            )),
            Val::None,
            "≤ 100 ms at 300k",
        ));

        // (i) commands that should answer from the running watcher, each
        // alternating with `git status`.
        let commands: &[(&str, &str)] = &[
            ("snap", "`snap` after a one-file change"),
            ("diff", "`diff --stat` (work-tree side)"),
            ("recover", "`recover --dry-run`"),
            ("status", "`status`"),
            (
                "post_tool_use",
                "`hook claude` PostToolUse Edit (handed over)",
            ),
            ("session_start", "`hook claude` SessionStart"),
            ("stop_failure", "`hook claude` StopFailure"),
        ];
        for (key, label) in commands {
            let one = |round: usize| -> Result<Sample, String> {
                match *key {
                    "snap" => {
                        t.write(&t.one, &format!("answered snap {round}\n"))?;
                        measure(savepoint(t, &["snap"]), None)
                    }
                    "diff" => measure(savepoint(t, &["diff", "--stat"]), None),
                    "recover" => measure(savepoint(t, &["recover", "--dry-run"]), None),
                    "status" => measure(savepoint(t, &["status"]), None),
                    "post_tool_use" => {
                        t.write(&t.one, &format!("answered hook {round}\n"))?;
                        hook(t, "PostToolUse")
                    }
                    "session_start" => hook(t, "SessionStart"),
                    _ => hook(t, "StopFailure"),
                }
            };
            let mut ops: Vec<Op> = vec![Box::new(one), Box::new(|_| git_status(t))];
            let id = format!("watch.answered.{key}");
            match alternate(o.runs.max(3), &mut ops) {
                Ok(r) => rows.push(Row::new(
                    &id,
                    format!("watcher running: {label} vs `git status --porcelain`"),
                    Val::ms(wall(&r[0])),
                    Val::ms(wall(&r[1])),
                    "≤ 10 ms",
                )),
                Err(e) => {
                    eprintln!("{id} FAILED: {e}");
                    rows.push(Row::failed(&id, &e));
                }
            }
            if w.exited() {
                return Err(format!("the watcher exited during {id}"));
            }
        }

        // Idle CPU, then RSS.
        std::thread::sleep(Duration::from_millis(500));
        let cpu0 = cpu_secs(pid);
        std::thread::sleep(Duration::from_secs(o.idle));
        let idle = (cpu_secs(pid) - cpu0) / o.idle.max(1) as f64 * 100.0;
        rows.push(Row::new(
            "watch.idle_cpu",
            format!("watcher idle CPU over {} s", o.idle),
            Val::Pct(idle),
            Val::None,
            "~0 %",
        ));
        let (peak, now) = (rss_mib(pid, "VmHWM:"), rss_mib(pid, "VmRSS:"));
        rows.push(Row::new(
            "watch.rss",
            "watcher RSS (peak / current)",
            Val::Text(format!("{peak:.1} / {now:.1} MiB")),
            Val::None,
            "≤ 30 MiB at 100k, ≤ 150 MiB at 1M",
        ));
        if let Err(e) = restore_watched(o, t, limit, rows) {
            eprintln!("watch.restore FAILED: {e}");
            rows.push(Row::failed("watch.restore", &e));
        }
        if w.exited() {
            return Err("the watcher exited during watch.restore".into());
        }
        w.stop();
        Ok(())
    })
}

/// (iii) with the watcher running, the restore scenario's `restore <snap>
/// -- <dirs>` vs `git checkout-index` of the same files. Each round first
/// waits until the watcher has recorded the change, as it has long before
/// anyone runs `restore`: the state before is then the watcher's answer.
fn restore_watched(
    o: &Opts,
    t: &Target,
    limit: Duration,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let gd = git_dir(t)?;
    let files = &t.restore_files;
    let id = restore_setup(t, files, &gd)?;
    let mut dirs_args = vec!["restore", id.as_str(), "--"];
    dirs_args.extend(t.restore_dirs.iter().map(String::as_str));
    let change = |round: usize, who: &str| -> Result<(), String> {
        let before = shadow_tip(t);
        t.write_all(files, &format!("state B{round} {who} watched of"))?;
        std::thread::sleep(Duration::from_millis(DEBOUNCE_MS * 4 + 500));
        wait_for("the watcher's snapshot of the change", limit, || {
            shadow_tip(t) != before
        })?;
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    };
    let mut ops: Vec<Op> = vec![
        restore_op(
            t,
            files,
            dirs_args,
            "restore -- <dirs> (watcher running)",
            &change,
        ),
        checkout_op(t, files, &gd, false, &change),
    ];
    let r = alternate(o.runs.min(5), &mut ops)?;
    rows.push(Row::new(
        "watch.restore",
        format!(
            "watcher running: `restore <snap> -- <{} dirs>`, {} changed files, vs `git checkout-index -f --stdin` of them",
            t.restore_dirs.len(),
            files.len()
        ),
        Val::ms(wall(&r[0])),
        Val::ms(wall(&r[1])),
        "≪ 1 s",
    ));
    Ok(())
}
