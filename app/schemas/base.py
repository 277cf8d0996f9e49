"""What several of app/'s shapes share."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer


class OmitsNone(BaseModel):
    """A shape some of whose keys are present only when they have a value, as the service hands them over (clients
    test for the key)."""

    omit_when_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in self.omit_when_none:
            if data.get(key) is None:
                data.pop(key, None)
        return data
