"""Table stream -> EventBridge (`OrderCreated`, `OrderStatusChanged`) and the inventory (release on
cancel, commit on ship, release intents), in order, nothing lost.

Events are published in batches first; then Powertools' batch processor runs each record's inventory
step and reports every record that failed either way, so the stream retries from the first of them.
"""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBStreamEvent,
)
from orders import wiring
from orders.events.stream import unpublished_records

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class EventNotPublished(Exception):
    """EventBridge did not accept this record's event (or an earlier one of the batch)."""


class UnreadableRecord(Exception):
    """A stream record without its change (`dynamodb`) or its `eventName`: a poison record."""


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> "PartialItemFailureResponse":
    failed = unpublished_records(DynamoDBStreamEvent(event).records, wiring.publisher())

    def record_handler(record: DynamoDBRecord) -> None:
        change, event_name = record.dynamodb, record.event_name
        if change is None or event_name is None:
            raise UnreadableRecord(record.event_id)
        if change.sequence_number in failed:
            raise EventNotPublished(change.sequence_number)
        wiring.reservation_keeper().settle(event_name.name, change.old_image, change.new_image)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
