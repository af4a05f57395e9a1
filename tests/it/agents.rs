//! Gemini CLI, Codex CLI and Cursor: every fixture through its `hook`
//! entry point gives the right trigger and trailers (agent included), stdout
//! stays valid JSON where the tool requires it, installs round-trip byte
//! for byte, and a session that moves from Claude to Gemini is one chain.

use std::path::Path;
use std::process::Output;

use crate::common::TestRepo;
use savepoint::integrations::agents::codex;
use serde_json::Value;

fn fixture(repo: &TestRepo, rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel),
    )
    .unwrap()
    .replace("/home/dev/project", repo.path().to_str().unwrap())
}

fn hook_stdin(repo: &TestRepo, agent: &str, payload: &str) -> Output {
    let out = repo.pipe(&["hook", agent], payload.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{agent}: {out:?}");
    out
}

fn log(repo: &TestRepo) -> Vec<Value> {
    repo.json(&["log"]).as_array().unwrap().clone()
}

fn seeded() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    repo
}

#[test]
fn gemini_fixtures_give_triggers_trailers_and_json_only_stdout() {
    let repo = seeded();
    let cases = [
        ("gemini/BeforeAgent.json", "gemini:BeforeAgent", None),
        (
            "gemini/AfterTool-write_file.json",
            "gemini:AfterTool",
            Some("write_file"),
        ),
        (
            "gemini/AfterTool-run_shell_command.json",
            "gemini:AfterTool",
            Some("run_shell_command"),
        ),
        ("gemini/AfterAgent.json", "gemini:AfterAgent", None),
        ("gemini/SessionEnd.json", "gemini:SessionEnd", None),
    ];
    for (i, (f, trigger, tool)) in cases.iter().enumerate() {
        repo.write("src/parser.rs", &format!("fn parse() {{ {i} }}\n"));
        let out = hook_stdin(&repo, "gemini", &fixture(&repo, f));
        let stdout: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON only");
        assert!(stdout.is_object(), "{f}");
        let l = log(&repo);
        assert_eq!(l.len(), i + 1, "{f}");
        assert_eq!(l[0]["trigger"], *trigger, "{f}");
        assert_eq!(l[0]["agent"], "gemini", "{f}");
        assert_eq!(l[0]["session"], "g-5e1f", "{f}");
        assert_eq!(l[0]["tool"], tool.map_or(Value::Null, Value::from), "{f}");
        assert_eq!(
            repo.tree_of("refs/savepoint/heads/main"),
            repo.oracle_tree()
        );
    }
    assert!(log(&repo).last().unwrap()["prompt"]
        .as_str()
        .unwrap()
        .starts_with("Finish the parser refactor"));
    // SessionStart takes no snapshot and still answers JSON; PreCompress
    // (before every model request, not a compaction) neither; malformed too.
    repo.write("src/parser.rs", "fn parse() { before a model request }\n");
    for f in [
        "gemini/SessionStart.json",
        "gemini/PreCompress.json",
        "gemini/malformed-truncated.json",
    ] {
        let out = hook_stdin(&repo, "gemini", &fixture(&repo, f));
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(v.is_object());
    }
    assert_eq!(log(&repo).len(), cases.len());
}

