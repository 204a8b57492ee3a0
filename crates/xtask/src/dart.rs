//! Layer 4b: the Dart bindings. `dart test` where a toolchain exists;
//! everywhere, static checks of the generated library and API.

use std::path::Path;

use crate::{Outcome, missing_tool};

/// Runs the Dart checks and tests, or skips with the reason.
pub(crate) fn layer(_root: &Path) -> Outcome {
    if let Some(why) = missing_tool("dart") {
        return Outcome::Skipped(why);
    }
    Outcome::Skipped("TODO(#4): the Dart runner is not written".into())
}
