"""Re-identification: by gallery with hysteresis, by place after a short miss, the re-check."""

import numpy as np

from bridge.track.gallery import Gallery
from bridge.track.reid import ReidRule, better_elsewhere, by_appearance, by_place, same_people


def gallery(*vectors):
    g = Gallery()
    for v in vectors:
        g.add(np.asarray(v, np.float32) / np.linalg.norm(v))
    return g


def test_each_returning_face_gets_its_own_lost_id():
    a, b = np.eye(4, dtype=np.float32)[:2]
    out = by_appearance([gallery(a), gallery(b)], [b, a], ReidRule(threshold=0.5))
    assert out == {0: 1, 1: 0}


def test_a_near_tie_between_two_lost_people_names_neither():
    a, b = np.eye(4, dtype=np.float32)[:2]
    twin = (a + b) / np.linalg.norm(a + b)
    assert by_appearance([gallery(a), gallery(b)], [twin], ReidRule(threshold=0.5, margin=0.05)) == {}


def test_a_face_back_where_it_was_moments_ago_is_the_same_person():
    lost = np.float32([[100, 100, 160, 160], [300, 100, 360, 160]])
    faces = np.float32([[104, 102, 164, 162], [305, 100, 365, 160]])
    rule = ReidRule(place_s=0.5)
    assert by_place(lost, np.array([0.2, 2.0]), faces, rule) == {0: 0}  # the second was lost too long ago
    assert by_place(lost, np.array([0.2, 0.2]), faces, rule, np.array([[True, False], [False, False]])) == {1: 1}


def test_the_recheck_hands_a_face_to_the_lost_person_it_clearly_is():
    rule = ReidRule(threshold=0.5, margin=0.05)
    assert better_elsewhere(0.2, [0.1, 0.8], rule) == 1
    assert better_elsewhere(0.7, [0.9], rule) is None  # its own track fits well enough
    assert better_elsewhere(0.2, [0.8, 0.78], rule) is None  # two lost people alike: neither


def test_two_faces_carrying_each_others_id_after_a_crossing_are_found():
    from bridge.track.reid import swapped
    a, b, c = np.eye(4, dtype=np.float32)[:3]
    rule = ReidRule(threshold=0.5, margin=0.05)
    assert swapped([gallery(a), gallery(b), gallery(c)], [b, a, c], rule) == [(0, 1)]
    assert swapped([gallery(a), gallery(b)], [a, b], rule) == []
    twin = (a + b) / np.linalg.norm(a + b)
    assert swapped([gallery(a), gallery(b)], [twin, twin], rule) == []  # no clear case: leave them


def test_a_weak_embedding_that_points_at_one_lost_person_only_takes_them_back():
    from bridge.track.reid import by_margin
    a, b, noise = np.eye(4, dtype=np.float32)[:3]
    rule = ReidRule(weak_threshold=0.3, weak_margin=0.2)
    half = (0.4 * a + np.sqrt(1 - 0.16) * noise).astype(np.float32)  # cosine 0.4 to a, 0 to b
    assert by_margin([gallery(a), gallery(b)], [half], rule) == {0: 0}
    both = (0.4 * a + 0.3 * b + np.sqrt(1 - 0.25) * noise).astype(np.float32)  # 0.4 vs 0.3: no clear one
    assert by_margin([gallery(a), gallery(b)], [both], rule) == {}
    faint = (0.2 * a + np.sqrt(1 - 0.04) * noise).astype(np.float32)  # like nobody
    assert by_margin([gallery(a), gallery(b)], [faint], rule) == {}


def test_two_lost_ids_of_one_person_do_not_tie_with_each_other():
    a, b, c = np.eye(4, dtype=np.float32)[:3]
    near_a = (a + 0.3 * c) / np.linalg.norm(a + 0.3 * c)  # the same person, another pose
    galleries = [gallery(a), gallery(near_a), gallery(b)]
    rule = ReidRule(threshold=0.5, margin=0.05, same_person=0.6)
    same = same_people(galleries, rule)
    assert same.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    assert by_appearance(galleries, [a], rule) == {}  # without knowing it: a tie, a new id
    assert by_appearance(galleries, [a], rule, same) == {0: 0}
    twin = (a + b) / np.linalg.norm(a + b)  # like two different people: still neither
    assert by_appearance(galleries, [twin], rule, same) == {}


def test_a_gallery_of_poor_crops_is_nobody_s_twin():
    a = np.eye(4, dtype=np.float32)[0]
    poor = Gallery()
    poor.add(a, good=False)
    assert same_people([gallery(a), poor], ReidRule()).tolist() == [[False, False], [False, False]]
