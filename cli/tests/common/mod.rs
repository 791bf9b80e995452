//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Stem names in output order.
pub const STEMS: [&str; 4] = ["vocals", "drums", "bass", "other"];

/// A temporary folder for one test, deleted when the test ends (also when it fails).
pub struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty temporary folder for one test.
pub fn tmpdir(name: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("demix-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// The `demix` binary under test.
pub fn demix() -> Command {
    Command::new(env!("CARGO_BIN_EXE_demix"))
}

/// Error energy of `estimate` against `reference` relative to the reference's energy, in dB.
pub fn error_db(reference: &[Vec<f32>], estimate: &[Vec<f32>]) -> f64 {
    let (mut e, mut s) = (0.0f64, 0.0f64);
    for (r, x) in reference.iter().zip(estimate) {
        for (a, b) in r.iter().zip(x) {
            e += ((a - b) as f64).powi(2);
            s += (*a as f64).powi(2);
        }
    }
    10.0 * (e / s).log10()
}
