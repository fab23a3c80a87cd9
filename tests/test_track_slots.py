"""Face slots: the numbers the "face N" hotkeys address stay with a person, freed ones are reused."""

from bridge.track.slots import FaceSlots


def test_first_come_first_slot_and_a_crossing_changes_nothing():
    slots = FaceSlots()
    assert slots.assign([5, 8]) == {5: 1, 8: 2}
    assert slots.assign([5, 8]) == {5: 1, 8: 2}  # left-right order is not asked: they may cross
    assert slots.track_in(2) == 8


def test_a_freed_slot_is_reused_lowest_first_and_a_returning_person_gets_theirs_back():
    slots = FaceSlots()
    slots.assign([1, 2, 3])
    slots.assign([1, 3])  # 2 steps out: slot 2 is held for them
    assert slots.assign([1, 3, 4]) == {1: 1, 3: 3, 4: 4}
    assert slots.assign([1, 3, 4, 2]) == {1: 1, 3: 3, 4: 4, 2: 2}  # back in the same slot
    slots.assign([1, 3, 4, 2], forgotten=set())
    assert slots.assign([1, 4, 2], forgotten={3}) == {1: 1, 4: 4, 2: 2}
    assert slots.assign([1, 4, 2, 9]) == {1: 1, 4: 4, 2: 2, 9: 3}  # a forgotten id's slot is free


def test_beyond_the_hotkeys_a_newcomer_takes_the_slot_of_whoever_is_away_longest():
    slots = FaceSlots(hotkeys=4)
    slots.assign([1, 2, 3, 4])
    slots.assign([1, 3, 4])  # 2 away first
    slots.assign([1, 4])  # then 3
    assert slots.assign([1, 4, 10])[10] == 2
    assert slots.assign([1, 4, 10, 11])[11] == 3
    assert slots.assign([1, 4, 10, 11, 3])[3] == 5  # 3 came back to a full house


def test_a_person_whose_slot_was_taken_while_away_takes_it_back_from_a_holder_gone_again():
    """A returning face first seen as a newcomer (its re-identification came frames later) took
    the slot of its own lost id; once handed back, the person gets their slot again."""
    slots = FaceSlots(hotkeys=4)
    slots.assign([1, 2, 3, 4])
    slots.assign([1, 3, 4])  # 2 steps out
    slots.assign([1])  # 3 and 4 too
    assert slots.assign([1, 5])[5] == 2  # 2 comes back, seen as a newcomer: away longest gives up slot 2
    assert slots.assign([1, 2]) == {1: 1, 2: 2}  # re-identified: 5 was a false start, 2 is in slot 2 again
    assert slots.assign([1, 2, 5])[5] not in (1, 2)  # the false start, should it show, gets a free one
