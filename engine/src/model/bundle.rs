//! Where the neural engine's run-time files live: the model and the ONNX Runtime library,
//! searched beside the binary this code is linked into (the plugin's bundle, the CLI's install
//! folder) or named by `DEMIX_ORT_LIB` — never the current directory or the system's library
//! search path. Pure path logic; loading is [`crate::model::runtime`]'s job.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the library search: an absolute path to the library
/// file, or to a directory holding it.
pub const ORT_LIB_ENV: &str = "DEMIX_ORT_LIB";

/// The ONNX Runtime version `cargo xtask fetch-ort` downloads and bundles.
pub const ORT_VERSION: &str = "1.31.1";

/// Why ONNX Runtime is unavailable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OrtError {
    /// No library file was found.
    #[error("ONNX Runtime library ({}) not found in {}; run `cargo xtask fetch-ort` or set {ORT_LIB_ENV}", lib_file_names().join(" / "), crate::model::list_dirs(.searched))]
    NotFound {
        /// Directories searched.
        searched: Vec<PathBuf>,
    },
    /// `DEMIX_ORT_LIB` is set but unusable.
    #[error("{ORT_LIB_ENV}={value}: {reason}")]
    BadOverride {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Windows: the Microsoft C++ runtime that ONNX Runtime links against is not installed.
    #[error(
        "ONNX Runtime ({}) needs the Microsoft Visual C++ Redistributable 2015-2022 (x64), which \
         is not installed (missing {}); install it from {VC_REDIST_URL}",
        path.display(),
        missing.join(", ")
    )]
    MissingVcRuntime {
        /// The ONNX Runtime library.
        path: PathBuf,
        /// The runtime DLLs that could not be loaded.
        missing: Vec<&'static str>,
    },
    /// The library exists but could not be loaded or initialised.
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Load {
        /// The library path.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
}

/// Where Microsoft publishes the Visual C++ runtime installer (x64).
pub const VC_REDIST_URL: &str = "https://aka.ms/vs/17/release/vc_redist.x64.exe";

/// The Microsoft C++ runtime DLLs that ONNX Runtime's Windows build imports.
pub const VC_RUNTIME_DLLS: [&str; 4] =
    ["VCRUNTIME140.dll", "VCRUNTIME140_1.dll", "MSVCP140.dll", "MSVCP140_1.dll"];

/// Library file names this platform looks for, most specific first.
pub fn lib_file_names() -> Vec<String> {
    if cfg!(target_os = "windows") {
        vec!["onnxruntime.dll".into()]
    } else if cfg!(target_os = "macos") {
        vec![format!("libonnxruntime.{ORT_VERSION}.dylib"), "libonnxruntime.dylib".into()]
    } else {
        vec![
            format!("libonnxruntime.so.{ORT_VERSION}"),
            "libonnxruntime.so.1".into(),
            "libonnxruntime.so".into(),
        ]
    }
}

/// Looks for the library in `dir` (and `dir/lib`): the exact pinned name first, then the
/// generic names, then any `libonnxruntime.so.1.*`.
pub fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    for d in [dir.to_path_buf(), dir.join("lib")] {
        for name in lib_file_names() {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            let mut other: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.starts_with("libonnxruntime.so.1.")
                                || (n.starts_with("libonnxruntime.1.") && n.ends_with(".dylib"))
                        })
                })
                .collect();
            other.sort();
            if let Some(p) = other.pop() {
                return Some(p);
            }
        }
    }
    None
}

/// Finds the ONNX Runtime library: `DEMIX_ORT_LIB` if set (absolute file or directory),
/// otherwise the first of `search_dirs` (each also with `/lib`) that holds it. Relative
/// `search_dirs` are ignored, so nothing is ever loaded from the current directory.
pub fn locate_ort_library(search_dirs: &[PathBuf]) -> Result<PathBuf, OrtError> {
    if let Some(value) = std::env::var_os(ORT_LIB_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&value);
        let shown = p.display().to_string();
        if !p.is_absolute() {
            return Err(OrtError::BadOverride {
                value: shown,
                reason: "must be an absolute path".into(),
            });
        }
        if p.is_file() {
            return Ok(p);
        }
        if p.is_dir() {
            return find_in_dir(&p).ok_or(OrtError::NotFound { searched: vec![p] });
        }
        return Err(OrtError::BadOverride {
            value: shown,
            reason: "no such file or directory".into(),
        });
    }
    let dirs: Vec<PathBuf> = search_dirs.iter().filter(|d| d.is_absolute()).cloned().collect();
    dirs.iter().find_map(|d| find_in_dir(d)).ok_or(OrtError::NotFound { searched: dirs })
}

