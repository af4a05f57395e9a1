//! The performance harness (DESIGN.md §6): generates a deterministic
//! synthetic repository and times savepoint against git's own plumbing, side
//! by side in one run with alternating order, reporting medians and ratios.
//!
//! ```text
//! cargo bench --bench perf                       # 100k files, 7 rounds
//! cargo bench --bench perf -- --files 2000 --runs 3   # CI smoke run
//! ```
//!
//! Scenarios:
//! - one-file change: `savepoint snap` vs `git status --porcelain` vs the
//!   plumbing baseline (`cp index; git add -A; git write-tree;
//!   git commit-tree; git update-ref` into a temp index);
//! - cold first snapshot (no stat cache, index present) vs `git add -A`
//!   into a fresh index;
//! - cold snapshot with no usable index (every file hashed) vs the same;
//! - watcher: start-up (scan + watches) vs `git status`; the work from a
//!   debounced one-file event to the moved ref (the watcher's own
//!   measurement, `last_snapshot_ms` in its status) and the wall time from
//!   the write to the moved ref; a 1,000-file burst (snapshots made, work of
//!   the last one); idle CPU over `--idle` seconds (default 60) and RSS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GENERATOR_VERSION: u32 = 1;

struct Opts {
    files: usize,
    runs: usize,
    dir: Option<PathBuf>,
    fresh: bool,
    idle: u64,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        files: 100_000,
        runs: 7,
        dir: None,
        fresh: false,
        idle: 60,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--files" => o.files = args.next().and_then(|v| v.parse().ok()).expect("--files N"),
            "--runs" => o.runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--dir" => o.dir = args.next().map(PathBuf::from),
            "--fresh" => o.fresh = true,
            "--idle" => {
                o.idle = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--idle SECS")
            }
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    o
}

/// A small deterministic PRNG (xorshift64*), so every run builds the same tree.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn git(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdout(Stdio::null());
    c
}

fn run_ok(mut c: Command) {
    let st = c.status().expect("spawn");
    assert!(st.success(), "{c:?} failed");
}

/// `files` tracked files in ~files/20 directories (two levels), 90 % small
/// text (100 B–2 KiB), 10 % binary (4–64 KiB), plus an ignored `target/`.
fn generate(dir: &Path, files: usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(0x5EED_5EED_5EED_5EED);
    let dirs = (files / 20).max(1);
    let top = ((dirs as f64).sqrt() as usize).max(1);
    let mut buf = Vec::new();
    for i in 0..files {
        let d = i % dirs;
        let rel = format!(
            "d{:03}/s{:03}/f{:05}.{}",
            d % top,
            d / top,
            i,
            if i % 10 == 9 { "bin" } else { "txt" }
        );
        let p = dir.join(&rel);
        if i < dirs {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        buf.clear();
        let len = if i % 10 == 9 {
            4096 + rng.next() % 61_440
        } else {
            100 + rng.next() % 1948
        } as usize;
        while buf.len() < len {
            let x = rng.next();
            if i % 10 == 9 {
                buf.extend_from_slice(&x.to_le_bytes());
            } else {
                buf.extend_from_slice(format!("line {x:x}\n").as_bytes());
            }
        }
        buf.truncate(len);
        std::fs::write(p, &buf).unwrap();
    }
    std::fs::write(dir.join(".gitignore"), "/target/\n*.o\n").unwrap();
    for i in 0..2000 {
        let p = dir.join(format!("target/debug/obj{:02}/o{i}.o", i % 40));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, i.to_string()).unwrap();
    }
    run_ok(git(dir, &["init", "-q", "-b", "main"]));
    run_ok(git(dir, &["add", "-A"]));
    run_ok(git(dir, &["commit", "-q", "-m", "generated"]));
    std::fs::write(
        dir.join(".git/bench-generator"),
        format!("{GENERATOR_VERSION} {files}"),
    )
    .unwrap();
}

fn time(mut c: Command) -> Duration {
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let t = Instant::now();
    let st = c.status().expect("spawn");
    let d = t.elapsed();
    assert!(st.success(), "{c:?} failed");
    d
}

