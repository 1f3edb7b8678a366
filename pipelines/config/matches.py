"""`Matches`: Annotated metadata for a string that must match a pattern, with a message that says
what was expected and an example. Shared by the config models and the IAM permission model."""

import re
from typing import Any, NamedTuple

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


class Matches(NamedTuple):
    """Annotated metadata: the string must match `pattern`; the message says what was expected.

    The pattern also goes into the JSON Schema, so editors flag a bad value as it is typed.
    """

    pattern: str
    what: str
    example: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        compiled: list[re.Pattern[str]] = []

        def check(value: str) -> str:
            # Compiled on first use, not while the models are built: a config needs only some
            # of the patterns (the example 14 of 21), and each costs about 0.1 ms to compile.
            if not compiled:
                # ASCII: AWS names and IDs are ASCII, and \d would otherwise take any digit.
                compiled.append(re.compile(self.pattern, re.ASCII))
            if not compiled[0].fullmatch(value):
                raise ValueError(f"{value!r} is not {self.what} (for example {self.example})")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        result["pattern"] = f"^(?:{self.pattern})$"
        result["examples"] = [self.example.strip('"')]
        return result
