//! Cross-crate tests of typebus. The library compiles every golden
//! expected file of typebus-codegen ([`golden`]), so a golden file that no
//! longer compiles fails the build; the tests live in `tests/`. [`fuzz`]
//! holds the bodies of the cargo-fuzz targets in `fuzz/`.

pub mod fuzz;
pub mod golden;
