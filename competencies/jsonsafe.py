"""Strict reading of the product's input files (activity JSON Lines, JSON catalogs): refuse, never crash.

Python's `json` keeps the last of two equal keys silently, reads `NaN`,
recurses until a `RecursionError` on deep nesting, and hands on strings
that PostgreSQL refuses (NUL) or cannot encode (a lone surrogate). Here
each of these is a `BadDocument` with a reason and, where there is one, a
line and column, so a command can print `PATH:LINE: reason`:

- a key given twice in one object;
- nesting deeper than `MAX_DEPTH` arrays and objects;
- `NaN`, `Infinity`, and numbers of more than 4,300 digits;
- a NUL or a lone surrogate in any string (key or value);
- bytes that are not UTF-8 (decoded with `errors="surrogateescape"` by the
  caller, so the line is still read and the bad byte is named with its
  column).
"""

import json
import re
from collections.abc import Iterator
from typing import Any

# The deepest nesting of arrays and objects read. An activity record is 2 deep, a catalog about 12.
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
# Strings, skipped whole, and the brackets outside them: enough to measure nesting without parsing.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class BadDocument(ValueError):
    """A document refused: `reason`, and `line` / `column` (1-based) or the `path` of a value when known."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None, path: str = ""):
        self.reason, self.line, self.column, self.path = reason, line, column, path
        super().__init__(reason)


def refused_character(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000)"
    if _SURROGATE.search(text):
        return "holds a lone surrogate (not a character)"
    return None


def not_utf8(text: str) -> BadDocument | None:
    """The first byte that was not UTF-8 (a surrogate escape left by the decoder), with its line and column."""
    found = _SURROGATE.search(text)
    if found is None:
        return None
    before = text[: found.start()]
    line = before.count("\n") + 1
    column = found.start() - (before.rfind("\n") + 1) + 1
    char = ord(found.group())
    reason = f"not UTF-8 text (byte 0x{char - 0xDC00:02x})" if 0xDC80 <= char <= 0xDCFF else "not UTF-8 text"
    return BadDocument(reason, line=line, column=column)


def decode(data: bytes) -> str:
    """UTF-8 bytes as text (a byte-order mark dropped); `BadDocument` naming the first bad byte's line and column."""
    if data.startswith(b"\xef\xbb\xbf"):  # an editor's byte-order mark is not content
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BadDocument(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line, column=column) from None


def _too_deep(text: str) -> int | None:
    """The offset where nesting passes MAX_DEPTH, or None."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # the common case, at the speed of str.count
        return None
    depth = 0
    for token in _TOKENS.finditer(text):
        kind = token.group()[0]
        if kind in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return token.start()
        elif kind in "]}":
            depth -= 1
    return None


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _value in pairs:
            if key in seen:
                raise BadDocument(f"the key {key!r} is given twice in one object")
            seen.add(key)
    return obj


def _constant(name: str):
    raise BadDocument(f"{name} is not a number this product reads")


# Built once: `json.loads` with options builds a decoder per call. The fast one builds dicts in C and
# keeps the last of two equal keys; the strict one sees every pair (`_pairs`).
_FAST = json.JSONDecoder(parse_constant=_constant)
_STRICT = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)


def _no_key_twice(text: str, document: Any) -> bool:
    """Whether `document`, read from `text` keeping the last of two equal keys, certainly had none.

    Every key is followed by one colon outside any string, so a text with as many colons as its one
    object has keys gave no key twice; colons and brackets inside strings only send it to the strict reading.
    """
    braces = text.count("{")
    if braces == 0:  # no object at all
        return True
    if braces == 1 and "[" not in text and type(document) is dict:  # one flat object: an activity record
        return text.count(":") == len(document)
    return text.count(":") == _keys(document)


def _keys(document: Any) -> int:
    """The keys of the document's one object, or -1 when objects nest (the colons then cannot tell)."""
    if type(document) is dict:
        keys, values = len(document), document.values()
    elif type(document) is list:
        keys, values = 0, document
    else:
        return 0
    for value in values:
        if type(value) is dict or (type(value) is list and any(type(item) in (dict, list) for item in value)):
            return -1
    return keys


def strings(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, text) of every string of a parsed document, keys included; no recursion."""
    stack = [(path, node)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    yield (*where, key), key
                stack.append(((*where, key), item))
        elif isinstance(value, list):
            stack.extend(((*where, index), item) for index, item in enumerate(value))


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def loads(text: str) -> Any:
    """The JSON document in `text`, read strictly (the module's rules); `BadDocument` otherwise."""
    if not text.isascii() and (bad := not_utf8(text)):  # isascii: a flag CPython keeps on the string
        raise bad
    if (offset := _too_deep(text)) is not None:
        line, column = _position(text, offset)
        raise BadDocument(f"nested deeper than {MAX_DEPTH} levels", line=line, column=column)
    try:
        document = _FAST.decode(text)
        if not _no_key_twice(text, document):  # maybe a key given twice: read it again, seeing every pair
            document = _STRICT.decode(text)
    except json.JSONDecodeError as exc:
        raise BadDocument(f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except BadDocument:
        raise
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits
        raise BadDocument(f"unreadable: {str(exc).split(';')[0]}") from None
    if "\\u" in text:  # a NUL or a lone surrogate can only come from an escape
        for where, value in strings(document):
            if reason := refused_character(value):
                raise BadDocument(reason, path=_path(where) or "the document")
    return document


def _path(parts: tuple) -> str:
    out = ""
    for part in parts:
        part = part if isinstance(part, int) or part.isprintable() else json.dumps(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
