"""Reading a catalog file: YAML (`.yaml`, `.yml`) or JSON (`.json`) into the document `catalog.parse_catalog` checks.

A key given twice in one YAML mapping is refused (YAML would keep the last silently); an
unreadable file or a syntax error raises `CatalogError` naming the file and, when the parser
gives one, the line and column.
"""

import json
from pathlib import Path
from typing import Any

import yaml

from .catalog_checks import CatalogError

FILE_SUFFIXES = (".yaml", ".yml", ".json")


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable: the base constructor reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_catalog_file(path: str | Path) -> Any:
    """The document in a catalog file: YAML (`.yaml`, `.yml`) or JSON (`.json`).

    An unreadable file or a syntax error raises `CatalogError` naming the file
    and, when the parser gives one, the line and column.
    """
    path = Path(path)
    source = str(path)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise CatalogError([("", f"unsupported file type {path.suffix or '(none)'!r}: use .yaml, .yml or .json")], source=source)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, if an editor wrote one, is not content
    except UnicodeDecodeError:
        raise CatalogError([("", "cannot read the file: it is not UTF-8 text")], source=source) from None
    except OSError as exc:
        raise CatalogError([("", f"cannot read the file: {exc.strerror or exc}")], source=source) from None

    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError([(f"line {exc.lineno}, column {exc.colno}", exc.msg)], source=source) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        raise CatalogError([(where, message)], source=source) from None
    except yaml.YAMLError as exc:
        raise CatalogError([("", f"syntax error: {exc}")], source=source) from None
