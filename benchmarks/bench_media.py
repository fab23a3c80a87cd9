"""FFmpeg (PyAV) media paths against what came before, on the CPU.

1. `process` throughput (fps): the CPU demo profile's face stage (and a pass-through, which
   shows the reading and writing alone) on a demo-scene clip, read and written through PyAV
   (H.264, sound kept) against the old OpenCV reader and writer (MPEG-4 Part 2, no sound).
2. Output size at equal PSNR against the input: the old writer's PSNR and size, and H.264's
   size at that PSNR (interpolated over a CRF sweep), plus the default CRF.
3. The CPU cost of live recording: the pipeline (pass-through stage, real NDI sender) fed at
   30 fps, with and without `output.record`: this process's CPU, output fps and latency p95.

    python benchmarks/bench_media.py [--seconds 8] [--frames 90] [--json benchmarks/results/media.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.kit import REPO, cpu_kit  # noqa: E402
from bridge.live import build_stage  # noqa: E402
from bridge.io.demo_source import DemoScene  # noqa: E402
from bridge.io.ffmpeg import upright_bgr  # noqa: E402
from bridge.io.files import ClipReader, ClipWriter  # noqa: E402
from bridge.io.ndi import NdiRuntime, NdiSender  # noqa: E402
from bridge.io.record import EncoderSettings, RecordedSink, Recorder  # noqa: E402
from bridge.pipeline import PassThrough, Pipeline  # noqa: E402
from bridge.profile import load_profile  # noqa: E402
from bridge.types import AudioBlock, Frame  # noqa: E402
from tests.media_tools import beeps  # noqa: E402
from tests.ndi_tools import unique_name  # noqa: E402

FPS = 30


def demo_clip(path: Path, frames: int, size: tuple[int, int], group: np.ndarray, crf: int = 16) -> None:
    """A moving demo scene with real faces and a beeping tone: the 'camera' clip, H.264 + AAC."""
    scene = DemoScene(size[0], size[1], 3, group)
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=FPS, options={"crf": str(crf), "preset": "fast"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = output.add_stream("aac", rate=48000)
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(scene.render(i, FPS), format="bgr24")
            picture.pts = i
            output.mux(video.encode(picture))
        output.mux(video.encode(None))
        tone = beeps(frames / FPS)
        for start in range(0, len(tone), 1024):
            block = np.ascontiguousarray(np.tile(tone[start:start + 1024], (2, 1)))
            sound = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            sound.sample_rate, sound.pts = 48000, start
            output.mux(audio.encode(sound))
        output.mux(audio.encode(None))


def run_new(stage: Any, clip: Path, out: Path, crf: int = 20, preset: str = "veryfast") -> float:
    started = time.perf_counter()
    reader = ClipReader(clip)
    writer = ClipWriter(out, reader, crf=crf, preset=preset, force=True)
    frames = 0
    for frame in reader:
        stage.process(frame)
        writer.write(frame)
        writer.write_audio(reader.take_audio())
        frames += 1
    reader.close()
    writer.close()
    return frames / (time.perf_counter() - started)


def run_old(stage: Any, clip: Path, out: Path) -> float:
    """The OpenCV path `process` had before: VideoCapture in, VideoWriter mp4v out, no sound."""
    started = time.perf_counter()
    capture = cv2.VideoCapture(str(clip))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    frames = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frame = Frame(image=image, sequence=frames, timecode=int(frames * 1e7 / FPS), received_at=frames / FPS)
        stage.process(frame)
        writer.write(frame.image)
        frames += 1
    capture.release()
    writer.release()
    return frames / (time.perf_counter() - started)


def pictures(path: Path) -> list[np.ndarray]:
    """Decoded the way players show them (tagged colour matrix, untagged HD as BT.709)."""
    with av.open(str(path)) as clip:
        return [upright_bgr(f) for f in clip.decode(video=0)]


def psnr(reference: list[np.ndarray], found: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2) for a, b in zip(reference, found)])
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-10)))


def size_at_equal_psnr(clip: Path, folder: Path) -> dict[str, Any]:
    reference = pictures(clip)
    old = folder / "old.mp4"
    run_old(PassThrough(), clip, old)
    result: dict[str, Any] = {"input_bytes": clip.stat().st_size,
                              "opencv_mp4v": {"bytes": old.stat().st_size,
                                              "psnr_db": round(psnr(reference, pictures(old)), 2)}}
    sweep = []
    for crf in (8, 11, 14, 18, 20, 24, 28):
        out = folder / f"crf{crf}.mp4"
        run_new(PassThrough(), clip, out, crf=crf, preset="veryfast")
        sweep.append({"crf": crf, "bytes": out.stat().st_size, "psnr_db": round(psnr(reference, pictures(out)), 2)})
    result["h264_sweep"] = sweep
    target = result["opencv_mp4v"]["psnr_db"]
    by_psnr = sorted(sweep, key=lambda r: r["psnr_db"])
    xs = [r["psnr_db"] for r in by_psnr]
    ys = [np.log(r["bytes"]) for r in by_psnr]
    result["h264_bytes_at_opencv_psnr"] = int(np.exp(np.interp(target, xs, ys))) if xs[0] <= target <= xs[-1] else None
    return result


class Feed:
    """A 30 fps camera of pre-rendered demo pictures with their sound."""

    def __init__(self, frames: list[np.ndarray]):
        self.frames, self.index, self._next = frames, 0, time.monotonic()
        self.tone = beeps(len(frames) / FPS)

    def capture(self, timeout_s: float = 0.1) -> Frame | None:
        time.sleep(max(0.0, self._next - time.monotonic()))
        self._next += 1 / FPS
        i = self.index % len(self.frames)
        self.index += 1
        piece = self.tone[i * 1600:(i + 1) * 1600]
        return Frame(image=self.frames[i].copy(), sequence=self.index, timecode=self.index * 333_333, frame_rate=(FPS, 1),
                     received_at=time.monotonic(), audio=[AudioBlock(np.stack([piece, piece]), 48000, self.index * 333_333)])


def recording_cost(size: tuple[int, int], seconds: float, record: Path | None, group: np.ndarray) -> dict[str, Any]:
    scene = DemoScene(size[0], size[1], 3, group)
    feed = Feed([scene.render(i, FPS) for i in range(60)])
    recorder = Recorder(str(record) if record else "", EncoderSettings())
    sink = RecordedSink(NdiSender(unique_name("bench-media")), recorder)
    pipeline = Pipeline(feed, PassThrough(), sink, overlap=False)
    pipeline.start()
    if record:
        recorder.start()
    time.sleep(1.0)  # settle
    cpu0, wall0, out0 = time.process_time(), time.monotonic(), pipeline.counters.frames_out
    time.sleep(seconds)
    cpu, wall, out = time.process_time() - cpu0, time.monotonic() - wall0, pipeline.counters.frames_out - out0
    latency = pipeline.latency.percentiles()
    state = recorder.status()
    pipeline.stop()
    sink.close()
    return {"size": f"{size[0]}x{size[1]}", "recording": bool(record), "cpu_percent": round(100 * cpu / wall, 1),
            "output_fps": round(out / wall, 2), "latency_p95_ms": round(latency["p95_ms"], 1),
            "record_state": state["state"], "recorded_frames": state["frames"], "dropped": pipeline.counters.dropped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per recording case")
    parser.add_argument("--frames", type=int, default=90, help="frames in the process clip")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--only", choices=["process", "size", "recording"], help="run one part")
    args = parser.parse_args()
    kit = cpu_kit()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "camera.mp4"
        demo_clip(clip, args.frames, (1280, 720), kit.group)
        if args.only in (None, "process"):
            results["process_fps"] = process_fps(clip, folder)
            print(json.dumps(results["process_fps"]), flush=True)
        if args.only in (None, "size"):
            results["size_at_equal_psnr"] = size_at_equal_psnr(clip, folder)
            print(json.dumps(results["size_at_equal_psnr"]), flush=True)
        if args.only in (None, "recording"):
            with NdiRuntime():
                results["recording"] = []
                for size in ((1280, 720), (1920, 1080)):
                    for record in (None, folder / f"rec-{size[1]}.mkv"):
                        row = recording_cost(size, args.seconds, record, kit.group)
                        results["recording"].append(row)
                        print(json.dumps(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


def process_fps(clip: Path, folder: Path) -> dict[str, float]:
    demo = REPO / "profiles" / "demo.yaml"
    return {
        "face_stage_pyav_h264": round(run_new(build_stage(load_profile(demo)), clip, folder / "a.mp4"), 1),
        "face_stage_opencv_mp4v": round(run_old(build_stage(load_profile(demo)), clip, folder / "b.mp4"), 1),
        "pass_through_pyav_h264": round(run_new(PassThrough(), clip, folder / "c.mp4"), 1),
        "pass_through_opencv_mp4v": round(run_old(PassThrough(), clip, folder / "d.mp4"), 1),
    }


if __name__ == "__main__":
    main()
