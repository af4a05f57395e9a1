//! The real clients, end to end: Claude Code, Gemini CLI and Codex installed
//! from npm (pinned in `tests/it/real_clients/versions`; `SAVEPOINT_CLIENTS=latest`
//! for the newest) and driven offline against a scripted mock model API on
//! 127.0.0.1 (`tests/it/real_clients/mock.py`), with savepoint's hooks installed
//! by `savepoint hooks install` in a fresh test repository.
//!
//! The prompts script the mock model (`[[write PATH]]`, `[[bash CMD]]`,
//! `[[fail STATUS]]`, see mock.py), so each scenario is deterministic: the
//! model writes a file, runs a destructive shell command, or the API dies
//! with a 529/500. The expectations are the product contract
//! (shared/DESIGN.md §4, README "Use with Claude Code" / "Other
//! assistants"): hooks fire, prompts are recorded in order, the work is in a
//! snapshot, an outage leaves `handoff.md`, `recover` brings lost files back,
//! uninstall restores settings byte for byte, and HEAD, the index and
//! branches never change. Each scenario reports every unmet expectation
//! together, with the files kept for a look.
//!
//! Needs node/npm and python3; fails loudly without them.
//! `SAVEPOINT_REAL_CLIENTS=skip` skips the suite (saying so). Hook latency
//! per client and event is printed per scenario and collected in
//! `target/tmp/real-clients/latency.md`.

mod harness;

use harness::{
    mock_content, read_lossy, skipped, Kind, Session, CLAUDE_HAND_WRITTEN_SETTINGS,
    GEMINI_HAND_WRITTEN_SETTINGS, LIB_RS_EDITED,
};

const FEATURE: &str = "src/feature.rs";

/// The events whose hooks each client must run for a prompt whose turn
/// writes a file (Codex: its own hooks, installed and trusted by `hooks
/// install --codex`). Claude's PostToolUse and Stop hooks are `async`, and
/// `claude -p` cancels running async hooks when it exits (SIGTERM, or before
/// the hook even starts): whether they run is up to the client's timing, so
/// they are covered by [`Session::expect_delivered_hooks_took_effect`] —
/// every call that got its payload must take effect — instead.
fn fired(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Claude => &["SessionStart", "UserPromptSubmit", "SessionEnd"],
        Kind::Gemini => &[
            "SessionStart",
            "BeforeAgent",
            "AfterTool",
            "AfterAgent",
            "SessionEnd",
        ],
        Kind::Codex => &[
            "SessionStart",
            "UserPromptSubmit",
            "PostToolUse",
            "Stop",
            "SessionEnd",
        ],
    }
}

/// The snapshots such a turn leaves without a watcher: before the prompt
/// (it holds the user's unsaved edit) and, where the hook is synchronous,
/// after the tool.
fn snapshots(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Claude => &["UserPromptSubmit"],
        Kind::Codex => &["UserPromptSubmit", "PostToolUse"],
        Kind::Gemini => &["BeforeAgent", "AfterTool"],
    }
}

/// Fail now (not an expectation about savepoint): the client did not do
/// what the mock scripted, so the scenario tests nothing.
fn client_did(s: &mut Session, ok: bool, what: &str, run: &harness::Run) {
    if ok {
        return;
    }
    s.stop_watcher();
    let kept = s.keep_for_a_look();
    panic!(
        "{}: the {} client did not {what} (exit {}, {:.1}s).\nstdout:\n{}\nstderr:\n{}\n{kept}",
        s.name,
        s.kind.name(),
        run.status,
        run.elapsed.as_secs_f64(),
        harness::tail(&run.stdout, 15),
        harness::tail(&run.stderr, 25),
    );
}

// ---------------------------------------------------------------------------
// A prompt whose turn writes a file

