from __future__ import annotations

import logging
import threading

import numpy as np
import onnxruntime as ort
import pytest

from bridge.runtime import onnx as runtime
from tests import onnx_graphs

CUDA_WORKS = "cuda" in runtime.working_providers(["cuda"])


@pytest.mark.skipif(CUDA_WORKS, reason="this machine really has CUDA")
def test_requesting_cuda_runs_on_cpu_with_one_line_naming_the_missing_library(tmp_path, caplog, capfd) -> None:
    model = onnx_graphs.save(onnx_graphs.identity_graph(), tmp_path / "identity.onnx")
    factory = runtime.SessionFactory(runtime.SessionConfig(providers=("cuda", "cpu")))
    with caplog.at_level(logging.INFO, logger="bridge.runtime.onnx"):
        session = factory.create(model)
    assert session.provider == "cpu"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1
    assert "running on cpu" in lines[0] and "cuda unavailable" in lines[0]
    assert ".so" in lines[0] or ".dll" in lines[0] or "not in this onnxruntime build" in lines[0]
    captured = capfd.readouterr()
    assert "onnxruntime" not in captured.err  # the runtime's own log spam is swallowed


@pytest.mark.skipif(CUDA_WORKS, reason="this machine really has CUDA")
def test_the_fallback_line_is_said_once_per_run_not_per_model(tmp_path, caplog) -> None:
    model = onnx_graphs.save(onnx_graphs.identity_graph(), tmp_path / "identity.onnx")
    factory = runtime.SessionFactory(runtime.SessionConfig(providers=("tensorrt", "cuda", "cpu")))
    with caplog.at_level(logging.WARNING, logger="bridge.runtime.onnx"):
        sessions = [factory.create(model) for _ in range(3)]
    assert [s.provider for s in sessions] == ["cpu"] * 3
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines  # three models, one line
    assert "running on cpu" in lines[0] and "tensorrt unavailable" in lines[0] and "cuda unavailable" in lines[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bridge.runtime.onnx"):
        runtime.SessionFactory(runtime.SessionConfig(providers=("tensorrt", "cuda", "cpu"))).create(model)
    assert len(caplog.records) == 1  # the next run says it again


def test_session_runs_the_graph_on_cpu(tmp_path) -> None:
    model = onnx_graphs.save(onnx_graphs.identity_graph(), tmp_path / "identity.onnx")
    session = runtime.SessionFactory().create(model)
    out = session.run(None, {"x": np.array([3.0], np.float32)})
    assert session.provider == "cpu" and out[0][0] == 3.0


def test_thread_counts_and_provider_options_are_accepted(tmp_path) -> None:
    model = onnx_graphs.save(onnx_graphs.identity_graph(), tmp_path / "identity.onnx")
    config = runtime.SessionConfig(providers=("cpu",), intra_op_threads=1, inter_op_threads=1,
                                   fp16=True, trt_cache_dir=str(tmp_path / "trt"))
    assert runtime.SessionFactory(config).create(model).provider == "cpu"


def test_unknown_provider_name_is_a_readable_error() -> None:
    with pytest.raises(runtime.ProviderError, match="unknown execution provider 'cdua'"):
        runtime.SessionConfig(providers=("cdua",))


def test_a_file_that_is_not_a_model_is_one_line_naming_it(tmp_path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(runtime.ProviderError, match="broken.onnx"):
        runtime.SessionFactory().create(bad)


def test_working_providers_lists_cpu_and_only_what_creates_a_session() -> None:
    working = runtime.working_providers()
    assert "cpu" in working
    for provider in working:
        assert runtime.ORT_NAMES[provider] in ort.get_available_providers()
    if not CUDA_WORKS:
        assert "cuda" not in working and "tensorrt" not in working


def test_provider_report_gives_a_reason_for_each_provider_that_does_not_work() -> None:
    rows = runtime.provider_report()
    assert {row[0] for row in rows} == set(runtime.ORT_NAMES)
    for _, works, reason in rows:
        assert works or reason


# --- IO binding ------------------------------------------------------------------------------
# No GPU here, so "on" runs the binding code on the CPU device: the same calls as on CUDA but
# for the device name.

def _bound(model, **config) -> runtime.Session:
    return runtime.SessionFactory(runtime.SessionConfig(providers=("cpu",), io_binding="on", **config)).create(model)


def _assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_io_binding_gives_exactly_what_plain_run_gives(tmp_path, models_dir) -> None:
    model = onnx_graphs.save(onnx_graphs.batch_graph(), tmp_path / "batch.onnx")
    bound, plain = _bound(model), runtime.SessionFactory().create(model)
    assert bound.binding is not None and plain.binding is None
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    _assert_same(bound.run(None, {"x": x}), plain.run(None, {"x": x}))
    _assert_same(bound.run(["sums"], {"x": x}), plain.run(["sums"], {"x": x}))  # a subset, in the asked order
    _assert_same(bound.run(["sums", "squares"], {"x": x}), plain.run(["sums", "squares"], {"x": x}))
    _assert_same(bound.run(None, {"x": np.asfortranarray(x)}), plain.run(None, {"x": x}))  # not C-contiguous
    assert bound.binding is not None  # a failure would have fallen back to the plain run unseen

    detector, reference = _bound(models_dir / "fr_detect.onnx"), runtime.SessionFactory().create(models_dir / "fr_detect.onnx")
    blob = np.random.default_rng(1).uniform(-1, 1, (1, 3, 240, 320)).astype(np.float32)
    _assert_same(detector.run(None, {"input": blob}), reference.run(None, {"input": blob}))
    assert detector.binding is not None


def test_io_binding_reuses_input_buffers_while_the_shape_holds(tmp_path) -> None:
    session = _bound(onnx_graphs.save(onnx_graphs.batch_graph(), tmp_path / "batch.onnx"))
    assert session.binding is not None
    rng = np.random.default_rng(2)
    frames = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3)]
    kept = [f.copy() for f in frames]
    results, buffers = [], []
    for frame in frames:
        results.append(session.run(None, {"x": frame}))
        buffers.append(session.binding.inputs["x"])
    assert buffers[0] is buffers[1] is buffers[2]  # one input buffer, overwritten frame after frame
    for frame, original, (squares, sums) in zip(frames, kept, results):
        assert np.array_equal(frame, original)  # the caller's arrays are never written to
        assert np.array_equal(squares, original * original) and np.allclose(sums, original.sum(axis=1))

    wider = rng.standard_normal((5, 3)).astype(np.float32)
    squares, sums = session.run(None, {"x": wider})
    assert session.binding.inputs["x"] is not buffers[0]
    assert squares.shape == (5, 3) and np.array_equal(squares, wider * wider) and np.allclose(sums, wider.sum(axis=1))
    assert np.array_equal(results[0][0], kept[0] * kept[0])  # earlier results are the caller's own copies
    squares, _ = session.run(None, {"x": frames[0]})  # back to the first batch size
    assert np.array_equal(squares, kept[0] * kept[0])
    assert session.binding is not None


