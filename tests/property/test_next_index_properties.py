"""The next shared index (`shared_index.next_entries`) against a plain model of its rules.

`next_entries` patches the old index's columns in place; the model below builds the same index
one entry object at a time, as the rules in DESIGN.md §3 read. They must agree on every entry for
any old index, synced tree, kept paths and scope (the order of entries in the file is free).
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pansync.index import IndexEntry, SharedIndex, decode_index, encode_index
from pansync.model import Kind, SyncedEntry
from pansync.names import covered
from pansync.shared_index import TOMBSTONE_TTL_NS, next_entries

NOW = 100 * TOMBSTONE_TTL_NS
GENERATION = 41

keys = st.sampled_from(["a", "a/b", "a/b/文件.txt", "a/c", "报告", "报告/第一章。md", "报告/图", "z", "z/y"])
md5s = st.sampled_from(["", "0" * 32, "d41d8cd98f00b204e9800998ecf8427e"])
ids = st.sampled_from(["1", "2", "3"])
sizes = st.sampled_from([0, 5, 2**40])
mtimes = st.sampled_from([1, 2, NOW - TOMBSTONE_TTL_NS - 1, NOW - TOMBSTONE_TTL_NS, NOW - 1])
clients = st.sampled_from(["me", "客户端-b", "c"])

old_entries = st.builds(
    IndexEntry,
    key=keys,
    kind=st.sampled_from(Kind),
    size=sizes,
    mtime_ns=mtimes,
    md5=md5s,
    remote_id=ids,
    deleted=st.booleans(),
    generation=st.integers(1, GENERATION - 1),
    client_id=clients,
)
records = st.builds(
    SyncedEntry,
    kind=st.sampled_from(Kind),
    size=sizes,
    md5=md5s,
    local_name=st.just("x"),
    local_mtime_ns=st.just(0),
    local_inode=st.just(0),
    remote_name=st.just("x"),
    remote_id=ids,
    remote_mtime_ns=mtimes,
)


def model(
    old: Mapping[str, IndexEntry],
    synced: Mapping[str, SyncedEntry],
    keep: set[str],
    scope: frozenset[str] | None,
) -> dict[str, IndexEntry]:
    """The rules, entry by entry: what the batch judged follows the synced tree, the rest is kept."""

    def judged(key: str) -> bool:
        return scope is None or covered(key, scope)

    result = {key: e for key, e in old.items() if not judged(key)}
    for key, s in synced.items():
        if not judged(key):
            continue
        previous = old.get(key)
        kept = previous is not None and covered(key, keep)
        same = (
            previous is not None
            and not previous.deleted
            and (previous.md5, previous.remote_id, previous.size, previous.mtime_ns, previous.kind)
            == (s.md5, s.remote_id, s.size, s.remote_mtime_ns, s.kind)
        )
        if previous is not None and (kept or same):
            result[key] = previous
        else:
            result[key] = IndexEntry(
                key, s.kind, s.size, s.remote_mtime_ns, s.md5, s.remote_id, False, GENERATION, "me"
            )
    for key, e in old.items():
        if key in result or not judged(key):
            continue
        if covered(key, keep):
            result[key] = e
        elif e.deleted:
            if NOW - e.mtime_ns < TOMBSTONE_TTL_NS:
                result[key] = e
        else:
            result[key] = IndexEntry(key, e.kind, 0, NOW, "", e.remote_id, True, GENERATION, "me")
    return result


@given(
    st.lists(old_entries, max_size=9, unique_by=lambda e: e.key),
    st.dictionaries(keys, records, max_size=9),
    st.sets(keys, max_size=2),
    st.one_of(st.none(), st.frozensets(keys, min_size=1, max_size=2)),
    st.booleans(),
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_next_index_follows_the_rules(
    old_list: list[IndexEntry],
    synced: dict[str, SyncedEntry],
    keep: set[str],
    scope: frozenset[str] | None,
    decoded: bool,
) -> None:
    old = SharedIndex(GENERATION - 1, "c", 0, {e.key: e for e in old_list})
    if decoded:  # the columns a sync really starts from
        old = decode_index(encode_index(old))
    before = dict(old.entries)

    got = next_entries(
        old if old_list or decoded else None,
        synced,
        keep=keep,
        client_id="me",
        generation=GENERATION,
        now_ns=NOW,
        scope=scope,
    )

    assert dict(got) == model(before, synced, keep, scope)
    assert len(got) == len(dict(got))
    assert dict(old.entries) == before  # the old index is left as it was
    again = decode_index(encode_index(SharedIndex(GENERATION, "me", NOW, got))).entries
    assert dict(again) == dict(got)
