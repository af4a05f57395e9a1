//! `savepoint hooks install|uninstall|status`: git hooks and the coding
//! assistants' hook settings that make every commit boundary and agent step
//! a restore point.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::builder::{PossibleValue, PossibleValuesParser};
use savepoint::integrations::agents::{self, Agent, Change, State, StatusLine};
use savepoint::integrations::githooks::{self, HookState};

use super::Ctx;
use crate::cli::output as ui;

/// Install, remove or list savepoint's git hooks (and agent hooks).
///
/// Git hooks (post-commit, post-checkout, post-merge, post-rewrite,
/// pre-rebase) go to the effective hooks directory (`core.hooksPath`
/// honoured). A hook you already have keeps running: it is renamed to
/// `<name>.savepoint-chained` and run first, its exit status kept.
/// `--claude`, `--gemini`, `--codex`, `--cursor` also merge savepoint's
/// entries into those assistants' settings (every other key, comment and
/// the file's layout kept).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint hooks install --claude      # git hooks + .claude/settings.json\n  savepoint hooks install --claude=user # git hooks + ~/.claude/settings.json\n  savepoint hooks install --gemini --cursor --codex\n  savepoint hooks install --codex=notify # Codex's notify program, whatever its version\n  savepoint hooks status\n  savepoint hooks uninstall --claude"
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Install the git hooks (and, with --claude, the Claude Code hooks).
    /// Running it again changes nothing.
    Install(Target),
    /// Remove exactly what install added; your own hooks and settings stay
    /// byte for byte as they were.
    Uninstall(Target),
    /// Show what is installed where.
    Status,
}

