//! Git hooks and Claude Code hooks end to end: installs that chain (never
//! replace) the user's hooks and settings, uninstalls that put them back
//! byte for byte, real `git commit`/`git checkout` runs through the hooks,
//! and every fixture payload through `savepoint hook claude`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, TestRepo};
use serde_json::Value;

/// The directory holding the savepoint binary, for PATH.
fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("savepoint")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// git with savepoint on PATH (or not).
fn git_with_path(repo: &TestRepo, args: &[&str], savepoint_on_path: bool) -> Output {
    let path = if savepoint_on_path {
        format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display())
    } else {
        "/usr/local/bin:/usr/bin:/bin".to_owned()
    };
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(repo.path())
        .env("HOME", repo.home.path())
        .env("XDG_CONFIG_HOME", repo.home.path().join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PATH", path)
        .env_remove("SAVEPOINT_LOG");
    cmd.output().unwrap()
}

fn file_state(p: &Path) -> (Vec<u8>, u32) {
    (
        std::fs::read(p).unwrap(),
        std::fs::metadata(p).unwrap().permissions().mode(),
    )
}

fn log_json(repo: &TestRepo) -> Vec<Value> {
    repo.json(&["log"]).as_array().unwrap().clone()
}

fn write_hook(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn git_hooks_chain_the_users_hooks_and_uninstall_restores_them() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    let hooks = repo.abs(".git/hooks");
    write_hook(
        &hooks.join("post-commit"),
        "#!/bin/sh\necho \"user post-commit $*\" >> .git/user-hook.log\n",
    );
    write_hook(&hooks.join("post-checkout"), "#!/bin/sh\nexit 3\n");
    let before = [
        file_state(&hooks.join("post-commit")),
        file_state(&hooks.join("post-checkout")),
    ];

    // What git makes of the user's failing post-checkout, before install.
    let expected = git_with_path(&repo, &["checkout", "-q", "-b", "probe"], true)
        .status
        .code();
    assert_ne!(expected, Some(0));
    git_with_path(&repo, &["checkout", "-q", "main"], true);

    let out = repo.run_ok(&["hooks", "install"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("post-commit.savepoint-chained"), "{text}");
    let installed: Vec<_> = std::fs::read_dir(&hooks)
        .unwrap()
        .map(|e| {
            (
                e.as_ref().unwrap().file_name(),
                std::fs::read(e.unwrap().path()).unwrap(),
            )
        })
        .collect();
    let again = repo.run_ok(&["hooks", "install"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already installed"));
    let twice: Vec<_> = std::fs::read_dir(&hooks)
        .unwrap()
        .map(|e| {
            (
                e.as_ref().unwrap().file_name(),
                std::fs::read(e.unwrap().path()).unwrap(),
            )
        })
        .collect();
    assert_eq!(installed, twice, "a second install changed files");
    let status = String::from_utf8_lossy(&repo.run_ok(&["hooks", "status"]).stdout).into_owned();
    assert!(status.contains("chains your previous hook"), "{status}");

    // A commit runs the user's hook and records a hook:post-commit snapshot.
    repo.write("b.txt", "b\n");
    repo.write("untracked.txt", "keeps the work tree different from HEAD\n");
    git_with_path(&repo, &["add", "b.txt"], true);
    let commit = git_with_path(&repo, &["commit", "-q", "-m", "second"], true);
    assert!(commit.status.success(), "{commit:?}");
    let user_log = std::fs::read_to_string(repo.abs(".git/user-hook.log")).unwrap();
    assert_eq!(user_log.lines().count(), 1);
    let log = log_json(&repo);
    assert_eq!(log[0]["trigger"], "hook:post-commit", "{log:?}");
    assert_eq!(log[0]["base"], repo.rev("HEAD"));
    // The user's hook's exit status is still git's.
    let checkout = git_with_path(&repo, &["checkout", "-q", "-b", "side"], true);
    assert_eq!(checkout.status.code(), expected);
    assert_eq!(log_json(&repo)[0]["trigger"], "hook:post-checkout");

    let out = repo.run_ok(&["hooks", "uninstall"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("your own hook is back"));
    let after = [
        file_state(&hooks.join("post-commit")),
        file_state(&hooks.join("post-checkout")),
    ];
    assert_eq!(after, before, "user hooks not restored byte for byte");
    for name in ["post-merge", "post-rewrite", "pre-rebase"] {
        assert!(!hooks.join(name).exists(), "{name} left behind");
    }
    assert!(std::fs::read_dir(&hooks).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("savepoint")));
    // Still the user's hook only.
    let n = log_json(&repo).len();
    repo.write("c.txt", "c\n");
    git_with_path(&repo, &["add", "c.txt"], true);
    assert!(git_with_path(&repo, &["commit", "-q", "-m", "third"], true)
        .status
        .success());
    let user_log = std::fs::read_to_string(repo.abs(".git/user-hook.log")).unwrap();
    assert_eq!(user_log.lines().count(), 2);
    assert_eq!(log_json(&repo).len(), n);
}

#[test]
fn core_hooks_path_is_honoured_and_a_missing_binary_never_breaks_git() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    write_hook(
        &repo.abs(".githooks/post-commit"),
        "#!/bin/sh\necho ran >> .git/user-hook.log\n",
    );
    repo.run_ok(&["hooks", "install"]);
    assert!(repo.abs(".githooks/post-commit.savepoint-chained").exists());
    assert!(!repo.abs(".git/hooks/post-commit").exists());

    repo.write("wip.txt", "wip\n");
    repo.write("b.txt", "b\n");
    git_with_path(&repo, &["add", "b.txt"], true);
    assert!(git_with_path(&repo, &["commit", "-q", "-m", "b"], true)
        .status
        .success());
    assert_eq!(log_json(&repo)[0]["trigger"], "hook:post-commit");

    // savepoint not on PATH: git works, the user's hook still runs.
    let n = log_json(&repo).len();
    repo.write("c.txt", "c\n");
    git_with_path(&repo, &["add", "c.txt"], false);
    let out = git_with_path(&repo, &["commit", "-q", "-m", "c"], false);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran = std::fs::read_to_string(repo.abs(".git/user-hook.log")).unwrap();
    assert_eq!(ran.lines().count(), 2);
    assert_eq!(log_json(&repo).len(), n);
}

const USER_SETTINGS: &str = r#"{
  "model": "opus",
  "permissions": {
    "allow": [
      "Bash(cargo test:*)"
    ]
  },
  "hooks": {
    "PostToolUse": [
      {
        "matcher": "Write",
        "hooks": [
          {
            "type": "command",
            "command": "cargo fmt"
          }
        ]
      }
    ]
  },
  "env": {
    "FOO": "bar"
  }
}
"#;

#[test]
fn claude_settings_merge_keeps_everything_else_and_uninstall_restores_bytes() {
    let repo = TestRepo::new();
    repo.commit_all("init");
    let settings = repo.abs(".claude/settings.json");
    repo.write(".claude/settings.json", USER_SETTINGS);

    repo.run_ok(&["hooks", "install", "--claude"]);
    let once = std::fs::read(&settings).unwrap();
    let v: Value = serde_json::from_slice(&once).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["env"]["FOO"], "bar");
    let post = v["hooks"]["PostToolUse"].as_array().unwrap();
    assert_eq!(post.len(), 2);
    assert_eq!(post[0]["hooks"][0]["command"], "cargo fmt");
    assert_eq!(post[1]["matcher"], "Edit|Write|MultiEdit|NotebookEdit|Bash");
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "StopFailure",
        "PreCompact",
        "SessionEnd",
    ] {
        let cmd = v["hooks"][event][0]["hooks"][0]["command"]
            .as_str()
            .unwrap();
        assert!(cmd.contains("savepoint hook claude"), "{event}");
    }
    repo.run_ok(&["hooks", "install", "--claude"]);
    assert_eq!(
        std::fs::read(&settings).unwrap(),
        once,
        "twice-install != once-install"
    );
    let status = String::from_utf8_lossy(&repo.run_ok(&["hooks", "status"]).stdout).into_owned();
    assert!(status.contains("StopFailure"), "{status}");

    repo.run_ok(&["hooks", "uninstall", "--claude"]);
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), USER_SETTINGS);

    // User scope, created from nothing, removed to nothing.
    let user = repo.home.path().join(".claude/settings.json");
    repo.run_ok(&["hooks", "install", "--claude=user"]);
    assert!(user.exists());
    repo.run_ok(&["hooks", "uninstall", "--claude=user"]);
    assert!(!user.exists());

    // Invalid JSON: a clear error, nothing touched (git hooks included).
    repo.run_ok(&["hooks", "uninstall"]);
    repo.write(".claude/settings.json", "{ \"model\": \"opus\",, }");
    let out = repo
        .cmd()
        .args(["hooks", "install", "--claude"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("settings.json") && err.contains("untouched"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        "{ \"model\": \"opus\",, }"
    );
    assert!(!repo.abs(".git/hooks/post-commit").exists());
}

/// Feed a fixture (with its cwd pointed at `repo`) to `hook claude`.
fn hook_claude(repo: &TestRepo, fixture: &str) -> Output {
    let raw = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/claude")
            .join(fixture),
    )
    .unwrap();
    pipe_claude(
        repo,
        &raw.replace("/home/dev/project", repo.path().to_str().unwrap()),
    )
}

