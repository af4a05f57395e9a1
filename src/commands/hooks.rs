//! `savepoint hooks install|uninstall|status`: git hooks and Claude Code
//! settings that make every commit boundary and agent step a restore point.

use std::io::Write;

use anyhow::Result;
use savepoint::agent::claude::{self, Scope};
use savepoint::githooks::{self, HookState};

use super::Ctx;
use crate::ui;

/// Install, remove or list savepoint's git hooks (and Claude Code hooks).
///
/// Git hooks (post-commit, post-checkout, post-merge, post-rewrite,
/// pre-rebase) go to the effective hooks directory (`core.hooksPath`
/// honoured). A hook you already have keeps running: it is renamed to
/// `<name>.savepoint-chained` and run first, its exit status kept.
/// `--claude` also merges savepoint's entries into Claude Code's settings.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint hooks install --claude      # git hooks + .claude/settings.json\n  savepoint hooks install --claude=user # git hooks + ~/.claude/settings.json\n  savepoint hooks status\n  savepoint hooks uninstall --claude"
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

#[derive(Debug, clap::Args)]
pub struct Target {
    /// Also Claude Code's settings: `project` (.claude/settings.json, the
    /// default) or `user` (~/.claude/settings.json).
    #[arg(long, value_enum, value_name = "SCOPE", num_args = 0..=1, require_equals = true, default_missing_value = "project")]
    pub claude: Option<Scope>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    match &args.action {
        Action::Install(t) => {
            // Validate the settings file before touching anything.
            let settings = t
                .claude
                .map(|scope| claude::settings_path(ws.workdir(), scope))
                .transpose()?;
            if let Some(path) = &settings {
                claude::installed(path)?;
            }
            let changed = githooks::install(&ws)?;
            let dir = githooks::hooks_dir(&ws)?;
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
            if let Some(path) = settings {
                let added = claude::install(&path)?;
                if added.is_empty() {
                    writeln!(out, "Claude Code hooks: already in {}", path.display())?;
                } else {
                    writeln!(
                        out,
                        "Claude Code hooks added to {}: {}",
                        path.display(),
                        added.join(", ")
                    )?;
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
            if let Some(scope) = t.claude {
                let path = claude::settings_path(ws.workdir(), scope)?;
                let removed = claude::uninstall(&path)?;
                if removed.is_empty() {
                    writeln!(
                        out,
                        "Claude Code hooks: none of savepoint's in {}",
                        path.display()
                    )?;
                } else {
                    writeln!(
                        out,
                        "Claude Code hooks removed from {}: {}",
                        path.display(),
                        removed.join(", ")
                    )?;
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
            for scope in [Scope::Project, Scope::User] {
                let path = claude::settings_path(ws.workdir(), scope)?;
                let events = match claude::installed(&path) {
                    Ok(e) if e.is_empty() => u.paint(ui::DIM, "not installed"),
                    Ok(e) => format!("{}: {}", u.paint(ui::ADD, "installed"), e.join(", ")),
                    Err(e) => format!("{} ({e})", u.paint(ui::DEL, "unreadable")),
                };
                writeln!(out, "Claude Code ({}): {events}", path.display())?;
            }
        }
    }
    Ok(())
}
