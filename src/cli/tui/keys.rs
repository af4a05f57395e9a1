//! Every key of `savepoint ui`, in one table: the `?` overlay lists it,
//! the footer takes its hints from it, and a test checks the README
//! documents each one.

/// `(keys, what they do)`, in the order the help shows them; an empty key
/// starts a section.
pub const KEYS: &[(&str, &str)] = &[
    ("", "Move"),
    ("↑ ↓  j k", "previous / next row in the focused pane (diff: scroll)"),
    ("PgUp PgDn  Ctrl-u Ctrl-d", "a page up / down"),
    ("Home End  g G", "first / last (End reads the whole chain)"),
    ("Tab Shift-Tab  ← →  h l", "focus the next / previous pane: timeline, files, diff"),
    ("Enter", "timeline → files → diff"),
    ("mouse", "wheel scrolls the pane under it, a click selects a row"),
    ("", "Look"),
    ("d", "diff against: previous snapshot → work tree → HEAD"),
    ("c", "the selected file's diff ↔ its content at that snapshot"),
    ("/", "filter: words in the prompt or summary, path:<dir>, agent:<name>, session:<id> (Esc clears)"),
    ("@", "jump to a time or snapshot: 15m, @{2h}, @{yesterday}, @~3, an id"),
    ("", "Act (each asks first, showing the plan)"),
    ("r", "restore the selected file (← → widen it to its directories or the whole snapshot)"),
    ("R", "restore the whole snapshot"),
    ("u", "undo the last restore, recover or undo (like `savepoint undo`)"),
    ("s", "squash up to here: the selected snapshot becomes a commit on your branch"),
    ("w", "write the hand-off brief (<git-dir>/savepoint/handoff.md)"),
    ("y Enter / n Esc", "in a question: go ahead / cancel"),
    ("", "Other"),
    ("?", "this help"),
    ("q  Ctrl-c", "quit (the terminal is left as it was)"),
];

/// The footer's hints (the most used keys).
pub const FOOTER: &str =
    "↑↓ move  tab pane  d base  c content  r/R restore  u undo  s squash  w brief  / filter  @ jump  ? help  q quit";
