"""`input.url`: files, webcams and streams read through FFmpeg (PyAV) feed the live bridge like NDI does."""

from __future__ import annotations

import functools
import logging
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.io.ffmpeg import MediaError, open_args, open_input, shown
from bridge.io.url_source import UrlSource
from bridge.profile import ProfileError, parse_profile
from tests.conftest import REPO
from tests.media_tools import SAMPLE_RATE, ClipSpec, tone_match, write_clip
from tests.ndi_tools import Recorder, decode, stop_process, unique_name, write_profile


def test_webcam_names_become_ffmpeg_device_inputs() -> None:
    # No webcam exists on this machine (and PyAV's Linux wheel has no v4l2 input), so the device
    # path is tested up to what FFmpeg is asked to open, and to the message when it cannot.
    v4l2 = open_args("v4l2:/dev/video0", {"video_size": "1280x720", "framerate": "30"})
    assert (v4l2.file, v4l2.format) == ("/dev/video0", "video4linux2")
    assert v4l2.options == {"video_size": "1280x720", "framerate": "30"}
    assert open_args("dshow:video=Integrated Camera").format == "dshow"
    assert open_args("dshow:video=Integrated Camera").file == "video=Integrated Camera"
    assert (open_args("avfoundation:0").file, open_args("avfoundation:0").format) == ("0", "avfoundation")
    assert all(open_args(u).live for u in ("v4l2:/dev/video0", "rtsp://cam/1", "srt://127.0.0.1:9000", "http://x/a.m3u8"))
    assert not open_args("/tmp/clip.mp4").live and open_args("C:/clips/a.mp4").format is None


def test_rtsp_defaults_to_tcp_and_a_password_never_shows() -> None:
    assert open_args("rtsp://cam.local/stream").options == {"rtsp_transport": "tcp"}
    assert open_args("rtsp://cam.local/stream", {"rtsp_transport": "udp"}).options == {"rtsp_transport": "udp"}
    assert shown("rtsp://admin:hunter2@cam.local:554/s") == "rtsp://admin:***@cam.local:554/s"
    with pytest.raises(MediaError) as failed:
        open_input("rtsp://admin:hunter2@127.0.0.1:9/s", timeout_s=1.0)
    assert "hunter2" not in str(failed.value) and "127.0.0.1:9" in str(failed.value)


def test_a_device_this_ffmpeg_lacks_is_one_line_saying_what_to_do() -> None:
    try:
        open_input("v4l2:/dev/video0", timeout_s=1.0)
    except MediaError as error:
        text = str(error)
    else:
        pytest.skip("this PyAV has a v4l2 input and a camera: nothing to check here")
    assert "/dev/video0" in text and "\n" not in text
    assert "no video4linux2 device input" in text or "no such file" in text


def test_a_url_that_does_not_answer_is_one_line_within_its_timeout() -> None:
    with socket.socket() as silent:  # accepts the connection, never says anything
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(MediaError) as failed:
            open_input(f"http://127.0.0.1:{port}/live.m3u8", timeout_s=1.0)
        took = time.monotonic() - started
    assert took < 5 and "did not answer within 1 s" in str(failed.value)
    assert f"127.0.0.1:{port}/live.m3u8" in str(failed.value)
    with pytest.raises(MediaError, match="connection refused"):
        open_input(f"rtmp://127.0.0.1:{port}/live", timeout_s=1.0)


def test_a_profile_with_both_an_ndi_source_and_a_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="input.url: set either input.url or input.ndi_source, not both"):
        parse_profile("input:\n  ndi_source: cam\n  url: rtsp://cam/1\n", "show.yaml", tmp_path)
    profile = parse_profile("input:\n  url: v4l2:/dev/video0\n  url_options: {framerate: 30}\n", "show.yaml", tmp_path)
    assert profile.input.url_options == {"framerate": 30} and profile.input.url == "v4l2:/dev/video0"
    relative = parse_profile("input:\n  url: clips/feed.mp4\noutput:\n  record: rec/{time}.mkv\n", "show.yaml", tmp_path)
    assert relative.input.url == str(tmp_path / "clips/feed.mp4")
    assert relative.output.record == str(tmp_path / "rec/{time}.mkv")
    with pytest.raises(ProfileError) as refused:
        parse_profile("output:\n  record: show.avi\n", "show.yaml", tmp_path)
    assert str(refused.value).startswith("show.yaml: output.record: ")
    assert "show.avi': record to a .mkv or .mp4 file" in str(refused.value)


