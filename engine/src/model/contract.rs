//! Reads and validates a model's contract (`models/CONTRACT.md`) straight from the ONNX file,
//! without ONNX Runtime: the `demix.*` metadata and the input/output tensor shapes.
//!
//! Used by the plugin and the CLI to choose the STFT before anything is built
//! ([`load_model_info`] runs on any thread, needs no runtime library), and by
//! [`crate::model::neural::NeuralSeparator`] to reject a model before creating a session.

use std::path::{Path, PathBuf};

use crate::dsp::stft::StftConfig;
use crate::stem::{N_STEMS, STEM_NAMES};

/// Contract versions this host understands (`demix.version`).
pub const SUPPORTED_CONTRACT_VERSIONS: &[u32] = &[1];

/// Metadata keys every model must carry.
pub const REQUIRED_KEYS: &[&str] = &[
    "demix.sample_rate",
    "demix.n_fft",
    "demix.hop",
    "demix.window",
    "demix.stems",
    "demix.frames_per_call",
    "demix.version",
    "demix.data_manifest_sha256",
];

/// Why a model file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// The model path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable ONNX model (corrupt or truncated).
    #[error("{path} is not a valid ONNX model (corrupt or truncated file?): {reason}")]
    Corrupt {
        /// The model path.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// A required `demix.*` metadata key is absent.
    #[error("model metadata lacks the required key `{key}` (see models/CONTRACT.md)")]
    MissingMetadata {
        /// The missing key.
        key: &'static str,
    },
    /// A metadata value is present but not acceptable.
    #[error("model metadata `{key}` = \"{value}\" is not supported: {expected}")]
    BadMetadata {
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What the host accepts.
        expected: String,
    },
    /// A tensor the contract requires is absent.
    #[error("model has no {kind} tensor named `{name}` (see models/CONTRACT.md)")]
    MissingTensor {
        /// "input" or "output".
        kind: &'static str,
        /// The tensor name.
        name: String,
    },
    /// A tensor's type or shape disagrees with the contract or the metadata.
    #[error("model tensor `{name}`: {reason}")]
    BadTensor {
        /// The tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the contract does not allow.
    #[error("model has an unexpected {kind} tensor `{name}` (only `spec`/`mask` and state_in_*/state_out_* pairs are allowed)")]
    UnexpectedTensor {
        /// "input" or "output".
        kind: &'static str,
        /// The tensor name.
        name: String,
    },
}

/// A recurrent state tensor pair `state_in_<name>` / `state_out_<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInfo {
    /// The suffix after `state_in_` / `state_out_`.
    pub name: String,
    /// The static shape.
    pub shape: Vec<usize>,
}

impl StateInfo {
    /// Name of the input tensor.
    pub fn input_name(&self) -> String {
        format!("state_in_{}", self.name)
    }
    /// Name of the output tensor.
    pub fn output_name(&self) -> String {
        format!("state_out_{}", self.name)
    }
}

/// Everything the host needs to know about a model, validated against the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The model's sample rate in Hz (`demix.sample_rate`).
    pub sample_rate: u32,
    /// Frame size at the model's rate (`demix.n_fft`).
    pub n_fft: usize,
    /// Hop at the model's rate (`demix.hop`, always `n_fft / 4`).
    pub hop: usize,
    /// Stem names in the model's output order (`demix.stems`).
    pub stems: Vec<String>,
    /// Display name (`demix.name`, or the file stem when absent).
    pub name: String,
    /// Contract version (`demix.version`).
    pub version: u32,
    /// `demix.quantization` if present (`int8-weights`, `int8-dynamic`, `fp32`, ...).
    pub quantization: Option<String>,
    /// `demix.data_manifest_sha256`.
    pub data_manifest_sha256: String,
    /// Recurrent state pairs, in the order of the graph's inputs.
    pub states: Vec<StateInfo>,
    /// `model_stem_index[engine_stem]`: where each of [`STEM_NAMES`] is in the model's output.
    pub model_stem_index: [usize; N_STEMS],
}

