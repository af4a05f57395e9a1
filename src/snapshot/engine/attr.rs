//! gitattributes as `git add` reads them, reduced to the question the
//! snapshot engine asks: does git convert this file's content on the way
//! into the object store, and how?
//!
//! Sources, lowest precedence first (git's `attr.c`): the built-in `binary`
//! macro, the system file (`git var GIT_ATTR_SYSTEM`, unless
//! `GIT_ATTR_NOSYSTEM`), `core.attributesFile` (default
//! `$XDG_CONFIG_HOME/git/attributes` or `~/.config/git/attributes`), the work
//! tree's `.gitattributes` files from the root down (deeper wins, tracked or
//! not, read from the work tree: a deleted one has no rules), then
//! `$GIT_DIR/info/attributes` (common dir). Within a file later lines win.
//! Patterns follow git's rules: no negation, a pattern without a slash
//! matches the basename at any depth, a trailing slash only matches
//! directories (so never a file), matching is git's `wildmatch` (ported
//! below). `[attr]` macros are honoured where git honours them (root,
//! info, global and system files).
//!
//! [`Conversion`] is the answer per file: nothing (raw bytes, the fast
//! path), only line-ending normalisation (done in process, exactly as
//! `convert.c` does it), or something only git can do (clean filters and
//! the `process` protocol, `working-tree-encoding`, `ident`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::git::command::GitCmd;

/// In-tree attribute files larger than this are ignored (git's limit).
const MAX_FILE_SIZE: u64 = 100 << 20;
/// Longer lines are ignored (git's limit).
const MAX_LINE_LENGTH: usize = 2048;
const BLANK: &[u8] = b" \t\r\n";

/// The state a line gives an attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum State {
    /// `name`
    Set,
    /// `-name`
    Unset,
    /// `!name`: back to unspecified, overriding lower-precedence lines.
    Unspecified,
    /// `name=value`
    Value(String),
}

#[derive(Debug, Clone)]
struct Line {
    /// `None` for a macro definition (`[attr]name …`).
    pattern: Option<Pattern>,
    /// For a macro definition: its name.
    macro_name: Option<String>,
    attrs: Vec<(String, State)>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// Without a leading `/` (for path patterns) and trailing `/`.
    glob: Vec<u8>,
    /// No slash: matches the basename at any depth.
    nodir: bool,
    /// Trailing slash: matches directories only.
    must_be_dir: bool,
}

/// The parsed lines of one attributes file.
#[derive(Debug, Clone, Default)]
struct AttrFile {
    lines: Vec<Line>,
}

