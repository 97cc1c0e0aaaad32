"""Unit tests of the scored matching model: plate formats, costs, tiers, readings, profiles, the
deletion-key candidates and the cap (services/matcher/plate_formats.py, scoring.py, indels.py,
matching.py, live.py)."""

from __future__ import annotations

import numpy as np
import pytest

from anpr.v1 import types_pb2 as T
from services.matcher import plate_formats
from services.matcher.bulk import PresenceFilter, find_sorted
from services.matcher.indels import DeletionIndex, deletion_keys, deletions
from services.matcher.index import LookalikeClasses, VoiIndex
from services.matcher.live import LiveIndex
from services.matcher.matching import Matcher, final
from services.matcher.scoring import CONFIRMED, POSSIBLE, MatchProfile, ProfileTable, differences
from services.matcher.store import EntryChange

TABLE = ProfileTable()
CLASSES = LookalikeClasses(TABLE.candidate_classes())


class Source:
    def __init__(self, vrms: list[str]):
        self.index = VoiIndex.build(vrms, np.arange(len(vrms), dtype=np.int64), classes=CLASSES)
        self.deletions = DeletionIndex(self.index, classes=LookalikeClasses(TABLE.common_classes()))


def match(vrms: list[str], vrm: str, profile: MatchProfile = TABLE.default, **read) -> list[tuple[str, int]]:
    result = Matcher(Source(vrms), profile).match(T.Read(vrm=vrm, **read))
    return [(m.entry_vrm, m.tier) for m in result.matches]


# ---------------------------------------------------------------------------------- plate formats


@pytest.mark.parametrize(
    "vrm, country, well_formed",
    [
        ("AB12CDE", "GB", True),  # current
        ("A123BCD", "GB", True),  # prefix
        ("ABC123D", "GB", True),  # suffix
        ("ABC1", "GB", True),  # dateless
        ("1ABC", "GB", True),
        ("AB1ZCDE", "GB", False),  # a letter where the age digits go
        ("IB12CDE", "GB", False),  # I is never issued
        ("A012BCD", "GB", False),  # numbers have no leading zero
        ("AB123CD", "FR", True),
        ("AB123CD", "GB", False),
        ("ANYTHING", "XX", False),  # no grammar for the country
    ],
)
def test_well_formed_plates_per_country(vrm, country, well_formed):
    assert plate_formats.is_well_formed(vrm, country) is well_formed


def test_allowed_characters_per_position_and_the_shape_fallback():
    allowed = plate_formats.allowed_at("AB12CDE", "GB")
    assert "1" not in allowed[0] and "I" not in allowed[0] and "Z" not in allowed[0]
    assert allowed[2] == plate_formats.DIGITS and "Z" in allowed[4]
    relaxed = plate_formats.allowed_at("IQ12CDE", "GB")  # outside the issued alphabet: the shape only
    assert relaxed is not None and "I" in relaxed[0] and relaxed[2] == plate_formats.DIGITS
    assert plate_formats.allowed_at("AB-12", "GB") is None and plate_formats.country_of(" uk ") == "GB"


# ------------------------------------------------------------------------------------------ costs


def test_a_lookalike_that_breaks_the_format_is_cheaper_than_one_that_fits():
    p = TABLE.default
    breaking, _ = differences("AB1ZCDE", "AB12CDE", p, "GB")  # Z where a digit must be
    fitting, _ = differences("AB12COE", "AB12CDE", p, "GB")  # O where a letter may be
    assert breaking == pytest.approx(p.common_cost)
    assert fitting == pytest.approx(p.common_cost + p.fits_cost + p.clean_read_cost)


def test_rare_dropped_extra_and_unconfusable_differences():
    p = TABLE.default
    assert differences("AB12CDE", "AB12CDE", p, "GB") == (0.0, ())
    assert differences("AB12CFE", "AB12CEE", p, "GB")[0] > differences("AB12C0E", "AB12CDE", p, "GB")[0]
    cost, positions = differences("AB12DE", "AB12CDE", p, "GB")  # C dropped
    assert cost == pytest.approx(p.drop_cost) and positions == (4,)
    cost, positions = differences("AB112CDE", "AB12CDE", p, "GB")  # an extra 1
    assert cost == pytest.approx(p.extra_cost) and positions in {(2,), (3,)}
    assert differences("AB12XDE", "AB12CDE", p, "GB")[0] == float("inf")  # X and C: no confusion
    assert differences("AB1", "AB12CDE", p, "GB")[0] == float("inf")


