//! Files on disk: the fd-relative layer every work-tree write goes through
//! ([`at`]), the one atomic file writer ([`atomic`]) and getting bytes onto
//! the disk before success is reported ([`durable`]).

pub mod at;
pub mod atomic;
pub mod durable;
