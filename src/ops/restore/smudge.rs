//! Which files git would change on their way into the work tree (smudge
//! filters, `ident`, `working-tree-encoding`, LF → CRLF), asked of git for
//! a whole restore at once: one `git check-attr --stdin` for every path and
//! one `git config` for `core.autocrlf`/`core.eol`. Git's own attribute
//! lookup decides (every source, macro and precedence rule as git has
//! them); only the last step, git's `convert_attrs` and `output_eol` from
//! `convert.c`, is ported here. A file nothing converts is written from
//! the object store as it is; one whose only conversion is LF → CRLF is
//! converted here as git's `crlf_to_worktree` does (a `*.bat text
//! eol=crlf` line is common, and one `git` process per such file was most
//! of a restore's time); the others go through git. Any failure to ask
//! means "through git", as before this existed.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::git::command::GitCmd;
use crate::workspace::Workspace;

/// The attributes `convert.c` reads, in `git check-attr`'s order.
const ATTRS: [&str; 6] = [
    "crlf",
    "ident",
    "filter",
    "eol",
    "text",
    "working-tree-encoding",
];

/// An attribute's state as `git check-attr` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Unspecified,
    Set,
    Unset,
    Is(Vec<u8>),
}

impl Value {
    fn parse(v: &[u8]) -> Value {
        match v {
            b"unspecified" => Value::Unspecified,
            b"set" => Value::Set,
            b"unset" => Value::Unset,
            other => Value::Is(other.to_vec()),
        }
    }
}

/// `core.autocrlf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AutoCrlf {
    False,
    True,
    Input,
}

/// The settings `convert.c` reads besides attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    autocrlf: AutoCrlf,
    /// `core.eol=crlf`.
    eol_crlf: bool,
}

impl Settings {
    /// git's `text_eol_is_crlf`.
    fn text_eol_is_crlf(self) -> bool {
        match self.autocrlf {
            AutoCrlf::True => true,
            AutoCrlf::Input => false,
            AutoCrlf::False => self.eol_crlf,
        }
    }
}

/// git's `enum convert_crlf_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrlfAction {
    Undefined,
    Binary,
    Text,
    TextInput,
    TextCrlf,
    Auto,
    AutoInput,
    AutoCrlf,
}

/// git's `git_path_check_crlf`.
fn check_crlf(v: &Value) -> CrlfAction {
    match v {
        Value::Set => CrlfAction::Text,
        Value::Unset => CrlfAction::Binary,
        Value::Is(s) if s == b"input" => CrlfAction::TextInput,
        Value::Is(s) if s == b"auto" => CrlfAction::Auto,
        _ => CrlfAction::Undefined,
    }
}

/// What git does to a file's content on its way into the work tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Smudge {
    /// Nothing: the blob's bytes.
    None,
    /// LF → CRLF only (`crate::snapshot::engine::blob::crlf_to_worktree`);
    /// `auto`: a `text=auto`/`core.autocrlf` action, which leaves blobs
    /// with CRs or binary content alone.
    Crlf { auto: bool },
    /// A filter driver, `ident` or an encoding: git's smudge side.
    Git,
}

/// What git does to a file with these attribute values (in [`ATTRS`]
/// order) when it checks it out: `convert_attrs`, then whether a filter
/// driver, `ident`, an encoding or CRLF output applies.
fn converts(a: &[Value; 6], s: Settings) -> Smudge {
    let [crlf, ident, filter, eol, text, encoding] = a;
    // Any driver name: git decides whether it has a smudge side.
    if matches!(filter, Value::Is(_)) || *ident == Value::Set {
        return Smudge::Git;
    }
    // Set or unset is an error in git; let git report it.
    if *encoding != Value::Unspecified {
        return Smudge::Git;
    }
    let mut action = check_crlf(text);
    if action == CrlfAction::Undefined {
        action = check_crlf(crlf);
    }
    if action != CrlfAction::Binary {
        let eol_lf = matches!(eol, Value::Is(v) if v == b"lf");
        let eol_crlf = matches!(eol, Value::Is(v) if v == b"crlf");
        action = match (action, eol_lf, eol_crlf) {
            (CrlfAction::Auto, true, _) => CrlfAction::AutoInput,
            (CrlfAction::Auto, _, true) => CrlfAction::AutoCrlf,
            (_, true, _) => CrlfAction::TextInput,
            (_, _, true) => CrlfAction::TextCrlf,
            (a, _, _) => a,
        };
    }
    if action == CrlfAction::Text {
        action = if s.text_eol_is_crlf() {
            CrlfAction::TextCrlf
        } else {
            CrlfAction::TextInput
        };
    }
    if action == CrlfAction::Undefined {
        action = match s.autocrlf {
            AutoCrlf::False => CrlfAction::Binary,
            AutoCrlf::True => CrlfAction::AutoCrlf,
            AutoCrlf::Input => CrlfAction::AutoInput,
        };
    }
    // git's `output_eol`: only CRLF output changes content.
    let crlf = match action {
        CrlfAction::Binary | CrlfAction::TextInput | CrlfAction::AutoInput => false,
        CrlfAction::TextCrlf | CrlfAction::AutoCrlf | CrlfAction::Undefined => true,
        CrlfAction::Text | CrlfAction::Auto => s.text_eol_is_crlf(),
    };
    let auto = matches!(
        action,
        CrlfAction::Auto | CrlfAction::AutoInput | CrlfAction::AutoCrlf
    );
    match (crlf, action) {
        (false, _) => Smudge::None,
        // Unreachable after the defaults above; git knows.
        (true, CrlfAction::Undefined) => Smudge::Git,
        (true, _) => Smudge::Crlf { auto },
    }
}