#[test]
fn cursor_fixtures_give_triggers_and_let_prompts_through() {
    let repo = seeded();
    let cases = [
        (
            "cursor/beforeSubmitPrompt.json",
            "cursor:beforeSubmitPrompt",
            None,
        ),
        (
            "cursor/afterFileEdit.json",
            "cursor:afterFileEdit",
            Some("Edit"),
        ),
        (
            "cursor/afterShellExecution.json",
            "cursor:afterShellExecution",
            Some("Shell"),
        ),
        ("cursor/stop.json", "cursor:stop", None),
    ];
    for (i, (f, trigger, tool)) in cases.iter().enumerate() {
        repo.write("src/parser.rs", &format!("fn parse() {{ {i} }}\n"));
        let out = hook_stdin(&repo, "cursor", &fixture(&repo, f));
        let stdout: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
        if f.contains("beforeSubmitPrompt") {
            assert_eq!(stdout["continue"], true);
        }
        let l = log(&repo);
        assert_eq!(l[0]["trigger"], *trigger, "{f}");
        assert_eq!(l[0]["agent"], "cursor");
        assert_eq!(l[0]["session"], "c0ffee-12");
        assert_eq!(l[0]["tool"], tool.map_or(Value::Null, Value::from), "{f}");
    }
    assert_eq!(
        log(&repo)[3]["prompt"],
        "Add a test for ParseError line numbers"
    );
    // A turn that stopped with an error: snapshot + hand-off brief.
    repo.write("src/parser.rs", "fn parse() { error }\n");
    let out = hook_stdin(&repo, "cursor", &fixture(&repo, "cursor/stop-error.json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["user_message"].as_str().unwrap().contains("work is safe"),
        "{v}"
    );
    assert!(repo.abs(".git/savepoint/handoff.md").exists());
    let out = hook_stdin(&repo, "cursor", &fixture(&repo, "cursor/malformed.json"));
    assert!(serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .is_object());
}

#[test]
fn codex_notify_and_hook_payloads() {
    let repo = seeded();
    repo.write("src/parser.rs", "fn parse() { renamed }\n");
    let payload = fixture(&repo, "codex/agent-turn-complete.json");
    let marker = repo.home.path().join("chained.txt");
    // As Codex runs a notify program: payload last, after a chained program.
    let out = repo
        .cmd()
        .args([
            "hook",
            "codex",
            "--chain",
            "sh",
            "-c",
            &format!("cat > /dev/null; printf '%s' \"$0\" > {}", marker.display()),
        ])
        .arg(&payload)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let l = log(&repo);
    assert_eq!(l[0]["trigger"], "codex:agent-turn-complete");
    assert_eq!(l[0]["agent"], "codex");
    assert_eq!(l[0]["session"], "019a-codex-thread");
    assert_eq!(
        l[0]["prompt"],
        "Rename ParseError to SyntaxError everywhere"
    );
    let start = std::time::Instant::now();
    while !marker.exists() && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(std::fs::read_to_string(&marker)
        .unwrap()
        .contains("agent-turn-complete"));
    // Codex hooks: Claude-shaped JSON on stdin.
    repo.write("src/parser.rs", "fn parse() { patched }\n");
    hook_stdin(
        &repo,
        "codex",
        &fixture(&repo, "codex/hook-PostToolUse-apply_patch.json"),
    );
    let l = log(&repo);
    assert_eq!(l[0]["trigger"], "codex:PostToolUse");
    assert_eq!(l[0]["tool"], "apply_patch");
    assert_eq!(l[0]["agent"], "codex");
    // Malformed: exit 0, logged.
    let out = repo
        .cmd()
        .args(["hook", "codex", "not json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let hook_log = std::fs::read_to_string(repo.abs(".git/savepoint/hook.log")).unwrap();
    assert!(hook_log.contains("malformed"), "{hook_log}");
}

const GEMINI_SETTINGS: &str = r#"{
  "theme": "GitHub",
  "hooks": {
    "AfterTool": [
      {
        "matcher": "write_file",
        "hooks": [
          {
            "type": "command",
            "command": "./scripts/fmt.sh"
          }
        ]
      }
    ]
  }
}
"#;

const CURSOR_HOOKS: &str = r#"{
  "version": 1,
  "hooks": {
    "afterFileEdit": [
      {
        "command": "./hooks/format.sh"
      }
    ]
  }
}
"#;

const CODEX_CONFIG: &str = r#"# my codex settings
model = "gpt-5-codex"
notify = ["notify-send", "Codex"]

[mcp_servers.docs]
command = "docs-mcp"
"#;

#[test]
fn installs_merge_and_uninstalls_restore_byte_for_byte() {
    let repo = seeded();
    repo.write(".gemini/settings.json", GEMINI_SETTINGS);
    repo.write(".cursor/hooks.json", CURSOR_HOOKS);
    let codex_home = repo.home.path().join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(codex_home.join("config.toml"), CODEX_CONFIG).unwrap();

    // An older Codex on PATH: `--codex` sets `notify`.
    let path = codex_on_path(&repo, Some("0.150.0"));
    run_with_path(
        &repo,
        &path,
        &["hooks", "install", "--gemini", "--cursor", "--codex"],
    );
    let gemini: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.abs(".gemini/settings.json")).unwrap())
            .unwrap();
    assert_eq!(gemini["theme"], "GitHub");
    assert_eq!(gemini["hooks"]["AfterTool"].as_array().unwrap().len(), 2);
    assert!(gemini["hooks"]["BeforeAgent"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .contains("savepoint hook gemini"));
    let cursor: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.abs(".cursor/hooks.json")).unwrap())
            .unwrap();
    assert_eq!(
        cursor["hooks"]["afterFileEdit"].as_array().unwrap().len(),
        2
    );
    let codex = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(
        codex.contains(
            r#"notify = ["savepoint", "hook", "codex", "--chain", "notify-send", "Codex"]"#
        ),
        "{codex}"
    );
    assert!(codex.contains("[mcp_servers.docs]") && codex.starts_with("# my codex settings"));

    let snapshot = |repo: &TestRepo| {
        (
            std::fs::read(repo.abs(".gemini/settings.json")).unwrap(),
            std::fs::read(repo.abs(".cursor/hooks.json")).unwrap(),
            std::fs::read(codex_home.join("config.toml")).unwrap(),
        )
    };
    let once = snapshot(&repo);
    run_with_path(
        &repo,
        &path,
        &["hooks", "install", "--gemini", "--cursor", "--codex"],
    );
    assert_eq!(snapshot(&repo), once, "twice-install != once-install");
    let status = String::from_utf8_lossy(&repo.run_ok(&["hooks", "status"]).stdout).into_owned();
    assert!(
        status.contains("Gemini CLI") && status.contains("Codex CLI"),
        "{status}"
    );

    repo.run_ok(&["hooks", "uninstall", "--gemini", "--cursor", "--codex"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs(".gemini/settings.json")).unwrap(),
        GEMINI_SETTINGS
    );
    assert_eq!(
        std::fs::read_to_string(repo.abs(".cursor/hooks.json")).unwrap(),
        CURSOR_HOOKS
    );
    assert_eq!(
        std::fs::read_to_string(codex_home.join("config.toml")).unwrap(),
        CODEX_CONFIG
    );

    // From nothing to nothing.
    for f in [".gemini/settings.json", ".cursor/hooks.json"] {
        std::fs::remove_file(repo.abs(f)).unwrap();
    }
    std::fs::remove_file(codex_home.join("config.toml")).unwrap();
    run_with_path(
        &repo,
        &path,
        &[
            "hooks",
            "install",
            "--gemini=project",
            "--cursor",
            "--codex",
        ],
    );
    repo.run_ok(&["hooks", "uninstall", "--gemini", "--cursor", "--codex"]);
    assert!(!repo.abs(".gemini/settings.json").exists());
    assert!(!repo.abs(".cursor/hooks.json").exists());
    assert!(!codex_home.join("config.toml").exists());
}