def test_run_url_replaces_the_profiles_ndi_source_and_input_the_url(tmp_path: Path) -> None:
    from bridge.live import Overrides
    from bridge.cli import parser

    profile = parse_profile("input:\n  ndi_source: cam\n", "show.yaml", tmp_path)
    Overrides(input_url="rtsp://cam/1")(profile)
    assert (profile.input.url, profile.input.ndi_source) == ("rtsp://cam/1", "")
    Overrides(input_name="OBS (cam)")(profile)
    assert (profile.input.url, profile.input.ndi_source) == ("", "OBS (cam)")
    assert parser().parse_args(["run", "--profile", "p.yaml", "--url", "feed.mp4"]).url == "feed.mp4"
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--profile", "p.yaml", "--url", "feed.mp4", "--input", "cam"])


def test_a_file_without_loop_plays_once_and_says_the_output_holds(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    clip = tmp_path / "once.mp4"
    write_clip(clip, ClipSpec(frames=12))
    source = UrlSource(str(clip))
    try:
        numbers = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            frame = source.capture(0.1)
            if frame is not None:
                numbers.append(decode(frame.image))
        assert numbers == list(range(12)) and source.ended and not source.connected
    finally:
        source.close()
    assert any("the file ended; the output holds (set input.loop: true" in r.getMessage() for r in caplog.records)


def test_a_looping_file_plays_in_real_time_round_and_round_with_its_sound(tmp_path: Path) -> None:
    clip = tmp_path / "loop.mp4"
    made = write_clip(clip, ClipSpec(frames=30))
    source = UrlSource(str(clip), loop=True)
    frames = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 2.6:
            frame = source.capture(0.1)
            if frame is not None:
                frames.append(frame)
    finally:
        source.close()
    seconds = time.monotonic() - started
    numbers = [decode(f.image) for f in frames]
    assert numbers[:65] == list(range(30)) * 2 + list(range(5)), "not every picture, in order, round again"
    assert 28 <= len(frames) / seconds <= 32, "not played at the clip's own rate"
    timecodes = np.array([f.timecode for f in frames])
    assert np.all(np.diff(timecodes) > 0), "timecodes must keep rising across the loop"
    assert np.allclose(np.diff(timecodes), 333_333, atol=2)
    sound = np.concatenate([b.samples[0] for f in frames for b in f.audio])
    assert abs(len(sound) / SAMPLE_RATE - len(frames) / 30) < 0.1, "sound and pictures drift apart"
    assert tone_match(made["tone"], sound[: SAMPLE_RATE]) > 0.9


def test_check_says_whether_the_url_opens(tmp_path: Path) -> None:
    clip = tmp_path / "feed.mp4"
    write_clip(clip, ClipSpec(frames=10))
    good = write_profile(tmp_path, f"input:\n  url: {clip}\nanalysis:\n  enabled: false\ntelemetry:\n  port: 0\n")
    bad = write_profile(tmp_path, "input:\n  url: http://127.0.0.1:9/none.m3u8\n  url_timeout_s: 1\n"
                                  "analysis:\n  enabled: false\n")
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=REPO, timeout=60)
    ok = run([sys.executable, "-m", "bridge.cli", "check", "--profile", str(good), "--timeout", "1"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"ok      input.url {clip}: h264 320x180 30 fps, sound aac 48000 Hz" in ok.stdout
    missing = run([sys.executable, "-m", "bridge.cli", "check", "--profile", str(bad), "--timeout", "1"])
    assert missing.returncode == 1 and "MISSING http://127.0.0.1:9/none.m3u8: " in missing.stdout


# ── the bridge as a user runs it: URL in, NDI out on loopback ──────────────────────────────

def start_url_bridge(profile: Path, output: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--profile", str(profile), "--output", output],
                            cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def receive(output: str, process: subprocess.Popen[str], seconds: float) -> Recorder:
    recorder = Recorder(output)
    try:
        recorder.wait_connected(40)  # the bridge starts in its own process: slow on a busy machine
        assert recorder.wait_for(lambda r: r.flowing_steadily(), 20), "pictures never flowed steadily"
        time.sleep(seconds)
    finally:
        recorder.close()
        code, _, text = stop_process(process)
        print(text)
    assert code == 0 and "Traceback" not in text, text
    return recorder


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_a_looping_file_as_input_url_goes_out_over_ndi_with_its_sound(tmp_path: Path) -> None:
    clip = tmp_path / "feed.mp4"
    made = write_clip(clip, ClipSpec(size=(640, 360), frames=45))
    output = unique_name("fb-url")
    profile = write_profile(tmp_path, f"input:\n  url: {clip}\n  loop: true\nanalysis:\n  enabled: false\n"
                                      "telemetry:\n  port: 0\n")
    recorder = receive(output, start_url_bridge(profile, output), 3.0)
    numbers = [f.number for f in recorder.frames[-75:]]
    steps = [(b - a) % 45 for a, b in zip(numbers, numbers[1:])]
    assert steps.count(1) >= 0.9 * len(steps), f"pictures lost or repeated: {numbers}"
    assert any(b < a for a, b in zip(numbers, numbers[1:])), "the file never started again"
    sound = np.concatenate([b.samples[0] for b in recorder.audio])
    assert len(sound) > 2 * SAMPLE_RATE, "no sound came through"
    assert tone_match(made["tone"], sound[-SAMPLE_RATE:]) > 0.8, "the sound is not the clip's"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    timeout = 5

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_an_hls_stream_over_http_on_loopback_feeds_the_bridge(tmp_path: Path) -> None:
    folder = tmp_path / "hls"
    folder.mkdir()
    made = write_clip(folder / "index.m3u8", ClipSpec(size=(640, 360), frames=150), format="hls",
                      options={"hls_time": "1", "hls_list_size": "0", "hls_playlist_type": "vod"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    serving.start()
    try:
        output = unique_name("fb-hls")
        url = f"http://127.0.0.1:{server.server_port}/index.m3u8"
        profile = write_profile(tmp_path, f"input:\n  url: {url}\nanalysis:\n  enabled: false\ntelemetry:\n  port: 0\n")
        recorder = receive(output, start_url_bridge(profile, output), 1.0)
    finally:
        server.shutdown()
        server.server_close()
    numbers = [f.number for f in recorder.frames if f.number < 150]
    assert len(numbers) >= 30 and numbers == sorted(numbers), f"HLS pictures out of order: {numbers}"
    sound = np.concatenate([b.samples[0] for b in recorder.audio])
    assert tone_match(made["tone"], sound[-SAMPLE_RATE // 2:]) > 0.8


def test_a_stream_that_goes_away_is_opened_again_on_its_own(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    folder = tmp_path / "www"
    folder.mkdir()
    write_clip(folder / "live.ts", ClipSpec(frames=30), format="mpegts")
    online = threading.Event()

    class Camera(QuietHandler):
        def do_GET(self) -> None:
            if online.is_set():
                super().do_GET()
            else:
                self.send_error(503, "camera off")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Camera, directory=str(folder)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/live.ts"
    source = UrlSource(url, timeout_s=1.0, wait_log_s=0.5)

    def frames_within(seconds: float) -> int:
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            count += source.capture(0.1) is not None
        return count

    try:
        assert frames_within(1.5) == 0 and not source.connected
        waiting = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting for")]
        assert waiting and url in waiting[0] and "server refused it (Server returned 5XX" in waiting[0], waiting
        online.set()
        assert frames_within(2.5) >= 20 and source.stats.connects >= 1, "never received once the camera came on"
        online.clear()
        frames_within(2.5)  # the stream ends; opening it again fails while the camera is off
        assert not source.connected
        online.set()
        assert frames_within(2.5) >= 20, "never received again once the camera was back"
        assert source.stats.connects >= 2
    finally:
        source.close()
        server.shutdown()
        server.server_close()
