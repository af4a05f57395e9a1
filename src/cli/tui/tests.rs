//! The timeline without a terminal: real repositories, keys fed to
//! [`App::handle`], the screen rendered into ratatui's `TestBackend` and
//! read back as text — plus what the keys did to the repository.

use std::path::Path;

use git2::{Oid, Repository, Signature, Time};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::style::Color;
use ratatui::Terminal;
use savepoint::snapshot::record::{self, SnapRequest};
use savepoint::snapshot::trailers::{self, Trailers};
use savepoint::workspace::Workspace;

use super::app::{App, Overlay};
use super::render::render;

/// A repository on `main` with one commit (`README`, `src/lib.rs`).
fn repo() -> tempfile::TempDir {
    savepoint::git::libgit2_init::init();
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repository::init(tmp.path()).unwrap();
    {
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", "Test").unwrap();
        cfg.set_str("user.email", "test@example.com").unwrap();
    }
    write(tmp.path(), "README", "hello\n");
    write(tmp.path(), "src/lib.rs", "pub fn a() {}\n");
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("Test", "test@example.com").unwrap();
    repo.commit(Some("refs/heads/main"), &sig, &sig, "init", &tree, &[])
        .unwrap();
    repo.set_head("refs/heads/main").unwrap();
    tmp
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn ws(root: &Path) -> Workspace {
    Workspace::discover(root).unwrap()
}

/// A snapshot through the library, as an agent's hook takes it.
fn snap(
    root: &Path,
    trigger: &str,
    session: Option<&str>,
    agent: Option<&str>,
    prompt: Option<&str>,
) -> Oid {
    let req = SnapRequest {
        session: session.map(str::to_owned),
        agent: agent.map(str::to_owned),
        prompt: prompt.map(str::to_owned),
        ..SnapRequest::new(trigger)
    };
    record::take(&ws(root), &req, None).unwrap().oid.unwrap()
}

/// Two sessions, three prompts and a watcher snapshot, oldest first:
/// `[parser added, parser edited, lib edited, notes (watch), parser v2]`.
fn story(root: &Path) -> Vec<Oid> {
    let s1 = Some("aaaa1111-session");
    let s2 = Some("bbbb2222-session");
    let claude = Some("claude");
    let mut ids = Vec::new();
    write(root, "src/parser.rs", "fn parse() {}\n");
    ids.push(snap(
        root,
        "claude:UserPromptSubmit",
        s1,
        claude,
        Some("add a parser module"),
    ));
    write(root, "src/parser.rs", "fn parse() { todo!() }\n");
    ids.push(snap(root, "claude:PostToolUse", s1, claude, None));
    write(root, "src/lib.rs", "pub fn a() { strict() }\n");
    ids.push(snap(
        root,
        "claude:UserPromptSubmit",
        s1,
        claude,
        Some("make the parser strict"),
    ));
    write(root, "notes.md", "notes\n");
    ids.push(snap(root, "watch", None, None, None));
    write(root, "src/parser.rs", "fn parse() { two_passes() }\n");
    ids.push(snap(
        root,
        "gemini:BeforeAgent",
        s2,
        Some("gemini"),
        Some("refactor into two passes"),
    ));
    ids
}

/// A chain of `n` synthetic snapshots on `refname` (one file changed
/// each, committed `step` seconds apart from `t0`), written directly: the
/// library's shape, without scanning a work tree n times.
fn synthetic_chain(repo: &Repository, refname: &str, n: usize, t0: i64, step: i64) -> Vec<Oid> {
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let mut parent = head.clone();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let blob = repo.blob(format!("{i}\n").as_bytes()).unwrap();
        let mut tb = repo.treebuilder(Some(&parent.tree().unwrap())).unwrap();
        let name = format!("f{}.txt", i % 7);
        tb.insert(&name, blob, 0o100644).unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let t = Trailers {
            trigger: "watch".into(),
            base: head.id().to_string(),
            session: Some(format!("s{}", i / 100)),
            prompts: if i % 100 == 0 {
                vec![format!("prompt number {}", i / 100)]
            } else {
                vec![]
            },
            ..Trailers::default()
        };
        let message =
            trailers::format_message(&format!("savepoint: watch: 1 file: {name}"), None, &t);
        let sig = Signature::new(
            "Test",
            "test@example.com",
            &Time::new(t0 + i as i64 * step, 0),
        )
        .unwrap();
        let oid = repo
            .commit(None, &sig, &sig, &message, &tree, &[&parent])
            .unwrap();
        parent = repo.find_commit(oid).unwrap();
        out.push(oid);
    }
    repo.reference(refname, parent.id(), true, "test chain")
        .unwrap();
    out
}

