"""`python -m local` (what `make dev` runs): serve template.yaml's API on http://localhost:$PORT.
`python -m local services` (what `make services` runs): the embedded services alone, for `sam local`."""

import sys

if sys.argv[1:2] == ["services"]:
    from local.front.services import main

    raise SystemExit(main(sys.argv[2:]))

from local.front.cli import main

raise SystemExit(main())
