//! `cargo xtask fetch-ort`: downloads the pinned ONNX Runtime shared library from the
//! `onnxruntime` wheel on PyPI (no crate ships it), checks the wheel's and the library's
//! SHA-256, and unpacks the library into `<repo>/.cache/ort/` (git-ignored). The engine's tests
//! and development CLI find it there; `cargo xtask bundle` copies it into the bundles.
//!
//! Options: `--force` re-downloads even when the cached library verifies.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use demix_engine::model::bundle::{lib_file_names, ORT_VERSION};

/// SHA-256 of the [`wheel_name`] wheel (changes with [`ORT_VERSION`]).
const WHEEL_SHA256: &str = "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f";
/// SHA-256 of [`lib_name`] inside that wheel.
const LIB_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";

/// The pinned Linux wheel.
fn wheel_name() -> String {
    format!("onnxruntime-{ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl")
}

/// The library's file name in the wheel, the cache and the bundles: the versioned name the
/// engine looks for first.
pub fn lib_name() -> String {
    lib_file_names().swap_remove(0)
}

/// `<repo>/.cache/ort`.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".cache").join("ort")
}

/// The cached library's path (whether or not it exists yet).
pub fn lib_path() -> PathBuf {
    cache_dir().join(lib_name())
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn pip_download(dest: &Path) -> anyhow::Result<()> {
    let args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "-d",
    ];
    let spec = format!("onnxruntime=={ORT_VERSION}");
    // The project's venv first (setup makes it before this step; Debian's python3 has no pip).
    let venv = crate::setup::venv_python();
    let mut candidates: Vec<(PathBuf, &[&str])> = Vec::new();
    if venv.is_file() {
        candidates.push((venv, &["-m", "pip"]));
    }
    candidates.extend(
        [("python3", &["-m", "pip"][..]), ("pip3", &[]), ("pip", &[])]
            .map(|(p, a)| (PathBuf::from(p), a)),
    );
    let mut last_err = String::new();
    for (prog, pre) in candidates {
        let shown = prog.display();
        eprintln!(
            "fetch-ort: {shown} {} {} {} {spec}",
            pre.join(" "),
            args.join(" "),
            dest.display()
        );
        match Command::new(&prog).args(pre).args(args).arg(dest).arg(&spec).status() {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => last_err = format!("{shown} exited with {s}"),
            Err(e) => last_err = format!("{shown}: {e}"),
        }
    }
    bail!("pip download of {spec} failed ({last_err}); run `cargo xtask setup` (it makes the venv), or download {} by hand into {}", wheel_name(), dest.display())
}

/// Runs the command.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let force = args.iter().any(|a| a == "--force");
    if let Some(a) = args.iter().find(|a| *a != "--force") {
        bail!("fetch-ort: unknown argument `{a}` (only --force)");
    }
    let dir = cache_dir();
    let lib = lib_path();
    if !force && lib.is_file() && sha256_file(&lib)? == LIB_SHA256 {
        println!("{}", lib.canonicalize().unwrap_or(lib).display());
        return Ok(());
    }
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("fetch-ort: note: this fetches the Linux x86_64 library; other targets are not wired up yet");
    }
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).with_context(|| format!("creating {}", wheels.display()))?;
    let wheel_file = wheel_name();
    let wheel = wheels.join(&wheel_file);
    let cached_ok = !force && wheel.is_file() && sha256_file(&wheel)? == WHEEL_SHA256;
    if !cached_ok {
        let _ = std::fs::remove_file(&wheel);
        pip_download(&wheels)?;
    }
    if !wheel.is_file() {
        bail!("pip did not produce {}", wheel.display());
    }
    let got = sha256_file(&wheel)?;
    if got != WHEEL_SHA256 {
        let _ = std::fs::remove_file(&wheel);
        bail!(
            "checksum mismatch for {wheel_file}: expected {WHEEL_SHA256}, got {got} (file removed)"
        );
    }

    let lib_in_wheel = format!("onnxruntime/capi/{}", lib_name());
    let file = std::fs::File::open(&wheel)?;
    let mut zip =
        zip::ZipArchive::new(file).with_context(|| format!("reading {}", wheel.display()))?;
    let mut entry = zip
        .by_name(&lib_in_wheel)
        .with_context(|| format!("{lib_in_wheel} not in {wheel_file}"))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes)?;
    let lib_sha = format!("{:x}", Sha256::digest(&bytes));
    if lib_sha != LIB_SHA256 {
        bail!("checksum mismatch for {lib_in_wheel}: expected {LIB_SHA256}, got {lib_sha}");
    }
    let tmp = dir.join(format!("{}.part", lib_name()));
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &lib)?;
    eprintln!("fetch-ort: ONNX Runtime {ORT_VERSION} verified and unpacked");
    println!("{}", lib.canonicalize().unwrap_or(lib).display());
    Ok(())
}
