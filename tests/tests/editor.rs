//! Editor smoke test: opens demix's editor through the CLAP gui extension, embedded in an X11
//! window of this test host, lets it render for a few seconds while audio is processed (so the
//! meters move), takes a screenshot and closes it again.
//!
//! Needs an X server; run it under Xvfb (see `scripts/editor-smoke.sh`):
//!     cargo build -p demix --features assert_process_allocs
//!     xvfb-run -a -s "-screen 0 1280x800x24" cargo test -p demix-e2e --test editor -- --ignored --nocapture
//! It is `#[ignore]`d so a plain `cargo test` (no display) does not run it; without `DISPLAY` it
//! fails.
//! The screenshot goes to `target/editor-smoke.png` (or `$DEMIX_SCREENSHOT`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use demix_cli::audio::decode;
use demix_cli::eval::match_channels;
use demix_e2e::Instance;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, ImageFormat, WindowClass};
use x11rb::COPY_DEPTH_FROM_PARENT;

#[test]
#[ignore = "needs an X server: scripts/editor-smoke.sh runs it under Xvfb"]
fn editor_opens_renders_and_closes_under_x11() {
    assert!(std::env::var_os("DISPLAY").is_some(), "no DISPLAY: run it under xvfb-run");
    let (conn, screen_num) = x11rb::connect(None).expect("connecting to the X server");
    let screen = &conn.setup().roots[screen_num];
    let (pw, ph) = (1000u16, 720u16);
    let parent = conn.generate_id().unwrap();
    conn.create_window(
        COPY_DEPTH_FROM_PARENT,
        parent,
        screen.root,
        0,
        0,
        pw,
        ph,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().background_pixel(screen.black_pixel),
    )
    .unwrap();
    conn.map_window(parent).unwrap();
    conn.flush().unwrap();

    let mut inst = Instance::new();
    // A performance setup, so the screenshot shows the controls in use: Instrumental mode
    // (vocals off) and the vocal gate on, with the engine the user gets by default (Neural when
    // the plugin was laid out as a bundle with its model, as scripts/editor-smoke.sh does).
    inst.set_param("Mode", 2.0); // Full mix, Acapella, Instrumental, …
    inst.set_param("Gate", 1.0);
    inst.flush_params();
    // The demo clip, so the meters show music.
    let clip = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo/demo_mix.flac");
    let decoded = decode(&clip).unwrap_or_else(|e| panic!("{}: {e}", clip.display()));
    let sr = decoded.audio.sample_rate as f64;
    let input = match_channels(decoded.audio.channels, 2);
    inst.activate(sr, 512);
    let mut out = vec![vec![0.0f32; input[0].len()]; 2];

    let x11 = GuiConfiguration { api_type: GuiApiType::X11, is_floating: false };
    let size = inst.with_handle(|h| {
        let gui = h.get_extension::<PluginGui>().expect("no gui extension");
        assert!(gui.is_api_supported(h, x11), "embedded X11 editor not supported");
        gui.create(h, x11).expect("gui.create failed");
        let _ = gui.set_scale(h, 1.0);
        let size = gui.get_size(h).expect("gui.get_size failed");
        // SAFETY: `parent` stays alive until after `destroy` below.
        unsafe { gui.set_parent(h, Window::from_x11_handle(parent as _)) }
            .expect("gui.set_parent failed");
        gui.show(h).expect("gui.show failed");
        size
    });
    println!("editor size {}x{}", size.width, size.height);
    assert!(size.width >= 400 && size.height >= 300, "editor too small: {size:?}");

    // Let it run: process audio in real time-ish steps and service main-thread callbacks.
    let start = Instant::now();
    let mut offset = 0;
    let mut callbacks = 0;
    while start.elapsed() < Duration::from_secs(3) {
        if offset + 512 <= input[0].len() {
            inst.process_block(&input, &mut out, offset, 512);
            offset += 512;
        }
        if inst.poll_main_thread() {
            callbacks += 1;
        }
        std::thread::sleep(Duration::from_millis(8));
    }
    println!("main-thread callbacks serviced: {callbacks}");

    // Screenshot of the editor's area (GetImage includes the embedded child window).
    let (w, h) = (size.width.min(pw as u32) as u16, size.height.min(ph as u32) as u16);
    let img =
        conn.get_image(ImageFormat::Z_PIXMAP, parent, 0, 0, w, h, !0).unwrap().reply().unwrap();
    let bpp = img.data.len() / (w as usize * h as usize);
    assert!(bpp == 4, "unexpected screenshot format: {bpp} bytes per pixel");
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for px in img.data.chunks_exact(4) {
        rgb.extend_from_slice(&[px[2], px[1], px[0]]);
    }
    let mut colours: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    let path = std::env::var_os("DEMIX_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("editor-smoke.png")
    });
    std::fs::write(&path, png_rgb(w as u32, h as u32, &rgb)).expect("writing the screenshot");
    println!("screenshot {}x{} with {} distinct colours: {}", w, h, colours.len(), path.display());
    assert!(colours.len() > 20, "the editor drew nothing (only {} colours)", colours.len());
    check_layout(&rgb, w as usize, h as usize);

    inst.with_handle(|h| {
        let gui = h.get_extension::<PluginGui>().unwrap();
        gui.hide(h).expect("gui.hide failed");
        gui.destroy(h);
    });
    for _ in 0..20 {
        inst.poll_main_thread();
        std::thread::sleep(Duration::from_millis(5));
    }
    // Reopen once more: create/destroy must be repeatable.
    inst.with_handle(|h| {
        let gui = h.get_extension::<PluginGui>().unwrap();
        gui.create(h, x11).expect("second gui.create failed");
        unsafe { gui.set_parent(h, Window::from_x11_handle(parent as _)) }
            .expect("second set_parent failed");
        gui.show(h).expect("second show failed");
    });
    for _ in 0..30 {
        inst.poll_main_thread();
        std::thread::sleep(Duration::from_millis(10));
    }
    inst.with_handle(|h| h.get_extension::<PluginGui>().unwrap().destroy(h));
    // As after the first destroy: let the editor's window thread see the close before the
    // instance (and with it the plugin library) goes away. baseview closes its X11 thread
    // asynchronously; unloading the library under a thread that is still closing crashed this
    // test's process once at exit.
    for _ in 0..20 {
        inst.poll_main_thread();
        std::thread::sleep(Duration::from_millis(5));
    }
    inst.deactivate();
    conn.destroy_window(parent).unwrap();
    conn.flush().unwrap();
}

