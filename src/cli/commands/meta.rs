//! `savepoint completions`, `savepoint man`, `savepoint config`, and the
//! guide printed when savepoint runs with no command.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;
use savepoint::watch;
use savepoint::workspace::Workspace;

use super::Ctx;
use crate::cli::output as ui;
use crate::cli::Cli;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint completions bash > ~/.local/share/bash-completion/completions/savepoint\n  savepoint completions zsh > \"${fpath[1]}/_savepoint\"\n  savepoint completions fish > ~/.config/fish/completions/savepoint.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the manual page (roff), or write one page per command.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint man | man -l -\n  savepoint man --out-dir ~/.local/share/man/man1"
)]
pub struct ManArgs {
    /// Write savepoint.1 and savepoint-<command>.1 into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Show the effective savepoint settings and where each comes from.
///
/// Every `savepoint.*` key with its value and origin (default, or the git
/// config scope and file). Invalid values are errors naming the key.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint config\n  git config savepoint.debounce 500 && savepoint config --json"
)]
pub struct ConfigArgs {
    /// Print JSON: an array of {"key","value","source","file"}.
    #[arg(long)]
    pub json: bool,
}

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "savepoint", &mut std::io::stdout());
    Ok(())
}

pub fn man(args: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    match &args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("savepoint-{}", sub.get_name());
                let sub = sub.clone().display_name(name);
                clap_mangen::Man::new(sub).render(&mut out)?;
            }
            std::io::stdout().write_all(&out)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let write = |name: &str, c: clap::Command| -> Result<()> {
                let path = dir.join(format!("{name}.1"));
                let mut out = Vec::new();
                clap_mangen::Man::new(c).render(&mut out)?;
                std::fs::write(&path, out).with_context(|| format!("write {}", path.display()))?;
                println!("{}", path.display());
                Ok(())
            };
            write("savepoint", cmd.clone())?;
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("savepoint-{}", sub.get_name());
                write(&name, sub.clone().display_name(name.clone()))?;
            }
        }
    }
    Ok(())
}

/// One setting and its origin.
#[derive(Debug, serde::Serialize)]
struct Setting {
    key: &'static str,
    value: String,
    /// `default`, or git's scope: `system`, `global`, `local`, `worktree`, `command`.
    source: String,
    file: Option<String>,
}

const KEYS: &[(&str, &str)] = &[
    ("savepoint.debounce", "1000 (ms)"),
    ("savepoint.maxWait", "10000 (ms)"),
    ("savepoint.maxFileSize", "50m"),
    ("savepoint.exclude", "(none)"),
    ("savepoint.keepAll", "1d"),
    ("savepoint.keepHourly", "7d"),
    ("savepoint.keepDaily", "90d"),
    ("savepoint.remote", "origin"),
    ("savepoint.pushInterval", "off"),
    ("savepoint.autostart", "false"),
    ("savepoint.statusUrl", "auto"),
    (
        "savepoint.statusUrl.anthropic",
        "https://status.anthropic.com/api/v2/summary.json",
    ),
    (
        "savepoint.statusUrl.google",
        "https://status.cloud.google.com/incidents.json",
    ),
    (
        "savepoint.statusUrl.openai",
        "https://status.openai.com/api/v2/summary.json",
    ),
];