impl ModelInfo {
    /// Number of frequency bins the model sees, `n_fft / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The STFT at the model's own sample rate.
    pub fn stft(&self) -> StftConfig {
        StftConfig::from_hop(self.hop)
    }

    /// The STFT to use at `sample_rate_hz` so that bins keep the model's frequencies
    /// (see "Other sample rates" in the contract).
    pub fn stft_for_rate(&self, sample_rate_hz: f64) -> StftConfig {
        StftConfig::scaled(self.stft(), self.sample_rate as f64, sample_rate_hz)
    }

    /// Short description for the GUI and logs, e.g. `msnet-lite-v2 (int8-weights, 44100 Hz)`.
    pub fn describe(&self) -> String {
        match &self.quantization {
            Some(q) => format!("{} ({q}, {} Hz)", self.name, self.sample_rate),
            None => format!("{} ({} Hz)", self.name, self.sample_rate),
        }
    }
}

/// Largest model file accepted, in bytes (protobuf, and so ONNX, cannot go beyond 2 GiB).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Reads a model file's bytes. Only a regular file (or a link to one) of at most
/// [`MAX_MODEL_BYTES`] is read: a FIFO would block the reading thread forever and a device such
/// as `/dev/zero` would never end.
pub fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    use std::io::Read;
    let io = |source| ModelError::Io { path: path.to_path_buf(), source };
    let other = |msg: String| io(std::io::Error::other(msg));
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(other("not a regular file".into()));
    }
    if meta.len() > MAX_MODEL_BYTES {
        return Err(other(format!(
            "{} bytes is larger than the {MAX_MODEL_BYTES}-byte limit",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_MODEL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(other(format!("larger than the {MAX_MODEL_BYTES}-byte limit")));
    }
    Ok(bytes)
}

/// Reads `path` and validates it against the contract. Needs no ONNX Runtime; any thread.
pub fn load_model_info(path: &Path) -> Result<ModelInfo, ModelError> {
    let bytes = read_model_file(path)?;
    model_info_from_bytes(&bytes, path)
}

/// Like [`load_model_info`] for a model already in memory (`path` is only used in messages
/// and for the default name).
pub fn model_info_from_bytes(bytes: &[u8], path: &Path) -> Result<ModelInfo, ModelError> {
    let raw = parse_model(bytes)
        .map_err(|reason| ModelError::Corrupt { path: path.to_path_buf(), reason })?;
    let fallback_name =
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    validate(raw, fallback_name)
}

fn meta<'a>(raw: &'a RawModel, key: &'static str) -> Result<&'a str, ModelError> {
    raw.metadata
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .ok_or(ModelError::MissingMetadata { key })
}

fn meta_num(raw: &RawModel, key: &'static str, min: u64, max: u64) -> Result<u64, ModelError> {
    let v = meta(raw, key)?;
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ModelError::BadMetadata {
            key,
            value: v.to_string(),
            expected: format!("an integer in {min}..={max}"),
        }),
    }
}

