//! `cargo xtask fetch-ort [--target windows] [--force]`: downloads the pinned ONNX Runtime
//! shared library from the `onnxruntime` wheel on PyPI (no crate ships it), checks the wheel's
//! and the library's SHA-256, and unpacks the library and ONNX Runtime's licence files into
//! `<repo>/.cache/ort/` (Linux, git-ignored) or `<repo>/.cache/ort/windows-x86_64/`. The
//! engine's tests and development CLI find the Linux library there; `cargo xtask bundle` and
//! `dist` copy it into the bundles.
//!
//! Options: `--force` re-downloads even when the cached library verifies; `--target windows`
//! fetches the Windows x86-64 DLL instead of the Linux library.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use demix_engine::model::bundle::{lib_file_names, ORT_VERSION};

use crate::platform::Platform;

/// ONNX Runtime for each platform: Linux from the `manylinux_2_28` wheel, Windows from the
/// `win_amd64` one. The hashes change with [`ORT_VERSION`].
impl Platform {
    /// pip's `--platform` tag.
    fn pip_platform(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "manylinux_2_28_x86_64",
            Platform::WindowsX86_64 => "win_amd64",
        }
    }

    /// The pinned wheel's file name.
    fn wheel_name(self) -> String {
        format!("onnxruntime-{ORT_VERSION}-cp311-cp311-{}.whl", self.pip_platform())
    }

    /// SHA-256 of [`Self::wheel_name`].
    fn wheel_sha256(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => {
                "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
            }
            Platform::WindowsX86_64 => {
                "c3d91b5de31e2fc82d71bd65b2b22bddee8b49057a3a36338e9a868e0ea90c05"
            }
        }
    }

    /// The library's file name in the wheel's `onnxruntime/capi/`, the cache and the bundles:
    /// the name the engine looks for first on that platform.
    pub fn lib_name(self) -> String {
        match self {
            Platform::LinuxX86_64 => lib_file_names().swap_remove(0),
            Platform::WindowsX86_64 => "onnxruntime.dll".into(),
        }
    }

    /// SHA-256 of the library inside the wheel.
    fn lib_sha256(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => {
                "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
            }
            Platform::WindowsX86_64 => {
                "8482d2ee174e28504f99730fb01d6861575870283de4ed3a897ad39170d9a9b9"
            }
        }
    }

    /// Where the library and licences are cached.
    pub fn cache_dir(self) -> PathBuf {
        match self {
            Platform::LinuxX86_64 => cache_dir(),
            Platform::WindowsX86_64 => cache_dir().join("windows-x86_64"),
        }
    }

    /// The cached library's path (whether or not it exists yet).
    pub fn lib_path(self) -> PathBuf {
        self.cache_dir().join(self.lib_name())
    }

    /// ONNX Runtime's licence files, cached beside the library (for release archives).
    pub fn licence_paths(self) -> Vec<PathBuf> {
        LICENCE_FILES.iter().map(|f| self.cache_dir().join(format!("onnxruntime-{f}"))).collect()
    }
}

/// ONNX Runtime's licence files in the wheel's `onnxruntime/` folder.
const LICENCE_FILES: [&str; 2] = ["LICENSE", "ThirdPartyNotices.txt"];

/// `<repo>/.cache/ort` (the Linux library lives here, where the engine's tests look).
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".cache").join("ort")
}

/// The cached Linux library's path (whether or not it exists yet).
pub fn lib_path() -> PathBuf {
    Platform::LinuxX86_64.lib_path()
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

fn pip_download(platform: Platform, dest: &Path) -> anyhow::Result<()> {
    let args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        platform.pip_platform(),
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
    bail!(
        "pip download of {spec} failed ({last_err}); run `cargo xtask setup` (it makes the venv), \
         or download {} by hand into {}",
        platform.wheel_name(),
        dest.display()
    )
}

/// Runs the command.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut force = false;
    let mut platform = Platform::LinuxX86_64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--force" => force = true,
            "--target" => match it.next().map(String::as_str) {
                Some("windows") => platform = Platform::WindowsX86_64,
                Some("linux") => platform = Platform::LinuxX86_64,
                other => bail!("fetch-ort: --target takes linux or windows, not {other:?}"),
            },
            _ => bail!("fetch-ort: unknown argument `{a}` (--force, --target linux|windows)"),
        }
    }
    let lib = fetch(platform, force)?;
    println!("{}", lib.canonicalize().unwrap_or(lib).display());
    Ok(())
}

/// Makes sure `platform`'s library and licences are cached and verified; returns the library.
pub fn fetch(platform: Platform, force: bool) -> anyhow::Result<PathBuf> {
    let dir = platform.cache_dir();
    let lib = platform.lib_path();
    let licences_present = platform.licence_paths().iter().all(|p| p.is_file());
    if !force && licences_present && lib.is_file() && sha256_file(&lib)? == platform.lib_sha256() {
        return Ok(lib);
    }
    let wheels = cache_dir().join("wheels");
    std::fs::create_dir_all(&wheels).with_context(|| format!("creating {}", wheels.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let wheel_file = platform.wheel_name();
    let wheel = wheels.join(&wheel_file);
    let cached_ok = !force && wheel.is_file() && sha256_file(&wheel)? == platform.wheel_sha256();
    if !cached_ok {
        let _ = std::fs::remove_file(&wheel);
        pip_download(platform, &wheels)?;
    }
    if !wheel.is_file() {
        bail!("pip did not produce {}", wheel.display());
    }
    let got = sha256_file(&wheel)?;
    if got != platform.wheel_sha256() {
        let _ = std::fs::remove_file(&wheel);
        bail!(
            "checksum mismatch for {wheel_file}: expected {}, got {got} (file removed)",
            platform.wheel_sha256()
        );
    }

    let file = std::fs::File::open(&wheel)?;
    let mut zip =
        zip::ZipArchive::new(file).with_context(|| format!("reading {}", wheel.display()))?;
    let read_entry = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str| {
        let mut entry = zip.by_name(name).with_context(|| format!("{name} not in {wheel_file}"))?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes)?;
        anyhow::Ok(bytes)
    };
    let lib_in_wheel = format!("onnxruntime/capi/{}", platform.lib_name());
    let bytes = read_entry(&mut zip, &lib_in_wheel)?;
    let lib_sha = format!("{:x}", Sha256::digest(&bytes));
    if lib_sha != platform.lib_sha256() {
        bail!(
            "checksum mismatch for {lib_in_wheel}: expected {}, got {lib_sha}",
            platform.lib_sha256()
        );
    }
    // The licences come from the same verified wheel.
    for (name, dest) in LICENCE_FILES.iter().zip(platform.licence_paths()) {
        let text = read_entry(&mut zip, &format!("onnxruntime/{name}"))?;
        std::fs::write(&dest, text).with_context(|| format!("writing {}", dest.display()))?;
    }
    let tmp = dir.join(format!("{}.part", platform.lib_name()));
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &lib)?;
    eprintln!("fetch-ort: ONNX Runtime {ORT_VERSION} ({platform:?}) verified and unpacked");
    Ok(lib)
}
