"""`python -m local` (what `make dev` runs): serve template.yaml's API on http://localhost:$PORT."""

from local.server import main

raise SystemExit(main())
