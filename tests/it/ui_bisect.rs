//! `savepoint ui` driven for real in tmux (keys in, `capture-pane` out,
//! and the repository checked after each action), and `savepoint bisect`
//! on a chain where a planted change breaks a test script: skips, a
//! command that hangs, the range form, `--json`, Ctrl-C — with the user's
//! work tree, index, HEAD and branches untouched and no temporary tree
//! left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{poll, wait_until, DetachedWatcher, TestRepo};
use savepoint::snapshot::record::{self, SnapRequest};

// ---- helpers ---------------------------------------------------------------

/// A snapshot through the library, as an agent's hook takes it.
fn snap(repo: &TestRepo, trigger: &str, session: Option<&str>, prompt: Option<&str>) -> String {
    let req = SnapRequest {
        session: session.map(str::to_owned),
        agent: session.map(|_| "claude".to_owned()),
        prompt: prompt.map(str::to_owned),
        ..SnapRequest::new(trigger)
    };
    let out = record::take(&repo.workspace(), &req, None).expect("snapshot");
    out.id.expect("a snapshot was recorded")
}

/// A tmux server of the test's own (a private socket), killed on drop —
/// also when the test fails — with every process its pane started (the UI
/// among them: a UI that outlives its terminal must not outlive the test).
struct Tmux {
    socket: PathBuf,
    /// The pane's first process, as a fallback when the server is gone.
    pane: Option<i32>,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// `sh -c <script>` in a detached 120×40 session in `repo`, with the
    /// test's isolated environment (`extra` on top).
    fn start(repo: &TestRepo, script: &str, extra: &[(&str, &str)]) -> Tmux {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("tmux.sock");
        let mut cmd = Command::new("tmux");
        // The same isolated environment as every savepoint the tests run.
        for (k, v) in repo.cmd().get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.env("TERM", "xterm-256color");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let status = cmd
            .arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
                "-c",
            ])
            .arg(repo.path())
            .args(["sh", "-c", script])
            .status()
            .expect("run tmux (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        let mut t = Tmux {
            socket,
            pane: None,
            _dir: dir,
        };
        t.pane = t.pane_pid();
        // Keep the pane after its command exits, to read what it left.
        t.tmux(&["set-option", "-g", "remain-on-exit", "on"]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's process (`#{pane_pid}`): the shell the test's script runs
    /// in, the leader of the process group the UI runs in. `None` once the
    /// server is gone.
    fn pane_pid(&self) -> Option<i32> {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["display-message", "-p", "-t", "0", "#{pane_pid}"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// The terminal goes away: the server and its panes' ttys with it (as
    /// when an SSH connection drops).
    fn kill_server(&self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// The screen with its escape sequences (colours).
    fn screen_escaped(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "0"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Bytes typed as they are (`send-keys -l`).
    fn literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
    }

    /// Wait (at most 20 s) until the screen satisfies `ok`; return it.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        if poll(Duration::from_secs(20), || {
            last = self.screen();
            ok(&last)
        }) {
            return last;
        }
        panic!("timed out waiting for {what}; the screen:\n{last}");
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait_all(&[text])
    }

    /// Wait until the screen shows every one of `texts`; return it. A
    /// test reads only what it waited for: a screen captured while the
    /// terminal is still drawing may hold one text and not yet the next.
    fn wait_all(&self, texts: &[&str]) -> String {
        self.wait(&format!("{texts:?}"), |s| {
            texts.iter().all(|t| s.contains(t))
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The pane's process group first (its shells, the UI, their
        // children), while it surely exists: a UI stuck after the server
        // went would otherwise be left spinning. The current pane's, as
        // `respawn-pane` starts a new one.
        if let Some(pane) = self.pane_pid().or(self.pane) {
            if let Some(group) = rustix::process::Pid::from_raw(pane) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        self.kill_server();
    }
}

/// The shell around the UI: a line before it, the exit code and the tty's
/// modes after it — so a test sees the terminal it leaves.
fn ui_script(repo: &TestRepo, args: &str) -> String {
    ui_script_via(repo, args, "")
}

/// [`ui_script`], the UI started through `launcher` (a program that
/// execs its arguments; empty: none).
fn ui_script_via(repo: &TestRepo, args: &str, launcher: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("savepoint");
    format!(
        "echo BEFORE-UI; sh -c 'echo $$ > \"$1\"; exec {launcher} \"$0\" ui {args}' '{}' '{}'; echo \"UI-EXITED $?\"; \
         echo \"TTY: $(stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' ')TTY-END\"; sleep 600",
        bin.display(),
        ui_pid(repo).display()
    )
}

/// A launcher that execs its arguments with SIGHUP blocked (the mask is
/// inherited across exec): a UI started through it learns that its
/// terminal went away only from the terminal itself.
fn sighup_blocked(repo: &TestRepo) -> String {
    let path = repo.home.path().join("sighup-blocked");
    std::fs::write(
        &path,
        "#!/usr/bin/env python3\n\
         import os, signal, sys\n\
         signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])\n\
         os.execv(sys.argv[1], sys.argv[1:])\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Where the UI's shell notes its pid (outside the work tree).
fn ui_pid(repo: &TestRepo) -> PathBuf {
    repo.home.path().join("ui.pid")
}

/// The UI's process id, once its first screen is up.
fn ui_process(repo: &TestRepo) -> i32 {
    std::fs::read_to_string(ui_pid(repo))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Has process `pid` ended (gone, or a zombie nobody reaped yet)?
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Does the screen (with escapes) set any colour? SGR parameters 30–38,
/// 40–48, 90–97, 100–107 (39 and 49 are the default colours; bold and
/// reverse video are no colour).
fn has_colour(raw: &str) -> bool {
    raw.split("\x1b[").skip(1).any(|seq| {
        let Some(end) = seq.find(|c: char| c.is_ascii_alphabetic()) else {
            return false;
        };
        seq.as_bytes()[end] == b'm'
            && seq[..end].split([';', ':']).any(|p| {
                p.parse::<u32>().is_ok_and(|n| {
                    (30..=38).contains(&n)
                        || (40..=48).contains(&n)
                        || (90..=97).contains(&n)
                        || (100..=107).contains(&n)
                })
            })
    })
}

/// The terminal after the UI: the shell's screen back (not the UI's), the
/// exit code, and cooked mode (no raw mode left).
fn assert_left_as_it_was(t: &Tmux, code: i32) -> String {
    // The line's end: the shell wrote all of it.
    let s = t.wait("the UI to exit", |s| s.contains("TTY-END"));
    assert!(s.contains(&format!("UI-EXITED {code}")), "{s}");
    assert!(
        s.contains("BEFORE-UI"),
        "the alternate screen was not left:\n{s}"
    );
    assert!(
        !s.contains("savepoint ui │"),
        "the UI is still on screen:\n{s}"
    );
    let tty = s.lines().find(|l| l.starts_with("TTY:")).unwrap();
    for mode in ["icanon", "echo", "isig"] {
        assert!(
            tty.split_whitespace().any(|m| m == mode),
            "{mode} is off: raw mode was left on ({tty})"
        );
    }
    s
}

/// The story the UI tests browse: two prompts of one session, oldest
/// first `[parser v1, parser v2, lib strict]`.
fn story(repo: &TestRepo) -> Vec<String> {
    repo.write("README", "hello\n");
    repo.write("src/lib.rs", "pub fn a() {}\n");
    repo.commit_all("init");
    let s = Some("5e55105-aaaa");
    let mut ids = Vec::new();
    repo.write("src/parser.rs", "fn parse() { v1() }\n");
    ids.push(snap(
        repo,
        "claude:UserPromptSubmit",
        s,
        Some("add a parser module"),
    ));
    repo.write("src/parser.rs", "fn parse() { v2() }\n");
    ids.push(snap(repo, "claude:PostToolUse", s, None));
    repo.write("src/lib.rs", "pub fn a() { strict() }\n");
    ids.push(snap(
        repo,
        "claude:UserPromptSubmit",
        s,
        Some("make the parser strict"),
    ));
    ids
}

// ---- savepoint ui ------------------------------------------------------------

#[test]
fn ui_in_tmux_navigate_diff_restore_undo() {
    let repo = TestRepo::new();
    let ids = story(&repo);
    repo.write("src/parser.rs", "fn parse() { unsaved() }\n");
    let before = repo.user_state();
    let t = Tmux::start(&repo, &ui_script(&repo, ""), &[]);
    t.wait_all(&[
        &format!("> {}", ids[2]),
        "── session 5e55105-aaaa · claude",
        "❯ make the parser strict",
        "❯ add a parser module",
        "3 snapshots",
    ]);

    // Navigate: two rows down, the snapshot that wrote v1.
    t.keys(&["j", "j"]);
    t.wait_all(&[&format!("> {}", ids[0]), "A src/parser.rs"]);
    // Open a diff: one up, into the files, into the diff.
    t.keys(&["k", "Tab", "Enter"]);
    t.wait_all(&[
        "+fn parse() { v2() }",
        "Diff · src/parser.rs",
        "-fn parse() { v1() }",
    ]);
    // Against the work tree: what changed since.
    t.keys(&["d"]);
    t.wait_all(&["+fn parse() { unsaved() }", "vs the work tree now"]);
    t.keys(&["d", "d"]);
    t.wait_for("Files · vs previous");

    // Restore the file as it was in the first snapshot.
    t.keys(&["Tab", "G", "r"]);
    t.wait_all(&[
        "Restore file src/parser.rs?",
        &format!("as in snapshot {}", ids[0]),
        "modify  src/parser.rs",
    ]);
    t.keys(&["y"]);
    t.wait_all(&["restored 1 path from", "u undoes"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/parser.rs")).unwrap(),
        "fn parse() { v1() }\n"
    );
    // The safety snapshot appeared on top.
    let safety = repo.rev("refs/savepoint/heads/main")[..12].to_owned();
    t.wait_for(&safety);

    // Undo it.
    t.keys(&["u"]);
    t.wait_for("Undo the restore of");
    t.keys(&["y"]);
    t.wait_for("undone: 1 path back");
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/parser.rs")).unwrap(),
        "fn parse() { unsaved() }\n"
    );

    t.keys(&["q"]);
    assert_left_as_it_was(&t, 0);
    assert_eq!(
        repo.user_state(),
        before,
        "index, HEAD, branches or status changed"
    );
}

#[test]
fn ui_follows_the_watcher_live() {
    let repo = TestRepo::new();
    story(&repo);
    let watcher = DetachedWatcher::start(&repo);
    let first = watcher.wait_recorded("the start-up state");
    let t = Tmux::start(&repo, &ui_script(&repo, ""), &[]);
    t.wait_for(&format!("> {}", &first[..12]));
    let s = t.wait_for("watcher pid");
    assert!(!s.contains("no watcher"), "{s}");
    repo.write("live.txt", "recorded while the UI runs\n");
    let tip = watcher.wait_recorded("live.txt");
    // On the newest row, the selection follows.
    t.wait_all(&[&format!("> {}", &tip[..12]), "  live.txt"]);
    t.keys(&["q"]);
    assert_left_as_it_was(&t, 0);
}

#[test]
fn ui_leaves_the_terminal_as_it_was_on_sigterm_sighup_and_panic() {
    let repo = TestRepo::new();
    let ids = story(&repo);
    for signal in ["TERM", "HUP"] {
        let t = Tmux::start(&repo, &ui_script(&repo, ""), &[]);
        t.wait_for(&format!("> {}", ids[2]));
        let pid = ui_process(&repo);
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        assert_left_as_it_was(&t, 0);
    }
    // A panic: the hook restores the terminal before the message.
    let t = Tmux::start(
        &repo,
        &ui_script(&repo, ""),
        &[("SAVEPOINT_UI_TEST_PANIC", "1")],
    );
    let s = assert_left_as_it_was(&t, 101);
    assert!(
        s.contains("panicked") && s.contains("SAVEPOINT_UI_TEST_PANIC"),
        "{s}"
    );
}

/// Regression: a UI whose terminal went away (the tmux server killed, an
/// SSH connection dropped) spun in crossterm's reader for ever — every
/// read of the hung-up tty returned end-of-file — and never looked at the
/// SIGHUP or SIGTERM it got. It ends at once, also when no SIGHUP reaches
/// it (blocked here): the tty's hang-up alone is enough.
#[test]
fn ui_exits_when_its_terminal_goes_away() {
    let repo = TestRepo::new();
    let ids = story(&repo);
    for launcher in [String::new(), sighup_blocked(&repo)] {
        let (_tmux, pid) = ui_without_its_terminal(&repo, &ids[2], &launcher);
        assert_ends(pid, &format!("its terminal (launcher {launcher:?})"));
    }
}

/// SIGTERM ends a UI whose terminal is gone (the UI that spun in
/// crossterm's reader ignored it).
#[test]
fn ui_ends_on_sigterm_after_its_terminal_went_away() {
    let repo = TestRepo::new();
    let ids = story(&repo);
    let (_tmux, pid) = ui_without_its_terminal(&repo, &ids[2], &sighup_blocked(&repo));
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    assert_ends(pid, "SIGTERM");
}

/// A UI started in tmux through `launcher`, showing `tip` selected; then
/// the tmux server killed. The guard (keep it while checking: it kills a
/// UI that outlived the server when dropped) and the UI's pid.
fn ui_without_its_terminal(repo: &TestRepo, tip: &str, launcher: &str) -> (Tmux, i32) {
    let t = Tmux::start(repo, &ui_script_via(repo, "", launcher), &[]);
    t.wait_for(&format!("> {tip}"));
    let pid = ui_process(repo);
    t.kill_server();
    (t, pid)
}

/// Wait (at most 10 s) for process `pid` to end; fail naming `what` it
/// outlived.
fn assert_ends(pid: i32, what: &str) {
    assert!(
        poll(Duration::from_secs(10), || exited(pid)),
        "the UI (pid {pid}) outlived {what}"
    );
}

#[test]
fn ui_colour_follows_no_color_and_the_mouse_selects() {
    let repo = TestRepo::new();
    let ids = story(&repo);
    // The tests' environment has NO_COLOR=1: not one colour.
    let t = Tmux::start(&repo, &ui_script(&repo, ""), &[]);
    t.wait_for(&format!("> {}", ids[2]));
    let raw = t.screen_escaped();
    assert!(!has_colour(&raw), "a colour with NO_COLOR:\n{raw:?}");
    assert!(
        raw.contains("\x1b[7m") || raw.contains(";7m"),
        "the selection is reverse video"
    );
    // A click (SGR mouse report, 1-based) on the oldest row selects it.
    let s = t.wait_for(&format!("  {}", ids[0]));
    let row = s
        .lines()
        .position(|l| l.contains(&format!("  {}", ids[0])))
        .unwrap();
    t.literal(&format!("\x1b[<0;10;{}M\x1b[<0;10;{}m", row + 1, row + 1));
    t.wait_for(&format!("> {}", ids[0]));
    // The wheel moves the selection in the pane under it.
    t.literal("\x1b[<64;10;5M");
    t.wait_for(&format!("> {}", ids[2]));
    t.keys(&["q"]);
    assert_left_as_it_was(&t, 0);
    drop(t);

    // An empty NO_COLOR is no NO_COLOR: colours on a terminal.
    let t = Tmux::start(&repo, &ui_script(&repo, ""), &[("NO_COLOR", "")]);
    t.wait_for(&format!("> {}", ids[2]));
    assert!(
        has_colour(&t.screen_escaped()),
        "no colour without NO_COLOR"
    );
    // Resize: the panes follow (narrow: stacked, the title still fits).
    t.tmux(&["resize-window", "-t", "0", "-x", "70", "-y", "30"]);
    t.wait("the narrow layout", |s| {
        s.lines().next().is_some_and(|l| l.chars().count() <= 70)
            && s.lines()
                .nth(1)
                .is_some_and(|l| l.contains("Timeline") && !l.contains("Files"))
            && s.contains(&format!("> {}", ids[2]))
    });
    t.keys(&["q"]);
    assert_left_as_it_was(&t, 0);
}

#[test]
fn ui_without_a_terminal_says_to_use_log() {
    let repo = TestRepo::new();
    story(&repo);
    let out = repo
        .cmd()
        .arg("ui")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("savepoint log"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Not run by default (`cargo test --test it ui_bisect:: -- --ignored
/// --nocapture`; `SAVEPOINT_BIN=target/release/savepoint` measures a
/// release build): start-up time on a 10,000-snapshot chain over a
/// 100,000-file tree, from the process start to the first screen in tmux,
/// the time for the next row's screen after a key, and for the last row
/// (which reads the whole chain).
#[test]
#[ignore]
fn ui_startup_on_a_10000_snapshot_chain() {
    let repo = TestRepo::new();
    repo.write("README", "hello\n");
    repo.commit_all("init");
    let built = Instant::now();
    let tip = big_chain(&repo, 10_000);
    eprintln!(
        "built a 10,000-snapshot chain over 100,000 files in {:.1?}",
        built.elapsed()
    );
    // tmux's own start is outside the measurement: the pane is up, then
    // the UI replaces its command.
    let t = Tmux::start(&repo, "sleep 600", &[]);
    let bin = std::env::var_os("SAVEPOINT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| assert_cmd::cargo::cargo_bin("savepoint"));
    let started = Instant::now();
    t.tmux(&[
        "respawn-pane",
        "-k",
        "-t",
        "0",
        &format!("{} ui", bin.display()),
    ]);
    t.wait_for(&format!("> {}", &tip[..12]));
    let first = started.elapsed();
    let next_row = repo.git(&["rev-parse", "--short=12", &format!("{tip}~1")]);
    let moved = Instant::now();
    t.keys(&["j"]);
    t.wait_for(&format!("> {next_row}"));
    let step = moved.elapsed();
    let end = Instant::now();
    t.keys(&["G"]);
    let oldest = repo.git(&["rev-parse", "--short=12", &format!("{tip}~9999")]);
    t.wait_for(&format!("> {oldest}"));
    let to_end = end.elapsed();
    eprintln!(
        "ui on 10,000 snapshots: first screen {first:.1?}, next row {step:.1?}, End (reads all 10,000) {to_end:.1?}"
    );
    assert!(first < Duration::from_secs(5), "{first:?}");
}

/// A base commit with 100,000 files (50 × 50 × 40, in the object store),
/// then `n` snapshots each changing one file; returns the tip.
fn big_chain(repo: &TestRepo, n: usize) -> String {
    use git2::{Oid, Repository, Signature, Time};
    let r = Repository::open(repo.path()).unwrap();
    let blobs: Vec<Oid> = (0..64)
        .map(|i| r.blob(format!("line {i}\n").as_bytes()).unwrap())
        .collect();
    let mut top = r.treebuilder(None).unwrap();
    for a in 0..50 {
        let mut mid = r.treebuilder(None).unwrap();
        for b in 0..50 {
            let mut leaf = r.treebuilder(None).unwrap();
            for c in 0..40 {
                leaf.insert(format!("f{c}.txt"), blobs[(a + b + c) % 64], 0o100644)
                    .unwrap();
            }
            mid.insert(format!("d{b}"), leaf.write().unwrap(), 0o040000)
                .unwrap();
        }
        top.insert(format!("d{a}"), mid.write().unwrap(), 0o040000)
            .unwrap();
    }
    let head = r.head().unwrap().peel_to_commit().unwrap();
    let mut tree = r.find_tree(top.write().unwrap()).unwrap();
    let t0 = chrono::Utc::now().timestamp() - n as i64;
    let mut parent = head.clone();
    for i in 0..n {
        let (a, b, c) = (i % 50, (i / 50) % 50, i % 40);
        let path = format!("d{a}/d{b}/f{c}.txt");
        let blob = r.blob(format!("change {i}\n").as_bytes()).unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        update.upsert(&path, blob, git2::FileMode::Blob);
        tree = r
            .find_tree(update.create_updated(&r, &tree).unwrap())
            .unwrap();
        let t = savepoint::snapshot::trailers::Trailers {
            trigger: "watch".into(),
            base: head.id().to_string(),
            ..Default::default()
        };
        let msg = savepoint::snapshot::trailers::format_message(
            &format!("savepoint: watch: 1 file: {path}"),
            None,
            &t,
        );
        let sig = Signature::new("Test", "test@example.com", &Time::new(t0 + i as i64, 0)).unwrap();
        let oid = r.commit(None, &sig, &sig, &msg, &tree, &[&parent]).unwrap();
        parent = r.find_commit(oid).unwrap();
    }
    r.reference("refs/savepoint/heads/main", parent.id(), true, "test")
        .unwrap();
    parent.id().to_string()
}

// ---- savepoint bisect ----------------------------------------------------------

/// The test script every snapshot carries: skips when `skip-me` exists,
/// hangs when `hang` exists (its sleep's pid noted in `$PIDFILE`), else
/// passes while `status.txt` says `ok`.
const TEST_SH: &str = "#!/bin/sh\n\
[ -f skip-me ] && exit 125\n\
if [ -f hang ]; then sleep 1000 & echo $! >> \"$PIDFILE\"; wait; fi\n\
grep -qx ok status.txt\n";

/// A chain of 10 snapshots `s[0..10]`; `s[6]` (prompt "make the parser
/// strict") breaks `status.txt`. `skip` and `hang` name the snapshots that
/// carry those marker files.
fn bisect_chain(repo: &TestRepo, skip: &[usize], hang: &[usize]) -> Vec<String> {
    repo.write("test.sh", TEST_SH);
    repo.chmod("test.sh", 0o755);
    repo.write("status.txt", "ok\n");
    repo.commit_all("init");
    let mut ids = Vec::new();
    for i in 0..10 {
        repo.write("work.txt", &format!("step {i}\n"));
        if i == 6 {
            repo.write("status.txt", "broken\n");
        }
        for (marker, set) in [("skip-me", skip), ("hang", hang)] {
            if set.contains(&i) {
                repo.write(marker, "1\n");
            } else if repo.abs(marker).exists() {
                repo.remove(marker);
            }
        }
        let prompt = match i {
            6 => Some("make the parser strict".to_owned()),
            i if i % 3 == 0 => Some(format!("step {i}")),
            _ => None,
        };
        ids.push(snap(
            repo,
            "claude:PostToolUse",
            Some("b15ec7-session"),
            prompt.as_deref(),
        ));
    }
    // The user carries on: the work tree differs from every snapshot.
    repo.write("work.txt", "mine, unsaved\n");
    ids
}

/// Nothing left in `<git-dir>/savepoint/bisect`.
fn assert_no_temp_trees(repo: &TestRepo) {
    let dir = repo.abs(".git/savepoint/bisect");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "temporary trees left: {left:?}");
}

fn bisect(repo: &TestRepo, args: &[&str], pidfile: &Path) -> std::process::Output {
    repo.cmd()
        .arg("bisect")
        .args(args)
        .env("PIDFILE", pidfile)
        .output()
        .unwrap()
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "bisect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn bisect_names_the_snapshot_that_broke_the_tests() {
    let repo = TestRepo::new();
    let ids = bisect_chain(&repo, &[], &[]);
    let before = repo.user_state();
    let files = repo.fingerprint(|_| false);
    let pids = repo.home.path().join("pids");
    let out = bisect(&repo, &["--", "./test.sh"], &pids);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("first bad snapshot: {}", ids[6])),
        "{stdout}"
    );
    assert!(
        stdout.contains("prompt: make the parser strict"),
        "{stdout}"
    );
    assert!(
        stdout.contains("agent claude") && stdout.contains("session b15ec7-session"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" status.txt | +1 -1"),
        "the diff stat:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("last good snapshot: {}", ids[5])),
        "{stdout}"
    );
    // The last good one carries no prompt: the one it was taken under.
    assert!(
        stdout.contains(&format!("taken under the prompt: step 3 ({})", ids[3])),
        "{stdout}"
    );
    assert!(
        stderr.contains("probing 1/") && stderr.contains(&ids[9]),
        "{stderr}"
    );
    assert!(stderr.contains("bad (exit 1"), "{stderr}");
    assert_eq!(repo.user_state(), before);
    assert_eq!(repo.fingerprint(|_| false), files, "the work tree changed");
    assert_no_temp_trees(&repo);
}

#[test]
fn bisect_json_and_the_range_form() {
    let repo = TestRepo::new();
    let ids = bisect_chain(&repo, &[], &[]);
    let pids = repo.home.path().join("pids");
    let v = json_of(&bisect(&repo, &["--json", "--", "./test.sh"], &pids));
    assert_eq!(v["first_bad"]["id"], ids[6].as_str());
    assert_eq!(v["first_bad"]["prompt"], "make the parser strict");
    assert_eq!(v["prompt"], "make the parser strict");
    assert_eq!(v["first_bad"]["agent"], "claude");
    assert_eq!(
        v["first_bad"]["files"],
        serde_json::json!(["status.txt", "work.txt"])
    );
    assert_eq!(v["last_good"]["id"], ids[5].as_str());
    let probes = v["probes"].as_array().unwrap();
    // The bad end, then a binary search over 10: at most 1 + 4 probes.
    assert!(probes.len() <= 5, "{probes:?}");
    assert_eq!(probes[0]["id"], ids[9].as_str());
    assert_eq!(probes[0]["result"], "bad");
    for p in probes {
        assert!(
            p["seconds"].as_f64().is_some() && p["id"].as_str().is_some(),
            "{p}"
        );
    }
    assert_eq!(v["skipped"], serde_json::json!([]));

    // Between two snapshots: the good end is probed too.
    let v = json_of(&bisect(
        &repo,
        &["--json", &ids[3], &ids[8], "--", "./test.sh"],
        &pids,
    ));
    assert_eq!(v["first_bad"]["id"], ids[6].as_str());
    assert_eq!(v["last_good"]["id"], ids[5].as_str());
    let probes = v["probes"].as_array().unwrap();
    assert_eq!(probes[0]["id"], ids[8].as_str());
    assert_eq!(probes[1]["id"], ids[3].as_str());
    assert_eq!(probes[1]["result"], "good");
    // Shorthands work as ends; a good end that fails is refused.
    let out = bisect(&repo, &["@~2", "@", "--", "./test.sh"], &pids);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fails on the good end") && err.contains(&ids[7]),
        "{err}"
    );
    assert_no_temp_trees(&repo);
}

#[test]
fn bisect_steps_around_skipped_snapshots() {
    let repo = TestRepo::new();
    // s2 cannot be tested, nor s5 — right before the first bad one.
    let ids = bisect_chain(&repo, &[2, 4, 5], &[]);
    let pids = repo.home.path().join("pids");
    let out = bisect(&repo, &["--json", "--", "./test.sh"], &pids);
    let v = json_of(&out);
    assert_eq!(v["first_bad"]["id"], ids[6].as_str());
    assert_eq!(v["last_good"]["id"], ids[3].as_str());
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&ids[5].as_str()) && skipped.contains(&ids[4].as_str()),
        "{skipped:?}"
    );
    assert_eq!(v["undecided"], serde_json::json!([ids[4], ids[5]]));
    assert!(v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["result"] == "skip"));
    // Said in words too.
    let out = bisect(&repo, &["--", "./test.sh"], &pids);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the first bad one may also be") && stdout.contains(&ids[5]),
        "{stdout}"
    );
    assert_no_temp_trees(&repo);
}

#[test]
fn bisect_kills_a_command_that_hangs_and_counts_it_bad() {
    let repo = TestRepo::new();
    // From s6 on the test hangs instead of failing.
    let ids = bisect_chain(&repo, &[], &[6, 7, 8, 9]);
    let pids = repo.home.path().join("pids");
    let started = Instant::now();
    let out = bisect(
        &repo,
        &["--timeout", "1", "--json", "--", "./test.sh"],
        &pids,
    );
    let v = json_of(&out);
    assert_eq!(v["first_bad"]["id"], ids[6].as_str());
    assert_eq!(v["last_good"]["id"], ids[5].as_str());
    let timeouts = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["result"] == "timeout")
        .count();
    assert!(timeouts >= 2, "{}", v["probes"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("timeout") && stderr.contains("killed after the timeout"),
        "{stderr}"
    );
    // Every `sleep 1000` went with its probe's process group.
    let noted = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(noted.lines().count(), timeouts);
    for pid in noted.lines() {
        let gone = poll(Duration::from_secs(5), || {
            !Path::new(&format!("/proc/{}", pid.trim())).exists()
        });
        assert!(gone, "sleep {pid} outlived its probe");
    }
    assert_no_temp_trees(&repo);
}

#[test]
fn bisect_refuses_what_it_cannot_answer_and_cleans_up() {
    let repo = TestRepo::new();
    let ids = bisect_chain(&repo, &[], &[]);
    let pids = repo.home.path().join("pids");
    // The latest passes: nothing to look for.
    let out = bisect(&repo, &["--", "true"], &pids);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("passes on the bad end") && err.contains(&ids[9]),
        "{err}"
    );
    // 128 or more aborts, like `git bisect run`.
    let out = bisect(&repo, &["--", "exit 130"], &pids);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("aborts the bisect"));
    // Several arguments: a program and its arguments, run as they are.
    let v = json_of(&bisect(
        &repo,
        &["--json", "--", "grep", "-qx", "ok", "status.txt"],
        &pids,
    ));
    assert_eq!(v["first_bad"]["id"], ids[6].as_str());
    // The snapshot's id is in the environment; git finds no repository.
    let v = json_of(&bisect(
        &repo,
        &["--json", "--", "test \"$(cat status.txt)\" = ok && ! git rev-parse 2>/dev/null && test ${#SAVEPOINT_BISECT_SNAPSHOT} = 40"],
        &pids,
    ));
    assert_eq!(v["first_bad"]["id"], ids[6].as_str());
    // No command at all is a usage error.
    let out = repo.cmd().arg("bisect").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_no_temp_trees(&repo);
}

#[test]
fn bisect_cleans_up_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let repo = TestRepo::new();
    bisect_chain(&repo, &[], &[9]);
    let pids = repo.home.path().join("pids");
    let mut child = repo
        .cmd()
        .args(["bisect", "--", "./test.sh"])
        .env("PIDFILE", &pids)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the hanging probe runs (its sleep noted its pid).
    wait_until(
        "the hanging probe to start",
        Duration::from_secs(30),
        || std::fs::read_to_string(&pids).is_ok_and(|s| s.ends_with('\n')),
    );
    let probe_dirs = std::fs::read_dir(repo.abs(".git/savepoint/bisect"))
        .unwrap()
        .count();
    assert_eq!(probe_dirs, 1, "one run directory while it runs");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let err: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert_eq!(status.code(), Some(1), "{err:?}");
    assert!(err.iter().any(|l| l.contains("interrupted")), "{err:?}");
    let sleep = std::fs::read_to_string(&pids).unwrap();
    let gone = poll(Duration::from_secs(5), || {
        !Path::new(&format!("/proc/{}", sleep.trim())).exists()
    });
    assert!(gone, "the probe's sleep outlived Ctrl-C");
    assert_no_temp_trees(&repo);
}
