"""What the stream consumer does: the events subscribers are told, publishing them to EventBridge, and
keeping inventory reservations in step with orders."""
