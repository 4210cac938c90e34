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
"""The click's box proposal (unsup_tracker.click_proposal) on images of known content."""
import cv2
import numpy as np
import pytest

from unsup_tracker.click_proposal import ClickError, propose_box
from unsup_tracker.geometry import iou_xywh


def _scene(box, seed=0):
    """Return a grey-green textured 320x240 scene with a reddish textured object at ``box``."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 40, (240, 320, 3)).astype(np.uint8)
    image = cv2.add(noise, np.full((240, 320, 3), (60, 110, 70), np.uint8))
    x, y, w, h = box
    image[y:y + h, x:x + w] = cv2.add(rng.integers(0, 40, (h, w, 3)).astype(np.uint8),
                                      np.full((h, w, 3), (40, 40, 190), np.uint8))
    return image


@pytest.mark.parametrize("box", [(100, 80, 60, 40), (30, 30, 24, 48), (150, 60, 110, 100)])
def test_the_box_fits_a_distinct_object_around_its_centre(box):
    image = _scene(box)
    centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
    proposal = propose_box(image, centre)
    iou = iou_xywh(proposal[None], np.array(box, float)[None])[0]
    assert iou > 0.6, (proposal, box, iou)


@pytest.mark.parametrize("point", [(-1, 10), (320, 10), (10, 240), (np.nan, 5), (5, np.inf)])
def test_points_outside_the_image_or_not_finite_are_refused(point):
    with pytest.raises(ClickError):
        propose_box(_scene((100, 80, 60, 40)), point)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="bins"):
        propose_box(_scene((100, 80, 60, 40)), (120, 100), bins=3)
    with pytest.raises(ValueError, match="ring"):
        propose_box(_scene((100, 80, 60, 40)), (120, 100), ring=1.0)
