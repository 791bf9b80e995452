//! `cargo xtask test`: sets the machine up, checks formatting and clippy, then runs every
//! test that needs no PyTorch: the Rust workspace (engine units and real-time tests, neural
//! parity, CLI, the CLAP host end-to-end tests against the plugin built with `assert_process_allocs`), the Python
//! dataset, package-list and model-contract tests, the VST3 plugin hosted by pedalboard, the
//! editor smoke check under Xvfb, and the Windows CLI under Wine.

use std::process::Command;

use crate::setup::{repo_root, run_cmd, venv_python};

/// Runs the whole suite; fails on the first failing group.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    crate::setup::run(args)?;
    let root = repo_root();
    let ort = crate::fetch_ort::lib_path();
    // Style first: it is the cheapest failure to find.
    run_cmd(Command::new("cargo").args(["fmt", "--all", "--check"]).current_dir(&root))?;
    run_cmd(
        Command::new("cargo")
            .args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
            .current_dir(&root),
    )?;
    // The engine without ONNX Runtime (pure DSP) still builds and passes its unit tests.
    run_cmd(
        Command::new("cargo")
            .args(["test", "-p", "demix-engine", "--no-default-features", "--lib"])
            .current_dir(&root),
    )?;
    // The end-to-end tests load this build of the plugin; with `assert_process_allocs` any
    // allocation on the audio thread aborts the host process, failing the test.
    run_cmd(
        Command::new("cargo")
            .args(["build", "-p", "demix", "--features", "assert_process_allocs"])
            .current_dir(&root),
    )?;
    run_cmd(
        Command::new("cargo")
            // Same features as the build above, so nice-plug is compiled once.
            .args([
                "test",
                "--workspace",
                "--exclude",
                "xtask",
                "--features",
                "demix/assert_process_allocs",
            ])
            .env("DEMIX_ORT_LIB", &ort)
            // ONNX Runtime was fetched above: a test that cannot find it fails instead of skipping
            .env("DEMIX_STRICT_TESTS", "1")
            .current_dir(&root),
    )?;
    run_cmd(
        Command::new(venv_python())
            .args([
                "-m",
                "pytest",
                "-q",
                "models/tests/test_contract.py",
                "models/tests/test_data.py",
                "models/tests/test_packages.py",
                "models/tests/test_singing.py",
                "models/tests/test_records.py",
                // the VST3 build (the library compiled above) hosted by pedalboard
                "tests/vst3_host",
            ])
            .env("DEMIX_ORT_LIB", &ort)
            // Setup installed everything these tests need: a skip is a failure (conftest.py).
            .env("DEMIX_STRICT_TESTS", "1")
            .current_dir(&root),
    )?;
    run_cmd(Command::new("bash").arg(root.join("scripts/editor-smoke.sh")).current_dir(&root))?;
    windows_cli_under_wine(&root)?;
    eprintln!("all tests passed");
    Ok(())
}

/// The Windows CLI, cross-compiled, run under Wine against the Linux CLI built above
/// (`tests/wine/`). The cross-build's target folder lives outside the checkout
/// (`$XDG_CACHE_HOME` or `~/.cache`, `demix/target-windows`), so later runs and clean clones
/// reuse it.
fn windows_cli_under_wine(root: &std::path::Path) -> anyhow::Result<()> {
    use crate::dist::WINDOWS_TARGET;
    use crate::fetch_ort::{fetch, OrtPlatform};
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .ok_or_else(|| anyhow::anyhow!("neither XDG_CACHE_HOME nor HOME is set"))?;
    let target_dir = cache.join("demix").join("target-windows");
    run_cmd(Command::new("rustup").args(["target", "add", WINDOWS_TARGET]))?;
    run_cmd(
        Command::new("cargo")
            .args(["build", "--release", "-p", "demix-cli", "--target", WINDOWS_TARGET])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(root),
    )?;
    fetch(OrtPlatform::WindowsX86_64, false)?;
    run_cmd(
        Command::new(venv_python())
            .args(["-m", "pytest", "-q", "tests/wine"])
            .env("DEMIX_WINDOWS_CLI", target_dir.join(WINDOWS_TARGET).join("release/demix.exe"))
            .env("DEMIX_LINUX_CLI", root.join("target/debug/demix"))
            .env("DEMIX_STRICT_TESTS", "1")
            .current_dir(root),
    )
}
