//! VST3 smoke test: the same binary also exports a VST3 factory. Loads it with `dlopen`, calls
//! `ModuleEntry` and `GetPluginFactory`, and reads the factory and class info through the
//! COM-style vtable (no VST3 SDK needed). A full VST3 host check is Steinberg's validator,
//! which is not part of this repository.
#![cfg(target_os = "linux")]

use std::ffi::{c_char, c_int, c_void, CStr, CString};

extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}
const RTLD_NOW: c_int = 2;

#[repr(C)]
struct PFactoryInfo {
    vendor: [c_char; 64],
    url: [c_char; 256],
    email: [c_char; 128],
    flags: i32,
}

#[repr(C)]
struct PClassInfo {
    cid: [u8; 16],
    cardinality: i32,
    category: [c_char; 32],
    name: [c_char; 64],
}

#[repr(C)]
struct IPluginFactoryVtbl {
    query_interface:
        unsafe extern "system" fn(*mut c_void, *const [u8; 16], *mut *mut c_void) -> i32,
    add_ref: unsafe extern "system" fn(*mut c_void) -> u32,
    release: unsafe extern "system" fn(*mut c_void) -> u32,
    get_factory_info: unsafe extern "system" fn(*mut c_void, *mut PFactoryInfo) -> i32,
    count_classes: unsafe extern "system" fn(*mut c_void) -> i32,
    get_class_info: unsafe extern "system" fn(*mut c_void, i32, *mut PClassInfo) -> i32,
}

fn text(c: &[c_char]) -> String {
    // SAFETY: the plugin writes NUL-terminated strings into these fixed arrays.
    unsafe { CStr::from_ptr(c.as_ptr()) }.to_string_lossy().into_owned()
}

#[test]
fn vst3_factory_lists_demix() {
    let path = demix_e2e::plugin_path();
    assert!(
        path.exists(),
        "{} not found: run `cargo build -p demix --features assert_process_allocs`",
        path.display()
    );
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    unsafe {
        let lib = dlopen(cpath.as_ptr(), RTLD_NOW);
        assert!(!lib.is_null(), "dlopen failed");
        let entry = dlsym(lib, c"ModuleEntry".as_ptr());
        assert!(!entry.is_null(), "no ModuleEntry export");
        let entry: extern "system" fn(*mut c_void) -> bool = std::mem::transmute(entry);
        assert!(entry(lib), "ModuleEntry returned false");
        let get = dlsym(lib, c"GetPluginFactory".as_ptr());
        assert!(!get.is_null(), "no GetPluginFactory export");
        let get: extern "system" fn() -> *mut c_void = std::mem::transmute(get);
        let factory = get();
        assert!(!factory.is_null(), "GetPluginFactory returned null");
        let vtbl = &**(factory as *mut *const IPluginFactoryVtbl);
        let mut info: PFactoryInfo = std::mem::zeroed();
        assert_eq!((vtbl.get_factory_info)(factory, &mut info), 0, "getFactoryInfo failed");
        let n = (vtbl.count_classes)(factory);
        assert_eq!(n, 1, "one VST3 class");
        let mut class: PClassInfo = std::mem::zeroed();
        assert_eq!((vtbl.get_class_info)(factory, 0, &mut class), 0, "getClassInfo failed");
        println!(
            "VST3 factory by {:?}: class {:?} category {:?} cid {:?}",
            text(&info.vendor),
            text(&class.name),
            text(&class.category),
            String::from_utf8_lossy(&class.cid)
        );
        assert_eq!(text(&class.name), "demix");
        assert_eq!(text(&class.category), "Audio Module Class");
        assert_eq!(&class.cid, b"demixStemSplit01");
        (vtbl.release)(factory);
        let exit = dlsym(lib, c"ModuleExit".as_ptr());
        if !exit.is_null() {
            let exit: extern "system" fn() -> bool = std::mem::transmute(exit);
            exit();
        }
    }
}
