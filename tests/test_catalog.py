from __future__ import annotations

import hashlib
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from bridge.runtime import catalog
from tests import onnx_graphs

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()
CRC = f"{zlib.crc32(PAYLOAD) & 0xFFFFFFFF:08x}"


class _Server:
    """A local HTTP server: /good (Range aware), /flaky (cut once), /cut (always cut), /error (500), /*.hash."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.cuts_left = {"/flaky": 1}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path == "/error":
                    self.send_error(500, "boom")
                    return
                if self.path.endswith(".hash"):
                    body = (CRC if "good" in self.path else "deadbeef").encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                body = PAYLOAD[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = self.path == "/cut" or server.cuts_left.get(self.path, 0) > 0
                if cut:
                    server.cuts_left[self.path] = server.cuts_left.get(self.path, 0) - 1
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = _Server()
    yield s
    s.close()


def _entry(url: str, **extra) -> dict:
    return {"name": "thing", "kind": "detector", "file": "thing.onnx", "licence": "MIT", "size": len(PAYLOAD),
            "sha256": SHA, "sources": [{"url": url}], **extra}


def test_download_writes_the_file_whole_and_verified(server, tmp_path) -> None:
    seen = []
    path = catalog.fetch_model(_entry(server.url + "/good"), tmp_path, progress=lambda f, d, t: seen.append((d, t)))
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "thing.onnx.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_a_dropped_connection_is_resumed_with_a_range_request(server, tmp_path) -> None:
    path = catalog.fetch_model(_entry(server.url + "/flaky"), tmp_path)
    assert path.read_bytes() == PAYLOAD
    ranges = [r for p, r in server.requests if p == "/flaky"]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")


def test_a_download_that_keeps_breaking_is_one_line_and_leaves_no_model(server, tmp_path) -> None:
    with pytest.raises(catalog.CatalogError, match="thing.onnx: download truncated"):
        catalog.fetch_model(_entry(server.url + "/cut"), tmp_path)
    assert not (tmp_path / "thing.onnx").exists()
    assert (tmp_path / "thing.onnx.part").exists()  # kept so the next fetch resumes


def test_a_later_fetch_resumes_a_partial_file(server, tmp_path) -> None:
    (tmp_path / "thing.onnx.part").write_bytes(PAYLOAD[:300_000])
    catalog.fetch_model(_entry(server.url + "/good"), tmp_path)
    assert (tmp_path / "thing.onnx").read_bytes() == PAYLOAD
    assert server.requests == [("/good", "bytes=300000-")]


def test_checksum_mismatch_removes_the_file(server, tmp_path) -> None:
    entry = _entry(server.url + "/good", sha256="0" * 64)
    with pytest.raises(catalog.CatalogError, match="thing.onnx: checksum failed, file removed"):
        catalog.fetch_model(entry, tmp_path)
    assert not (tmp_path / "thing.onnx").exists() and not (tmp_path / "thing.onnx.part").exists()


def test_server_error_is_one_line_with_the_status(server, tmp_path) -> None:
    with pytest.raises(catalog.CatalogError, match="answered HTTP 500"):
        catalog.fetch_model(_entry(server.url + "/error"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_offline_is_one_line(tmp_path) -> None:
    with pytest.raises(catalog.CatalogError, match="cannot download .*offline"):
        catalog.download("http://127.0.0.1:9/none", tmp_path / "x.onnx", timeout=2, retries=0)


def test_upstream_crc32_is_checked_and_the_sha256_recorded(server, tmp_path) -> None:
    entry = _entry(server.url + "/good.onnx", sha256=None, size_verified=False)
    entry["sources"][0]["crc32_url"] = server.url + "/good.hash"
    catalog.fetch_model(entry, tmp_path)
    status = catalog.model_status(entry, tmp_path)
    assert status.state == "present"
    (tmp_path / "thing.onnx").write_bytes(PAYLOAD[:-1] + b"x")  # corrupted later
    assert catalog.model_status(entry, tmp_path).state == "corrupt"


def test_upstream_crc32_mismatch_removes_the_file(server, tmp_path) -> None:
    entry = _entry(server.url + "/bad.onnx", sha256=None, size_verified=False)
    entry["sources"][0]["crc32_url"] = server.url + "/bad.hash"
    with pytest.raises(catalog.CatalogError, match="crc32 .* is not the upstream deadbeef"):
        catalog.fetch_model(entry, tmp_path)
    assert not (tmp_path / "thing.onnx").exists()


def test_list_shows_present_missing_and_corrupt(tmp_path) -> None:
    manifest = {"a": _entry("x", name="a", file="a.onnx"), "b": _entry("x", name="b", file="b.onnx"),
                "c": _entry("x", name="c", file="c.onnx")}
    (tmp_path / "a.onnx").write_bytes(PAYLOAD)
    (tmp_path / "c.onnx").write_bytes(PAYLOAD[:10])
    states = {row.name: row.state for row in catalog.list_models(tmp_path, manifest)}
    assert states == {"a": "present", "b": "missing", "c": "corrupt"}
    assert [row.name for row in catalog.verify_models(tmp_path, manifest=manifest)] == ["a", "c"]


def test_render_gives_a_table_with_licences(tmp_path) -> None:
    from rich.console import Console

    manifest = {"a": _entry("x", name="a", file="a.onnx", licence="InsightFace", commercial=False)}
    console = Console(record=True, width=160)
    console.print(catalog.render(catalog.list_models(tmp_path, manifest)))
    text = console.export_text()
    assert "InsightFace (non-commercial)" in text and "missing" in text


def test_unknown_model_name_is_one_line(tmp_path) -> None:
    with pytest.raises(catalog.CatalogError, match="unknown model 'nope'"):
        catalog.fetch_models(["nope"], tmp_path, manifest={}, show_progress=False)


def test_fetching_a_set_takes_only_its_models(server, tmp_path) -> None:
    manifest = {"a": _entry(server.url + "/good", name="a", file="a.onnx", sets=["cpu"]),
                "b": _entry(server.url + "/error", name="b", file="b.onnx", sets=["standard"])}
    rows = catalog.fetch_models(None, tmp_path, model_set="cpu", manifest=manifest, show_progress=False)
    assert [(r.name, r.state) for r in rows] == [("a", "present")]


# --- the real manifest ------------------------------------------------------------------------

def test_the_manifest_lists_every_supported_model_with_licence_and_tensors() -> None:
    manifest = catalog.load_manifest()
    required = {"scrfd_2.5g", "retinaface_10g", "yoloface_8n", "2dfan4", "arcface_w600k_r50", "inswapper_128",
                "ulfd_rfb_320", "blazeface_front_128", "blazeface_back_256", "fr_landmark_68", "fr_feature"}
    assert required <= set(manifest)
    kinds = {"detector", "landmarker", "recogniser", "swapper", "occluder", "parser", "enhancer"}
    for entry in manifest.values():
        assert entry["kind"] in kinds and entry["licence"] and entry["sources"]
        assert entry.get("sha256") or "crc32_url" in entry["sources"][0] or entry.get("crc32")
    assert manifest["inswapper_128"]["commercial"] is False
    assert manifest["arcface_w600k_r50"]["template"] == "arcface_112_v2"


def test_registry_models_here_verify_as_present(models_dir) -> None:
    rows = {row.name: row.state for row in catalog.list_models(models_dir)}
    for name in ("ulfd_rfb_320", "blazeface_front_128", "blazeface_back_256", "fr_landmark_68", "fr_feature"):
        assert rows[name] == "present"


def test_real_models_open_and_match_their_manifest(models_dir) -> None:
    for file in ("fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx", "face_detection_back_256x256_barracuda.onnx"):
        session, entry = catalog.open_model(models_dir / file)
        assert entry is not None and entry["file"] == file


def test_a_model_with_a_different_input_name_is_one_line_naming_the_file(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.arcface_graph(input_name="data"), tmp_path / "fr_feature.onnx")
    with pytest.raises(catalog.ModelMismatch, match=r"^fr_feature.onnx: input is named 'data', expected 'input'$"):
        catalog.open_model(path)


def test_a_model_with_a_different_shape_is_one_line(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.inswapper_graph(size=256), tmp_path / "inswapper_128.onnx")
    with pytest.raises(catalog.ModelMismatch, match=r"inswapper_128.onnx: input 'target' has shape \(1,3,256,256\), expected \(1,3,128,128\)"):
        catalog.open_model(path)


def test_a_truncated_model_file_is_one_line(models_dir, tmp_path) -> None:
    broken = tmp_path / "fr_detect.onnx"
    broken.write_bytes((models_dir / "fr_detect.onnx").read_bytes()[:50_000])
    with pytest.raises(catalog.CatalogError, match="^fr_detect.onnx: corrupt or not an ONNX model"):
        catalog.open_model(broken)


def test_synthetic_inswapper_matches_the_manifest(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.inswapper_graph(), tmp_path / "inswapper_128.onnx")
    session, entry = catalog.open_model(path)
    assert entry["name"] == "inswapper_128"


def test_manifest_errors_are_one_line(tmp_path) -> None:
    bad = tmp_path / "manifest.yaml"
    bad.write_text(yaml.safe_dump({"models": [{"name": "x"}]}))
    with pytest.raises(catalog.CatalogError, match="lacks 'kind'"):
        catalog.load_manifest(bad)
    with pytest.raises(catalog.CatalogError, match="not found"):
        catalog.load_manifest(Path(tmp_path / "none.yaml"))


def test_registry_source_extracts_the_model_from_the_cached_package(tmp_path) -> None:
    entry = catalog.load_manifest()["fr_landmark_68"]
    path = catalog.fetch_model(entry, tmp_path)
    assert catalog.model_status(entry, tmp_path).state == "present" and path.name == "fr_landmark.onnx"
