"""Contract checks for the committed models (models/CONTRACT.md), with onnxruntime only.

Runs in CI with models/requirements-ci.txt (numpy, onnx, onnxruntime, pytest): no torch here.
    python -m pytest models/tests/test_contract.py -q
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

MODELS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(MODELS, "fixtures")
REQUIRED = ["demix.sample_rate", "demix.n_fft", "demix.hop", "demix.window", "demix.stems",
            "demix.frames_per_call", "demix.version", "demix.data_manifest_sha256"]
MODEL_FILES = ["demix_fp32.onnx", "demix.onnx"]


def _ref():
    with open(os.path.join(FIX, "reference.json")) as f:
        ref = json.load(f)
    raw = np.fromfile(os.path.join(FIX, "reference.bin"), dtype="<f4")
    T, K, S = ref["frames"], ref["bins"], ref["stems"]
    n_in, n_m = T * 2 * 2 * K, T * S * 2 * 2 * K
    assert raw.size == n_in + 2 * n_m, "reference.bin size disagrees with reference.json"
    spec = raw[:n_in].reshape(T, 2, 2, K)
    m32 = raw[n_in:n_in + n_m].reshape(T, S, 2, 2, K)
    m8 = raw[n_in + n_m:].reshape(T, S, 2, 2, K)
    return ref, spec, {"demix_fp32.onnx": m32, "demix.onnx": m8}


def _meta(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def _session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def project(mask):
    S = mask.shape[0]
    tot = mask.sum(0)
    one = np.zeros_like(tot)
    one[:, 0, :] = 1.0
    return mask + (one - tot)[None] / S


@pytest.mark.parametrize("name", MODEL_FILES)
def test_metadata(name):
    meta = _meta(os.path.join(MODELS, name))
    for k in REQUIRED:
        assert k in meta, f"{name}: missing metadata {k}"
    assert meta["demix.window"] == "hann"
    assert meta["demix.frames_per_call"] == "1"
    assert meta["demix.version"] == "1"
    assert meta["demix.stems"] == "vocals,drums,bass,other"
    assert int(meta["demix.n_fft"]) == 4 * int(meta["demix.hop"])
    assert int(meta["demix.sample_rate"]) == 44100
    assert len(meta["demix.data_manifest_sha256"]) == 64
    int(meta["demix.data_manifest_sha256"], 16)


@pytest.mark.parametrize("name", MODEL_FILES)
def test_committed_training_manifest_is_the_one_the_model_names(name):
    # Provenance: the manifest of the data the shipped weights last trained on is committed,
    # and the model's metadata names exactly that file (sha256 of its bytes).
    import hashlib
    with open(os.path.join(MODELS, "training-manifest.json"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    assert _meta(os.path.join(MODELS, name))["demix.data_manifest_sha256"] == sha


@pytest.mark.parametrize("name", MODEL_FILES)
def test_io_shapes(name):
    path = os.path.join(MODELS, name)
    meta = _meta(path)
    bins = int(meta["demix.n_fft"]) // 2 + 1
    stems = len(meta["demix.stems"].split(","))
    sess = _session(path)
    ins = {i.name: i for i in sess.get_inputs()}
    outs = {o.name: o for o in sess.get_outputs()}
    assert ins["spec"].shape == [2, 2, bins]
    assert outs["mask"].shape == [stems, 2, 2, bins]
    for i in list(ins.values()) + list(outs.values()):
        assert i.type == "tensor(float)", i.name
        assert all(isinstance(d, int) and d > 0 for d in i.shape), f"{i.name}: not static {i.shape}"
    s_in = {n[len("state_in_"):]: v for n, v in ins.items() if n != "spec"}
    s_out = {n[len("state_out_"):]: v for n, v in outs.items() if n != "mask"}
    assert all(n.startswith("state_in_") for n in ins if n != "spec")
    assert all(n.startswith("state_out_") for n in outs if n != "mask")
    assert set(s_in) == set(s_out) and s_in
    for k in s_in:
        assert s_in[k].shape == s_out[k].shape


@pytest.mark.parametrize("name", MODEL_FILES)
def test_reference_vectors(name):
    ref, spec, expected = _ref()
    tol = ref["models"][name]["tolerance"]
    sess = _session(os.path.join(MODELS, name))
    state = {i.name: np.zeros(i.shape, np.float32) for i in sess.get_inputs() if i.name != "spec"}
    onames = [o.name for o in sess.get_outputs()]
    for t in range(ref["frames"]):
        res = dict(zip(onames, sess.run(None, {"spec": spec[t], **state})))
        for k in state:
            state[k] = res["state_out_" + k[len("state_in_"):]]
        got = project(res["mask"])
        # projected masks sum to 1 + 0j
        s = got.sum(0)
        assert np.allclose(s[:, 0], 1.0, atol=1e-5) and np.allclose(s[:, 1], 0.0, atol=1e-5)
        err = float(np.abs(got - expected[name][t]).max())
        assert err <= tol, f"{name} frame {t}: max abs diff {err} > {tol}"


def test_models_small():
    for name in MODEL_FILES:
        assert os.path.getsize(os.path.join(MODELS, name)) < 8e6


def test_int8_is_quantized():
    m = onnx.load(os.path.join(MODELS, "demix.onnx"))
    quantization = _meta(os.path.join(MODELS, "demix.onnx")).get("demix.quantization", "")
    assert quantization.startswith("int8")
    if quantization == "int8-weights":
        # weight-only: every MatMul/Gemm weight comes from an int8 initializer through Cast
        int8 = {i.name for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8}
        cast_of = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Cast"}
        scaled = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Mul"}
        fp32 = {i.name for i in m.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) >= 2}
        for n in m.graph.node:
            if n.op_type in ("MatMul", "Gemm"):
                w = n.input[1]
                assert w not in fp32, f"{n.name}: fp32 weight {w}"
                if w in scaled:
                    assert cast_of.get(scaled[w]) in int8, f"{n.name}: weight {w} is not from int8"
        assert int8
    else:
        ops = {n.op_type for n in m.graph.node}
        assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "QLinearMatMul"}
