//! Paths as trees and the index hold them: relative to the work tree's
//! root, `/`-separated bytes, the root itself empty. One definition of
//! "at or under a directory", by whole components, for scopes, restore
//! limits, git dirs inside the work tree and the engine's changed paths.

use std::collections::BTreeSet;

/// `path == dir` or `path` starts with `dir/`; everything when `dir` is
/// empty (the work tree's root). By whole components: `src/ab` is not
/// under `src/a`.
pub(crate) fn is_at_or_under(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || (path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/'))
}

/// Is `path`, or a directory above it, in `set`? (A set, looked up once
/// per ancestor: it may hold every path of a large restore.)
pub(crate) fn is_at_or_under_any(path: &[u8], set: &BTreeSet<Vec<u8>>) -> bool {
    set.contains(path)
        || path
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'/' && set.contains(&path[..i]))
}

/// The directory holding `path` (empty: the root).
pub(crate) fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => &[],
    }
}

/// Compare two tree entry names in git's order: `a_end`/`b_end` is what
/// follows each name (`/` for a subtree, nothing for the rest).
pub(crate) fn tree_order(a: &[u8], a_end: u8, b: &[u8], b_end: u8) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        std::cmp::Ordering::Equal => {}
        other => return other,
    }
    let ca = a.get(n).copied().unwrap_or(a_end);
    let cb = b.get(n).copied().unwrap_or(b_end);
    ca.cmp(&cb).then(a.len().cmp(&b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_or_under_is_by_whole_components_and_the_root_holds_everything() {
        assert!(is_at_or_under(b"src/a", b"src/a"));
        assert!(is_at_or_under(b"src/a/b.rs", b"src/a"));
        assert!(!is_at_or_under(b"src/ab.rs", b"src/a"));
        assert!(!is_at_or_under(b"src", b"src/a"));
        assert!(is_at_or_under(b"anything", b""));
        let set: BTreeSet<Vec<u8>> = [b"src/a".to_vec()].into();
        assert!(is_at_or_under_any(b"src/a/b/c", &set));
        assert!(!is_at_or_under_any(b"src/ab", &set));
        assert_eq!(parent(b"a/b/c"), b"a/b");
        assert_eq!(parent(b"c"), b"");
    }
}
