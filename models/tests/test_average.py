"""The soup's data ledger (demix_model.average.merge_ledgers): every input's material stays
recorded, and nothing is counted twice. No torch needed."""
from demix_model.average import merge_ledgers


def entry(seconds, lic="GPL-2+"):
    return {"seconds": seconds, "licences": [lic], "per_stem": {"vocals": seconds}}


def test_siblings_keep_each_own_entries_and_share_the_common_start():
    start = {"v6/ours:train/a": entry(10.0)}
    a = dict(start, **{"ours:train/a": entry(5.0), "records:train/r1": entry(3.0, "CC-BY-3.0")})
    b = dict(start, **{"ours:train/a": entry(5.0), "records:train/r1": entry(4.0, "CC0")})
    out = merge_ledgers([("run-a", a), ("run-b", b)])
    assert out == {
        "v6/ours:train/a": entry(10.0),
        "ours:train/a": entry(5.0),
        "run-a/records:train/r1": entry(3.0, "CC-BY-3.0"),
        "run-b/records:train/r1": entry(4.0, "CC0"),
    }


def test_an_input_that_started_another_adds_nothing():
    first = {"records:train/r1": entry(3.0), "ours:train/a": entry(2.0)}
    second = {"v5/records:train/r1": entry(3.0), "v5/ours:train/a": entry(2.0),
              "records:train/r1": entry(7.0)}
    assert merge_ledgers([("first", first), ("second", second)]) == second


def test_a_partial_overlap_is_not_taken_for_a_start():
    first = {"records:train/r1": entry(3.0), "ours:train/a": entry(2.0)}
    second = {"v5/records:train/r1": entry(3.0), "records:train/r1": entry(7.0)}
    out = merge_ledgers([("first", first), ("second", second)])
    assert out["first/records:train/r1"] == entry(3.0)
    assert out["second/records:train/r1"] == entry(7.0)
    assert out["ours:train/a"] == entry(2.0) and out["v5/records:train/r1"] == entry(3.0)