pub fn config(ctx: &Ctx, args: &ConfigArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    // Validate everything first: an invalid value is an error naming the key.
    ws.config()?;
    let out = savepoint::git::command::GitCmd::new(ws.git_dir(), ws.workdir())
        .args([
            "config",
            "--show-scope",
            "--show-origin",
            "--get-regexp",
            r"^savepoint\.",
        ])
        .output()
        .context("run `git config`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut settings = Vec::new();
    for (key, default) in KEYS {
        // Later lines win (git's order: system, global, local, …); a multi-
        // valued key lists every value.
        let lines: Vec<(String, String, String)> = text
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let scope = parts.next()?.to_owned();
                let origin = parts.next()?.trim_start_matches("file:").to_owned();
                let (k, v) = parts
                    .next()?
                    .split_once(' ')
                    .unwrap_or((parts.next().unwrap_or(""), ""));
                k.eq_ignore_ascii_case(key)
                    .then(|| (scope, origin, v.to_owned()))
            })
            .collect();
        let setting = if *key == "savepoint.exclude" && !lines.is_empty() {
            Setting {
                key,
                value: lines
                    .iter()
                    .map(|l| l.2.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                source: lines.last().map(|l| l.0.clone()).unwrap_or_default(),
                file: lines.last().map(|l| l.1.clone()),
            }
        } else if let Some((scope, origin, value)) = lines.last() {
            Setting {
                key,
                value: value.clone(),
                source: scope.clone(),
                file: Some(origin.clone()),
            }
        } else {
            Setting {
                key,
                value: (*default).to_owned(),
                source: "default".into(),
                file: None,
            }
        };
        settings.push(setting);
    }
    if args.json {
        return super::print_json(&settings);
    }
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    for s in settings {
        let origin = match &s.file {
            Some(f) => format!("{} ({f})", s.source),
            None => s.source.clone(),
        };
        writeln!(
            out,
            "{:<29} {:<14} {}",
            s.key,
            s.value,
            u.paint(ui::DIM, &origin)
        )?;
    }
    Ok(())
}

/// `savepoint` with no command: where this repository stands and what to
/// do next.
pub fn guide(ctx: &Ctx) -> Result<()> {
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} — snapshots your work tree so an interrupted session never loses work.",
        u.paint(ui::BOLD, "savepoint")
    )?;
    let Ok(ws) = Workspace::discover(&ctx.dir) else {
        writeln!(out, "\nNot in a git work tree. In your project, run:")?;
        writeln!(
            out,
            "  savepoint watch --detach           # snapshot every change"
        )?;
        writeln!(
            out,
            "  savepoint hooks install --claude   # + restore points at commits and agent steps"
        )?;
        writeln!(out, "\nAll commands: savepoint --help")?;
        return Ok(());
    };
    let st = watch::status(&ws)?;
    let hooks = savepoint::integrations::githooks::status(&ws)
        .map(|h| {
            h.iter()
                .filter(|h| {
                    matches!(
                        h.state,
                        savepoint::integrations::githooks::HookState::Installed
                            | savepoint::integrations::githooks::HookState::InstalledChained
                    )
                })
                .count()
        })
        .unwrap_or(0);
    writeln!(out, "\n{}", ws.workdir().display())?;
    let mut next = Vec::new();
    match st.pid {
        Some(pid) => writeln!(
            out,
            "  watcher:   {} (pid {pid})",
            u.paint(ui::ADD, "running")
        )?,
        None => {
            writeln!(out, "  watcher:   {}", u.paint(ui::DIM, "not running"))?;
            next.push(
                "savepoint watch --detach            # snapshot every change in the background",
            );
        }
    }
    if hooks == savepoint::integrations::githooks::HOOKS.len() {
        writeln!(out, "  git hooks: {}", u.paint(ui::ADD, "installed"))?;
    } else {
        writeln!(out, "  git hooks: {}", u.paint(ui::DIM, "not installed"))?;
        next.push(
            "savepoint hooks install --claude    # restore points at commits and Claude Code steps",
        );
    }
    match (&st.last_snapshot, &st.last_snapshot_time) {
        (Some(id), Some(t)) => {
            let age = chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| ui::relative_age(&t))
                .unwrap_or_default();
            writeln!(
                out,
                "  snapshots: {} on {}, latest {} ({age})",
                st.snapshots,
                u.paint(ui::REF, &st.refname),
                u.paint(ui::ID, id)
            )?;
            next.push("savepoint log                       # what was recorded");
            next.push(
                "savepoint recover --dry-run         # anything lost? see what would come back",
            );
        }
        _ => {
            writeln!(
                out,
                "  snapshots: none yet on {}",
                u.paint(ui::REF, &st.refname)
            )?;
            next.push("savepoint snap                      # take the first one now");
        }
    }
    writeln!(out, "\nNext:")?;
    for n in next {
        writeln!(out, "  {n}")?;
    }
    writeln!(out, "\nAll commands: savepoint --help")?;
    Ok(())
}
