"""Small ONNX graphs with the real models' input/output names and shapes (for tests of models we cannot ship).

Built with the `onnx` helper API. Each graph really reads its input (so onnxruntime cannot
fold it away) and returns hand-set tensors, so the real loading, manifest validation and
pre/post-processing code runs end to end. Reusable by other developers' tests:

    from tests import onnx_graphs
    path = onnx_graphs.save(onnx_graphs.inswapper_graph(), tmp_path / "inswapper_128.onnx")
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(nodes: list, inputs: list, outputs: list, initializers: list) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "synthetic", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facebridge-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _value(name: str, shape: Sequence[int | str | None], dtype: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _zero_of(input_name: str, prefix: str = "z") -> tuple[list, str]:
    """Nodes giving a scalar 0 that depends on the input (mean × 0), so outputs are not constants."""
    return [
        helper.make_node("ReduceMean", [input_name], [f"{prefix}_mean"], keepdims=0),
        helper.make_node("Mul", [f"{prefix}_mean", f"{prefix}_zero_c"], [prefix]),
    ], prefix


def _constant_outputs(input_name: str, arrays: dict[str, np.ndarray]) -> tuple[list, list, list]:
    nodes, zero = _zero_of(input_name)
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "z_zero_c")]
    outputs = []
    for name, array in arrays.items():
        inits.append(numpy_helper.from_array(array.astype(np.float32), f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", zero], [name]))
        outputs.append(_value(name, array.shape))
    return nodes, inits, outputs


def identity_graph() -> onnx.ModelProto:
    """x (float[1]) → y: proves a provider can run anything."""
    return _model([helper.make_node("Identity", ["x"], ["y"])], [_value("x", [1])], [_value("y", [1])], [])


def batch_graph() -> onnx.ModelProto:
    """x (float[n, 3]) → squares (x·x) and sums (per row): two outputs whose batch follows the input."""
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [helper.make_node("Mul", ["x", "x"], ["squares"]),
             helper.make_node("ReduceSum", ["x", "axes"], ["sums"], keepdims=0)]
    return _model(nodes, [_value("x", ["n", 3])], [_value("squares", ["n", 3]), _value("sums", ["n"])], [axes])


def string_graph() -> onnx.ModelProto:
    """x (string[n]) → y: a plain run takes it; onnxruntime cannot make a bindable OrtValue of strings."""
    return _model([helper.make_node("Identity", ["x"], ["y"])], [_value("x", ["n"], TensorProto.STRING)],
                  [_value("y", ["n"], TensorProto.STRING)], [])


# --- SCRFD (scrfd_2.5g, retinaface_10g) -------------------------------------------------------

def scrfd_outputs_with_face(size: int, stride: int, cell: tuple[int, int], anchor: int,
                            distances: Sequence[float], score: float = 0.9,
                            strides: Sequence[int] = (8, 16, 32)) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """SCRFD's 9 output tensors with one face at `cell` (row, column) of `stride`, anchor 0 or 1.

    `distances` are left, top, right, bottom in stride units. Returns the outputs and the
    box and five points (input pixels) a correct decoder must find.
    """
    scores, boxes, kps = [], [], []
    expected_box = expected_kps = None
    kps_offsets = np.array([[-0.5, -0.5], [0.5, -0.5], [0, 0], [-0.4, 0.6], [0.4, 0.6]], np.float32)
    for s in strides:
        n = (size // s) ** 2 * 2
        sc, bx, kp = np.zeros((n, 1), np.float32), np.zeros((n, 4), np.float32), np.zeros((n, 10), np.float32)
        if s == stride:
            row, column = cell
            index = (row * (size // s) + column) * 2 + anchor
            sc[index] = score
            bx[index] = distances
            kp[index] = kps_offsets.ravel()
            cx, cy = column * s, row * s
            d = np.asarray(distances, np.float32) * s
            expected_box = np.array([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], np.float32)
            expected_kps = kps_offsets * s + [cx, cy]
        scores.append(sc)
        boxes.append(bx)
        kps.append(kp)
    return scores + boxes + kps, expected_box, expected_kps


def scrfd_graph(size: int = 640, face: tuple[int, tuple[int, int], int, Sequence[float]] | None = None,
                input_name: str = "input") -> onnx.ModelProto:
    """SCRFD-shaped graph: input (1,3,size,size); outputs score/bbox/kps per stride 8,16,32 (no batch axis).

    `face` = (stride, (row, column), anchor, distances) puts one face there (see
    `scrfd_outputs_with_face`); None gives no face.
    """
    if face is None:
        arrays, _, _ = scrfd_outputs_with_face(size, 8, (0, 0), 0, (0, 0, 0, 0), score=0.0)
    else:
        arrays, _, _ = scrfd_outputs_with_face(size, *face)
    names = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in (8, 16, 32)]
    nodes, inits, outputs = _constant_outputs(input_name, dict(zip(names, arrays)))
    return _model(nodes, [_value(input_name, [1, 3, size, size])], outputs, inits)


# --- YOLOFace (yoloface_8n) -------------------------------------------------------------------

def yoloface_graph(face: tuple[float, float, float, float, float] | None = None, anchors: int = 8400,
                   input_name: str = "images") -> onnx.ModelProto:
    """YOLOv8-face-shaped graph: input (1,3,640,640) → output0 (1,20,anchors); `face` = cx, cy, w, h, score."""
    out = np.zeros((1, 20, anchors), np.float32)
    if face is not None:
        cx, cy, w, h, score = face
        out[0, :5, 0] = [cx, cy, w, h, score]
        points = [[cx - w / 4, cy - h / 6], [cx + w / 4, cy - h / 6], [cx, cy], [cx - w / 5, cy + h / 4], [cx + w / 5, cy + h / 4]]
        out[0, 5:, 0] = np.column_stack([np.array(points), np.ones(5)]).ravel()
    nodes, inits, outputs = _constant_outputs(input_name, {"output0": out})
    return _model(nodes, [_value(input_name, [1, 3, 640, 640])], outputs, inits)


# --- 2dfan4 -----------------------------------------------------------------------------------

def fan68_graph(points64: np.ndarray | None = None, peak: float = 0.9, input_name: str = "input") -> onnx.ModelProto:
    """2dfan4-shaped graph: input (1,3,256,256) → points (1,68,3) in 64-grid units, heatmaps (1,68,64,64)."""
    if points64 is None:
        points64 = np.column_stack([np.linspace(16, 48, 68), np.linspace(20, 44, 68)])
    points = np.zeros((1, 68, 3), np.float32)
    points[0, :, :2] = points64
    heatmaps = np.zeros((1, 68, 64, 64), np.float32)
    for i, (x, y) in enumerate(np.clip(np.round(points64), 0, 63).astype(int)):
        heatmaps[0, i, y, x] = peak
    nodes, inits, outputs = _constant_outputs(input_name, {"landmarks_xyscore": points, "heatmaps": heatmaps})
    return _model(nodes, [_value(input_name, [1, 3, 256, 256])], outputs, inits)


# --- ArcFace (arcface_w600k_r50) --------------------------------------------------------------

def arcface_graph(seed: int = 0, batch: int | str = "batch", input_name: str = "input.1",
                  output_name: str = "683") -> onnx.ModelProto:
    """ArcFace-shaped graph: (batch,3,112,112) → (batch,512); a random projection of 8×8-pooled pixels,
    so different faces give different embeddings and the same face the same one."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (3 * 14 * 14, 512)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", [input_name], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], [output_name]),
    ]
    return _model(nodes, [_value(input_name, [batch, 3, 112, 112])], [_value(output_name, [batch, 512])],
                  [numpy_helper.from_array(weights, "w")])


# --- inswapper_128 ----------------------------------------------------------------------------

def inswapper_graph(seed: int = 0, size: int = 128) -> onnx.ModelProto:
    """inswapper-shaped graph: target (1,3,size,size) RGB [0,1] and source (1,512) → output (1,3,size,size).

    The output is the target tinted by the source latent (so both inputs matter); the
    512×512 `emap` is the **last** initializer, as in the real file.
    """
    rng = np.random.default_rng(seed)
    emap = rng.normal(0, 1 / np.sqrt(512), (512, 512)).astype(np.float32)
    tint = rng.normal(0, 0.05, (512, 3)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["source", "tint"], ["shift"]),  # (1,3)
        helper.make_node("Reshape", ["shift", "shift_shape"], ["shift4"]),
        helper.make_node("Add", ["target", "shift4"], ["raw"]),
        helper.make_node("Clip", ["raw", "lo", "hi"], ["output"]),
    ]
    inits = [
        numpy_helper.from_array(tint, "tint"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shift_shape"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, np.float32), "hi"),
        numpy_helper.from_array(emap, "emap"),
    ]
    return _model(nodes, [_value("target", [1, 3, size, size]), _value("source", [1, 512])],
                  [_value("output", [1, 3, size, size])], inits)
