"""`names.all_nfc` tests a whole folder of names at once; it must say what testing each name says."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from pansync.names import all_nfc

# Names as a folder may hold them: Chinese, Latin letters with and without combining marks (which
# NFC composes), lone combining marks at either end, and Hangul jamo (which NFC composes too).
names = st.lists(
    st.text(
        alphabet=st.one_of(
            st.sampled_from("报告文件夹，。（）a e u n A\u0301\u0300\u0308\u0303\u1100\u1161\u11a8\uac00é"),
            st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
        ),
        min_size=1,
        max_size=8,
    ),
    max_size=6,
)


@given(names)
@settings(max_examples=1000)
def test_a_folder_is_nfc_exactly_when_each_name_is(folder: list[str]) -> None:
    assert all_nfc(folder) == all(unicodedata.is_normalized("NFC", name) for name in folder)


def test_twins_across_names_are_not_mistaken_for_one_name() -> None:
    assert all_nfc(["cafe", "\u0301x"])  # the mark starts a name: nothing to compose it with
    assert not all_nfc(["报告", "cafe\u0301"])
    assert all_nfc(["报告", "café", "第一章。txt"])