def test_tiers_of_the_common_cases():
    entries = ["AB12CDE", "AB12CDO"]
    assert match(entries, "AB12CDE") == [("AB12CDE", CONFIRMED)]
    assert match(entries, "AB12C0E") == [("AB12CDE", CONFIRMED)]  # 0/D where a letter must be
    assert match(entries, "A812CDE") == [("AB12CDE", POSSIBLE)]  # a valid prefix mark: read right?
    assert match(entries, "AB1ZCDE") == [("AB12CDE", CONFIRMED)]  # 2/Z
    assert match(entries, "AB12CD0") == [("AB12CDO", CONFIRMED)]  # O/0
    assert match(entries, "A8I2CDE") == [("AB12CDE", CONFIRMED)]  # two, both impossible
    assert match(entries, "4B12CDE") == [("AB12CDE", CONFIRMED)]  # A/4: rarer, but 4 is no plate's
    assert match(["AB12CDE"], "AB2CDE") == [("AB12CDE", POSSIBLE)]  # a dropped character
    assert match(["AB12CDE"], "AB12CDEE") == [("AB12CDE", CONFIRMED)]  # an extra one: AB12CDEE is no plate
    assert match(["AB12CDE"], "XY12CDE") == []


def test_a_clean_read_of_another_valid_plate_is_a_candidate_but_no_alert_on_the_vrm_alone():
    p = TABLE.default
    (m,) = Matcher(Source(["AB12CDO"]), p).match(T.Read(vrm="AB12CDD")).matches  # D/O where D may stand
    assert m.tier == 0 and m.log_odds < p.possible_log_odds  # weighed with the entry's description, or counted
    for read in ("AB12CDF", "B12CDE"):  # a rarer confusion, a dropped character: both valid plates
        w = final(T.Read(vrm=read, camera_id="C1"), "AB12CDE", T.VehicleDescription(), p)
        assert w.withheld and w.tier == POSSIBLE  # counted per list and camera, never alerted


def test_the_cameras_confidence_moves_approximate_readings_only():
    p = TABLE.default
    entry, vehicle = "AB12CDE", T.VehicleDescription()
    sure = final(T.Read(vrm="A812CDE", confidence=100), entry, vehicle, p)
    unsure = final(T.Read(vrm="A812CDE", confidence=20), entry, vehicle, p)
    assert sure.score < unsure.score
    assert [c.factor for c in unsure.contributions if c.factor == "confidence"] == ["confidence"]
    exact = final(T.Read(vrm=entry, confidence=100), entry, vehicle, p)
    assert exact.score == final(T.Read(vrm=entry, confidence=10), entry, vehicle, p).score > 0.99


def test_make_model_and_colour_move_the_odds_but_never_drop_a_cloned_plate():
    p = TABLE.default
    listed = T.VehicleDescription(make="Ford", model="Focus", colour="Blue")
    other = T.VehicleDescription(make="BMW", model="X5", colour="Yellow")
    assert final(T.Read(vrm="A812CDE", vehicle=listed), "AB12CDE", listed, p).tier == CONFIRMED
    assert final(T.Read(vrm="A812CDE", vehicle=other), "AB12CDE", listed, p).tier == 0
    clone = final(T.Read(vrm="AB12CDE", vehicle=other), "AB12CDE", listed, p)
    assert clone.tier in (CONFIRMED, POSSIBLE) and clone.exact and clone.score < 0.99


def test_an_alternative_reading_matches_dearer_the_less_sure_the_camera_was_of_it():
    p = TABLE.default
    read = T.Read(vrm="KX19ZTR", confidence=80)
    close = read.alternatives.add(vrm="KX19ZTB", confidence=75)
    m = final(read, "KX19ZTB", T.VehicleDescription(), p)
    assert m.tier == CONFIRMED and m.contributions[0].factor == "alternative" and not m.exact
    close.confidence = 10
    assert final(read, "KX19ZTB", T.VehicleDescription(), p).score < m.score
    assert match(
        ["KX19ZTB"], "KX19ZTR", alternatives=[T.AlternativeReading(vrm="KX19ZTB", confidence=70)], confidence=80
    ) == [("KX19ZTB", CONFIRMED)]


