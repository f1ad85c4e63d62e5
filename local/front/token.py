"""`python -m local.front.token --user ID [--admin] [--scope S] [--expires-in SECONDS]`: print a JWT the local
stack accepts (and nothing else, so that `TOKEN=$(make -s token USER=user-123)` works)."""

from __future__ import annotations

import argparse

from local.aws import auth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.front.token", description=__doc__)
    parser.add_argument("--user", required=True, help="the token's subject (sub)")
    parser.add_argument("--admin", action="store_true", help='add cognito:groups ["admin"]')
    parser.add_argument("--scope", action="append", default=[], help="add a scope (repeatable)")
    parser.add_argument(
        "--expires-in", type=int, default=auth.DEFAULT_EXPIRES_IN, metavar="SECONDS", help="default: 3600"
    )
    args = parser.parse_args(argv)
    if not args.user.strip():
        parser.error("--user must not be empty")
    print(auth.mint(args.user, admin=args.admin, scopes=args.scope, expires_in=args.expires_in))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
