"""Synthetic ONNX graphs with the real swapper / mask / enhancer signatures (models we cannot ship).

Built with the `onnx` helper API; each returns the serialised model bytes or writes a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def identity_swapper(path: Path, size: int = 128, batch: int | str = 1, source_dim: int = 512,
                     with_mask: bool = False) -> Path:
    """A swapper whose output is its `target` input (and, with_mask, a `mask` of ones)."""
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, size, size])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, source_dim])
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])]
    nodes = [helper.make_node("Identity", ["target"], ["output"])]
    initializers = []
    if with_mask:
        # mask = mean over channels × 0 + 1: ones of shape (N, 1, S, S)
        initializers += [numpy_helper.from_array(np.array(0, np.float32), "zero"),
                         numpy_helper.from_array(np.array(1, np.float32), "one")]
        nodes += [helper.make_node("ReduceMean", ["target"], ["channel_mean"], axes=[1], keepdims=1),
                  helper.make_node("Mul", ["channel_mean", "zero"], ["zeros"]),
                  helper.make_node("Add", ["zeros", "one"], ["mask"])]
        outputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [batch, 1, size, size]))
    graph = helper.make_graph(nodes, "identity_swapper", [target, source], outputs, initializers)
    return _save(graph, path)


def inswapper_like(path: Path, emap: np.ndarray, size: int = 128, batch: int | str = 1) -> Path:
    """inswapper_128's signature: output = target + source[:, :3] per channel; `emap` is the last initializer.

    The output reveals both the pre-processing (RGB, [0, 1]) and the latent fed as `source`.
    """
    dim = emap.shape[0]
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, size, size])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, dim])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])
    initializers = [
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([3], np.int64), "ends"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "spatial_axes"),
        numpy_helper.from_array(emap.astype(np.float32), "emap"),  # last, as in the real file
    ]
    nodes = [
        helper.make_node("Slice", ["source", "starts", "ends", "axes"], ["source_rgb"]),
        helper.make_node("Unsqueeze", ["source_rgb", "spatial_axes"], ["offset"]),
        helper.make_node("Add", ["target", "offset"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "inswapper_like", [target, source], [output], initializers)
    return _save(graph, path)


def constant_mask_model(path: Path, mask: np.ndarray, nhwc: bool) -> Path:
    """An xseg-like (NHWC in, (1,S,S,1) out) or bisenet-like (NCHW in, (1,C,S,S) logits) graph returning `mask`."""
    size = mask.shape[1] if nhwc else mask.shape[2]
    shape_in = [1, size, size, 3] if nhwc else [1, 3, size, size]
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape_in)
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(mask.shape))
    initializers = [numpy_helper.from_array(mask.astype(np.float32), "constant"),
                    numpy_helper.from_array(np.array(0, np.float32), "zero")]
    nodes = [helper.make_node("ReduceMean", ["input"], ["scalar"], keepdims=0),
             helper.make_node("Mul", ["scalar", "zero"], ["nothing"]),
             helper.make_node("Add", ["constant", "nothing"], ["output"])]
    graph = helper.make_graph(nodes, "constant_mask", [image], [output], initializers)
    return _save(graph, path)


def negate_enhancer(path: Path, size: int = 512) -> Path:
    """gfpgan's signature ((1,3,S,S) in [-1, 1] → same): returns the negative image, so its effect is visible."""
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])
    graph = helper.make_graph([helper.make_node("Neg", ["input"], ["output"])], "negate", [image], [output])
    return _save(graph, path)