/// Directory of the binary this code is linked into, symlinks resolved: the plugin's
/// `.so`/`.clap`/`.dll` inside a host (found with `dladdr`, or `GetModuleHandleExW` on Windows,
/// from the address of a function of this crate), the executable for the CLI. Falls back to
/// `current_exe()`'s directory where the loader gives no usable path.
pub fn current_module_dir() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        use std::ffi::c_void;
        use std::os::windows::ffi::OsStringExt;
        const FROM_ADDRESS: u32 = 0x4;
        const UNCHANGED_REFCOUNT: u32 = 0x2;
        #[link(name = "kernel32")]
        extern "system" {
            fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut *mut c_void) -> i32;
            fn GetModuleFileNameW(module: *mut c_void, name: *mut u16, size: u32) -> u32;
        }
        let addr = current_module_dir as fn() -> Option<PathBuf> as *const u16;
        let mut module: *mut c_void = std::ptr::null_mut();
        // SAFETY: with FROM_ADDRESS the name argument is an address inside this module; the
        // handle is not reference-counted (UNCHANGED_REFCOUNT) and only used at once below;
        // GetModuleFileNameW writes at most `buf.len()` UTF-16 units.
        if unsafe { GetModuleHandleExW(FROM_ADDRESS | UNCHANGED_REFCOUNT, addr, &mut module) } != 0
        {
            let mut buf = vec![0u16; 32768];
            let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) };
            let n = n as usize;
            if n > 0 && n < buf.len() {
                let path = PathBuf::from(std::ffi::OsString::from_wide(&buf[..n]));
                if let Some(dir) = path.parent().filter(|d| d.is_absolute()) {
                    return Some(dir.to_path_buf());
                }
            }
        }
    }
    #[cfg(unix)]
    {
        use std::ffi::{c_char, c_int, c_void, CStr};
        use std::os::unix::ffi::OsStrExt;
        #[repr(C)]
        struct DlInfo {
            dli_fname: *const c_char,
            dli_fbase: *mut c_void,
            dli_sname: *const c_char,
            dli_saddr: *mut c_void,
        }
        extern "C" {
            fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
        }
        let mut info = DlInfo {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        };
        let addr = current_module_dir as fn() -> Option<PathBuf> as *const c_void;
        // SAFETY: dladdr only reads the address and fills `info`; dli_fname points into the
        // loader's tables, valid while the module is loaded; we copy it out at once.
        if unsafe { dladdr(addr, &mut info) } != 0 && !info.dli_fname.is_null() {
            let bytes = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
            // For the main executable glibc reports argv[0], which may be relative or a symlink
            // (`~/.local/bin/demix`): only an absolute path that resolves is trusted, resolved.
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
            let resolved = path.is_absolute().then(|| path.canonicalize().ok()).flatten();
            if let Some(dir) = resolved.as_deref().and_then(Path::parent) {
                return Some(dir.to_path_buf());
            }
        }
    }
    std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
}

/// File name of the default model, shipped beside the binary (plugin bundle resources, the
/// CLI's install folder) and kept in the repository's `models/`.
pub const MODEL_FILE: &str = "demix.onnx";

/// Folder beside `demix.clap` that `cargo xtask bundle` fills with the run-time files
/// (ONNX Runtime, the default model). A VST3 bundle keeps them in `Contents/Resources/`.
pub const BUNDLE_RESOURCES_DIR: &str = "demix-resources";

/// Directories to search for run-time files (ONNX Runtime, the default model) next to the binary
/// this code is linked into, in order: its directory, `demix-resources/` beside it,
/// `../Resources` (VST3 / macOS bundle layout), `../lib`. ([`find_in_dir`] also looks in `lib/`
/// below each.) For the plugin this is the bundle, for the CLI the executable's directory.
pub fn module_search_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dir) = current_module_dir() {
        v.push(dir.clone());
        v.push(dir.join(BUNDLE_RESOURCES_DIR));
        if let Some(up) = dir.parent() {
            v.push(up.join("Resources"));
            v.push(up.join("lib"));
        }
    }
    v
}

/// The first `dirs[i]/file_name` that exists (e.g. `demix.onnx` in [`module_search_dirs`]).
pub fn find_file_in(dirs: &[PathBuf], file_name: &str) -> Option<PathBuf> {
    dirs.iter().filter(|d| d.is_absolute()).map(|d| d.join(file_name)).find(|p| p.is_file())
}

/// The repository's `models/` folder, where a development build finds the committed models
/// (a shipped plugin never looks here).
pub fn repo_models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("models")
}

/// The development cache `cargo xtask fetch-ort` fills (`<repo>/.cache/ort`). For tests and
/// development builds of the CLI; a shipped plugin never looks here.
pub fn repo_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".cache").join("ort")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python side (export, parity tests) pins the same ONNX Runtime as the one bundled.
    #[test]
    fn python_requirements_pin_the_bundled_onnx_runtime() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        for file in ["requirements-ci.txt", "requirements-train.txt"] {
            let text = std::fs::read_to_string(models.join(file)).expect(file);
            let pin = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("onnxruntime=="))
                .unwrap_or_else(|| panic!("{file} does not pin onnxruntime"));
            assert_eq!(pin.trim(), ORT_VERSION, "{file}");
        }
    }

    #[test]
    fn finds_versioned_library_names_and_ignores_relative_dirs() {
        let dir = std::env::temp_dir().join(format!("demix-ort-env-{}", std::process::id()));
        let lib = dir.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert_eq!(find_in_dir(&dir), None);
        if cfg!(target_os = "linux") {
            std::fs::write(lib.join("libonnxruntime.so.1.20.0"), b"").unwrap();
            assert_eq!(find_in_dir(&dir), Some(lib.join("libonnxruntime.so.1.20.0")));
            std::fs::write(dir.join(format!("libonnxruntime.so.{ORT_VERSION}")), b"").unwrap();
            assert_eq!(
                find_in_dir(&dir),
                Some(dir.join(format!("libonnxruntime.so.{ORT_VERSION}")))
            );
        }
        let here = current_module_dir().expect("module dir");
        assert!(here.is_absolute() && here.is_dir(), "{}", here.display());
        assert_eq!(here, std::env::current_exe().unwrap().parent().unwrap());
        if std::env::var_os(ORT_LIB_ENV).is_none() {
            assert!(matches!(
                locate_ort_library(&[PathBuf::from("relative/dir")]),
                Err(OrtError::NotFound { searched }) if searched.is_empty()
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
