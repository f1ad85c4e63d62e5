"""The table: the only code that talks to DynamoDB. Every key, index and condition, the idempotency record
layout, the order's wire form read back from an item, and stream images decoded into typed values."""
