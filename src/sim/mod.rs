//! The simulated internet behind `serve` and `demo` (and the tests and benchmarks).
