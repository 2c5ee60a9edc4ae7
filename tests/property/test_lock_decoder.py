"""Fuzz the lock file parser: any bytes give a `LockRecord` or `LockCorrupt`, nothing else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pansync.errors import LockCorrupt
from pansync.lock import LockRecord, encode_lock, parse_lock

FIELDS = ["client_id", "client_name", "host", "pid", "token", "generation"]
FIELDS += ["acquired_ns", "renewed_ns", "ttl_s", "pansync_lock"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

names = st.text(min_size=1, max_size=50)
records = st.builds(
    LockRecord,
    client_id=names,
    client_name=names,
    host=names,
    pid=st.integers(0, 2**63 - 1),
    token=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    generation=st.integers(0, 2**63 - 1),
    acquired_ns=st.integers(-(2**63) + 1, 2**63 - 1),
    renewed_ns=st.integers(-(2**63) + 1, 2**63 - 1),
    ttl_s=st.floats(0.001, 1e9),
)


def parse_or_corrupt(data: bytes) -> LockRecord | None:
    try:
        return parse_lock(data)
    except LockCorrupt:
        return None


@given(st.binary(max_size=600))
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes(data: bytes) -> None:
    parse_or_corrupt(data)


@st.composite
def near_records(draw: st.DrawFn) -> dict[str, object]:
    """A valid record's JSON with some fields dropped or replaced by arbitrary JSON."""
    obj: dict[str, object] = json.loads(encode_lock(draw(records)))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        if draw(st.booleans()):
            obj.pop(name, None)
        else:
            obj[name] = draw(json_values)
    return obj


@given(near_records())
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
def test_json_objects_with_the_right_keys_and_wrong_values(obj: dict[str, object]) -> None:
    parse_or_corrupt(json.dumps(obj).encode())


@given(json_values)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_json_document(value: object) -> None:
    parse_or_corrupt(json.dumps(value).encode())


@given(records)
@settings(max_examples=300)
def test_valid_records_round_trip(record: LockRecord) -> None:
    assert parse_lock(encode_lock(record)) == record


@given(records, st.integers(0, 400))
def test_truncated_lock_files(record: LockRecord, cut: int) -> None:
    encoded = encode_lock(record)
    result = parse_or_corrupt(encoded[:cut])
    assert result is None or cut >= len(encoded.rstrip())
