"""`facebridge check` prepares every target as `run` does and says what it found in each photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge import app
from bridge.runtime import assets
from tests.e2e_tools import REPO


def profile_with(folder: Path, targets: dict[str, Path]) -> Path:
    lines = ["input:", "  ndi_source: nobody-sends-this", "output:", "  ndi_name: check-test",
             "models:", f"  dir: {REPO / 'models'}", "  providers: [cpu]",
             "telemetry:", "  port: 0", f"target_cache: {folder / 'cache'}", "targets:"]
    for name, image in targets.items():
        lines += [f"  - name: {name}", f"    images: [{image}]"]
    path = folder / "show.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def check_lines(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    code = app.check(str(path), timeout_s=0.2)
    lines = capsys.readouterr().out.splitlines()
    targets = {}
    for line in lines:
        if " target " in line:
            state, rest = line.split(" target ", 1)
            targets[rest.split(":", 1)[0]] = f"{state.strip()} {rest.split(':', 1)[1].strip()}"
    return code, targets


def test_check_says_what_each_target_photo_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  photo_paths: dict[str, Path], ndi_runtime: None) -> None:
    group = cv2.imread(str(photo_paths["t1.jpg"]))
    portrait = cv2.imread(str(photo_paths["Tom_Hanks_54745.png"]))
    portrait = cv2.resize(portrait, (portrait.shape[1] * 4, portrait.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    # a photo with one face clearly the largest and a small one beside it: the large one is used
    host = np.full((900, 1400, 3), 200, np.uint8)
    host[100:100 + portrait.shape[0], 100:100 + portrait.shape[1]] = portrait
    x0, y0, x1, y1 = assets.DEMO_TARGET_BOXES["guest6"]
    small = group[max(0, y0 - 40):y1 + 40, max(0, x0 - 40):x1 + 40]
    host[600:600 + small.shape[0], 1100:1100 + small.shape[1]] = small
    photos = {"portrait": photo_paths["Tom_Hanks_54745.png"], "pair": tmp_path / "pair.png",
              "wall": tmp_path / "wall.png", "notes": tmp_path / "notes.png", "crowd": photo_paths["t1.jpg"]}
    cv2.imwrite(str(photos["pair"]), host)
    cv2.imwrite(str(photos["wall"]), np.full((400, 400, 3), 128, np.uint8))
    photos["notes"].write_text("not a picture at all\n")
    code, targets = check_lines(profile_with(tmp_path, photos), capsys)

    assert targets["portrait"] == "ok Tom_Hanks_54745.png: 1 face"
    assert targets["pair"].startswith("ok pair.png: 2 faces; the largest is used (at ")
    at = targets["pair"].split("(at ")[1]
    x, y = (int(v) for v in at.split(",")[:2])
    assert 100 <= x < 100 + portrait.shape[1] and 100 <= y < 100 + portrait.shape[0], "not the portrait's face"
    assert targets["wall"].startswith("MISSING") and "no face found" in targets["wall"]
    assert targets["notes"].startswith("MISSING") and "not an image" in targets["notes"]
    assert targets["crowd"].startswith("MISSING") and "6 faces of similar size" in targets["crowd"]
    assert code == 1  # three targets cannot be used (and no NDI source answers)


def test_a_profile_whose_targets_all_work_passes_them(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     ndi_runtime: None) -> None:
    code, targets = check_lines(profile_with(tmp_path, assets.demo_targets()), capsys)
    assert targets == {"portrait": "ok Tom_Hanks_54745.png: 1 face", "guest5": "ok guest5.png: 1 face",
                       "guest6": "ok guest6.png: 1 face"}
    assert any((tmp_path / "cache").glob("*.npz")), "the targets were not prepared (nothing cached)"
