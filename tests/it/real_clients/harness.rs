//! The machinery of the real-client suite: installing Claude Code, Gemini CLI
//! and Codex from npm into a cache under `target/`, the scripted mock model
//! API (`mock.py`) on 127.0.0.1, running a client with a deadline in a clean
//! environment, a `savepoint` shim that times every hook call, and
//! assertions that are collected (every unmet expectation of a scenario is
//! reported, not just the first).
//!
//! Nothing here sleeps to hide a race: every wait polls observable state
//! (a file, a process, the snapshot chain) against a deadline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{TestRepo, UserState};

/// How long one client run may take before it is killed (a normal run takes
/// 1–3 s).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a savepoint command may take.
const SAVEPOINT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an `npm install` may take.
const NPM_TIMEOUT: Duration = Duration::from_secs(600);
/// How long an expectation about asynchronous work (a hook finishing in the
/// background, the watcher's snapshot, a detached worker's brief) may take
/// to come true.
pub const EVENTUALLY: Duration = Duration::from_secs(10);
/// The mock stops by itself after this long, whatever happens to the test.
const MOCK_TTL_SECS: u64 = 300;

// ---------------------------------------------------------------------------
// Clients and their installation

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Claude,
    Gemini,
    Codex,
}

impl Kind {
    /// The name in `versions`, the hook's agent name and the trigger prefix.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Claude => "claude",
            Kind::Gemini => "gemini",
            Kind::Codex => "codex",
        }
    }

    /// The command the npm package installs.
    fn bin(self) -> &'static str {
        self.name()
    }

    /// `savepoint hooks install <flag>`.
    pub fn install_flag(self) -> &'static str {
        match self {
            Kind::Claude => "--claude",
            Kind::Gemini => "--gemini",
            Kind::Codex => "--codex",
        }
    }
}