impl AttrFile {
    fn parse(text: &[u8], macros_ok: bool, origin: &Path) -> AttrFile {
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        // git reads the buffer as a C string.
        let text = match text.iter().position(|&b| b == 0) {
            Some(n) => &text[..n],
            None => text,
        };
        let mut lines = Vec::new();
        for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
            if raw.len() > MAX_LINE_LENGTH {
                tracing::warn!(file = %origin.display(), line = n + 1, "ignoring overlong gitattributes line");
                continue;
            }
            if let Some(line) = parse_line(raw, macros_ok, origin, n + 1) {
                lines.push(line);
            }
        }
        AttrFile { lines }
    }

    /// Read `path`; `nofollow`: a symlink is not read (in-tree files).
    fn read(path: &Path, macros_ok: bool, nofollow: bool) -> Option<AttrFile> {
        let meta = if nofollow {
            std::fs::symlink_metadata(path).ok()?
        } else {
            std::fs::metadata(path).ok()?
        };
        if !meta.is_file() {
            return None;
        }
        if meta.len() > MAX_FILE_SIZE {
            tracing::warn!(file = %path.display(), "ignoring attributes file larger than 100 MiB");
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        Some(AttrFile::parse(&bytes, macros_ok, path))
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn is_blank(b: u8) -> bool {
    BLANK.contains(&b)
}

fn valid_attr_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name[0] != b'-'
        && name
            .iter()
            .all(|&c| c == b'-' || c == b'.' || c == b'_' || c.is_ascii_alphanumeric())
}

fn parse_line(raw: &[u8], macros_ok: bool, origin: &Path, lineno: usize) -> Option<Line> {
    let start = raw.iter().position(|&b| !is_blank(b))?;
    let line = &raw[start..];
    if line[0] == b'#' {
        return None;
    }
    let (name, rest): (Vec<u8>, &[u8]) = if line[0] == b'"' {
        let (unq, used) = unquote_c(line)?;
        (unq, &line[used..])
    } else {
        let end = line.iter().position(|&b| is_blank(b)).unwrap_or(line.len());
        (line[..end].to_vec(), &line[end..])
    };
    let mut attrs = Vec::new();
    for tok in rest.split(|&b| is_blank(b)).filter(|t| !t.is_empty()) {
        let (name, state) = match tok[0] {
            b'-' => (&tok[1..], State::Unset),
            b'!' => (&tok[1..], State::Unspecified),
            _ => match tok.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    &tok[..eq],
                    State::Value(String::from_utf8_lossy(&tok[eq + 1..]).into_owned()),
                ),
                None => (tok, State::Set),
            },
        };
        if !valid_attr_name(name) {
            tracing::warn!(file = %origin.display(), line = lineno, "ignoring gitattributes line with an invalid attribute name");
            return None;
        }
        attrs.push((String::from_utf8_lossy(name).into_owned(), state));
    }
    const MACRO: &[u8] = b"[attr]";
    if name.len() > MACRO.len() && name.starts_with(MACRO) {
        let mname = &name[MACRO.len()..];
        if !macros_ok {
            tracing::warn!(file = %origin.display(), line = lineno, "[attr] macros are only allowed at the top level; ignored");
            return None;
        }
        if !valid_attr_name(mname) {
            return None;
        }
        return Some(Line {
            pattern: None,
            macro_name: Some(String::from_utf8_lossy(mname).into_owned()),
            attrs,
        });
    }
    let mut glob = name;
    if glob.first() == Some(&b'!') {
        tracing::warn!(file = %origin.display(), line = lineno, "negative patterns are ignored in git attributes");
        return None;
    }
    let must_be_dir = glob.last() == Some(&b'/');
    if must_be_dir {
        glob.pop();
    }
    let nodir = !glob.contains(&b'/');
    if !nodir && glob.first() == Some(&b'/') {
        glob.remove(0);
    }
    Some(Line {
        pattern: Some(Pattern {
            glob,
            nodir,
            must_be_dir,
        }),
        macro_name: None,
        attrs,
    })
}

/// git's `unquote_c_style`: the unquoted bytes and how many input bytes
/// the quoted string used; `None` if malformed.
fn unquote_c(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                i += 1;
                let c = *s.get(i)?;
                let b = match c {
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 11,
                    b'\\' | b'"' => c,
                    b'0'..=b'3' => {
                        let d = s.get(i..i + 3)?;
                        if !d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                            return None;
                        }
                        i += 2;
                        (d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0')
                    }
                    _ => return None,
                };
                out.push(b);
            }
            c => out.push(c),
        }
        i += 1;
    }
    None
}

/// The attributes of the work tree's directories: one node per directory
/// that has a `.gitattributes`, chained to its parent's. Directories
/// without one share their parent's node.
#[derive(Debug)]
pub(crate) struct AttrDir {
    parent: Option<Arc<AttrDir>>,
    /// The directory, relative to the work tree (`""` for the root).
    base: Vec<u8>,
    file: AttrFile,
}

impl AttrDir {
    /// The node for directory `rel` (absolute `abs`) below `parent`:
    /// reads its `.gitattributes` when `has_file` (the listing showed one).
    pub(crate) fn child(
        parent: &Arc<AttrDir>,
        rel: &[u8],
        abs: &Path,
        has_file: bool,
    ) -> Arc<AttrDir> {
        if !has_file || rel.is_empty() {
            return Arc::clone(parent);
        }
        match AttrFile::read(&abs.join(".gitattributes"), false, true) {
            Some(file) if !file.is_empty() => Arc::new(AttrDir {
                parent: Some(Arc::clone(parent)),
                base: rel.to_vec(),
                file,
            }),
            _ => Arc::clone(parent),
        }
    }

