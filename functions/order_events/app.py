"""Table stream -> EventBridge: `OrderCreated` and `OrderStatusChanged`, in order, nothing lost.

Events are published in batches first; Powertools' batch processor then reports every record whose
event was not published as a partial batch failure, so the stream retries from the first of them.
"""

import os
from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBStreamEvent

from orders import api, config
from orders.bus import EventBusPublisher
from orders.stream import unpublished_records

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class EventNotPublished(Exception):
    """EventBridge did not accept this record's event (or an earlier one of the batch)."""


@cache
def _publisher() -> EventBusPublisher:
    return EventBusPublisher(config.events_client(), os.environ["EVENT_BUS_NAME"], api.dumps)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    failed = unpublished_records(DynamoDBStreamEvent(event).records, _publisher())

    def record_handler(record: DynamoDBRecord) -> None:
        if record.dynamodb.sequence_number in failed:
            raise EventNotPublished(record.dynamodb.sequence_number)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
