"""When the bot takes a new conversation, from the facts the hub finds."""

from __future__ import annotations

import pytest

from routing.bot import RunWhen, bot_runs


@pytest.mark.parametrize(
    ("run_when", "within_business_hours", "agent_available", "runs"),
    [
        (RunWhen.ALWAYS, True, True, True),
        (RunWhen.ALWAYS, False, False, True),
        (RunWhen.OUT_OF_HOURS, True, False, False),
        (RunWhen.OUT_OF_HOURS, False, True, True),
        (RunWhen.NO_AGENT_AVAILABLE, False, True, False),
        (RunWhen.NO_AGENT_AVAILABLE, True, False, True),
    ],
)
def test_the_bot_runs_as_its_setting_says(run_when, within_business_hours, agent_available, runs):
    assert (
        bot_runs(run_when, within_business_hours=within_business_hours, agent_available=agent_available)
        is runs
    )