/// `hand_written`: the user's settings file is laid out by hand, not as
/// `serde_json` would (uninstall must still give back the same bytes).
fn basic(kind: Kind, watcher: bool, name: &str, hand_written: bool) {
    if skipped(name) {
        return;
    }
    let mut s = Session::with_repo(kind, name, watcher, |repo| {
        if hand_written {
            repo.write(".claude/settings.json", CLAUDE_HAND_WRITTEN_SETTINGS);
            repo.write(".gemini/settings.json", GEMINI_HAND_WRITTEN_SETTINGS);
        }
    });
    s.repo.write("src/lib.rs", LIB_RS_EDITED);
    let prompt = "Add a feature module. [[write src/feature.rs]] [[reply]]";
    let run = s.prompt(prompt, false);
    client_did(&mut s, run.status.success(), "finish the turn", &run);
    let ok = read_lossy(&s.repo.abs(FEATURE)) == mock_content(FEATURE);
    client_did(&mut s, ok, "write src/feature.rs", &run);
    s.settle();
    s.expect_hooks_fired(fired(kind));
    s.expect_delivered_hooks_took_effect();
    if !watcher {
        s.expect_snapshot_triggers(snapshots(kind));
    }
    s.expect_snapshot_has(FEATURE, &mock_content(FEATURE));
    s.expect_snapshot_has("src/lib.rs", LIB_RS_EDITED);
    s.expect_work_tree_in_snapshot("the latest snapshot is the work tree after the turn");
    s.expect_prompt_recorded(prompt);
    s.expect_user_state_untouched("after the client ran");
    s.uninstall_and_expect_restored();
    s.expect_user_state_untouched("after hooks uninstall");
    s.expect_fsck_clean();
    s.finish();
}

#[test]
fn claude_writes_a_file_without_watcher() {
    basic(
        Kind::Claude,
        false,
        "claude_writes_a_file_without_watcher",
        false,
    );
}

#[test]
fn claude_writes_a_file_with_watcher() {
    basic(
        Kind::Claude,
        true,
        "claude_writes_a_file_with_watcher",
        false,
    );
}

#[test]
fn gemini_writes_a_file_without_watcher() {
    basic(
        Kind::Gemini,
        false,
        "gemini_writes_a_file_without_watcher",
        false,
    );
}

#[test]
fn gemini_writes_a_file_with_watcher() {
    basic(
        Kind::Gemini,
        true,
        "gemini_writes_a_file_with_watcher",
        false,
    );
}

#[test]
fn codex_writes_a_file_without_watcher() {
    basic(
        Kind::Codex,
        false,
        "codex_writes_a_file_without_watcher",
        false,
    );
}

#[test]
fn codex_writes_a_file_with_watcher() {
    basic(Kind::Codex, true, "codex_writes_a_file_with_watcher", false);
}

#[test]
fn claude_hooks_uninstall_keeps_hand_written_settings() {
    basic(
        Kind::Claude,
        false,
        "claude_hooks_uninstall_keeps_hand_written_settings",
        true,
    );
}

#[test]
fn gemini_hooks_uninstall_keeps_hand_written_settings() {
    basic(
        Kind::Gemini,
        false,
        "gemini_hooks_uninstall_keeps_hand_written_settings",
        true,
    );
}

// ---------------------------------------------------------------------------
// The model destroys work with its shell tool; `recover` brings it back

fn destructive(kind: Kind, watcher: bool, name: &str, command: &str) {
    if skipped(name) {
        return;
    }
    let mut s = Session::new(kind, name, watcher);
    s.repo.write("src/lib.rs", LIB_RS_EDITED);
    let run = s.prompt(
        "Add a feature module. [[write src/feature.rs]] [[reply]]",
        false,
    );
    let ok = s.repo.abs(FEATURE).exists();
    client_did(&mut s, ok, "write src/feature.rs", &run);
    s.settle();
    s.expect_work_tree_in_snapshot("the work is in a snapshot before the destructive command");
    let only_src = |p: &str| !p.starts_with("src");
    let before = s.repo.fingerprint(only_src);

    let run = s.prompt(
        &format!("Clean up the tree. [[bash {command}]] [[reply]]"),
        false,
    );
    let ok = s.repo.fingerprint(only_src) != before;
    client_did(&mut s, ok, &format!("run `{command}`"), &run);
    s.settle();
    s.expect_delivered_hooks_took_effect();
    if kind != Kind::Claude {
        s.expect_hooks_fired(&[match kind {
            Kind::Gemini => "AfterTool",
            _ => "PostToolUse",
        }]);
    }
    if command.starts_with("git ") {
        // git itself rewrote the index (stat data) — not savepoint's doing:
        // from here on the index must stay as git left it.
        s.expect(s.staged() == s.staged_baseline, || {
            format!("`{command}` left the staged content as it was")
        });
        s.user_baseline = s.user_state();
    } else {
        s.expect_user_state_untouched("after the destructive command");
    }
    s.verify();
    let out = s.savepoint(&["recover", "--yes"]);
    s.expect(out.status.success(), || {
        format!(
            "savepoint recover --yes failed: {}{}",
            out.stdout, out.stderr
        )
    });
    let after = s.repo.fingerprint(only_src);
    let differ: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    s.expect(differ.is_empty(), || {
        format!(
            "recover --yes after `{command}` brings src/ back as it was; differing: {differ:?}\n{}",
            out.stdout
        )
    });
    s.expect_user_state_untouched("after recover");
    s.uninstall_and_expect_restored();
    s.expect_fsck_clean();
    s.finish();
}

