"""How deeply untrusted JSON may nest, checked before any decoder sees it.

msgspec decodes nested arrays and objects by recursing in C, guarded only by
the interpreter's recursion limit. Deeper input fails cleanly with a
RecursionError, but input nested about as deep as the limit takes the
decoder there, and any Python code the interpreter runs at that point (a
garbage-collector callback such as the metrics' pause timer, a finalizer)
has no stack left and fails in turn, somewhere unrelated. So input nested
deeper than anyone needs is refused before decoding: what a peer sends
never drives the stack near the limit.

The check is one linear pass, in C: strings are cut out (brackets inside a
message's text do not count), the brackets become +1 and -1, and the deepest
point is the largest running sum. Most input has fewer brackets than the
limit in all and is not scanned at all.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate
from typing import Any

import msgspec

MAX_DEPTH = 64
"""No frame, webhook or API body we accept nests half as deep."""

_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"?', re.S)
# The closing quote is optional, so the pattern never fails once it has seen
# a quote and never rescans: an unterminated string swallows the rest of the
# input, which a decoder would reject at that point anyway.
_AS_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1, +1, -1, -1 as signed bytes
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class TooDeep(msgspec.DecodeError):
    """JSON nested deeper than the limit; a DecodeError like any other bad JSON."""


def depth(raw: str | bytes) -> int:
    """How many arrays and objects are open at the deepest point of ``raw``
    (brackets inside strings do not count; the JSON need not be valid)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    steps = array("b")
    steps.frombytes(_STRING.sub(b"", data).translate(_AS_STEPS, _NOT_BRACKETS))
    return max(accumulate(steps), default=0)


def too_deep(raw: str | bytes, limit: int = MAX_DEPTH) -> bool:
    if isinstance(raw, str):
        opened = raw.count("[") + raw.count("{")
    else:
        opened = raw.count(b"[") + raw.count(b"{")
    return opened > limit and depth(raw) > limit  # counting is enough for every command


def decode(raw: str | bytes, *, type: Any = Any, limit: int = MAX_DEPTH) -> Any:
    """``msgspec.json.decode``, refusing input nested deeper than ``limit``."""
    if too_deep(raw, limit):
        raise TooDeep(f"JSON is nested more than {limit} levels deep.")
    return msgspec.json.decode(raw, type=type)
