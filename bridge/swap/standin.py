"""Random-weight stand-ins for licensed swap models: the same layers and tensor shapes, so a
benchmark measures the real compute (and memory) without the non-commercial weights.

inswapper_128's architecture follows docs/models.md §5: a conv encoder, six AdaIN residual blocks
styled by the 512-d source latent, an upsampling decoder, and `emap` as the last initializer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bridge.runtime.onnx import SessionFactory
from bridge.swap.inswapper import InSwapper

STANDIN_NAME = "inswapper_standin"


def build_inswapper_standin(path: Path) -> Path:
    """A random-weight graph with inswapper_128's layers (≈138 M parameters), built with the onnx helper API."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def weight(name: str, shape: tuple[int, ...]) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) * 0.02), name))
        return name

    def conv(x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0, name: str = "") -> str:
        out = f"{name}_out"
        nodes.append(helper.make_node("Conv", [x, weight(f"{name}_w", (cout, cin, k, k)), weight(f"{name}_b", (cout,))],
                                      [out], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        return out

    def act(x: str, op: str, name: str, **kw: Any) -> str:
        nodes.append(helper.make_node(op, [x], [f"{name}_{op}"], **kw))
        return f"{name}_{op}"

    def reflect(x: str, p: int, name: str) -> str:
        inits.append(numpy_helper.from_array(np.array([0, 0, p, p, 0, 0, p, p], np.int64), f"{name}_pads"))
        nodes.append(helper.make_node("Pad", [x, f"{name}_pads"], [f"{name}_pad"], mode="reflect"))
        return f"{name}_pad"

    x = act(conv(reflect("target", 3, "e0"), 3, 128, 7, name="e0"), "LeakyRelu", "e0", alpha=0.2)
    x = act(conv(x, 128, 256, 3, pad=1, name="e1"), "LeakyRelu", "e1", alpha=0.2)
    x = act(conv(x, 256, 512, 3, 2, 1, name="e2"), "LeakyRelu", "e2", alpha=0.2)
    x = act(conv(x, 512, 1024, 3, 2, 1, name="e3"), "LeakyRelu", "e3", alpha=0.2)
    for block in range(6):
        skip = x
        for half in range(2):
            name = f"r{block}_{half}"
            y = conv(reflect(x, 1, name), 1024, 1024, 3, name=name)
            nodes.append(helper.make_node("InstanceNormalization", [y, weight(f"{name}_s", (1024,)),
                                                                    weight(f"{name}_t", (1024,))], [f"{name}_in"]))
            nodes.append(helper.make_node("Gemm", ["source", weight(f"{name}_g", (512, 2048)),
                                                   weight(f"{name}_gb", (2048,))], [f"{name}_style"]))
            inits.append(numpy_helper.from_array(np.array([-1, 2048, 1, 1], np.int64), f"{name}_shape"))
            nodes.append(helper.make_node("Reshape", [f"{name}_style", f"{name}_shape"], [f"{name}_style4"]))
            inits.append(numpy_helper.from_array(np.array([1024, 1024], np.int64), f"{name}_split"))
            nodes.append(helper.make_node("Split", [f"{name}_style4", f"{name}_split"], [f"{name}_gamma", f"{name}_beta"],
                                          axis=1))
            nodes.append(helper.make_node("Mul", [f"{name}_in", f"{name}_gamma"], [f"{name}_scaled"]))
            nodes.append(helper.make_node("Add", [f"{name}_scaled", f"{name}_beta"], [f"{name}_adain"]))
            x = act(f"{name}_adain", "Relu", name) if half == 0 else f"{name}_adain"
        nodes.append(helper.make_node("Add", [skip, x], [f"r{block}_res"]))
        x = f"r{block}_res"
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    for index, (cin, cout, up) in enumerate([(1024, 512, True), (512, 256, True), (256, 128, False)]):
        if up:
            nodes.append(helper.make_node("Resize", [x, "", "up_scales"], [f"d{index}_up"], mode="linear"))
            x = f"d{index}_up"
        x = act(conv(x, cin, cout, 3, pad=1, name=f"d{index}"), "LeakyRelu", f"d{index}", alpha=0.2)
    x = act(conv(reflect(x, 3, "o"), 128, 3, 7, name="o"), "Tanh", "o")
    inits.append(numpy_helper.from_array(np.array(1, np.float32), "one"))
    inits.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
    nodes.append(helper.make_node("Add", [x, "one"], ["plus_one"]))
    nodes.append(helper.make_node("Mul", ["plus_one", "half"], ["output"]))
    inits.append(numpy_helper.from_array(rng.standard_normal((512, 512), dtype=np.float32), "emap"))
    graph = helper.make_graph(nodes, "inswapper_standin",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def inswapper_standin(cache_dir: Path, sessions: SessionFactory | None = None) -> InSwapper:
    """The stand-in as a swapper, its graph built once into `cache_dir` (≈550 MB of float32 weights)."""
    path = cache_dir / f"{STANDIN_NAME}.onnx"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        build_inswapper_standin(partial)
        partial.replace(path)  # a run stopped half-way leaves no half-written model behind
    return InSwapper(path, sessions=sessions, name=STANDIN_NAME)
