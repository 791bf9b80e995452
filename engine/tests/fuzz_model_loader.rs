//! Fuzzing the model loader with corrupted ONNX files: random byte flips, truncations at many
//! offsets, random garbage, an empty file, and valid models whose `demix.*` metadata values are
//! mangled (re-encoded, so the protobuf stays well-formed). Sources: the committed test models
//! in `engine/tests/data/` and `models/demix.onnx` / `models/demix_fp32.onnx` when present.
//!
//! Properties:
//! - [`model_info_from_bytes`] / [`load_model_info`] (pure Rust, no ONNX Runtime) never panic
//!   and either accept the bytes or return an `Err` with a message;
//! - the separator factory ([`neural_factory`], i.e. [`NeuralSeparator::load`] on the worker:
//!   validation, then ONNX Runtime) never panics or aborts the process and returns an `Err` with
//!   a message — or, for a mutation that leaves a well-formed model (a flipped weight, a
//!   harmless metadata value), a separator that can process a frame without panicking.
//!
//! Bounded for CI; `DEMIX_FUZZ_ITERS=<n>` scales the random mutations (default 1 = CI size;
//! 10 = ten times as many), `DEMIX_FUZZ_SEED=<u64>` changes the seed. The ONNX Runtime part
//! needs the library (`DEMIX_ORT_LIB` or `.cache/ort/`, `cargo xtask fetch-ort`) and is skipped
//! without it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use demix_engine::dsp::separator::{Frame, Masks};
use demix_engine::dsp::stft::StftConfig;
use demix_engine::model::bundle::{locate_ort_library, repo_cache_dir};
use demix_engine::model::contract::{load_model_info, model_info_from_bytes, REQUIRED_KEYS};
use demix_engine::model::neural::neural_factory;
use demix_engine::model::NeuralError;
use demix_engine::stem::N_STEMS;
use demix_engine::Complex32;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scale() -> u32 {
    std::env::var("DEMIX_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

fn seed() -> u64 {
    std::env::var("DEMIX_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x0DE1_70AD)
}

fn runner(cases: u32, salt: u64) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 500,
        max_shrink_time: 60_000,
        rng_seed: RngSeed::Fixed(seed() ^ salt),
        ..Config::default()
    })
}

/// (name, bytes) of every seed model available.
fn seed_models(include_large: bool) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for name in ["tiny.onnx", "tiny_no_hop.onnx", "tiny_trap.onnx", "tiny_wrong_bins.onnx"] {
        let p = manifest().join("tests/data").join(name);
        v.push((
            name.to_string(),
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        ));
    }
    let models = manifest().join("../models");
    let large: &[&str] =
        if include_large { &["demix.onnx", "demix_fp32.onnx"] } else { &["demix.onnx"] };
    for name in large {
        match std::fs::read(models.join(name)) {
            Ok(b) => v.push((name.to_string(), b)),
            Err(_) => eprintln!("note: models/{name} not present; fuzzing the test models only"),
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Mutations

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR `mask` into the byte at `pos % len` (several times).
    Flips(Vec<(usize, u8)>),
    /// Keep the first `at % (len + 1)` bytes.
    Truncate(usize),
    /// Replace a window with random bytes.
    Splice { at: usize, bytes: Vec<u8> },
    /// Random garbage of this content (the model is ignored).
    Garbage(Vec<u8>),
    /// Garbage that starts like a protobuf ModelProto (ir_version, then a graph field of random length).
    FakeHeader { graph_len: u32, body: Vec<u8> },
    /// Rewrite the metadata: `(entry index or key, edit)`.
    Metadata(Vec<MetaEdit>),
}

#[derive(Debug, Clone)]
enum MetaEdit {
    Set(usize, String),
    SetRaw(usize, Vec<u8>),
    Remove(usize),
    Duplicate(usize, String),
    RenameKey(usize, String),
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("+44100".to_string()),
        Just("4294967296".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e3".to_string()),
        Just("NaN".to_string()),
        Just("0x400".to_string()),
        Just("9".repeat(400)),
        Just("16".to_string()),
        Just("65536".to_string()),
        Just("1048576".to_string()),
        Just("4".to_string()),
        Just("16384".to_string()),
        Just("2".to_string()),
        Just("8000".to_string()),
        Just("384000".to_string()),
        Just("384001".to_string()),
        Just("hamming".to_string()),
        Just("HANN".to_string()),
        Just("vocals,vocals,bass,other".to_string()),
        Just("vocals,drums,bass".to_string()),
        Just("Other, BASS ,drums,vocals".to_string()),
        Just("vocals,drums,bass,other,piano".to_string()),
        Just(",,,".to_string()),
        Just("ünïcødé \u{202e} \u{0}".to_string()),
        Just("x".repeat(100_000)),
        "[0-9]{1,12}",
        "\\PC{0,40}",
    ]
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    let idx = 0usize..64;
    let edit = prop_oneof![
        4 => (idx.clone(), odd_value()).prop_map(|(i, v)| MetaEdit::Set(i, v)),
        1 => (idx.clone(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(i, v)| MetaEdit::SetRaw(i, v)),
        1 => idx.clone().prop_map(MetaEdit::Remove),
        1 => (idx.clone(), odd_value()).prop_map(|(i, v)| MetaEdit::Duplicate(i, v)),
        1 => (idx, prop_oneof![Just("DEMIX.N_FFT".to_string()), Just(String::new()), "[a-z.]{0,20}"]).prop_map(|(i, k)| MetaEdit::RenameKey(i, k)),
    ];
    prop_oneof![
        5 => prop::collection::vec((any::<usize>(), 1u8..=255), 1..8).prop_map(Mutation::Flips),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64)).prop_map(|(at, bytes)| Mutation::Splice { at, bytes }),
        1 => prop::collection::vec(any::<u8>(), 0..4096).prop_map(Mutation::Garbage),
        1 => (any::<u32>(), prop::collection::vec(any::<u8>(), 0..256)).prop_map(|(graph_len, body)| Mutation::FakeHeader { graph_len, body }),
        4 => prop::collection::vec(edit, 1..4).prop_map(Mutation::Metadata),
    ]
}

