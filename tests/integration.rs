//! The one integration test binary: each module tests one feature over the real binary.

// `hello` and `counter`: the concurrency lessons of issue 3.
mod counter;
