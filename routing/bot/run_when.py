"""When the bot takes a new conversation: always, only out of business hours, or only when no agent is available.

The facts (business hours, agents' presence and capacity) are the hub's to find; this decides from them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RunWhen", "bot_runs"]


class RunWhen(StrEnum):
    ALWAYS = "always"
    OUT_OF_HOURS = "out_of_hours"
    NO_AGENT_AVAILABLE = "no_agent_available"


def bot_runs(run_when: RunWhen, *, within_business_hours: bool, agent_available: bool) -> bool:
    """Whether the bot holds a conversation opened now; otherwise it goes straight to routing."""
    if run_when is RunWhen.OUT_OF_HOURS:
        return not within_business_hours
    if run_when is RunWhen.NO_AGENT_AVAILABLE:
        return not agent_available
    return True
