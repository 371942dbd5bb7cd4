"""Stored timestamps become the datetimes fromisoformat() builds, whichever path reads them
(the common form is read in C++, the rest by fromisoformat itself)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from asap_native import _core

OFFSETS = st.one_of(
    st.none(),
    st.just(timezone.utc),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
    st.integers(min_value=-86399, max_value=86399).map(
        lambda seconds: timezone(timedelta(seconds=seconds))
    ),
)


def reference(text: str) -> datetime:
    normalized = text[:-1] + "+00:00" if text[-1:] in "Zz" else text
    return datetime.fromisoformat(normalized)


@settings(max_examples=examples(400))
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=OFFSETS,
    timespec=st.sampled_from(["auto", "seconds", "milliseconds", "microseconds", "minutes"]),
    sep=st.sampled_from(["T", " "]),
    zulu=st.booleans(),
)
def test_same_datetime_as_fromisoformat(
    moment: datetime, zone: timezone | None, timespec: str, sep: str, zulu: bool
) -> None:
    text = moment.replace(tzinfo=zone).isoformat(sep=sep, timespec=timespec)
    if zulu and text.endswith("+00:00"):
        text = text[:-6] + "Z"
    got = _core._datetime_from_text(text)
    want = reference(text)
    assert got == want
    assert type(got) is datetime
    assert got.tzinfo == want.tzinfo
    assert got.utcoffset() == want.utcoffset()
    assert got.isoformat() == want.isoformat()


def test_utc_is_the_singleton_and_offsets_are_shared() -> None:
    assert _core._datetime_from_text("2024-05-17T08:30:00+00:00").tzinfo is timezone.utc
    assert _core._datetime_from_text("2024-05-17T08:30:00-00:00").tzinfo is timezone.utc
    assert _core._datetime_from_text("2024-05-17T08:30:00Z").tzinfo is timezone.utc
    assert _core._datetime_from_text("2024-05-17T08:30:00").tzinfo is None
    a = _core._datetime_from_text("2024-05-17T08:30:00+02:00")
    b = _core._datetime_from_text("2024-05-18T09:00:00.123+02:00")
    assert a.tzinfo == timezone(timedelta(hours=2)) and a.tzinfo is b.tzinfo
    assert b.microsecond == 123000
