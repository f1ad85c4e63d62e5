"""Operator commands (`make redrive`, `make replay`, `make backfill`, `make reindex`): each acts on `make
dev`'s local stack by default, or on a deployed stage (`--stage dev|prod`, the caller's AWS credentials,
assuming the command's role from the stack's outputs), shows progress, is safe to rerun or kill, and ends
with a summary. docs/operations.md is the runbook. `make capacity` (ops/capacity.py) only computes, offline
by default, from template.yaml and AWS's default quotas (docs/capacity.md)."""

import sys
from pathlib import Path

# The commands run the service's own code (the stream consumer's publishing and settling, the storage
# package's history), importable here as the domain layer is in Lambda (/opt/python).
_LAYER = Path(__file__).resolve().parent.parent / "layers" / "orders" / "python"
if str(_LAYER) not in sys.path:
    sys.path.append(str(_LAYER))