#[test]
fn claude_rm_rf_then_recover_without_watcher() {
    destructive(
        Kind::Claude,
        false,
        "claude_rm_rf_then_recover_without_watcher",
        "rm -rf src",
    );
}

#[test]
fn claude_rm_rf_then_recover_with_watcher() {
    destructive(
        Kind::Claude,
        true,
        "claude_rm_rf_then_recover_with_watcher",
        "rm -rf src",
    );
}

#[test]
fn gemini_git_checkout_then_recover() {
    destructive(
        Kind::Gemini,
        false,
        "gemini_git_checkout_then_recover",
        "git checkout .",
    );
}

#[test]
fn codex_rm_r_then_recover() {
    // Codex refuses `rm -rf`/`rm -f` ("rm -f style commands are not permitted").
    destructive(Kind::Codex, false, "codex_rm_r_then_recover", "rm -r src");
}

// ---------------------------------------------------------------------------
// The API dies mid-turn (after the model wrote a file)

fn outage(kind: Kind, watcher: bool, name: &str, status: u16) {
    if skipped(name) {
        return;
    }
    let mut s = Session::new(kind, name, watcher);
    s.repo.write("src/lib.rs", LIB_RS_EDITED);
    let run = s.prompt(
        &format!("Add a feature module. [[write src/feature.rs]] [[fail {status}]]"),
        false,
    );
    client_did(
        &mut s,
        !run.status.success(),
        &format!("fail on the {status}"),
        &run,
    );
    let ok = s.repo.abs(FEATURE).exists();
    client_did(&mut s, ok, "write src/feature.rs", &run);
    s.settle();
    s.expect_delivered_hooks_took_effect();
    s.expect_work_tree_in_snapshot("the work is safe in a snapshot after the outage");
    s.expect_snapshot_has(FEATURE, &mock_content(FEATURE));
    match kind {
        Kind::Claude => {
            s.expect_hooks_fired(&["StopFailure"]);
            expect_handoff(&mut s);
        }
        // A SessionEnd without a Stop is a failed turn: snapshot + brief.
        Kind::Codex => {
            s.expect_hooks_fired(&["SessionEnd"]);
            expect_handoff(&mut s);
        }
        // Gemini fires no hook for a failed turn (docs/real-clients.md): the
        // AfterTool snapshot is what keeps the work.
        Kind::Gemini => {}
    }
    s.expect_user_state_untouched("after the outage");
    s.uninstall_and_expect_restored();
    s.finish();
}

/// `<git-dir>/savepoint/handoff.md` appears (maybe written by a detached
/// worker after the client exited) and names the work.
fn expect_handoff(s: &mut Session) {
    let path = s.state_dir().join("handoff.md");
    s.expect_eventually("handoff.md is written for the failed turn", move |_| {
        let brief = read_lossy(&path);
        if brief.contains("## How to continue") && brief.contains(FEATURE) {
            Ok(())
        } else {
            Err(format!(
                "{}: {:?}",
                path.display(),
                harness::tail(&brief, 5)
            ))
        }
    });
}

#[test]
fn claude_529_outage_without_watcher() {
    outage(
        Kind::Claude,
        false,
        "claude_529_outage_without_watcher",
        529,
    );
}

#[test]
fn claude_529_outage_with_watcher() {
    outage(Kind::Claude, true, "claude_529_outage_with_watcher", 529);
}

#[test]
fn gemini_500_outage() {
    outage(Kind::Gemini, false, "gemini_500_outage", 500);
}

