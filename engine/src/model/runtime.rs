//! The process-global ONNX Runtime environment, loaded at run time (`ort`'s `load-dynamic`)
//! from the path [`crate::model::bundle::locate_ort_library`] found. It is created once per
//! process (all plugin instances share it, each with its own session) by the first worker that
//! needs it, never on the audio thread.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use crate::model::bundle::OrtError;

struct Global {
    env: Environment,
    lib: PathBuf,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// The process-global environment, created on the first call from `lib_path` (later calls
/// return the existing one whatever path they pass: a process can load only one ONNX Runtime).
/// Blocking and allocating: call it from a worker or loader thread, never the audio thread.
pub fn ort_environment(lib_path: &Path) -> Result<&'static Environment, OrtError> {
    let load_err = |message: String| OrtError::Load { path: lib_path.to_path_buf(), message };
    if !lib_path.is_absolute() {
        return Err(load_err("the library path must be absolute".into()));
    }
    if !lib_path.is_file() {
        return Err(load_err("no such file".into()));
    }
    if let Some(g) = GLOBAL.get() {
        if g.lib != lib_path {
            log::debug!(
                "ONNX Runtime already loaded from {}; ignoring {}",
                g.lib.display(),
                lib_path.display()
            );
        }
        return Ok(&g.env);
    }
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = GLOBAL.get() {
        return Ok(&g.env);
    }
    let missing = missing_vc_runtime();
    if !missing.is_empty() {
        return Err(OrtError::MissingVcRuntime { path: lib_path.to_path_buf(), missing });
    }
    let built = std::panic::catch_unwind(|| -> Result<Environment, String> {
        let builder = ort::init_from(lib_path).map_err(|e| e.to_string())?;
        builder.with_name("demix").with_telemetry(false).build().map_err(|e| e.to_string())
    });
    let env = match built {
        Ok(Ok(env)) => env,
        Ok(Err(msg)) => return Err(load_err(msg)),
        Err(panic) => {
            return Err(load_err(format!(
                "ONNX Runtime panicked while loading: {}",
                panic_message(&panic)
            )))
        }
    };
    log::info!("ONNX Runtime loaded from {}", lib_path.display());
    let _ = GLOBAL.set(Global { env, lib: lib_path.to_path_buf() });
    Ok(&GLOBAL.get().expect("set above").env)
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Windows: the Microsoft C++ runtime DLLs ONNX Runtime imports that cannot be loaded. Without
/// them loading ONNX Runtime fails with a bare "module not found"; this names the cause.
#[cfg(windows)]
fn missing_vc_runtime() -> Vec<&'static str> {
    use std::ffi::c_void;
    #[link(name = "kernel32")]
    extern "system" {
        fn LoadLibraryW(name: *const u16) -> *mut c_void;
        fn FreeLibrary(module: *mut c_void) -> i32;
    }
    crate::model::bundle::VC_RUNTIME_DLLS
        .into_iter()
        .filter(|dll| {
            let wide: Vec<u16> = dll.encode_utf16().chain(std::iter::once(0)).collect();
            // SAFETY: `wide` is NUL-terminated; a module loaded here is released at once (the
            // loader keeps it if ONNX Runtime loads it later).
            let module = unsafe { LoadLibraryW(wide.as_ptr()) };
            if module.is_null() {
                return true;
            }
            unsafe { FreeLibrary(module) };
            false
        })
        .collect()
}

/// Elsewhere ONNX Runtime links against the system's C++ runtime.
#[cfg(not(windows))]
fn missing_vc_runtime() -> Vec<&'static str> {
    Vec::new()
}
