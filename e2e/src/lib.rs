//! End-to-end tests of the platform: the real services together, in `tests/`. Services never depend
//! on each other's crates; only this test crate depends on several.
