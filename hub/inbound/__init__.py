"""The inbound path: accept durably (request path), then process (worker).

Both ends group what arrives together (hub.batching): accepts that arrive while an INSERT is in
flight share the next INSERT and job; jobs that arrive while a batch is being processed
share the next processing transaction. So the round trips per message fall as the load rises,
and an idle hub answers one message with one batch of one.

One bad event never holds the others. A grouped INSERT the database refuses is split until the
culprit request stands alone (hub.batching), and that request alone is refused. A processing
transaction that fails is split in halves until the culprit stands alone; the others are stored,
and the culprit is tried again after a backoff, then parked as `dead` for an admin
(the inbound-events API) once out of attempts.

- `accept`: the raw delivery and its messages made durable, duplicates told apart;
- `process`: normalised, threaded into conversations, stored, published;
- `storage`: the rows both read and write.
"""

from hub.inbound.accept import AcceptedMessage, UnstorableMessage, accept
from hub.inbound.process import process

__all__ = [
    "AcceptedMessage",
    "UnstorableMessage",
    "accept",
    "process",
]
