"""Unit tests for services.matcher.index (the in-memory VOI index)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from services.matcher import index as index_mod
from services.matcher.index import (
    DEFAULT_LOOKALIKE_CLASSES,
    LookalikeClasses,
    Match,
    VoiIndex,
    is_valid_vrm,
    normalise_vrm,
)

CLASSES = LookalikeClasses(DEFAULT_LOOKALIKE_CLASSES)


def _m(idx, vrm, **kw):
    """idx.match without the entries' packed codes (compared on their own where it matters)."""
    return [Match(*m[:3]) for m in idx.match(vrm, **kw)]


def build(pairs, classes=CLASSES):
    vrms = [v for v, _ in pairs]
    ids = np.array([i for _, i in pairs], dtype=np.int64)
    return VoiIndex.build(vrms, ids, classes=classes)


# ------------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("AB12CDE", "AB12CDE"),
        ("ab12 cde", "AB12CDE"),
        (" ab-12.cde ", "AB12CDE"),
        ("A B\t1-2", "AB12"),
        ("  ", ""),
        ("-.-", ""),
        ("", ""),
    ],
)
def test_normalise_vrm(raw, norm):
    assert normalise_vrm(raw) == norm


@pytest.mark.parametrize("vrm", ["A", "AB12CDE", "1234567890", "ZZ99ZZZ"])
def test_is_valid_vrm_accepts(vrm):
    assert is_valid_vrm(vrm)


@pytest.mark.parametrize("vrm", ["", "12345678901", "ab12cde", "AB-12", "AB 12", "ÄB12", None])
def test_is_valid_vrm_rejects(vrm):
    assert not is_valid_vrm(vrm)


def test_normalised_non_ascii_letter_is_kept_and_rejected():
    norm = normalise_vrm("äb12")
    assert norm == "ÄB12"
    assert not is_valid_vrm(norm)


# ------------------------------------------------------------------------------------ classes


def test_classes_merge_overlapping_and_skeleton():
    c = LookalikeClasses(["AB", "BC", "X", "78"])
    assert c.classes == ("78", "ABC")
    assert c.skeleton("CAB8X7") == "AAA7X7"
    assert c.same_class("A", "C")
    assert not c.same_class("A", "X")


def test_default_classes_skeleton():
    assert CLASSES.skeleton("B0D1L5") == CLASSES.skeleton("8OQIIS") == "800115"
    assert CLASSES.skeleton("AB12CDE") == "A812C0E"
    assert CLASSES.skeleton("AX") != CLASSES.skeleton("AB")


def test_classes_reject_bad_input():
    with pytest.raises(TypeError):
        LookalikeClasses("O0DQ")  # a bare string is not a list of classes
    with pytest.raises(ValueError):
        LookalikeClasses(["o0"])
    with pytest.raises(ValueError):
        LookalikeClasses(["B-8"])


# ------------------------------------------------------------------------------------ matching


def test_exact_hit():
    idx = build([("AB12CDE", 7), ("XY99ZZZ", 8)])
    assert _m(idx, "AB12CDE") == [Match(7, True, ())]
    assert _m(idx, "AB12CDE", max_differences=0) == [Match(7, True, ())]
    assert _m(idx, "AB12CDF") == []


def test_b8_lookalike_hit_reports_position():
    idx = build([("AB12CDE", 1)])
    assert _m(idx, "A812CDE") == [Match(1, False, (1,))]
    # and the other way round: entry has the digit, read has the letter
    idx2 = build([("A812CDE", 2)])
    assert _m(idx2, "AB12CDE") == [Match(2, False, (1,))]


def test_lookalike_not_returned_at_max_zero():
    idx = build([("AB12CDE", 1)])
    assert _m(idx, "A812CDE", max_differences=0) == []


def test_two_differences_need_max_two():
    idx = build([("BO12CDE", 1)])
    read = "8012CDE"  # B->8 at 0, O->0 at 1
    assert _m(idx, read, max_differences=1) == []
    assert _m(idx, read, max_differences=2) == [Match(1, False, (0, 1))]


def test_three_differences_rejected_at_max_two():
    idx = build([("BO1SCDE", 1)])
    assert _m(idx, "80I5CDE", max_differences=2) == []


