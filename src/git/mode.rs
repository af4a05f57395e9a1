//! Git's entry modes, defined once. Tree entries, index entries and the
//! engine's entries all carry them as `u32` (libgit2's `i32` is converted
//! where it is read, in [`crate::git::treediff::Leaf`]); the type bits
//! match `st_mode`'s.

/// A regular file.
pub(crate) const MODE_FILE: u32 = 0o100644;
/// An executable regular file.
pub(crate) const MODE_EXEC: u32 = 0o100755;
/// A symbolic link (the blob holds its target).
pub const MODE_LINK: u32 = 0o120000;
/// A directory (a subtree).
pub(crate) const MODE_TREE: u32 = 0o040000;
/// A submodule: a commit of another repository.
pub const MODE_GITLINK: u32 = 0o160000;

/// The type bits of a mode.
const TYPE_MASK: u32 = 0o170000;
/// The type bits of a regular file, executable or not.
const TYPE_FILE: u32 = 0o100000;

/// Is `mode` a regular file's ([`MODE_FILE`] or [`MODE_EXEC`], or any
/// permission bits a raw index entry may carry)?
pub(crate) fn is_file(mode: u32) -> bool {
    mode & TYPE_MASK == TYPE_FILE
}

/// Is `mode` a directory's ([`MODE_TREE`])?
pub(crate) fn is_tree(mode: u32) -> bool {
    mode & TYPE_MASK == MODE_TREE
}

/// The mode git gives an index entry made from a tree entry's `mode`: a
/// regular file is 644 or 755, other types keep only their type bits.
pub(crate) fn canonical(mode: u32) -> u32 {
    match mode & TYPE_MASK {
        TYPE_FILE if mode & 0o100 != 0 => MODE_EXEC,
        TYPE_FILE => MODE_FILE,
        kind => kind,
    }
}

/// The mode a tree records for a leaf of `mode`: anything unknown is a
/// plain blob (as libgit2's tree builders had it).
pub(crate) fn leaf(mode: u32) -> u32 {
    match mode {
        MODE_EXEC | MODE_LINK | MODE_GITLINK => mode,
        _ => MODE_FILE,
    }
}