/// `core.autocrlf` and `core.eol` as git reads them (`-c`, includes,
/// every config file); `None` if git cannot say.
fn settings(ws: &Workspace) -> Option<Settings> {
    let out = GitCmd::new(ws.git_dir(), ws.workdir())
        .args(["config", "-z", "--get-regexp", r"^core\.(autocrlf|eol)$"])
        .output()
        .ok()?;
    // Exit 1: neither is set.
    if !out.status.success() && out.status.code() != Some(1) {
        return None;
    }
    let mut s = Settings {
        autocrlf: AutoCrlf::False,
        eol_crlf: false,
    };
    for rec in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let (key, value) = match rec.iter().position(|&b| b == b'\n') {
            Some(n) => (&rec[..n], rec[n + 1..].to_ascii_lowercase()),
            // A key without `=`: boolean true.
            None => (rec, b"true".to_vec()),
        };
        match key.to_ascii_lowercase().as_slice() {
            b"core.autocrlf" => {
                s.autocrlf = match value.as_slice() {
                    b"input" => AutoCrlf::Input,
                    b"true" | b"yes" | b"on" | b"1" => AutoCrlf::True,
                    b"false" | b"no" | b"off" | b"0" | b"" => AutoCrlf::False,
                    v => match std::str::from_utf8(v).ok()?.parse::<i64>() {
                        Ok(n) if n != 0 => AutoCrlf::True,
                        Ok(_) => AutoCrlf::False,
                        Err(_) => return None,
                    },
                }
            }
            b"core.eol" => s.eol_crlf = value == b"crlf",
            _ => {}
        }
    }
    Some(s)
}

/// For each of `paths` (relative to the work tree), what git would do
/// to its content on checkout, from the attributes the work tree has now.
/// All [`Smudge::Git`] when git cannot be asked.
pub(super) fn smudges(ws: &Workspace, paths: &[&[u8]]) -> Vec<Smudge> {
    let all = || vec![Smudge::Git; paths.len()];
    if paths.is_empty() {
        return Vec::new();
    }
    let Some(s) = settings(ws) else {
        return all();
    };
    let mut input = Vec::with_capacity(paths.iter().map(|p| p.len() + 1).sum());
    for p in paths {
        input.extend_from_slice(p);
        input.push(0);
    }
    let out = GitCmd::new(ws.git_dir(), ws.workdir())
        .args(["check-attr", "--stdin", "-z"])
        .args(ATTRS)
        .run_with_input(&input);
    let Ok(out) = out else {
        tracing::debug!("git check-attr failed; every file goes through git");
        return all();
    };
    // `<path> NUL <attr> NUL <value> NUL`, the attributes of each path in
    // the order asked, the paths in input order.
    let fields: Vec<&[u8]> = out.split(|&b| b == 0).collect();
    let records: Vec<&[&[u8]]> = fields.chunks_exact(3).collect();
    if records.len() != paths.len() * ATTRS.len() {
        return all();
    }
    paths
        .iter()
        .zip(records.chunks_exact(ATTRS.len()))
        .map(|(path, recs)| {
            let mut values: [Value; 6] = std::array::from_fn(|_| Value::Unspecified);
            for (i, rec) in recs.iter().enumerate() {
                if rec[0] != *path || rec[1] != ATTRS[i].as_bytes() {
                    return Smudge::Git;
                }
                values[i] = Value::parse(rec[2]);
            }
            converts(&values, s)
        })
        .collect()
}