#[test]
fn codex_500_outage() {
    outage(Kind::Codex, false, "codex_500_outage", 500);
}

// ---------------------------------------------------------------------------
// Claude only

/// StopFailure on a 20,000-file repository: Claude SIGTERMs the hook's
/// process group 20–30 ms after spawning it, far less than a snapshot of
/// such a tree takes without a watcher; the brief must exist anyway.
#[test]
fn claude_stop_failure_on_a_20000_file_repository() {
    let name = "claude_stop_failure_on_a_20000_file_repository";
    if skipped(name) {
        return;
    }
    let generated = std::time::Instant::now();
    let mut s = Session::with_repo(Kind::Claude, name, false, |repo| {
        for d in 0..200 {
            for f in 0..100 {
                repo.write(
                    &format!("big/d{d:03}/f{f:03}.txt"),
                    &format!("file {d}/{f}\n"),
                );
            }
        }
    });
    eprintln!(
        "{name}: 20,000-file repository ready in {:.1}s",
        generated.elapsed().as_secs_f64()
    );
    s.latency_note = Some("20,000 files".to_owned());
    s.repo.write("src/lib.rs", LIB_RS_EDITED);
    let run = s.prompt(
        "Add a feature module. [[write src/feature.rs]] [[fail 500]]",
        false,
    );
    client_did(&mut s, !run.status.success(), "fail on the 500", &run);
    let exited = std::time::Instant::now();
    s.settle();
    s.expect_hooks_fired(&["StopFailure"]);
    s.expect_delivered_hooks_took_effect();
    expect_handoff(&mut s);
    s.expect_work_tree_in_snapshot("the work is safe in a snapshot after the outage");
    s.verify();
    let brief = s.state_dir().join("handoff.md");
    eprintln!(
        "{name}: handoff.md {} {:.1}s after the client exited",
        if brief.exists() {
            "present"
        } else {
            "still missing"
        },
        exited.elapsed().as_secs_f64()
    );
    s.expect_user_state_untouched("after the outage");
    s.uninstall_and_expect_restored();
    s.finish();
}

/// Two prompts whose turns change nothing, then one that does: every prompt
/// is kept and recorded, in order, as its own `Savepoint-Prompt` trailer
/// (and in `log --json`'s `prompts`).
#[test]
fn claude_two_prompts_with_nothing_new_in_between() {
    let name = "claude_two_prompts_with_nothing_new_in_between";
    if skipped(name) {
        return;
    }
    let mut s = Session::new(Kind::Claude, name, false);
    // `hooks install` changed .claude/settings.json: record that first, so
    // the prompts below find nothing new.
    let out = s.savepoint(&["snap", "-m", "baseline"]);
    assert!(out.status.success(), "snap: {}", out.stderr);
    let prompts = [
        "What does answer() return? [[reply]]",
        "And what does helper() do? [[reply]]",
        "Then add a feature module. [[write src/feature.rs]] [[reply]]",
    ];
    for (i, p) in prompts.iter().enumerate() {
        let run = s.prompt(p, i > 0);
        client_did(&mut s, run.status.success(), "finish the turn", &run);
        s.settle();
    }
    s.expect_snapshot_has(FEATURE, &mock_content(FEATURE));
    let want: Vec<String> = prompts.iter().map(|p| p.to_string()).collect();
    let want2 = want.clone();
    s.expect_delivered_hooks_took_effect();
    s.expect_eventually(
        "every prompt is its own Savepoint-Prompt trailer, in order",
        move |s| {
            let t = s.prompt_trailers();
            if in_order(&t, &want2) {
                Ok(())
            } else {
                Err(format!("trailers, oldest first: {t:?}"))
            }
        },
    );
    s.verify();
    let (logged, has_array) = s.logged_prompts();
    s.expect(has_array, || {
        "log --json entries carry a `prompts` array".to_owned()
    });
    s.expect(in_order(&logged, &want), || {
        format!("log --json has every prompt, in order; oldest first: {logged:?}")
    });
    s.expect_user_state_untouched("after three prompts");
    s.uninstall_and_expect_restored();
    s.finish();
}

/// `want` appears in `got` in this order (other entries may come between).
fn in_order(got: &[String], want: &[String]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}
