"""Reading the moto table's stream, so real stream records (not hand-built ones) reach the consumer."""

from __future__ import annotations

import boto3

from tests.conftest import TEST_ENV


def stream_records(table_name: str = TEST_ENV["TABLE_NAME"]) -> list[dict]:
    """Every record in every shard of the table's stream, oldest first, as Lambda would get them."""
    region = TEST_ENV["AWS_DEFAULT_REGION"]
    stream_arn = boto3.client("dynamodb", region_name=region).describe_table(TableName=table_name)["Table"][
        "LatestStreamArn"
    ]
    streams = boto3.client("dynamodbstreams", region_name=region)
    records: list[dict] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend({**record, "eventSourceARN": stream_arn} for record in page["Records"])
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records
