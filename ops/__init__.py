"""Operator commands (`make redrive`, `make replay`, `make backfill`): each acts on `make dev`'s local stack by
default, or on a deployed stage (`--stage dev|prod`, the caller's AWS credentials, assuming the command's
role from the stack's outputs), shows progress, is safe to rerun or kill, and ends with a summary.
docs/operations.md is the runbook."""
