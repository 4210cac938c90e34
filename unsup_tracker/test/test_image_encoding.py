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
"""16-bit mono images decode with a fixed mapping (no ROS needed)."""
import sys

import numpy as np
import pytest

from unsup_tracker.image_encoding import array_to_fields, fields_to_bgr8


def _decode(image, encoding="mono16", big_endian=None):
    fields = array_to_fields(image, encoding)
    if big_endian is not None and big_endian != (sys.byteorder == "big"):
        fields["data"] = image.astype(image.dtype.newbyteorder(">" if big_endian else "<"))\
            .tobytes()
        fields["is_bigendian"] = big_endian
    return fields_to_bgr8(**fields)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_a_bright_pixel_does_not_change_the_rest_of_the_frame(encoding):
    # A textured scene that does not use the full 16-bit range, then the same scene with one
    # bright pixel: a per-frame stretch would darken every other pixel of the second frame.
    scene = np.random.default_rng(0).integers(10000, 30000, (24, 32), dtype=np.uint16)
    with_spot = scene.copy()
    with_spot[5, 7] = 65000
    before, after = _decode(scene, encoding), _decode(with_spot, encoding)
    rest = np.ones(scene.shape, bool)
    rest[5, 7] = False
    np.testing.assert_array_equal(after[rest], before[rest])
    assert after[5, 7].tolist() == [253, 253, 253]


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_maps_the_full_range_onto_8_bits(big_endian):
    image = np.array([[0, 255, 256, 0x1234], [0x8000, 0xFEFF, 0xFF00, 0xFFFF]], np.uint16)
    decoded = _decode(image, big_endian=big_endian)
    assert decoded.shape == (2, 4, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded[..., 0], [[0, 0, 1, 0x12], [0x80, 0xFE, 0xFF, 0xFF]])
    assert (decoded == decoded[..., :1]).all()  # grey: B = G = R