    /// The node for directory `rel` whose `.gitattributes` is not in the
    /// work tree but in the index, as a sparse checkout's skip-worktree
    /// entry: git reads that copy then.
    pub(crate) fn from_index(parent: &Arc<AttrDir>, rel: &[u8], content: &[u8]) -> Arc<AttrDir> {
        let file = AttrFile::parse(content, rel.is_empty(), Path::new(".gitattributes (index)"));
        if file.is_empty() {
            return Arc::clone(parent);
        }
        Arc::new(AttrDir {
            parent: Some(Arc::clone(parent)),
            base: rel.to_vec(),
            file,
        })
    }
}

/// `core.autocrlf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AutoCrlf {
    False,
    True,
    Input,
}

/// A `filter.<name>` driver from git config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Driver {
    clean: Option<String>,
    process: Option<String>,
    required: bool,
}

/// What happens to line endings when git stores a file (`convert.c`'s
/// checkin direction; `core.eol` and `eol=crlf` only matter on checkout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Eol {
    /// Stored as is.
    Binary,
    /// CRLF → LF (`text`, `eol=…`).
    Text,
    /// CRLF → LF unless the content looks binary or the indexed blob
    /// already has CRLFs (`text=auto`, `core.autocrlf`).
    Auto,
}

/// How git converts one file's content on `git add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conversion {
    /// A clean filter / `process` driver, `working-tree-encoding` or
    /// `ident`: the content must go through git.
    pub via_git: bool,
    pub eol: Eol,
    /// Fingerprint of everything that decides the blob id (0: no
    /// conversion). The stat cache keys its entries on it.
    pub key: u64,
}

impl Conversion {
    pub(crate) const NONE: Conversion = Conversion {
        via_git: false,
        eol: Eol::Binary,
        key: 0,
    };

    /// Raw bytes are the blob.
    pub(crate) fn is_none(&self) -> bool {
        !self.via_git && self.eol == Eol::Binary
    }
}

/// Every repository-wide attribute source and the config that decides
/// conversions, loaded once per full scan.
#[derive(Debug)]
pub(crate) struct AttrRules {
    /// `info/attributes`: highest precedence.
    info: AttrFile,
    /// `core.attributesFile`, then the system file (lowest).
    global: Vec<AttrFile>,
    /// The root `.gitattributes` as the root of the directory chain.
    root: Arc<AttrDir>,
    /// Macro definitions, highest precedence first wins.
    macros: HashMap<String, Vec<(String, State)>>,
    autocrlf: AutoCrlf,
    drivers: HashMap<String, Driver>,
    ignore_case: bool,
    /// No repository-wide source has a line and `core.autocrlf` is off:
    /// only a nested `.gitattributes` can make a file convert.
    trivial: bool,
}

impl AttrRules {
    /// Rules that convert nothing.
    #[cfg(test)]
    pub(crate) fn none() -> AttrRules {
        AttrRules {
            info: AttrFile::default(),
            global: Vec::new(),
            root: Arc::new(AttrDir {
                parent: None,
                base: Vec::new(),
                file: AttrFile::default(),
            }),
            macros: builtin_macros(),
            autocrlf: AutoCrlf::False,
            drivers: HashMap::new(),
            ignore_case: false,
            trivial: true,
        }
    }

