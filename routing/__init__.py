"""Pure routing decisions: plain data in, a decision out; no I/O and no clock."""

from routing.assignment import AgentLoad, choose_agent

__all__ = ["AgentLoad", "choose_agent"]
