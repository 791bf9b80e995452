//! `cargo xtask install [--prefix DIR]`: builds and installs demix for the current user on Linux.
//!
//! - CLAP: `DIR/.clap/demix.clap` and `DIR/.clap/demix-resources/`;
//! - VST3: `DIR/.vst3/demix.vst3/`;
//! - CLI: `DIR/.local/lib/demix/` (the `demix` executable with the model and ONNX Runtime
//!   beside it, where it looks first) and the link `DIR/.local/bin/demix` to it.
//!
//! `DIR` defaults to `$HOME`. Earlier demix installs at these paths are replaced; anything else
//! there (a file or folder demix did not put there, e.g. another program called `demix` in
//! `~/.local/bin`) stops the install with an error before anything is changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::setup::{repo_root, run_cmd};

/// Marker file inside every folder this command installs, so a later install knows it may
/// replace the folder.
const MARKER: &str = ".demix-install";

/// Where each installed piece goes, below the prefix.
struct Layout {
    clap: PathBuf,
    clap_resources: PathBuf,
    vst3: PathBuf,
    cli_dir: PathBuf,
    cli_link: PathBuf,
}

impl Layout {
    fn new(prefix: &Path) -> Self {
        let clap_dir = prefix.join(".clap");
        Layout {
            clap: clap_dir.join("demix.clap"),
            clap_resources: clap_dir.join(crate::bundle::RESOURCES_DIR),
            vst3: prefix.join(".vst3").join("demix.vst3"),
            cli_dir: prefix.join(".local").join("lib").join("demix"),
            cli_link: prefix.join(".local").join("bin").join("demix"),
        }
    }
}

/// A folder we may replace: absent, or installed by us (it holds [`MARKER`]).
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.symlink_metadata().is_ok() && !dir.join(MARKER).is_file() {
        bail!(
            "{} exists and was not installed by `cargo xtask install`; move it away first",
            dir.display()
        );
    }
    Ok(())
}

/// The CLAP file we may replace: absent, or a file with a demix resources folder of ours beside it.
fn check_clap(layout: &Layout) -> anyhow::Result<()> {
    if layout.clap.symlink_metadata().is_ok() && !layout.clap_resources.join(MARKER).is_file() {
        bail!(
            "{} exists and was not installed by `cargo xtask install`; move it away first",
            layout.clap.display()
        );
    }
    Ok(())
}

/// The link we may replace: absent, or a symlink to our CLI folder.
fn check_link(layout: &Layout) -> anyhow::Result<()> {
    if layout.cli_link.symlink_metadata().is_err() {
        return Ok(());
    }
    match std::fs::read_link(&layout.cli_link) {
        Ok(target) if target == layout.cli_dir.join("demix") => Ok(()),
        _ => bail!(
            "{} exists and is not the link `cargo xtask install` makes; move it away first",
            layout.cli_link.display()
        ),
    }
}

/// Copies the folder `src` to `dst` (created), recursively.
pub(crate) fn copy_dir(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to).with_context(|| {
                format!("copying {} to {}", entry.path().display(), to.display())
            })?;
        }
    }
    Ok(())
}

/// Replaces `dst` (a folder of ours, checked before) with a copy of `src` plus the marker.
fn install_dir(src: &Path, dst: &Path) -> anyhow::Result<()> {
    if dst.exists() {
        std::fs::remove_dir_all(dst)
            .with_context(|| format!("removing the old {}", dst.display()))?;
    }
    copy_dir(src, dst)?;
    std::fs::write(dst.join(MARKER), "installed by `cargo xtask install`\n")?;
    eprintln!("installed {}", dst.display());
    Ok(())
}

fn parse_prefix(args: &[String]) -> anyhow::Result<PathBuf> {
    match args {
        [] => std::env::var_os("HOME")
            .map(PathBuf::from)
            .context("HOME is not set; give --prefix DIR"),
        [flag, dir] if flag == "--prefix" => Ok(PathBuf::from(dir)),
        _ => bail!("usage: cargo xtask install [--prefix DIR]"),
    }
}

/// Builds (release) and installs.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") {
        bail!("cargo xtask install is for Linux");
    }
    let prefix = parse_prefix(args)?;
    let prefix = if prefix.is_absolute() { prefix } else { std::env::current_dir()?.join(prefix) };
    let layout = Layout::new(&prefix);
    // Check every destination before building or changing anything.
    check_clap(&layout)?;
    for dir in [&layout.clap_resources, &layout.vst3, &layout.cli_dir] {
        check_dir(dir)?;
    }
    check_link(&layout)?;

    let root = repo_root();
    crate::bundle::run(&["demix".to_string(), "--release".to_string()])?;
    run_cmd(
        Command::new("cargo").args(["build", "--release", "-p", "demix-cli"]).current_dir(&root),
    )?;
    let bundled = root.join("target").join("bundled");

    install_dir(&bundled.join(crate::bundle::RESOURCES_DIR), &layout.clap_resources)?;
    std::fs::copy(bundled.join("demix.clap"), &layout.clap)
        .with_context(|| format!("copying demix.clap to {}", layout.clap.display()))?;
    eprintln!("installed {}", layout.clap.display());
    install_dir(&bundled.join("demix.vst3"), &layout.vst3)?;

    // The CLI's folder: the executable and the same run-time files the bundles carry.
    let staging = root.join("target").join("install-cli");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    copy_dir(&bundled.join(crate::bundle::RESOURCES_DIR), &staging)?;
    std::fs::copy(root.join("target").join("release").join("demix"), staging.join("demix"))?;
    install_dir(&staging, &layout.cli_dir)?;

    let bin = layout.cli_link.parent().context("link folder")?;
    std::fs::create_dir_all(bin)?;
    if layout.cli_link.symlink_metadata().is_ok() {
        std::fs::remove_file(&layout.cli_link)?;
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(layout.cli_dir.join("demix"), &layout.cli_link)
        .with_context(|| format!("linking {}", layout.cli_link.display()))?;
    eprintln!(
        "installed {} -> {}",
        layout.cli_link.display(),
        layout.cli_dir.join("demix").display()
    );
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == bin));
    if !on_path {
        eprintln!("note: {} is not on your PATH", bin.display());
    }
    Ok(())
}