    /// Load every source for the work tree `workdir`.
    pub(crate) fn load(repo: &git2::Repository, git_dir: &Path, workdir: &Path) -> AttrRules {
        let cfg = repo.config().ok().and_then(|mut c| c.snapshot().ok());
        let get_str = |k: &str| cfg.as_ref().and_then(|c| c.get_string(k).ok());
        let autocrlf = match get_str("core.autocrlf").map(|v| v.to_ascii_lowercase()) {
            None => AutoCrlf::False,
            Some(v) if v == "input" => AutoCrlf::Input,
            Some(v) => match parse_bool(&v) {
                Some(true) => AutoCrlf::True,
                _ => AutoCrlf::False,
            },
        };
        let ignore_case = cfg
            .as_ref()
            .and_then(|c| c.get_bool("core.ignorecase").ok())
            .unwrap_or(false);
        // Every `filter.<name>.<key>` makes a driver, like git; each value
        // is then read with the usual precedence (the last one wins).
        let mut drivers: HashMap<String, Driver> = HashMap::new();
        if let Some(c) = &cfg {
            let mut names = Vec::new();
            if let Ok(mut it) = c.entries(Some(r"^filter\..+\..+$")) {
                while let Some(Ok(e)) = it.next() {
                    let name = e.name().and_then(|n| n.strip_prefix("filter."));
                    if let Some((drv, _key)) = name.and_then(|n| n.rsplit_once('.')) {
                        names.push(drv.to_owned());
                    }
                }
            }
            for name in names {
                let key = |k: &str| format!("filter.{name}.{k}");
                let d = Driver {
                    clean: c.get_string(&key("clean")).ok(),
                    process: c.get_string(&key("process")).ok(),
                    required: c.get_bool(&key("required")).unwrap_or(false),
                };
                drivers.insert(name, d);
            }
        }
        let mut global = Vec::new();
        if let Some(p) = global_file(cfg.as_ref()) {
            global.extend(AttrFile::read(&p, true, false));
        }
        if let Some(p) = system_file(git_dir, workdir) {
            global.extend(AttrFile::read(&p, true, false));
        }
        let info = AttrFile::read(
            &repo.commondir().join("info").join("attributes"),
            true,
            false,
        )
        .unwrap_or_default();
        let root_file =
            AttrFile::read(&workdir.join(".gitattributes"), true, true).unwrap_or_default();
        // Macros: the highest-precedence definition wins.
        let mut macros = HashMap::new();
        for f in std::iter::once(&info)
            .chain(std::iter::once(&root_file))
            .chain(global.iter())
        {
            for l in f.lines.iter().rev() {
                if let Some(m) = &l.macro_name {
                    macros.entry(m.clone()).or_insert_with(|| l.attrs.clone());
                }
            }
        }
        for (k, v) in builtin_macros() {
            macros.entry(k).or_insert(v);
        }
        let trivial = autocrlf == AutoCrlf::False
            && info.is_empty()
            && root_file.is_empty()
            && global.iter().all(AttrFile::is_empty);
        AttrRules {
            info,
            global,
            root: Arc::new(AttrDir {
                parent: None,
                base: Vec::new(),
                file: root_file,
            }),
            macros,
            autocrlf,
            drivers,
            ignore_case,
            trivial,
        }
    }

    /// The directory chain's root (holds the root `.gitattributes`).
    pub(crate) fn root(&self) -> &Arc<AttrDir> {
        &self.root
    }