fn validate(raw: RawModel, fallback_name: String) -> Result<ModelInfo, ModelError> {
    for key in REQUIRED_KEYS {
        meta(&raw, key)?;
    }
    let version = meta_num(&raw, "demix.version", 0, u32::MAX as u64)? as u32;
    if !SUPPORTED_CONTRACT_VERSIONS.contains(&version) {
        return Err(ModelError::BadMetadata {
            key: "demix.version",
            value: version.to_string(),
            expected: format!("contract version {SUPPORTED_CONTRACT_VERSIONS:?}"),
        });
    }
    let sample_rate = meta_num(&raw, "demix.sample_rate", 8_000, 384_000)? as u32;
    let n_fft = meta_num(&raw, "demix.n_fft", 16, 1 << 16)? as usize;
    let hop = meta_num(&raw, "demix.hop", 4, 1 << 14)? as usize;
    if n_fft != 4 * hop {
        return Err(ModelError::BadMetadata {
            key: "demix.hop",
            value: hop.to_string(),
            expected: format!("n_fft / 4 = {} (the host's STFT uses 75 % overlap)", n_fft / 4),
        });
    }
    let window = meta(&raw, "demix.window")?;
    if !window.eq_ignore_ascii_case("hann") {
        return Err(ModelError::BadMetadata {
            key: "demix.window",
            value: window.to_string(),
            expected: "hann".into(),
        });
    }
    let fpc = meta(&raw, "demix.frames_per_call")?;
    if fpc != "1" {
        return Err(ModelError::BadMetadata {
            key: "demix.frames_per_call",
            value: fpc.to_string(),
            expected: "1".into(),
        });
    }
    let stems_raw = meta(&raw, "demix.stems")?;
    let stems: Vec<String> = stems_raw.split(',').map(|s| s.trim().to_ascii_lowercase()).collect();
    let mut model_stem_index = [0usize; N_STEMS];
    let stems_ok = stems.len() == N_STEMS
        && STEM_NAMES.iter().enumerate().all(|(e, want)| {
            stems.iter().position(|s| s == want).map(|i| model_stem_index[e] = i).is_some()
        });
    if !stems_ok {
        return Err(ModelError::BadMetadata {
            key: "demix.stems",
            value: stems_raw.to_string(),
            expected: format!("the four stems {} in any order", STEM_NAMES.join(",")),
        });
    }
    let sha = meta(&raw, "demix.data_manifest_sha256")?.to_string();
    let name = raw
        .metadata
        .iter()
        .rev()
        .find(|(k, _)| k == "demix.name")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or(fallback_name);
    let quantization = raw
        .metadata
        .iter()
        .rev()
        .find(|(k, _)| k == "demix.quantization")
        .map(|(_, v)| v.trim().to_string());

    // Tensors. Older IR versions list initializers among the inputs; those are not graph inputs.
    let inputs: Vec<&RawTensor> =
        raw.inputs.iter().filter(|t| !raw.initializers.contains(&t.name)).collect();
    let bins = n_fft / 2 + 1;
    let static_shape = |t: &RawTensor| -> Result<Vec<usize>, ModelError> {
        if t.elem_type != Some(ELEM_FLOAT) {
            return Err(ModelError::BadTensor {
                name: t.name.clone(),
                reason: format!("element type must be float32, found {}", elem_name(t.elem_type)),
            });
        }
        let dims = t.dims.as_ref().ok_or_else(|| ModelError::BadTensor {
            name: t.name.clone(),
            reason: "has no shape; the contract requires static shapes".into(),
        })?;
        dims.iter()
            .map(|d| match d {
                Dim::Value(v) if *v > 0 => Ok(*v as usize),
                Dim::Value(v) => Err(format!("dimension {v}")),
                Dim::Param(p) => Err(format!("symbolic dimension `{p}`")),
                Dim::Unknown => Err("unknown dimension".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|what| ModelError::BadTensor {
                name: t.name.clone(),
                reason: format!("has a {what}; the contract requires static shapes"),
            })
    };
    let expect_shape = |t: &RawTensor, want: &[usize]| -> Result<(), ModelError> {
        let got = static_shape(t)?;
        if got != want {
            return Err(ModelError::BadTensor {
                name: t.name.clone(),
                reason: format!(
                    "shape {got:?} disagrees with the metadata (n_fft {n_fft}, {} stems): expected {want:?}",
                    stems.len()
                ),
            });
        }
        Ok(())
    };

    let spec = inputs
        .iter()
        .find(|t| t.name == "spec")
        .ok_or_else(|| ModelError::MissingTensor { kind: "input", name: "spec".into() })?;
    expect_shape(spec, &[2, 2, bins])?;
    let mask = raw
        .outputs
        .iter()
        .find(|t| t.name == "mask")
        .ok_or_else(|| ModelError::MissingTensor { kind: "output", name: "mask".into() })?;
    expect_shape(mask, &[N_STEMS, 2, 2, bins])?;

    let mut states = Vec::new();
    for t in &inputs {
        if t.name == "spec" {
            continue;
        }
        let Some(suffix) = t.name.strip_prefix("state_in_") else {
            return Err(ModelError::UnexpectedTensor { kind: "input", name: t.name.clone() });
        };
        let shape = static_shape(t)?;
        let out_name = format!("state_out_{suffix}");
        let out = raw
            .outputs
            .iter()
            .find(|o| o.name == out_name)
            .ok_or(ModelError::MissingTensor { kind: "output", name: out_name })?;
        let out_shape = static_shape(out)?;
        if out_shape != shape {
            return Err(ModelError::BadTensor {
                name: out.name.clone(),
                reason: format!("shape {out_shape:?} differs from `{}` {shape:?}", t.name),
            });
        }
        states.push(StateInfo { name: suffix.to_string(), shape });
    }
    for o in &raw.outputs {
        if o.name == "mask" {
            continue;
        }
        match o.name.strip_prefix("state_out_") {
            Some(suffix) if states.iter().any(|s| s.name == suffix) => {}
            Some(suffix) => {
                return Err(ModelError::MissingTensor {
                    kind: "input",
                    name: format!("state_in_{suffix}"),
                })
            }
            None => {
                return Err(ModelError::UnexpectedTensor { kind: "output", name: o.name.clone() })
            }
        }
    }

    Ok(ModelInfo {
        sample_rate,
        n_fft,
        hop,
        stems,
        name,
        version,
        quantization,
        data_manifest_sha256: sha,
        states,
        model_stem_index,
    })
}

// ---------------------------------------------------------------------------------------------
// A minimal protobuf reader for the parts of onnx.ModelProto the contract needs.

const ELEM_FLOAT: i64 = 1;

fn elem_name(t: Option<i64>) -> String {
    match t {
        Some(1) => "float32".into(),
        Some(10) => "float16".into(),
        Some(11) => "float64".into(),
        Some(6) => "int32".into(),
        Some(7) => "int64".into(),
        Some(3) => "int8".into(),
        Some(2) => "uint8".into(),
        Some(16) => "bfloat16".into(),
        Some(n) => format!("ONNX type {n}"),
        None => "none (not a tensor)".into(),
    }
}

#[derive(Debug, Default)]
struct RawModel {
    metadata: Vec<(String, String)>,
    inputs: Vec<RawTensor>,
    outputs: Vec<RawTensor>,
    initializers: Vec<String>,
}

#[derive(Debug, Default)]
struct RawTensor {
    name: String,
    elem_type: Option<i64>,
    dims: Option<Vec<Dim>>,
}

#[derive(Debug)]
enum Dim {
    Value(i64),
    Param(String),
    Unknown,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("unexpected end of data in a varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        if self.buf.len() - self.pos < n {
            return Err(format!(
                "a field of {n} bytes runs past the end of its message at offset {}",
                self.pos
            ));
        }
        self.pos += n;
        Ok(())
    }

    /// Next `(field number, value)`, or `None` at the end of the message.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        if num == 0 {
            return Err("field number 0".into());
        }
        let f = match wire {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                let start = self.pos;
                self.skip(len)?;
                Field::Bytes(&self.buf[start..start + len])
            }
            5 => {
                self.skip(4)?;
                Field::Fixed
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((num, f)))
    }
}

