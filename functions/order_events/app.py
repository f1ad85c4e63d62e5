"""Table stream -> EventBridge (`OrderCreated`, `OrderStatusChanged`) and the inventory (release on
cancel, commit on ship, release intents), in order, nothing lost.

Events are published in batches first; then Powertools' batch processor runs each record's inventory
step and reports every record that failed either way, so the stream retries from the first of them.
"""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from orders import wiring
from orders.events.stream import record_settler, unpublished_records

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> "PartialItemFailureResponse":
    failed = unpublished_records(DynamoDBStreamEvent(event).records, wiring.publisher())
    return process_partial_response(
        event=event,
        record_handler=record_settler(failed, wiring.reservation_keeper()),
        processor=processor,
        context=context,
    )
