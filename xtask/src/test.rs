//! `cargo xtask test`: sets the machine up, checks formatting and clippy, then runs every
//! test that needs no PyTorch: the Rust workspace (engine units and real-time tests, neural
//! parity, CLI, the CLAP host end-to-end tests against the plugin built with `assert_process_allocs`), the Python
//! dataset, package-list and model-contract tests, the VST3 plugin hosted by pedalboard, the
//! editor smoke check under Xvfb, and the Windows plugin and CLI under Wine.

use std::process::Command;

use anyhow::Context;

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
    // The task runner's own tests (the release archives' licence notices, among others).
    run_cmd(Command::new("cargo").args(["test", "-p", "xtask"]).current_dir(&root))?;
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
            .args(["-m", "pytest", "-q"])
            .args(python_test_files(&root)?)
            // the VST3 build (the library compiled above) hosted by pedalboard
            .arg("tests/vst3_host")
            .env("DEMIX_ORT_LIB", &ort)
            // Setup installed everything these tests need: a skip is a failure (conftest.py).
            .env("DEMIX_STRICT_TESTS", "1")
            .current_dir(&root),
    )?;
    run_cmd(Command::new("bash").arg(root.join("scripts/editor-smoke.sh")).current_dir(&root))?;
    windows_under_wine(&root)?;
    eprintln!("all tests passed");
    Ok(())
}

/// Model-side test files that need PyTorch, which setup does not install (see
/// `models/README.md`); every other `models/tests/test_*.py` runs.
const TORCH_TESTS: &[&str] = &["test_model.py"];

/// Every `models/tests/test_*.py` but [`TORCH_TESTS`], relative to the root, sorted: a new test
/// file runs without being listed here.
fn python_test_files(root: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let dir = root.join("models/tests");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("test_")
            && name.ends_with(".py")
            && !TORCH_TESTS.contains(&name.as_str())
        {
            files.push(format!("models/tests/{name}"));
        }
    }
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no Python tests in {}", dir.display());
    Ok(files)
}

/// The Windows build under Wine: the CLAP host end-to-end tests (`tests/tests/e2e.rs`,
/// `neural.rs`), built for Windows, load the Windows plugin; the Windows CLI runs against the
/// Linux one (`tests/wine/`). Everything Windows is built in one debug profile, in the Windows
/// target folder outside the checkout (see [`crate::platform::Platform::target_dir`]).
fn windows_under_wine(root: &std::path::Path) -> anyhow::Result<()> {
    use crate::fetch_ort::fetch;
    use crate::platform::{Platform, WINDOWS_TARGET};
    let windows = Platform::WindowsX86_64;
    let target_dir = windows.target_dir(root)?;
    let out = windows.out_dir(root, "debug")?;
    fetch(windows, false)?;
    windows.ensure_rust_target()?;
    let cargo = |args: &[&str]| {
        let mut c = Command::new("cargo");
        c.args(args)
            .args(["--target", WINDOWS_TARGET])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(root);
        c
    };
    run_cmd(&mut cargo(&[
        "build",
        "-p",
        "demix",
        "-p",
        "demix-cli",
        "--features",
        "demix/assert_process_allocs",
    ]))?;
    let e2e = ["test", "-p", "demix-e2e", "--test", "e2e", "--test", "neural"];
    run_cmd(cargo(&e2e).arg("--no-run"))?;
    // Wine 8 lacks bcryptprimitives.dll, which Rust binaries import: a test-only stand-in goes
    // beside the test executables (see tests/wine/bcryptprimitives.c).
    let stand_in = out.join("deps").join("bcryptprimitives.dll");
    run_cmd(
        Command::new("x86_64-w64-mingw32-gcc")
            .args(["-O2", "-shared", "-o"])
            .arg(&stand_in)
            .arg(root.join("tests/wine/bcryptprimitives.c"))
            .arg("-ladvapi32"),
    )?;
    let prefix = target_dir.join("wineprefix");
    let wine = "/usr/lib/wine/wine64";
    run_cmd(
        Command::new(wine)
            .args(["wineboot", "-i"])
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all"),
    )?;
    run_cmd(
        cargo(&e2e)
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", wine)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("DEMIX_CLAP", out.join("demix.dll"))
            // A Unix path is no absolute path to Windows code, which would refuse it; the tests
            // find the fetched DLL in the cache instead.
            .env_remove("DEMIX_ORT_LIB")
            .env("DEMIX_STRICT_TESTS", "1"),
    )?;
    run_cmd(
        Command::new(venv_python())
            .args(["-m", "pytest", "-q", "tests/wine"])
            .env("DEMIX_WINDOWS_CLI", out.join("demix.exe"))
            .env("DEMIX_WINE_STAND_IN", &stand_in)
            .env("DEMIX_VC_RUNTIME_DLLS", demix_engine::model::bundle::VC_RUNTIME_DLLS.join(","))
            .env("DEMIX_LINUX_CLI", root.join("target/debug/demix"))
            .env("DEMIX_STRICT_TESTS", "1")
            .current_dir(root),
    )
}
