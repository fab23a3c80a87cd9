"""benchmarks/gpu_check.sh: without a GPU it says so and exits cleanly; its variant profiles load.

The GPU run itself cannot happen here (no GPU on this machine); these check what can.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from bridge.profile import load_profile
from bridge.runtime import assets
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check  # noqa: E402


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine runs the real 8-minute check")
def test_without_a_gpu_the_check_says_no_gpu_and_exits_0(tmp_path):
    run = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path / "out")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("no GPU: ")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["gpu"] is False and summary["reason"] and summary["variants"] == []


def test_every_variant_profile_loads_with_its_provider_fp16_and_io_binding(tmp_path):
    assets.demo_targets()  # the demo profile's target pictures (the bench fetches them too)
    assert len(gpu_check.VARIANTS) == 8
    assert {v[0] for v in gpu_check.VARIANTS} == {"cuda", "tensorrt"}
    assert {v[1] for v in gpu_check.VARIANTS} == {False, True} and {v[2] for v in gpu_check.VARIANTS} == {"on", "off"}
    for provider, fp16, io in gpu_check.VARIANTS:
        profile = load_profile(str(gpu_check.variant_profile(tmp_path, provider, fp16, io)))
        assert profile.models.providers == [provider, "cpu"]
        assert profile.models.fp16 is fp16 and profile.models.io_binding == io
        assert all(image.is_file() for target in profile.targets for image in target.images)
