"""Reading a catalog file: YAML (`.yaml`, `.yml`) or JSON (`.json`) into the document `catalog.parse_catalog` checks.

A key given twice in one YAML mapping is refused (YAML would keep the last silently); an
unreadable file or a syntax error raises `CatalogError` naming the file and, when the parser
gives one, the line and column.
"""

from pathlib import Path
from typing import Any

import yaml

from . import jsonsafe
from .catalog_checks import CatalogError

FILE_SUFFIXES = (".yaml", ".yml", ".json")


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last silently),
    nesting deeper than `jsonsafe.MAX_DEPTH` (composing recurses), and reads an impossible date as text."""

    depth = 0

    def compose_node(self, parent, index):
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self.depth += nested
        try:
            if self.depth > jsonsafe.MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {jsonsafe.MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= nested


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


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode):
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):  # 2017-02-30: text, which the checker refuses naming the field
        return loader.construct_scalar(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


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
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError([("", f"cannot read the file: {exc.strerror or exc}")], source=source) from None
    try:
        text = jsonsafe.decode(data)
        if path.suffix.lower() == ".json":
            return jsonsafe.loads(text)  # duplicate keys, depth, NaN, NUL: refused (competencies/jsonsafe.py)
    except jsonsafe.BadDocument as exc:
        where = exc.path or (f"line {exc.line}, column {exc.column}" if exc.line else "")
        raise CatalogError([(where, exc.reason)], source=source) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        raise CatalogError([(where, message)], source=source) from None
    except yaml.YAMLError as exc:
        raise CatalogError([("", f"syntax error: {exc}")], source=source) from None
    except (ValueError, OverflowError) as exc:  # a number YAML cannot build (an integer of 5,000 digits)
        raise CatalogError([("", f"unreadable value: {str(exc).split(';')[0]}")], source=source) from None