fn open(root: &Path, all: bool, color: bool) -> App {
    let mut app = App::open(ws(root), all, color).unwrap();
    app.resize(120, 40);
    app.sync();
    app
}

fn screen(app: &App) -> String {
    let buf = buffer(app);
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_owned())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn buffer(app: &App) -> ratatui::buffer::Buffer {
    let mut term = Terminal::new(TestBackend::new(app.width, app.height)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    term.backend().buffer().clone()
}

fn key(app: &mut App, code: KeyCode) {
    app.handle(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    app.sync();
}

fn keys(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn short(oid: Oid) -> String {
    savepoint::snapshot::chain::short_id(oid)
}

/// The line of the screen holding `needle`, for position checks.
fn line_of(screen: &str, needle: &str) -> usize {
    screen
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{screen}"))
}

#[test]
fn rows_are_grouped_by_session_and_prompt_newest_first() {
    let tmp = repo();
    let ids = story(tmp.path());
    let app = open(tmp.path(), false, false);
    let s = screen(&app);
    // Newest first, with headers where the session and the prompt change.
    let order = [
        "── session bbbb2222-session · gemini",
        " ❯ refactor into two passes",
        &format!("> {}", short(ids[4])),
        "── session aaaa1111-session · claude",
        " ❯ make the parser strict",
        &format!("  {}", short(ids[3])),
        &format!("  {}", short(ids[2])),
        " ❯ add a parser module",
        &format!("  {}", short(ids[1])),
        &format!("  {}", short(ids[0])),
    ];
    let lines: Vec<usize> = order.iter().map(|n| line_of(&s, n)).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}\n{s}");
    // Columns: age, trigger (the agent's prefix in its own column), agent, summary.
    let row = s
        .lines()
        .nth(line_of(&s, &format!("  {}", short(ids[1]))))
        .unwrap();
    assert!(
        row.contains("PostToolUse") && row.contains("claude") && row.contains("  src/parser.rs"),
        "{row}"
    );
    assert!(s.contains("refs/savepoint/heads/main │ 5 snapshots"), "{s}");
    // The watcher's snapshot belongs to the prompt it was taken under.
    assert!(line_of(&s, &format!("  {}", short(ids[3]))) > line_of(&s, "make the parser strict"));
}

#[test]
fn the_diff_pane_shows_the_selected_snapshot_against_the_chosen_base() {
    let tmp = repo();
    let ids = story(tmp.path());
    write(tmp.path(), "src/parser.rs", "fn parse() { unsaved() }\n");
    let mut app = open(tmp.path(), false, false);
    let s = screen(&app);
    assert!(
        s.contains(&format!("Files · vs previous {} (1)", short(ids[3]))),
        "{s}"
    );
    assert!(
        s.contains("> M src/parser.rs") && s.contains("+1 -1"),
        "{s}"
    );
    assert!(
        s.contains("-fn parse() { todo!() }")
            || s.contains("-fn parse() {}")
            || s.contains("-fn parse"),
        "{s}"
    );
    assert!(s.contains("+fn parse() { two_passes() }"), "{s}");
    key(&mut app, KeyCode::Char('d'));
    let s = screen(&app);
    assert!(s.contains("Files · vs the work tree now (1)"), "{s}");
    assert!(
        s.contains("-fn parse() { two_passes() }") && s.contains("+fn parse() { unsaved() }"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('d'));
    let s = screen(&app);
    assert!(s.contains("Files · vs HEAD "), "{s}");
    for f in ["A notes.md", "M src/lib.rs", "A src/parser.rs"] {
        assert!(s.contains(f), "{f}\n{s}");
    }
    key(&mut app, KeyCode::Char('d'));
    assert!(screen(&app).contains("Files · vs previous"));
    // The content at that moment, with line numbers.
    key(&mut app, KeyCode::Char('c'));
    let s = screen(&app);
    assert!(
        s.contains(&format!("Content · src/parser.rs @ {}", short(ids[4]))),
        "{s}"
    );
    assert!(s.contains("    1  fn parse() { two_passes() }"), "{s}");
}

#[test]
fn moving_and_panes() {
    let tmp = repo();
    let ids = story(tmp.path());
    let mut app = open(tmp.path(), false, false);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected_row().unwrap().oid, ids[2]);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_row().unwrap().oid, ids[0]);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected_row().unwrap().oid, ids[4]);
    // HEAD → snapshot: three files; the file pane moves its own selection.
    key(&mut app, KeyCode::Char('d'));
    key(&mut app, KeyCode::Char('d'));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Down);
    let s = screen(&app);
    assert!(s.contains("> M src/lib.rs"), "{s}");
    assert!(s.contains("Diff · src/lib.rs"), "{s}");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Down);
    assert_eq!(
        app.selected_row().unwrap().oid,
        ids[4],
        "the diff pane scrolls, the row stays"
    );
}