fn apply(model: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = model.to_vec();
    match m {
        Mutation::Flips(f) => {
            for &(pos, mask) in f {
                let i = pos % b.len();
                b[i] ^= mask;
            }
        }
        Mutation::Truncate(at) => b.truncate(at % (b.len() + 1)),
        Mutation::Splice { at, bytes } => {
            let i = at % b.len();
            let end = (i + bytes.len()).min(b.len());
            b[i..end].copy_from_slice(&bytes[..end - i]);
        }
        Mutation::Garbage(g) => b = g.clone(),
        Mutation::FakeHeader { graph_len, body } => {
            b = vec![0x08, 0x08, 0x3a]; // ir_version = 8, field 7 (graph), length-delimited
            put_varint(&mut b, *graph_len as u64);
            b.extend_from_slice(body);
        }
        Mutation::Metadata(edits) => b = rewrite_metadata(model, edits),
    }
    b
}

// A minimal protobuf writer/reader for ModelProto's top level (metadata_props = field 14).

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// One top-level field: its number, the raw bytes of the whole field and, for a length-delimited
/// field, the (start, end) of its payload in the model bytes.
type Field = (u64, Vec<u8>, Option<(usize, usize)>);

/// Top-level fields of a valid model.
fn top_fields(b: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let key = get_varint(b, &mut pos);
        let payload = match key & 7 {
            0 => {
                get_varint(b, &mut pos);
                None
            }
            1 => {
                pos += 8;
                None
            }
            2 => {
                let len = get_varint(b, &mut pos) as usize;
                let p = (pos, pos + len);
                pos += len;
                Some(p)
            }
            5 => {
                pos += 4;
                None
            }
            w => panic!("seed model has wire type {w}"),
        };
        out.push((key >> 3, b[start..pos].to_vec(), payload));
    }
    out
}

fn entry_kv(b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut k, mut v) = (Vec::new(), Vec::new());
    let mut pos = 0;
    while pos < b.len() {
        let key = get_varint(b, &mut pos);
        let len = get_varint(b, &mut pos) as usize;
        let s = b[pos..pos + len].to_vec();
        pos += len;
        match key >> 3 {
            1 => k = s,
            2 => v = s,
            _ => {}
        }
    }
    (k, v)
}

fn put_entry(out: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    let mut e = Vec::new();
    e.push(0x0a);
    put_varint(&mut e, k.len() as u64);
    e.extend_from_slice(k);
    e.push(0x12);
    put_varint(&mut e, v.len() as u64);
    e.extend_from_slice(v);
    out.push(0x72); // field 14, length-delimited
    put_varint(out, e.len() as u64);
    out.extend_from_slice(&e);
}

