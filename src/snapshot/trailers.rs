//! Snapshot commit messages: the subject line, the `Savepoint-*` trailers
//! (DESIGN.md §1) and parsing them back. Trailer values are always one line.

/// Trailer keys, exactly as the contract spells them.
pub const TRIGGER: &str = "Savepoint-Trigger";
pub const BASE: &str = "Savepoint-Base";
pub const SESSION: &str = "Savepoint-Session";
pub const TOOL: &str = "Savepoint-Tool";
pub const PROMPT: &str = "Savepoint-Prompt";
pub const SKIPPED: &str = "Savepoint-Skipped";
/// Who made the change: `claude`, `gemini`, `codex`, `cursor`, `human`.
pub const AGENT: &str = "Savepoint-Agent";

/// Longest prompt kept in a trailer, in characters.
pub const PROMPT_CHARS: usize = 200;

/// The metadata a snapshot records besides its tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    pub trigger: String,
    pub base: String,
    pub session: Option<String>,
    /// Sessions of prompts this snapshot carries besides its own (a
    /// `Savepoint-Session` trailer each, after the first).
    pub more_sessions: Vec<String>,
    pub agent: Option<String>,
    pub tool: Option<String>,
    /// Every prompt this snapshot carries, in the order they were given (a
    /// `Savepoint-Prompt` trailer each).
    pub prompts: Vec<String>,
    pub skipped: Vec<String>,
}

/// Collapse whitespace (newlines included) to single spaces and cap the
/// length at `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max) {
        Some((i, _)) => joined[..i].to_owned(),
        None => joined,
    }
}

/// Build a full snapshot message.
pub fn format_message(subject: &str, body: Option<&str>, t: &Trailers) -> String {
    let mut m = one_line(subject, 500);
    m.push_str("\n\n");
    if let Some(body) = body.map(str::trim).filter(|b| !b.is_empty()) {
        m.push_str(body);
        m.push_str("\n\n");
    }
    let mut push = |k: &str, v: &str| {
        m.push_str(k);
        m.push_str(": ");
        m.push_str(&one_line(v, 1000));
        m.push('\n');
    };
    push(TRIGGER, &t.trigger);
    push(BASE, &t.base);
    if let Some(v) = &t.session {
        push(SESSION, v);
    }
    for v in &t.more_sessions {
        push(SESSION, v);
    }
    if let Some(v) = &t.agent {
        push(AGENT, v);
    }
    if let Some(v) = &t.tool {
        push(TOOL, v);
    }
    for v in &t.prompts {
        push(PROMPT, &one_line(v, PROMPT_CHARS));
    }
    for s in &t.skipped {
        push(SKIPPED, s);
    }
    m
}

/// Parse the trailers of a snapshot message; `None` when it has no
/// `Savepoint-Trigger` (i.e. it is not a snapshot).
pub fn parse(message: &str) -> Option<Trailers> {
    let block = message.trim_end().rsplit("\n\n").next()?;
    let mut t = Trailers::default();
    let mut has_trigger = false;
    for line in block.lines() {
        let Some((k, v)) = line.split_once(": ") else {
            continue;
        };
        let v = v.trim().to_owned();
        match k {
            TRIGGER => {
                has_trigger = true;
                t.trigger = v;
            }
            BASE => t.base = v,
            SESSION if t.session.is_none() => t.session = Some(v),
            SESSION => t.more_sessions.push(v),
            AGENT => t.agent = Some(v),
            TOOL => t.tool = Some(v),
            PROMPT => t.prompts.push(v),
            SKIPPED => t.skipped.push(v),
            _ => {}
        }
    }
    has_trigger.then_some(t)
}

/// `3 files: src/a.rs, src/b.rs, +1` (the first `show` paths, then a count).
pub fn summarize(paths: &[String], show: usize) -> String {
    match paths.len() {
        0 => "no changes".to_owned(),
        n => {
            let noun = if n == 1 { "file" } else { "files" };
            let mut s = format!("{n} {noun}: ");
            s.push_str(
                &paths
                    .iter()
                    .take(show)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            if n > show {
                s.push_str(&format!(", +{}", n - show));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Trailers {
            trigger: "claude:UserPromptSubmit".into(),
            base: "unborn".into(),
            session: Some("abc".into()),
            more_sessions: vec!["def".into()],
            agent: Some("gemini".into()),
            tool: None,
            prompts: vec!["fix the\nbug  please".into(), "and the docs".into()],
            skipped: vec!["big.bin (60 MiB)".into(), "other".into()],
        };
        let m = format_message("savepoint: x: 1 file: a", Some("body text"), &t);
        let back = parse(&m).unwrap();
        assert_eq!(back.prompts, ["fix the bug please", "and the docs"]);
        assert_eq!(back.session.as_deref(), Some("abc"));
        assert_eq!(back.more_sessions, ["def"]);
        assert_eq!(back.agent.as_deref(), Some("gemini"));
        assert_eq!(back.skipped.len(), 2);
        assert_eq!(back.trigger, t.trigger);
        assert!(parse("just a commit\n\nSigned-off-by: x").is_none());
    }

    #[test]
    fn prompt_is_capped_at_200_chars() {
        let long = "é".repeat(500);
        assert_eq!(one_line(&long, PROMPT_CHARS).chars().count(), 200);
    }

    #[test]
    fn summaries() {
        let p: Vec<String> = ["src/a.rs", "src/b.rs", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(summarize(&p, 2), "3 files: src/a.rs, src/b.rs, +1");
        assert_eq!(summarize(&p[..1], 2), "1 file: src/a.rs");
    }
}
