//! Cross-crate acceptance and contract tests live in `tests/tests/`.
