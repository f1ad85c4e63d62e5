"""Running functions, as Lambda's runtime does: one worker process per concurrent invocation, hot reload
(workers.py); the process a worker is (worker_runtime.py, started by file path, isolated); the pipe framing
both speak (worker_protocol.py, shared with the bench's workers). Uses the template room only."""