    /// How `git add` converts the file `rel` whose directory's attribute
    /// node is `dir`.
    pub(crate) fn conversion(&self, rel: &[u8], dir: &AttrDir) -> Conversion {
        if self.trivial && dir.parent.is_none() && dir.file.is_empty() {
            return Conversion::NONE;
        }
        let a = self.lookup(rel, dir);
        let crlf_of = |s: &Option<State>| match s {
            Some(State::Set) => Some(Eol::Text),
            Some(State::Unset) => Some(Eol::Binary),
            Some(State::Value(v)) if v == "input" => Some(Eol::Text),
            Some(State::Value(v)) if v == "auto" => Some(Eol::Auto),
            _ => None,
        };
        let mut eol = crlf_of(&a[TEXT]).or_else(|| crlf_of(&a[CRLF]));
        if eol != Some(Eol::Binary) {
            if let Some(State::Value(v)) = &a[EOL] {
                if v == "lf" || v == "crlf" {
                    eol = Some(eol.unwrap_or(Eol::Text));
                }
            }
        }
        let eol = eol.unwrap_or(match self.autocrlf {
            AutoCrlf::False => Eol::Binary,
            AutoCrlf::True | AutoCrlf::Input => Eol::Auto,
        });
        let driver = match &a[FILTER] {
            Some(State::Value(name)) => self
                .drivers
                .get(name)
                .filter(|d| d.clean.is_some() || d.process.is_some() || d.required)
                .map(|d| (name, d)),
            _ => None,
        };
        // Set/unset is an error in git ("true/false are no valid
        // working-tree-encodings"): let git report it.
        let encoding = match &a[ENCODING] {
            None | Some(State::Unspecified) => None,
            Some(State::Value(v)) if v.is_empty() || is_utf8_name(v) => None,
            Some(s) => Some(s),
        };
        let ident = a[IDENT] == Some(State::Set);
        let via_git = driver.is_some() || encoding.is_some() || ident;
        if !via_git && eol == Eol::Binary {
            return Conversion::NONE;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (eol, driver, encoding, ident).hash(&mut h);
        Conversion {
            via_git,
            eol,
            key: h.finish() | 1,
        }
    }

    /// The states of the attributes conversions depend on, for `rel`.
    fn lookup(&self, rel: &[u8], dir: &AttrDir) -> [Option<State>; 6] {
        let mut out: [Option<State>; 6] = Default::default();
        let basename = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        let mut fill = Fill {
            out: &mut out,
            macros: &self.macros,
            rem: 6,
            macros_seen: Vec::new(),
        };
        let check = |fill: &mut Fill<'_>, file: &AttrFile, base: &[u8]| {
            for l in file.lines.iter().rev() {
                if fill.rem == 0 {
                    return;
                }
                let Some(p) = &l.pattern else { continue };
                if self.matches(p, rel, basename, base) {
                    fill.line(&l.attrs, 0);
                }
            }
        };
        check(&mut fill, &self.info, b"");
        let mut node = Some(dir);
        while let Some(n) = node {
            check(&mut fill, &n.file, &n.base);
            node = n.parent.as_deref();
        }
        for g in &self.global {
            check(&mut fill, g, b"");
        }
        out
    }

    fn matches(&self, p: &Pattern, rel: &[u8], basename: &[u8], base: &[u8]) -> bool {
        if p.must_be_dir {
            return false; // only files are asked about
        }
        if p.nodir {
            return wildmatch(&p.glob, basename, false, self.ignore_case);
        }
        let name = if base.is_empty() {
            rel
        } else {
            match rel.get(base.len() + 1..) {
                Some(n) if rel[base.len()] == b'/' => n,
                _ => return false,
            }
        };
        wildmatch(&p.glob, name, true, self.ignore_case)
    }
}

const CRLF: usize = 0;
const IDENT: usize = 1;
const FILTER: usize = 2;
const EOL: usize = 3;
const TEXT: usize = 4;
const ENCODING: usize = 5;

fn slot(name: &str) -> Option<usize> {
    Some(match name {
        "crlf" => CRLF,
        "ident" => IDENT,
        "filter" => FILTER,
        "eol" => EOL,
        "text" => TEXT,
        "working-tree-encoding" => ENCODING,
        _ => return None,
    })
}

/// git's `fill_one` / `macroexpand_one`: the first assignment wins (lines
/// are visited from the highest precedence down); a macro set to true
/// expands into its definition.
struct Fill<'a> {
    out: &'a mut [Option<State>; 6],
    macros: &'a HashMap<String, Vec<(String, State)>>,
    rem: usize,
    /// Macros already assigned (a lower line cannot expand them again).
    macros_seen: Vec<String>,
}

impl Fill<'_> {
    fn line(&mut self, attrs: &[(String, State)], depth: usize) {
        let macros = self.macros;
        for (name, state) in attrs.iter().rev() {
            if let Some(i) = slot(name) {
                if self.out[i].is_none() {
                    self.out[i] = Some(state.clone());
                    self.rem -= 1;
                }
            } else if let Some(def) = macros.get(name) {
                if self.macros_seen.contains(name) {
                    continue;
                }
                self.macros_seen.push(name.clone());
                if *state == State::Set && depth < 32 {
                    self.line(def, depth + 1);
                }
            }
        }
    }
}

fn builtin_macros() -> HashMap<String, Vec<(String, State)>> {
    let mut m = HashMap::new();
    m.insert(
        "binary".to_owned(),
        vec![
            ("diff".to_owned(), State::Unset),
            ("merge".to_owned(), State::Unset),
            ("text".to_owned(), State::Unset),
        ],
    );
    m
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        n => n.parse::<i64>().ok().map(|n| n != 0),
    }
}