const SESSION: &str = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";

#[test]
fn every_claude_fixture_gives_the_right_trigger_and_trailers() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    let cases = [
        ("UserPromptSubmit.json", "claude:UserPromptSubmit", None),
        ("PostToolUse-Edit.json", "claude:PostToolUse", Some("Edit")),
        (
            "PostToolUse-Write.json",
            "claude:PostToolUse",
            Some("Write"),
        ),
        ("PostToolUse-Bash.json", "claude:PostToolUse", Some("Bash")),
        (
            "PostToolUse-NotebookEdit.json",
            "claude:PostToolUse",
            Some("NotebookEdit"),
        ),
        ("Stop.json", "claude:Stop", None),
        ("PreCompact.json", "claude:PreCompact", None),
        ("SessionEnd.json", "claude:SessionEnd", None),
        ("StopFailure.json", "claude:StopFailure", None),
    ];
    for (i, (fixture, trigger, tool)) in cases.iter().enumerate() {
        repo.write("src/parser.rs", &format!("fn parse() {{ {i} }}\n"));
        let out = hook_claude(&repo, fixture);
        let log = log_json(&repo);
        assert_eq!(log.len(), i + 1, "{fixture}: {log:?}");
        assert_eq!(log[0]["trigger"], *trigger, "{fixture}");
        assert_eq!(log[0]["session"], SESSION, "{fixture}");
        assert_eq!(
            log[0]["tool"],
            tool.map_or(Value::Null, Value::from),
            "{fixture}"
        );
        assert_eq!(
            repo.tree_of("refs/savepoint/heads/main"),
            repo.oracle_tree(),
            "{fixture}"
        );
        if *fixture == "StopFailure.json" {
            let err = String::from_utf8_lossy(&out.stderr);
            let said = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
            assert_eq!(said.matches("work is safe").count(), 1, "said once: {said}");
            let brief = std::fs::read_to_string(repo.abs(".git/savepoint/handoff.md")).unwrap();
            assert!(brief.contains("## How to continue"), "{brief}");
            assert!(brief.contains("Refactor the parser"), "{brief}");
        }
    }
    let log = log_json(&repo);
    let prompt = &log[log.len() - 1]["prompt"];
    assert_eq!(
        prompt,
        "Refactor the parser so that errors carry line numbers, then update the tests."
    );
}