def test_different_length_never_matches():
    idx = build([("AB12CDE", 1), ("O1", 2)])
    for read in ["AB12CD", "AB12CDEE", "A812CD", "O", "O10", "010"]:
        assert _m(idx, read, max_differences=2) == [], read
    assert _m(idx, "01") == [Match(2, False, (0,))]


def test_non_class_difference_never_matches():
    idx = build([("AB12CDE", 1)])
    assert _m(idx, "XB12CDE", max_differences=2) == []  # A vs X
    assert _m(idx, "X812CDE", max_differences=2) == []  # one class diff + one non-class diff
    assert _m(idx, "AB12CDE") == [Match(1, True, ())]


def test_entries_sharing_a_vrm_all_returned_exact_first():
    idx = build([("AB12CDE", 30), ("AB12CDE", 10), ("A812CDE", 5), ("AB12CDE", 20), ("XX1", 99)])
    assert _m(idx, "AB12CDE") == [
        Match(10, True, ()),
        Match(20, True, ()),
        Match(30, True, ()),
        Match(5, False, (1,)),
    ]


def test_lookalikes_ordered_by_difference_count():
    idx = build([("B0", 1), ("80", 2), ("8O", 3)])
    assert _m(idx, "BO", max_differences=2) == [
        Match(3, False, (0,)),
        Match(1, False, (1,)),
        Match(2, False, (0, 1)),
    ]


def test_custom_classes_three_seven():
    c = LookalikeClasses(["37"])
    idx = build([("AB73CDE", 1)], classes=c)
    assert _m(idx, "AB33CDE") == [Match(1, False, (2,))]
    assert _m(idx, "A812CDE") == []  # B/8 is not a class here


def test_match_rejects_unnormalised_read():
    idx = build([("AB12CDE", 1)])
    for bad in ["ab12cde", "AB 12", "", "ABCDEFGHIJK"]:
        with pytest.raises(ValueError):
            _m(idx, bad)
    with pytest.raises(ValueError):
        _m(idx, "AB12CDE", max_differences=-1)


def test_empty_index():
    idx = VoiIndex.empty(classes=CLASSES)
    assert len(idx) == 0
    assert _m(idx, "AB12CDE") == []
    idx.add("AB12CDE", 1)
    assert _m(idx, "A812CDE") == [Match(1, False, (1,))]


# ------------------------------------------------------------------------------------ build input


def test_build_accepts_lists_arrays_and_iterables():
    vrms = ["AB12CDE", "A1", "1234567890", "Q"]
    ids = [4, 3, 2, 1]
    for given in (
        vrms,
        tuple(vrms),
        np.array(vrms),
        np.array(vrms, dtype="S10"),
        iter(vrms),
        np.array(vrms, dtype=object),
    ):
        idx = VoiIndex.build(given, ids, classes=CLASSES)
        assert len(idx) == 4
        for v in vrms:
            assert [m.entry_id for m in _m(idx, v, max_differences=0)] == [ids[vrms.index(v)]]
        assert sorted(idx.iter_entries()) == sorted(zip(ids, vrms, strict=True))


@pytest.mark.parametrize("bad", ["ab12cde", "AB 12", "", "ABCDEFGHIJK", "ABCDEFGHIJKLMNOP", "AB-1", "ÄB", "AB\x00CD"])
def test_build_rejects_invalid_vrms(bad):
    with pytest.raises(ValueError, match="not normalised"):
        VoiIndex.build(["AB12CDE", bad], [1, 2], classes=CLASSES)


def test_build_rejects_non_str_and_bad_ids():
    with pytest.raises(TypeError):
        VoiIndex.build(["AB12CDE", None], [1, 2], classes=CLASSES)  # would otherwise be "NONE"
    with pytest.raises(ValueError, match="duplicate"):
        VoiIndex.build(["AB12CDE", "XY1"], [5, 5], classes=CLASSES)
    with pytest.raises(ValueError):
        VoiIndex.build(["AB12CDE"], [1, 2], classes=CLASSES)
    with pytest.raises(TypeError):
        VoiIndex.build(["AB12CDE"], [1.5], classes=CLASSES)