fn is_utf8_name(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    v == "utf-8" || v == "utf8"
}

/// `core.attributesFile`, else `$XDG_CONFIG_HOME/git/attributes`, else
/// `~/.config/git/attributes`.
fn global_file(cfg: Option<&git2::Config>) -> Option<PathBuf> {
    if let Some(p) = cfg.and_then(|c| c.get_path("core.attributesFile").ok()) {
        return Some(p);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("git").join("attributes"))
}

/// Where git builds usually keep the system attributes file.
const SYSTEM_CANDIDATES: &[&str] = &[
    "/etc/gitattributes",
    "/usr/local/etc/gitattributes",
    "/usr/etc/gitattributes",
    "/opt/homebrew/etc/gitattributes",
];

/// git's system attributes file, unless `GIT_ATTR_NOSYSTEM` is set. Its
/// path is fixed when git is built, so git is asked (`git var
/// GIT_ATTR_SYSTEM`, once per process) — but only when one of the usual
/// places has such a file: most machines have none, and a snapshot then
/// spawns no git at all.
fn system_file(git_dir: &Path, workdir: &Path) -> Option<PathBuf> {
    if std::env::var("GIT_ATTR_NOSYSTEM")
        .ok()
        .and_then(|v| parse_bool(&v))
        == Some(true)
    {
        return None;
    }
    if !SYSTEM_CANDIDATES.iter().any(|p| Path::new(p).is_file()) {
        return None;
    }
    static SYSTEM: OnceLock<Option<PathBuf>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let asked = GitCmd::new(git_dir, workdir)
                .args(["var", "GIT_ATTR_SYSTEM"])
                .run_text()
                .ok()
                .filter(|s| !s.is_empty());
            Some(PathBuf::from(
                asked.unwrap_or_else(|| "/etc/gitattributes".to_owned()),
            ))
        })
        .clone()
}

#[derive(PartialEq, Eq)]
enum Wm {
    Match,
    NoMatch,
    AbortAll,
    AbortToStarStar,
}

/// git's `wildmatch` (`pathname`: `WM_PATHNAME`, `icase`: `WM_CASEFOLD`).
pub(crate) fn wildmatch(pattern: &[u8], text: &[u8], pathname: bool, icase: bool) -> bool {
    dowild(pattern, 0, text, 0, pathname, icase) == Wm::Match
}

fn is_glob_special(c: u8) -> bool {
    matches!(c, b'*' | b'?' | b'[' | b'\\')
}

