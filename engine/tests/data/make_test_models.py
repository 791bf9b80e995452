#!/usr/bin/env python3
"""Generates the tiny contract-following ONNX models the engine tests use.

Run with any Python that has the `onnx` package (e.g. the repo's .venv):
    .venv/bin/python engine/tests/data/make_test_models.py
The outputs are committed; they are a few kB each.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
BINS = 513

META = {
    "demix.sample_rate": "44100",
    "demix.n_fft": "1024",
    "demix.hop": "256",
    "demix.window": "hann",
    "demix.stems": "vocals,drums,bass,other",
    "demix.frames_per_call": "1",
    "demix.version": "1",
    "demix.data_manifest_sha256": "0" * 64,
    "demix.name": "tiny-test",
    "demix.quantization": "fp32",
}


def tiny_graph(gather_trap=False):
    """state_out_h = 0.5 * state_in_h + 0.5 * spec;  mask[s] = tanh(w[s] * state_out_h + b[s]).

    With `gather_trap`, the mask also adds 0 * table[int(spec[0,0,0])]: a value of spec[0,0,0]
    outside 0..3 makes ONNX Runtime fail at run time (an inference error mid-stream).
    """
    spec = helper.make_tensor_value_info("spec", TensorProto.FLOAT, [2, 2, BINS])
    s_in = helper.make_tensor_value_info("state_in_h", TensorProto.FLOAT, [2, 2, BINS])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [4, 2, 2, BINS])
    s_out = helper.make_tensor_value_info("state_out_h", TensorProto.FLOAT, [2, 2, BINS])
    inits = [
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([0.9, -0.4, 0.25, 0.6], np.float32).reshape(4, 1, 1, 1), "w"),
        numpy_helper.from_array(np.array([0.1, 0.2, -0.3, 0.05], np.float32).reshape(4, 1, 1, 1), "b"),
    ]
    nodes = [
        helper.make_node("Add", ["state_in_h", "spec"], ["sum"]),
        helper.make_node("Mul", ["sum", "half"], ["state_out_h"]),
        helper.make_node("Unsqueeze", ["state_out_h", "axis0"], ["h4"]),
        helper.make_node("Mul", ["h4", "w"], ["wh"]),
        helper.make_node("Add", ["wh", "b"], ["pre"]),
    ]
    if gather_trap:
        inits += [
            numpy_helper.from_array(np.zeros(4, np.float32), "table"),
            numpy_helper.from_array(np.array([0, 0, 0], np.int64), "starts"),
            numpy_helper.from_array(np.array([1, 1, 1], np.int64), "ends"),
            numpy_helper.from_array(np.array([], np.int64), "empty_shape"),
        ]
        nodes = nodes[:-1] + [
            helper.make_node("Slice", ["spec", "starts", "ends"], ["first"]),
            helper.make_node("Reshape", ["first", "empty_shape"], ["first_scalar"]),
            helper.make_node("Cast", ["first_scalar"], ["idx"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "idx"], ["trap"]),
            helper.make_node("Add", ["wh", "b"], ["pre0"]),
            helper.make_node("Add", ["pre0", "trap"], ["pre"]),
        ]
    nodes.append(helper.make_node("Tanh", ["pre"], ["mask"]))
    graph = helper.make_graph(nodes, "tiny", [spec, s_in], [mask, s_out], inits)
    return graph


def save(graph, meta, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    path = os.path.join(HERE, name)
    onnx.save(model, path)
    print(path, os.path.getsize(path), "bytes")


def main():
    save(tiny_graph(), META, "tiny.onnx")
    no_hop = {k: v for k, v in META.items() if k != "demix.hop"}
    save(tiny_graph(), no_hop, "tiny_no_hop.onnx")
    # Metadata says n_fft 512 (257 bins) but the tensors carry 513 bins.
    wrong = dict(META, **{"demix.n_fft": "512", "demix.hop": "128"})
    save(tiny_graph(), wrong, "tiny_wrong_bins.onnx")
    save(tiny_graph(gather_trap=True), META, "tiny_trap.onnx")


if __name__ == "__main__":
    main()