/// Re-encodes `model` with its metadata entries edited; everything else byte-identical.
fn rewrite_metadata(model: &[u8], edits: &[MetaEdit]) -> Vec<u8> {
    let fields = top_fields(model);
    let mut meta: Vec<(Vec<u8>, Vec<u8>)> = fields
        .iter()
        .filter(|f| f.0 == 14)
        .map(|f| entry_kv(&model[f.2.unwrap().0..f.2.unwrap().1]))
        .collect();
    for e in edits {
        if meta.is_empty() {
            break;
        }
        let n = meta.len();
        match e {
            MetaEdit::Set(i, v) => meta[i % n].1 = v.clone().into_bytes(),
            MetaEdit::SetRaw(i, v) => meta[i % n].1 = v.clone(),
            MetaEdit::Remove(i) => {
                meta.remove(i % n);
            }
            MetaEdit::Duplicate(i, v) => {
                let k = meta[i % n].0.clone();
                meta.push((k, v.clone().into_bytes()));
            }
            MetaEdit::RenameKey(i, k) => meta[i % n].0 = k.clone().into_bytes(),
        }
    }
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.0 != 14) {
        out.extend_from_slice(&f.1);
    }
    for (k, v) in &meta {
        put_entry(&mut out, k, v);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Checks

#[derive(Default)]
struct Counts {
    execs: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    ort_loaded: AtomicU64,
    ort_rejected: AtomicU64,
    ort_session_errors: AtomicU64,
}

impl Counts {
    fn report(&self, name: &str, t: Instant) {
        eprintln!(
            "{name}: {} executions; parser: {} accepted, {} rejected with a message; factory: {} separators built, {} rejected with a message ({} of them by ONNX Runtime itself); {:.1} s",
            self.execs.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.ort_loaded.load(Ordering::Relaxed),
            self.ort_rejected.load(Ordering::Relaxed),
            self.ort_session_errors.load(Ordering::Relaxed),
            t.elapsed().as_secs_f64()
        );
    }
}

/// The parser/validator on `bytes`: must not panic; an error must carry a message.
fn check_info(bytes: &[u8], counts: &Counts) -> Result<bool, TestCaseError> {
    let r = std::panic::catch_unwind(|| {
        model_info_from_bytes(bytes, Path::new("fuzz.onnx")).map_err(|e| e.to_string())
    });
    counts.execs.fetch_add(1, Ordering::Relaxed);
    match r {
        Err(_) => Err(TestCaseError::fail(format!(
            "model_info_from_bytes panicked on {} bytes",
            bytes.len()
        ))),
        Ok(Ok(info)) => {
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            // Whatever was accepted must be usable: a sane STFT at every host rate.
            for sr in [44100.0, 48000.0, 96000.0, 192000.0] {
                let s = info.stft_for_rate(sr);
                if s.hop == 0 || s.n_fft != 4 * s.hop {
                    return Err(TestCaseError::fail(format!(
                        "accepted model gives STFT {s:?} at {sr} Hz"
                    )));
                }
            }
            Ok(true)
        }
        Ok(Err(msg)) => {
            counts.rejected.fetch_add(1, Ordering::Relaxed);
            if msg.trim().is_empty() {
                return Err(TestCaseError::fail("empty error message"));
            }
            Ok(false)
        }
    }
}

struct Ort {
    lib: PathBuf,
    dir: PathBuf,
}

fn ort(tag: &str) -> Option<Ort> {
    match locate_ort_library(&[repo_cache_dir()
        .canonicalize()
        .unwrap_or_else(|_| repo_cache_dir())])
    {
        Ok(lib) => {
            let dir = std::env::temp_dir()
                .join(format!("demix-fuzz-loader-{}-{tag}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Some(Ort { lib, dir })
        }
        Err(e) => {
            // `cargo xtask test` fetched the runtime: there a missing one is a failure
            assert!(
                std::env::var("DEMIX_STRICT_TESTS").as_deref() != Ok("1"),
                "ONNX Runtime not found: {e}"
            );
            eprintln!("SKIPPED (ONNX Runtime part): {e}");
            None
        }
    }
}

/// The worker's separator factory on `bytes` written to a file, then one frame through the
/// separator if it was built. Must not panic (or abort); errors carry a message.
fn check_factory(ort: &Ort, bytes: &[u8], tag: &str, counts: &Counts) -> Result<(), TestCaseError> {
    let path = ort.dir.join(format!("{tag}.onnx"));
    std::fs::write(&path, bytes).unwrap();
    // The STFT the host would pick: the model's own if the file validates, else the default.
    let stft = load_model_info(&path).map(|i| i.stft()).unwrap_or(StftConfig::DEFAULT_44K);
    let factory = neural_factory(path.clone(), ort.lib.clone());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut sep = factory(stft, 2)?;
        let bins = stft.bins();
        let data: Vec<Complex32> =
            (0..2 * bins).map(|k| Complex32::new((k as f32 * 0.1).sin(), 0.3)).collect();
        let frame = Frame {
            data: &data,
            channels: 2,
            bins,
            sample_rate_hz: 44100.0 * stft.n_fft as f32 / 1024.0,
            n_fft: stft.n_fft,
            hop: stft.hop,
        };
        let mut out = vec![Complex32::new(0.0, 0.0); N_STEMS * 2 * bins];
        let mut masks = Masks { data: &mut out, channels: 2, bins };
        // An inference error is an acceptable outcome; only a panic is not.
        let _ = sep.process(&frame, &mut masks);
        Ok::<(), NeuralError>(())
    }));
    counts.execs.fetch_add(1, Ordering::Relaxed);
    let _ = std::fs::remove_file(&path);
    match r {
        Err(_) => Err(TestCaseError::fail(format!(
            "the separator factory panicked ({tag}, {} bytes)",
            bytes.len()
        ))),
        Ok(Ok(())) => {
            counts.ort_loaded.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Ok(Err(e)) => {
            counts.ort_rejected.fetch_add(1, Ordering::Relaxed);
            let msg = e.to_string();
            if matches!(e, NeuralError::Session { .. } | NeuralError::Runtime(_)) {
                counts.ort_session_errors.fetch_add(1, Ordering::Relaxed);
            }
            if msg.trim().is_empty() {
                return Err(TestCaseError::fail(format!("empty factory error ({tag})")));
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn seed_models_parse_and_metadata_rewriting_is_lossless() {
    for (name, bytes) in seed_models(true) {
        let a = model_info_from_bytes(&bytes, Path::new(&name)).map_err(|e| e.to_string());
        let b = model_info_from_bytes(&rewrite_metadata(&bytes, &[]), Path::new(&name))
            .map_err(|e| e.to_string());
        assert_eq!(a, b, "{name}: re-encoding the metadata changed the outcome");
    }
}

#[test]
fn empty_missing_directory_and_garbage_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("demix-fuzz-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    for p in [empty.clone(), dir.join("missing.onnx"), dir.clone()] {
        let e = load_model_info(&p).expect_err("must be rejected");
        assert!(!e.to_string().trim().is_empty());
        eprintln!("{}: {e}", p.display());
    }
    if let Some(o) = ort("files") {
        for p in [empty, dir.join("missing.onnx"), dir.clone()] {
            let e = match neural_factory(p.clone(), o.lib.clone())(StftConfig::DEFAULT_44K, 2) {
                Ok(_) => panic!("{} accepted", p.display()),
                Err(e) => e,
            };
            assert!(!e.to_string().trim().is_empty());
        }
        let _ = std::fs::remove_dir_all(&o.dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncations_at_many_offsets_are_rejected_without_panicking() {
    let t = Instant::now();
    let counts = Counts::default();
    for (name, bytes) in seed_models(true) {
        // Every offset of small models; for large ones the first and last 2 KiB and an even
        // spread in between (more with DEMIX_FUZZ_ITERS).
        let offsets: Vec<usize> = if bytes.len() <= 64 * 1024 {
            (0..bytes.len()).collect()
        } else {
            let spread = 1000 * scale() as usize;
            (0..2048)
                .chain((0..spread).map(|i| i * bytes.len() / spread))
                .chain(bytes.len() - 2048..bytes.len())
                .collect()
        };
        for len in offsets {
            if let Err(e) = check_info(&bytes[..len], &counts) {
                panic!("{name} truncated to {len}: {e}");
            }
        }
    }
    counts.report("truncations (parser)", t);
}

#[test]
fn random_mutations_never_panic_the_parser() {
    let t = Instant::now();
    let counts = Counts::default();
    let models = seed_models(true);
    let mut r = runner(10_000 * scale(), 11);
    let result = r.run(&(0..models.len(), mutation_strategy()), |(m, mutation)| {
        let bytes = apply(&models[m].1, &mutation);
        check_info(&bytes, &counts).map(|_| ())
    });
    counts.report("random mutations (parser)", t);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn mangled_metadata_is_rejected_with_a_message_naming_the_key() {
    // Every required key set to every odd value, on the tiny model: each outcome is either
    // accepted (a valid alternative, e.g. `8000` Hz) or an error naming the key / the tensor.
    let tiny = std::fs::read(manifest().join("tests/data/tiny.onnx")).unwrap();
    let fields = top_fields(&tiny);
    let keys: Vec<String> = fields
        .iter()
        .filter(|f| f.0 == 14)
        .map(|f| String::from_utf8(entry_kv(&tiny[f.2.unwrap().0..f.2.unwrap().1]).0).unwrap())
        .collect();
    let values = [
        "",
        " ",
        "0",
        "-1",
        "+44100",
        "4294967296",
        "18446744073709551616",
        "1e3",
        "NaN",
        "0x400",
        "hamming",
        "2",
        "16",
        "65536",
    ];
    let mut n = 0;
    for key in REQUIRED_KEYS {
        let i =
            keys.iter().position(|k| k == key).unwrap_or_else(|| panic!("tiny.onnx lacks {key}"));
        for v in values {
            let bytes = rewrite_metadata(&tiny, &[MetaEdit::Set(i, v.to_string())]);
            match model_info_from_bytes(&bytes, Path::new("m.onnx")) {
                Ok(info) => assert!(
                    v.trim().parse::<u64>().is_ok() || key.ends_with("sha256"),
                    "{key}={v:?} accepted: {info:?}"
                ),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains("demix.") || msg.contains("tensor"), "{key}={v:?}: {msg}");
                }
            }
            n += 1;
        }
        let bytes = rewrite_metadata(&tiny, &[MetaEdit::Remove(i)]);
        let msg = model_info_from_bytes(&bytes, Path::new("m.onnx"))
            .expect_err("missing key")
            .to_string();
        assert!(msg.contains(key), "{msg}");
    }
    eprintln!("mangled metadata: {n} executions");
}

#[test]
fn corrupted_models_through_onnx_runtime_give_errors_not_crashes() {
    let Some(o) = ort("ort") else { return };
    let t = Instant::now();
    let counts = Counts::default();
    // The tiny models load in a few ms, so they get most of the ONNX Runtime budget; the
    // shipped model (0.8 MB, int8) a handful of cases.
    let tiny =
        seed_models(false).into_iter().filter(|(n, _)| n.starts_with("tiny")).collect::<Vec<_>>();
    let mut r = runner(500 * scale(), 21);
    let result = r.run(&(0..tiny.len(), mutation_strategy()), |(m, mutation)| {
        check_factory(&o, &apply(&tiny[m].1, &mutation), "tiny", &counts)
    });
    if let Err(e) = result {
        counts.report("ONNX Runtime (tiny models)", t);
        panic!("{e}");
    }
    // Byte flips inside the graph of the tiny model, byte by byte (the flips most likely to
    // reach ONNX Runtime with a broken graph that still passes the contract check).
    let base = &tiny[0].1;
    for i in 0..base.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = base.clone();
            b[i] ^= mask;
            if model_info_from_bytes(&b, Path::new("x.onnx")).is_ok() {
                check_factory(&o, &b, "flip", &counts)
                    .unwrap_or_else(|e| panic!("flip {mask:#x} at {i}: {e}"));
            }
        }
    }
    counts.report("ONNX Runtime (tiny models)", t);
    if let Some((_, big)) = seed_models(false).into_iter().find(|(n, _)| n == "demix.onnx") {
        let t = Instant::now();
        let counts = Counts::default();
        let mut r = runner(20 * scale(), 22);
        let result = r.run(&mutation_strategy(), |mutation| {
            check_factory(&o, &apply(&big, &mutation), "demix", &counts)
        });
        counts.report("ONNX Runtime (models/demix.onnx)", t);
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    let _ = std::fs::remove_dir_all(&o.dir);
}

/// A FIFO, `/dev/zero` or a directory chosen as the model must be an error at once, not a
/// worker that blocks forever (a FIFO) or reads until memory runs out (`/dev/zero`).
#[cfg(unix)]
#[test]
fn special_files_are_rejected_without_blocking() {
    let dir = std::env::temp_dir().join(format!("demix-fuzz-special-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.onnx");
    let mut paths = vec![PathBuf::from("/dev/zero"), dir.clone()];
    if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        paths.push(fifo);
    }
    let lib = ort("special").map(|o| {
        let _ = std::fs::remove_dir_all(&o.dir);
        o.lib
    });
    for p in paths {
        let (tx, rx) = std::sync::mpsc::channel();
        let (p2, lib2) = (p.clone(), lib.clone());
        std::thread::spawn(move || {
            let info = load_model_info(&p2).map(|_| ()).map_err(|e| e.to_string());
            let factory =
                lib2.map(|l| neural_factory(p2, l)(StftConfig::DEFAULT_44K, 2).map(|_| ()));
            let _ = tx.send((info, factory));
        });
        let (info, factory) = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("loading {} did not return within 20 s", p.display()));
        let e = info.expect_err("special file accepted");
        assert!(
            e.contains("not a regular file") || e.contains("cannot read"),
            "{}: {e}",
            p.display()
        );
        if let Some(f) = factory {
            assert!(f.is_err(), "{}: factory accepted it", p.display());
        }
        eprintln!("{}: {e}", p.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