def test_build_chunked_encoding_matches_unchunked(monkeypatch):
    rng = random.Random(11)
    vrms = [rand_vrm(rng) for _ in range(500)]
    ids = list(range(500))
    whole = VoiIndex.build(vrms, ids, classes=CLASSES)
    monkeypatch.setattr(index_mod, "_CHUNK", 7)
    chunked = VoiIndex.build(vrms, ids, classes=CLASSES)
    assert sorted(chunked.iter_entries()) == sorted(whole.iter_entries()) == sorted(zip(ids, vrms, strict=True))
    with pytest.raises(ValueError, match=r"\[499\]"):
        VoiIndex.build([*vrms[:-1], "bad"], ids, classes=CLASSES)


def test_build_does_not_modify_caller_arrays():
    ids = np.array([3, 1, 2], dtype=np.int64)
    VoiIndex.build(["C", "A", "B"], ids, classes=CLASSES)
    assert ids.tolist() == [3, 1, 2]


# ------------------------------------------------------------------------------------ overlay


def test_add_remove_len_and_vrm_of():
    idx = build([("AB12CDE", 1), ("XY99ZZZ", 2)])
    assert len(idx) == 2
    idx.add("CD34EFG", 3)
    assert len(idx) == 3 and idx.overlay_size == 1
    assert _m(idx, "CD34EFG") == [Match(3, True, ())]
    assert _m(idx, "CD34EF6") == [Match(3, False, (6,))]
    assert idx.vrm_of(3) == "CD34EFG" and 3 in idx
    assert idx.remove(3) is True
    assert idx.remove(3) is False
    assert _m(idx, "CD34EFG") == []
    assert len(idx) == 2 and 3 not in idx and idx.vrm_of(3) is None
    assert idx.remove(12345) is False


def test_remove_bulk_entry():
    idx = build([("AB12CDE", 1), ("AB12CDE", 2), ("XY99ZZZ", 3)])
    assert idx.remove(1) is True
    assert _m(idx, "AB12CDE") == [Match(2, True, ())]
    assert _m(idx, "A812CDE") == [Match(2, False, (1,))]
    assert len(idx) == 2
    assert idx.remove(1) is False
    assert len(idx) == 2


def test_add_replaces_existing_id():
    idx = build([("AB12CDE", 1)])
    idx.add("ZZ11ZZZ", 1)  # VRM corrected: bulk entry superseded
    assert _m(idx, "AB12CDE") == []
    assert _m(idx, "ZZ11ZZZ") == [Match(1, True, ())]
    assert len(idx) == 1
    idx.add("ZZ11ZZZ", 1)  # idempotent
    assert len(idx) == 1 and _m(idx, "ZZ11ZZZ") == [Match(1, True, ())]
    idx.add("AB12CDE", 1)  # back to the bulk VRM: overlay entry dropped
    assert idx.overlay_size == 0 and len(idx) == 1
    assert _m(idx, "AB12CDE") == [Match(1, True, ())]
    assert _m(idx, "ZZ11ZZZ") == []
    idx.remove(1)
    idx.add("AB12CDE", 1)  # re-add after tombstone
    assert _m(idx, "AB12CDE") == [Match(1, True, ())] and len(idx) == 1


def test_add_rejects_invalid():
    idx = build([("AB12CDE", 1)])
    with pytest.raises(ValueError):
        idx.add("ab12cde", 2)
    with pytest.raises(ValueError):
        idx.add("AB12CDE", 1 << 63)
    with pytest.raises(TypeError):
        idx.add("AB12CDE", "2")
    assert len(idx) == 1


def test_compact_returns_new_index_and_keeps_old():
    idx = build([("AB12CDE", 1), ("AB12CDE", 2), ("XY99ZZZ", 3), ("QQ1", 4)])
    idx.remove(2)
    idx.add("A812CDE", 5)
    idx.add("NEW1", 3)  # replaces bulk VRM of 3
    before = {v: _m(idx, v, max_differences=2) for v in ["AB12CDE", "XY99ZZZ", "NEW1", "NEWI", "QQ1", "A812CDE"]}
    new = idx.compact()
    assert new is not idx
    assert new.overlay_size == 0
    assert len(new) == len(idx) == 4
    for v, m in before.items():
        assert _m(new, v, max_differences=2) == m, v
        assert _m(idx, v, max_differences=2) == m, v
    assert (
        sorted(new.iter_entries())
        == sorted(idx.iter_entries())
        == [(1, "AB12CDE"), (3, "NEW1"), (4, "QQ1"), (5, "A812CDE")]
    )
    # further changes on the compacted index work against the merged arrays
    assert new.remove(5) and new.remove(3) and not new.remove(2)
    assert _m(new, "AB12CDE") == [Match(1, True, ())]
    assert len(new) == 2