#[test]
fn a_session_moving_from_claude_to_gemini_is_one_chain() {
    let repo = seeded();
    let claude = |fixture_name: &str| {
        let payload = fixture(&repo, &format!("claude/{fixture_name}"));
        hook_stdin(&repo, "claude", &payload)
    };
    claude("UserPromptSubmit.json");
    repo.write("src/parser.rs", "fn parse() -> Result<(), ParseError> {}\n");
    claude("PostToolUse-Edit.json");
    // Claude is down; the user continues in Gemini.
    let out = hook_stdin(&repo, "claude", &fixture(&repo, "claude/StopFailure.json"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("work is safe"));
    hook_stdin(&repo, "gemini", &fixture(&repo, "gemini/BeforeAgent.json"));
    repo.write(
        "src/error.rs",
        "pub struct ParseError { pub line: usize }\n",
    );
    hook_stdin(
        &repo,
        "gemini",
        &fixture(&repo, "gemini/AfterTool-write_file.json"),
    );

    let l = log(&repo);
    let agents: Vec<&str> = l.iter().rev().filter_map(|s| s["agent"].as_str()).collect();
    assert!(
        agents.contains(&"claude") && agents.contains(&"gemini"),
        "{agents:?}"
    );
    let refs: std::collections::BTreeSet<&str> =
        l.iter().map(|s| s["ref"].as_str().unwrap()).collect();
    assert_eq!(refs.len(), 1, "one chain: {refs:?}");
    // The chain is linear through both agents.
    let count = repo.git(&[
        "rev-list",
        "--first-parent",
        "--count",
        "refs/savepoint/heads/main",
    ]);
    assert_eq!(count.parse::<usize>().unwrap(), l.len() + 1);
    let brief = String::from_utf8(repo.run_ok(&["handoff"]).stdout).unwrap();
    assert!(
        brief.contains("[claude]") && brief.contains("[gemini]"),
        "{brief}"
    );
    assert!(
        brief.contains("Assistants that worked on it: claude, gemini."),
        "{brief}"
    );
    // The squash message names both.
    repo.run_ok(&["squash"]);
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(msg.contains("Agents: claude, gemini"), "{msg}");
}

/// A directory for PATH holding `git` and a `codex` that answers
/// `--version` with `codex-cli <version>` (none: no `codex` at all, even
/// when one is installed); the PATH value.
fn codex_on_path(repo: &TestRepo, version: Option<&str>) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = repo
        .home
        .path()
        .join(format!("bin-{}", version.unwrap_or("none")));
    std::fs::create_dir_all(&bin).unwrap();
    let git = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|g| g.is_file())
        .expect("git on PATH");
    let _ = std::os::unix::fs::symlink(git, bin.join("git"));
    if let Some(v) = version {
        let codex = bin.join("codex");
        std::fs::write(&codex, format!("#!/bin/sh\necho 'codex-cli {v}'\n")).unwrap();
        std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin.display().to_string()
}

