//! Untrusted text made safe to show: prompts, session ids, file names and
//! fetched commit messages end up on terminals, in commit messages and in
//! the hand-off brief another assistant acts on. Control characters are
//! escaped as git's `quote_c_style` does, paths are quoted like git's
//! `quote_path`, and Markdown code spans and fences are sized so content
//! cannot close them. Machine output (`--json`) never goes through here.

use std::borrow::Cow;

/// Is `c` a control character a terminal would act on (C0, DEL, C1)?
fn is_control(c: char) -> bool {
    c.is_control()
}

/// Append `c` as git's `quote_c_style` writes it: `\n`, `\t`, … or octal
/// bytes (`\033`).
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\u{b}' => out.push_str("\\v"),
        '\u{c}' => out.push_str("\\f"),
        '\r' => out.push_str("\\r"),
        _ => {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:03o}"));
            }
        }
    }
}

/// Untrusted text (a prompt, a session id, a file name, a fetched commit
/// message) for one line of output: control characters are shown as
/// escapes, so the text cannot clear the screen, retitle the terminal,
/// move the cursor or start a new line (of a commit message, a brief).
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_control(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path for one line of output, quoted like git's `quote_path` when it
/// holds a control character, a double quote or a backslash
/// (`"new\nline.txt"`); other paths are shown as they are.
pub fn quote_path(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_control(c) || c == '"' || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_control(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// A Markdown code fence longer than any backtick run in `content` (at
/// least three), so nothing inside can close it.
pub fn fence_for(content: &str) -> String {
    "`".repeat((longest_backtick_run(content) + 1).max(3))
}

/// `s` as one Markdown code span (controls escaped; the delimiter longer
/// than any backtick run inside, padded when `s` touches a backtick).
pub fn code_span(s: &str) -> String {
    let s = escape_controls(s);
    let ticks = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// A command's arguments as one line, for messages: lossy UTF-8, joined
/// by spaces (neither quoted nor escaped: [`escape_controls`] the line
/// where it reaches a terminal).
pub fn args_line<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_like_git() {
        assert_eq!(escape_controls("plain"), "plain");
        assert_eq!(
            escape_controls("a\nb\tc\u{1b}[2J\u{7}"),
            "a\\nb\\tc\\033[2J\\a"
        );
        assert_eq!(escape_controls("csi \u{9b}"), "csi \\302\\233");
        assert_eq!(quote_path("a b.txt"), "a b.txt");
        assert_eq!(quote_path("new\nline"), "\"new\\nline\"");
        assert_eq!(quote_path("back\\slash"), "\"back\\\\slash\"");
    }

    #[test]
    fn code_spans_and_fences_cannot_be_closed_from_inside() {
        assert_eq!(code_span("x"), "`x`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("x\n````\n"), "`````");
    }
}