def test_profiles_per_force_and_list_and_bad_settings():
    table = ProfileTable.from_settings(
        "O0DQ,I1L,B8,S5,Z2,G6,T7",
        "EF,A4",
        0.85,
        0.3,
        3,
        """
        {"forces": {"Kent": {"max_hits": 1}}, "lists": {"strict": {"rare": [], "possible_score": 0.5}}}""",
    )
    assert table.profile_for(force="Kent").max_hits == 1 and table.profile_for(force="Essex") is table.default
    strict = table.profile_for(hotlist_name="strict", force="Kent")
    assert strict.rare == () and strict.max_hits == 3
    assert final(T.Read(vrm="4B12CDE"), "AB12CDE", T.VehicleDescription(), strict) is None
    bad_files = (
        '{"default": {"common_cst": 1}}',
        '{"teams": {}}',
        "[]",
        '{"default": {"max_hits": 0}}',
        '{"default": {"pair_costs": {"T": 1}}}',
        '{"default": {"camera_colour_right": 1.5}}',
    )
    for bad in bad_files:
        with pytest.raises(ValueError):
            ProfileTable.from_settings("O0", "", 0.6, 0.1, 3, bad)
    with pytest.raises(ValueError):
        ProfileTable.from_settings("O-0", "", 0.6, 0.1, 3)


# -------------------------------------------------------------------------- candidates and the cap


def test_deletion_keys_find_dropped_characters_with_lookalikes_and_follow_changes():
    vrms = ["AB12CDE", "XY99ZZZ"]
    source = Source(vrms)
    read, _ = CLASSES.encode("A812CD")  # E dropped and B read as 8
    assert [(k, eid) for k, eid, _ in source.deletions.lookup(np.array([read]), source.index)] == [(0, 0)]
    source.index.remove(0)
    assert source.deletions.lookup(np.array([read]), source.index) == []  # checked against the index
    source.index.add("AB12CDF", 7)
    source.deletions.add(7, CLASSES.encode("AB12CDF")[0])
    assert [eid for _, eid, _ in source.deletions.lookup(np.array([read]), source.index)] == [7]
    code, _ = CLASSES.encode("XY99ZZZ")
    assert len(deletions(code, 7)) == 4  # 99 and ZZZ: one distinct deletion each
    keys, owner = deletion_keys(np.array([code], dtype=np.int64))
    assert sorted(keys.tolist()) == sorted(deletions(code, 7)) and set(owner.tolist()) == {0}


def test_a_read_near_many_entries_returns_the_best_few_and_counts_the_rest():
    vrms = [format(i, "010b").replace("0", "O").replace("1", "0") for i in range(1 << 10)]
    vrms.remove("O0O0O0O0O0")  # the read is not itself listed (that would make it one exact hit)
    result = Matcher(Source(vrms), TABLE.default).match(T.Read(vrm="O0O0O0O0O0"))
    assert len(result.matches) == 3 and result.over_cap == 52  # 10 at one look-alike, 45 at two
    assert all(len(m.differing_positions) == 1 for m in result.matches)
    assert [m.score for m in result.matches] == sorted((m.score for m in result.matches), reverse=True)


def test_a_read_that_is_a_listed_vrm_makes_only_its_exact_hit():
    assert match(["AB12CDE", "AB12CDO", "A812CDE"], "AB12CDE") == [("AB12CDE", CONFIRMED)]


def test_batches_match_like_single_reads():
    vrms = ["AB12CDE", "AB12CDO", "XY99ZZZ", "A123BCD"]
    matcher = Matcher(Source(vrms), TABLE.default)
    reads = [T.Read(vrm=v) for v in ("A812CDE", "AB12CD", "XY99ZZ2", "NOPE1", "A12BCD", "AB12CD0")]
    assert matcher.match_many(reads) == [matcher.match(r) for r in reads]
    assert matcher.match_many([T.Read(vrm="BAD*")]) == [matcher.match(T.Read(vrm=""))]


async def test_live_index_keeps_the_deletion_keys_through_changes_and_compaction(monkeypatch):
    live = LiveIndex(CLASSES)
    await live.load(1, np.array([1, 2], dtype=np.int64), np.array(["AB12CDE", "XY99ZZZ"], dtype="S10"))
    live.apply_entries([EntryChange(3, "KX19ZTB", False, 2), EntryChange(1, "", True, 3)])
    matcher = Matcher(live, TABLE.default)
    assert [m.entry_id for m in matcher.match(T.Read(vrm="KX9ZTB")).matches] == [3]  # dropped 1
    assert matcher.match(T.Read(vrm="AB2CDE")).matches == []  # deleted
    monkeypatch.setattr("services.matcher.live.COMPACT_AT", 1)
    await live.compact_if_needed()
    assert live.index.overlay_size == 0
    assert [m.entry_id for m in matcher.match(T.Read(vrm="KX9ZTB")).matches] == [3]
    assert [m.entry_id for m in matcher.match(T.Read(vrm="XY9ZZZ")).matches] == [2]


