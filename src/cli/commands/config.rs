//! `savepoint config`: every `savepoint.*` key, its effective value and
//! where that comes from. The keys and their defaults are the library's
//! ([`Config::KEYS`], one per provider for the status pages).

use std::io::Write;

use anyhow::{Context, Result};
use savepoint::integrations::provider_status::{self, PROVIDERS};
use savepoint::workspace::config::{Config, KeyDoc};

use super::Ctx;
use crate::cli::output as ui;

/// Show the effective savepoint settings and where each comes from.
///
/// Every `savepoint.*` key with its value and origin (default, or the git
/// config scope and file). Invalid values are errors naming the key.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint config\n  git config savepoint.debounce 500 && savepoint config --json"
)]
pub struct Args {
    /// Print JSON: an array of {"key","value","source","file"}.
    #[arg(long)]
    pub json: bool,
}

/// One setting and its origin.
#[derive(Debug, serde::Serialize)]
struct Setting {
    key: String,
    value: String,
    /// `default`, or git's scope: `system`, `global`, `local`, `worktree`, `command`.
    source: String,
    file: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
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
    // Each key with its default.
    let defaults = Config::default();
    let keys = Config::KEYS
        .iter()
        .map(|k: &KeyDoc| (k.key.to_owned(), k.multi, (k.show)(&defaults)))
        .chain(PROVIDERS.iter().map(|p| {
            let url = provider_status::url_for(&defaults, p);
            let key = format!("savepoint.statusUrl.{}", p.key);
            (key, false, url.unwrap_or_else(|| "none".to_owned()))
        }));
    let mut settings = Vec::new();
    for (key, multi, default) in keys {
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
                k.eq_ignore_ascii_case(&key)
                    .then(|| (scope, origin, v.to_owned()))
            })
            .collect();
        let setting = if multi && !lines.is_empty() {
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
                value: default,
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
