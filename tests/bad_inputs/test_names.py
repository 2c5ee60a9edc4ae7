"""Names that some side cannot hold, or holds differently: Baidu's forbidden characters, edge spaces
and dots, control characters, over-long names and paths, case and Unicode twins, emoji and
right-to-left text, PanSync's own reserved names. Each case ends in a round trip or in a message
naming the path, and never in a deletion. Runs on `file://` and on `baidu:` (fakepcs over HTTP)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pansync.remote.baidu_names import decode_path
from pansync.remote.base import Remote
from tests.bad_inputs._support import Hooks, assert_kept, failures, hooked, issues, temps_under
from tests.e2e.harness import Client, snapshot
from tests.e2e.test_decisions import converge

REMOTES = ["file", "baidu"]

BAIDU_FORBIDDEN = set('\\?|"><:*')


def _write_all(client: Client, files: dict[str, str]) -> None:
    for rel, text in files.items():
        client.write(rel, text)


def cloud_tree(cloud: Path) -> dict[str, bytes | None]:
    """The cloud folder under local names: Baidu's mapped names decoded (no name in this module holds
    a lookalike itself, so on `file://` the decoding changes nothing)."""
    return {decode_path(rel): data for rel, data in snapshot(cloud).items()}


def _round_trip(alice: Client, bob: Client, cloud: Path, files: dict[str, str]) -> None:
    """`files` written on alice arrive byte for byte on bob, with no item skipped on either."""
    _write_all(alice, files)
    converge(alice, bob)
    for rel, text in files.items():
        assert bob.read(rel) == text, rel
    assert alice.tree() == bob.tree() == cloud_tree(cloud)
    assert not alice.sync().issues and not bob.sync().issues


def _cloud_names(cloud: Path) -> set[str]:
    return {part for rel in snapshot(cloud) for part in rel.split("/")}


def test_baidu_forbidden_characters_are_mapped_and_round_trip(
    alice: Client, bob: Client, cloud: Path, remote_kind: str
) -> None:
    files = {
        "问题?.txt": "question",
        "a:b|c*d.md": "pipes",
        '"quoted" <tag>.txt': "quotes",
        "dir:colon/in*ner?.txt": "nested",
        "第一章：概述.docx": "fullwidth colon is ordinary Chinese punctuation",
    }
    _round_trip(alice, bob, cloud, files)
    names = _cloud_names(cloud)
    assert "第一章：概述.docx" in names  # never mapped
    if remote_kind == "baidu":
        assert not any(BAIDU_FORBIDDEN & set(name) for name in names), names
        assert "dir\ua789colon" in names  # ':' became the modifier-letter colon
    else:
        assert {"问题?.txt", "a:b|c*d.md", "dir:colon"} <= names


def test_edge_spaces_and_trailing_dots_round_trip(
    alice: Client, bob: Client, cloud: Path, remote_kind: str
) -> None:
    files = {
        "trailing dot.": "dot",
        "trailing space ": "space",
        " leading space.txt": "lead",
        "   ": "only spaces",
        "dots...": "three dots",
        "folder. /inside .txt ": "in a folder ending in a dot and a space",
    }
    _round_trip(alice, bob, cloud, files)
    if remote_kind == "baidu":
        for name in _cloud_names(cloud):
            assert not name.startswith(" ") and not name.endswith((" ", ".")), repr(name)


def test_url_significant_characters_round_trip(alice: Client, bob: Client, cloud: Path) -> None:
    files = {
        "a+b.txt": "plus is not a space",
        "100% sure.txt": "percent",
        "percent%2Fslash.txt": "an encoded slash stays a name",
        "q&a=1#frag.txt": "query and fragment",
        "semi;colon,comma.txt": "separators",
        "[brackets]{braces}~`'.txt": "brackets",
        "query?x=1&y=2.txt": "a query string in a name",
    }
    _round_trip(alice, bob, cloud, files)
    assert [n for n in _cloud_names(cloud) if n.startswith("percent")] == ["percent%2Fslash.txt"]


BAD_LOCAL_NAMES = {
    "control": (
        ["tab\there.txt", "new\nline.txt", "bell\x07.txt", "esc\x1b[31mred.txt", "ctl\x01dir/a.txt"],
        "control character",
    ),
    "backslash": (["back\\slash.txt", "win\\dir/x.txt"], "backslash"),
}


def _check_bad_local_names(alice: Client, bob: Client, cloud: Path, kind: str) -> None:
    """Names PanSync refuses from the cloud are not sent to it either: reported, kept, quiet."""
    names, reason = BAD_LOCAL_NAMES[kind]
    alice.write("ok.txt", "ok")
    for name in names:
        alice.write(name, f"content of {name!r}")
    before = alice.tree()
    for _ in range(2):  # the second sync must be as quiet as the first: no churn, no failure
        result = alice.sync()
        assert not result.failed, failures(result)
        found = issues(result)
        for name in names:
            top = name.split("/")[0]
            assert top in found, (name, found)
            assert reason in found[top] and "rename it" in found[top], found[top]
    assert not result.done
    assert_kept(before, alice.tree())  # kept where it is: never trashed as "deleted in the cloud"
    assert snapshot(cloud) == {"ok.txt": b"ok"}  # nothing went up under a mapped name either
    assert not temps_under(cloud)
    bob.sync()
    assert bob.tree() == {"ok.txt": b"ok"}


def test_local_names_with_control_characters_are_reported_and_kept(
    alice: Client, bob: Client, cloud: Path
) -> None:
    _check_bad_local_names(alice, bob, cloud, "control")


def test_local_names_with_backslashes_are_reported_and_kept(alice: Client, bob: Client, cloud: Path) -> None:
    _check_bad_local_names(alice, bob, cloud, "backslash")


def test_a_name_longer_than_the_remote_allows(
    alice: Client, bob: Client, cloud: Path, remote_kind: str
) -> None:
    alice.write("ok.txt", "ok")
    if remote_kind == "baidu":
        # 134 bytes here; each '?' becomes a 2-byte lookalike at Baidu: 264 bytes, over 255
        long_name = "?" * 130 + ".txt"
        alice.write(long_name, "long")
        result = alice.sync()
        assert "255 bytes" in issues(result)[long_name]
        assert not result.failed
        assert alice.read(long_name) == "long"
        bob.sync()
        assert bob.tree() == {"ok.txt": b"ok"}
    else:
        # a file system's own limit is the most a local name can have: exactly that round-trips
        long_name = "é" * 125 + ".txt."
        assert len(long_name.encode()) == 255
        alice.write(long_name, "long")
        converge(alice, bob)
        assert bob.read(long_name) == "long"


def test_a_path_longer_than_the_remote_allows(
    make_client: Callable[..., Client], cloud: Path, remote_kind: str, tmp_path: Path
) -> None:
    if remote_kind == "baidu":
        carol = make_client("carol")
        parts, limit = ["d" * 200] * 5, "1000 characters"  # Baidu: 1000 characters in all
    else:
        # LocalRemote allows 4000 characters; a deep cloud folder makes that the tighter limit
        # while the local path stays under the kernel's 4096
        deep = tmp_path / ("c" * 250)
        deep.mkdir()
        carol = Client(tmp_path, "carol", deep.as_uri())
        cloud = deep
        parts, limit = ["d" * 199] * 19, "4000 characters"
    deep_file = "/".join(parts) + "/f.txt"
    carol.write(deep_file, "deep")
    carol.write("ok.txt", "ok")
    result = carol.sync()
    assert not result.failed, failures(result)
    reported = [(k, m) for k, m in issues(result).items() if deep_file.startswith(k)]
    assert reported and limit in reported[0][1], issues(result)
    assert carol.read(deep_file) == "deep"
    assert (cloud / "ok.txt").exists()
    assert not any(rel.endswith("f.txt") for rel in snapshot(cloud))


def test_case_twins_keep_both_contents(alice: Client, bob: Client, cloud: Path, remote_kind: str) -> None:
    files = {"Foo.txt": "upper", "foo.txt": "lower", "Docs/a.txt": "A", "docs/b.txt": "B"}
    _write_all(alice, files)
    first = alice.sync()
    converge(alice, bob)
    expected = sorted(text.encode() for text in files.values())
    for client in (alice, bob):
        assert sorted(v for v in client.tree().values() if v is not None) == expected, client.name
    assert alice.tree() == bob.tree() == cloud_tree(cloud)
    if remote_kind == "baidu":  # one name per folder there: the second of each pair moved aside
        copies = sorted(c.copy_key for c in first.conflicts)
        assert copies == ["docs (case conflict alice)", "foo (case conflict alice).txt"], first.conflicts
        assert len({k.casefold() for k in bob.tree()}) == len(bob.tree())
    else:
        assert set(files) <= set(bob.tree())


def test_case_twins_made_on_two_clients_keep_both(
    alice: Client, bob: Client, cloud: Path, remote_kind: str
) -> None:
    alice.write("Report.txt", "alice's report")
    bob.write("REPORT.txt", "bob's report")
    alice.sync()
    converge(bob, alice)
    for client in (alice, bob):
        values = sorted(v for v in client.tree().values() if v is not None)
        assert values == [b"alice's report", b"bob's report"], client.name
    if remote_kind == "baidu":
        assert any("case conflict bob" in k for k in bob.tree())


def test_emoji_rtl_and_invisible_characters_round_trip(alice: Client, bob: Client, cloud: Path) -> None:
    files = {
        "😀 smile.txt": "emoji",
        "👨\u200d👩\u200d👧 family.txt": "a ZWJ sequence",
        "עברית.txt": "Hebrew",
        "مرحبا/ملف.txt": "Arabic folder and file",
        "invoice\u202efdp.exe": "a right-to-left override",
        "zero\u200bwidth.txt": "zero-width space",
        "𠀀 extension B.txt": "a CJK character outside the BMP",
    }
    _round_trip(alice, bob, cloud, files)


def test_a_name_the_remote_refuses_at_write_time_is_reported_and_retried(
    make_client: Callable[..., Client], bob: Client, cloud: Path, remote_kind: str, fake_baidu: Any
) -> None:
    hooks = Hooks()
    if remote_kind == "baidu":
        fake_baidu.set_policy(reject_emoji=True)
    else:  # a mount that refuses such names only when asked to create one (as SMB shares do)
        hooks.refuse_upload = lambda name: "Invalid argument" if "😀" in name else None
    carol = make_client("carol", wrap_remote=hooked(hooks))
    carol.write("😀.txt", "emoji")
    carol.write("ok.txt", "ok")
    result = carol.sync()
    assert "😀.txt" in failures(result), result.failed
    assert carol.read("😀.txt") == "emoji"
    assert snapshot(cloud) == {"ok.txt": b"ok"} and not temps_under(cloud)
    if remote_kind == "baidu":
        fake_baidu.set_policy(reject_emoji=False)
    hooks.refuse_upload = None
    assert not carol.sync().failed
    bob.sync()
    assert bob.read("😀.txt") == "emoji"


def test_pansync_names_placed_in_the_cloud_or_locally_are_ignored(
    alice: Client, bob: Client, cloud: Path, cloud_remote: Remote, tmp_path: Path
) -> None:
    alice.write("ok.txt", "ok")
    alice.sync()
    user_file = tmp_path / "user-file"
    user_file.write_text("a user's own file")
    for name in [".pansync.tmp-deadbeef", "sub/.pansync.tmp-x", ".pansync.root", "sub/.pansync/evil.txt"]:
        cloud_remote.upload(user_file, name)
    alice.write(".pansync.tmp-mine", "local temp-like file")
    alice.write("sub2/.pansync.root", "a marker-like file")
    before_cloud = snapshot(cloud)
    for client in (alice, bob):
        result = client.sync()
        assert not result.failed
    assert not (alice.root / "sub" / ".pansync.tmp-x").exists()
    assert not (bob.root / ".pansync.tmp-deadbeef").exists()
    assert not (bob.root / "sub" / ".pansync" / "evil.txt").exists()
    assert (cloud / ".pansync.tmp-deadbeef").exists() and (cloud / "sub" / ".pansync.tmp-x").exists()
    assert not (cloud / ".pansync.tmp-mine").exists() and not (cloud / "sub2" / ".pansync.root").exists()
    assert_kept(before_cloud, snapshot(cloud))
    assert bob.read("ok.txt") == "ok"


def test_sixty_nested_levels_round_trip(alice: Client, bob: Client, cloud: Path) -> None:
    deep = "/".join(f"n{i}" for i in range(60)) + "/deep.txt"
    _round_trip(alice, bob, cloud, {deep: "sixty levels down"})


def test_zero_byte_files_and_empty_folders_round_trip(alice: Client, bob: Client, cloud: Path) -> None:
    for rel in ["empty.txt", "a/empty", "a/b/c/.hidden-empty", "a/b/空.bin"]:
        alice.write(rel, b"")
    (alice.root / "only" / "empty" / "folders").mkdir(parents=True)
    converge(alice, bob)
    assert bob.tree() == alice.tree()
    assert all(v == b"" for v in bob.tree().values() if v is not None)
    assert (bob.root / "only" / "empty" / "folders").is_dir()
    assert os.path.getsize(bob.root / "a" / "b" / "空.bin") == 0