def test_compact_edge_cases():
    idx = build([("AB1", 1), ("AB2", 2)])
    idx.remove(1)
    idx.remove(2)
    idx.add("XY1", 3)
    idx.add("X71", 4)
    new = idx.compact()
    check_bulk_invariants(new)
    assert sorted(new.iter_entries()) == [(3, "XY1"), (4, "X71")]
    assert _m(new, "XYI") == [Match(3, False, (2,))]
    assert new.remove(4) and 4 not in new and new.vrm_of(3) == "XY1"
    empty = VoiIndex.empty(classes=CLASSES)
    empty.add("A1", 9)
    assert list(empty.compact().iter_entries()) == [(9, "A1")]
    unchanged = build([("AB1", 1)])
    assert list(unchanged.compact().iter_entries()) == [(1, "AB1")]


def test_compact_then_catch_up_applies_later_changes():
    idx = build([("AB12CDE", 1), ("XY99ZZZ", 2), ("QQ1", 3)])
    idx.add("CD1", 10)
    idx.remove(2)
    new = idx.compact()
    # changes arriving while the compaction ran (e.g. in a worker thread)
    idx.remove(10)
    idx.add("XY99ZZZ", 2)
    idx.add("EF2", 11)
    idx.add("Q01", 3)
    assert new.catch_up(idx) == 4
    assert sorted(new.iter_entries()) == sorted(idx.iter_entries())
    assert _m(new, "XY99ZZZ") == [Match(2, True, ())]
    with pytest.raises(ValueError):
        new.catch_up(idx)  # only once, and only from its source


def test_merged_adds_new_entries_to_the_folded_index_as_a_build_of_them_all_would():
    idx = build([("AB12CDE", 1), ("XY99ZZZ", 2), ("QQ1", 3)])
    idx.add("CD1", 10)
    idx.remove(2)
    vrms = np.array([b"AB12CDE", b"NEW1", b"X1"], dtype="S10")  # one VRM shared with a held entry
    new = idx.merged(vrms, np.array([20, 21, 22]))
    check_bulk_invariants(new)
    assert new.overlay_size == 0 and len(idx) == 3  # the source unchanged
    everything = [(1, "AB12CDE"), (3, "QQ1"), (10, "CD1"), (20, "AB12CDE"), (21, "NEW1"), (22, "X1")]
    assert sorted(new.iter_entries()) == everything
    whole = build([(v, i) for i, v in everything])
    for read in ("AB12CDE", "NEWI", "X1", "CD1", "QQ1", "XY99ZZZ"):
        assert _m(new, read, max_differences=2) == _m(whole, read, max_differences=2), read
    # a change made to the source meanwhile is caught up, as after compact()
    idx.add("EF2", 11)
    assert new.catch_up(idx) == 1 and new.vrm_of(11) == "EF2"
    assert list(VoiIndex.empty(classes=CLASSES).merged(vrms[:1], [5]).iter_entries()) == [(5, "AB12CDE")]


@pytest.mark.parametrize("ids", [[3, 30], [10, 30], [30, 30]], ids=["in the bulk", "in the overlay", "repeated"])
def test_merged_refuses_an_id_the_index_holds_or_a_repeated_one(ids):
    idx = build([("AB12CDE", 1), ("QQ1", 3)])
    idx.add("CD1", 10)
    with pytest.raises(ValueError, match=r"held already|duplicate"):
        idx.merged(np.array([b"AB1", b"AB2"], dtype="S10"), np.array(ids))


def test_merged_refuses_a_vrm_that_is_not_normalised():
    with pytest.raises(ValueError, match="not normalised"):
        build([("AB1", 1)]).merged(np.array([b"ab1"], dtype="S10"), np.array([2]))