@pytest.mark.skipif(CUDA_WORKS, reason="this machine really has CUDA")
def test_io_binding_auto_follows_the_provider_the_session_got_not_the_one_requested(tmp_path) -> None:
    model = onnx_graphs.save(onnx_graphs.batch_graph(), tmp_path / "batch.onnx")
    for providers in (("cpu",), ("cuda", "cpu"), ("tensorrt", "cuda", "cpu")):
        session = runtime.SessionFactory(runtime.SessionConfig(providers=providers)).create(model)
        assert session.provider == "cpu" and session.binding is None  # auto: plain run on the CPU
    off = runtime.SessionFactory(runtime.SessionConfig(io_binding="off")).create(model)
    assert off.binding is None


def test_a_binding_failure_falls_back_to_plain_run_with_one_warning(tmp_path, caplog) -> None:
    # A string input: a plain run takes it, but onnxruntime cannot create an OrtValue of strings
    # to bind, so the binding path fails for real, as a CUDA error would on a GPU.
    session = _bound(onnx_graphs.save(onnx_graphs.string_graph(), tmp_path / "strings.onnx"))
    words = np.array(["left", "right"])
    with caplog.at_level(logging.WARNING, logger="bridge.runtime.onnx"):
        results = [session.run(None, {"x": words}) for _ in range(3)]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "strings.onnx: IO binding failed on cpu" in lines[0] and "\n" not in lines[0]
    assert session.binding is None
    for (out,) in results:
        assert out.tolist() == ["left", "right"]


def test_a_session_shared_by_two_threads_gives_each_its_own_results(tmp_path) -> None:
    session = _bound(onnx_graphs.save(onnx_graphs.batch_graph(), tmp_path / "batch.onnx"))
    wrong: list[float] = []

    def work(value: float) -> None:
        x = np.full((2, 3), value, np.float32)
        for _ in range(200):
            squares, _ = session.run(None, {"x": x})
            if not np.array_equal(squares, x * x):
                wrong.append(value)

    threads = [threading.Thread(target=work, args=(v,)) for v in (2.0, 3.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong and session.binding is not None


def test_unknown_io_binding_is_a_readable_error() -> None:
    with pytest.raises(runtime.ProviderError, match="unknown io_binding 'always'; choose from auto, on, off"):
        runtime.SessionConfig(io_binding="always")  # type: ignore[arg-type]


def test_sessions_do_not_spin_their_worker_threads_between_runs(tmp_path) -> None:
    # spinning workers hold a core each between runs, the core the pipeline's other thread needs
    model = onnx_graphs.save(onnx_graphs.identity_graph(), tmp_path / "identity.onnx")
    options = runtime.SessionFactory().create(model).inner.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
