//! Layer 4a: the Swift bindings. `swift test` where a toolchain exists;
//! everywhere, static checks of the generated header and API.

use std::path::Path;

use crate::{Outcome, missing_tool};

/// Runs the Swift checks and tests, or skips with the reason.
pub(crate) fn layer(_root: &Path) -> Outcome {
    if let Some(why) = missing_tool("swift") {
        return Outcome::Skipped(why);
    }
    Outcome::Skipped("TODO(#4): the Swift runner is not written".into())
}
