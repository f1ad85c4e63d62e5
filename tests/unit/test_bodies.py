"""`orders.domain.bodies`: each body described without pydantic says what its model says (the same members,
named as on the wire, of the same types, all required, nothing else allowed), so the router settles exactly
the bodies the model takes unchanged and leaves the rest to Powertools' validation with the model."""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any, NamedTuple

import pytest
from orders.domain import bodies
from orders.domain.status import OrderStatus
from orders.http import params
from orders.http.routes import Response, Router

DESCRIPTIONS = [
    kind
    for _, kind in inspect.getmembers(bodies, inspect.isclass)
    if kind.__module__ == bodies.__name__ and issubclass(kind, tuple)
]


def test_every_body_of_the_module_is_checked():
    assert [kind.__name__ for kind in DESCRIPTIONS] == ["StatusChangeBody"]


@pytest.mark.parametrize("description", DESCRIPTIONS, ids=lambda kind: kind.__name__)
def test_a_description_says_what_its_model_says(description):
    model = description.model()
    assert model.model_config.get("extra") == "forbid"
    fields = model.model_fields
    assert [field.alias or name for name, field in fields.items()] == list(description._fields)
    assert all(field.is_required() for field in fields.values())
    hints = typing.get_type_hints(description)
    assert [field.annotation for field in fields.values()] == [hints[name] for name in description._fields]


def test_a_body_read_from_its_description_is_what_the_model_validates():
    for status in OrderStatus:
        body = {"status": status.value}
        validated = bodies.StatusChangeBody.model().model_validate(body)
        assert bodies.StatusChangeBody(**validated.model_dump(by_alias=True)) == bodies.StatusChangeBody(
            status
        )


class _Note(NamedTuple):
    note: str

    @staticmethod
    def model() -> Any:
        raise AssertionError("never imported to declare a route")


def test_a_description_the_router_cannot_read_is_refused():
    app = Router()
    with pytest.raises(TypeError, match="enums"):

        @app.patch("/x")
        def handler(body: Annotated[_Note, params.Body()]) -> Response[str]:
            raise AssertionError
