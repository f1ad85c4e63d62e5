"""Order Service benchmarks (`make bench`, `python -m bench [--quick|--smoke]`): cold starts, warm
latency, DynamoDB round trips and capacity, scaling, package sizes, worker memory, the local stack under
load, and a cost model, each measured side by side with a raw-boto3 baseline in one run.

Results: bench/results/latest.json and latest.md. See bench/README.md for what each row measures.
"""