#[test]
fn no_color_means_no_colour_at_all() {
    let tmp = repo();
    story(tmp.path());
    let plain = buffer(&open(tmp.path(), false, false));
    for cell in plain.content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    let coloured = buffer(&open(tmp.path(), false, true));
    assert!(coloured.content().iter().any(|c| c.fg != Color::Reset));
}

#[test]
fn filters_by_prompt_path_agent_and_session() {
    let tmp = repo();
    let ids = story(tmp.path());
    let mut app = open(tmp.path(), false, false);
    let filter = |app: &mut App, text: &str| {
        key(app, KeyCode::Char('/'));
        for _ in 0..40 {
            key(app, KeyCode::Backspace);
        }
        keys(app, text);
        key(app, KeyCode::Enter);
        (0..app.len())
            .map(|p| app.row(p).unwrap().oid)
            .collect::<Vec<_>>()
    };
    // Prompt text: the prompt's snapshot and those taken under it.
    assert_eq!(filter(&mut app, "strict"), vec![ids[3], ids[2]]);
    assert!(screen(&app).contains("filter: strict"));
    assert_eq!(
        filter(&mut app, "path:src/parser.rs"),
        vec![ids[4], ids[1], ids[0]]
    );
    assert_eq!(filter(&mut app, "agent:gemini"), vec![ids[4]]);
    assert_eq!(
        filter(&mut app, "session:aaaa"),
        vec![ids[2], ids[1], ids[0]]
    );
    assert_eq!(
        filter(&mut app, "\"a parser\" session:aaaa"),
        vec![ids[1], ids[0]]
    );
    assert!(filter(&mut app, "nothing-like-this").is_empty());
    assert!(screen(&app).contains("no snapshot matches the filter"));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.len(), 5);
    assert!(app.filter.is_none());
}

#[test]
fn jumps_by_time_and_by_name() {
    let tmp = repo();
    let r = Repository::open(tmp.path()).unwrap();
    let now = chrono::Utc::now().timestamp();
    // 300 snapshots a minute apart, the newest a minute ago.
    let ids = synthetic_chain(&r, "refs/savepoint/heads/main", 300, now - 300 * 60, 60);
    let mut app = open(tmp.path(), false, false);
    key(&mut app, KeyCode::Char('@'));
    keys(&mut app, "15m");
    key(&mut app, KeyCode::Enter);
    // The latest at or before 15 minutes ago: the 15th from the top (or the 16th,
    // if a minute turned over in between).
    let at = app.selected;
    assert!((14..=15).contains(&at), "{at}");
    assert!(screen(&app).contains(&format!("> {}", short(ids[299 - at]))));
    // Far back: read on until it is found.
    key(&mut app, KeyCode::Char('@'));
    keys(&mut app, "@{4h}");
    key(&mut app, KeyCode::Enter);
    assert!((239..=240).contains(&app.selected), "{}", app.selected);
    key(&mut app, KeyCode::Char('@'));
    keys(&mut app, "@~3");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.selected, 3);
    key(&mut app, KeyCode::Char('@'));
    keys(&mut app, &short(ids[10]));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.selected_row().unwrap().oid, ids[10]);
    // Older than the chain: the oldest, said so.
    key(&mut app, KeyCode::Char('@'));
    keys(&mut app, "2d");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.selected_row().unwrap().oid, ids[0]);
    assert!(screen(&app).contains("before the first snapshot"));
    // A name that is no snapshot: said in the prompt, which stays open.
    key(&mut app, KeyCode::Char('@'));
    keys(&mut app, "@{soon}");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.overlay, Some(Overlay::Input(ref i)) if i.error.is_some()));
    assert!(screen(&app).contains("cannot read the time"));
}

