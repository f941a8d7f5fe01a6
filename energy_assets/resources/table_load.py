"""A usage frame as DynamoDB items, the way ``UsageTableResource.put_usage`` writes them, built
column by column: DynamoDB-JSON lines for ImportTable, attribute-value dicts for BatchWriteItem.

The typing rule is put_usage's (``dynamodb._to_attribute``): numbers, and text that reads as a
finite decimal, become N (the text ``Decimal`` gives: ``"29.0690"`` stays, ``" 5"`` is ``"5"``);
other text stays S, as a faulty writer would leave it; missing values (None, NaN) are left out;
key columns are always S. Numeric columns are converted at once; text columns once per distinct
value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

RESERVED_METER = "#table"  # the registry's summary item: no meter may take this id


def _number_text(value) -> str | None:
    """The N text put_usage would write for one value, None when it is not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return str(Decimal(str(value)))
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return str(number) if number.is_finite() else None


def _fragment(name: str, kind: str, text: str) -> str:
    return f'{json.dumps(name)}:{{"{kind}":{json.dumps(text)}}}'


def _value_fragments(name: str, column: pd.Series) -> pd.Series:
    """``"name":{"N":"1.5"}`` (or S) per row, "" where the value is missing."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        present = column.notna() & np.isfinite(column.astype("float64"))
        if pd.api.types.is_float_dtype(column):
            text = column.astype("float64").astype(str).astype(object)  # repr of each float
            exponent = text.str.contains("e", regex=False) & present
            # Decimal writes 1e-07 as 1E-7 (and 4e-05 as 0.00004): as put_usage does
            text[exponent] = text[exponent].map(lambda v: str(Decimal(v)))
        else:
            text = column.astype("Int64").astype(str)
        head = json.dumps(name) + ':{"N":"'
        return (head + text.astype(object) + '"}').where(present, "").astype(object)
    lookup: dict = {}
    for value in pd.unique(column.astype(object)):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            lookup[value] = ""
            continue
        number = _number_text(value)
        lookup[value] = (
            _fragment(name, "N", number) if number is not None else _fragment(name, "S", str(value))
        )
    return column.astype(object).map(lookup).fillna("").astype(object)


def _key_fragments(name: str, column: pd.Series) -> pd.Series:
    """Keys are the text they were given (``0012`` stays ``0012``)."""
    if column.isna().any():
        raise ValueError(f"{int(column.isna().sum())} row(s) have no {name}: a key cannot be empty")
    text = column.astype(object).map(str)
    lookup = {v: _fragment(name, "S", v) for v in pd.unique(text)}
    return text.map(lookup).astype(object)


def unique_items(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per key, the last one winning, as successive writes would leave the table."""
    text_keys = frame[keys].astype(str)
    return frame[~text_keys.duplicated(keep="last").to_numpy()]


def json_lines(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One ``{"Item": {...}}`` DynamoDB-JSON line per row (ImportTable's input format)."""
    if "meter_id" in keys and (frame["meter_id"].astype(str) == RESERVED_METER).any():
        raise ValueError(f"meter id {RESERVED_METER!r} is reserved by the meter registry")
    parts = [_key_fragments(k, frame[k]) for k in keys]
    parts += [_value_fragments(c, frame[c]) for c in frame.columns if c not in keys]
    line = '{"Item":{' + parts[0]
    for part in parts[1:]:
        line = line + ("," + part).where(part != "", "")
    return (line + "}}").astype(object)


def batches(frame: pd.DataFrame, keys: list[str], size: int = 25) -> Iterator[list[dict]]:
    """BatchWriteItem ``PutRequest`` lists of at most ``size`` items, parsed from ``json_lines``
    (the C JSON parser builds the attribute-value dicts faster than Python code would)."""
    lines = json_lines(frame, keys).tolist()
    for start in range(0, len(lines), size):
        chunk = "[" + ",".join(lines[start : start + size]) + "]"
        yield [{"PutRequest": record} for record in json.loads(chunk)]


def chunked(lines: pd.Series, per_file: int) -> Iterator[str]:
    for start in range(0, len(lines), per_file):
        yield "\n".join(lines.iloc[start : start + per_file].tolist()) + "\n"