/// Checks the screenshot's layout regions (the editor has no accessibility tree to query):
/// the four stem colours in the strips (left part, below the mode row), the selected mode
/// button's highlight in the mode row, and drawn content (text, sliders) in the right-hand
/// column (artifact controls and vocal post-chain) and in the status line at the bottom.
fn check_layout(rgb: &[u8], w: usize, h: usize) {
    let px = |x: usize, y: usize| -> [i32; 3] {
        let i = (y * w + x) * 3;
        [rgb[i] as i32, rgb[i + 1] as i32, rgb[i + 2] as i32]
    };
    let near = |a: [i32; 3], b: [i32; 3]| (0..3).all(|k| (a[k] - b[k]).abs() <= 24);
    let count = |x0: usize, x1: usize, y0: usize, y1: usize, f: &dyn Fn([i32; 3]) -> bool| {
        let mut n = 0;
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                n += f(px(x, y)) as usize;
            }
        }
        n
    };
    let distinct = |x0: usize, x1: usize, y0: usize, y1: usize| {
        let mut c: Vec<[i32; 3]> = (y0..y1.min(h))
            .flat_map(|y| (x0..x1.min(w)).map(move |x| (x, y)))
            .map(|(x, y)| px(x, y))
            .collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    // Stem colours (editor.rs STEM_COLOURS): names, faders' fill and meters in the left ~2/3.
    let stems = [
        ("vocals", [0xE8, 0x6A, 0x92]),
        ("drums", [0xF2, 0xB1, 0x34]),
        ("bass", [0x4F, 0x9D, 0xDE]),
        ("other", [0x6B, 0xC4, 0x7A]),
    ];
    let strips = (0, w * 2 / 3, h / 7, h * 5 / 6);
    for (name, c) in stems {
        let n = count(strips.0, strips.1, strips.2, strips.3, &|p| near(p, c));
        println!("layout: {name} colour pixels in the strips region: {n}");
        assert!(n >= 30, "stem strip for {name} not found (its colour: {n} pixels)");
    }
    // The selected mode button (egui's selection fill, a saturated blue) in the top band.
    let selected = count(0, w, 0, h / 6, &|p| p[2] > 90 && p[2] - p[0] > 60 && p[1] > 50);
    println!("layout: selected-button pixels in the mode row: {selected}");
    assert!(selected >= 200, "no selected mode button in the top band ({selected} pixels)");
    let right = distinct(w * 2 / 3 + 10, w, h / 7, h * 5 / 6);
    println!("layout: distinct colours in the right-hand column: {right}");
    assert!(right > 40, "the artifact / post-chain column looks empty ({right} colours)");
    let status = distinct(0, w / 2, h * 5 / 6 - 60, h);
    println!("layout: distinct colours in the status area: {status}");
    assert!(status > 10, "the status line looks empty ({status} colours)");
}

/// A minimal PNG encoder (8-bit RGB, stored/uncompressed deflate blocks).
fn png_rgb(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::with_capacity((w as usize * 3 + 1) * h as usize);
    for row in rgb.chunks_exact(w as usize * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(if i + 1 == blocks.len() { 1 } else { 0 });
        z.extend_from_slice(&(b.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(b.len() as u16)).to_le_bytes());
        z.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}
