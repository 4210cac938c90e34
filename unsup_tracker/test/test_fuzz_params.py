# Copyright 2026 unsup_tracker developers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Fuzz parameter overrides (issue 13.7): a valid params object or a clear error, nothing else.

``from_overrides`` is how YAML files, ROS parameters, ``--set`` and Python keyword arguments
reach every parameter class (each method's tracker and training recipe parameters). Keys are
real ones and junk; values are what YAML, JSON and ROS can carry (None, booleans, huge and
non-finite numbers, strings, lists, mappings) plus the string forms of the declared defaults.
The result must be an instance whose fields have their declared types and pass ``validate``;
otherwise ``UnknownParameterError``, ``ValueError`` or ``TypeError`` with a message.
"""
from __future__ import annotations

import dataclasses
import math

from hypothesis import given
from hypothesis import strategies as st

from unsup_tracker import UnknownParameterError, get_method, list_methods
from unsup_tracker.params import Params


def params_classes() -> list[type[Params]]:
    """Return every registered method's tracker and recipe params class and their bases."""
    found = set()
    for name in list_methods():
        spec = get_method(name)
        found.add(spec.params_cls)
        if spec.recipe_cls is not None:
            found.add(spec.recipe_cls.params_cls)
    stack = [Params]
    while stack:  # subclasses defined anywhere in the imported code, e.g. SiamFCParams
        cls = stack.pop()
        found.add(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


CLASSES = params_classes()
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-3, 300),
    st.integers(1, 2**70).map(lambda v: v * 10**400),  # beyond float range
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 300),
    st.text(max_size=12), st.sampled_from(["true", "off", "1e400", "nan", "-inf", "3", "0.5",
                                           "1_000", " 7 ", "0x10", "bicubic", "spectrum"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=4)


@st.composite
def overrides(draw):
    cls = draw(st.sampled_from(CLASSES))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    keys = draw(st.lists(st.sampled_from(sorted(fields) or ["x"]), max_size=4))
    if draw(st.integers(0, 9)) == 0:  # now and then a key the class does not declare
        keys.append(draw(st.text(max_size=8)))
    values = {}
    for key in keys:
        default = fields[key].default if key in fields else None
        values[key] = draw(st.one_of(VALUES, st.just(str(default)), st.just(default)))
    return cls, values


@given(overrides())
def test_overrides_give_valid_params_or_a_clear_error(case):
    cls, values = case
    try:
        params = cls.from_overrides(values)
    except (UnknownParameterError, ValueError, TypeError) as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return
    assert type(params) is cls
    for field in dataclasses.fields(cls):
        value, kind = getattr(params, field.name), type(field.default)
        if kind is float:
            assert type(value) is float and math.isfinite(value), field.name
        elif kind in (int, bool, str):
            assert type(value) is kind, field.name
    params.validate()
    assert cls.from_overrides(params.to_dict()) == params
