"""Fuzzing every parser of outside input (tests/fuzzing.py): a few hundred cases each here,
10⁵ in `bench/fuzz.py`; no uncaught exception, every rejection an error of our own type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from connectors.base import int_of
from monitor.daemon.staff import _number
from tests.conftest import ROOT
from tests.fuzzing import (
    TARGETS,
    Target,
    check_bot,
    check_config,
    check_ok,
    check_ok_bytes,
    check_vk,
)

settings.register_profile(
    "suite", max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large])
SUITE = settings.get_profile("suite")


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_no_input_breaks_a_parser(target: Target) -> None:
    @SUITE
    @given(target.strategy)
    def run(value: Any) -> None:
        assert target.check(value) in ("accepted", "rejected")

    run()


@pytest.mark.parametrize(("check", "value"), [
    # Found by the fuzzer: a chat id that is not a number raised ValueError in the bot source.
    (check_bot, {"message": {"message_id": 1, "date": 1, "text": "Яма", "chat": {"id": None}}}),
    (check_bot, {"message": {"message_id": 1, "date": 1, "text": "Яма", "chat": {"id": "x"}}}),
    # A date past what a datetime holds raised OverflowError (bot, VK) or ValueError (OK).
    (check_bot, {"message": {"message_id": 1, "date": 10**20, "text": "Яма",
                             "chat": {"id": 1}}}),
    (check_vk, {"items": [{"id": 1, "owner_id": -1, "date": 10**20}]}),
    # "²" and "--5" passed `isdigit` after stripping "-" and then broke `int` (VK, OK ids).
    (check_vk, {"items": [{"id": 1, "owner_id": -1, "date": 1, "from_id": "²"}],
                "type": "wall_reply_new"}),
    (check_vk, {"items": [{"id": "--5", "owner_id": -1, "date": 1}]}),
    # Found by the 10^5 bench: "5\x1f" passed the digits check after strip() (which drops
    # "\x1c".."\x1f") and then broke int() on the unstripped text.
    (check_vk, {"items": [{"id": "5\x1f", "owner_id": -1, "date": 1}]}),
    (check_vk, {"items": [{"id": 5, "owner_id": "9\x1e", "date": 1}]}),
    (check_ok, {"comments": [{"id": "a", "date_ms": "5\x1c", "author_ref": "user:1"}]}),
    (check_ok, {"comments": [{"id": "a", "date_ms": 10**20, "author_ref": "user:1"}]}),
    (check_ok, {"comments": [{"id": "a", "date": "0001-01-01 00:00:00",
                              "author_ref": "user:1"}]}),
])
def test_what_the_fuzzer_found_is_skipped_with_a_notice(
    check: Callable[[Any], str], value: Any
) -> None:
    assert check(value) in ("rejected", "accepted")  # and nothing raised


@pytest.mark.parametrize("value", ["1e400", "-1e400", "nan", "inf"])
def test_a_duration_past_what_a_timedelta_holds_is_a_config_error(value: str) -> None:
    """Found by the fuzzer: `interval = 1e400` (inf) raised OverflowError out of load_config."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('deadline_tick = "30s"', f"deadline_tick = {value}")
    assert check_config(text) == "rejected"


@pytest.mark.parametrize(("value", "expected"), [
    ("5\x1f", 5), (" -7 ", -7), ("\x1e9\x1c", 9), ("²", None), ("--5", None), (True, None),
])
def test_int_of_reads_the_digits_it_checked(value: object, expected: int | None) -> None:
    assert int_of(value) == expected


@pytest.mark.parametrize("body", [b'{"error_code": "\\u00b2", "error_msg": "x"}',
                                  b'{"error_code": "5\\u001f", "error_msg": "x"}'])
def test_an_ok_error_code_that_is_no_ascii_number_is_no_crash(body: bytes) -> None:
    """The same class as `int_of`'s: "²" passed `isdigit` in the OK client's error code."""
    assert check_ok_bytes(body) in ("accepted", "rejected")


@pytest.mark.parametrize(("written", "number"), [("²", None), ("№12", 12), ("#7", 7),
                                                 ("١٢", None), ("1" * 13, None)])
def test_an_incident_number_staff_write_is_ascii_digits(written: str, number: int | None) -> None:
    """«/take ²» raised ValueError in the staff desk (its update was logged and dropped)."""
    assert _number(written) == number
