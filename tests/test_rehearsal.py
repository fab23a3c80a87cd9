"""Rehearsal mode: `facebridge process` runs the show's pipeline on a recorded clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

import av
import numpy as np
import pytest
from rich.console import Console

from bridge.io.demo_source import DemoScene
from bridge.progress import FrameProgress
from tests.conftest import REPO
from tests.e2e_tools import face_profile, free_port
from tests.media_tools import SAMPLE_RATE, ClipSpec, correlation_peak, lag_of, read_clip, write_clip
from tests.ndi_tools import decode, psnr

PASS_THROUGH = "analysis:\n  enabled: false\ntelemetry:\n  port: 0\n"


def process(tmp_path: Path, clip: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "pass-through.yaml"
    profile.write_text(PASS_THROUGH)
    return subprocess.run([sys.executable, "-m", "bridge.cli", "process", "--profile", str(profile), "--input", str(clip),
                           "--output", str(out), *extra], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_process_writes_the_swapped_clip_and_one_track_record_per_frame(tmp_path: Path, group_photo, models_dir) -> None:
    clip = tmp_path / "rehearsal.avi"
    scene = DemoScene(640, 360, 2, group_photo)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 360))
    originals = [scene.render(i, 15) for i in range(30)]
    for picture in originals:
        writer.write(picture)
    writer.release()
    profile = face_profile(tmp_path, port=free_port())
    out, tracks = tmp_path / "out.mp4", tmp_path / "tracks.jsonl"
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


@pytest.mark.parametrize("name, spec, copied", [
    ("phone.mp4", ClipSpec(), "aac"),  # H.264 + AAC: the sound is copied
    ("screen.mkv", ClipSpec(video_codec="mpeg4", audio_codec="pcm_s16le", vfr=True), None),  # PCM cannot go in mp4: AAC
    ("web.webm", ClipSpec(video_codec="libvpx-vp9", audio_codec="libopus", frames=45), "opus"),  # mp4 takes Opus
])
def test_process_keeps_the_sound_and_the_timestamps(tmp_path: Path, name: str, spec: ClipSpec, copied: str | None) -> None:
    clip, out = tmp_path / name, tmp_path / "out.mp4"
    made = write_clip(clip, spec)
    result = process(tmp_path, clip, out)
    assert result.returncode == 0, result.stderr
    source, written = read_clip(clip, keep_pictures=False), read_clip(out)
    assert written.video_codec == "h264"
    assert len(written.times) == len(source.times) == spec.frames
    assert np.allclose(written.times, source.times, atol=1e-3), "picture timestamps changed (VFR lost?)"
    assert written.audio_codec == (copied or "aac")
    one_frame = SAMPLE_RATE // spec.fps
    assert abs(lag_of(made["tone"], written.audio)) <= one_frame, "sound moved against the pictures"
    assert abs(len(written.audio) - len(source.audio)) <= one_frame, "sound got longer or shorter"
    assert abs(written.audio_start - source.audio_start) <= 1 / spec.fps
    assert correlation_peak(made["tone"], written.audio) > 0.9, "the tone is not what came out"
    assert [decode(p) for p in written.pictures] == list(range(spec.frames)), "pictures lost or out of order"


def test_process_turns_a_rotated_clip_upright_and_works_without_sound(tmp_path: Path) -> None:
    clip, out = tmp_path / "portrait.mov", tmp_path / "out.mkv"
    made = write_clip(clip, ClipSpec(rotation=-90, audio_codec=None, frames=20))  # a phone held upright
    result = process(tmp_path, clip, out)
    assert result.returncode == 0, result.stderr
    written = read_clip(out)
    assert written.audio is None and written.rotation == 0
    upright = [cv2.rotate(p, cv2.ROTATE_90_CLOCKWISE) for p in made["pictures"]]
    assert written.pictures[0].shape == upright[0].shape == (320, 180, 3)
    assert min(psnr(a, b) for a, b in zip(written.pictures, upright)) > 28, "not turned the way the file says"


def test_process_keeps_an_existing_output_unless_forced_and_crf_sets_the_size(tmp_path: Path) -> None:
    clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(clip, ClipSpec(audio_codec=None, frames=30))
    out.write_bytes(b"yesterday's rehearsal")
    refused = process(tmp_path, clip, out)
    assert refused.returncode == 1 and out.read_bytes() == b"yesterday's rehearsal"
    assert refused.stderr.strip().count("\n") == 0 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert process(tmp_path, clip, out, "--force", "--crf", "18").returncode == 0
    fine = out.stat().st_size
    assert process(tmp_path, clip, out, "--force", "--crf", "40").returncode == 0
    assert out.stat().st_size < fine * 0.7, "--crf does not change the quality"
    assert not list(tmp_path.glob(".*part*")), "a part file was left behind"


@pytest.mark.parametrize("content, expected", [
    (b"\x00garbage" * 500, "not a video FFmpeg can read"),
    (None, "has no video stream"),
    (b"unknown codec", "in a codec this FFmpeg cannot decode; convert it to H.264"),
])
def test_process_names_an_unreadable_clip_in_one_line(tmp_path: Path, content: bytes | None, expected: str) -> None:
    clip = tmp_path / "bad.mp4"
    if content == b"unknown codec":  # a Matroska file whose video codec id no FFmpeg knows
        write_clip(tmp_path / "good.mkv", ClipSpec(audio_codec=None, frames=5))
        clip.write_bytes((tmp_path / "good.mkv").read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_FACEBRIDGE_XY"))
    elif content is None:  # sound only
        with av.open(str(clip), "w") as output:
            stream = output.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            frame.sample_rate = 48000
            output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
    else:
        clip.write_bytes(content)
    result = process(tmp_path, clip, tmp_path / "o.mp4")
    assert result.returncode == 1
    assert expected in result.stderr and "bad.mp4" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_process_refuses_an_output_type_it_cannot_write(tmp_path: Path) -> None:
    clip = tmp_path / "in.mp4"
    write_clip(clip, ClipSpec(audio_codec=None, frames=5))
    result = process(tmp_path, clip, tmp_path / "o.gif")
    assert result.returncode == 1 and "use .mp4, .mov or .mkv" in result.stderr


def test_progress_off_a_terminal_is_a_plain_line_with_rate_and_time_left() -> None:
    import io

    text = io.StringIO()
    with FrameProgress(Console(file=text, force_terminal=False, width=200), "processing x.mp4", 10, plain_every_s=0) as bar:
        for _ in range(4):
            bar.advance()
    lines = text.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("processing x.mp4: 4/10 frames, ")
    assert " fps, " in lines[-1] and lines[-1].endswith(" s left")
