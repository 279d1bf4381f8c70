"""Lines strangers can cause at will are logged at most once per interval, with a count of the rest."""

from __future__ import annotations

import logging

import pytest
from sandchat.logs import OnePerInterval


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def refusals(clock: Clock, caplog: pytest.LogCaptureFixture) -> logging.Logger:
    logger = logging.getLogger("tests.refusals")
    logger.filters[:] = [OnePerInterval(60, clock=clock)]
    caplog.set_level(logging.INFO, logger="tests.refusals")
    return logger


def test_repeats_within_the_interval_are_left_out_and_counted_in_the_next_line(
    refusals: logging.Logger, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for origin in range(500):
        refusals.warning("refused origin %r", origin)
    clock.now += 61
    refusals.warning("refused origin %r", "late")
    assert caplog.messages == ["refused origin 0", "refused origin 'late' (and 499 more since the last such line)"]


def test_each_kind_of_line_has_its_own_interval(refusals: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    refusals.warning("refused origin %r", "a")
    refusals.warning("malformed request")
    refusals.warning("refused origin %r", "b")
    assert caplog.messages == ["refused origin 'a'", "malformed request"]


def test_errors_always_pass(refusals: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        refusals.error("request failed")
    assert caplog.messages == ["request failed"] * 3
