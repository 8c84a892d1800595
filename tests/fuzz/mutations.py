"""Hypothesis strategies: arbitrary JSON mutations of valid events (tests/factories.py)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from engine.ingest import validation
from tests import factories

Path = tuple[Any, ...]

#: Values that have broken JSON services before: edges of numbers (NaN and Infinity are not JSON;
#: json.dumps writes them anyway), of text, and of containers.
EDGE_VALUES = (
    float("nan"),
    float("inf"),
    -float("inf"),
    1.7976931348623157e308,
    -0.0,
    2**63,
    10**400,
    "",
    " ",
    "\u0000",
    "\ud800",
    "null",
    "0",
    "9" * 300,
    "2022-02-30",
    "0001-01-01T00:00:00+08:00",
    "9999-12-31T23:59:59-12:00",
    [],
    {},
    [[[[[]]]]],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(EDGE_VALUES).map(copy.deepcopy),  # a copy: mutations must not edit the constants
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)

#: Keys a mutation adds: the envelope's and the data schemas' own (so it collides with real
#: fields), and arbitrary text.
KEYS = st.sampled_from(["id", "uscc", "type", "data", "occurred_at", "name", "region", "year", "sales", "period", "consent", "hires", "x"]) | st.text(max_size=8)


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every JSON path into `value`, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def _tweaks(value: Any) -> list[Any]:
    """Near misses of a value: the same kind of thing, slightly wrong (or another kind)."""
    if isinstance(value, bool):
        return [not value, int(value), str(value).lower(), None]
    if isinstance(value, (int, float)):
        near = [-value, value * 10**6, str(value), 1.7976931348623157e308, True]
        with contextlib.suppress(OverflowError):  # an int past a double's range has no float twin
            near += [value + 0.5, float(value)]
        return near
    if isinstance(value, str):
        return [value.lower(), value + "x", value[:-1], " " + value, value * 3, value.upper() + "\u0000", "", [value]]
    if isinstance(value, dict):
        return [[], list(value.values()), {"": value}]
    if isinstance(value, list):
        return [{}, value[:1] * 3]
    return [0, "", False, {}]


@st.composite
def mutate(draw: st.DrawFn, item: Any, max_mutations: int = 3) -> Any:
    """`item` with one to `max_mutations` mutations: a key deleted, a value replaced by any
    JSON value, a key added, or a value tweaked; the root itself may be replaced."""
    item = copy.deepcopy(item)
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(list(paths(item))))
        operation = draw(st.sampled_from(["delete", "replace", "add", "tweak"]))
        parent, key = _locate(item, path)
        target = item if parent is None else parent[key]
        if operation == "delete" and parent is not None:
            del parent[key]
            continue
        if operation == "add" and isinstance(target, (dict, list)):
            value = draw(json_values)
            if isinstance(target, dict):
                target[draw(KEYS)] = value
            else:
                target.append(value)
            continue
        new = draw(json_values) if operation == "replace" else draw(st.sampled_from(_tweaks(target)))
        if parent is None:
            item = new
        else:
            parent[key] = new
    return item


def _locate(root: Any, path: Path) -> tuple[Any, Any]:
    """(container, key) of `path` in `root`; (None, None) for the root."""
    if not path:
        return None, None
    node = root
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


@st.composite
def valid_events(draw: st.DrawFn, *, with_id: bool) -> dict[str, Any]:
    """A valid event of any type for one of a few firms (so a firm collects several events)."""
    kind = draw(st.sampled_from(validation.event_types()))
    firm = factories.uscc(draw(st.integers(1, 8)), region=draw(st.sampled_from(["140302", "630102", "530102"])))
    event = factories.event(kind, firm=firm, occurred_at=draw(st.sampled_from(["2022-03-01T09:00:00+08:00", "2022-06-15T10:30:00Z", "2023-01-05T08:00:00+08:00"])))
    if with_id:
        event["id"] = factories.message_id()
    return event


@st.composite
def items(draw: st.DrawFn, *, with_id: bool) -> tuple[Any, bool]:
    """(event, mutated): a valid event, or a mutation of one (which may happen to stay valid)."""
    event = draw(valid_events(with_id=with_id))
    if draw(st.integers(0, 3)) == 0:
        return event, False
    return draw(mutate(event)), True


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    """One to five items, valid and mutated mixed; some reuse an earlier item's id (the same
    event twice, or another event under a taken id)."""
    batch: list[Any] = []
    for _ in range(draw(st.integers(1, 5))):
        item, _ = draw(items(with_id=True))
        earlier = [b for b in batch if isinstance(b, dict) and isinstance(b.get("id"), str)]
        if earlier and isinstance(item, dict) and draw(st.integers(0, 4)) == 0:
            twin = draw(st.sampled_from(earlier))
            item = copy.deepcopy(twin) if draw(st.booleans()) else {**item, "id": twin["id"]}
        batch.append(item)
    return batch