fn time_sh(dir: &Path, script: &str) -> Duration {
    let mut c = Command::new("sh");
    c.args(["-c", script]).current_dir(dir);
    time(c)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let o = parse_opts();
    let savepoint = PathBuf::from(env!("CARGO_BIN_EXE_savepoint"));
    let dir = o.dir.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-repo-{}", o.files))
    });
    let marker = std::fs::read_to_string(dir.join(".git/bench-generator")).unwrap_or_default();
    if o.fresh || marker != format!("{GENERATOR_VERSION} {}", o.files) {
        eprintln!("generating {} files in {} …", o.files, dir.display());
        let t = Instant::now();
        generate(&dir, o.files);
        eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    }
    // Start from a clean slate: no savepoint state, no shadow refs.
    let _ = std::fs::remove_dir_all(dir.join(".git/savepoint"));
    run_ok(git(&dir, &["checkout", "-q", "--", "."]));
    let _ = git(&dir, &["update-ref", "-d", "refs/savepoint/heads/main"]).status();
    run_ok(git(&dir, &["update-index", "--really-refresh"]));
    std::thread::sleep(Duration::from_millis(1100)); // out of the racy window

    let snap = || {
        let mut c = Command::new(&savepoint);
        c.arg("snap").current_dir(&dir);
        c
    };
    let plumbing = "cp .git/index .git/bench-index && export GIT_INDEX_FILE=.git/bench-index && git add -A && \
         t=$(git write-tree) && c=$(echo bench | git commit-tree $t -p HEAD) && git update-ref refs/bench/baseline $c";
    let fresh_add = "rm -f .git/bench-fresh && GIT_INDEX_FILE=.git/bench-fresh git add -A";

    // Warm the page cache and the stat cache.
    time(snap());
    time(git(&dir, &["status", "--porcelain"]));
    time_sh(&dir, plumbing);

    // (a) one-file change, alternating order.
    let (mut t_snap, mut t_status, mut t_plumb) = (vec![], vec![], vec![]);
    let target = dir.join("d000/s000/f00000.txt");
    for round in 0..o.runs {
        std::fs::write(&target, format!("round {round}\n")).unwrap();
        let order = round % 3;
        for k in 0..3 {
            match (order + k) % 3 {
                0 => t_snap.push(time(snap())),
                1 => t_status.push(time(git(&dir, &["status", "--porcelain"]))),
                _ => t_plumb.push(time_sh(&dir, plumbing)),
            }
        }
    }
    let (snap_m, status_m, plumb_m) = (median(t_snap), median(t_status), median(t_plumb));

    // (b) cold first snapshot (index present, no stat cache) vs fresh-index add.
    let (mut t_cold, mut t_fresh) = (vec![], vec![]);
    for round in 0..o.runs.min(5) {
        std::fs::write(&target, format!("cold {round}\n")).unwrap();
        let _ = std::fs::remove_dir_all(dir.join(".git/savepoint"));
        let _ = git(&dir, &["update-ref", "-d", "refs/savepoint/heads/main"]).status();
        if round % 2 == 0 {
            t_cold.push(time(snap()));
            t_fresh.push(time_sh(&dir, fresh_add));
        } else {
            t_fresh.push(time_sh(&dir, fresh_add));
            t_cold.push(time(snap()));
        }
    }
    let (cold_m, fresh_m) = (median(t_cold), median(t_fresh));

    // (b') cold with no index at all: every file read and hashed.
    let mut t_noindex = vec![];
    std::fs::rename(dir.join(".git/index"), dir.join(".git/index.bench-away")).unwrap();
    for round in 0..o.runs.min(3) {
        std::fs::write(&target, format!("noindex {round}\n")).unwrap();
        let _ = std::fs::remove_dir_all(dir.join(".git/savepoint"));
        let _ = git(&dir, &["update-ref", "-d", "refs/savepoint/heads/main"]).status();
        t_noindex.push(time(snap()));
    }
    std::fs::rename(dir.join(".git/index.bench-away"), dir.join(".git/index")).unwrap();
    let noindex_m = median(t_noindex);
    let _ = std::fs::remove_file(dir.join(".git/bench-fresh"));
    let _ = std::fs::remove_file(dir.join(".git/bench-index"));

    let w = watcher_bench(&o, &savepoint, &dir, &target);

    let ratio = |a: Duration, b: Duration| format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64());
    println!(
        "## savepoint perf: {} files, {} rounds (medians)\n",
        o.files, o.runs
    );
    println!("| scenario | savepoint | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| one-file change: `snap` vs `git status --porcelain` | {} | {} | {} | ≤ 1.0× |",
        ms(snap_m),
        ms(status_m),
        ratio(snap_m, status_m)
    );
    println!("| one-file change: `snap` vs plumbing (`add -A`+`write-tree`+`commit-tree`+`update-ref`) | {} | {} | {} | — |", ms(snap_m), ms(plumb_m), ratio(snap_m, plumb_m));
    println!("| cold first `snap` (no stat cache) vs `git add -A` into a fresh index | {} | {} | {} | ≤ 1.5× |", ms(cold_m), ms(fresh_m), ratio(cold_m, fresh_m));
    println!("| cold `snap` with no index (hash every file) vs `git add -A` into a fresh index | {} | {} | {} | ≤ 1.5× |", ms(noindex_m), ms(fresh_m), ratio(noindex_m, fresh_m));
    println!(
        "| watcher start-up (stat-cached scan + {} watches) vs `git status --porcelain` | {} | {} | {} | — |",
        w.watches,
        ms(w.startup),
        ms(status_m),
        ratio(w.startup, status_m)
    );
    println!(
        "| watcher: work from debounced one-file event to moved ref | {} | — | — | ≤ 10 ms |",
        ms(w.event_work)
    );
    println!(
        "| watcher: wall time from write to moved ref (debounce {} ms included) | {} | — | — | — |",
        WATCH_DEBOUNCE_MS,
        ms(w.event_wall)
    );
    println!(
        "| watcher: 1,000-file burst → snapshots after quiet; work of the last | {} snapshot(s); {} | — | — | ≤ 2 |",
        w.burst_snapshots,
        ms(w.burst_work)
    );
    println!(
        "| watcher idle CPU over {} s | {:.2} % | — | — | ~0 % |",
        o.idle, w.idle_cpu_pct
    );
    println!(
        "| watcher RSS (peak / current) | {:.1} / {:.1} MiB | — | — | ≤ 60 MiB |",
        w.rss_peak_mib, w.rss_now_mib
    );
    println!(
        "| `hook claude` PostToolUse Edit, watcher running (handed over) | {} | — | — | ≤ 50 ms |",
        ms(w.hook_with_watcher)
    );
    println!(
        "| `hook claude` SessionStart, watcher running (notice from the chain) | {} | — | — | ≤ 10 ms |",
        ms(w.start_with_watcher)
    );
    println!(
        "| `hook claude` SessionStart, no watcher (stat-cached scan) vs `git status` | {} | {} | {} | — |",
        ms(w.start_without_watcher),
        ms(status_m),
        ratio(w.start_without_watcher, status_m)
    );
    println!(
        "| `hook claude` PostToolUse Edit, no watcher (snapshot by the hook's worker) vs `git status` | {} | {} | {} | — |",
        ms(w.hook_without_watcher),
        ms(status_m),
        ratio(w.hook_without_watcher, status_m)
    );
}

