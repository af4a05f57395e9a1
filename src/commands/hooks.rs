//! `savepoint hooks install|uninstall|status`: git hooks and Claude Code
//! settings that make every commit boundary and agent step a restore point.

use std::io::Write;

use anyhow::Result;
use std::path::{Path, PathBuf};

use savepoint::agent::settings::{AgentSettings, Scope};
use savepoint::agent::{claude, codex, cursor, gemini};
use savepoint::githooks::{self, HookState};

use super::Ctx;
use crate::ui;

/// Install, remove or list savepoint's git hooks (and agent hooks).
///
/// Git hooks (post-commit, post-checkout, post-merge, post-rewrite,
/// pre-rebase) go to the effective hooks directory (`core.hooksPath`
/// honoured). A hook you already have keeps running: it is renamed to
/// `<name>.savepoint-chained` and run first, its exit status kept.
/// `--claude`, `--gemini`, `--codex`, `--cursor` also merge savepoint's
/// entries into those assistants' settings (every other key kept).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint hooks install --claude      # git hooks + .claude/settings.json\n  savepoint hooks install --claude=user # git hooks + ~/.claude/settings.json\n  savepoint hooks install --gemini --cursor --codex\n  savepoint hooks status\n  savepoint hooks uninstall --claude"
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

    /// Also Gemini CLI's settings: `project` (.gemini/settings.json, the
    /// default) or `user` (~/.gemini/settings.json).
    #[arg(long, value_enum, value_name = "SCOPE", num_args = 0..=1, require_equals = true, default_missing_value = "project")]
    pub gemini: Option<Scope>,

    /// Also Codex CLI: its `notify` program in ~/.codex/config.toml
    /// ($CODEX_HOME); an existing notify program is chained.
    #[arg(long)]
    pub codex: bool,

    /// Also Cursor's hooks: `project` (.cursor/hooks.json, the default) or
    /// `user` (~/.cursor/hooks.json).
    #[arg(long, value_enum, value_name = "SCOPE", num_args = 0..=1, require_equals = true, default_missing_value = "project")]
    pub cursor: Option<Scope>,
}

/// Install, uninstall or list savepoint's entries in one settings file;
/// returns the events concerned.
type Edit = Box<dyn Fn(&Path) -> savepoint::Result<Vec<String>>>;

/// An agent's settings file and how to change it.
struct AgentFile {
    name: &'static str,
    path: PathBuf,
    install: Edit,
    uninstall: Edit,
    installed: Edit,
}

/// Claude Code, Gemini CLI, Cursor: JSON settings files.
fn json_file(s: AgentSettings, workdir: &Path, scope: Scope) -> savepoint::Result<AgentFile> {
    Ok(AgentFile {
        name: s.name,
        path: s.path(workdir, scope)?,
        install: Box::new(move |p| s.install(p)),
        uninstall: Box::new(move |p| s.uninstall(p)),
        installed: Box::new(move |p| s.installed(p)),
    })
}

/// Codex CLI: the `notify` key of its TOML config.
fn codex_file() -> savepoint::Result<AgentFile> {
    let notify = |changed: bool| changed.then(|| "notify".to_owned()).into_iter().collect();
    Ok(AgentFile {
        name: "Codex CLI",
        path: codex::config_path()?,
        install: Box::new(move |p| codex::install(p).map(notify)),
        uninstall: Box::new(move |p| codex::uninstall(p).map(notify)),
        installed: Box::new(move |p| codex::installed(p).map(notify)),
    })
}

impl Target {
    /// The agent settings files this invocation names.
    fn files(&self, workdir: &Path) -> savepoint::Result<Vec<AgentFile>> {
        let mut out = Vec::new();
        for (settings, scope) in [
            (claude::SETTINGS, self.claude),
            (gemini::SETTINGS, self.gemini),
            (cursor::SETTINGS, self.cursor),
        ] {
            if let Some(scope) = scope {
                out.push(json_file(settings, workdir, scope)?);
            }
        }
        if self.codex {
            out.push(codex_file()?);
        }
        Ok(out)
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    match &args.action {
        Action::Install(t) => {
            // Validate every settings file before touching anything.
            let files = t.files(ws.workdir())?;
            for f in &files {
                (f.installed)(&f.path)?;
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
            for f in files {
                let added = (f.install)(&f.path)?;
                if added.is_empty() {
                    writeln!(out, "{} hooks: already in {}", f.name, f.path.display())?;
                } else {
                    writeln!(
                        out,
                        "{} hooks added to {}: {}",
                        f.name,
                        f.path.display(),
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
            for f in t.files(ws.workdir())? {
                let removed = (f.uninstall)(&f.path)?;
                if removed.is_empty() {
                    writeln!(
                        out,
                        "{} hooks: none of savepoint's in {}",
                        f.name,
                        f.path.display()
                    )?;
                } else {
                    writeln!(
                        out,
                        "{} hooks removed from {}: {}",
                        f.name,
                        f.path.display(),
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
            let mut files = Vec::new();
            for scope in [Scope::Project, Scope::User] {
                for settings in [claude::SETTINGS, gemini::SETTINGS, cursor::SETTINGS] {
                    files.push(json_file(settings, ws.workdir(), scope)?);
                }
            }
            files.push(codex_file()?);
            for f in files {
                let events = match (f.installed)(&f.path) {
                    Ok(e) if e.is_empty() => u.paint(ui::DIM, "not installed"),
                    Ok(e) => format!("{}: {}", u.paint(ui::ADD, "installed"), e.join(", ")),
                    Err(e) => format!("{} ({e})", u.paint(ui::DEL, "unreadable")),
                };
                writeln!(out, "{} ({}): {events}", f.name, f.path.display())?;
            }
        }
    }
    Ok(())
}