/// savepoint with this PATH (and `$CODEX_HOME` unset: `~/.codex`).
fn run_with_path(repo: &TestRepo, path: &str, args: &[&str]) -> String {
    let out = repo
        .cmd()
        .env("PATH", path)
        .env_remove("CODEX_HOME")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "savepoint {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn codex_hook_fixtures_snapshot_with_their_triggers_and_title_turns_do_not() {
    let repo = seeded();
    hook_stdin(
        &repo,
        "codex",
        &fixture(&repo, "codex/hook-SessionStart.json"),
    );
    hook_stdin(
        &repo,
        "codex",
        &fixture(&repo, "codex/hook-UserPromptSubmit.json"),
    );
    // Codex's title turn on its own thread: no snapshot, its prompt is not
    // the user's.
    hook_stdin(
        &repo,
        "codex",
        &fixture(&repo, "codex/hook-UserPromptSubmit-title.json"),
    );
    repo.write("mock_hello.txt", "hello from mock\n");
    hook_stdin(
        &repo,
        "codex",
        &fixture(&repo, "codex/hook-Stop-title.json"),
    );
    assert!(log(&repo).is_empty(), "a title turn took a snapshot");
    let cases = [
        (
            "codex/hook-PostToolUse-apply_patch.json",
            "codex:PostToolUse",
            Some("apply_patch"),
        ),
        (
            "codex/hook-PostToolUse-Bash.json",
            "codex:PostToolUse",
            Some("Bash"),
        ),
        ("codex/hook-Stop.json", "codex:Stop", None),
        ("codex/hook-SessionEnd.json", "codex:SessionEnd", None),
    ];
    for (i, (f, trigger, tool)) in cases.iter().enumerate() {
        if i > 0 {
            repo.write("mock_hello.txt", &format!("hello {i}\n"));
        }
        hook_stdin(&repo, "codex", &fixture(&repo, f));
        let l = log(&repo);
        assert_eq!(l.len(), i + 1, "{f}: {l:?}");
        assert_eq!(l[0]["trigger"], *trigger, "{f}");
        assert_eq!(l[0]["agent"], "codex", "{f}");
        let payload: Value = serde_json::from_str(&fixture(&repo, f)).unwrap();
        assert_eq!(l[0]["session"], payload["session_id"], "{f}");
        assert_eq!(l[0]["tool"], tool.map_or(Value::Null, Value::from), "{f}");
        assert_eq!(
            repo.tree_of("refs/savepoint/heads/main"),
            repo.oracle_tree()
        );
    }
    // The user's prompt rode on the first snapshot; the title prompt on none.
    let l = log(&repo);
    assert_eq!(l.last().unwrap()["prompt"], "Create a file mock_hello.txt");
    assert!(l.iter().all(|s| !s["prompt"]
        .as_str()
        .unwrap_or_default()
        .contains("task title")));
}