/// A path as git's `--path=` argument wants it.
pub(super) fn path_arg(rel: &[u8]) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from("--path=");
    arg.push(OsStr::from_bytes(rel));
    arg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Value::parse(s.as_bytes())
    }

    fn smudge(attrs: [&str; 6], autocrlf: AutoCrlf, eol_crlf: bool) -> Smudge {
        converts(&attrs.map(v), Settings { autocrlf, eol_crlf })
    }

    fn conv(attrs: [&str; 6], autocrlf: AutoCrlf, eol_crlf: bool) -> bool {
        smudge(attrs, autocrlf, eol_crlf) != Smudge::None
    }

    const U: &str = "unspecified";

    #[test]
    fn ported_convert_attrs_matches_gits_table() {
        use AutoCrlf::*;
        // [crlf, ident, filter, eol, text, encoding]
        assert!(!conv([U, U, U, U, U, U], False, false));
        assert!(!conv([U, U, U, U, U, U], Input, false));
        assert!(conv([U, U, U, U, U, U], True, false));
        assert!(
            !conv([U, U, U, U, U, U], False, true),
            "core.eol needs text"
        );
        assert!(!conv([U, U, U, U, "set", U], False, false));
        assert!(conv([U, U, U, U, "set", U], False, true));
        assert!(conv([U, U, U, U, "set", U], True, false));
        assert!(!conv([U, U, U, U, "set", U], Input, true));
        assert!(!conv([U, U, U, "lf", "set", U], True, true));
        assert!(conv([U, U, U, "crlf", "set", U], False, false));
        assert!(conv([U, U, U, "crlf", U, U], False, false));
        assert!(!conv([U, U, U, "crlf", "unset", U], True, true));
        assert!(!conv([U, U, U, U, "auto", U], False, false));
        assert!(conv([U, U, U, U, "auto", U], True, false));
        assert!(conv([U, U, U, "crlf", "auto", U], False, false));
        assert!(!conv([U, U, U, "lf", "auto", U], True, false));
        assert!(!conv([U, U, U, U, "input", U], True, true));
        // The old `crlf` attribute, under `text`.
        assert!(!conv(["unset", U, U, U, U, U], True, false));
        assert!(conv(["set", U, U, U, U, U], True, false));
        assert!(!conv(["set", U, U, U, "unset", U], True, false));
        assert!(!conv(["input", U, U, U, U, U], True, false));
        // Only git can say.
        assert!(conv([U, U, "lfs", U, U, U], False, false));
        assert!(!conv([U, U, "unset", U, U, U], False, false));
        assert!(conv([U, "set", U, U, U, U], False, false));
        assert!(!conv([U, "unset", U, U, U, U], False, false));
        assert!(conv([U, U, U, U, U, "UTF-16"], False, false));
    }

    #[test]
    fn crlf_output_is_done_here_and_knows_whether_it_is_auto() {
        use AutoCrlf::*;
        let text = Smudge::Crlf { auto: false };
        let auto = Smudge::Crlf { auto: true };
        assert_eq!(smudge([U, U, U, "crlf", "set", U], False, false), text);
        assert_eq!(smudge([U, U, U, "crlf", U, U], False, false), text);
        assert_eq!(smudge([U, U, U, U, "set", U], False, true), text);
        assert_eq!(smudge([U, U, U, U, "set", U], True, false), text);
        assert_eq!(smudge(["set", U, U, U, U, U], True, false), text);
        assert_eq!(smudge([U, U, U, U, U, U], True, false), auto);
        assert_eq!(smudge([U, U, U, U, "auto", U], True, false), auto);
        assert_eq!(smudge([U, U, U, "crlf", "auto", U], False, false), auto);
        assert_eq!(
            smudge([U, U, "lfs", "crlf", "set", U], False, false),
            Smudge::Git
        );
        assert_eq!(smudge([U, "set", U, U, U, U], False, false), Smudge::Git);
        assert_eq!(
            smudge([U, U, U, U, "set", "UTF-16"], True, false),
            Smudge::Git
        );
        assert_eq!(smudge([U, U, U, "lf", "set", U], True, true), Smudge::None);
    }
}
