//! The timeline's filter (`/`): words that must all match a snapshot.
//! A plain word matches the prompt text or the summary; `path:<p>` keeps
//! snapshots that changed something at or below `<p>` (work-tree
//! relative); `agent:<a>` and `session:<s>` match those trailers (a
//! session by its prefix). Text is smart-case, as in `@{/text}`: case
//! matters only when it has an upper-case letter. Quotes group words:
//! `"fix the parser"`.

use anyhow::{bail, Result};
use git2::Repository;

use super::timeline::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Text(String),
    Path(Vec<u8>),
    Agent(String),
    Session(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub terms: Vec<Term>,
    /// What was typed, for the title.
    pub text: String,
}

impl Filter {
    /// Parse what was typed; `None` for nothing (no filter).
    pub fn parse(input: &str) -> Result<Option<Filter>> {
        let mut terms = Vec::new();
        for word in split_words(input)? {
            let term = if let Some(p) = word.strip_prefix("path:") {
                let p = p.trim_start_matches("./").trim_end_matches('/');
                if p.is_empty() || p == "." {
                    continue; // the whole tree: no limit
                }
                Term::Path(p.as_bytes().to_vec())
            } else if let Some(a) = word.strip_prefix("agent:") {
                Term::Agent(a.to_owned())
            } else if let Some(s) = word.strip_prefix("session:") {
                Term::Session(s.to_owned())
            } else {
                Term::Text(word)
            };
            terms.push(term);
        }
        Ok((!terms.is_empty()).then(|| Filter {
            terms,
            text: input.trim().to_owned(),
        }))
    }

    /// Does `row` match every term? Text matches the row's own prompts
    /// and summary and the prompts of the group it belongs to (`group`:
    /// what was asked when it was taken). A path term reads the snapshot's
    /// own changes (O(changed paths)), the rest only the row.
    pub fn matches(&self, repo: &Repository, row: &Row, group: &[String]) -> Result<bool> {
        for term in &self.terms {
            let ok = match term {
                Term::Text(t) => {
                    row.prompts
                        .iter()
                        .chain(group)
                        .any(|p| smart_contains(p, t))
                        || smart_contains(&row.summary, t)
                        || row.id.starts_with(t.as_str())
                }
                Term::Agent(a) => row.agent.as_deref().is_some_and(|x| smart_contains(x, a)),
                Term::Session(s) => row
                    .session
                    .as_deref()
                    .is_some_and(|x| x.starts_with(s.as_str())),
                Term::Path(p) => {
                    savepoint::snapshot::chain::touches(repo, row.oid, std::slice::from_ref(p))?
                }
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Smart case: case-insensitive unless `needle` has an upper-case letter.
fn smart_contains(hay: &str, needle: &str) -> bool {
    if needle.chars().any(char::is_uppercase) {
        hay.contains(needle)
    } else {
        hay.to_lowercase().contains(&needle.to_lowercase())
    }
}

/// Words separated by spaces; `"…"` keeps spaces inside one word.
fn split_words(input: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in input.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if quoted {
        bail!("a quote is not closed");
    }
    if any && !word.is_empty() {
        words.push(word);
    }
    Ok(words.into_iter().filter(|w| !w.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_prefixes_and_quotes() {
        let f = Filter::parse(r#"path:src/ agent:claude session:ab "fix the" parser"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            f.terms,
            vec![
                Term::Path(b"src".to_vec()),
                Term::Agent("claude".into()),
                Term::Session("ab".into()),
                Term::Text("fix the".into()),
                Term::Text("parser".into()),
            ]
        );
        assert_eq!(Filter::parse("   ").unwrap(), None);
        assert!(Filter::parse("\"open").is_err());
        assert!(smart_contains("Fix The Parser", "parser"));
        assert!(!smart_contains("fix the parser", "Parser"));
    }
}