#[test]
fn a_prompt_with_nothing_to_snapshot_rides_on_the_next_snapshot() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    hook_claude(&repo, "UserPromptSubmit.json");
    assert!(log_json(&repo).is_empty(), "nothing changed, no snapshot");
    repo.write("src/parser.rs", "fn parse() { edited }\n");
    hook_claude(&repo, "Stop.json");
    let log = log_json(&repo);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["trigger"], "claude:Stop");
    assert!(log[0]["prompt"]
        .as_str()
        .unwrap()
        .starts_with("Refactor the parser"));
    // Used once only.
    repo.write("src/parser.rs", "fn parse() { edited again }\n");
    hook_claude(&repo, "Stop.json");
    assert_eq!(log_json(&repo)[0]["prompt"], Value::Null);
}

#[test]
fn malformed_payloads_and_non_repos_exit_0_and_are_logged() {
    let repo = TestRepo::new();
    repo.commit_all("init");
    for fixture in [
        "malformed-truncated.json",
        "malformed-text.json",
        "malformed-array.json",
        "malformed-no-event.json",
    ] {
        let out = hook_claude(&repo, fixture);
        assert!(out.stdout.is_empty(), "{fixture}");
    }
    let log = std::fs::read_to_string(repo.abs(".git/savepoint/hook.log")).unwrap();
    assert_eq!(log.matches("malformed input").count(), 4, "{log}");
    // Outside a repository: nothing to do, still exit 0.
    let outside = tempfile::tempdir().unwrap();
    let mut cmd = repo.cmd();
    cmd.current_dir(outside.path());
    let mut child = cmd
        .args(["hook", "claude"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let payload = format!(
        r#"{{"hook_event_name":"Stop","session_id":"s","cwd":"{}"}}"#,
        outside.path().display()
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    // And `hook git` outside a repository.
    let mut cmd = repo.cmd();
    cmd.current_dir(outside.path());
    assert_eq!(
        cmd.args(["hook", "git", "post-commit"])
            .status()
            .unwrap()
            .code(),
        Some(0)
    );
}

#[test]
fn session_start_tells_a_new_session_what_can_be_recovered() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    // Nothing recorded yet: nothing to say.
    assert!(hook_claude(&repo, "SessionStart.json").stdout.is_empty());
    // An earlier session's work, then it is lost.
    repo.write("src/parser.rs", "fn parse() { earlier session }\n");
    let mut req = savepoint::snapshot::record::SnapRequest::new("claude:Stop");
    req.session = Some("earlier-session".into());
    let ws = repo.workspace();
    savepoint::snapshot::record::take(&ws, &req, None).unwrap();
    repo.git(&["checkout", "--", "."]);
    let out = hook_claude(&repo, "SessionStart.json");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("savepoint recover --yes"), "{text}");
    assert!(text.contains("squash"), "{text}");
    assert!(log_json(&repo).len() == 1, "SessionStart takes no snapshot");
}

#[test]
fn with_a_watcher_running_the_hook_hands_over_and_returns() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    let mut watcher = repo.spawn_watcher(&["--debounce", "60000", "--max-wait", "60000"]);
    let pid = watcher.id();
    let state = repo.abs(".git/savepoint");
    repo.write("src/parser.rs", "fn parse() { via the watcher }\n");
    hook_claude(&repo, "PostToolUse-Edit.json");
    let hook_log = std::fs::read_to_string(state.join("hook.log")).unwrap();
    assert!(
        hook_log.contains(&format!("handed to the watcher (pid {pid})")),
        "{hook_log}"
    );
    let start = Instant::now();
    loop {
        let log = log_json(&repo);
        if log
            .first()
            .is_some_and(|s| s["trigger"] == "claude:PostToolUse")
        {
            assert_eq!(log[0]["tool"], "Edit");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no snapshot: {log:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
}

/// Issue 16 item 7: a symlinked settings file (dotfiles) is written through
/// — the link stays, its target keeps its 0600 mode — and uninstall removes
/// exactly savepoint's entries, not a user's hook that mentions it.
#[test]
fn symlinked_settings_are_written_through_and_uninstall_is_exact() {
    use std::os::unix::fs::PermissionsExt;
    let repo = TestRepo::new();
    let dotfiles = repo.home.path().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    let real = dotfiles.join("claude-settings.json");
    let users_own = serde_json::json!({
        "env": {"ANTHROPIC_API_KEY": "sk-secret"},
        "hooks": {"PostToolUse": [{"hooks": [
            {"type": "command", "command": "my-wrapper.sh savepoint hook claude --verbose"}
        ]}]}
    });
    let original = format!("{}\n", serde_json::to_string_pretty(&users_own).unwrap());
    std::fs::write(&real, &original).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(repo.abs(".claude")).unwrap();
    std::os::unix::fs::symlink(&real, repo.abs(".claude/settings.json")).unwrap();

    repo.run_ok(&["hooks", "install", "--claude"]);
    let link = std::fs::symlink_metadata(repo.abs(".claude/settings.json")).unwrap();
    assert!(link.file_type().is_symlink(), "the symlink was replaced");
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the secret file became mode {mode:o}");
    let installed = std::fs::read_to_string(&real).unwrap();
    assert!(installed.contains("UserPromptSubmit"), "{installed}");

    repo.run_ok(&["hooks", "uninstall", "--claude"]);
    assert!(std::fs::symlink_metadata(repo.abs(".claude/settings.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&real).unwrap(), original);
}

/// Issue 16 item 11: hooks exit 0 even when stdout is a closed pipe (the
/// agent stopped reading), and answer JSON where JSON is expected.
#[test]
fn hooks_exit_zero_when_stdout_is_closed() {
    use std::io::Write;
    use std::process::Stdio;
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    let cwd = repo.path().to_str().unwrap();
    for (agent, payload) in [
        (
            "gemini",
            serde_json::json!({"hook_event_name": "SessionStart", "session_id": "s", "cwd": cwd}),
        ),
        (
            "cursor",
            serde_json::json!({"hook_event_name": "stop", "conversation_id": "s", "status": "completed", "workspace_roots": [cwd]}),
        ),
        (
            "claude",
            serde_json::json!({"hook_event_name": "SessionStart", "session_id": "s", "cwd": cwd, "source": "startup"}),
        ),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // nobody will read stdout
        let mut child = repo
            .cmd()
            .args(["hook", agent])
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "hook {agent}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Issue 16 item 13: a payload over 16 MiB (a huge `tool_input`) still
/// gives its snapshot.
#[test]
fn an_oversized_payload_still_snapshots() {
    let repo = TestRepo::new();
    repo.write("src/big.rs", "// big\n");
    let big = "x".repeat(20 << 20);
    let file = repo.abs("src/big.rs");
    let payload = serde_json::json!({
        "session_id": SESSION,
        "cwd": repo.path().to_str().unwrap(),
        "hook_event_name": "PostToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": file.to_str().unwrap(), "content": big},
        "tool_response": {"type": "create", "filePath": file.to_str().unwrap()},
    });
    let out = repo.pipe(&["hook", "claude"], payload.to_string().as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let log = log_json(&repo);
    assert_eq!(log.len(), 1, "no snapshot for an oversized payload");
    assert_eq!(log[0]["trigger"], "claude:PostToolUse", "{log:?}");
}

/// A Claude payload for `repo`.
fn claude_payload(repo: &TestRepo, event: &str, session: &str, extra: Value) -> String {
    let mut v = serde_json::json!({
        "hook_event_name": event,
        "session_id": session,
        "cwd": repo.path(),
    });
    if let (Some(o), Value::Object(extra)) = (v.as_object_mut(), extra) {
        o.extend(extra);
    }
    v.to_string()
}

fn pipe_claude(repo: &TestRepo, payload: &str) -> Output {
    let out = repo.pipe(&["hook", "claude"], payload.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    out
}

/// The prompts waiting in the state dir.
fn waiting_prompts(repo: &TestRepo) -> usize {
    std::fs::read(repo.abs(".git/savepoint/pending-prompts.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["prompts"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Issue 17 item 2: three prompts (two sessions) that find nothing new all
/// wait, in order, and the next snapshot carries every one — without a
/// watcher and with one (where each request is served asynchronously).
#[test]
fn every_waiting_prompt_is_kept_in_order_with_its_session() {
    for with_watcher in [false, true] {
        let repo = TestRepo::new();
        repo.write("src/parser.rs", "fn parse() {}\n");
        repo.commit_all("init");
        let mut watcher = with_watcher
            .then(|| repo.spawn_watcher(&["--debounce", "60000", "--max-wait", "60000"]));
        let prompts = [
            ("s-one", "first: explain the parser"),
            ("s-two", "second: which tests cover it?"),
            ("s-one", "third: now refactor it"),
        ];
        for (n, (session, prompt)) in prompts.iter().enumerate() {
            let p = claude_payload(
                &repo,
                "UserPromptSubmit",
                session,
                serde_json::json!({ "prompt": prompt }),
            );
            pipe_claude(&repo, &p);
            common::wait_until(
                &format!("watcher {with_watcher}: prompt {n} queued"),
                Duration::from_secs(30),
                || waiting_prompts(&repo) == n + 1,
            );
        }
        assert!(log_json(&repo).is_empty(), "nothing changed, no snapshot");
        repo.write("src/parser.rs", "fn parse() { refactored }\n");
        pipe_claude(&repo, &claude_payload(&repo, "Stop", "s-one", Value::Null));
        common::wait_until("a snapshot", Duration::from_secs(30), || {
            !log_json(&repo).is_empty()
        });
        let log = log_json(&repo);
        assert_eq!(log.len(), 1, "{log:?}");
        let texts: Vec<&str> = prompts.iter().map(|(_, p)| *p).collect();
        assert_eq!(
            log[0]["prompts"],
            serde_json::json!(texts),
            "watcher {with_watcher}"
        );
        assert_eq!(log[0]["prompt"], texts[2]);
        assert_eq!(log[0]["session"], "s-one");
        assert_eq!(log[0]["sessions"], serde_json::json!(["s-one", "s-two"]));
        // Carried, so no longer waiting (the queue is cleared right after
        // the ref moves: a crash in between repeats prompts, never loses one).
        common::wait_until("no prompt waiting", Duration::from_secs(30), || {
            waiting_prompts(&repo) == 0
        });
        let msg = repo.git(&["log", "-1", "--format=%B", "refs/savepoint/heads/main"]);
        assert_eq!(msg.matches("Savepoint-Prompt: ").count(), 3, "{msg}");
        if let Some(w) = watcher.as_mut() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// One process, from Linux `/proc/<pid>/stat` and `exe`.
struct Proc {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    exe: Option<PathBuf>,
}

/// Every process this user can see.
fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces and parens.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let mut fields = after
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse::<u32>().ok());
        if let (Some(Some(ppid)), Some(Some(pgrp))) = (fields.next(), fields.next()) {
            let exe = std::fs::read_link(e.path().join("exe")).ok();
            out.push(Proc {
                pid,
                ppid,
                pgrp,
                exe,
            });
        }
    }
    out
}

/// The processes below `root` (children, their children, …).
fn descendants(root: u32) -> Vec<u32> {
    let all = processes();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(all.iter().filter(|c| c.ppid == p).map(|c| c.pid));
        i += 1;
    }
    out.remove(0);
    out
}

/// Issue 17 item 1: Claude Code starts the StopFailure hook and exits,
/// SIGTERM-ing the hook's process group within milliseconds and SIGKILL-ing
/// it later. The installed command (from the template, run by `sh -c` as
/// Claude runs it) on a 20,000-file repository: the group is signalled the
/// moment savepoint is running in it, then killed — and still the work is
/// snapshotted and the brief names that snapshot.
#[test]
fn stop_failure_survives_the_client_killing_the_hook_group() {
    use rustix::process::{kill_process_group, Pid, Signal};
    use std::os::unix::process::CommandExt;
    let repo = TestRepo::new();
    for d in 0..200 {
        for f in 0..100 {
            let p = repo.abs(format!("gen/d{d:03}/f{f:03}.txt"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("{d} {f}\n")).unwrap();
        }
    }
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    repo.write(
        "src/parser.rs",
        "fn parse() { the work of the failed turn }\n",
    );
    let user = repo.user_state();

    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/claude-settings.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let command = template["hooks"]["StopFailure"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_owned();
    let exe = assert_cmd::cargo::cargo_bin("savepoint");
    let mut child = Command::new("sh")
        .args(["-c", &command])
        .current_dir(repo.path())
        .env("HOME", repo.home.path())
        .env("XDG_CONFIG_HOME", repo.home.path().join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display()),
        )
        .env_remove("SAVEPOINT_LOG")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pgid = child.id();
    let payload = claude_payload(
        &repo,
        "StopFailure",
        "failing-session",
        serde_json::json!({
            "error": "server_error",
            "last_assistant_message": "API Error: 529 overloaded",
        }),
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(payload.as_bytes()).unwrap();
    drop(stdin);
    // SIGTERM as soon as savepoint runs in the group (Claude: 2–188 ms).
    let start = Instant::now();
    while !processes()
        .iter()
        .any(|p| p.pgrp == pgid && p.exe.as_deref() == Some(exe.as_path()))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "savepoint never ran"
        );
        std::thread::yield_now();
    }
    let group = Pid::from_raw(pgid as i32).unwrap();
    let _ = kill_process_group(group, Signal::TERM);
    // Some clients signal the whole process tree, not only the group: so
    // does this test, every process that appears below the hook (its
    // worker the moment it is spawned), until the hook has exited.
    loop {
        for pid in descendants(pgid) {
            if let Some(p) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, Signal::TERM);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the hook never exited"
        );
        std::thread::yield_now();
    }
    // Then SIGKILL whatever is left of the group.
    let _ = kill_process_group(group, Signal::KILL);

    let brief_path = repo.abs(".git/savepoint/handoff.md");
    let (mut log, mut brief) = (Vec::new(), String::new());
    let named = common::poll(Duration::from_secs(60), || {
        log = log_json(&repo);
        brief = std::fs::read_to_string(&brief_path).unwrap_or_default();
        log.first()
            .filter(|s| s["trigger"] == "claude:StopFailure")
            .is_some_and(|s| brief.contains(s["id"].as_str().unwrap()))
    });
    assert!(
        named,
        "no StopFailure snapshot named by the brief: {log:?}\n{brief}"
    );
    assert_eq!(log[0]["session"], "failing-session");
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
    assert_eq!(
        repo.user_state(),
        user,
        "the user's index, HEAD and branches"
    );
}

/// Poll `savepoint log --json` until `done` holds for the newest entry.
fn wait_for_log(repo: &TestRepo, what: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut log = Vec::new();
    let found = common::poll(Duration::from_secs(30), || {
        log = log_json(repo);
        log.first().is_some_and(&done)
    });
    assert!(found, "{what}: {log:?}");
    log
}

/// Issue 17 item 5: with a watcher, SessionStart answers from the chain
/// (no scan): an earlier session's work reverted by `git checkout .` — the
/// watcher recorded the revert — is still pointed out, by snapshot id.
#[test]
fn session_start_with_a_watcher_points_at_the_earlier_sessions_snapshot() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    repo.write(
        "src/parser.rs",
        "fn parse() { the earlier session's work }\n",
    );
    // The earlier session's snapshot comes first, the watcher after: with
    // the watcher already running, its 50 ms debounce could record the
    // write before the hook arrives (a loaded machine is enough), and the
    // hook would find nothing new to snapshot.
    pipe_claude(
        &repo,
        &claude_payload(&repo, "Stop", "earlier", Value::Null),
    );
    let log = wait_for_log(&repo, "the session's snapshot", |s| {
        s["session"] == "earlier"
    });
    let id = log[0]["id"].as_str().unwrap().to_owned();
    let mut watcher = repo.spawn_watcher(&["--debounce", "50", "--max-wait", "1000"]);
    repo.git(&["checkout", "--", "."]);
    wait_for_log(&repo, "the watcher records the revert", |s| {
        s["trigger"] == "watch" && repo.tree_of("refs/savepoint/heads/main") == repo.oracle_tree()
    });
    let out = pipe_claude(
        &repo,
        &claude_payload(&repo, "SessionStart", "new", Value::Null),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("last snapshot of session earlier"), "{text}");
    assert!(text.contains(&format!("savepoint restore {id}")), "{text}");
    // The session that took it is not told about its own work.
    let out = pipe_claude(
        &repo,
        &claude_payload(&repo, "SessionStart", "earlier", Value::Null),
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("differs"));
    let _ = watcher.kill();
    let _ = watcher.wait();
}

/// Issue 17 item 3: Codex (and Gemini) send nothing when a turn dies on an
/// API error — the session just ends. A SessionEnd while the session's turn
/// is still open is that failed turn: a snapshot and the brief. A session
/// whose turn ended normally gets neither brief nor message.
#[test]
fn a_session_that_ends_mid_turn_is_a_failed_turn() {
    for (agent, prompt_event, end_event) in [
        ("codex", "UserPromptSubmit", "Stop"),
        ("gemini", "BeforeAgent", "AfterAgent"),
    ] {
        let repo = TestRepo::new();
        repo.write("src/parser.rs", "fn parse() {}\n");
        repo.commit_all("init");
        let brief = repo.abs(".git/savepoint/handoff.md");
        let send = |event: &str, session: &str| {
            let p = claude_payload(
                &repo,
                event,
                session,
                serde_json::json!({"prompt": "refactor"}),
            );
            let out = repo.pipe(&["hook", agent], p.as_bytes());
            assert_eq!(out.status.code(), Some(0));
            out
        };
        // A turn that ends: no brief at session end.
        send(prompt_event, "ok-session");
        repo.write("src/parser.rs", "fn parse() { done }\n");
        send(end_event, "ok-session");
        let out = send("SessionEnd", "ok-session");
        assert!(!brief.exists(), "{agent}: no failure, no brief");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("API error"));
        // A turn that never ends: the session's end is the failure.
        send(prompt_event, "dying-session");
        repo.write("src/parser.rs", "fn parse() { half done }\n");
        let out = send("SessionEnd", "dying-session");
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("work is safe"), "{agent}: {said}");
        let log = log_json(&repo);
        assert_eq!(log[0]["trigger"], format!("{agent}:SessionEnd"));
        assert_eq!(
            repo.tree_of("refs/savepoint/heads/main"),
            repo.oracle_tree()
        );
        let text = std::fs::read_to_string(&brief).expect("the brief");
        assert!(text.contains(log[0]["id"].as_str().unwrap()), "{text}");
    }
}

/// Issue 17: Claude Code's settings go through the same editor as Gemini's
/// JSON with comments: a file with comments, 4-space indents and CRLF line
/// ends keeps all of them, and uninstall gives it back byte for byte.
#[test]
fn claude_settings_layout_and_comments_survive_install_and_uninstall() {
    let repo = TestRepo::new();
    repo.commit_all("init");
    let original = "{\r\n    // my model\r\n    \"model\": \"opus\",\r\n    \"hooks\": {\r\n        \"Stop\": [\r\n            { \"hooks\": [ { \"type\": \"command\", \"command\": \"say done\" } ] }\r\n        ]\r\n    }\r\n}\r\n";
    repo.write(".claude/settings.json", original);
    repo.run_ok(&["hooks", "install", "--claude"]);
    let text = std::fs::read_to_string(repo.abs(".claude/settings.json")).unwrap();
    assert!(text.contains("    // my model\r\n"), "{text:?}");
    assert!(!text.replace("\r\n", "").contains('\n'), "{text:?}");
    assert!(
        text.contains(
            "{ \"hooks\": [ { \"type\": \"command\", \"command\": \"say done\" } ] },\r\n"
        ),
        "{text:?}"
    );
    assert!(
        text.contains("\r\n        \"StopFailure\": [\r\n"),
        "{text:?}"
    );
    repo.run_ok(&["hooks", "uninstall", "--claude"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs(".claude/settings.json")).unwrap(),
        original
    );
}

/// An install from before the signal guard (`trap '' TERM HUP INT; … exec`)
/// is recognised: `install` replaces its entries with the template's (no
/// duplicates), `uninstall` removes them, the user's own hook stays.
#[test]
fn entries_of_an_older_install_are_upgraded_and_still_removable() {
    let repo = TestRepo::new();
    repo.commit_all("init");
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/claude-settings.json"),
    )
    .unwrap();
    let mut old: Value = serde_json::from_str(
        &template
            .replace(savepoint::integrations::agents::settings::SIGNAL_GUARD, "")
            .replace("&& exec savepoint", "&& savepoint"),
    )
    .unwrap();
    old["hooks"]["Stop"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"hooks": [{"type": "command", "command": "my-own-stop-hook"}]}));
    let path = repo.abs(".claude/settings.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&old).unwrap()).unwrap();

    repo.run_ok(&["hooks", "install", "--claude"]);
    let now: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let commands: Vec<&str> = now["hooks"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|l| l.as_array().unwrap())
        .flat_map(|e| e["hooks"].as_array().unwrap())
        .map(|h| h["command"].as_str().unwrap())
        .collect();
    let ours = commands
        .iter()
        .filter(|c| c.contains("savepoint hook claude"));
    assert_eq!(ours.clone().count(), 7, "one entry per event: {commands:?}");
    assert!(ours
        .into_iter()
        .all(|c| c.starts_with(savepoint::integrations::agents::settings::SIGNAL_GUARD)));
    assert!(commands.contains(&"my-own-stop-hook"));
    let again = std::fs::read(&path).unwrap();
    repo.run_ok(&["hooks", "install", "--claude"]);
    assert_eq!(std::fs::read(&path).unwrap(), again, "idempotent");

    repo.run_ok(&["hooks", "uninstall", "--claude"]);
    let left: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        left,
        serde_json::json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "my-own-stop-hook"}]}]}})
    );
}

