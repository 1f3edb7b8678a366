import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.json_text import dumps

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def reference(data: object) -> str:
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False)


@given(VALUES)
def test_same_text_as_the_standard_library(data) -> None:
    assert dumps(data) == reference(data)


@given(st.dictionaries(KEYS, SCALARS, max_size=1))
def test_keys_that_are_not_strings_are_written_as_json_writes_them(data) -> None:
    assert dumps(data) == reference(data)


def test_unicode_control_characters_and_special_floats() -> None:
    data = {"é": ["\u2028", "\x00", "\"'\\"], "n": [math.nan, -math.inf, 1e300, -0.0], "e": {}}
    assert dumps(data) == reference(data)


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes"])
def test_what_json_cannot_encode_is_a_type_error(value) -> None:
    with pytest.raises(TypeError):
        reference(value)
    with pytest.raises(TypeError):
        dumps(value)


def test_a_key_json_cannot_encode_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="keys must be"):
        dumps({(1, 2): 1})
