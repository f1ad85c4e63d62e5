"""Load testing with Locust: `locustfile.py` (the traffic), `run.py` (headless runs and their figures),
`stack.py` (a local stack started for a run); `python -m loadtest` is `make load`."""
