//! The deterministic synthetic trees: `flat` (the shape of the first tables:
//! N/20 directories two levels deep, short paths) and `real` (the shape of a
//! large Java monorepo such as apache/netbeans: a `.gitattributes`, trees 5–8
//! levels deep, ~4 files per directory, paths of 60–120 bytes).

use std::path::Path;

use crate::run::{git, run_ok};

/// Bumped whenever a generated tree changes; a tree with another version (or
/// size or shape) in `.git/bench-generator` is regenerated.
/// 2: the `real` shape; the marker names the shape.
pub const GENERATOR_VERSION: u32 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Flat,
    Real,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Flat => "flat",
            Shape::Real => "real",
        }
    }
}

/// What `.git/bench-generator` holds for a tree of this size and shape.
pub fn marker(files: usize, shape: Shape) -> String {
    format!("{GENERATOR_VERSION} {files} {}", shape.name())
}

/// A small deterministic PRNG (xorshift64*), so every run builds the same tree.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const WORDS: &[&str] = &[
    "editor",
    "project",
    "support",
    "api",
    "impl",
    "spi",
    "java",
    "source",
    "indexing",
    "parsing",
    "refactoring",
    "debugger",
    "options",
    "navigation",
    "completion",
    "hints",
    "ui",
    "model",
    "maven",
    "gradle",
    "web",
    "common",
    "lexer",
    "platform",
    "modules",
    "settings",
    "templates",
    "resources",
    "wizard",
    "nodes",
];

/// Bijective base-`b` digits of `q` (0 → no digits; every prefix of a
/// number's digits is a smaller number's), so directory `q` of a module is a
/// child of an existing one.
fn bijective(mut q: usize, b: usize) -> Vec<usize> {
    let mut d = Vec::new();
    while q > 0 {
        q -= 1;
        d.push(q % b);
        q /= b;
    }
    d.reverse();
    d
}

/// The relative path of file `i` and whether it is binary.
fn path_of(shape: Shape, i: usize, files: usize) -> (String, bool) {
    match shape {
        Shape::Flat => {
            let dirs = (files / 20).max(1);
            let top = ((dirs as f64).sqrt() as usize).max(1);
            let d = i % dirs;
            let binary = i % 10 == 9;
            let rel = format!(
                "d{:03}/s{:03}/f{:05}.{}",
                d % top,
                d / top,
                i,
                if binary { "bin" } else { "txt" }
            );
            (rel, binary)
        }
        Shape::Real => {
            // ~4 files per directory; ~200 directories per module.
            let dirs = (files / 4).max(1);
            let modules = (dirs / 200).max(1);
            let d = i % dirs;
            let (m, q) = (d % modules, d / modules);
            let w = |k: usize| WORDS[k % WORDS.len()];
            let mut rel = format!(
                "{}-{}-{m:04}/src/org/netbeans/{}{}",
                w(m),
                w(m / 7 + 3),
                w(m + 11),
                w(m / 3 + 5)
            );
            for (level, digit) in bijective(q, 6).into_iter().enumerate() {
                rel.push('/');
                rel.push_str(w(digit * 7 + level * 3 + m));
                rel.push_str(&format!("{digit}"));
            }
            let kind = i % 20;
            let (ext, binary) = match kind {
                0 | 1 => ("png", true),
                2 => ("properties", false),
                3 => ("xml", false),
                4 => ("sh", false),
                5 => ("bat", false),
                _ => ("java", false),
            };
            let name = format!(
                "{}{}{i}.{ext}",
                capitalised(w(i / 3)),
                capitalised(w(i / 5 + 1))
            );
            rel.push('/');
            rel.push_str(&name);
            (rel, binary)
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

const GITATTRIBUTES: &str = "* text=auto\n*.png binary\n*.java text eol=lf\n\
*.properties text eol=lf\n*.xml text eol=lf\n*.sh text eol=lf\n*.bat text eol=crlf\n";

/// Writes `files` tracked files of the given shape into a fresh `dir`, 90 %
/// small text (100 B–2 KiB), 10 % binary (4–64 KiB), plus an ignored
/// `target/` with 2,000 build files; commits them.
pub fn generate(dir: &Path, files: usize, shape: Shape) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(0x5EED_5EED_5EED_5EED);
    let mut buf = Vec::new();
    let mut made = std::collections::HashSet::new();
    for i in 0..files {
        let (rel, binary) = path_of(shape, i, files);
        let p = dir.join(&rel);
        let parent = p.parent().unwrap().to_path_buf();
        if !made.contains(&parent) {
            std::fs::create_dir_all(&parent).unwrap();
            made.insert(parent);
        }
        buf.clear();
        let len = if binary {
            4096 + rng.next() % 61_440
        } else {
            100 + rng.next() % 1948
        } as usize;
        while buf.len() < len {
            let x = rng.next();
            if binary {
                buf.extend_from_slice(&x.to_le_bytes());
            } else {
                buf.extend_from_slice(format!("line {x:x}\n").as_bytes());
            }
        }
        buf.truncate(len);
        std::fs::write(p, &buf).unwrap();
        if files >= 100_000 && (i + 1) % 100_000 == 0 {
            eprintln!("  {} files written", i + 1);
        }
    }
    drop(made);
    std::fs::write(dir.join(".gitignore"), "/target/\n*.o\n").unwrap();
    if shape == Shape::Real {
        std::fs::write(dir.join(".gitattributes"), GITATTRIBUTES).unwrap();
    }
    for i in 0..2000 {
        let p = dir.join(format!("target/debug/obj{:02}/o{i}.o", i % 40));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, i.to_string()).unwrap();
    }
    run_ok(git(dir, &["init", "-q", "-b", "main"]));
    // No background `gc --auto` competing with the measurements.
    run_ok(git(dir, &["config", "gc.auto", "0"]));
    add_packed(dir, files);
    run_ok(git(dir, &["commit", "-q", "-m", "generated"]));
    std::fs::write(dir.join(".git/bench-generator"), marker(files, shape)).unwrap();
}

/// `git add -A` in slices of ~100,000 files, each slice's loose objects
/// packed (no delta search) before the next: at 1M files the loose objects
/// alone would take ~8 GB, the packs take half that.
pub fn add_packed(dir: &Path, files: usize) {
    let mut tops: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".git" && n != "target")
        .collect();
    tops.sort();
    let slices = (files / 100_000).max(1);
    let per = tops.len().div_ceil(slices).max(1);
    for chunk in tops.chunks(per) {
        let mut args = vec!["add", "-A", "--"];
        args.extend(chunk.iter().map(String::as_str));
        run_ok(git(dir, &args));
        run_ok(git(dir, &["repack", "-d", "-q", "--window=0"]));
    }
    run_ok(git(dir, &["add", "-A"]));
}
