"""The soak, scaled to CI: 2 minutes of demo source → `facebridge run` (CPU profile) → far-end receiver,
faces coming and going, an operator command every 3 s. The 30-minute run is benchmarks/soak.py.

Real parts throughout: NDI over loopback, the bridge as its own process, the CPU models. The
commands go in over the HTTP API, which feeds the same queue as the OBS hotkeys (OBS itself is
covered by test_e2e_obs_bridge.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.devtools.soak import SoakConfig, run_soak

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ndi_runtime", "models_dir")]

SOAK_S = float(os.environ.get("FACEBRIDGE_SOAK_S", "120"))


def test_soak_keeps_memory_flat_counts_every_lost_frame_and_holds_latency(tmp_path: Path) -> None:
    config = SoakConfig(seconds=SOAK_S, warmup_s=min(30.0, SOAK_S / 4), out=tmp_path)
    result = run_soak(config, own_ndi_runtime=False, report=lambda line: None)
    figures = {k: v for k, v in result.items() if k not in ("samples", "config")}
    assert all(result["verdict"].values()), figures
    frames = result["frames"]
    assert frames["out"] > 0.5 * frames["sent_by_source"], f"most frames never came out: {frames}"
    assert result["track_line_ups"] > 1, f"faces never came and went: {figures}"
    assert (tmp_path / "soak.json").exists()
