//! Cross-crate acceptance and contract tests live in `tests/tests/`; this library holds
//! what they share.

use std::path::{Path, PathBuf};

/// A file of the real third-party captures in `../shared/data` (see its `INDEX.md`).
/// Panics with a clear message when the directory is missing: tests that replay real
/// captures must fail, not skip, without them.
pub fn shared_data(relative: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.join("INDEX.md").is_file(),
        "the real captures are missing: expected {} (see shared/data/INDEX.md); these \
         tests replay a real capture and cannot run without it",
        dir.display()
    );
    dir.join(relative)
}
