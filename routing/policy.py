"""An inbox's routing settings: the strategy, whose agents, how scores are weighted, what a silent agent costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from routing.errors import InvalidPolicy

__all__ = ["RoutingPolicy", "ScoreWeights", "Strategy"]


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_BUSY = "least_busy"
    WEIGHTED = "weighted"
    MANUAL = "manual"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """How much each part of the weighted score counts; each part is between 0 and 1 before weighting.

    `vip_levels` is the top of the VIP scale: a customer's level and an agent's tier are read as a
    share of it (higher levels count as the top).
    """

    vip: float = 1.0
    skill: float = 1.0
    spare_capacity: float = 1.0
    vip_levels: int = 5

    def __post_init__(self) -> None:
        for name in ("vip", "skill", "spare_capacity"):
            weight = getattr(self, name)
            if not 0 <= weight < float("inf"):
                raise InvalidPolicy(
                    f"the {name} weight must be a finite number of at least 0", field=f"weights.{name}"
                )
        if self.vip_levels < 1:
            raise InvalidPolicy("the VIP scale needs at least one level", field="weights.vip_levels")


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """One inbox's routing.

    `team_id`: only this team's agents take its conversations (None: every agent of the workspace).
    `skill_required`: the conversation's category is a skill an agent must hold.
    `fallback`: what decides when the external service fails, times out or names nobody usable.
    `answer_timeout`: an agent who has not replied this long after being assigned loses the conversation.
    """

    strategy: Strategy = Strategy.LEAST_BUSY
    team_id: str | None = None
    skill_required: bool = False
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    fallback: Strategy = Strategy.LEAST_BUSY
    answer_timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if self.fallback is Strategy.EXTERNAL:
            raise InvalidPolicy(
                "the fallback of external routing cannot be external routing", field="fallback"
            )
        if self.answer_timeout is not None and self.answer_timeout <= timedelta(0):
            raise InvalidPolicy("the answer timeout must be positive", field="answer_timeout")
