"""`python -m ops <command> [options]`: redrive, replay, backfill, reindex, capacity (see
`python -m ops <command> --help`)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = ("redrive", "replay", "backfill", "reindex", "capacity")


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in COMMANDS:
        print(f"usage: python -m ops {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    command = importlib.import_module(f"ops.{arguments[0]}")
    return int(command.main(arguments[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