#[test]
fn a_long_chain_is_read_page_by_page() {
    let tmp = repo();
    let r = Repository::open(tmp.path()).unwrap();
    let ids = synthetic_chain(&r, "refs/savepoint/heads/main", 3_000, 1_700_000_000, 10);
    let mut app = open(tmp.path(), false, false);
    let read = app.timeline.rows.len();
    assert!(read < 1_000, "read {read} rows up front");
    assert!(
        screen(&app).contains("3000+ snapshots")
            || screen(&app).contains(&format!("{read}+ snapshots"))
    );
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::PageDown);
    assert!(app.timeline.rows.len() >= read);
    key(&mut app, KeyCode::End);
    assert_eq!(app.timeline.rows.len(), 3_000);
    assert_eq!(app.selected_row().unwrap().oid, ids[0]);
    assert!(screen(&app).contains("3000 snapshots"));
    assert!(screen(&app).contains(&format!("> {}", short(ids[0]))));
    // Groups from the synthetic prompts (one per 100 snapshots).
    assert!(screen(&app).contains("❯ prompt number 0"));
}

#[test]
fn restore_a_file_widen_to_the_snapshot_then_undo() {
    let tmp = repo();
    let ids = story(tmp.path());
    let root = tmp.path();
    write(root, "src/parser.rs", "fn parse() { unsaved() }\n");
    write(root, "notes.md", "changed notes\n");
    let mut app = open(root, false, false);
    // The snapshot that added the parser module.
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('r'));
    let s = screen(&app);
    assert!(s.contains("Restore file src/parser.rs?"), "{s}");
    assert!(
        s.contains(&format!("as in snapshot {}", short(ids[0]))),
        "{s}"
    );
    assert!(s.contains("modify  src/parser.rs"), "{s}");
    assert!(s.contains("y restore 1 path"), "{s}");
    // Widen: the directory, then the whole snapshot (its plan), back.
    key(&mut app, KeyCode::Right);
    assert!(screen(&app).contains("Restore directory src?"));
    key(&mut app, KeyCode::Right);
    let s = screen(&app);
    assert!(
        s.contains("Restore the whole work tree?") && s.contains("delete  notes.md"),
        "{s}"
    );
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    assert!(screen(&app).contains("Restore file src/parser.rs?"));
    let index_before = std::fs::read(root.join(".git/index")).unwrap();
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        std::fs::read_to_string(root.join("src/parser.rs")).unwrap(),
        "fn parse() {}\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("notes.md")).unwrap(),
        "changed notes\n"
    );
    let s = screen(&app);
    assert!(
        s.contains(&format!("restored 1 path from {}", short(ids[0]))) && s.contains("u undoes"),
        "{s}"
    );
    // The safety snapshot is on top now; the selection stayed on its row.
    assert_eq!(app.timeline.rows[0].trigger, "restore-safety");
    assert_eq!(app.selected_row().unwrap().oid, ids[0]);
    // Undo: the plan, then the file as it was.
    key(&mut app, KeyCode::Char('u'));
    let s = screen(&app);
    assert!(
        s.contains("Undo the restore of") && s.contains("modify  src/parser.rs"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        std::fs::read_to_string(root.join("src/parser.rs")).unwrap(),
        "fn parse() { unsaved() }\n"
    );
    assert!(screen(&app).contains("undone: 1 path back"));
    assert_eq!(
        std::fs::read(root.join(".git/index")).unwrap(),
        index_before
    );
    // `n` changes nothing.
    key(&mut app, KeyCode::Char('R'));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(
        std::fs::read_to_string(root.join("src/parser.rs")).unwrap(),
        "fn parse() { unsaved() }\n"
    );
    assert!(screen(&app).contains("cancelled: nothing changed"));
}

