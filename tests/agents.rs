//! Gemini CLI, Codex CLI and Cursor: every fixture through its `hook`
//! entry point gives the right trigger and trailers (agent included), stdout
//! stays valid JSON where the tool requires it, installs round-trip byte
//! for byte, and a session that moves from Claude to Gemini is one chain.

mod common;

use std::path::Path;
use std::process::Output;

use common::TestRepo;
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
        ("gemini/PreCompress.json", "gemini:PreCompress", None),
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
    // SessionStart takes no snapshot and still answers JSON; malformed too.
    for f in [
        "gemini/SessionStart.json",
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
        &fixture(&repo, "codex/hook-PostToolUse.json"),
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

    repo.run_ok(&["hooks", "install", "--gemini", "--cursor", "--codex"]);
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
    repo.run_ok(&["hooks", "install", "--gemini", "--cursor", "--codex"]);
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
    repo.run_ok(&[
        "hooks",
        "install",
        "--gemini=project",
        "--cursor",
        "--codex",
    ]);
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