fn string(b: &[u8]) -> Result<String, String> {
    std::str::from_utf8(b).map(str::to_owned).map_err(|_| "invalid UTF-8 in a string field".into())
}

fn parse_model(buf: &[u8]) -> Result<RawModel, String> {
    if buf.is_empty() {
        return Err("the file is empty".into());
    }
    let mut m = RawModel::default();
    let mut r = Reader::new(buf);
    let mut have_graph = false;
    let mut have_ir = false;
    while let Some((num, f)) = r.next()? {
        match (num, f) {
            (1, Field::Varint(_)) => have_ir = true,
            (7, Field::Bytes(g)) => {
                parse_graph(g, &mut m)?;
                have_graph = true;
            }
            (14, Field::Bytes(p)) => {
                let (mut k, mut v) = (String::new(), String::new());
                let mut pr = Reader::new(p);
                while let Some((n, f)) = pr.next()? {
                    match (n, f) {
                        (1, Field::Bytes(b)) => k = string(b)?,
                        (2, Field::Bytes(b)) => v = string(b)?,
                        _ => {}
                    }
                }
                m.metadata.push((k, v));
            }
            _ => {}
        }
    }
    if !have_ir || !have_graph {
        return Err("no ir_version or no graph found".into());
    }
    Ok(m)
}