# ------------------------------------------------------------------------------------ property test

# Small alphabet heavy in look-alike characters so random reads often collide with entries.
_ALPHA = "O0DQI1LB8S5Z2G6AX7"


def rand_vrm(rng: random.Random) -> str:
    n = rng.choice([1, 2, 3, 3, 4, 4, 4, 5, 7, 10])
    return "".join(rng.choice(_ALPHA) for _ in range(n))


def misread(rng: random.Random, vrm: str) -> str:
    chars = list(vrm)
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
        i = rng.randrange(len(chars))
        cls = next((c for c in DEFAULT_LOOKALIKE_CLASSES if chars[i] in c), None)
        chars[i] = rng.choice(cls) if cls and rng.random() < 0.85 else rng.choice(_ALPHA)
    r = rng.random()
    if r < 0.05 and len(chars) < 10:
        chars.append(rng.choice(_ALPHA))
    elif r < 0.1 and len(chars) > 1:
        chars.pop()
    return "".join(chars)


def reference_match(
    entries: dict[int, str], read: str, max_differences: int, classes=DEFAULT_LOOKALIKE_CLASSES
) -> list[Match]:
    """Brute force straight from the definition (classes merged by repeated set union)."""
    groups = [set(c) for c in classes]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if groups[i] & groups[j]:
                    groups[i] |= groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    rep = {ch: frozenset(g) for g in groups for ch in g}
    exact, like = [], []
    for eid, vrm in entries.items():
        if len(vrm) != len(read):
            continue
        diffs = [i for i, (a, b) in enumerate(zip(vrm, read, strict=True)) if a != b]
        if not all(rep.get(vrm[i], vrm[i]) == rep.get(read[i], read[i]) for i in diffs):
            continue
        if not diffs:
            exact.append(Match(eid, True, ()))
        elif len(diffs) <= max_differences:
            like.append(Match(eid, False, tuple(diffs)))
    exact.sort(key=lambda m: m.entry_id)
    like.sort(key=lambda m: (len(m.differing_positions), m.differing_positions, m.entry_id))
    return exact + like


def check_bulk_invariants(idx: VoiIndex) -> None:
    """White-box: the sorted arrays that every lookup relies on."""
    bulk = idx._bulk
    assert np.all(bulk.skel[1:] >= bulk.skel[:-1])
    skel_of_code = [idx.classes.encode(index_mod.decode_vrm(c))[1] for c in bulk.exact.tolist()]
    assert skel_of_code == bulk.skel.tolist()
    assert sorted(bulk.id_order.tolist()) == list(range(bulk.n))
    assert np.all(np.diff(bulk.ids[bulk.id_order]) > 0)


def check_against_reference(idx: VoiIndex, entries: dict[int, str], reads: list[str]) -> int:
    check_bulk_invariants(idx)
    nonempty = 0
    for read in reads:
        for k in (0, 1, 2):
            want = reference_match(entries, read, k)
            assert _m(idx, read, max_differences=k) == want, (read, k)
            nonempty += bool(want)
    assert len(idx) == len(entries)
    assert sorted(idx.iter_entries()) == sorted(entries.items())
    return nonempty


def test_large_skeleton_group_uses_vectorised_scan_correctly():
    # all 4**3 spellings of "OOO" with the O/0/D/Q class share one skeleton: a group of 64 (+ dups)
    spellings = [a + b + c for a in "O0DQ" for b in "O0DQ" for c in "O0DQ"]
    vrms = [*spellings, "OOO", "OOO", "OOX"]
    ids = list(range(100, 100 + len(vrms)))
    entries = dict(zip(ids, vrms, strict=True))
    idx = VoiIndex.build(vrms, ids, classes=CLASSES)
    assert idx._bulk.n > index_mod._VECTOR_GROUP  # the group really is large
    idx.remove(101)  # tombstone inside the big group
    del entries[101]
    idx.add("0OO", 101)
    entries[101] = "0OO"
    for read in ["OOO", "0D0", "QQQ", "OOX", "OXO", "DDDD"]:
        for k in (0, 1, 2):
            assert _m(idx, read, max_differences=k) == reference_match(entries, read, k), (read, k)
    # 3 exact ("OOO" x3) + 9 one-difference spellings (101 moved from "OO0" to "0OO": still 9)
    got = _m(idx, "OOO", max_differences=1)
    assert [m.exact for m in got] == [True] * 3 + [False] * 9
    assert (101, (0,)) in [(m.entry_id, m.differing_positions) for m in got]