/// The agents named on the command line, each with its `--<agent>[=VALUE]`
/// (one flag per agent of [`agents::all`], described by the agent).
#[derive(Debug)]
pub struct Target {
    pub agents: Vec<(&'static dyn Agent, String)>,
}

impl clap::FromArgMatches for Target {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let agents = agents::all()
            .iter()
            .filter_map(|&a| Some((a, m.get_one::<String>(a.name())?.clone())))
            .collect();
        Ok(Target { agents })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for Target {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        agents::all().iter().fold(cmd, |cmd, a| {
            let values = a
                .choices()
                .iter()
                .map(|c| PossibleValue::new(c.name).help(c.help));
            cmd.arg(
                clap::Arg::new(a.name())
                    .long(a.name())
                    .help(a.install_doc())
                    .value_name(a.choice_name())
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value(a.choices()[0].name)
                    .value_parser(PossibleValuesParser::new(values)),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    match &args.action {
        Action::Install(t) => {
            // Validate every settings file before touching anything.
            for (agent, choice) in &t.agents {
                agent.check(ws.workdir(), choice)?;
            }
            let changed = githooks::install(&ws)?;
            let dir = githooks::hooks_dir(&ws)?;
            warn_if_tracked(&ws, &dir, &changed);
            if changed.is_empty() {
                writeln!(out, "git hooks: already installed in {}", dir.display())?;
            }
            for h in changed {
                let how = if h.state == HookState::InstalledChained {
                    format!(" (your hook runs first, from {}.savepoint-chained)", h.name)
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "git hook {} installed: {}{how}",
                    u.paint(ui::BOLD, &h.name),
                    h.path.display()
                )?;
            }
            for (agent, choice) in &t.agents {
                for c in agent.install(ws.workdir(), choice)? {
                    writeln!(out, "{}", describe(&c, true))?;
                }
            }
        }
        Action::Uninstall(t) => {
            let changed = githooks::uninstall(&ws)?;
            if changed.is_empty() {
                writeln!(out, "git hooks: none of savepoint's installed")?;
            }
            for h in changed {
                let how = if h.state == HookState::InstalledChained {
                    " (your own hook is back in place)"
                } else {
                    ""
                };
                writeln!(out, "git hook {} removed{how}", h.name)?;
            }
            for (agent, choice) in &t.agents {
                for c in agent.uninstall(ws.workdir(), choice)? {
                    writeln!(out, "{}", describe(&c, false))?;
                }
            }
        }
        Action::Status => {
            writeln!(out, "git hooks in {}:", githooks::hooks_dir(&ws)?.display())?;
            for h in githooks::status(&ws)? {
                let state = match h.state {
                    HookState::Installed => u.paint(ui::ADD, "installed"),
                    HookState::InstalledChained => {
                        format!(
                            "{} (chains your previous hook)",
                            u.paint(ui::ADD, "installed")
                        )
                    }
                    HookState::Absent => u.paint(ui::DIM, "not installed"),
                    HookState::Foreign => format!(
                        "{} (a hook of yours is there; install chains it)",
                        u.paint(ui::DIM, "not installed")
                    ),
                };
                writeln!(out, "  {:<14} {state}", h.name)?;
            }
            for agent in agents::all() {
                for line in agent.status(ws.workdir())? {
                    writeln!(out, "{}", status_line(&line, u))?;
                }
            }
        }
    }
    Ok(())
}

/// One line for what an install (`install`) or uninstall did.
fn describe(c: &Change, install: bool) -> String {
    match c {
        Change::Entries {
            agent,
            file,
            events,
        } => {
            let file = file.display();
            match (install, events.is_empty()) {
                (true, true) => format!("{agent} hooks: already in {file}"),
                (true, false) => format!("{agent} hooks added to {file}: {}", events.join(", ")),
                (false, true) => format!("{agent} hooks: none of savepoint's in {file}"),
                (false, false) => {
                    format!("{agent} hooks removed from {file}: {}", events.join(", "))
                }
            }
        }
        Change::Setting {
            name,
            file,
            changed,
        } => {
            let file = file.display();
            match (install, changed) {
                (true, true) => format!("{name} set in {file}"),
                (true, false) => format!("{name}: already set in {file}"),
                (false, true) => format!("{name} removed from {file}"),
                (false, false) => format!("{name}: not savepoint's in {file}"),
            }
        }
        Change::Note(note) => note.clone(),
    }
}

/// One line of `hooks status` for an agent.
fn status_line(line: &StatusLine, u: &ui::Ui) -> String {
    let (what, file, state) = match line {
        StatusLine::Note(note) => return note.clone(),
        StatusLine::File { what, file, state } => (what, file, state),
    };
    let state = match state {
        State::Absent => u.paint(ui::DIM, "not installed"),
        State::Unreadable(e) => format!("{} ({e})", u.paint(ui::DEL, "unreadable")),
        State::Installed { events, trust } => {
            let mut s = u.paint(ui::ADD, "installed");
            if !events.is_empty() {
                s = format!("{s}: {}", events.join(", "));
            }
            match trust {
                None => s,
                Some(t) if t.untrusted.is_empty() => format!("{s} (trusted)"),
                Some(t) => format!(
                    "{s}; {} for {} ({})",
                    u.paint(ui::DEL, "not trusted"),
                    t.untrusted.join(", "),
                    t.fix
                ),
            }
        }
    };
    format!("{what} ({}): {state}", file.display())
}

/// `core.hooksPath` inside the work tree (husky's `.husky/`, a shared
/// `hooks/` directory): the hooks savepoint wrote or chained there may be
/// files the repository tracks — say so, and what to do, rather than
/// leave a surprise in `git status`.
fn warn_if_tracked(
    ws: &savepoint::workspace::Workspace,
    dir: &Path,
    changed: &[githooks::HookStatus],
) {
    let Ok(rel) = dir.strip_prefix(ws.workdir()) else {
        return;
    };
    if rel.as_os_str().is_empty() || changed.is_empty() {
        return;
    }
    let listed = savepoint::git::command::GitCmd::new(ws.git_dir(), ws.workdir())
        .args(["ls-files", "-z", "--"])
        .arg(rel)
        .output();
    let tracked: Vec<String> = match listed {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
        _ => return,
    };
    let touched: Vec<&str> = changed
        .iter()
        .filter_map(|h| {
            let p = rel.join(&h.name);
            let p = p.to_string_lossy();
            tracked.iter().find(|t| **t == p).map(String::as_str)
        })
        .collect();
    eprintln!(
        "warning: core.hooksPath is inside the work tree ({}): savepoint's git hooks were written \
         into your repository's files{}. Keep them out of your commits (they run \
         `savepoint hook git …` only where savepoint is installed); `savepoint hooks uninstall` \
         puts every file back byte for byte.",
        ui::text(&rel.display().to_string()),
        if touched.is_empty() {
            String::new()
        } else {
            format!(
                "; these tracked hooks now run through savepoint's wrapper and show as changed in \
                 `git status`: {}",
                touched
                    .iter()
                    .map(|t| ui::text(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
}
