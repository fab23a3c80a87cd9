from __future__ import annotations

import logging

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


def test_the_fallback_line_is_said_once_per_run_not_per_model(tmp_path, caplog) -> None:
    model = onnx_graphs.save(onnx_graphs.identity_graph(), tmp_path / "identity.onnx")
    factory = runtime.SessionFactory(runtime.SessionConfig(providers=("tensorrt", "cuda", "cpu")))
    with caplog.at_level(logging.WARNING, logger="bridge.runtime.onnx"):
        for _ in range(3):
            factory.create(model)
    assert len(caplog.records) <= 1


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
