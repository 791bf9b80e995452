"""The soup's data ledger (demix_model.average): every input's material stays recorded once per
time it was learnt from, and nothing inherited is counted twice. No torch needed."""
import pytest

from demix_model.average import merge_ledgers, record_tags


def entry(seconds, lic="GPL-2+"):
    return {"seconds": seconds, "licences": [lic], "per_stem": {"vocals": seconds / 2}}


def test_siblings_share_their_start_once_and_add_up_their_own_seconds():
    start = {"v6/ours:train/a": entry(10.0)}
    a = dict(start, **{"ours:train/a": entry(5.0), "records-g4:train/r1": entry(3.0, "CC-BY-3.0")})
    b = dict(start, **{"ours:train/a": entry(4.0), "records-g5:train/r1": entry(2.0, "CC0")})
    assert merge_ledgers([a, b]) == {
        "v6/ours:train/a": entry(10.0),
        "ours:train/a": entry(9.0),
        "records-g4:train/r1": entry(3.0, "CC-BY-3.0"),
        "records-g5:train/r1": entry(2.0, "CC0"),
    }


def test_the_start_itself_as_an_input_adds_nothing():
    first = {"records:train/r1": entry(3.0), "ours:train/a": entry(2.0)}
    second = {"v5/records:train/r1": entry(3.0), "v5/ours:train/a": entry(2.0),
              "records:train/r1": entry(7.0)}
    assert merge_ledgers([first, second]) == second


def test_a_released_start_whose_entries_the_runs_hold_as_they_are_adds_nothing():
    start = {"v6/ours:train/a": entry(10.0)}
    run = dict(start, **{"ours:train/a": entry(5.0)})
    assert merge_ledgers([start, run, dict(start, **{"ours:train/a": entry(1.0)})]) == {
        "v6/ours:train/a": entry(10.0), "ours:train/a": entry(6.0)}


def test_one_name_with_different_licences_is_an_error_not_a_sum():
    a = {"records:train/r1": entry(3.0, "CC-BY-3.0")}
    b = {"records:train/r1": entry(3.0, "CC0")}
    with pytest.raises(ValueError, match="licences differ"):
        merge_ledgers([a, b])


def test_inherited_entries_must_agree():
    a = {"v6/ours:train/a": entry(10.0), "ours:train/a": entry(1.0)}
    b = {"v6/ours:train/a": entry(11.0), "ours:train/a": entry(1.0)}
    with pytest.raises(ValueError, match="inherited"):
        merge_ledgers([a, b])


def test_record_tags_rename_only_the_runs_own_records():
    led = {"v6/records:train/r1": entry(1.0), "records:train/r1": entry(2.0), "ours:train/a": entry(3.0)}
    assert record_tags(led, (5, b"{}"), True) == {
        "v6/records:train/r1": entry(1.0), "records-g5:train/r1": entry(2.0), "ours:train/a": entry(3.0)}
    assert record_tags(led, (5, b"{}"), False) == led
