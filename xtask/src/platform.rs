//! The platforms demix ships for: one enum for the release archives (`dist`), ONNX Runtime
//! (`fetch_ort`, which adds the wheel facts) and the Windows tests under Wine (`test`).

use std::path::{Path, PathBuf};

/// A platform we build and ship for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux x86-64, built natively.
    LinuxX86_64,
    /// Windows x86-64, cross-compiled with mingw-w64 (linker set in `.cargo/config.toml`).
    WindowsX86_64,
}

/// The Rust target of the Windows build.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

impl Platform {
    /// The name in archive and cache folder names.
    pub fn name(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "linux-x86_64",
            Platform::WindowsX86_64 => "windows-x86_64",
        }
    }

    /// The Rust target triple.
    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "x86_64-unknown-linux-gnu",
            Platform::WindowsX86_64 => WINDOWS_TARGET,
        }
    }

    /// Extra `cargo build` arguments (none for the native build).
    pub fn target_args(self) -> Vec<String> {
        match self {
            Platform::LinuxX86_64 => vec![],
            Platform::WindowsX86_64 => vec!["--target".into(), WINDOWS_TARGET.into()],
        }
    }

    /// Cargo's target folder for this platform. Linux: the checkout's `target/`. Windows: a
    /// folder outside the checkout (`$XDG_CACHE_HOME` or `~/.cache`, `demix/target-windows`)
    /// that later runs and clean clones reuse, and whose `bundled/` keeps the Windows plugin
    /// away from the Linux one in `target/bundled/`.
    pub fn target_dir(self, root: &Path) -> anyhow::Result<PathBuf> {
        match self {
            Platform::LinuxX86_64 => Ok(root.join("target")),
            Platform::WindowsX86_64 => {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .ok_or_else(|| anyhow::anyhow!("neither XDG_CACHE_HOME nor HOME is set"))?;
                Ok(cache.join("demix").join("target-windows"))
            }
        }
    }

    /// Where cargo puts this platform's binaries of `profile` ("debug" or "release").
    pub fn out_dir(self, root: &Path, profile: &str) -> anyhow::Result<PathBuf> {
        let dir = self.target_dir(root)?;
        Ok(match self {
            Platform::LinuxX86_64 => dir.join(profile),
            Platform::WindowsX86_64 => dir.join(WINDOWS_TARGET).join(profile),
        })
    }

    /// The command-line tool's file name.
    pub fn cli_file(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "demix",
            Platform::WindowsX86_64 => "demix.exe",
        }
    }

    /// The install guide shipped in this platform's archive.
    pub fn install_doc(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "docs/INSTALL-linux.md",
            Platform::WindowsX86_64 => "docs/INSTALL-windows.md",
        }
    }
}
