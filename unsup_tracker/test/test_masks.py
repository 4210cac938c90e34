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
"""The shared mask stage: better than the filled box on an irregular target, valid on bad boxes."""
import numpy as np
import pytest

from unsup_tracker.evaluation.metrics import mask_scores
from unsup_tracker.evaluation.runner import StaticBoxTracker
from unsup_tracker.geometry import box_to_mask
from unsup_tracker.masks import MaskStage, MaskStageParams
from unsup_tracker.params import TrackerParams, UnknownParameterError
from unsup_tracker.render import blob_mask

SHAPE = (240, 320)


def _textured(rng, shape, mean):
    noise = rng.normal(0, 25, (*shape, 3))
    return np.clip(np.asarray(mean, float) + noise, 0, 255).astype(np.uint8)


def _scene(seed, offset):
    """Draw a reddish textured blob (irregular, ~60 % of its box) on a textured green-grey."""
    rng = np.random.default_rng(seed)
    image = _textured(rng, SHAPE, (90, 140, 80))
    blob = blob_mask(np.random.default_rng(7), 90, 110, 0.6) > 0
    target = _textured(rng, blob.shape, (60, 70, 190))
    y, x = 60 + offset[1], 100 + offset[0]
    region = image[y:y + 90, x:x + 110]
    region[blob] = target[blob]
    gt = np.zeros(SHAPE, bool)
    gt[y:y + 90, x:x + 110] = blob
    rows, cols = np.flatnonzero(gt.any(1)), np.flatnonzero(gt.any(0))
    box = np.array([cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], float)
    return image, gt, box


@pytest.mark.parametrize("kind", ["colour", "grabcut"])
def test_mask_stage_beats_the_filled_box(kind):
    first, _, box0 = _scene(0, (0, 0))
    stage = MaskStage(MaskStageParams(kind=kind))
    stage.init(first, box0)
    for step in range(1, 4):
        image, gt, box = _scene(step, (6 * step, 3 * step))
        mask = stage.update(image, box)
        assert mask.shape == SHAPE and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        j, f = mask_scores(mask, gt)
        box_j, box_f = mask_scores(box_to_mask(box, SHAPE), gt)
        assert box_j < 0.8  # an irregular target: the box is a poor mask
        assert j > box_j + 0.1 and f > box_f, (kind, step, j, box_j, f, box_f)


def test_empty_and_edge_boxes_give_valid_masks():
    image, _, box = _scene(0, (0, 0))
    stage = MaskStage()
    stage.init(image, box)
    for bad in ([np.nan, 0, 10, 10], [400, 300, 20, 20], [10, 10, 0, 0], [-50, -50, 20, 20]):
        mask = stage.update(image, bad)
        assert mask.shape == SHAPE and mask.dtype == np.uint8 and not mask.any()
    for edge in ([-20, -10, 60, 50], [300, 200, 50, 60], [0, 0, SHAPE[1], SHAPE[0]]):
        mask = stage.update(image, edge)
        assert mask.shape == SHAPE and mask.dtype == np.uint8
        x, y, w, h = edge
        grown = box_to_mask([x - 5, y - 5, w + 10, h + 10], SHAPE)  # margin 0.05 x mean side
        assert not (mask.astype(bool) & ~grown).any()
        assert mask.any()
    # A box covering the whole image at init: no ring, still a valid model.
    whole = MaskStage()
    whole.init(image, [0, 0, SHAPE[1], SHAPE[0]])
    assert whole.update(image, [0, 0, SHAPE[1], SHAPE[0]]).shape == SHAPE
    with pytest.raises(ValueError, match="does not overlap"):
        MaskStage().init(image, [500, 500, 10, 10])
    with pytest.raises(RuntimeError, match="before init"):
        MaskStage().update(image, box)


def test_every_tracker_gets_masks_by_parameter():
    image, gt, box = _scene(0, (0, 0))
    tracker = StaticBoxTracker(TrackerParams.from_overrides({"mask": "true"}))
    tracker.init(image, box)
    result = tracker.track(image)
    assert result.mask.shape == SHAPE and result.mask.dtype == np.uint8
    assert mask_scores(result.mask, gt)[0] > mask_scores(box_to_mask(box, SHAPE), gt)[0]
    plain = StaticBoxTracker()
    plain.init(image, box)
    assert plain.track(image).mask is None


def test_mask_settings_are_validated():
    params = TrackerParams.from_overrides({"mask": True, "mask_settings": {"kind": "grabcut"}})
    assert params.mask_stage_params().kind == "grabcut"
    with pytest.raises(UnknownParameterError, match="no_such"):
        TrackerParams.from_overrides({"mask_settings": {"no_such": 1}})
    with pytest.raises(ValueError, match="kind"):
        TrackerParams.from_overrides({"mask_settings": {"kind": "magic"}})
    with pytest.raises(ValueError, match="mapping"):
        TrackerParams.from_overrides({"mask_settings": "kind=colour"})