#[test]
fn squash_up_to_the_selected_snapshot() {
    let tmp = repo();
    let ids = story(tmp.path());
    let root = tmp.path();
    let mut app = open(root, false, false);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down); // ids[2]: "make the parser strict"
    key(&mut app, KeyCode::Char('s'));
    let s = screen(&app);
    assert!(
        s.contains(&format!(
            "Squash up to {} into a commit on main?",
            short(ids[2])
        )),
        "{s}"
    );
    assert!(s.contains("3 snapshots and 2 files since HEAD"), "{s}");
    key(&mut app, KeyCode::Char('y'));
    let r = Repository::open(root).unwrap();
    let head = r.head().unwrap().peel_to_commit().unwrap();
    let snap_tree = r.find_commit(ids[2]).unwrap().tree_id();
    assert_eq!(head.tree_id(), snap_tree);
    assert!(head.message().unwrap().contains("make the parser strict"));
    // Later work stays in the work tree.
    assert_eq!(
        std::fs::read_to_string(root.join("src/parser.rs")).unwrap(),
        "fn parse() { two_passes() }\n"
    );
    assert!(
        screen(&app).contains("squashed 3 snapshots"),
        "{}",
        screen(&app)
    );
    // A snapshot from before HEAD's commit cannot be squashed again.
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('s'));
    assert!(screen(&app).contains("cannot squash"), "{}", screen(&app));
}

#[test]
fn the_hand_off_brief_is_written() {
    let tmp = repo();
    story(tmp.path());
    let mut app = open(tmp.path(), false, false);
    key(&mut app, KeyCode::Char('w'));
    assert!(screen(&app).contains("hand-off brief written to .git/savepoint/handoff.md"));
    let brief = std::fs::read_to_string(tmp.path().join(".git/savepoint/handoff.md")).unwrap();
    assert!(brief.contains("make the parser strict"));
}

#[test]
fn new_snapshots_appear_on_top() {
    let tmp = repo();
    let ids = story(tmp.path());
    let root = tmp.path();
    let mut app = open(root, false, false);
    // At the top: the selection follows the newest.
    write(root, "new.txt", "1\n");
    let new = snap(root, "watch", None, None, None);
    app.tick();
    app.sync();
    assert_eq!(app.selected_row().unwrap().oid, new);
    assert!(screen(&app).contains(&format!("> {}", short(new))));
    // Elsewhere: it stays on its snapshot.
    key(&mut app, KeyCode::Char('G'));
    write(root, "new.txt", "2\n");
    let newer = snap(root, "watch", None, None, None);
    app.tick();
    app.sync();
    assert_eq!(app.selected_row().unwrap().oid, ids[0]);
    assert_eq!(app.timeline.rows[0].oid, newer);
    // A filter keeps up too.
    key(&mut app, KeyCode::Char('/'));
    keys(&mut app, "path:third.txt");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.len(), 0);
    write(root, "third.txt", "3\n");
    let third = snap(root, "watch", None, None, None);
    app.tick();
    app.sync();
    assert_eq!(app.row(0).map(|r| r.oid), Some(third));
    // A rewritten chain is read again.
    let r = Repository::open(root).unwrap();
    r.reference("refs/savepoint/heads/main", ids[1], true, "rewind")
        .unwrap();
    app.tick();
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.len(), 2);
}

#[test]
fn every_key_is_in_the_help_and_the_readme() {
    let tmp = repo();
    story(tmp.path());
    let mut app = open(tmp.path(), false, false);
    key(&mut app, KeyCode::Char('?'));
    let s = screen(&app);
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("### `savepoint ui")
        .expect("a README section for ui")..];
    for (keys, what) in super::keys::KEYS {
        if keys.is_empty() {
            continue;
        }
        assert!(s.contains(keys), "help lacks {keys}\n{s}");
        let first = what.split(' ').next().unwrap();
        assert!(s.contains(first));
        assert!(
            section.contains(&format!("`{keys}`")),
            "README's ui section lacks `{keys}`"
        );
    }
    key(&mut app, KeyCode::Char('x'));
    assert!(app.overlay.is_none(), "any key closes the help");
    key(&mut app, KeyCode::Char('?'));
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit, "q quits, also from the help");
}

