//! `savepoint hooks install|uninstall|status`: git hooks and the coding
//! assistants' hook settings that make every commit boundary and agent step
//! a restore point.

use std::io::Write;

use anyhow::Result;
use std::path::{Path, PathBuf};

use savepoint::integrations::agents::codex::{self, Mechanism};
use savepoint::integrations::agents::settings::{AgentSettings, Scope};
use savepoint::integrations::agents::{claude, cursor, gemini};
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

    /// Also Codex CLI ($CODEX_HOME, else ~/.codex): `auto` (the default)
    /// installs Codex's own hooks (hooks.json, trusted in config.toml) when
    /// the `codex` on PATH is 0.171.0 or newer, and its `notify` program
    /// (config.toml; an existing one is chained) otherwise — also when no
    /// `codex` is on PATH; `hooks` or `notify` choose. Only one is installed
    /// at a time. Uninstall removes both.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "auto")]
    pub codex: Option<CodexMode>,

    /// Also Cursor's hooks: `project` (.cursor/hooks.json, the default) or
    /// `user` (~/.cursor/hooks.json).
    #[arg(long, value_enum, value_name = "SCOPE", num_args = 0..=1, require_equals = true, default_missing_value = "project")]
    pub cursor: Option<Scope>,
}

/// How `--codex` plugs savepoint into Codex CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodexMode {
    /// Codex's own hooks when the `codex` on PATH has them, else `notify`.
    Auto,
    /// Codex's own hooks (Codex 0.171.0 or newer).
    Hooks,
    /// Codex's `notify` program (every version; no word of a failed turn).
    Notify,
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
            if t.codex.is_some() {
                codex::status(&codex::Files::locate()?)?;
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
            if let Some(mode) = t.codex {
                install_codex(&mut out, mode)?;
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
            if t.codex.is_some() {
                uninstall_codex(&mut out)?;
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
            for f in files {
                let events = match (f.installed)(&f.path) {
                    Ok(e) if e.is_empty() => u.paint(ui::DIM, "not installed"),
                    Ok(e) => format!("{}: {}", u.paint(ui::ADD, "installed"), e.join(", ")),
                    Err(e) => format!("{} ({e})", u.paint(ui::DEL, "unreadable")),
                };
                writeln!(out, "{} ({}): {events}", f.name, f.path.display())?;
            }
            codex_status(&mut out, u)?;
        }
    }
    Ok(())
}

/// What `codex --version` says, for messages.
fn codex_found(version: Option<codex::Version>) -> String {
    match version {
        Some(v) => format!("the `codex` on PATH is {v}"),
        None => "no `codex` answered on PATH".to_owned(),
    }
}

fn install_codex(out: &mut impl Write, mode: CodexMode) -> Result<()> {
    let version = codex::installed_version();
    let mechanism = match mode {
        CodexMode::Hooks => Mechanism::Hooks,
        CodexMode::Notify => Mechanism::Notify,
        CodexMode::Auto => {
            let m = codex::mechanism_for(version);
            let why = match (m, version) {
                (Mechanism::Hooks, _) => "its own hooks".to_owned(),
                (Mechanism::Notify, Some(_)) => format!(
                    "its notify program (savepoint uses Codex's own hooks from {})",
                    codex::HOOKS_SINCE
                ),
                (Mechanism::Notify, None) => format!(
                    "its notify program, which every version sends (for Codex {} or newer \
                     installed elsewhere, `savepoint hooks install --codex=hooks` installs its \
                     own hooks instead)",
                    codex::HOOKS_SINCE
                ),
            };
            writeln!(out, "Codex CLI: {}: using {why}", codex_found(version))?;
            m
        }
    };
    let files = codex::Files::locate_creating()?;
    match mechanism {
        Mechanism::Hooks => {
            let c = codex::install_hooks(&files)?;
            if c.hooks.is_empty() {
                writeln!(out, "Codex CLI hooks: already in {}", files.hooks.display())?;
            } else {
                writeln!(
                    out,
                    "Codex CLI hooks added to {}: {}",
                    files.hooks.display(),
                    c.hooks.join(", ")
                )?;
            }
            if c.trust > 0 {
                writeln!(
                    out,
                    "Codex CLI hooks trusted in {} (as Codex's /hooks review does; \
                     Codex skips hooks it does not trust)",
                    files.config.display()
                )?;
            }
            if c.switched {
                writeln!(
                    out,
                    "Codex CLI notify: savepoint's entry taken out of {} (the hooks replace it)",
                    files.config.display()
                )?;
            }
        }
        Mechanism::Notify => {
            let c = codex::install_notify(&files)?;
            if c.notify {
                writeln!(out, "Codex CLI notify set in {}", files.config.display())?;
            } else {
                writeln!(
                    out,
                    "Codex CLI notify: already set in {}",
                    files.config.display()
                )?;
            }
            if c.switched {
                writeln!(
                    out,
                    "Codex CLI hooks: savepoint's taken out of {} (notify replaces them)",
                    files.hooks.display()
                )?;
            }
        }
    }
    Ok(())
}

fn uninstall_codex(out: &mut impl Write) -> Result<()> {
    let files = codex::Files::locate()?;
    let c = codex::uninstall(&files)?;
    if c.hooks.is_empty() {
        writeln!(
            out,
            "Codex CLI hooks: none of savepoint's in {}",
            files.hooks.display()
        )?;
    } else {
        writeln!(
            out,
            "Codex CLI hooks removed from {}: {}",
            files.hooks.display(),
            c.hooks.join(", ")
        )?;
    }
    if c.trust > 0 {
        writeln!(
            out,
            "Codex CLI: savepoint's hook trust entries removed from {} ({})",
            files.config.display(),
            c.trust
        )?;
    }
    if c.notify {
        writeln!(
            out,
            "Codex CLI notify removed from {}",
            files.config.display()
        )?;
    } else {
        writeln!(
            out,
            "Codex CLI notify: not savepoint's in {}",
            files.config.display()
        )?;
    }
    Ok(())
}

fn codex_status(out: &mut impl Write, u: &ui::Ui) -> Result<()> {
    let version = codex::installed_version();
    let which = match codex::mechanism_for(version) {
        Mechanism::Hooks => "`hooks install --codex` uses its own hooks",
        Mechanism::Notify => "`hooks install --codex` uses notify",
    };
    writeln!(out, "Codex CLI: {}; {which}", codex_found(version))?;
    let files = codex::Files::locate()?;
    match codex::status(&files) {
        Err(e) => writeln!(
            out,
            "Codex CLI ({}): {} ({e})",
            files.config.display(),
            u.paint(ui::DEL, "unreadable")
        )?,
        Ok(s) => {
            let hooks = if s.hooks.is_empty() {
                u.paint(ui::DIM, "not installed")
            } else if s.untrusted.is_empty() {
                format!(
                    "{}: {} (trusted)",
                    u.paint(ui::ADD, "installed"),
                    s.hooks.join(", ")
                )
            } else {
                format!(
                    "{}: {}; {} for {} (Codex skips them: run `savepoint hooks install --codex` again)",
                    u.paint(ui::ADD, "installed"),
                    s.hooks.join(", "),
                    u.paint(ui::DEL, "not trusted"),
                    s.untrusted.join(", ")
                )
            };
            writeln!(out, "Codex CLI hooks ({}): {hooks}", files.hooks.display())?;
            let notify = if s.notify {
                u.paint(ui::ADD, "installed")
            } else {
                u.paint(ui::DIM, "not installed")
            };
            writeln!(
                out,
                "Codex CLI notify ({}): {notify}",
                files.config.display()
            )?;
        }
    }
    Ok(())
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