async def test_dropped_character_matching_can_be_turned_off_to_save_memory():
    live = LiveIndex(CLASSES, dropped_characters=False)
    await live.load(1, np.array([1], dtype=np.int64), np.array(["AB12CDE"], dtype="S10"))
    live.apply_entries([EntryChange(2, "KX19ZTB", False, 2)])
    matcher = Matcher(live, TABLE.default)
    assert live.deletions.nbytes == 0 and matcher.match(T.Read(vrm="AB2CDE")).matches == []
    assert matcher.match(T.Read(vrm="KX9ZTB")).matches == []
    assert [m.entry_id for m in matcher.match(T.Read(vrm="AB12CDEE")).matches] == [1]  # extra: still found


def test_the_presence_filter_never_hides_a_listed_code_and_lets_few_others_through():
    rng = np.random.default_rng(5)
    codes = np.unique(rng.integers(1, 1 << 62, 200_000, dtype=np.int64))
    others = rng.integers(1, 1 << 62, 200_000, dtype=np.int64)
    others = others[~np.isin(others, codes)]
    presence = PresenceFilter(codes)
    assert presence.maybe(codes).all()
    assert presence.maybe(others).mean() < 0.05
    keys = np.concatenate([codes[::7], others[:1000]])
    found, lo = find_sorted(codes, presence, keys)
    assert found.tolist() == [True] * codes[::7].size + [False] * 1000
    assert (codes[lo[found]] == keys[found]).all()


def test_deletion_keys_of_many_codes_are_each_codes_distinct_deletions():
    rng = np.random.default_rng(11)
    vrms = ["A", "AAAAAAAAAA", "AB12CDE", "XY99ZZZ"] + [
        "".join(rng.choice(list("AB12O0"), size=rng.integers(1, 11))) for _ in range(300)
    ]
    codes = np.array([CLASSES.encode(v)[0] for v in vrms], dtype=np.int64)
    keys, owner = deletion_keys(codes)
    for i, (vrm, code) in enumerate(zip(vrms, codes.tolist(), strict=True)):
        assert sorted(keys[owner == i].tolist()) == sorted(deletions(code, len(vrm))), vrm


def test_an_extra_character_is_looked_for_in_the_grammar_of_the_reads_own_country():
    # AB12CDE is a well-formed GB mark: read in GB, one character more than a listed AB12CD is
    # likelier another car (not even a candidate); on a Dutch plate (no grammar here) it is a misread
    assert match(["AB12CD"], "AB12CDE") == []
    assert match(["AB12CD"], "AB12CDE", plate_country="NL") == [("AB12CD", T.MATCH_TIER_CONFIRMED)]


def test_deletion_keys_built_over_an_index_with_changes_find_the_changed_entries_too():
    index = VoiIndex.build(["XY99ZZZ"], np.array([1], dtype=np.int64), classes=CLASSES)
    index.add("AB12CDE", 2)  # in the overlay, not the bulk arrays
    deletions = DeletionIndex(index, classes=LookalikeClasses(TABLE.common_classes()))
    read, _ = CLASSES.encode("A812CD")  # E dropped and B read as 8
    assert [(k, eid) for k, eid, _ in deletions.lookup(np.array([read]), index)] == [(0, 2)]


def test_deletion_keys_without_their_presence_filter_find_the_same_entries():
    rng = np.random.default_rng(3)
    vrms = sorted({"".join(rng.choice(list("AB12O0CD"), size=7)) for _ in range(2000)})
    index = VoiIndex.build(vrms, np.arange(1, len(vrms) + 1, dtype=np.int64), classes=CLASSES)
    reads = np.array([CLASSES.encode(v[:3] + v[4:])[0] for v in vrms[::5]] + [CLASSES.encode("ZZZZZ")[0]])
    with_filter = DeletionIndex(index, classes=LookalikeClasses(TABLE.common_classes()))
    later = DeletionIndex(index, classes=LookalikeClasses(TABLE.common_classes()), presence=False)
    assert later.nbytes < with_filter.nbytes
    found = sorted(with_filter.lookup(reads, index))
    assert found and sorted(later.lookup(reads, index)) == found
    later.build_presence()
    assert later.nbytes == with_filter.nbytes and sorted(later.lookup(reads, index)) == found


async def test_a_reloaded_index_matches_at_once_and_gets_its_presence_filter_in_the_background():
    live = LiveIndex(CLASSES)
    await live.load(1, np.array([1, 2], dtype=np.int64), np.array(["AB12CDE", "XY99ZZZ"], dtype="S10"))
    assert [m.entry_id for m in Matcher(live, TABLE.default).match(T.Read(vrm="AB2CDE")).matches] == [1]
    await live.settled()
    assert live.deletions._presence is not None