/// Issue 17 item 8: after a failed turn, with the work and the brief safe,
/// the provider's status page is asked (here a mock on 127.0.0.1): its
/// verdict is in the message and in the brief.
#[test]
fn a_failed_turn_asks_the_providers_status_page() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let body = r#"{"page":{"id":"p","name":"Anthropic"},
            "components":[{"id":"b","name":"Claude API","status":"partial_outage","group":false}],
            "incidents":[{"id":"i","name":"Elevated errors on Opus","status":"investigating","impact":"major","started_at":"2026-11-27T10:05:00Z"}],
            "status":{"indicator":"major","description":"Partial System Outage"}}"#;
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut request = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            request.push_str(&line);
        }
        write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request
    });
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    repo.git(&["config", "savepoint.statusUrl", "auto"]);
    repo.git(&[
        "config",
        "savepoint.statusUrl.anthropic",
        &format!("http://127.0.0.1:{port}/api/v2/summary.json"),
    ]);
    repo.write("src/parser.rs", "fn parse() { the failed turn's work }\n");
    let out = pipe_claude(
        &repo,
        &claude_payload(
            &repo,
            "StopFailure",
            "s-failed",
            serde_json::json!({"error": "server_error", "last_assistant_message": "API Error: 529"}),
        ),
    );
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /api/v2/summary.json"), "{request}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("work is safe"), "{said}");
    assert!(said.contains("Elevated errors on Opus"), "{said}");
    let brief = std::fs::read_to_string(repo.abs(".git/savepoint/handoff.md")).unwrap();
    assert!(brief.contains("Elevated errors on Opus"), "{brief}");
    assert!(brief.contains("s-failed"), "{brief}");
    assert_eq!(log_json(&repo)[0]["trigger"], "claude:StopFailure");
}

