"""Baidu's reversible MD5 obfuscation ("enc-md5", baidu-pcs.md §1.6).

The real service puts this form, not the hex MD5, in ``md5`` fields, and bypy
compares against it; the emulator must produce it and must also accept it back
(bypy sends it as rapidupload's ``content-md5``).
"""

from __future__ import annotations

import hashlib

_HEX = "0123456789abcdef"


def is_plain_md5(value: str) -> bool:
    """True for 32 lowercase/uppercase hex digits."""
    return len(value) == 32 and all(c in _HEX for c in value.lower())


def is_enc_md5(value: str) -> bool:
    """True for the enc-md5 shape: 31 hex digits plus a letter g..v at index 9."""
    if len(value) != 32 or not ("g" <= value[9] <= "v"):
        return False
    return all(c in _HEX for c in value[:9] + value[10:])


def encode(md5_hex: str) -> str:
    """Plain hex MD5 -> enc-md5: reorder, XOR each digit with i & 15, letter at 9."""
    h = md5_hex.lower()
    if not is_plain_md5(h):
        raise ValueError(f"not a hex md5: {md5_hex!r}")
    r = h[8:16] + h[0:8] + h[24:32] + h[16:24]
    x = "".join(_HEX[int(c, 16) ^ (i & 15)] for i, c in enumerate(r))
    return x[:9] + chr(ord("g") + int(x[9], 16)) + x[10:]


def decode(enc: str) -> str:
    """enc-md5 -> plain hex MD5 (the inverse of :func:`encode`)."""
    if not is_enc_md5(enc):
        raise ValueError(f"not an enc-md5: {enc!r}")
    x = enc[:9] + _HEX[ord(enc[9]) - ord("g")] + enc[10:]
    r = "".join(_HEX[int(c, 16) ^ (i & 15)] for i, c in enumerate(x))
    return r[8:16] + r[0:8] + r[24:32] + r[16:24]


def to_plain(value: str) -> str | None:
    """Accept either form and return the plain MD5, or None if it is neither."""
    if is_plain_md5(value):
        return value.lower()
    if is_enc_md5(value):
        return decode(value)
    return None


def superfile_md5(block_md5s: list[str], content_md5: str, policy: str) -> str:
    """The ``md5`` a createsuperfile result shows, per the configured policy.

    ``baidu`` (default) mimics issue reports that sliced uploads' md5 is not the
    content's enc-md5: we enc-encode the MD5 of the joined block list, which has
    the right shape but the wrong value [inference]. ``enc`` gives the content's
    enc-md5 and ``plain`` the content's hex MD5.
    """
    if policy == "enc":
        return encode(content_md5)
    if policy == "plain":
        return content_md5
    joined = "".join(block_md5s).encode("ascii", "replace")
    return encode(hashlib.md5(joined).hexdigest())