@pytest.mark.parametrize("vector_group", [None, 0])
def test_property_matches_brute_force_reference(monkeypatch, vector_group):
    if vector_group is not None:  # force the numpy path for every bulk group
        monkeypatch.setattr(index_mod, "_VECTOR_GROUP", vector_group)
    rng = random.Random(20240601)
    n = 2000 if vector_group is None else 1000
    vrms = [rand_vrm(rng) for _ in range(n)]
    ids = rng.sample(range(-(10**12), 10**12), n)  # arbitrary int64 ids, including negative
    entries = dict(zip(ids, vrms, strict=True))
    idx = VoiIndex.build(vrms, ids, classes=CLASSES)

    reads = [misread(rng, rng.choice(vrms)) for _ in range(300)] + [rand_vrm(rng) for _ in range(100)]
    hits = check_against_reference(idx, entries, reads)
    assert hits > 250, hits  # the test exercises real hits, not just misses

    # random overlay changes: removes of bulk ids, upserts of bulk ids, brand-new ids, removes of new ids
    new_ids = []
    for _ in range(600):
        op = rng.random()
        if op < 0.3:
            eid = rng.choice(ids)
            assert idx.remove(eid) == (eid in entries)
            entries.pop(eid, None)
        elif op < 0.5:
            eid = rng.choice(ids)
            entries[eid] = rand_vrm(rng)
            idx.add(entries[eid], eid)
        elif op < 0.85:
            eid = rng.randrange(10**13, 10**14)
            new_ids.append(eid)
            entries[eid] = misread(rng, rng.choice(vrms))
            idx.add(entries[eid], eid)
        elif new_ids:
            eid = rng.choice(new_ids)
            assert idx.remove(eid) == (eid in entries)
            entries.pop(eid, None)
    reads = [misread(rng, rng.choice(list(entries.values()))) for _ in range(250)] + reads[:100]
    check_against_reference(idx, entries, reads)

    compacted = idx.compact()
    assert compacted.overlay_size == 0
    check_against_reference(compacted, entries, reads)

    # and the compacted index keeps working with a second round of changes and a second compaction
    for eid in rng.sample(sorted(entries), 200):
        if rng.random() < 0.5:
            assert compacted.remove(eid)
            del entries[eid]
        else:
            entries[eid] = misread(rng, entries[eid])
            compacted.add(entries[eid], eid)
    check_against_reference(compacted.compact(), entries, reads[:150])


def test_property_random_class_configurations():
    # Random (overlapping) classes over the whole alphabet, so every pair of 6-bit character values
    # can become look-alikes (e.g. 3/Z differ only in the top bit of their field).
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    rng = random.Random(7)
    for _ in range(12):
        config = ["".join(rng.sample(alphabet, rng.randint(2, 5))) for _ in range(rng.randint(1, 6))]
        classes = LookalikeClasses(config)
        pool = "".join(sorted(set("".join(config)))) + "AX7"
        vrms = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 4))) for _ in range(300)]
        ids = list(range(len(vrms)))
        entries = dict(zip(ids, vrms, strict=True))
        idx = VoiIndex.build(vrms, ids, classes=classes)
        for _ in range(120):
            v = list(rng.choice(vrms))
            for _ in range(rng.randint(0, 2)):
                i = rng.randrange(len(v))
                v[i] = rng.choice(pool)
            read = "".join(v)
            for k in (0, 1, 2):
                assert _m(idx, read, max_differences=k) == reference_match(entries, read, k, config), (
                    config,
                    read,
                    k,
                )


def test_lookalike_pair_differing_only_in_high_bit():
    idx = build([("A3", 1)], classes=LookalikeClasses(["3Z"]))
    assert _m(idx, "AZ") == [Match(1, False, (1,))]
    assert _m(idx, "AZ", max_differences=0) == []