fn parse_graph(buf: &[u8], m: &mut RawModel) -> Result<(), String> {
    let mut r = Reader::new(buf);
    while let Some((num, f)) = r.next()? {
        match (num, f) {
            (5, Field::Bytes(t)) => {
                // TensorProto: name = 8.
                let mut tr = Reader::new(t);
                while let Some((n, f)) = tr.next()? {
                    if let (8, Field::Bytes(b)) = (n, f) {
                        m.initializers.push(string(b)?);
                    }
                }
            }
            (11, Field::Bytes(v)) => m.inputs.push(parse_value_info(v)?),
            (12, Field::Bytes(v)) => m.outputs.push(parse_value_info(v)?),
            _ => {}
        }
    }
    Ok(())
}

fn parse_value_info(buf: &[u8]) -> Result<RawTensor, String> {
    let mut t = RawTensor::default();
    let mut r = Reader::new(buf);
    while let Some((num, f)) = r.next()? {
        match (num, f) {
            (1, Field::Bytes(b)) => t.name = string(b)?,
            (2, Field::Bytes(ty)) => {
                // TypeProto: tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1, dim_param = 2 } } }
                let mut tr = Reader::new(ty);
                while let Some((n, f)) = tr.next()? {
                    let (1, Field::Bytes(tt)) = (n, f) else { continue };
                    let mut ttr = Reader::new(tt);
                    while let Some((n, f)) = ttr.next()? {
                        match (n, f) {
                            (1, Field::Varint(e)) => t.elem_type = Some(e as i64),
                            (2, Field::Bytes(shape)) => {
                                let mut dims = Vec::new();
                                let mut sr = Reader::new(shape);
                                while let Some((n, f)) = sr.next()? {
                                    let (1, Field::Bytes(d)) = (n, f) else { continue };
                                    let mut dim = Dim::Unknown;
                                    let mut dr = Reader::new(d);
                                    while let Some((n, f)) = dr.next()? {
                                        match (n, f) {
                                            (1, Field::Varint(v)) => dim = Dim::Value(v as i64),
                                            (2, Field::Bytes(p)) => dim = Dim::Param(string(p)?),
                                            _ => {}
                                        }
                                    }
                                    dims.push(dim);
                                }
                                t.dims = Some(dims);
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny.onnx")).unwrap()
    }

    #[test]
    fn reads_the_tiny_model() {
        let info = model_info_from_bytes(&tiny(), Path::new("tiny.onnx")).unwrap();
        assert_eq!((info.sample_rate, info.n_fft, info.hop), (44100, 1024, 256));
        assert_eq!(info.name, "tiny-test");
        assert_eq!(info.states, vec![StateInfo { name: "h".into(), shape: vec![2, 2, 513] }]);
        assert_eq!(info.model_stem_index, [0, 1, 2, 3]);
        assert_eq!(info.stft_for_rate(48000.0), StftConfig::from_hop(279));
    }

    #[test]
    fn every_truncation_is_rejected_without_panicking() {
        let bytes = tiny();
        for len in 0..bytes.len() {
            // Cutting exactly before the optional last metadata entry leaves a valid model.
            if let Ok(info) = model_info_from_bytes(&bytes[..len], Path::new("t.onnx")) {
                assert!(info.quantization.is_none(), "length {len} accepted");
            }
        }
    }
}