/// Issue 18 item 7: `core.hooksPath` inside the work tree (husky): install
/// says that it wrote into the repository's files and names the tracked
/// hooks it chained; uninstall puts them back byte for byte.
#[test]
fn hooks_in_the_work_tree_are_announced_and_restored() {
    let repo = TestRepo::new();
    let husky_hook = "#!/bin/sh\nnpx lint-staged\n";
    repo.write(".husky/post-commit", husky_hook);
    repo.chmod(".husky/post-commit", 0o755);
    repo.commit_all("husky");
    repo.git(&["config", "core.hooksPath", ".husky"]);
    let out = repo.run_ok(&["hooks", "install"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("core.hooksPath is inside the work tree"),
        "{err}"
    );
    assert!(err.contains(".husky/post-commit"), "{err}");
    assert!(
        !err.contains(".husky/post-merge"),
        "untracked ones are not named: {err}"
    );
    repo.run_ok(&["hooks", "uninstall"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs(".husky/post-commit")).unwrap(),
        husky_hook
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

/// `savepoint.autostart`: SessionStart starts the watcher — after its
/// notice, which must come from the work tree (the new watcher has not
/// recorded anything yet), not from the chain's tip.
#[test]
fn session_start_autostarts_the_watcher_after_an_honest_notice() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("init");
    repo.git(&["config", "savepoint.autostart", "true"]);
    repo.write("src/parser.rs", "fn parse() { earlier session }\n");
    pipe_claude(
        &repo,
        &claude_payload(&repo, "Stop", "earlier", Value::Null),
    );
    assert_eq!(log_json(&repo)[0]["session"], "earlier");
    repo.git(&["checkout", "--", "."]);
    let out = pipe_claude(
        &repo,
        &claude_payload(&repo, "SessionStart", "new", Value::Null),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("last snapshot of session earlier"), "{text}");
    let state = repo.abs(".git/savepoint");
    common::wait_until("the autostarted watcher", Duration::from_secs(30), || {
        savepoint::watch::WatchState::load(&state).is_some()
    });
    repo.run_ok(&["stop"]);
}