#[test]
fn codex_notify_of_a_title_generation_turn_is_ignored() {
    let repo = seeded();
    repo.write("src/parser.rs", "fn parse() { renamed }\n");
    let notify = |f: &str| {
        let out = repo
            .cmd()
            .args(["hook", "codex"])
            .arg(fixture(&repo, f))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    };
    notify("codex/notify-title-generation.json");
    assert!(log(&repo).is_empty(), "the title turn took a snapshot");
    notify("codex/agent-turn-complete.json");
    let l = log(&repo);
    assert_eq!(l.len(), 1);
    assert_eq!(
        l[0]["prompt"],
        "Rename ParseError to SyntaxError everywhere"
    );
    assert_eq!(l[0]["session"], "019a-codex-thread");
}

const CODEX_USER_HOOKS: &str = r#"{
  "hooks": {
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "notify-send 'Codex is done'"
          }
        ]
      }
    ]
  }
}
"#;

/// savepoint's trust entries as Codex computes them, for a `hooks.json`.
fn expected_trust(hooks_json: &Path) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(hooks_json).unwrap()).unwrap();
    let mut out = Vec::new();
    for (event, groups) in v["hooks"].as_object().unwrap() {
        for (g, group) in groups.as_array().unwrap().iter().enumerate() {
            for (h, handler) in group["hooks"].as_array().unwrap().iter().enumerate() {
                if handler["command"]
                    .as_str()
                    .unwrap()
                    .contains("savepoint hook codex")
                {
                    let label = match event.as_str() {
                        "SessionStart" => "session_start",
                        "UserPromptSubmit" => "user_prompt_submit",
                        "PostToolUse" => "post_tool_use",
                        "PreCompact" => "pre_compact",
                        "Stop" => "stop",
                        "SessionEnd" => "session_end",
                        other => panic!("unexpected event {other}"),
                    };
                    out.push((
                        format!("{}:{label}:{g}:{h}", hooks_json.display()),
                        codex::trust_hash(event, group["matcher"].as_str(), handler),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn codex_hooks_are_installed_trusted_and_removed_byte_for_byte() {
    let repo = seeded();
    let home = repo.home.path().join(".codex");
    std::fs::create_dir_all(&home).unwrap();
    let (config, hooks) = (home.join("config.toml"), home.join("hooks.json"));
    std::fs::write(&config, CODEX_CONFIG).unwrap();
    std::fs::write(&hooks, CODEX_USER_HOOKS).unwrap();
    let new = codex_on_path(&repo, Some("0.171.0"));

    // Installed with notify first (an older Codex, or chosen), then Codex
    // is upgraded and install runs again: hooks replace notify.
    let out = run_with_path(&repo, &new, &["hooks", "install", "--codex=notify"]);
    assert!(out.contains("notify set"), "{out}");
    let out = run_with_path(&repo, &new, &["hooks", "install", "--codex"]);
    assert!(out.contains("is 0.171.0: using its own hooks"), "{out}");
    assert!(out.contains("taken out"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(r#"notify = ["notify-send", "Codex"]"#),
        "{text}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&hooks).unwrap()).unwrap();
    assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(
        v["hooks"]["Stop"][0]["hooks"][0]["command"],
        "notify-send 'Codex is done'"
    );
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PostToolUse",
        "PreCompact",
        "SessionEnd",
    ] {
        assert!(v["hooks"][event][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains("savepoint hook codex"));
    }
    // Every hook of savepoint's is trusted under the key and hash Codex uses.
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let trust = expected_trust(&hooks);
    assert_eq!(trust.len(), 6);
    assert!(trust
        .iter()
        .any(|(k, _)| k.ends_with("hooks.json:stop:1:0")));
    for (key, hash) in &trust {
        assert_eq!(
            doc["hooks"]["state"][key.as_str()]["trusted_hash"].as_str(),
            Some(hash.as_str()),
            "{key} in {text}"
        );
    }
    let status = run_with_path(&repo, &new, &["hooks", "status"]);
    assert!(status.contains("(trusted)"), "{status}");
    assert!(
        status.contains("notify (") && status.contains("not installed"),
        "{status}"
    );

    // Twice is once.
    let once = (
        std::fs::read(&config).unwrap(),
        std::fs::read(&hooks).unwrap(),
    );
    let out = run_with_path(&repo, &new, &["hooks", "install", "--codex"]);
    assert!(out.contains("already in"), "{out}");
    assert_eq!(
        (
            std::fs::read(&config).unwrap(),
            std::fs::read(&hooks).unwrap()
        ),
        once
    );

    // Uninstall gives both files back byte for byte.
    run_with_path(&repo, &new, &["hooks", "uninstall", "--codex"]);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CODEX_CONFIG);
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), CODEX_USER_HOOKS);

    // From nothing to nothing: the files savepoint created are removed.
    std::fs::remove_file(&config).unwrap();
    std::fs::remove_file(&hooks).unwrap();
    run_with_path(&repo, &new, &["hooks", "install", "--codex"]);
    assert!(config.exists() && hooks.exists());
    run_with_path(&repo, &new, &["hooks", "uninstall", "--codex"]);
    assert!(!config.exists() && !hooks.exists());
}

#[test]
fn a_codex_hook_that_moved_shows_untrusted_until_install_runs_again() {
    let repo = seeded();
    let new = codex_on_path(&repo, Some("0.171.0"));
    run_with_path(&repo, &new, &["hooks", "install", "--codex"]);
    let home = repo.home.path().join(".codex");
    let hooks = home.join("hooks.json");
    // The user puts a Stop hook of theirs before savepoint's: savepoint's
    // is now group 1, and Codex would skip it.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&hooks).unwrap()).unwrap();
    v["hooks"]["Stop"].as_array_mut().unwrap().insert(
        0,
        serde_json::json!({"hooks": [{"type": "command", "command": "./mine.sh"}]}),
    );
    std::fs::write(&hooks, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let status = run_with_path(&repo, &new, &["hooks", "status"]);
    assert!(status.contains("not trusted for Stop"), "{status}");
    run_with_path(&repo, &new, &["hooks", "install", "--codex"]);
    let status = run_with_path(&repo, &new, &["hooks", "status"]);
    assert!(status.contains("(trusted)"), "{status}");
    let text = std::fs::read_to_string(home.join("config.toml")).unwrap();
    assert!(
        text.contains("hooks.json:stop:1:0") && !text.contains("hooks.json:stop:0:0"),
        "{text}"
    );
    // Uninstall leaves the user's hook and nothing of savepoint's.
    run_with_path(&repo, &new, &["hooks", "uninstall", "--codex"]);
    let left = std::fs::read_to_string(&hooks).unwrap();
    assert!(
        left.contains("./mine.sh") && !left.contains("savepoint"),
        "{left}"
    );
    assert!(!home.join("config.toml").exists());
}

#[test]
fn codex_without_hooks_gets_notify_and_hooks_can_be_chosen() {
    let repo = seeded();
    let config = repo.home.path().join(".codex/config.toml");
    let hooks = repo.home.path().join(".codex/hooks.json");
    for (version, expect) in [
        (None, "no `codex` answered on PATH"),
        (Some("0.150.0"), "is 0.150.0: using its notify program"),
        (Some("0.171.0-alpha.2"), "using its notify program"),
    ] {
        let path = codex_on_path(&repo, version);
        let out = run_with_path(&repo, &path, &["hooks", "install", "--codex"]);
        assert!(out.contains(expect), "{version:?}: {out}");
        assert!(std::fs::read_to_string(&config)
            .unwrap()
            .contains("savepoint"));
        assert!(!hooks.exists(), "{version:?}");
        run_with_path(&repo, &path, &["hooks", "uninstall", "--codex"]);
        assert!(!config.exists());
    }
    // Chosen explicitly, with no `codex` to ask.
    let none = codex_on_path(&repo, None);
    run_with_path(&repo, &none, &["hooks", "install", "--codex=hooks"]);
    assert!(hooks.exists());
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("trusted_hash"));
    run_with_path(&repo, &none, &["hooks", "uninstall", "--codex"]);
    assert!(!hooks.exists() && !config.exists());
}

/// Against a real Codex (`SAVEPOINT_TEST_CODEX=<dir holding codex>`; the
/// real-client CI sets it): after `hooks install --codex`, Codex's own
/// `hooks/list` reports every one of savepoint's hooks as trusted — the
/// proof that the key and hash savepoint writes are Codex's. Without the
/// variable there is no Codex to ask and the test says so and passes.
#[test]
fn a_real_codex_trusts_the_hooks_savepoint_installs() {
    use std::io::{BufRead, BufReader, Write};
    let Some(dir) = std::env::var_os("SAVEPOINT_TEST_CODEX") else {
        eprintln!("SAVEPOINT_TEST_CODEX is not set: no real Codex to ask");
        return;
    };
    let repo = seeded();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", Path::new(&dir).display());
    let out = run_with_path(&repo, &path, &["hooks", "install", "--codex"]);
    assert!(out.contains("using its own hooks"), "{out}");
    let mut server = std::process::Command::new(Path::new(&dir).join("codex"))
        .arg("app-server")
        .current_dir(repo.path())
        .env("HOME", repo.home.path())
        .env_remove("CODEX_HOME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = server.stdin.take().unwrap();
    let cwd = repo.path().to_str().unwrap();
    for msg in [
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"clientInfo": {"name": "savepoint-test", "version": "0"}}}),
        serde_json::json!({"jsonrpc": "2.0", "method": "initialized"}),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "hooks/list", "params": {"cwds": [cwd]}}),
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    let mut hooks = None;
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let m: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if m["id"] == 2 {
            hooks = Some(m["result"]["data"].clone());
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let listed: Vec<Value> = hooks
        .expect("hooks/list answered")
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["hooks"].as_array().unwrap().clone())
        .filter(|h| {
            h["command"]
                .as_str()
                .unwrap_or_default()
                .contains("savepoint hook codex")
        })
        .collect();
    assert_eq!(listed.len(), 6, "{listed:?}");
    for h in &listed {
        assert_eq!(h["trustStatus"], "trusted", "{h}");
    }
}

const GEMINI_JSONC: &str = r#"// Gemini CLI settings: JSON with comments
{
    /* Looks */
    "theme": "GitHub", // the light one
    "hooks": {
        // Format after every write.
        "AfterTool": [
            {
                "matcher": "write_file",
                "hooks": [
                    { "type": "command", "command": "./scripts/fmt.sh" } // fast
                ]
            }
        ]
    }
}
"#;

fn jsonc_value(text: &str) -> Value {
    let text = text.trim_start_matches('\u{feff}');
    jsonc_parser::cst::CstRootNode::parse(text, &Default::default())
        .unwrap()
        .to_serde_value()
        .unwrap()
}

#[test]
fn gemini_settings_with_comments_keep_them_and_uninstall_restores_bytes() {
    let repo = seeded();
    let settings = repo.abs(".gemini/settings.json");
    // Comments and 4-space indents; and tabs, CRLF and a byte-order mark.
    let crlf = "\u{feff}{\r\n\t// mine\r\n\t\"theme\": \"Dracula\"\r\n}\r\n";
    for original in [GEMINI_JSONC, crlf] {
        repo.write(".gemini/settings.json", original);
        repo.run_ok(&["hooks", "install", "--gemini"]);
        let text = std::fs::read_to_string(&settings).unwrap();
        for comment in [
            "// mine",
            "// Gemini CLI settings",
            "/* Looks */",
            "// the light one",
            "// fast",
        ] {
            assert_eq!(
                text.contains(comment),
                original.contains(comment),
                "{comment}: {text}"
            );
        }
        assert_eq!(
            text.starts_with('\u{feff}'),
            original.starts_with('\u{feff}')
        );
        if original.contains("\r\n") {
            assert!(
                !text.replace("\r\n", "").contains('\n'),
                "LF lines in a CRLF file: {text:?}"
            );
        }
        let v = jsonc_value(&text);
        assert!(v["theme"].is_string());
        assert!(v["hooks"]["BeforeAgent"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains("savepoint hook gemini"));
        assert!(v["hooks"].get("PreCompress").is_none(), "{v}");
        let once = std::fs::read(&settings).unwrap();
        repo.run_ok(&["hooks", "install", "--gemini"]);
        assert_eq!(
            std::fs::read(&settings).unwrap(),
            once,
            "twice-install != once-install"
        );
        let status = String::from_utf8(repo.run_ok(&["hooks", "status"]).stdout).unwrap();
        assert!(status.contains("AfterAgent"), "{status}");
        repo.run_ok(&["hooks", "uninstall", "--gemini"]);
        assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    }
}

#[test]
fn gemini_settings_with_a_trailing_comma_are_refused_naming_the_file() {
    let repo = seeded();
    let bad = "{\n  \"theme\": \"GitHub\",\n}\n";
    repo.write(".gemini/settings.json", bad);
    let out = repo
        .cmd()
        .args(["hooks", "install", "--gemini"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".gemini/settings.json")
            && err.contains("Trailing comma")
            && err.contains("remove it")
            && err.contains("untouched"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.abs(".gemini/settings.json")).unwrap(),
        bad
    );
    assert!(!repo.abs(".git/hooks/post-commit").exists());
}

#[test]
fn gemini_precompress_entries_of_older_installs_are_removed() {
    let repo = seeded();
    let ours = "command -v savepoint >/dev/null 2>&1 && savepoint hook gemini || echo '{}'";
    let old = serde_json::json!({
        "hooks": {
            "PreCompress": [
                {"hooks": [{"type": "command", "command": "./my-precompress.sh"}]},
                {"hooks": [{"name": "savepoint", "type": "command", "command": ours, "timeout": 30000}]}
            ]
        }
    });
    let original = format!("{}\n", serde_json::to_string_pretty(&old).unwrap());
    repo.write(".gemini/settings.json", &original);
    // Uninstall takes the old entry out, the user's stays.
    repo.run_ok(&["hooks", "uninstall", "--gemini"]);
    let v = jsonc_value(&std::fs::read_to_string(repo.abs(".gemini/settings.json")).unwrap());
    assert_eq!(
        v["hooks"]["PreCompress"],
        serde_json::json!([{"hooks": [{"type": "command", "command": "./my-precompress.sh"}]}])
    );
    // So does a new install.
    repo.write(".gemini/settings.json", &original);
    repo.run_ok(&["hooks", "install", "--gemini"]);
    let v = jsonc_value(&std::fs::read_to_string(repo.abs(".gemini/settings.json")).unwrap());
    assert_eq!(
        v["hooks"]["PreCompress"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    assert!(v["hooks"]["AfterAgent"].is_array());
}
