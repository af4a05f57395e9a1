//! savepoint: a git-integrated auto-commit safety net.
//!
//! The library records a work tree as snapshot commits on shadow refs
//! (`refs/savepoint/...`) without touching the user's index, HEAD or
//! branches. It never prints and knows nothing of the command line: the
//! binary (`src/main.rs`) renders what these modules return.
#![forbid(unsafe_code)]

pub mod chain;
pub mod config;
pub mod durable;
pub mod error;
pub mod lock;
pub mod repo;
pub mod revision;
pub mod snap;
pub mod snapshot;
pub mod trailers;
pub mod watch;

pub use error::{Error, Result};