fn dowild(p: &[u8], mut pi: usize, t: &[u8], mut ti: usize, pathname: bool, icase: bool) -> Wm {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let fold = |c: u8| if icase { c.to_ascii_lowercase() } else { c };
    while pi < p.len() {
        let mut p_ch = p[pi];
        let mut t_ch = at(t, ti);
        if t_ch == 0 && ti >= t.len() && p_ch != b'*' {
            return Wm::AbortAll;
        }
        t_ch = fold(t_ch);
        p_ch = fold(p_ch);
        match p_ch {
            b'?' => {
                if pathname && t_ch == b'/' {
                    return Wm::NoMatch;
                }
            }
            b'*' => {
                let match_slash;
                pi += 1;
                if at(p, pi) == b'*' {
                    let prev_is_start_or_slash = pi < 2 || p[pi - 2] == b'/';
                    while at(p, pi) == b'*' {
                        pi += 1;
                    }
                    let next = at(p, pi);
                    if prev_is_start_or_slash
                        && (pi >= p.len()
                            || next == b'/'
                            || (next == b'\\' && at(p, pi + 1) == b'/'))
                    {
                        if next == b'/' && dowild(p, pi + 1, t, ti, pathname, icase) == Wm::Match {
                            return Wm::Match;
                        }
                        match_slash = true;
                    } else {
                        match_slash = !pathname;
                    }
                } else {
                    match_slash = !pathname;
                }
                if pi >= p.len() {
                    if !match_slash && t[ti.min(t.len())..].contains(&b'/') {
                        return Wm::NoMatch;
                    }
                    return Wm::Match;
                } else if !match_slash && p[pi] == b'/' {
                    match t[ti.min(t.len())..].iter().position(|&c| c == b'/') {
                        None => return Wm::NoMatch,
                        Some(off) => {
                            ti += off;
                            // The slash is consumed below, like the loop's
                            // increment in git.
                            pi += 1;
                            ti += 1;
                            continue;
                        }
                    }
                }
                loop {
                    if ti >= t.len() {
                        break;
                    }
                    if !is_glob_special(p[pi]) {
                        let want = fold(p[pi]);
                        while ti < t.len() && (match_slash || t[ti] != b'/') {
                            if fold(t[ti]) == want {
                                break;
                            }
                            ti += 1;
                        }
                        if ti >= t.len() || fold(t[ti]) != want {
                            return if match_slash {
                                Wm::AbortAll
                            } else {
                                Wm::AbortToStarStar
                            };
                        }
                    }
                    let m = dowild(p, pi, t, ti, pathname, icase);
                    if m != Wm::NoMatch {
                        if !match_slash || m != Wm::AbortToStarStar {
                            return m;
                        }
                    } else if !match_slash && t[ti] == b'/' {
                        return Wm::AbortToStarStar;
                    }
                    ti += 1;
                }
                return Wm::AbortAll;
            }
            b'[' => {
                pi += 1;
                let mut pc = at(p, pi);
                if pc == b'^' {
                    pc = b'!';
                }
                let negated = pc == b'!';
                if negated {
                    pi += 1;
                    pc = at(p, pi);
                }
                let mut prev: u8 = 0;
                let mut matched = false;
                loop {
                    if pi >= p.len() {
                        return Wm::AbortAll;
                    }
                    if pc == b'\\' {
                        pi += 1;
                        if pi >= p.len() {
                            return Wm::AbortAll;
                        }
                        pc = p[pi];
                        if t_ch == fold(pc) {
                            matched = true;
                        }
                    } else if pc == b'-' && prev != 0 && pi + 1 < p.len() && p[pi + 1] != b']' {
                        pi += 1;
                        pc = p[pi];
                        if pc == b'\\' {
                            pi += 1;
                            if pi >= p.len() {
                                return Wm::AbortAll;
                            }
                            pc = p[pi];
                        }
                        let raw_t = at(t, ti);
                        if raw_t <= pc && raw_t >= prev {
                            matched = true;
                        } else if icase {
                            let u = raw_t.to_ascii_uppercase();
                            let l = raw_t.to_ascii_lowercase();
                            if (u <= pc && u >= prev) || (l <= pc && l >= prev) {
                                matched = true;
                            }
                        }
                        pc = 0;
                    } else if pc == b'[' && at(p, pi + 1) == b':' {
                        let start = pi + 2;
                        let Some(len) = p[start..].iter().position(|&c| c == b']') else {
                            return Wm::AbortAll;
                        };
                        let end = start + len;
                        if end == start || p[end - 1] != b':' {
                            // Not a class: match a literal '['.
                            if t_ch == b'[' {
                                matched = true;
                            }
                        } else {
                            let class = &p[start..end - 1];
                            let c = at(t, ti);
                            let ok = match class {
                                b"alnum" => c.is_ascii_alphanumeric(),
                                b"alpha" => c.is_ascii_alphabetic(),
                                b"blank" => c == b' ' || c == b'\t',
                                b"cntrl" => c.is_ascii_control(),
                                b"digit" => c.is_ascii_digit(),
                                b"graph" => c.is_ascii_graphic(),
                                b"lower" => {
                                    c.is_ascii_lowercase() || (icase && c.is_ascii_uppercase())
                                }
                                b"print" => c.is_ascii_graphic() || c == b' ',
                                b"punct" => c.is_ascii_punctuation(),
                                b"space" => c.is_ascii_whitespace() || c == 11,
                                b"upper" => {
                                    c.is_ascii_uppercase() || (icase && c.is_ascii_lowercase())
                                }
                                b"xdigit" => c.is_ascii_hexdigit(),
                                _ => return Wm::AbortAll,
                            };
                            if ok {
                                matched = true;
                            }
                            pi = end;
                            pc = 0;
                        }
                    } else if t_ch == fold(pc) {
                        matched = true;
                    }
                    prev = pc;
                    pi += 1;
                    pc = at(p, pi);
                    if pc == b']' {
                        break;
                    }
                }
                if matched == negated || (pathname && t_ch == b'/') {
                    return Wm::NoMatch;
                }
            }
            b'\\' => {
                pi += 1;
                if fold(at(p, pi)) != t_ch {
                    return Wm::NoMatch;
                }
            }
            _ => {
                if t_ch != p_ch {
                    return Wm::NoMatch;
                }
            }
        }
        pi += 1;
        ti += 1;
    }
    if ti < t.len() {
        Wm::NoMatch
    } else {
        Wm::Match
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildmatch_like_git() {
        let yes = |p: &str, t: &str| wildmatch(p.as_bytes(), t.as_bytes(), true, false);
        assert!(yes("*.txt", "a.txt"));
        assert!(!yes("*.txt", "d/a.txt"));
        assert!(yes("**/a.txt", "a.txt"));
        assert!(yes("**/a.txt", "x/y/a.txt"));
        assert!(yes("d/**", "d/x/y"));
        assert!(!yes("d/**", "d"));
        assert!(yes("a/**/b", "a/b"));
        assert!(yes("a/**/b", "a/x/y/b"));
        assert!(yes("a/*/b", "a/x/b"));
        assert!(!yes("a/*/b", "a/x/y/b"));
        assert!(yes("[a-c]?", "bz"));
        assert!(!yes("[!a-c]?", "bz"));
        assert!(yes("[[:digit:]]x", "7x"));
        assert!(yes("\\*", "*"));
        assert!(!yes("\\*", "a"));
        assert!(yes("a**b", "axxb"));
        assert!(!yes("a**b", "a/b"));
        assert!(wildmatch(b"*.TXT", b"a.txt", true, true));
        assert!(wildmatch(b"*", b"a/b", false, false));
    }

    fn rules(root: &str) -> AttrRules {
        let mut r = AttrRules::none();
        let file = AttrFile::parse(root.as_bytes(), true, Path::new(".gitattributes"));
        for l in file.lines.iter().rev() {
            if let Some(m) = &l.macro_name {
                r.macros.insert(m.clone(), l.attrs.clone());
            }
        }
        r.root = Arc::new(AttrDir {
            parent: None,
            base: Vec::new(),
            file,
        });
        r.trivial = false;
        r
    }

    #[test]
    fn precedence_macros_and_states() {
        let r = rules(
            "*.txt text\n*.bin binary\n[attr]up filter=upper\n*.up up\nsub/*.txt -text\n\
             \"q x.md\" eol=lf\n!neg text\n*.md text\n*.md !text\n",
        );
        let root = Arc::clone(r.root());
        let c = |p: &str| r.conversion(p.as_bytes(), &root);
        assert_eq!(c("a.txt").eol, Eol::Text);
        assert_eq!(c("d/a.txt").eol, Eol::Text);
        assert_eq!(c("sub/a.txt"), Conversion::NONE);
        assert_eq!(c("x.bin"), Conversion::NONE);
        assert_eq!(c("q x.md").eol, Eol::Text);
        assert_eq!(c("other.md"), Conversion::NONE);
        assert_eq!(c("neg"), Conversion::NONE);
        // A macro setting a filter whose driver is not configured: nothing.
        assert_eq!(c("f.up"), Conversion::NONE);
        let a = r.lookup(b"f.up", &root);
        assert_eq!(a[FILTER], Some(State::Value("upper".into())));
        let nested = Arc::new(AttrDir {
            parent: Some(Arc::clone(&root)),
            base: b"n".to_vec(),
            file: AttrFile::parse(b"*.txt -text\n/top.md text\n", false, Path::new("n")),
        });
        assert_eq!(r.conversion(b"n/a.txt", &nested), Conversion::NONE);
        assert_eq!(r.conversion(b"n/top.md", &nested).eol, Eol::Text);
        assert_eq!(r.conversion(b"n/m/top.md", &nested), Conversion::NONE);
    }
}
