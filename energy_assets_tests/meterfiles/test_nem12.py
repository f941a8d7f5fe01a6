"""NEM12 files built here, read through nemreader: every record type, interval lengths 5/15/30,
quality flags A/S/E/V, several NMIs and channels, partial days and malformed files."""

from datetime import date

import pytest

from energy_assets.meterfiles import MeterFileError, read_meter_file
from energy_assets_tests.meterfiles.builders import nem12_200, nem12_300, nem12_file

DAY = date(2024, 3, 4)
NEXT = date(2024, 3, 5)


def _read(tmp_path, text: str, name: str = "file.csv"):
    path = tmp_path / name
    path.write_text(text)
    return read_meter_file(path, "nem12")


def _rows(result) -> dict[tuple[str, str], tuple[float, str]]:
    return {
        (r.meter_id, r.date): (r.usage, r.quality) for r in result.daily.itertuples(index=False)
    }


def test_every_record_type_interval_length_and_quality(tmp_path):
    text = nem12_file(
        [
            # NMI 1: import channel E1 in kWh every 30 minutes, actual reads
            nem12_200("NMI0000001", "E1", "kWh", 30),
            nem12_300(DAY, [0.5] * 48, "A"),
            nem12_300(NEXT, [0.25] * 48, "E"),
            "500,O,S01009,20240306120000,",
            # NMI 1: export channel B1 in Wh every 15 minutes
            nem12_200("NMI0000001", "B1", "Wh", 15),
            nem12_300(DAY, [100] * 96, "A"),
            # NMI 2: 5-minute kWh, variable quality resolved by 400 records
            nem12_200("NMI0000002", "E1", "KWH", 5),
            nem12_300(DAY, [0.01] * 288, "V"),
            "400,1,12,S14,32,Meter fault",
            "400,13,288,A,,",
        ]
    )
    result = _read(tmp_path, text)
    rows = _rows(result)
    assert rows[("NMI0000001-E1", "2024-03-04")] == (24.0, "A")
    assert rows[("NMI0000001-E1", "2024-03-05")] == (12.0, "E")
    assert rows[("NMI0000001-B1", "2024-03-04")] == (9.6, "A")  # 96 x 100 Wh
    assert rows[("NMI0000002-E1", "2024-03-04")] == (pytest.approx(2.88), "AS")
    assert set(result.daily["unit"]) == {"kWh"} and set(result.daily["source"]) == {"nem12"}
    assert result.quarantine.empty


def test_days_that_are_not_whole_are_quarantined_with_a_reason(tmp_path):
    values = [0.5] * 48
    text = nem12_file(
        [
            nem12_200("NMI0000001", "E1"),
            nem12_300(DAY, values[:47] + [""], "A"),  # one interval without a value
            nem12_300(NEXT, values[:40], "A"),  # too few values: nemreader skips the record
            nem12_300(date(2024, 3, 6), values[:47] + ["x"], "A"),  # not a number
            nem12_300(date(2024, 3, 7), [0] * 48, "N"),  # null data
            nem12_300(date(2024, 3, 8), values, "A"),
            nem12_200("NMI0000001", "Q1", "kVArh"),  # reactive energy is not usage
            nem12_300(DAY, [0.1] * 48, "A"),
        ]
    )
    result = _read(tmp_path, text)
    assert list(result.daily["date"]) == ["2024-03-08"]
    quarantine = result.quarantine.set_index(["meter_id", "date"])
    partial = quarantine.loc[("NMI0000001-E1", "2024-03-04")]
    assert partial["reason"] == "partial_day" and partial["detail"] == "47 of 48 intervals read"
    assert partial["usage"] == 23.5  # the partial sum is kept, not written as the day's usage
    skipped = quarantine.loc[("NMI0000001-E1", "2024-03-05")]
    assert skipped["reason"] == "incomplete_record"
    assert skipped["detail"] == "line 4: 300 record with fewer than 48 values"
    assert quarantine.loc[("NMI0000001-E1", "2024-03-06")]["reason"] == "partial_day"
    null = quarantine.loc[("NMI0000001-E1", "2024-03-07")]
    assert null["detail"] == "0 of 48 intervals read"
    reactive = quarantine.loc[("NMI0000001-Q1", "2024-03-04")]
    assert reactive["reason"] == "unsupported_unit" and reactive["unit"] == "kVArh"
    assert result.summary["quarantined_by_reason"] == {
        "partial_day": 3,
        "incomplete_record": 1,
        "unsupported_unit": 1,
    }


def _good_blocks() -> list[str]:
    return [nem12_200("NMI0000001", "E1"), nem12_300(DAY, [0.5] * 48)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (nem12_file(_good_blocks(), end=False), "no 900 (end of data) record"),
        (nem12_file(_good_blocks(), header=False), "must start with a 100 row"),
        (
            nem12_file([*_good_blocks(), "300,2024-03-05" + ",0.5" * 48 + ",A,,,,"]),
            "Unable to parse line 4",
        ),
        (nem12_file([*_good_blocks(), "250,NMI0000001,E1"]), "250 on line 4 not supported"),
        (
            nem12_file([nem12_200("NMI0000001", "E1"), nem12_300(DAY, [0.5] * 50)]),
            "quality method '0' is not a NEM12 quality flag",
        ),
        (
            "100,NEM13,202401010000,MDP1,RETAILER1\n900\n",
            "a NEM13 file; daily usage needs interval data",
        ),
        (nem12_file([]), "no interval data"),
        (nem12_file([nem12_300(DAY, [0.5] * 48)]), "before any 200 (NMI details) record"),
    ],
    ids=[
        "no-900",
        "no-100",
        "bad-date",
        "unknown-record",
        "too-many-values",
        "nem13",
        "empty",
        "no-200",
    ],
)
def test_malformed_files_fail_in_one_line_naming_the_file(tmp_path, text, message):
    with pytest.raises(MeterFileError) as error:
        _read(tmp_path, text, "broken.csv")
    assert message in str(error.value)
    assert str(error.value).startswith(str(tmp_path / "broken.csv"))
    assert "\n" not in str(error.value)


def test_a_zipped_file_reads_the_same(tmp_path):
    import zipfile

    text = nem12_file(_good_blocks())
    with zipfile.ZipFile(tmp_path / "nem.zip", "w") as archive:
        archive.writestr("nem.csv", text)
    result = read_meter_file(tmp_path / "nem.zip", "nem12")
    assert _rows(result) == {("NMI0000001-E1", "2024-03-04"): (24.0, "A")}
