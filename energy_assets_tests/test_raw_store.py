"""The raw layout in S3 (``energy_assets.raw_store``) against the local AWS: a month object
after an incremental merge, day CSVs dropped into S3 beside the month objects, meter shards."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pandas as pd
import pytest
from dagster_aws.s3 import S3Resource

from energy_assets import layout, raw_store, raw_writes
from energy_assets.orchestration.sensors import dropped_days
from energy_assets.resources import S3Storage

MONTH = "2026-03"
DAYS = [f"{MONTH}-0{d}" for d in range(1, 6)]


def _storage(shards: int = 1) -> S3Storage:
    storage = S3Storage(bucket=f"raw-{uuid.uuid4().hex[:8]}", s3=S3Resource(), shards=shards)
    storage.ensure_bucket()
    return storage


def _table(rows: list[tuple]) -> pd.DataFrame:
    """Items with their day, as the export routes them (values text; temperature on some)."""
    frame = pd.DataFrame(rows, columns=["meter_id", "date", "usage", "temperature"])
    return frame.assign(**{raw_store.DAY: frame["date"]})


def _items(frame: pd.DataFrame) -> set[tuple]:
    return set(frame[["meter_id", "date", "usage", "temperature"]].itertuples(index=False))


BASE = [(m, d, f"{i}.5", "12" if m == "a" else "") for i, d in enumerate(DAYS) for m in "ab"]


def test_shard_of_is_the_same_number_in_every_process():
    assert [layout.shard_of(m, 16) for m in ("m-1", "m-2", "meter-0001", "house-1")] == [
        5,
        14,
        10,
        6,
    ]
    assert {layout.shard_of(f"m-{i}", 1) for i in range(50)} == {0}
    code = "from energy_assets.layout import shard_of; print(shard_of('meter-0001', 16))"
    for seed in ("1", "2"):  # Python's hash() of a string would differ between these
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "10"


def test_a_month_object_after_a_late_row_a_correction_and_a_deletion(local_aws):
    storage = _storage()
    written = raw_writes.replace_months(storage, _table(BASE), {MONTH}, 1)
    key = layout.raw_month(MONTH, 0)
    assert (written.objects, storage.list_keys(layout.RAW_PREFIX)) == (1, [key])

    late = ("c", DAYS[1], "3.3", "")
    correction = ("a", DAYS[0], "99.9", "12")
    merged = raw_writes.merge_months(
        storage,
        _table([late, correction]),
        pd.DataFrame({"meter_id": ["b"], "date": [DAYS[3]], raw_store.DAY: [DAYS[3]]}),  # deleted
        1,
    )
    assert (merged.objects, merged.deleted, merged.months) == (1, 0, {MONTH})
    assert merged.changed_days == {DAYS[0], DAYS[1], DAYS[3]}

    data = storage.get_bytes(key)
    rows, days = raw_store.decode(data)
    table = [r for r in BASE if r[:2] not in {("a", DAYS[0]), ("b", DAYS[3])}]
    table += [late, correction]
    assert _items(rows) == set(table)
    assert list(rows.columns) == ["meter_id", "date", "usage", "temperature"]
    # grouped by day, keys sorted within a day; the footer's index says each day's rows
    assert list(zip(days, rows["meter_id"], strict=True))[:5] == [
        (DAYS[0], "a"),
        (DAYS[0], "b"),
        (DAYS[1], "a"),
        (DAYS[1], "b"),
        (DAYS[1], "c"),
    ]
    assert {d: n for d, (n, _) in raw_store.day_index(data).items()} == {
        DAYS[0]: 2,
        DAYS[1]: 3,
        DAYS[2]: 2,
        DAYS[3]: 1,
        DAYS[4]: 2,
    }
    # the merge wrote the bytes a whole-table write of the same items (in another order) writes
    other = _storage()
    shuffled = pd.DataFrame(table[::-1], columns=["meter_id", "date", "usage", "temperature"])
    raw_writes.replace_months(other, _table(list(shuffled.itertuples(index=False))), {MONTH}, 1)
    assert other.get_bytes(key) == data


def test_a_dropped_day_csv_is_read_for_a_day_the_table_lacks_not_one_it_holds(local_aws):
    storage = _storage()
    raw_writes.replace_months(storage, _table(BASE[:6]), {MONTH}, 1)  # the table: days 1-3
    held, lacked = DAYS[1], DAYS[4]
    for day in (held, lacked):  # collected straight into S3
        storage.put_csv(
            layout.raw_day(day), pd.DataFrame({"meter_id": ["a"], "date": [day], "usage": ["77"]})
        )

    everything = raw_store.read_raw(storage)
    assert everything.csv_days == [lacked] and everything.month_days == set(DAYS[:3])
    rows = everything.rows
    assert rows.loc[rows["date"] == held, "usage"].tolist() == ["1.5", "1.5"]  # the table's
    assert rows.loc[rows["date"] == lacked, "usage"].tolist() == ["77"]  # the CSV's
    assert len(rows) == 6 + 1

    window = raw_store.read_raw(storage, held, lacked)
    assert sorted(window.rows["date"].unique()) == [held, DAYS[2], lacked]
    assert raw_store.read_raw(storage, held, lacked, rows=False).csv_days == [lacked]
    # the new-usage sensor's drops: the lacked day, after the table's latest
    assert dropped_days(storage, set(), DAYS[0], DAYS[0], lacked) == [lacked]
    assert dropped_days(storage, {lacked}, DAYS[0], DAYS[0], lacked) == []


def test_an_old_buckets_day_csvs_are_read_until_month_objects_hold_their_days(local_aws):
    storage = _storage()
    for day in DAYS[:2]:  # what an export wrote before the month layout
        frame = pd.DataFrame({"meter_id": ["a"], "date": [day], "usage": ["5"]})
        storage.put_csv(layout.raw_day(day), frame)
    storage.put_csv(
        layout.RAW_UNDATED_CSV, pd.DataFrame({"meter_id": ["a"], "date": ["x"], "usage": ["1"]})
    )
    old = raw_store.read_raw(storage)
    assert sorted(old.rows["date"]) == [*DAYS[:2], "x"] and old.csv_days == DAYS[:2]
    raw_writes.replace_months(storage, _table(BASE), {MONTH}, 1)
    raw_writes.write_undated(storage, pd.DataFrame({"meter_id": ["a"], "date": ["y"]}))
    new = raw_store.read_raw(storage)
    assert new.csv_days == [] and len(new.rows) == len(BASE) + 1
    assert set(new.rows["date"]) == {*DAYS, "y"}


@pytest.mark.parametrize("shards", [3])
def test_a_shard_holds_only_its_meters_and_a_new_count_lays_months_out_again(local_aws, shards):
    storage = _storage(shards)
    meters = [f"m-{i}" for i in range(8)]
    rows = [(m, d, "1", "") for m in meters for d in DAYS]
    written = raw_writes.replace_months(storage, _table(rows), {MONTH}, shards)
    keys = storage.list_keys(layout.RAW_PREFIX)
    assert written.objects == len(keys) == len({layout.shard_of(m, shards) for m in meters})
    for shard in range(shards):
        key = layout.raw_month(MONTH, shard)
        if key in keys:
            found = set(raw_store.decode(storage.get_bytes(key))[0]["meter_id"])
            assert found == {m for m in meters if layout.shard_of(m, shards) == shard}
    again = raw_writes.replace_months(storage, _table(rows), {MONTH}, 1)
    assert storage.list_keys(layout.RAW_PREFIX) == [layout.raw_month(MONTH, 0)]
    assert again.deleted == len(keys) - 1 and again.changed_days == set()
    assert len(raw_store.read_raw(storage).rows) == len(rows)


def test_the_shard_count_is_a_setting_of_the_deployment(monkeypatch):
    from energy_assets.orchestration.definitions import build_resources
    from energy_assets.settings import Settings

    assert Settings().shards == 1
    monkeypatch.setenv("ENERGY_ASSETS_SHARDS", "4")
    settings = Settings()
    assert settings.as_env()["ENERGY_ASSETS_SHARDS"] == "4"
    assert build_resources(settings)["storage"].shards == 4
    for text, error in (("0", "at least 1, not 0"), ("four", "a whole number of shards")):
        monkeypatch.setenv("ENERGY_ASSETS_SHARDS", text)
        with pytest.raises(ValueError, match=f"ENERGY_ASSETS_SHARDS must be {error}"):
            Settings()


def test_a_fleet_is_sharded_by_a_thousand_meters_unless_told():
    from energy_assets.settings import shards_for

    # the demo and the pipeline benchmark choose this when ENERGY_ASSETS_SHARDS is not set
    assert [shards_for(n) for n in (1, 12, 1000, 1001, 10_000, 10_500)] == [1, 1, 1, 2, 10, 11]
    assert shards_for(100, per_shard=30) == 4


def test_routing_by_distinct_date_gives_every_item_its_own_days_answer_and_one_object():
    """The export parses each distinct date once and hands items the answer by code; each item
    must get what parsing its own text gives, and every dated item must land in exactly one
    month object, of its day's month and its meter's shard (undated and waiting ones in none)."""
    from energy_assets.assets.ingestion import route_items
    from energy_assets.ml.days import day_keys, parse_days

    texts = [
        *("2026-01-05", "2026-1-6", "2026-02-01T00:00:00", " 2026-02-02 ", "bad", ""),
        *("2026-03-01", "2027-01-01", "2025-12-31", "2026-01-05T00:00:00+10:00", None),
    ]
    meters = [f"m-{n:03d}" for n in range(40)]
    rows = [(m, texts[(i + j) % len(texts)], f"{i}.{j}") for i, m in enumerate(meters)
            for j in range(len(texts))]  # fmt: skip
    raw = pd.DataFrame(rows, columns=["meter_id", "date", "usage"]).astype("str")
    routed = route_items(raw, "2026-01-01", "2026-02-28", today="2026-03-01")

    one_by_one = parse_days(raw["date"].astype("string").str.strip())
    keys = day_keys(one_by_one["day"])
    in_window = one_by_one["problem"].isna() & keys.between("2026-01-01", "2026-02-28")
    day = routed.items[raw_store.DAY]
    assert len(routed.items) == len(raw)
    assert day.notna().tolist() == in_window.fillna(False).tolist()
    assert (day[in_window.fillna(False)] == keys[in_window.fillna(False)]).all()
    assert routed.pending == int((keys == "2026-03-01").sum())
    assert len(routed.undated) + routed.pending + int(day.notna().sum()) == len(raw)
    assert set(routed.undated_why) == {"invalid_date", "timezone", "future_date",
                                       "before_history_start"}  # fmt: skip

    shards = 3
    parts = raw_writes._parts(routed.items, shards)
    placed = sorted(p for positions in parts.values() for p in positions)
    assert placed == sorted(day.index[day.notna()].tolist())
    for key, positions in parts.items():
        for p in positions:
            meter, row_day = raw.at[p, "meter_id"], day.iloc[p]
            assert key == layout.raw_month(row_day[:7], layout.shard_of(meter, shards))
