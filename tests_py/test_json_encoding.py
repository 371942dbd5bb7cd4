"""How snapshot ``data`` becomes JSON: defined encodings, exact round trips, rejections."""

from __future__ import annotations

import collections
import dataclasses
import enum
import json
import math
import sqlite3
import struct
import sys
import tempfile
import uuid
from contextlib import closing
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from asap.state.metering import UsageMetrics
from conftest import SNAPSHOT_KINDS, assert_usable, examples, make_raw_snapshot, open_snapshot_store
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from asap_native import InMemorySnapshotStore, SQLiteSnapshotStore, _core


def round_trip(store: Any, data: dict[str, Any]) -> Any:
    store.save(make_raw_snapshot(data, task_id="rt", version=1))
    return store.get("rt", 1).data


def assert_identical(got: Any, expected: Any, path: str = "data") -> None:
    """Equal with the same JSON types (1 is not 1.0, -0.0 is not 0.0) and the same key order."""
    assert type(got) is type(expected), f"{path}: {type(got)} != {type(expected)}"
    if isinstance(expected, dict):
        assert list(got) == list(expected), path
        for key in expected:
            assert_identical(got[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_identical(g, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert struct.pack("<d", got) == struct.pack("<d", expected), (
            f"{path}: {got!r} {expected!r}"
        )
    else:
        assert got == expected, path


# --- defined encodings ---------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.IntFlag):
    R = 4
    W = 2


class Pair(enum.Enum):
    ORIGIN = (0, 0)


class Stamped(enum.Enum):
    EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Inner(BaseModel):
    when: datetime
    tags: set[str]
    ratio: Decimal


class Outer(BaseModel):
    name: str
    inner: Inner
    items: list[Inner]
    color: Color
    ident: uuid.UUID


def test_datetime_date_time_become_iso_strings(snapshot_store: Any) -> None:
    aware = datetime(2024, 5, 17, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 5, 17, 8, 30)
    data = {
        "aware": aware,
        "utc": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "naive": naive,
        "date": date(2024, 2, 29),
        "time": time(23, 59, 58, 1),
        "time_tz": time(1, 2, 3, tzinfo=timezone.utc),
    }
    got = round_trip(snapshot_store, data)
    assert_identical(got, {key: value.isoformat() for key, value in data.items()})
    assert got["aware"] == "2024-05-17T08:30:15.123456+02:00"
    assert got["date"] == "2024-02-29"


def test_uuid_and_decimal_become_strings(snapshot_store: Any) -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    data = {
        "uuid": ident,
        "uuid4": uuid.uuid4(),
        "money": Decimal("1.10"),
        "tiny": Decimal("1E-30"),
        "huge": Decimal("123456789012345678901234567890.5"),
        "neg_zero": Decimal("-0"),
        "nan": Decimal("NaN"),
    }
    got = round_trip(snapshot_store, data)
    assert_identical(got, {key: str(value) for key, value in data.items()})
    assert got["uuid"] == "12345678-1234-5678-1234-567812345678"
    assert got["money"] == "1.10"  # trailing zero kept: Decimal's str, not a float


def test_enums_become_their_values(snapshot_store: Any) -> None:
    data = {
        "plain": Color.RED,
        "int_enum": Level.HIGH,
        "int_flag": Perm.R | Perm.W,
        "tuple_value": Pair.ORIGIN,
        "datetime_value": Stamped.EPOCH,
        "in_list": [Color.GREEN, Level.LOW],
    }
    got = round_trip(snapshot_store, data)
    assert_identical(
        got,
        {
            "plain": "red",
            "int_enum": 2,
            "int_flag": 6,
            "tuple_value": [0, 0],
            "datetime_value": "1970-01-01T00:00:00+00:00",
            "in_list": ["green", 1],
        },
    )


@pytest.mark.skipif(sys.version_info < (3, 11), reason="enum.StrEnum is new in 3.11")
def test_str_enum_becomes_its_value(snapshot_store: Any) -> None:
    class Mode(enum.StrEnum):
        FAST = "fast"

    got = round_trip(snapshot_store, {"mode": Mode.FAST, Mode.FAST: 1})
    assert_identical(got, {"mode": "fast", "fast": 1})


def test_sets_and_tuples_become_lists(snapshot_store: Any) -> None:
    data = {
        "tuple": (1, "two", 3.0),
        "nested_tuple": ((1, 2), (3, (4,))),
        "set": {3, 1, 2},
        "frozenset": frozenset({"b", "a"}),
        "empty_set": set(),
        "empty_tuple": (),
        "set_of_tuples": {(1, 2)},
    }
    got = round_trip(snapshot_store, data)
    assert_identical(got["tuple"], [1, "two", 3.0])
    assert_identical(got["nested_tuple"], [[1, 2], [3, [4]]])
    assert sorted(got["set"]) == [1, 2, 3] and type(got["set"]) is list
    assert sorted(got["frozenset"]) == ["a", "b"] and type(got["frozenset"]) is list
    assert got["empty_set"] == [] and got["empty_tuple"] == []
    assert got["set_of_tuples"] == [[1, 2]]


def test_pydantic_models_become_model_dump_json(snapshot_store: Any) -> None:
    inner = Inner(when=datetime(2024, 5, 17, tzinfo=timezone.utc), tags={"x"}, ratio=Decimal("0.5"))
    outer = Outer(
        name="o",
        inner=inner,
        items=[inner, inner],
        color=Color.GREEN,
        ident=uuid.UUID(int=7),
    )
    metrics = UsageMetrics(tokens_in=5, api_calls=2)
    got = round_trip(snapshot_store, {"outer": outer, "metrics": metrics, "list": [inner]})
    assert_identical(
        got,
        {
            "outer": outer.model_dump(mode="json"),
            "metrics": metrics.model_dump(mode="json"),
            "list": [inner.model_dump(mode="json")],
        },
    )
    assert got["outer"]["inner"]["when"] == "2024-05-17T00:00:00Z"


def test_mixed_nesting(snapshot_store: Any) -> None:
    when = datetime(2024, 5, 17, tzinfo=timezone.utc)
    data = {
        "level1": [
            {"when": when, "ids": (uuid.UUID(int=1), uuid.UUID(int=2))},
            {Color.RED.value: {Level.LOW}},
            [Decimal("2.50"), date(2024, 1, 1), Color.GREEN],
        ]
    }
    got = round_trip(snapshot_store, data)
    assert_identical(
        got,
        {
            "level1": [
                {"when": when.isoformat(), "ids": [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))]},
                {"red": [1]},
                ["2.50", "2024-01-01", "green"],
            ]
        },
    )


def test_builtin_subclasses_are_encoded_as_their_base(snapshot_store: Any) -> None:
    class MyStr(str):
        pass

    class MyInt(int):
        pass

    class MyFloat(float):
        pass

    class MyList(list):  # type: ignore[type-arg]
        pass

    ordered = collections.OrderedDict([("z", 1), ("a", 2)])
    default = collections.defaultdict(list, {"k": [1]})
    data = {
        "str": MyStr("text"),
        MyStr("key"): MyInt(5),
        "float": MyFloat(1.5),
        "list": MyList([1, 2]),
        "ordered": ordered,
        "default": default,
        "counter": collections.Counter("aab"),
    }
    got = round_trip(snapshot_store, data)
    assert_identical(
        got,
        {
            "str": "text",
            "key": 5,
            "float": 1.5,
            "list": [1, 2],
            "ordered": {"z": 1, "a": 2},
            "default": {"k": [1]},
            "counter": {"a": 2, "b": 1},
        },
    )


def test_bool_stays_bool_and_none_stays_none(snapshot_store: Any) -> None:
    got = round_trip(snapshot_store, {"t": True, "f": False, "n": None, "l": [True, 0, 1]})
    assert_identical(got, {"t": True, "f": False, "n": None, "l": [True, 0, 1]})


# --- exact round trips ---------------------------------------------------------------------

TRICKY_FLOATS = [
    0.1,
    0.2 + 0.1,
    1 / 3,
    -0.0,
    0.0,
    1.0,
    -1.0,
    2.0**53,
    2.0**53 + 2,
    2.0**63,
    2.0**64,
    1e16,
    1e22,
    1e23,
    123456789012345680.0,
    5e-324,  # smallest subnormal
    2.2250738585072014e-308,  # smallest normal
    2.2250738585072009e-308,  # largest subnormal
    1.7976931348623157e308,
    -1.7976931348623157e308,
    math.pi,
    math.e,
    9007199254740993.0,
    4.35,
    0.000001,
    1e-7,
    100.0,
]


@pytest.mark.parametrize("value", TRICKY_FLOATS, ids=repr)
def test_floats_round_trip_exactly(snapshot_store: Any, value: float) -> None:
    got = round_trip(snapshot_store, {"x": value, "in_list": [value]})
    assert_identical(got, {"x": value, "in_list": [value]})


def test_integers_at_64_bit_edges_round_trip(snapshot_store: Any) -> None:
    values = [0, 1, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1]
    got = round_trip(snapshot_store, {"ints": values, "max": 2**63 - 1, "umax": 2**64 - 1})
    assert_identical(got, {"ints": values, "max": 2**63 - 1, "umax": 2**64 - 1})


UNICODE_SAMPLES = {
    "ascii": "plain",
    "latin": "façade naïve",
    "cjk": "日本語のテキスト",
    "rtl": "עברית العربية",
    "emoji": "🦀🐍 👩‍👩‍👧‍👦",
    "astral": "\U0001d11e\U0010ffff",
    "combining": "e\u0301",
    "bom_like": "\ufeff\ufffe\uffff",
    "controls": "\x00\x01\x1f\x7f\t\n\r\b\f",
    "separators": "\u2028\u2029\u0085",
    "quotes": '"\'\\/\\\\"',
    "escapes_as_text": "\\u0000\\n",
    "😀 key": "value",
    "": "empty key",
    "\x00": "nul key",
}


def test_unicode_round_trip(snapshot_store: Any) -> None:
    got = round_trip(snapshot_store, dict(UNICODE_SAMPLES))
    assert_identical(got, UNICODE_SAMPLES)


def test_long_strings_round_trip(snapshot_store: Any) -> None:
    data = {"long": "αβγ🦀" * 20_000, "list": ["x" * 100_000]}
    assert_identical(round_trip(snapshot_store, data), data)


def test_moderately_deep_nesting_round_trips(snapshot_store: Any) -> None:
    data: dict[str, Any] = {"leaf": 1}
    for i in range(150):
        data = {f"k{i}": data, "list": [[data]] if i % 50 == 0 else []}
    assert round_trip(snapshot_store, data) == data


# Hypothesis: random JSON documents round trip exactly (types, float bits, key order).
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


@pytest.fixture(scope="module", params=SNAPSHOT_KINDS)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = open_snapshot_store(request.param, tmp_path_factory.mktemp("hyp") / "h.db")
    yield store
    store.close()


@settings(max_examples=examples(150), deadline=None)
@given(data=st.dictionaries(st.text(max_size=8), json_values, max_size=8))
def test_random_documents_round_trip(shared_store: Any, data: dict[str, Any]) -> None:
    assert_identical(round_trip(shared_store, data), data)


@settings(max_examples=examples(300), deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_random_floats_round_trip(shared_store: Any, value: float) -> None:
    assert_identical(round_trip(shared_store, {"f": value}), {"f": value})


# --- rejections ------------------------------------------------------------------------------


class Opaque:
    pass


@dataclasses.dataclass
class SomeDataclass:
    x: int = 1


REJECTED = [
    pytest.param({"a": [0, 1, 2, Opaque()]}, TypeError, "data['a'][3]", id="object-in-list"),
    pytest.param({"a": {"b": object()}}, TypeError, "data['a']['b']", id="object-in-dict"),
    pytest.param({"a": b"bytes"}, TypeError, "data['a']", id="bytes"),
    pytest.param({"a": bytearray(b"x")}, TypeError, "data['a']", id="bytearray"),
    pytest.param({"a": 1 + 2j}, TypeError, "data['a']", id="complex"),
    pytest.param({"a": len}, TypeError, "data['a']", id="function"),
    pytest.param({"a": SomeDataclass()}, TypeError, "data['a']", id="dataclass"),
    pytest.param({"a": Path("/tmp")}, TypeError, "data['a']", id="path"),
    pytest.param({"a": timedelta(1)}, TypeError, "data['a']", id="timedelta"),
    pytest.param({"a": (1, Opaque())}, TypeError, "data['a'][1]", id="object-in-tuple"),
    pytest.param({"a": {1: "x"}}, TypeError, "data['a']", id="int-key"),
    pytest.param({"a": {None: "x"}}, TypeError, "data['a']", id="none-key"),
    pytest.param({"a": {(1, 2): "x"}}, TypeError, "data['a']", id="tuple-key"),
    pytest.param({"a": {b"k": "x"}}, TypeError, "data['a']", id="bytes-key"),
    pytest.param({"a": {1.5: "x"}}, TypeError, "data['a']", id="float-key"),
    pytest.param({"a": {Level.LOW: "x"}}, TypeError, "data['a']", id="intenum-key"),
    pytest.param({"a": ["ok", "bad \ud800"]}, ValueError, "data['a'][1]", id="surrogate-value"),
    pytest.param({"a": {"\udfff": 1}}, ValueError, "data['a']['\\udfff']", id="surrogate-key"),
    pytest.param({"\ud83d": 1}, ValueError, "data['\\ud83d']", id="surrogate-top-key"),
    pytest.param({"a": {"\ud800x"}}, ValueError, "data['a'][0]", id="surrogate-in-set"),
]


@pytest.mark.parametrize(("data", "error", "path"), REJECTED)
def test_rejections_name_the_path(snapshot_store: Any, data: Any, error: type, path: str) -> None:
    with pytest.raises(error) as info:
        snapshot_store.save(make_raw_snapshot(data, task_id="rej"))
    message = str(info.value)
    assert message.startswith((path + ":", path + " ")), message
    assert snapshot_store.list_versions("rej") == []
    assert_usable(snapshot_store)


def test_key_path_uses_repr_of_key(snapshot_store: Any) -> None:
    with pytest.raises(TypeError) as info:
        snapshot_store.save(make_raw_snapshot({"it's": {'x"y': [Opaque()]}}))
    assert str(info.value).startswith("data[\"it's\"]['x\"y'][0]:")


def test_rejection_messages_explain_the_problem(snapshot_store: Any) -> None:
    cases = {
        "not JSON serializable": {"a": Opaque()},
        "surrogate": {"a": "\ud800"},
        "keys must be str": {"a": {1: 1}},
    }
    for phrase, data in cases.items():
        with pytest.raises((TypeError, ValueError)) as info:
            snapshot_store.save(make_raw_snapshot(data))
        assert phrase in str(info.value), (phrase, str(info.value))


def test_enum_with_unencodable_value_is_rejected(snapshot_store: Any) -> None:
    class Weird(enum.Enum):
        X = Opaque()

    with pytest.raises(TypeError, match=r"^data\['w'\]"):
        snapshot_store.save(make_raw_snapshot({"w": Weird.X}))
    assert_usable(snapshot_store)


def test_values_json_dumps_writes_beyond_strict_json_round_trip(snapshot_store: Any) -> None:
    # asap-protocol writes data with json.dumps and reads it with json.loads: integers of any
    # size, NaN and the infinities. They are stored the same way, and read back the same.
    class Huge(enum.IntEnum):
        BIG = 2**70

    data = {
        "big": 2**200,
        "small": -(2**100),
        "edges": [2**63, 2**64, -(2**63) - 1],
        "nan": math.nan,
        "inf": [math.inf, -math.inf],
        "enum": Huge.BIG,
    }
    got = round_trip(snapshot_store, data)
    assert got["big"] == 2**200 and got["small"] == -(2**100)
    assert got["edges"] == [2**63, 2**64, -(2**63) - 1]
    assert math.isnan(got["nan"]) and got["inf"] == [math.inf, -math.inf]
    assert got["enum"] == 2**70 and type(got["enum"]) is int
    plain = {k: v for k, v in data.items() if k != "enum"}
    assert _core._dumps(plain) == json.dumps(plain, separators=(",", ":")).encode()


def test_failing_model_dump_is_rejected(snapshot_store: Any) -> None:
    class Broken(BaseModel):
        x: int = 1

        def model_dump(self, **kwargs: Any) -> Any:  # type: ignore[override]
            raise RuntimeError("cannot dump")

    with pytest.raises(ValueError, match=r"data\['m'\].*cannot dump"):
        snapshot_store.save(make_raw_snapshot({"m": Broken()}))
    assert_usable(snapshot_store)


def test_reference_cycles_are_rejected_without_crashing(snapshot_store: Any) -> None:
    loop_dict: dict[str, Any] = {}
    loop_dict["self"] = loop_dict
    loop_list: list[Any] = []
    loop_list.append(loop_list)
    indirect: dict[str, Any] = {"a": [{"b": None}]}
    indirect["a"][0]["b"] = indirect
    for data in ({"d": loop_dict}, {"l": loop_list}, indirect, {"t": (loop_list,)}):
        with pytest.raises(ValueError, match=r"cycle|deep|nesting"):
            snapshot_store.save(make_raw_snapshot(data, task_id="cyc"))
    assert snapshot_store.list_versions("cyc") == []
    assert_usable(snapshot_store)


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_very_deep_nesting_is_rejected_without_crashing(snapshot_store: Any, depth: int) -> None:
    deep_list: list[Any] = []
    node = deep_list
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    deep_dict: dict[str, Any] = {}
    cursor = deep_dict
    for _ in range(depth):
        cursor["k"] = {}
        cursor = cursor["k"]
    for data in ({"l": deep_list}, deep_dict):
        with pytest.raises(ValueError, match="nesting"):
            snapshot_store.save(make_raw_snapshot(data, task_id="deep"))
    assert snapshot_store.list_versions("deep") == []
    assert_usable(snapshot_store)


def test_rejected_save_keeps_the_previous_version(snapshot_store: Any) -> None:
    good = make_raw_snapshot({"good": True}, task_id="keep", version=1)
    snapshot_store.save(good)
    with pytest.raises(TypeError):
        snapshot_store.save(make_raw_snapshot({"bad": Opaque()}, task_id="keep", version=1))
    with pytest.raises(ValueError):
        snapshot_store.save(make_raw_snapshot({"bad": "\ud800"}, task_id="keep", version=2))
    assert snapshot_store.list_versions("keep") == [1]
    got = snapshot_store.get("keep")
    assert (got.id, got.data) == (good.id, {"good": True})


def test_rejected_save_writes_nothing_to_the_file(db_path: Path) -> None:
    import sqlite3

    with SQLiteSnapshotStore(db_path) as store:
        cycle: list[Any] = []
        cycle.append(cycle)
        for bad in ({"a": Opaque()}, {"a": {1: 2}}, {"a": cycle}, {"a": "\ud800"}):
            with pytest.raises((TypeError, ValueError)):
                store.save(make_raw_snapshot(bad, task_id="nothing"))
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 0
    finally:
        conn.close()


def test_mutation_during_encoding_is_written_as_before_it() -> None:
    # model_dump (arbitrary Python code) empties the containers being encoded: each is written
    # as it was when its encoding began.
    holder: dict[str, Any] = {}

    class Mutator(BaseModel):
        x: int = 1

        def model_dump(self, **kwargs: Any) -> Any:  # type: ignore[override]
            holder["list"].clear()
            holder["dict"].clear()
            return {"x": 1}

    written = {
        "items": [{"x": 1}, "a", "b", "c"],
        "mapping": {"m": {"x": 1}, "n": 1, "o": 2},
    }
    for store in (InMemorySnapshotStore(), SQLiteSnapshotStore(":memory:")):
        for key in ("items", "mapping"):
            holder["list"] = [Mutator(), "a", "b", "c"]
            holder["dict"] = {"m": Mutator(), "n": 1, "o": 2}
            data = {key: holder["list"] if key == "items" else holder["dict"]}
            store.save(make_raw_snapshot(data, task_id="mut"))
            assert store.get("mut", 1).data == {key: written[key]}
        assert_usable(store)
        store.close()


def test_data_must_be_a_dict(snapshot_store: Any) -> None:
    for not_a_dict in ([1, 2], "text", None, 5, (("a", 1),)):
        with pytest.raises(TypeError, match="data"):
            snapshot_store.save(make_raw_snapshot(not_a_dict))
    assert_usable(snapshot_store)


# --- containers changed while they are encoded ------------------------------------------------
# isoformat(), model_dump(), __str__ and Enum values run Python code in the middle of encoding;
# that code may change the very dict or list being written. Whatever it does, what reaches the
# store is valid JSON that reads back as written: each container as it was when its own
# encoding began (json.dumps takes a dict's items the same way).

MUTATIONS = ["grow", "shrink", "clear", "replace", "delete-and-readd"]


def _mutate(container: Any, how: str) -> None:
    if isinstance(container, list):
        if how == "grow":
            container.extend(["grown"] * 3)
        elif how == "shrink":
            del container[len(container) // 2 :]
        elif how == "clear":
            container.clear()
        elif how == "replace":
            container[:] = ["replaced"] * (len(container) + 1)
        elif container:
            container.append(container.pop(0))
    else:
        keys = list(container)
        if how == "grow":
            container.update({f"grown{i}": i for i in range(3)})
        elif how == "shrink":
            for key in keys[len(keys) // 2 :]:
                del container[key]
        elif how == "clear":
            container.clear()
        elif how == "replace":
            for key in keys:
                container[key] = "replaced"
        elif keys:
            value = container.pop(keys[0])
            container[keys[0]] = value


class MutatingDate(datetime):
    """A datetime whose isoformat() changes a container first."""

    target: Any = None
    how: str = "grow"

    def isoformat(self, *args: Any, **kwargs: Any) -> str:
        if self.target is not None:
            _mutate(self.target, self.how)
        return super().isoformat(*args, **kwargs)


def _plain(value: Any) -> Any:
    """What the encoder should write for `value` as it is now (mutators as their text)."""
    if isinstance(value, MutatingDate):
        return datetime.isoformat(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@st.composite
def documents_with_mutators(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    """A document with mutator leaves, each changing one of its own ancestor containers."""
    mutators: list[MutatingDate] = []

    def build(depth: int, ancestors: list[Any]) -> Any:
        kinds = ["dict", "list", "leaf", "mutator"] if depth < 4 else ["leaf", "mutator"]
        kind = draw(st.sampled_from(kinds))
        if kind == "leaf":
            return draw(json_scalars)
        if kind == "mutator":
            value = MutatingDate(2024, 1, 1, tzinfo=timezone.utc)
            value.target = draw(st.sampled_from(ancestors))
            value.how = draw(st.sampled_from(MUTATIONS))
            mutators.append(value)
            return value
        container: Any = {} if kind == "dict" else []
        for i in range(draw(st.integers(0, 4))):
            child = build(depth + 1, [*ancestors, container])
            if kind == "dict":
                container[f"k{i}"] = child
            else:
                container.append(child)
        return container

    root: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 4))):
        root[f"r{i}"] = build(1, [root])
    return root, mutators


@settings(max_examples=examples(300), deadline=None)
@given(document=documents_with_mutators())
def test_containers_changed_while_encoded_are_written_as_they_were(
    document: tuple[dict[str, Any], Any],
) -> None:
    data, _ = document
    expected = _plain(data)  # before any mutation: every mutator targets a container whose
    #                          encoding has begun by the time it runs
    text = _core._dumps(data)
    assert json.loads(text) == expected


@settings(max_examples=examples(200), deadline=None)
@given(document=documents_with_mutators(), how=st.sampled_from(MUTATIONS))
def test_any_change_during_encoding_stores_valid_json_that_reads_back(
    document: tuple[dict[str, Any], Any], how: str
) -> None:
    # Here mutators change any container, also ones not written yet (then the change shows
    # in the text): whatever the text, it is valid JSON and reads back exactly.
    data, mutators = document
    containers = _all_containers(data)
    for i, mutator in enumerate(mutators):
        mutator.target = containers[(i * 7) % len(containers)]
        mutator.how = how
    json.loads(_core._dumps(data))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "mutated.db")
        with SQLiteSnapshotStore(path) as store:
            store.save(make_raw_snapshot(data, task_id="mutated", version=1))
            with closing(sqlite3.connect(path)) as conn:
                (text,) = conn.execute("SELECT data FROM snapshots").fetchone()
            assert store.get("mutated", 1).data == json.loads(text)


def _all_containers(value: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, (dict, list)):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            found.extend(_all_containers(child))
    return found
