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
"""Fuzz sensor_msgs/Image decoding (issue 13.7): decode right or raise ImageEncodingError.

Every supported encoding and unsupported ones, odd and too-small ``step``, both byte orders,
truncated and oversized data, zero, negative and huge sizes, and the buffer types a message can
carry (bytes, bytearray, array.array, NumPy). The expected image comes from an independent
row-by-row reference; any other exception or a wrong shape is a failure. The number of examples
follows the hypothesis profile (conftest.py: ``ci``, or ``fuzz`` for ``make fuzz``).
"""
from __future__ import annotations

import array

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st

from unsup_tracker.image_encoding import (ENCODINGS, ImageEncodingError, array_to_fields,
                                          fields_to_array, fields_to_bgr8)

#: Real ROS encodings this module does not decode, and junk.
OTHER_ENCODINGS = ["yuv422", "32FC1", "16UC3", "bayer_rggb8", "mono32", "", "RGB8", "rgb8 "]
#: Mostly small real sizes; now and then zero, negative or beyond any buffer.
SIZES = st.sampled_from(list(range(1, 10)) * 2 + [0, -1, 2**31 - 1, 2**32 + 1, 2**63 + 5])


def reference(height, width, encoding, is_bigendian, step, data: bytes):
    """Return (raw array, BGR image) decoded row by row, or None when the fields are invalid."""
    if encoding not in ENCODINGS or height <= 0 or width <= 0:
        return None
    channels, dtype = ENCODINGS[encoding]
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes or len(data) < step * (height - 1) + row_bytes:
        return None
    wire = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    raw = np.stack([np.frombuffer(data[r * step:r * step + row_bytes], dtype=wire)
                    .astype(dtype).reshape(width, channels) for r in range(height)])
    eight = (raw >> 8).astype(np.uint8) if itemsize == 2 else raw
    if encoding in ("rgb8", "rgba8"):
        bgr = eight[:, :, [2, 1, 0]]
    elif channels >= 3:
        bgr = eight[:, :, :3]
    else:
        bgr = np.repeat(eight, 3, axis=2)
    return (raw[:, :, 0] if channels == 1 else raw), bgr


@st.composite
def image_fields(draw):
    encoding = draw(st.sampled_from(sorted(ENCODINGS) * 3 + OTHER_ENCODINGS))
    height, width = draw(SIZES), draw(SIZES)
    channels, dtype = ENCODINGS.get(encoding, (3, np.uint8))
    row_bytes = max(width, 0) * channels * np.dtype(dtype).itemsize
    if row_bytes > 10**6:
        step = draw(st.integers(-1, 2**64))
    else:  # mostly around one row: padded, odd, or one byte short
        pads = [0] * 6 + [1, 2, 3, 5, 64, -1, -2, -row_bytes - 1]
        step = row_bytes + draw(st.sampled_from(pads))
    need = max(step, 0) * max(height - 1, 0) + row_bytes
    if need <= 4096:  # mostly exact; padded at the end, truncated, or empty
        size = need + draw(st.sampled_from([0] * 6 + [1, 7, -1, -2, -need]))
    else:
        size = draw(st.integers(0, 4096))
    data = draw(st.binary(min_size=max(size, 0), max_size=max(size, 0)))
    kind = draw(st.sampled_from(["bytes", "bytearray", "array", "numpy", "strided", "memoryview"]))
    buffer = {"bytes": data, "bytearray": bytearray(data), "array": array.array("B", data),
              "numpy": np.frombuffer(data, np.uint8).copy(),
              "strided": np.repeat(np.frombuffer(data, np.uint8), 2)[::2],
              "memoryview": memoryview(data)}[kind]
    return height, width, encoding, draw(st.booleans()), step, data, buffer


@given(image_fields())
def test_decoding_is_right_or_a_clear_error(fields):
    height, width, encoding, is_bigendian, step, data, buffer = fields
    expected = reference(height, width, encoding, is_bigendian, step, data)
    event(f"{encoding if encoding in ENCODINGS else 'unsupported'}: "
          f"{'decodes' if expected is not None else 'refused'}")
    for decode, index in ((fields_to_array, 0), (fields_to_bgr8, 1)):
        if expected is None:
            try:
                decode(height, width, encoding, is_bigendian, step, buffer)
            except ImageEncodingError as exc:
                assert str(exc)
            else:
                raise AssertionError(f"{decode.__name__} accepted invalid fields")
            continue
        image = decode(height, width, encoding, is_bigendian, step, buffer)
        assert image.shape == expected[index].shape and image.dtype == expected[index].dtype
        np.testing.assert_array_equal(image, expected[index])


@given(st.sampled_from(sorted(ENCODINGS)), st.integers(1, 7), st.integers(1, 7), st.data())
def test_encode_then_decode_round_trips(encoding, height, width, data):
    channels, dtype = ENCODINGS[encoding]
    info = np.iinfo(dtype)
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = np.array(data.draw(st.lists(st.integers(info.min, info.max),
                                        min_size=int(np.prod(shape)),
                                        max_size=int(np.prod(shape)))), dtype=dtype)
    image = image.reshape(shape)
    fields = array_to_fields(image, encoding)
    np.testing.assert_array_equal(fields_to_array(**fields), image)
