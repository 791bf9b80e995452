//! The platforms demix ships for: one enum for the release archives (`dist`), ONNX Runtime
//! (`fetch_ort`, which adds the wheel facts) and the Windows tests under Wine (`test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

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

    /// Makes sure Rust's standard library for this platform is installed: nothing to do when
    /// the toolchain already has it (however it was installed), else `rustup target add`.
    pub fn ensure_rust_target(self) -> anyhow::Result<()> {
        let out = Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
            .context("running rustc --print sysroot")?;
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if sysroot.join("lib/rustlib").join(self.rust_target()).join("lib").is_dir() {
            return Ok(());
        }
        let status = Command::new("rustup").args(["target", "add", self.rust_target()]).status();
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => bail!("`rustup target add {}` failed ({s})", self.rust_target()),
            Err(e) => bail!(
                "Rust's standard library for {} is not installed and rustup could not be run \
                 ({e}); install that target for the toolchain in {}",
                self.rust_target(),
                sysroot.display()
            ),
        }
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