/// An installed client.
#[derive(Debug, Clone)]
pub struct Client {
    pub kind: Kind,
    pub package: String,
    pub version: String,
    /// `node_modules/.bin` of its install: goes on the client's `PATH`.
    pub bin_dir: PathBuf,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/it/real_clients/<name>`.
pub fn support_file(name: &str) -> PathBuf {
    manifest_dir().join("tests/it/real_clients").join(name)
}

/// The npm cache of installed clients: `SAVEPOINT_CLIENTS_DIR`, else
/// `target/tmp/real-clients`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SAVEPOINT_CLIENTS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-clients"))
}

/// `SAVEPOINT_REAL_CLIENTS=skip`: the explicit opt-out. Prints why, once per
/// test, so a skipped suite is never mistaken for a passing one.
pub fn skipped(test: &str) -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    let skip = std::env::var("SAVEPOINT_REAL_CLIENTS").is_ok_and(|v| v == "skip");
    if skip {
        // Straight to stderr, past the test harness's capture: a skipped
        // suite must show in every log.
        SAID.call_once(|| {
            say("real-client suite SKIPPED (SAVEPOINT_REAL_CLIENTS=skip): no client is run");
        });
        println!("real_clients::{test}: SKIPPED (SAVEPOINT_REAL_CLIENTS=skip)");
    }
    skip
}

/// The pinned `(package, version)` of each client, from `versions`.
fn pinned() -> BTreeMap<String, (String, String)> {
    let path = support_file("versions");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "{}: bad line {l:?}", path.display());
            (f[0].to_owned(), (f[1].to_owned(), f[2].to_owned()))
        })
        .collect()
}

const HOW_TO_FIX: &str = "The real-client suite installs Claude Code, Gemini CLI and Codex with npm \
     (Node.js 20+; Debian: `apt-get install -y nodejs npm`, which .ci/run does) and runs them against \
     a mock API with python3. Fix the above, or set SAVEPOINT_REAL_CLIENTS=skip to skip the suite \
     explicitly.";

/// The client, installed (once per cache) and checked: it runs and reports
/// the expected version. Panics with what to do when npm or the client is
/// unavailable: the suite never skips silently.
pub fn client(kind: Kind) -> Client {
    static INSTALLS: OnceLock<Mutex<BTreeMap<Kind, Client>>> = OnceLock::new();
    let mut installs = INSTALLS
        .get_or_init(|| Mutex::new(BTreeMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = installs.get(&kind) {
        return c.clone();
    }
    let pins = pinned();
    let (package, pinned_version) = pins
        .get(kind.name())
        .unwrap_or_else(|| panic!("tests/it/real_clients/versions has no {}", kind.name()))
        .clone();
    let latest = std::env::var("SAVEPOINT_CLIENTS").is_ok_and(|v| v == "latest");
    let version = if latest {
        npm_latest(&package)
    } else {
        pinned_version
    };
    let dir = cache_dir().join(format!(
        "{}@{version}",
        package.trim_start_matches('@').replace('/', "+")
    ));
    let bin_dir = dir.join("node_modules/.bin");
    if !bin_dir.join(kind.bin()).exists() {
        npm_install(&package, &version, &dir);
    }
    let c = Client {
        kind,
        package,
        version,
        bin_dir,
    };
    check_version(&c);
    installs.insert(kind, c.clone());
    c
}

fn need(program: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "\n\nreal-client suite: `{program}` is not available on PATH.\n{HOW_TO_FIX}\n"
    );
}

fn npm_latest(package: &str) -> String {
    need("npm");
    let out = run_bounded(
        Command::new("npm").args(["view", package, "version"]),
        Duration::from_secs(120),
        None,
    );
    assert!(
        out.status.success(),
        "\n\nreal-client suite: `npm view {package} version` failed:\n{}\n{HOW_TO_FIX}\n",
        out.stderr
    );
    out.stdout.trim().to_owned()
}

/// `npm install --prefix <dir> <package>@<version>`, into a temporary
/// directory renamed into place when complete, so an interrupted install is
/// never mistaken for a finished one.
fn npm_install(package: &str, version: &str, dir: &Path) {
    need("npm");
    need("node");
    let parent = dir.parent().expect("cache dir");
    std::fs::create_dir_all(parent).expect("create the client cache");
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dir.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "real_clients: npm install {package}@{version} into {}",
        dir.display()
    );
    let start = Instant::now();
    let out = run_bounded(
        Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&tmp)
            .arg(format!("{package}@{version}"))
            .args(["--no-audit", "--no-fund"]),
        NPM_TIMEOUT,
        None,
    );
    assert!(
        out.status.success(),
        "\n\nreal-client suite: `npm install {package}@{version}` failed ({}):\n{}\n{}\n{HOW_TO_FIX}\n",
        out.status,
        tail(&out.stdout, 20),
        tail(&out.stderr, 40)
    );
    if std::fs::rename(&tmp, dir).is_err() {
        // Another test process finished the same install first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    say(&format!(
        "real_clients: installed {package}@{version} in {:.1}s",
        start.elapsed().as_secs_f64()
    ));
}

/// A line on stderr past the test harness's capture (installs take a while;
/// the log should say why).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn check_version(c: &Client) {
    let exe = c.bin_dir.join(c.kind.bin());
    let mut cmd = Command::new(&exe);
    cmd.arg("--version")
        .env("PATH", path_with(&[&c.bin_dir]))
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null());
    let out = run_bounded(&mut cmd, Duration::from_secs(60), None);
    assert!(
        out.status.success() && out.stdout.contains(&c.version),
        "\n\nreal-client suite: {} --version (expected {}) gave {}:\n{}{}\n\
         The cached install in {} looks broken: delete it and run again.\n{HOW_TO_FIX}\n",
        exe.display(),
        c.version,
        out.status,
        out.stdout,
        out.stderr,
        c.bin_dir.parent().unwrap().parent().unwrap().display()
    );
}

/// `dirs` first, then this process's `PATH` (node, git, sh).
fn path_with(dirs: &[&Path]) -> std::ffi::OsString {
    let mut parts: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    if let Some(p) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(parts).expect("PATH")
}

// ---------------------------------------------------------------------------
// Bounded processes

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Run `cmd` in its own process group with stdout and stderr in files
/// (`log_prefix.out` / `.err`, or temporary ones), killing the whole group
/// if it outlives `timeout` (then panic, showing the output so far).
pub fn run_bounded(cmd: &mut Command, timeout: Duration, log_prefix: Option<&Path>) -> Finished {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let prefix = log_prefix.map_or_else(|| tmp.path().join("run"), Path::to_path_buf);
    let out_path = prefix.with_extension("out");
    let err_path = prefix.with_extension("err");
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > timeout {
            let pgid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; killed.\nstdout:\n{}\nstderr:\n{}",
                tail(&read_lossy(&out_path), 30),
                tail(&read_lossy(&err_path), 30)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
        elapsed: start.elapsed(),
    }
}

pub fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Poll `cond` every 20 ms until it holds or `deadline` passes.
pub fn wait_for(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// The mock model API

/// `mock.py` on 127.0.0.1 (a free port), killed on drop; it also stops by
/// itself after its TTL.
pub struct Mock {
    child: std::process::Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Mock {
    pub fn start(dir: &Path) -> Mock {
        need("python3");
        let port_file = dir.join("mock.port");
        let log = dir.join("mock-requests.jsonl");
        let child = Command::new("python3")
            .arg(support_file("mock.py"))
            .args(["--port", "0", "--ttl", &MOCK_TTL_SECS.to_string()])
            .arg("--log")
            .arg(&log)
            .arg("--port-file")
            .arg(&port_file)
            .env_remove("MOCK_FAIL")
            .env_remove("MOCK_FAIL_AFTER")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("mock.out")).expect("mock.out"))
            .stderr(std::fs::File::create(dir.join("mock.err")).expect("mock.err"))
            .spawn()
            .expect("start python3 mock.py");
        let mut mock = Mock {
            child,
            port: 0,
            log,
        };
        let up = wait_for(Duration::from_secs(20), || {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
                .is_some_and(|p| {
                    mock.port = p;
                    true
                })
        });
        assert!(
            up,
            "the mock API did not start: {}",
            read_lossy(&dir.join("mock.err"))
        );
        mock
    }

    /// Every request the mock has answered, `(path, body)`.
    pub fn requests(&self) -> Vec<(String, Value)> {
        read_lossy(&self.log)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                (
                    v["path"].as_str().unwrap_or("").to_owned(),
                    v["body"].clone(),
                )
            })
            .collect()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Hook timing: a `savepoint` shim first on the client's PATH

/// The shim saves the hook's payload (stdin) and arguments, runs the real
/// binary on them and logs start and end times (bash's `EPOCHREALTIME`), so
/// the event and duration of each call are known. A SIGTERM to the process
/// group (Claude's StopFailure, `-p` ending with async hooks running) is
/// passed on to the real hook — right away, or as soon as it has started —
/// so it meets the signal as it would without the shim, and the payload is
/// never lost to it. A signal the client's command ignored (`trap '' TERM`)
/// stays ignored. It adds 1–3 ms.
fn write_shim(dir: &Path) -> PathBuf {
    let shim_dir = dir.join("shim");
    let calls = dir.join("hook-calls");
    std::fs::create_dir_all(&shim_dir).unwrap();
    std::fs::create_dir_all(&calls).unwrap();
    let real = assert_cmd::cargo::cargo_bin("savepoint");
    let script = format!(
        r#"#!/bin/bash
# Generated by tests/real_clients: times one hook call, then passes it on.
trap 'sig=TERM; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' TERM
t0=$EPOCHREALTIME
d='{calls}'
id="$$-$RANDOM"
pid=
printf '%s' "${{@: -1}}" > "$d/$id.arg"
printf 'start %s %s\n' "$id" "$t0" >> "$d/timing.log"
cat > "$d/$id.stdin"
'{real}' "$@" < "$d/$id.stdin" &
pid=$!
[ -n "$sig" ] && kill -TERM "$pid" 2>/dev/null
while :; do
  wait "$pid"
  rc=$?
  kill -0 "$pid" 2>/dev/null || break
done
printf 'end %s %s %s %s %s\n' "$id" "$t0" "$EPOCHREALTIME" "$rc" "${{sig:--}}" >> "$d/timing.log"
exit $rc
"#,
        calls = calls.display(),
        real = real.display()
    );
    let path = shim_dir.join("savepoint");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    shim_dir
}

/// A deferred expectation.
pub type Check = Box<dyn FnMut(&Session) -> Result<(), String>>;

/// One timed hook call.
#[derive(Debug, Clone)]
pub struct HookCall {
    pub event: String,
    pub ms: f64,
    pub signal: bool,
}

/// The calls the shim logged: `(started, finished)`.
fn hook_calls(dir: &Path) -> (usize, Vec<HookCall>) {
    let calls = dir.join("hook-calls");
    let log = read_lossy(&calls.join("timing.log"));
    let mut started = 0;
    let mut done = Vec::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"start") => started += 1,
            Some(&"end") if f.len() >= 6 => {
                let id = f[1];
                let t0: f64 = f[2].parse().unwrap_or(0.0);
                let t1: f64 = f[3].parse().unwrap_or(0.0);
                done.push(HookCall {
                    event: event_of(&calls, id),
                    ms: (t1 - t0) * 1000.0,
                    signal: f[5] == "TERM",
                });
            }
            _ => {}
        }
    }
    (started, done)
}

/// The event of a hook call: `hook_event_name` of the payload on stdin, or
/// the `type` of Codex's notify payload (the last argument).
fn event_of(calls: &Path, id: &str) -> String {
    for (file, key) in [("stdin", "hook_event_name"), ("arg", "type")] {
        let text = read_lossy(&calls.join(format!("{id}.{file}")));
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            if let Some(e) = v[key].as_str() {
                return e.to_owned();
            }
        }
    }
    let arg = read_lossy(&calls.join(format!("{id}.arg")));
    if arg.is_empty() {
        "?".to_owned()
    } else {
        format!("({arg})")
    }
}

/// Latency rows of the whole test process, written to
/// `<cache>/latency.md` after each scenario.
static LATENCY: Mutex<Vec<(String, String, HookCall)>> = Mutex::new(Vec::new());

/// `setting`: the watcher column (`yes`, `no`, maybe with a note).
fn record_latency(client: &str, setting: &str, calls: &[HookCall]) {
    let mut all = LATENCY.lock().unwrap_or_else(|p| p.into_inner());
    all.extend(
        calls
            .iter()
            .map(|c| (client.to_owned(), setting.to_owned(), c.clone())),
    );
    let mut groups: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for (client, setting, c) in all.iter() {
        groups
            .entry((client.clone(), c.event.clone(), setting.clone()))
            .or_default()
            .push(c.ms);
    }
    let mut md = String::from(
        "# Hook latency inside the real clients\n\n\
         Wall time of each `savepoint hook …` call (the test profile's debug build), timed by a PATH \
         shim around the real binary (tests/it/real_clients/harness.rs), over every scenario of the \
         last `cargo test --test it real_clients::` run.\n\n\
         | client | event | watcher | calls | median ms | max ms |\n|---|---|---|---|---|---|\n",
    );
    for ((client, event, setting), mut v) in groups {
        v.sort_by(f64::total_cmp);
        md.push_str(&format!(
            "| {client} | {event} | {setting} | {} | {:.1} | {:.1} |\n",
            v.len(),
            v[v.len() / 2],
            v[v.len() - 1]
        ));
    }
    let _ = std::fs::create_dir_all(cache_dir());
    let _ = std::fs::write(cache_dir().join("latency.md"), md);
}

// ---------------------------------------------------------------------------
// A scenario: a test repository, one client, the mock, maybe a watcher

/// The user's own client settings before `hooks install` (committed in the
/// repository, so uninstall must give these bytes back), laid out as the
/// clients write them (two-space JSON).
pub const CLAUDE_USER_SETTINGS: &str = "{\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(cargo test:*)\"\n    ]\n  },\n  \"env\": {\n    \"RUST_LOG\": \"info\"\n  }\n}\n";
pub const GEMINI_USER_SETTINGS: &str = "{\n  \"ui\": {\n    \"theme\": \"GitHub\"\n  }\n}\n";
/// The same settings as a person writes them by hand (short arrays and
/// objects on one line).
pub const CLAUDE_HAND_WRITTEN_SETTINGS: &str = "{\n  \"permissions\": {\n    \"allow\": [\"Bash(cargo test:*)\"]\n  },\n  \"env\": { \"RUST_LOG\": \"info\" }\n}\n";
pub const GEMINI_HAND_WRITTEN_SETTINGS: &str = "{\n  \"ui\": { \"theme\": \"GitHub\" }\n}\n";

/// What the user has in the work tree, committed.
pub const LIB_RS: &str = "pub fn answer() -> u32 {\n    42\n}\n";
pub const UTIL_RS: &str = "pub fn helper() {}\n";
/// The user's uncommitted edit, made before the prompt.
pub const LIB_RS_EDITED: &str =
    "pub fn answer() -> u32 {\n    // the user's unsaved work\n    41 + 1\n}\n";

/// What `[[write PATH]]` makes the mock model write.
pub fn mock_content(path: &str) -> String {
    format!("mock wrote {path}\n")
}

pub struct Session {
    pub name: String,
    pub kind: Kind,
    pub client: Client,
    pub repo: TestRepo,
    /// Logs, the shim, the client's outputs: kept on failure (path printed).
    pub work: tempfile::TempDir,
    pub mock: Mock,
    shim_dir: PathBuf,
    watcher: bool,
    watcher_running: bool,
    runs: usize,
    /// Said with the hook latencies (e.g. the repository's size).
    pub latency_note: Option<String>,
    /// Unmet expectations, reported together at the end.
    failures: Vec<String>,
    /// Expectations about asynchronous work, checked together by
    /// [`Session::verify`].
    pending: Vec<(String, Check)>,
    /// Settings files `hooks install` may touch, as they were before it.
    settings_before: BTreeMap<PathBuf, Option<Vec<u8>>>,
    git_hooks_before: Vec<(String, Vec<u8>)>,
    /// HEAD, index and branches right after install.
    pub user_baseline: UserState,
    pub staged_baseline: String,
}

/// What one client run gave.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Session {
    /// A repository with committed files, a staged change (the index differs
    /// from HEAD) and the user's own client settings; the client configured
    /// for the mock; savepoint's hooks installed; a watcher when asked.
    pub fn new(kind: Kind, name: &str, watcher: bool) -> Session {
        Self::with_repo(kind, name, watcher, |_| {})
    }

    /// [`Session::new`], with `extra` adding files to the first commit.
    pub fn with_repo(
        kind: Kind,
        name: &str,
        watcher: bool,
        extra: impl FnOnce(&TestRepo),
    ) -> Session {
        let client = client(kind);
        let _ = std::fs::remove_dir_all(failed_dir(name));
        let repo = TestRepo::new();
        repo.write("src/lib.rs", LIB_RS);
        repo.write("src/util.rs", UTIL_RS);
        repo.write("README.md", "# demo\n");
        repo.write(".claude/settings.json", CLAUDE_USER_SETTINGS);
        repo.write(".gemini/settings.json", GEMINI_USER_SETTINGS);
        extra(&repo);
        repo.commit_all("init");
        repo.write("docs/staged.md", "staged by the user\n");
        repo.git(&["add", "docs/staged.md"]);
        let work = tempfile::Builder::new()
            .prefix(&format!("real-clients-{name}-"))
            .tempdir()
            .expect("tempdir");
        let mock = Mock::start(work.path());
        let shim_dir = write_shim(work.path());
        let mut s = Session {
            name: name.to_owned(),
            kind,
            client,
            repo,
            work,
            mock,
            shim_dir,
            watcher,
            watcher_running: false,
            runs: 0,
            latency_note: None,
            failures: Vec::new(),
            pending: Vec::new(),
            settings_before: BTreeMap::new(),
            git_hooks_before: Vec::new(),
            user_baseline: UserState {
                index: None,
                head: Vec::new(),
                branches: String::new(),
                status: String::new(),
            },
            staged_baseline: String::new(),
        };
        s.configure_client();
        s.settings_before = s
            .settings_files()
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).ok();
                (p, bytes)
            })
            .collect();
        s.git_hooks_before = s.git_hooks();
        // Installed as a user would: the client on PATH (Codex's own hooks
        // are chosen by the version `codex --version` reports).
        let mut cmd = s.repo.cmd();
        cmd.args(["hooks", "install", kind.install_flag()])
            .env("CODEX_HOME", s.codex_home())
            .env("PATH", path_with(&[&s.client.bin_dir]))
            .stdin(Stdio::null());
        let out = run_bounded(&mut cmd, SAVEPOINT_TIMEOUT, None);
        assert!(out.status.success(), "hooks install: {}", out.stderr);
        s.user_baseline = s.user_state();
        s.staged_baseline = s.staged();
        if watcher {
            let out = s.savepoint(&["watch", "--detach"]);
            assert!(out.status.success(), "watch --detach: {}", out.stderr);
            s.watcher_running = true;
        }
        s
    }

    pub fn home(&self) -> &Path {
        self.repo.home.path()
    }

    pub fn codex_home(&self) -> PathBuf {
        self.home().join(".codex")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.repo.abs(".git/savepoint")
    }

    /// The client's own configuration: offline, no telemetry, no retries,
    /// talking to the mock (client-specific knowledge lives here, see
    /// docs/real-clients.md).
    fn configure_client(&self) {
        match self.kind {
            Kind::Claude => {}
            Kind::Gemini => {
                let dir = self.home().join(".gemini");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(
                    dir.join("settings.json"),
                    r#"{
  "security": { "auth": { "selectedType": "gemini-api-key" } },
  "privacy": { "usageStatisticsEnabled": false },
  "telemetry": { "enabled": false },
  "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false, "maxAttempts": 1 }
}
"#,
                )
                .unwrap();
            }
            Kind::Codex => {
                std::fs::create_dir_all(self.codex_home()).unwrap();
                std::fs::write(
                    self.codex_home().join("config.toml"),
                    format!(
                        r#"# written by tests/real_clients (the user's Codex config)
model = "gpt-5.5"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[model_providers.mock]
name = "mock"
base_url = "http://127.0.0.1:{port}/v1"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 10000

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"

[history]
persistence = "none"

# Without these Codex looks up GitHub and ChatGPT hosts at start.
[features]
plugins = false
remote_plugin = false
apps = false
plugin_sharing = false
tool_suggest = false
in_app_updates = false
daemon_auto_start = false
"#,
                        port = self.mock.port
                    ),
                )
                .unwrap();
            }
        }
    }

    /// Every settings file any `hooks install` could touch.
    fn settings_files(&self) -> Vec<PathBuf> {
        let r = |p: &str| self.repo.abs(p);
        let h = |p: &str| self.home().join(p);
        vec![
            r(".claude/settings.json"),
            r(".claude/settings.local.json"),
            h(".claude/settings.json"),
            r(".gemini/settings.json"),
            h(".gemini/settings.json"),
            r(".codex/config.toml"),
            r(".codex/hooks.json"),
            self.codex_home().join("config.toml"),
            self.codex_home().join("hooks.json"),
        ]
    }

    fn git_hooks(&self) -> Vec<(String, Vec<u8>)> {
        let dir = self.repo.abs(".git/hooks");
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            std::fs::read(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A savepoint command in the repository (bounded).
    pub fn savepoint(&self, args: &[&str]) -> Finished {
        let mut cmd = self.repo.cmd();
        cmd.args(args)
            .env("CODEX_HOME", self.codex_home())
            .stdin(Stdio::null());
        run_bounded(&mut cmd, SAVEPOINT_TIMEOUT, None)
    }

    /// HEAD, index, branches.
    pub fn user_state(&self) -> UserState {
        let mut s = self.repo.user_state();
        s.status = String::new();
        s
    }

    /// What is staged, by content (`git ls-files -s`).
    pub fn staged(&self) -> String {
        self.repo.git(&["ls-files", "-s"])
    }

    /// The client, run with `prompt` in the repository, with a clean
    /// environment (nothing of this machine's own agent sessions leaks in),
    /// `HOME` the test's home, the shim first on `PATH`.
    pub fn prompt(&mut self, prompt: &str, continue_session: bool) -> Run {
        self.verify();
        self.runs += 1;
        let c = &self.client;
        let exe = c.bin_dir.join(c.kind.bin());
        let mut cmd = Command::new(&exe);
        cmd.current_dir(self.repo.path())
            .env_clear()
            .env("PATH", path_with(&[&self.shim_dir, &c.bin_dir]))
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let base = format!("http://127.0.0.1:{}", self.mock.port);
        match c.kind {
            Kind::Claude => {
                cmd.env("ANTHROPIC_BASE_URL", &base)
                    .env("ANTHROPIC_API_KEY", "sk-ant-mock")
                    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
                    .env("DISABLE_AUTOUPDATER", "1")
                    .env("DISABLE_TELEMETRY", "1")
                    .env("DISABLE_ERROR_REPORTING", "1")
                    .env("DISABLE_UPDATES", "1")
                    .env("CLAUDE_CODE_ENABLE_TELEMETRY", "0")
                    .env("CLAUDE_CODE_MAX_RETRIES", "0");
                cmd.args(["-p", prompt]);
                if continue_session {
                    cmd.arg("--continue");
                }
                // bypassPermissions is refused as root; the shell steps need Bash.
                cmd.args([
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--include-hook-events",
                    "--permission-mode",
                    "acceptEdits",
                    "--allowedTools",
                    "Bash",
                ]);
            }
            Kind::Gemini => {
                cmd.env("GOOGLE_GEMINI_BASE_URL", &base)
                    .env("GEMINI_API_KEY", "mock-key")
                    .env("GEMINI_CLI_TRUST_WORKSPACE", "true")
                    .env("GEMINI_TELEMETRY_ENABLED", "false")
                    .env("GEMINI_CLI_NO_RELAUNCH", "true");
                cmd.args(["-p", prompt]);
                if continue_session {
                    cmd.args(["--resume", "latest"]);
                }
                // Without -m a routing call to flash-lite comes first.
                cmd.args([
                    "--output-format",
                    "stream-json",
                    "--approval-mode",
                    "yolo",
                    "-m",
                    "gemini-2.5-flash",
                ]);
            }
            Kind::Codex => {
                cmd.env("CODEX_HOME", self.codex_home())
                    .env("MOCK_API_KEY", "mock-key");
                cmd.args(["exec", "--json"]);
                if continue_session {
                    cmd.args(["resume", "--last"]);
                }
                cmd.arg(prompt);
            }
        }
        let prefix = self.work.path().join(format!("client-{}", self.runs));
        let f = run_bounded(&mut cmd, CLIENT_TIMEOUT, Some(&prefix));
        // The client must have talked to the mock: otherwise nothing below
        // means anything.
        let quoted = serde_json::to_string(prompt).unwrap();
        let needle = &quoted[1..quoted.len() - 1];
        let asked = self
            .mock
            .requests()
            .iter()
            .any(|(_, b)| b.to_string().contains(needle));
        assert!(
            asked,
            "{}: {} never sent the prompt to the mock API (exit {}).\nstdout:\n{}\nstderr:\n{}",
            self.name,
            c.kind.name(),
            f.status,
            tail(&f.stdout, 20),
            tail(&f.stderr, 30)
        );
        Run {
            status: f.status,
            stdout: f.stdout,
            stderr: f.stderr,
            elapsed: f.elapsed,
        }
    }

    /// Wait until every hook call the client started has finished (the
    /// client may exit with async hooks still running).
    pub fn settle(&self) {
        let done = wait_for(EVENTUALLY, || {
            let (started, done) = hook_calls(self.work.path());
            started == done.len()
        });
        assert!(
            done,
            "{}: hook calls still running after {EVENTUALLY:?}",
            self.name
        );
    }

    // ---- observations ----

    /// `savepoint log --json` of the current chain, newest first.
    pub fn log(&self) -> Vec<Value> {
        let out = self.savepoint(&["log", "--json"]);
        assert!(out.status.success(), "log --json: {}", out.stderr);
        serde_json::from_str::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// The triggers `hook.log` names, in order.
    pub fn hook_log_triggers(&self) -> Vec<String> {
        read_lossy(&self.state_dir().join("hook.log"))
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect()
    }

    pub fn chain_ref(&self) -> &'static str {
        "refs/savepoint/heads/main"
    }

    /// A file of the chain's latest snapshot.
    pub fn snapshot_file(&self, path: &str) -> Option<String> {
        let out = self.repo.git_output(
            &["cat-file", "-p", &format!("{}:{path}", self.chain_ref())],
            None,
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The latest snapshot's tree, if any.
    pub fn snapshot_tree(&self) -> Option<String> {
        let out = self.repo.git_output(
            &[
                "rev-parse",
                "-q",
                "--verify",
                &format!("{}^{{tree}}", self.chain_ref()),
            ],
            None,
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Every `Savepoint-Prompt` trailer of the chain, oldest first.
    pub fn prompt_trailers(&self) -> Vec<String> {
        let out = self.repo.git_output(
            &[
                "log",
                "--reverse",
                "--first-parent",
                "--format=%(trailers:key=Savepoint-Prompt,valueonly,unfold)%x00",
                self.chain_ref(),
            ],
            None,
        );
        String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .flat_map(|c| {
                c.lines()
                    .map(str::trim)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The prompts `log --json` reports, oldest first: each entry's
    /// `prompts` array (spec), else its `prompt`.
    pub fn logged_prompts(&self) -> (Vec<String>, bool) {
        let log = self.log();
        let has_array = log
            .iter()
            .any(|e| e.get("prompts").is_some_and(Value::is_array));
        let prompts = log
            .iter()
            .rev()
            .flat_map(|e| match e.get("prompts").and_then(Value::as_array) {
                Some(a) => a
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
                None => e["prompt"]
                    .as_str()
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
            })
            .collect();
        (prompts, has_array)
    }

    // ---- expectations ----

    /// Record an unmet expectation unless `ok`.
    pub fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }

    /// An expectation about asynchronous work (`cond` returns `Err(detail)`
    /// while unmet), checked by the next [`Session::verify`].
    pub fn expect_eventually(
        &mut self,
        what: &str,
        cond: impl FnMut(&Session) -> Result<(), String> + 'static,
    ) {
        self.pending.push((what.to_owned(), Box::new(cond)));
    }

    /// Poll every pending expectation together until all hold or
    /// [`EVENTUALLY`] passes (one deadline for the lot, so a scenario with
    /// several unmet expectations still finishes quickly); record the unmet
    /// ones.
    pub fn verify(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        let mut state: Vec<Option<String>> = vec![Some(String::new()); pending.len()];
        wait_for(EVENTUALLY, || {
            for (i, (_, cond)) in pending.iter_mut().enumerate() {
                if state[i].is_some() {
                    state[i] = cond(self).err();
                }
            }
            state.iter().all(Option::is_none)
        });
        for ((what, _), last) in pending.iter().zip(state) {
            if let Some(detail) = last {
                self.failures
                    .push(format!("{what} (within {EVENTUALLY:?}): {detail}"));
            }
        }
    }

    /// Every hook call that got its payload (the shim saw a complete one)
    /// took effect: `hook.log` names its event as often — also when the
    /// client killed the hook's process group right after (Claude does so
    /// for StopFailure, and for async hooks when `-p` ends).
    pub fn expect_delivered_hooks_took_effect(&mut self) {
        let agent = self.kind.name();
        self.expect_eventually(
            "every hook call that received its payload took effect (hook.log)",
            move |s| {
                let (_, calls) = hook_calls(s.work.path());
                let mut want: BTreeMap<String, (usize, usize)> = BTreeMap::new();
                for c in calls.iter().filter(|c| !c.event.starts_with(['(', '?'])) {
                    let e = want.entry(format!("{agent}:{}", c.event)).or_default();
                    e.0 += 1;
                    e.1 += usize::from(c.signal);
                }
                let logged = s.hook_log_triggers();
                let missing: Vec<String> = want
                    .iter()
                    .filter_map(|(t, (n, killed))| {
                        let have = logged.iter().filter(|l| *l == t).count();
                        (have < *n).then(|| {
                            format!("{t}: {have} of {n} logged ({killed} of the calls got SIGTERM)")
                        })
                    })
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(missing.join("; "))
                }
            },
        );
    }

    /// Every event fired, as `hook.log` shows.
    pub fn expect_hooks_fired(&mut self, events: &[&str]) {
        let agent = self.kind.name();
        for e in events {
            let trigger = format!("{agent}:{e}");
            self.expect_eventually(&format!("hook {trigger} ran (hook.log)"), move |s| {
                let t = s.hook_log_triggers();
                if t.contains(&trigger) {
                    Ok(())
                } else {
                    Err(format!("hook.log has {t:?}"))
                }
            });
        }
    }

    /// Snapshots with these triggers are on the chain.
    pub fn expect_snapshot_triggers(&mut self, events: &[&str]) {
        let agent = self.kind.name();
        for e in events {
            let trigger = format!("{agent}:{e}");
            self.expect_eventually(&format!("a snapshot with trigger {trigger}"), move |s| {
                let triggers: Vec<String> = s
                    .log()
                    .iter()
                    .filter_map(|e| e["trigger"].as_str().map(str::to_owned))
                    .collect();
                if triggers.contains(&trigger) {
                    Ok(())
                } else {
                    Err(format!("log --json triggers (newest first): {triggers:?}"))
                }
            });
        }
    }

    /// The latest snapshot holds exactly the work tree (`git add -A`'s tree).
    pub fn expect_work_tree_in_snapshot(&mut self, what: &str) {
        self.expect_eventually(what, |s| {
            let want = s.repo.oracle_tree();
            match s.snapshot_tree() {
                Some(t) if t == want => Ok(()),
                got => Err(format!(
                    "latest snapshot tree {got:?}, work tree {want}; triggers {:?}",
                    s.hook_log_triggers()
                )),
            }
        });
    }

    /// `path` with `content` is in the latest snapshot.
    pub fn expect_snapshot_has(&mut self, path: &str, content: &str) {
        let content = content.to_owned();
        let path = path.to_owned();
        self.expect_eventually(&format!("{path} in the latest snapshot"), move |s| match s
            .snapshot_file(&path)
        {
            Some(c) if c == content => Ok(()),
            got => Err(format!("{path} in {}: {got:?}", s.chain_ref())),
        });
    }

    /// The prompt is recorded (a `Savepoint-Prompt` trailer and `log --json`).
    pub fn expect_prompt_recorded(&mut self, prompt: &str) {
        let prompt = prompt.to_owned();
        let p = prompt.clone();
        self.expect_eventually(
            "the prompt is recorded as a Savepoint-Prompt trailer",
            move |s| {
                let t = s.prompt_trailers();
                if t.contains(&p) {
                    Ok(())
                } else {
                    Err(format!("trailers: {t:?}"))
                }
            },
        );
        self.expect_eventually("the prompt is in log --json", move |s| {
            let (p, _) = s.logged_prompts();
            if p.contains(&prompt) {
                Ok(())
            } else {
                Err(format!("log --json prompts: {p:?}"))
            }
        });
    }

    /// HEAD, the index (byte for byte) and branches are as they were after
    /// install.
    pub fn expect_user_state_untouched(&mut self, when: &str) {
        let now = self.user_state();
        let base = &self.user_baseline;
        let detail = format!(
            "index bytes equal: {}, HEAD equal: {}, branches equal: {}",
            now.index == base.index,
            now.head == base.head,
            now.branches == base.branches
        );
        self.expect(now == *base, || {
            format!("HEAD/index/branches byte-identical {when}: {detail}")
        });
        let staged = self.staged();
        self.expect(staged == self.staged_baseline, || {
            format!("the staged content is unchanged {when}")
        });
    }

    /// `git fsck --strict` finds nothing wrong.
    pub fn expect_fsck_clean(&mut self) {
        let out = self
            .repo
            .git_output(&["fsck", "--strict", "--no-progress"], None);
        self.expect(out.status.success(), || {
            format!(
                "git fsck --strict: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    }

    /// Stop the watcher (if one runs), then `hooks uninstall`, and expect
    /// every settings file and git hook back byte for byte.
    pub fn uninstall_and_expect_restored(&mut self) {
        self.verify();
        self.stop_watcher();
        let out = self.savepoint(&["hooks", "uninstall", self.kind.install_flag()]);
        self.expect(out.status.success(), || {
            format!("hooks uninstall failed: {}", out.stderr)
        });
        let before = self.settings_before.clone();
        for (path, was) in before {
            let now = std::fs::read(&path).ok();
            self.expect(now == was, || {
                format!(
                    "hooks uninstall leaves {} as before install (before: {}, after: {})",
                    path.display(),
                    was.as_deref()
                        .map_or("absent".into(), |b| format!("{} bytes", b.len())),
                    now.as_deref().map_or("absent".into(), |b| format!(
                        "{} bytes: {}",
                        b.len(),
                        String::from_utf8_lossy(b)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ))
                )
            });
        }
        let hooks = self.git_hooks();
        let same = hooks == self.git_hooks_before;
        self.expect(same, || {
            "hooks uninstall leaves .git/hooks as before install".into()
        });
    }

    pub fn stop_watcher(&mut self) {
        self.verify();
        if self.watcher_running {
            let out = self.savepoint(&["stop", "--timeout", "30"]);
            self.watcher_running = false;
            self.expect(out.status.success(), || {
                format!("savepoint stop: {}", out.stderr)
            });
        }
    }

    /// Report the hook latency, then fail with every unmet expectation
    /// (keeping the scenario's files for a look).
    pub fn finish(mut self) {
        self.verify();
        self.stop_watcher();
        let (started, calls) = hook_calls(self.work.path());
        let setting = format!(
            "{}{}",
            if self.watcher { "yes" } else { "no" },
            self.latency_note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
        record_latency(self.kind.name(), &setting, &calls);
        let mut by_event: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for c in &calls {
            by_event.entry(&c.event).or_default().push(format!(
                "{:.0}{}",
                c.ms,
                if c.signal { "†" } else { "" }
            ));
        }
        let summary: Vec<String> = by_event
            .iter()
            .map(|(e, v)| format!("{e} [{}]", v.join(", ")))
            .collect();
        let killed = calls.iter().filter(|c| c.signal).count();
        eprintln!(
            "real_clients::{} ({}@{}, watcher: {setting}): hook ms: {}{}",
            self.name,
            self.client.package,
            self.client.version,
            summary.join("; "),
            if killed > 0 || started != calls.len() {
                format!(
                    " († {killed} got SIGTERM; {} unfinished)",
                    started - calls.len()
                )
            } else {
                String::new()
            }
        );
        if self.failures.is_empty() {
            return;
        }
        let hook_log = read_lossy(&self.state_dir().join("hook.log"));
        let mut msg = format!(
            "\n{} ({} {}): {} unmet expectation(s):\n",
            self.name,
            self.kind.name(),
            self.client.version,
            self.failures.len()
        );
        for f in &self.failures {
            msg.push_str(&format!("  - {f}\n"));
        }
        msg.push_str(&format!("hook.log:\n{hook_log}\n"));
        msg.push_str(&self.keep_for_a_look());
        panic!("{msg}");
    }
}

impl Session {
    /// Keep the scenario's files for a look, in one place per scenario (the
    /// previous run's copy is replaced): client output, mock requests, hook
    /// payloads and timings (`work/`), the repository, the home. Says where.
    pub fn keep_for_a_look(&mut self) -> String {
        let dest = failed_dir(&self.name);
        let _ = std::fs::create_dir_all(&dest);
        let mut kept = Vec::new();
        for (label, dir) in [
            ("work", &mut self.work),
            ("repo", &mut self.repo.dir),
            ("home", &mut self.repo.home),
        ] {
            let to = dest.join(label);
            if std::fs::rename(dir.path(), &to).is_ok() {
                kept.push(to);
            } else {
                dir.disable_cleanup(true);
                kept.push(dir.path().to_path_buf());
            }
        }
        format!(
            "kept for a look: {}\n",
            kept.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Where a failed scenario's files are kept.
fn failed_dir(name: &str) -> PathBuf {
    cache_dir().join("failed").join(name)
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.watcher_running {
            let _ = self.savepoint(&["stop", "--timeout", "30"]);
        }
    }
}
