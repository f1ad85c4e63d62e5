"""Table stream -> EventBridge (`OrderCreated`, `OrderStatusChanged`) and the inventory (release on
cancel, commit on ship, release intents), in order, nothing lost.

Events are published in batches first; then each record's inventory step runs (the records of different
orders side by side, each order's in stream order: they wait on the inventory service), and every record
that failed either way is reported (a partial batch response, as Powertools' batch processor answers it:
`orders.events.batch`), so the stream retries from the first of them.
"""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from orders import wiring
from orders.events.batch import partial_response, records_of
from orders.events.stream import record_settler, unpublished_records
from orders.tracing import Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from orders.events.bus import Pending
    from orders.events.stream import Publisher

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class CountedPublisher:
    """The bus publisher, counting for the operations dashboard what this bus was given and what it refused
    (EventBridge's own PutEvents metrics are per account and Region, not per bus)."""

    def __init__(self, publisher: "Publisher") -> None:
        self._publisher = publisher

    def publish_in_order(self, pending: "list[Pending]") -> set[str]:
        failed = self._publisher.publish_in_order(pending)  # sequence numbers among `pending`'s
        metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=len(pending) - len(failed))
        metrics.add_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=len(failed))
        return failed


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    records = records_of(event)
    failed = unpublished_records(records, CountedPublisher(wiring.publisher()))
    settle = record_settler(failed, wiring.reservation_keeper())
    return partial_response(records, settle, side_by_side=wiring.side_by_side)
