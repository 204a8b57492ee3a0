//! Layer 3b: JUnit 5 tests of the Kotlin bindings on the JVM (JNA).

use std::path::Path;

use crate::Outcome;

/// Runs the Kotlin suite, or skips with the reason.
pub(crate) fn layer(root: &Path) -> Outcome {
    if !root.join("bindings/kotlin/src/test").is_dir() {
        return Outcome::Skipped("bindings/kotlin/src/test not written yet".into());
    }
    Outcome::Skipped("TODO(#4): the Kotlin runner is not written".into())
}
