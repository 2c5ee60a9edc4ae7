"""`baidu_names`: the reversible mapping between local names and names Baidu accepts.

Job: let `notes: todo?.txt` sync although PCS refuses `\\ ? | " > < : *`, control characters,
leading or trailing spaces and a trailing dot in a name (baidu-pcs.md §8). Each refused character
becomes a lookalike, as rclone's `--encoding` does, and an escape character (`‛`, U+201B, rclone's
choice) marks a literal lookalike so the two stay apart.

The lookalikes come from blocks that Chinese text does not use (Latin extensions, spacing modifier
letters, mathematical symbols, control pictures: none of them is in GB2312 or GBK). The fullwidth
forms `：？＊＂＜＞｜＼` are everyday Chinese punctuation, so they are never mapped: `第一章：概述.docx`
is the same name on both sides.

Limit: pure string functions, one path component at a time or a whole `/`-separated path. The
guarantee is `decode(encode(s)) == s` for every string. The reverse holds for every cloud name
that does not itself contain a lookalike in a spot the encoder would not have put it (such a name,
e.g. `a␠b` made in Baidu's web page, reads back as `a b`).
"""

from __future__ import annotations

__all__ = [
    "ESCAPE",
    "FORBIDDEN",
    "decode_name",
    "decode_path",
    "encode_name",
    "encode_path",
    "unmappable_reason",
]

ESCAPE = "\u201b"
"""`‛` SINGLE HIGH-REVERSED-9 QUOTATION MARK: put before a literal lookalike (rclone uses it too)."""

FORBIDDEN = '\\?|"><:*'
"""Characters PCS refuses anywhere in a name ([pcs-doc], fakepcs answers 31062)."""

_ANYWHERE: dict[str, str] = {
    "\\": "\u29f5",  # ⧵ REVERSE SOLIDUS OPERATOR
    "?": "\u0294",  # ʔ LATIN LETTER GLOTTAL STOP
    "|": "\u01c0",  # ǀ LATIN LETTER DENTAL CLICK
    '"': "\u02ba",  # ʺ MODIFIER LETTER DOUBLE PRIME
    ">": "\u02c3",  # ˃ MODIFIER LETTER RIGHT ARROWHEAD
    "<": "\u02c2",  # ˂ MODIFIER LETTER LEFT ARROWHEAD
    ":": "\ua789",  # ꞉ MODIFIER LETTER COLON
    "*": "\u2217",  # ∗ ASTERISK OPERATOR
    "\x7f": "\u2421",  # ␡ SYMBOL FOR DELETE
}
_ANYWHERE.update({chr(c): chr(0x2400 + c) for c in range(0x20)})  # C0 controls → control pictures

_EDGE_SPACE = "\u2420"  # ␠ SYMBOL FOR SPACE: a leading or trailing space
_END_DOT = "\u2024"  # ․ ONE DOT LEADER: a trailing dot

_DECODE: dict[str, str] = {v: k for k, v in _ANYWHERE.items()}
_DECODE[_EDGE_SPACE] = " "
_DECODE[_END_DOT] = "."
_SPECIAL = frozenset(_DECODE) | {ESCAPE}
"""Characters that decoding would change: a literal one must be escaped."""


def _encode_char(ch: str, first: bool, last: bool) -> str:
    if ch in _ANYWHERE:
        return _ANYWHERE[ch]
    if ch in _SPECIAL and ch != ESCAPE:
        return ESCAPE + ch
    if ch == " " and (first or last):
        return _EDGE_SPACE
    if ch == "." and last:
        return _END_DOT
    return ch


def encode_name(name: str) -> str:
    """One local path component → the name stored at Baidu."""
    out: list[str] = []
    end = len(name) - 1
    for i in range(end, -1, -1):  # right to left: an escape depends on what follows it
        ch = name[i]
        if ch == ESCAPE:
            follows = out[-1][0] if out else ""
            out.append(ESCAPE + ESCAPE if follows in _SPECIAL else ESCAPE)
        else:
            out.append(_encode_char(ch, i == 0, i == end))
    return "".join(reversed(out))


def decode_name(name: str) -> str:
    """One Baidu name → the local name (inverse of `encode_name`)."""
    out: list[str] = []
    i, n = 0, len(name)
    while i < n:
        ch = name[i]
        if ch == ESCAPE and i + 1 < n and name[i + 1] in _SPECIAL:
            out.append(name[i + 1])
            i += 2
            continue
        out.append(_DECODE.get(ch, ch) if ch != ESCAPE else ch)
        i += 1
    return "".join(out)


def encode_path(rel_path: str) -> str:
    """A local `/`-separated relative path → the remote spelling, component by component."""
    return "/".join(encode_name(part) for part in rel_path.split("/")) if rel_path else rel_path


def decode_path(remote_path: str) -> str:
    """Inverse of `encode_path`."""
    return "/".join(decode_name(part) for part in remote_path.split("/")) if remote_path else remote_path


def unmappable_reason(remote_name: str) -> str | None:
    """Why PCS would refuse this (already encoded) component, or None."""
    if not remote_name:
        return "an empty name"
    bad = sorted({ch for ch in remote_name if ch in FORBIDDEN or ch in _ANYWHERE})
    if bad:
        return f"Baidu refuses the characters {''.join(bad)!r} in names"
    if remote_name[0] in " " or remote_name[-1] in " .":
        return "Baidu refuses names that begin or end with a space, or end with a dot"
    return None
