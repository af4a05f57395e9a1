//! The performance harness (DESIGN.md §6, issue 20): times savepoint against
//! git on a generated tree or on an existing clone, side by side in one run
//! with alternating order, reporting medians and ratios.
//!
//! ```text
//! cargo bench --bench perf                                # 100k flat files, 7 rounds
//! cargo bench --bench perf -- --files 2000 --runs 3 --idle 2   # CI smoke run
//! cargo bench --bench perf -- --files 100000 --shape real      # deep, long paths, .gitattributes
//! cargo bench --bench perf -- --repo /path/to/clone            # a real repository
//! cargo bench --bench perf -- --only snap,restore --json       # some scenarios, JSON out
//! ```
//!
//! Scenarios (`--only`, comma-separated; all by default):
//! - `snap`: a one-file change; `savepoint snap` vs `git status --porcelain`
//!   vs the git-wip plumbing, and the peak RSS of `snap` and `git status`;
//! - `cold`: the first snapshot without a stat cache (index present), and
//!   with no index at all, vs `git add -A` into a fresh index;
//! - `restore`: ~2,500 changed files in a few directories brought back by
//!   `restore <snap> -- <dirs>` and by a whole-snapshot `restore`, vs
//!   `git checkout-index -f` of the same content from a temporary index;
//! - `restore-all`: up to 100,000 changed files, whole-snapshot `restore` vs
//!   `git checkout-index -f` (`-a` when that is every file);
//! - `watch`: watcher start-up vs `git status`, work per one-file event,
//!   a 1,000-file burst, idle CPU, RSS, and the commands that should answer
//!   from a running watcher (`snap`, `diff --stat`, `recover --dry-run`,
//!   `status`, `hook claude` PostToolUse / SessionStart / StopFailure), each
//!   alternating with `git status`;
//! - `hooks`: `hook claude` PostToolUse and SessionStart without a watcher
//!   vs `git status`.

mod generate;
mod report;
mod run;
mod scenarios;
mod target;
mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use generate::Shape;

pub const SCENARIOS: &[&str] = &["snap", "cold", "restore", "restore-all", "watch", "hooks"];

pub struct Opts {
    pub files: usize,
    pub runs: usize,
    pub dir: Option<PathBuf>,
    pub repo: Option<PathBuf>,
    pub shape: Shape,
    pub fresh: bool,
    pub idle: u64,
    pub only: Vec<String>,
    pub json: bool,
    pub timeout: u64,
    pub generate_only: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench perf -- [--files N] [--shape flat|real] [--dir PATH] [--fresh]\n\
         \x20      [--repo PATH] [--runs N] [--idle SECS] [--only {}] [--json]\n\
         \x20      [--timeout SECS] [--generate-only]",
        SCENARIOS.join(",")
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        files: 100_000,
        runs: 7,
        dir: None,
        repo: None,
        shape: Shape::Flat,
        fresh: false,
        idle: 60,
        only: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        json: false,
        timeout: 900,
        generate_only: false,
    };
    let mut args = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(v: Option<String>, what: &str) -> T {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("{what} needs a number");
            usage()
        })
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "--files" => o.files = num(args.next(), "--files"),
            "--runs" => o.runs = num::<usize>(args.next(), "--runs").max(1),
            "--idle" => o.idle = num(args.next(), "--idle"),
            "--timeout" => o.timeout = num::<u64>(args.next(), "--timeout").max(1),
            "--dir" => o.dir = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--repo" => o.repo = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--shape" => {
                o.shape = match args.next().as_deref() {
                    Some("flat") => Shape::Flat,
                    Some("real") => Shape::Real,
                    _ => usage(),
                }
            }
            "--only" => {
                let list = args.next().unwrap_or_else(|| usage());
                o.only = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = o.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                    eprintln!("unknown scenario {bad:?}");
                    usage();
                }
            }
            "--json" => o.json = true,
            "--fresh" => o.fresh = true,
            "--generate-only" => o.generate_only = true,
            "--bench" => {}
            "-h" | "--help" => usage(),
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    o
}

fn main() {
    let o = parse_opts();
    let savepoint = PathBuf::from(env!("CARGO_BIN_EXE_savepoint"));
    let home = std::env::temp_dir().join(format!("savepoint-bench-home-{}", std::process::id()));
    run::init(Duration::from_secs(o.timeout), home.clone());

    let dir = match &o.repo {
        Some(repo) => repo.clone(),
        None => {
            let dir = o.dir.clone().unwrap_or_else(|| {
                let suffix = match o.shape {
                    Shape::Flat => String::new(),
                    Shape::Real => "-real".into(),
                };
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("target/bench-repo-{}{suffix}", o.files))
            });
            let found =
                std::fs::read_to_string(dir.join(".git/bench-generator")).unwrap_or_default();
            let wanted = generate::marker(o.files, o.shape);
            if o.dir.is_some() && !o.fresh && !found.trim().is_empty() && found.trim() != wanted {
                // A tree someone generated on purpose (a million files take
                // half an hour): never replaced because a flag was left out.
                eprintln!(
                    "{} holds a generated tree '{}', not '{wanted}' (generator version, files, shape): \
                     pass the --files/--shape it was made with, or --fresh to generate it again",
                    dir.display(),
                    found.trim()
                );
                let _ = std::fs::remove_dir_all(&home);
                std::process::exit(2);
            }
            if o.fresh || found.trim() != wanted {
                eprintln!(
                    "generating {} files ({} shape) in {} …",
                    o.files,
                    o.shape.name(),
                    dir.display()
                );
                let t = Instant::now();
                generate::generate(&dir, o.files, o.shape);
                eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
            }
            dir
        }
    };
    if o.generate_only {
        let _ = std::fs::remove_dir_all(&home);
        return;
    }

    let mut t = match target::Target::open(&o, &savepoint, &dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot benchmark {}: {e}", dir.display());
            let _ = std::fs::remove_dir_all(&home);
            std::process::exit(1);
        }
    };
    let mut rows = Vec::new();
    for name in SCENARIOS.iter().filter(|s| o.only.iter().any(|x| x == *s)) {
        eprintln!("== {name}");
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match *name {
            "snap" => scenarios::snap(&o, &t),
            "cold" => scenarios::cold(&o, &t),
            "restore" => scenarios::restore(&o, &t),
            "restore-all" => scenarios::restore_all(&o, &t),
            "watch" => watch::watch(&o, &t),
            "hooks" => scenarios::hooks(&o, &t),
            _ => unreachable!(),
        }));
        let (mut got, failure) = match result {
            Ok(r) => (r.rows, r.failure),
            Err(p) => {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                (Vec::new(), Some(format!("panicked: {what}")))
            }
        };
        if let Some(f) = failure {
            eprintln!("scenario {name} FAILED: {f}");
            got.push(report::Row::failed(name, &f));
        }
        eprintln!("   ({:.1} s)", started.elapsed().as_secs_f64());
        rows.extend(got);
        if let Err(e) = t.reset() {
            eprintln!("reset after {name} failed: {e}");
        }
    }
    let clean = t.finish();
    report::print(&o, &t, &rows, clean.as_ref().err());
    let _ = std::fs::remove_dir_all(&home);
    if let Err(e) = clean {
        eprintln!("{e}");
        std::process::exit(1);
    }
    // Every scenario ran; a failed one still fails the run (the CI smoke run).
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.id.ends_with(".failed"))
        .map(|r| r.id.as_str())
        .collect();
    if !failed.is_empty() {
        eprintln!("failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}
