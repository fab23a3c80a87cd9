"""Profiles: every problem of a file reported at once, precisely, with exit code 2 and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge.profile import Profile, ProfileError, example_yaml, load_profile, parse_profile
from tests.conftest import REPO

BAD_PROFILES = [
    ("obs:\n  port: 44x55\n", 'obs.port: expected an integer, got "44x55"'),
    ("input:\n  colour_format: uyvy\n", "input.colour_format: unknown key, did you mean 'color_format'?"),
    ("input:\n  on_loss: hodl\n", "input.on_loss: expected one of hold, slate, black, got \"hodl\", did you mean 'hold'?"),
    ("obs:\n  password: ${FACEBRIDGE_TEST_UNSET}\n",
     "obs.password: environment variable FACEBRIDGE_TEST_UNSET is not set (referenced as ${FACEBRIDGE_TEST_UNSET})"),
    ("telemetry:\n  port: 99999\n", "telemetry.port: expected a value in [0, 65535], got 99999"),
    ("models:\n  io_binding: always\n", 'models.io_binding: expected one of auto, on, off, got "always"'),
    ("obs:\n  enabled: yes please\n", 'obs.enabled: expected true or false, got "yes please"'),
    ("targets:\n  - name: host\n    images: [missing.png]\n", "targets[0].images[0]: file not found:"),
    ("mapping:\n  fixed_target: hots\n  unknown: fixed\ntargets:\n  - name: host\n    images: [t.png]\n",
     "mapping.fixed_target: no target named 'hots', did you mean 'host'?"),
    ("telemetry:\n  host: 0.0.0.0\n", "telemetry.token: the HTTP API on 0.0.0.0 is reachable from other machines"),
    ("input: [1, 2]\n", "input: expected a mapping of keys, got a list"),
    ("inptu:\n  ndi_source: cam\n", "inptu: unknown key, did you mean 'input'?"),
    ("input:\n  ndi_source: cam\n   bad: indent\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,message", BAD_PROFILES, ids=[m.split(":")[0] for _, m in BAD_PROFILES])
def test_bad_profile_names_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.png").write_bytes(b"not checked here")
    with pytest.raises(ProfileError) as raised:
        parse_profile(text, "profiles/show.yaml", tmp_path, env={})
    lines = str(raised.value).splitlines()
    assert any(line.startswith("profiles/show.yaml: ") and message in line for line in lines), lines


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "obs:\n  port: 44x55\ninput:\n  on_loss: hodl\n  colour_format: x\n"
    with pytest.raises(ProfileError) as raised:
        parse_profile(text, "show.yaml", tmp_path, env={})
    assert len(raised.value.problems) == 3


def test_secret_comes_from_the_environment_and_never_prints(tmp_path: Path) -> None:
    profile = parse_profile("obs:\n  password: ${OBS_PW}\n", "show.yaml", tmp_path, env={"OBS_PW": "hunter2"})
    assert profile.obs.password is not None and profile.obs.password.value == "hunter2"
    assert "hunter2" not in repr(profile) and "hunter2" not in str(profile.obs.password)
    assert "hunter2" not in f"{profile.obs.password}"


def test_relative_paths_are_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "a.png").write_bytes(b"x")
    profile = parse_profile("targets:\n  - name: a\n    images: [faces/a.png]\n", "show.yaml", tmp_path, env={})
    assert profile.targets[0].images == [tmp_path / "faces" / "a.png"]


def test_example_profile_documents_every_key_and_loads(tmp_path: Path) -> None:
    example = (REPO / "profiles" / "example.yaml").read_text()
    assert example == example_yaml(), "profiles/example.yaml is stale: run `facebridge profile-example`"
    data = yaml.safe_load(example)

    def keys(cls: type, prefix: str = "") -> set[str]:
        import dataclasses

        found = set()
        for f in dataclasses.fields(cls):
            found.add(prefix + f.name)
            default = getattr(cls(), f.name)
            if dataclasses.is_dataclass(default):
                found |= keys(type(default), prefix + f.name + ".")
        return found

    def present(tree: dict, prefix: str = "") -> set[str]:
        found = set()
        for key, value in tree.items():
            found.add(prefix + key)
            if isinstance(value, dict) and value:
                found |= present(value, prefix + key + ".")
        return found

    assert keys(Profile) <= present(data)
    for key in keys(Profile):
        assert f"{key.split('.')[-1]}:" in example
    parse_profile(example, "example.yaml", tmp_path, env={})


def test_shipped_profiles_load() -> None:
    from bridge.runtime import assets

    assets.demo_targets()
    demo = load_profile(REPO / "profiles" / "demo.yaml")
    assert demo.swap.swapper == "warp68" and demo.models.providers == ["cpu"]


def test_cli_bad_profile_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "show.yaml"
    bad.write_text("obs:\n  port: 44x55\ninput:\n  colour_format: uyvy\n")
    for command in (["run", "--profile", str(bad)], ["check", "--profile", str(bad)]):
        result = subprocess.run([sys.executable, "-m", "bridge.cli", *command], capture_output=True, text=True,
                                cwd=REPO, timeout=60)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert f'{bad}: obs.port: expected an integer, got "44x55"' in result.stderr
        assert f"{bad}: input.colour_format: unknown key, did you mean 'color_format'?" in result.stderr


def test_cli_missing_profile_file_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "--profile", str(tmp_path / "nope.yaml")],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "file not found" in result.stderr


def test_cli_version() -> None:
    from bridge import __version__

    result = subprocess.run([sys.executable, "-m", "bridge.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == f"facebridge {__version__}"