const WATCH_DEBOUNCE_MS: u64 = 50;

struct WatchNumbers {
    hook_with_watcher: Duration,
    hook_without_watcher: Duration,
    start_with_watcher: Duration,
    start_without_watcher: Duration,
    startup: Duration,
    watches: u64,
    event_work: Duration,
    event_wall: Duration,
    burst_snapshots: usize,
    burst_work: Duration,
    idle_cpu_pct: f64,
    rss_peak_mib: f64,
    rss_now_mib: f64,
}

fn watch_state(dir: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(dir.join(".git/savepoint/watch.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn ref_tip(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "-q", "--verify", "refs/savepoint/heads/main"])
        .current_dir(dir)
        .output()
        .expect("git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(300), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
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

fn watcher_bench(o: &Opts, savepoint: &Path, dir: &Path, target: &Path) -> WatchNumbers {
    // A warm stat cache, as after any earlier snapshot.
    time({
        let mut c = Command::new(savepoint);
        c.arg("snap").current_dir(dir);
        c
    });
    let t = Instant::now();
    let mut child = Command::new(savepoint)
        .args(["watch", "--debounce", &WATCH_DEBOUNCE_MS.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start watcher");
    let pid = child.id();
    wait_for("watcher start", || {
        watch_state(dir).is_some_and(|s| s["pid"] == pid)
    });
    let startup = t.elapsed();
    let watches = watch_state(dir)
        .and_then(|s| s["watches"].as_u64())
        .unwrap_or(0);

    let (mut work, mut wall) = (vec![], vec![]);
    for round in 0..o.runs.max(3) {
        let before = ref_tip(dir);
        let t = Instant::now();
        std::fs::write(target, format!("watch round {round}\n")).unwrap();
        wait_for("one-file snapshot", || ref_tip(dir) != before);
        wall.push(t.elapsed());
        // The status file is written right after the ref moves.
        std::thread::sleep(Duration::from_millis(20));
        let ms = watch_state(dir)
            .and_then(|s| s["last_snapshot_ms"].as_f64())
            .unwrap_or(0.0);
        work.push(Duration::from_secs_f64(ms / 1000.0));
        std::thread::sleep(Duration::from_millis(200));
    }

    // A 1,000-file burst: rewrite existing files as fast as possible.
    let taken = |d: &Path| {
        watch_state(d)
            .and_then(|s| s["snapshots_taken"].as_u64())
            .unwrap_or(0)
    };
    let before = taken(dir);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.join("d001")).unwrap().flatten() {
        for f in std::fs::read_dir(entry.path()).unwrap().flatten() {
            files.push(f.path());
        }
        if files.len() >= 1000 {
            break;
        }
    }
    files.truncate(1000);
    for (i, f) in files.iter().enumerate() {
        std::fs::write(f, format!("burst {i}\n")).unwrap();
    }
    // Quiet: wait for the debounce to pass and the snapshots to land.
    std::thread::sleep(Duration::from_millis(WATCH_DEBOUNCE_MS * 4 + 500));
    wait_for("burst snapshot", || taken(dir) > before);
    std::thread::sleep(Duration::from_millis(300));
    let burst_snapshots = (taken(dir) - before) as usize;
    let burst_work = Duration::from_secs_f64(
        watch_state(dir)
            .and_then(|s| s["last_snapshot_ms"].as_f64())
            .unwrap_or(0.0)
            / 1000.0,
    );

    let run_hook = |payload: String| {
        let t = Instant::now();
        let mut child = Command::new(savepoint)
            .args(["hook", "claude"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hook claude");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        t.elapsed()
    };
    let hook = |round: usize| {
        std::fs::write(target, format!("hook round {round}\n")).unwrap();
        run_hook(format!(
            r#"{{"session_id":"bench","cwd":"{}","hook_event_name":"PostToolUse","tool_name":"Edit","tool_input":{{"file_path":"{}"}}}}"#,
            dir.display(),
            target.display()
        ))
    };
    // A new session starts after the bench session's snapshots.
    let session_start = || {
        run_hook(format!(
            r#"{{"session_id":"bench-next","cwd":"{}","hook_event_name":"SessionStart","source":"startup"}}"#,
            dir.display()
        ))
    };
    let mut with_watcher = Vec::new();
    for round in 0..o.runs.max(3) {
        with_watcher.push(hook(round));
        std::thread::sleep(Duration::from_millis(100));
    }
    let start_with_watcher = median((0..o.runs.max(3)).map(|_| session_start()).collect());

    let cpu0 = cpu_secs(pid);
    std::thread::sleep(Duration::from_secs(o.idle));
    let idle_cpu_pct = (cpu_secs(pid) - cpu0) / o.idle as f64 * 100.0;
    let rss_peak_mib = rss_mib(pid, "VmHWM:");
    let rss_now_mib = rss_mib(pid, "VmRSS:");

    let _ = Command::new(savepoint)
        .arg("stop")
        .current_dir(dir)
        .stdout(Stdio::null())
        .status();
    let _ = child.wait();
    let mut without_watcher = Vec::new();
    for round in 0..o.runs.max(3) {
        without_watcher.push(hook(1000 + round));
    }
    let start_without_watcher = median((0..o.runs.max(3)).map(|_| session_start()).collect());
    run_ok(git(dir, &["checkout", "-q", "--", "."]));
    WatchNumbers {
        hook_with_watcher: median(with_watcher),
        hook_without_watcher: median(without_watcher),
        start_with_watcher,
        start_without_watcher,
        startup,
        watches,
        event_work: median(work),
        event_wall: median(wall),
        burst_snapshots,
        burst_work,
        idle_cpu_pct,
        rss_peak_mib,
        rss_now_mib,
    }
}
