"""Where a route's arguments come from and what they must satisfy: `Annotated[int, Query(ge=1)]`, as with
Powertools' `aws_lambda_powertools.event_handler.openapi.params`, whose classes take the same arguments.

These are plain records (standard library only): a function's requests are served by `orders.http.routes`,
which reads them without pydantic or Powertools' resolver; the OpenAPI document, and any request the light
path does not settle, are Powertools' (`orders.http.powertools` turns each of these into its class of the
same name, with the same arguments). Only the arguments both sides understand are accepted, so a route
cannot declare a constraint that one side would check and the other would not.
"""

from __future__ import annotations

from typing import Any, ClassVar

# What the light path checks (`orders.http.routes`), beside where the value is found (`alias`).
CONSTRAINTS = frozenset({"min_length", "max_length", "pattern", "ge", "le"})
# What only the OpenAPI document uses.
DOCUMENTATION = frozenset({"description", "openapi_examples", "title"})


class Param:
    source: ClassVar[str]

    def __init__(self, *, alias: str | None = None, **arguments: Any) -> None:
        unknown = set(arguments) - CONSTRAINTS - DOCUMENTATION
        if unknown:
            raise TypeError(f"{type(self).__name__}: not supported here: {', '.join(sorted(unknown))}")
        self.alias = alias
        self.constraints = {name: value for name, value in arguments.items() if name in CONSTRAINTS}
        self.arguments = {"alias": alias, **arguments} if alias is not None else dict(arguments)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.arguments.items())})"


class Path(Param):
    source = "path"


class Query(Param):
    source = "query"


class Header(Param):
    source = "header"

    def __init__(self, *, alias: str | None = None, **arguments: Any) -> None:
        if alias is None:
            # Powertools derives a header's name from the argument's; naming it keeps both sides reading one.
            raise TypeError("Header: name the header (alias=...)")
        super().__init__(alias=alias, **arguments)


class Body(Param):
    source = "body"

    def __init__(self, **arguments: Any) -> None:
        if set(arguments) & CONSTRAINTS:
            raise TypeError("Body: the model validates the body; no constraints here")
        super().__init__(**arguments)
