"""Rehearsal mode: `facebridge process` runs the show's pipeline on a recorded clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

from bridge.io.demo_source import DemoScene
from tests.conftest import REPO
from tests.e2e_tools import face_profile, free_port


def test_process_writes_the_swapped_clip_and_one_track_record_per_frame(tmp_path: Path, group_photo, models_dir) -> None:
    clip = tmp_path / "rehearsal.avi"
    scene = DemoScene(640, 360, 2, group_photo)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 360))
    originals = [scene.render(i, 15) for i in range(30)]
    for picture in originals:
        writer.write(picture)
    writer.release()
    profile = face_profile(tmp_path, port=free_port())
    out, tracks = tmp_path / "out.avi", tmp_path / "tracks.jsonl"
    result = subprocess.run([sys.executable, "-m", "bridge.cli", "process", "--profile", str(profile), "--input", str(clip),
                             "--output", str(out), "--tracks", str(tracks)], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 30 and summary["leaks"] == 0

    records = [json.loads(line) for line in tracks.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(30))
    assert all(len(r["faces"]) == 2 for r in records[1:]), "both faces followed on every frame"
    first = records[-1]["faces"][0]
    assert set(first) == {"track", "slot", "box", "kps5", "score", "person", "target", "state"}
    assert sorted(f["slot"] for f in records[-1]["faces"]) == [1, 2], "two faces on screen hold slots 1 and 2"
    assert len(first["box"]) == 4 and len(first["kps5"]) == 5
    assert {f["track"] for r in records[1:] for f in r["faces"]} == {f["track"] for f in records[1]["faces"]}, \
        "a face changed its track id"

    capture = cv2.VideoCapture(str(out))
    ok, swapped = capture.read()
    capture.release()
    assert ok and swapped.shape == (360, 640, 3)
    x0, y0, x1, y1 = (int(v) for v in records[0]["faces"][0]["box"]) if records[0]["faces"] else (0, 0, 640, 360)
    changed = cv2.absdiff(swapped[y0:y1, x0:x1], originals[0][y0:y1, x0:x1]).mean()
    assert changed > 8, "the face in the written clip was not swapped"


def test_process_names_a_missing_clip_in_one_line(tmp_path: Path) -> None:
    profile = face_profile(tmp_path, port=free_port())
    result = subprocess.run([sys.executable, "-m", "bridge.cli", "process", "--profile", str(profile), "--input",
                             str(tmp_path / "nope.mp4"), "--output", str(tmp_path / "o.mp4")],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 1
    assert "nope.mp4: no such file" in result.stderr and "Traceback" not in result.stderr
