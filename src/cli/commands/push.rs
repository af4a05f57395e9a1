//! `savepoint push` / `savepoint fetch`: snapshot chains to and from a git
//! remote.

use anyhow::Result;
use savepoint::ops::remote;

use super::Ctx;
use crate::cli::output as ui;

/// Copy this repository's snapshot chains to a git remote.
///
/// Pushes `refs/savepoint/heads/*`, `detached/*` and `worktrees/*` under
/// the same names with git's own transport and credentials; branches are
/// never pushed. A chain the remote has from another machine is not
/// overwritten (unless --force): fetch it, it is kept side by side.
///
/// A chain you pushed and `prune` has thinned since is yours: it replaces
/// the pushed copy (status `rewritten`), with a lease on the tip you pushed
/// (`git push --force-with-lease=<ref>:<tip>`), so a chain another machine
/// pushed in between is still refused.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint push                 # savepoint.remote, else origin\n  savepoint push backup\n  savepoint prune && savepoint push      # the pruned chain replaces the pushed one\n  git config savepoint.pushInterval 15m   # the watcher pushes by itself"
)]
pub struct PushArgs {
    /// The remote (default: savepoint.remote, else origin).
    pub remote: Option<String>,

    /// Replace chains the remote has from another machine.
    #[arg(long)]
    pub force: bool,

    /// Print JSON: an array of {"ref","status","detail"}; "status" is `new`,
    /// `updated`, `up to date`, `forced` (--force) or `rewritten` (a pruned
    /// chain replaced its pushed copy).
    #[arg(long)]
    pub json: bool,
}

/// Bring a remote's snapshot chains in, beside the local ones.
///
/// Fetches the remote's `refs/savepoint/heads/*`, `detached/*` and
/// `worktrees/*` into `refs/savepoint/remotes/<remote>/…`: local chains are
/// never overwritten.
/// `savepoint log --all` lists them; `savepoint restore` restores from them.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint fetch && savepoint log --all\n  savepoint restore remotes/origin/heads/main -- src/"
)]
pub struct FetchArgs {
    /// The remote (default: savepoint.remote, else origin).
    pub remote: Option<String>,
}

pub fn push(ctx: &Ctx, args: &PushArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    let cfg = ws.config()?;
    let name = remote::choose(args.remote.as_deref(), cfg.remote.as_deref());
    let pushed = remote::push(&ws, &name, args.force)?;
    if args.json {
        return super::print_json(&pushed);
    }
    if pushed.is_empty() {
        println!("nothing to push: no snapshots yet");
    }
    for p in &pushed {
        println!(
            "{:<10} {} → {name}",
            p.status,
            ctx.ui.paint(ui::REF, &p.refname)
        );
    }
    Ok(())
}

pub fn fetch(ctx: &Ctx, args: &FetchArgs) -> Result<()> {
    let ws = ctx.workspace()?;
    let cfg = ws.config()?;
    let name = remote::choose(args.remote.as_deref(), cfg.remote.as_deref());
    let refs = remote::fetch(&ws, &name)?;
    if refs.is_empty() {
        println!("{name} has no snapshot chains");
    }
    for r in &refs {
        println!("{}", ctx.ui.paint(ui::REF, r));
    }
    Ok(())
}
