"""Pure routing decisions: a snapshot in, a decision out; no database, no network, no clock.

The hub's part is always the same three steps: load a snapshot (plain dataclasses built from rows),
call one function here with `now`, and apply what it returns in one transaction (rows, outbox
events, socket messages). Nothing here reads the clock or the database, so every rule is tested
directly. docs/routing.md maps each hub situation to the function it calls.

- `routing.queue.assign_queue` / `routing.assignment.choose_agent`: who takes queued conversations
- `routing.rerouting`: requeue on offline or answer timeout, transfer, claim
- `routing.hours`, `routing.coverage`, `routing.out_of_hours`: business hours, shifts, staffing
- `routing.lifecycle`, `routing.tickets`, `routing.sla`: statuses, their events, SLA due and breaches
- `routing.summary`, `routing.metrics`: the ticket summary and the report figures
- `routing.config`: an inbox's stored JSON settings read into these types, bad ones refused
- `routing.bot`: which knowledge-base article answers a question, and whether the customer wants a person
"""
