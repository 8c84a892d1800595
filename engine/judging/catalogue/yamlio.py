"""YAML reading for rule and scenario files: strict where PyYAML is lenient.

* Dates stay strings (no implicit timestamps), so a bad date such as ``2022-02-30`` is reported
  by the checker with its key path instead of aborting the whole file inside PyYAML.
* A mapping that repeats a key is an error (PyYAML silently keeps the last value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps and rejecting duplicate keys."""


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(path: Path) -> Any:
    """Parse one YAML file strictly (see the module docstring)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader


def describe(exc: BaseException) -> str:
    """A YAML (or I/O) error on one line, with its position, for a problem list."""
    return " ".join(str(exc).split())