#[test]
fn any_terminal_size_renders() {
    let tmp = repo();
    story(tmp.path());
    let mut app = open(tmp.path(), false, true);
    for (w, h) in [(1, 1), (20, 5), (60, 15), (80, 24), (200, 60), (0, 0)] {
        app.resize(w, h);
        app.sync();
        let _ = screen(&app);
        key(&mut app, KeyCode::Char('r'));
        let _ = screen(&app);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Char('?'));
        let _ = screen(&app);
        key(&mut app, KeyCode::Esc);
    }
    // Narrow: the panes stack, the selected row still shows.
    app.resize(70, 30);
    app.sync();
    assert!(screen(&app).contains("> "));
}

#[test]
fn untrusted_text_cannot_drive_the_terminal() {
    let tmp = repo();
    let root = tmp.path();
    write(root, "x", "1\n");
    snap(
        root,
        "claude:UserPromptSubmit",
        Some("s"),
        Some("claude"),
        Some("evil \u{1b}[2J\u{1b}]0;owned\u{7} prompt"),
    );
    let app = open(root, false, false);
    let s = screen(&app);
    assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'), "{s:?}");
    assert!(s.contains("evil \\033[2J"), "{s}");
}

#[test]
fn the_mouse_selects_and_scrolls() {
    let tmp = repo();
    let ids = story(tmp.path());
    let mut app = open(tmp.path(), false, false);
    let s = screen(&app);
    let y = line_of(&s, &short(ids[1])) as u16;
    let mouse = |kind, column, row| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.handle(mouse(MouseEventKind::Down(MouseButton::Left), 10, y));
    app.sync();
    assert_eq!(app.selected_row().unwrap().oid, ids[1]);
    app.handle(mouse(MouseEventKind::ScrollUp, 10, 5));
    app.sync();
    assert_eq!(app.selected_row().unwrap().oid, ids[4]);
    app.handle(mouse(MouseEventKind::ScrollDown, 10, 5));
    app.sync();
    assert_eq!(app.selected_row().unwrap().oid, ids[1]);
}

#[test]
fn all_chains_are_merged_by_time() {
    let tmp = repo();
    let root = tmp.path();
    let r = Repository::open(root).unwrap();
    let main = synthetic_chain(&r, "refs/savepoint/heads/main", 3, 1_700_000_000, 20);
    let other = synthetic_chain(
        &r,
        "refs/savepoint/remotes/origin/heads/main",
        3,
        1_700_000_010,
        20,
    );
    let mut app = open(root, true, false);
    let order: Vec<Oid> = (0..app.len()).map(|p| app.row(p).unwrap().oid).collect();
    assert_eq!(
        order,
        vec![other[2], main[2], other[1], main[1], other[0], main[0]]
    );
    let s = screen(&app);
    assert!(
        s.contains("all chains (2)") && s.contains("remotes/origi"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn an_empty_chain_says_how_to_begin_and_every_key_is_safe() {
    let tmp = repo();
    let mut app = open(tmp.path(), false, false);
    let s = screen(&app);
    assert!(
        s.contains("no snapshots on refs/savepoint/heads/main yet"),
        "{s}"
    );
    assert!(s.contains("0 snapshots"), "{s}");
    for c in ['j', 'k', 'G', 'g', 'd', 'c', 'r', 'R', 's', 'u', 'w'] {
        key(&mut app, KeyCode::Char(c));
        let _ = screen(&app);
        key(&mut app, KeyCode::Esc);
    }
    key(&mut app, KeyCode::Char('r'));
    assert!(screen(&app).contains("no snapshot selected"));
    key(&mut app, KeyCode::Char('u'));
    assert!(screen(&app).contains("nothing to undo"));
    assert!(!app.quit);
}
