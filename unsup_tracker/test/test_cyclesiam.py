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
"""CycleSiam: RPN parts against hand-computed values, network, tracker, label-free cycle recipe."""
import dataclasses
import math

import numpy as np
import pytest
import torch
from synthetic import one_torch_thread  # noqa: F401  (autouse fixture)
from test_siamfc import moving_patch_sequence

from unsup_tracker import UNTRAINED, UnknownParameterError, build_tracker, get_method
from unsup_tracker.checkpoint import load_checkpoint, save_checkpoint
from unsup_tracker.crops import (crop_and_resize, image_to_tensor_layout, mean_color,
                                 windowed_argmax)
from unsup_tracker.masks import MaskStage
from unsup_tracker.methods.cyclesiam.model import (DEFAULT_CYCLESIAM_CONFIG, build_cyclesiam,
                                                   cyclesiam_config)
from unsup_tracker.methods.cyclesiam.recipe import (CycleSiamRecipe, CycleSiamRecipeParams,
                                                    window_mask_labels)
from unsup_tracker.methods.cyclesiam.tracker import (MIN_FIRST_MARGIN, best_box, object_margin,
                                                     paste_window_mask)
from unsup_tracker.models.rpn import (anchor_labels, anchor_shapes, box_loss, decode_boxes,
                                      encode_boxes, make_anchors, mask_loss, score_loss,
                                      size_penalty)


# -- RPN parts -------------------------------------------------------------------------------
def test_anchor_shapes_are_siamrpns():
    # ws = int(sqrt(64 / r)), hs = int(ws r), times 8: r = 0.33 -> 13, int(4.29) = 4.
    assert anchor_shapes(8).tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]
    anchors = make_anchors(anchor_shapes(8), np.array([10.0, 20.0]))
    assert anchors.shape == (5, 2, 2, 4)
    assert anchors[2, 1, 0].tolist() == [10.0, 20.0, 64.0, 64.0]      # row 1 = y 20, col 0 = x 10
    with pytest.raises(ValueError):
        anchor_shapes(8, ratios=(0.0,))


def test_box_encoding_hand_computed():
    anchor = torch.tensor([100.0, 50.0, 64.0, 32.0])
    box = torch.tensor([116.0, 42.0, 128.0, 32.0])
    deltas = encode_boxes(box, anchor)
    assert torch.allclose(deltas, torch.tensor([0.25, -0.25, math.log(2.0), 0.0]))
    assert torch.allclose(decode_boxes(deltas, anchor), box)


def test_size_penalty_hand_computed():
    # Same size: 1. Twice the side: padded size 256 vs 128, s_c = 2, r_c = 1 -> exp(-k).
    # Same area at ratio 4 (32x128 vs 64x64): padded sqrt(112 * 208) vs 128, r_c = 4.
    widths, heights = np.array([64.0, 128.0, 32.0]), np.array([64.0, 128.0, 128.0])
    s_c = math.sqrt(112 * 208) / 128
    expected = [1.0, math.exp(-0.1), math.exp(-(4 * s_c - 1) * 0.1)]
    assert np.allclose(size_penalty(widths, heights, (64.0, 64.0), 0.1), expected)


def test_anchor_labels_hand_computed():
    # Target 64x64 at (100, 100). Anchors (cx, cy, w, h):
    anchors = torch.tensor([[100.0, 100.0, 64.0, 64.0],     # IoU 1            -> positive
                            [108.0, 100.0, 64.0, 64.0],     # 56 * 64 / (2 * 4096 - 3584) = 0.778
                            [116.0, 100.0, 64.0, 64.0],     # 48 * 64 / 4608 = 0.6 (not > 0.6)
                            [132.0, 100.0, 64.0, 64.0],     # 32 * 64 / 6144 = 0.333 (ignored)
                            [140.0, 100.0, 64.0, 64.0],     # 24 * 64 / 6656 = 0.23 -> negative
                            [300.0, 300.0, 64.0, 64.0]])    # 0 -> negative
    box = torch.tensor([100.0, 100.0, 64.0, 64.0])
    labels = anchor_labels(anchors, box)
    assert labels.tolist() == [1.0, 1.0, -1.0, -1.0, 0.0, 0.0]
    # Caps: at most max_positive positives and total labelled anchors.
    many = torch.tensor([[100.0, 100.0, 64.0, 64.0]] * 5 + [[400.0, 400.0, 64.0, 64.0]] * 20)
    capped = anchor_labels(many, box, max_positive=3, total=8,
                           generator=torch.Generator().manual_seed(0))
    assert (capped == 1).sum() == 3 and (capped == 0).sum() == 5 and (capped == -1).sum() == 17
    assert (capped[:5] != 0).all() and (capped[5:] != 1).all()
    with pytest.raises(ValueError):
        anchor_labels(anchors, box, positive_iou=0.2, negative_iou=0.3)


def test_score_and_box_losses_hand_computed():
    # Positive anchor: logits (bg 0, obj ln 3) -> p_obj 0.75; negative: (0, 0) -> p_bg 0.5.
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0], [5.0, -5.0]])
    labels = torch.tensor([1.0, 0.0, -1.0])
    expected = 0.5 * -math.log(0.75) + 0.5 * -math.log(0.5)
    assert math.isclose(float(score_loss(logits, labels)), expected, rel_tol=1e-6)
    # Smooth L1: |0.5| -> 0.125, |2| -> 1.5, summed over the 4 deltas, mean over positives.
    deltas = torch.tensor([[0.5, 2.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]])
    targets = torch.zeros(2, 4)
    assert math.isclose(float(box_loss(deltas, targets, torch.tensor([True, False]))), 1.625)
    assert float(box_loss(deltas, targets, torch.tensor([False, False]))) == 0.0


def test_mask_loss_hand_computed():
    # Eq. 8 on one positive position: mean over pixels of log(1 + exp(-c m)).
    logits = torch.tensor([[[0.0, 2.0], [-1.0, 3.0]]])
    labels = torch.tensor([[[1.0, 1.0], [-1.0, -1.0]]])
    expected = (math.log(2.0) + math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))
                + math.log1p(math.exp(3.0))) / 4
    assert math.isclose(float(mask_loss(logits, labels)), expected, rel_tol=1e-6)
    # Two positions average; no position gives 0.
    two = mask_loss(torch.cat([logits, torch.zeros_like(logits)]), torch.cat([labels, labels]))
    assert math.isclose(float(two), (expected + math.log(2.0)) / 2, rel_tol=1e-6)
    assert float(mask_loss(torch.zeros(0, 2, 2), torch.zeros(0, 2, 2))) == 0.0


def test_window_mask_labels_cut_the_exemplar_window():
    net = build_cyclesiam({"mask_size": 4})
    # A target square covering search pixels 95..158 (64 px) around the centre 127.
    mask = torch.zeros(1, 255, 255)
    mask[0, 95:159, 95:159] = 1.0
    # Response cell 12 sits on pixel 127: its 127 px window spans 63.5..190.5, 4 cells of
    # 31.75 px centred at 79.4, 111.1, 142.9, 174.6: the middle two are inside the square.
    labels = window_mask_labels(net, mask, torch.tensor([0]), torch.tensor([12]),
                                torch.tensor([12]), 255)
    expected = -torch.ones(4, 4)
    expected[1:3, 1:3] = 1.0
    assert torch.equal(labels[0], expected)
    # Cell 8 (pixel 95): the window is 32 px further up-left.
    labels = window_mask_labels(net, mask, torch.tensor([0]), torch.tensor([8]),
                                torch.tensor([8]), 255)
    expected = -torch.ones(4, 4)
    expected[2:4, 2:4] = 1.0
    assert torch.equal(labels[0], expected)


def test_windowed_argmax_blends_the_window_over_the_last_two_axes():
    window = np.array([[0.0, 0.5], [0.5, 1.0]])
    response = np.array([[[0.9, 0.0], [0.0, 0.2]], [[0.0, 0.0], [0.0, 0.0]]])
    # Influence 0.5: 0.45 at (0, 0, 0) against 0.6 at (0, 1, 1) and 0.5 at (1, 1, 1).
    assert windowed_argmax(response, window, 0.5) == (0, 1, 1)
    assert windowed_argmax(response, window, 0.0) == (0, 0, 0)


def test_paste_window_mask_places_the_window():
    probabilities = np.zeros((4, 4), np.float32)
    probabilities[1:3, 1:3] = 1.0
    # Window 40..80 x 20..60 in continuous coords: cells 10 px, the middle covers x 50..70.
    pasted = paste_window_mask(probabilities, (40.0, 20.0, 80.0, 60.0), (100, 120, 3))
    assert pasted.shape == (100, 120)
    inside = pasted > 0.5
    ys, xs = np.nonzero(inside)
    assert 48 <= xs.min() <= 52 and 67 <= xs.max() <= 71
    assert 28 <= ys.min() <= 32 and 47 <= ys.max() <= 51
    assert pasted[:, :35].max() == 0 and pasted[70:].max() == 0


# -- network ---------------------------------------------------------------------------------
def test_network_shapes_geometry_and_config():
    net = build_cyclesiam({})
    assert net.response_size(255) == 26 and net.num_anchors == 5
    locations = net.locations(255)
    assert locations[12] == 127.0 and np.allclose(np.diff(locations), 8.0)
    scores, deltas = net(torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255)
    assert scores.shape == (2, 5, 26, 26, 2) and deltas.shape == (2, 5, 26, 26, 4)
    assert float(deltas.detach().abs().max()) == 0.0              # starts at the anchors
    template = net.encode_template(net.kernel(torch.rand(1, 3, 127, 127)))
    _, _, hidden = net.heads(template, net.features(torch.rand(1, 3, 255, 255)))
    logits = net.mask_logits(hidden, torch.tensor([0, 0]), torch.tensor([3, 4]),
                             torch.tensor([5, 6]))
    assert logits.shape == (2, 31, 31)
    with pytest.raises(ValueError, match="unknown"):
        cyclesiam_config({"mask_sise": 31})
    for bad in ({"instance_size": 256}, {"template_cells": 6}, {"ratios": []},
                {"backbone": {"name": "scratch"}}, {"mask_size": 2}):
        with pytest.raises(ValueError):
            cyclesiam_config(bad)


def test_registration_and_checkpoint_round_trip(tmp_path):
    spec = get_method("cyclesiam")
    assert spec.recipe_cls is CycleSiamRecipe and CycleSiamRecipe.needs_discovery
    with pytest.raises(UnknownParameterError):
        build_tracker("cyclesiam", UNTRAINED, device="cpu", penalty=0.1)
    net = build_cyclesiam({})
    path = save_checkpoint(tmp_path / "c.pt", "cyclesiam", net, DEFAULT_CYCLESIAM_CONFIG)
    tracker = build_tracker("cyclesiam", path, device="cpu")
    assert type(tracker).__name__ == "LongTermTracker"          # wrapped by the long-term layer
    assert tracker.inner.supports_redetection
    loaded = tracker.inner.model
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# -- tracker ---------------------------------------------------------------------------------
def structured_cyclesiam(frame=None, box=None) -> torch.nn.Module:
    """Untrained CycleSiam whose score branch is a plain correlation of the neck features.

    The neck keeps the backbone's first channels, the 3x3 encoders and the 1x1 hidden layers
    pass their input through (centre tap 1), the
    object score is an affine map of the channel mean, the background score 0, the boxes the
    anchors. The tracker then locates the target by feature correlation (as an untrained
    SiamFC does), which exercises its geometry, anchors and penalties end to end. The affine
    map is calibrated on ``frame``'s search crop around ``box``: its peak at logit +5, its
    mean at -5 (the raw correlations are all positive and large).
    """
    torch.manual_seed(0)
    net = build_cyclesiam({}).eval()
    channels = net.neck[0].out_channels
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d) and module.weight.shape[:2] == \
                    (channels, channels):
                module.weight.zero_()
                centre = module.weight.shape[-1] // 2
                module.weight[torch.arange(channels), torch.arange(channels),
                              centre, centre] = 1.0
        net.neck[0].weight.zero_()
        net.neck[0].weight[torch.arange(channels), torch.arange(channels)] = 1.0
        net.score.out.weight.zero_()
        net.score.out.weight[net.num_anchors:, :, 0, 0] = 1.0 / channels
        net.score.out.bias.zero_()
        if frame is not None:
            centre = np.array(box[:2]) + np.array(box[2:]) / 2
            side = math.sqrt((box[2] * 2) * (box[3] * 2))
            template = crop_and_resize(frame, centre, side, 127)
            search = crop_and_resize(frame, centre, side * 255 / 127, 255)
            scores, _ = net(torch.from_numpy(image_to_tensor_layout(template[None])),
                            torch.from_numpy(image_to_tensor_layout(search[None])))
            raw = scores[0, 0, ..., 1]
            gain = 10.0 / float(raw.max() - raw.mean())
            net.score.out.weight.mul_(gain)
            net.score.out.bias[net.num_anchors:] = 5.0 - gain * float(raw.max())
    return net


def test_tracker_follows_a_moving_textured_patch_with_a_mask(tmp_path, monkeypatch):
    def no_stage(*args):
        raise AssertionError("the shared mask stage ran: CycleSiam gave no mask of its own")

    monkeypatch.setattr(MaskStage, "update", no_stage)
    frames, boxes = moving_patch_sequence(20)
    net = structured_cyclesiam(frames[0], boxes[0])
    path = save_checkpoint(tmp_path / "c.pt", "cyclesiam", net, DEFAULT_CYCLESIAM_CONFIG)
    tracker = build_tracker("cyclesiam", path, device="cpu", long_term=False, mask=True,
                            mask_head=True)
    tracker.init(frames[0], boxes[0])
    errors = []
    for frame, box in zip(frames[1:], boxes[1:]):
        result = tracker.track(frame)
        assert result.box.shape == (4,) and 0.0 <= result.score <= 1.0
        assert result.mask.shape == frame.shape[:2] and result.mask.dtype == np.uint8
        assert set(np.unique(result.mask)) <= {0, 255}
        errors.append(np.hypot(*(result.box[:2] + result.box[2:] / 2 - np.array(box[:2]) - 20)))
    assert max(errors) < 8.0 and np.mean(errors) < 4.0, errors
    assert np.hypot(boxes[-1][0] - boxes[0][0], boxes[-1][1] - boxes[0][1]) > 60
    # Re-detection: a window on the patch scores higher than one far from it, and finds it.
    last = np.array(boxes[-1][:2]) + 20
    candidates = tracker.detect(frames[-1], np.array([last + 30, [300.0, 40.0]]))
    assert candidates[0].score > candidates[1].score
    assert np.hypot(*(candidates[0].box[:2] + candidates[0].box[2:] / 2 - last)) < 10
    side, step = tracker.search_window()
    assert side > step > 0
    tracker.reseat([10, 10, 30, 30])
    assert np.allclose(tracker.center, [25, 25])
    without = build_tracker("cyclesiam", path, device="cpu", long_term=False)
    without.init(frames[0], boxes[0])
    assert without.track(frames[1]).mask is None


def test_mask_head_off_gives_the_shared_stages_mask_on_the_same_box(tmp_path):
    frames, boxes = moving_patch_sequence(4)
    net = structured_cyclesiam(frames[0], boxes[0])
    path = save_checkpoint(tmp_path / "c.pt", "cyclesiam", net, DEFAULT_CYCLESIAM_CONFIG)
    head = build_tracker("cyclesiam", path, device="cpu", long_term=False, mask=True,
                         mask_head=True)
    stage = build_tracker("cyclesiam", path, device="cpu", long_term=False, mask=True,
                          mask_head=False)
    reference = MaskStage()
    for tracker in (head, stage):
        tracker.init(frames[0], boxes[0])
    reference.init(frames[0], boxes[0])
    for frame in frames[1:]:
        by_head, by_stage = head.track(frame), stage.track(frame)
        assert np.array_equal(by_head.box, by_stage.box)
        assert np.array_equal(by_stage.mask, reference.update(frame, by_stage.box))
        assert not np.array_equal(by_head.mask, by_stage.mask)


def test_box_choice_ranks_the_plateau_by_margin_with_a_temperature():
    """At temperature 1 the window's pull wins on a saturated plateau; at 2 the margin does.

    Two anchors with probabilities 0.99 and 0.95 (margins 4.6 and 2.9), the 0.95 one at the
    window's centre.
    """
    net = build_cyclesiam({})
    anchors = torch.zeros(1, 1, 2, 4)
    anchors[..., 2:] = 10.0
    margins = torch.tensor([[[4.6, 2.9]]], dtype=torch.float64)
    scores = torch.stack([torch.zeros_like(margins), margins], -1)
    window = np.array([[0.75, 1.0]])
    deltas = torch.zeros(1, 1, 2, 4)
    args = (net, scores, deltas, anchors, np.array([10.0, 10.0]), window, 0.0, 0.2)
    assert best_box(*args)[0] == (0, 0, 1)
    index, _, prob, _ = best_box(*args, score_temperature=2.0)
    assert index == (0, 0, 0) and prob == pytest.approx(float(torch.sigmoid(torch.tensor(4.6))))
    with pytest.raises(ValueError, match="score_temperature"):
        build_tracker("cyclesiam", UNTRAINED, device="cpu", score_temperature=0.0)


def test_match_is_the_object_margin_over_the_first_frames(tmp_path):
    """match_score and Candidate.score: (object - background logit) over the first frame's.

    The softmax probability saturates near 1; the margin keeps a look-alike apart.
    """
    scores = torch.tensor([[[2.0, 5.0], [0.0, -1.0]]])
    assert torch.equal(object_margin(scores), torch.tensor([[3.0, -1.0]]))
    frames, boxes = moving_patch_sequence(6)
    net = structured_cyclesiam(frames[0], boxes[0])
    path = save_checkpoint(tmp_path / "c.pt", "cyclesiam", net, DEFAULT_CYCLESIAM_CONFIG)
    tracker = build_tracker("cyclesiam", path, device="cpu", long_term=False)
    tracker.init(frames[0], boxes[0])
    assert tracker.first_peak > MIN_FIRST_MARGIN
    centre = np.asarray(boxes[0][:2], float) + np.asarray(boxes[0][2:]) / 2
    first = tracker.detect(frames[0], centre[None])[0]
    assert first.score == pytest.approx(1.0, abs=1e-5)
    before, crop = tracker.center.copy(), tracker._crop_side()
    tracker.track(frames[1])
    search = crop_and_resize(frames[1], before, crop, tracker.net.instance_size,
                             mean_color(frames[1]))
    with torch.no_grad():
        raw, _, _ = tracker.net.heads(tracker.template, tracker.net.features(
            torch.from_numpy(image_to_tensor_layout(search[None]))), with_mask=False)
    margin = float((raw[0, ..., 1] - raw[0, ..., 0]).max())
    assert tracker.match_score == pytest.approx(margin / tracker.first_peak, rel=1e-4)
    # A template that does not stand out on its own frame: the floor, not a tiny divisor.
    with torch.no_grad():
        net.score.out.bias[net.num_anchors:] -= 100.0
    path = save_checkpoint(tmp_path / "flat.pt", "cyclesiam", net, DEFAULT_CYCLESIAM_CONFIG)
    flat = build_tracker("cyclesiam", path, device="cpu", long_term=False)
    flat.init(frames[0], boxes[0])
    assert flat.first_peak == MIN_FIRST_MARGIN
    assert flat.detect(frames[0], centre[None])[0].score < 0


# -- recipe ----------------------------------------------------------------------------------
@dataclasses.dataclass
class FakeDiscovery:
    """What discovery hands a recipe (pseudo boxes and flow-region masks), nothing else."""

    frame_offset: int
    num_frames: int
    boxes: np.ndarray
    regions: dict
    quality: np.ndarray = None
    fragment: np.ndarray = None
    video_score: float = 1.0

    @property
    def picked_frames(self):
        return np.array(sorted(self.regions))

    def region_mask(self, frame):
        return self.regions.get(frame)


class LabelFreeSource:
    """A FrameSource of frames only; any other attribute (labels) fails the test."""

    def __init__(self, frames):
        self._frames = frames
        self.reads = []

    def frame_at(self, index):
        self.reads.append(index)
        return self._frames[index]

    def __getattr__(self, name):
        raise AssertionError(f"the recipe read {name!r} from its data")


def pseudo_clip(frames=16, offset=(6.0, -4.0)):
    """Return the moving patch with pseudo boxes off the truth by ``offset``, disc regions."""
    images, truth = moving_patch_sequence(frames)
    boxes = np.array(truth, dtype=np.float64)
    boxes[:, :2] += offset
    regions = {}
    height, width = images[0].shape[:2]
    ys, xs = np.mgrid[:height, :width]
    for frame in (0, 3, 6, 9):
        cx, cy = boxes[frame, :2] + boxes[frame, 2:] / 2
        regions[frame] = (xs - cx) ** 2 + (ys - cy) ** 2 <= 15 ** 2
    return FakeDiscovery(0, frames, boxes, regions), images


def recipe_for(clip, model, **overrides):
    recipe = CycleSiamRecipe(CycleSiamRecipeParams.from_overrides(**overrides), {})
    recipe.set_discovery([clip])
    recipe.make_optimizer(model, 10)
    return recipe


def test_recipe_refuses_bad_use():
    with pytest.raises(UnknownParameterError):
        CycleSiamRecipeParams.from_overrides(frame_rang=3)
    with pytest.raises(ValueError):
        CycleSiamRecipeParams.from_overrides(init_boxes="annotation")
    recipe = CycleSiamRecipe(CycleSiamRecipeParams(), {})
    with pytest.raises(RuntimeError, match="set_discovery"):
        recipe.sample_batch(LabelFreeSource([]), np.random.default_rng(0))
    clip, images = pseudo_clip()
    recipe.set_discovery([clip])
    with pytest.raises(RuntimeError, match="prepare"):
        recipe.sample_batch(LabelFreeSource(images), np.random.default_rng(0))
    empty = FakeDiscovery(0, 3, np.full((3, 4), np.nan), {})
    with pytest.raises(ValueError, match="pseudo box"):
        recipe.set_discovery([empty])


@pytest.mark.parametrize("stage", ["pair", "cycle", "refine"])
def test_cycle_reads_no_label_and_crops_on_predictions(stage, monkeypatch):
    clip, images = pseudo_clip()
    model = build_cyclesiam({})
    fractions = {"pair": (1.0, 0.0), "cycle": (0.0, 0.0), "refine": (0.0, 1.0)}[stage]
    recipe = recipe_for(clip, model, batch_size=2, pair_fraction=fractions[0],
                        refine_fraction=fractions[1])
    recipe.prepare(model, None, np.random.default_rng(0))
    assert recipe.stage() == stage
    calls, hops = [], []
    crops, hop = recipe._crops, recipe._hop

    def spy_crops(template_image, template_box, search_image, search_centre, rng):
        calls.append((np.array(template_box), np.array(search_centre)))
        return crops(template_image, template_box, search_image, search_centre, rng)

    def spy_hop(images_from, boxes, images_to, rng):
        out = hop(images_from, boxes, images_to, rng)
        hops.append(([np.array(b) for b in boxes], [np.array(b) for b in out]))
        return out

    monkeypatch.setattr(recipe, "_crops", spy_crops)
    monkeypatch.setattr(recipe, "_hop", spy_hop)
    source = LabelFreeSource(images)
    batch = recipe.sample_batch(source, np.random.default_rng(3))
    assert len(hops) == {"pair": 0, "cycle": 3, "refine": 1}[stage]
    # The first hop (the final crops of a pair) starts from discovery's pseudo boxes (picked
    # frames), not the truth.
    starts = [b for b in hops[0][0]] if hops else [b for b, _ in calls]
    for start in starts:
        assert any(np.allclose(start, [*clip.boxes[f, :2] + clip.boxes[f, 2:] / 2,
                                       *clip.boxes[f, 2:]]) for f in clip.regions)
    # Each hop's template and search are centred on the previous hop's prediction.
    for (inputs, _), (previous_in, previous_out) in zip(hops[1:], hops[:-1]):
        assert all(np.allclose(a, b) for a, b in zip(inputs, previous_out))
    for template_box, search_centre in calls:
        assert np.allclose(template_box[:2], search_centre)
    # The final crops (the last two calls) start from the last hop's predictions.
    for (template_box, _), predicted in zip(calls[-2:], hops[-1][1] if hops else starts):
        assert np.allclose(template_box, predicted)
    assert source.reads and set(source.reads) <= set(range(len(images)))
    assert batch["template"].shape == (2, 3, 127, 127)
    assert batch["search"].shape == (2, 3, 255, 255) and batch["mask"].shape == (2, 255, 255)
    assert batch["weights"].tolist() == pytest.approx([0.0, 0.0, 36.0] if stage == "refine"
                                                      else [1.0, 1.2, 36.0])


def test_cycle_targets_are_the_cycles_own_start(monkeypatch):
    """With hops that return their input, the loss target is the pseudo start box and mask."""
    clip, images = pseudo_clip()
    model = build_cyclesiam({})
    recipe = recipe_for(clip, model, batch_size=3, search_shift=0.0, search_scale=0.0)
    recipe.prepare(model, None, np.random.default_rng(0))
    monkeypatch.setattr(recipe, "_hop", lambda a, boxes, b, rng: [np.array(x) for x in boxes])
    batch = recipe.sample_batch(LabelFreeSource(images), np.random.default_rng(5))
    # The 40 px pseudo box, context 0.5: an 80 px region is 127 px, so 63.5 px, centred.
    for box in batch["box"]:
        assert torch.allclose(box, torch.tensor([127.0, 127.0, 63.5, 63.5]), atol=1e-3)
    # The mask is discovery's disc (radius 15 px -> 23.8 px in the patch), not the square.
    for mask in batch["mask"]:
        inside = mask > 0.5
        area = float(inside.sum())
        assert abs(area - math.pi * (15 * 127 / 80) ** 2) < 0.08 * area
        ys, xs = torch.nonzero(inside, as_tuple=True)
        assert abs(float(xs.float().mean()) - 127) < 1.5
        assert abs(float(ys.float().mean()) - 127) < 1.5


def test_cycle_gate_leaves_out_cycles_that_do_not_return(monkeypatch):
    """The gate's extra 2 -> 1 hop decides; a left-out sample has no positive anchor."""
    clip, images = pseudo_clip()
    model = build_cyclesiam({})
    recipe = recipe_for(clip, model, batch_size=2, search_shift=0.0, search_scale=0.0,
                        pair_fraction=0.0, refine_fraction=0.0, cycle_gate_iou=0.5)
    recipe.prepare(model, None, np.random.default_rng(0))
    calls = []

    def hop(images_from, boxes, images_to, rng):
        calls.append(len(calls))
        out = [np.array(b, dtype=np.float64) for b in boxes]
        if len(calls) == 4:                 # the gate's hop back to frame 1
            out[0][:2] += out[0][2:]        # one box off by its own size: IoU 0
        return out

    monkeypatch.setattr(recipe, "_hop", hop)
    batch = recipe.sample_batch(LabelFreeSource(images), np.random.default_rng(5))
    assert len(calls) == 4 and batch["keep"].tolist() == [False, True]
    _, parts = recipe.loss(model, batch)
    assert parts["kept"] == 0.5
    batch["keep"][:] = True
    _, both = recipe.loss(model, batch)
    assert 0 < parts["positives"] < both["positives"]
    recipe = recipe_for(clip, model, batch_size=2, pair_fraction=0.0, refine_fraction=0.0)
    recipe.prepare(model, None, np.random.default_rng(0))
    calls.clear()
    monkeypatch.setattr(recipe, "_hop", hop)
    assert recipe.sample_batch(LabelFreeSource(images), np.random.default_rng(5))["keep"].all()
    assert len(calls) == 3                  # gate off: no extra hop


def test_pair_stage_context_swap_keeps_the_target_and_replaces_its_surroundings():
    clip, images = pseudo_clip()
    # A second clip of flat frames: the swapped-in context is flat grey there, or moving-patch
    # frames elsewhere.
    flat = FakeDiscovery(len(images), 4, np.tile([[10.0, 10.0, 20.0, 20.0]], (4, 1)),
                         {0: np.ones(images[0].shape[:2], bool)})
    frames = list(images) + [np.full_like(images[0], 90)] * 4
    model = build_cyclesiam({})
    batches = {}
    for probability in (0.0, 1.0):
        # One sample: the swap's draws would shift a second sample's jitter.
        recipe = recipe_for(clip, model, batch_size=1, pair_fraction=1.0, refine_fraction=0.0,
                            context_swap_probability=probability)
        recipe.clips.append(flat)
        recipe.prepare(model, None, np.random.default_rng(0))
        batches[probability] = recipe.sample_batch(LabelFreeSource(frames),
                                                   np.random.default_rng(3))
    kept, swapped = batches[0.0], batches[1.0]
    for key in ("box", "mask", "template"):
        assert torch.equal(kept[key], swapped[key]), key
    for i, (cx, cy) in enumerate(kept["box"][:, :2].round().int().tolist()):
        inside = (slice(None), slice(cy - 5, cy + 5), slice(cx - 5, cx + 5))
        assert torch.allclose(kept["search"][i][inside], swapped["search"][i][inside], atol=2.0)
        corners = swapped["search"][i][:, :20, :20] - kept["search"][i][:, :20, :20]
        assert corners.abs().mean() > 5.0
    with pytest.raises(ValueError, match="context_swap_probability"):
        CycleSiamRecipeParams(context_swap_probability=-0.1).validate()


def test_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    clip, images = pseudo_clip()
    model = build_cyclesiam({}).train()
    recipe = CycleSiamRecipe(CycleSiamRecipeParams.from_overrides(
        batch_size=2, lr=0.05, lr_start=0.05, warmup_fraction=0.0, pair_fraction=1.0,
        refine_fraction=0.0), {})
    recipe.set_discovery([clip])
    optimizer, scheduler = recipe.make_optimizer(model, 100)
    recipe.prepare(model, None, np.random.default_rng(0))
    batch = recipe.sample_batch(LabelFreeSource(images), np.random.default_rng(1))
    losses = []
    for _ in range(10):
        loss, logs = recipe.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(logs[k]) for k in ("cls", "box", "mask"))
    assert logs["positives"] > 0
    assert np.mean(losses[-2:]) < 0.8 * losses[0], losses


def test_training_loop_runs_discovery_for_the_recipe(tmp_path, monkeypatch):
    """unsup-tracker-train --method cyclesiam: discovery feeds the recipe, both stages run."""
    from test_discovery import train_on_moving_patch
    result, frames, columns = train_on_moving_patch(
        tmp_path, monkeypatch, "cyclesiam", 2,
        {"batch_size": 1, "pair_fraction": 0.0, "refine_fraction": 0.5})
    assert [value >= 0 for value in columns["mask"]] == [True, True]
    tracker = build_tracker("cyclesiam", result.checkpoint, device="cpu", mask=True)
    tracker.init(frames[0], [40, 50, 44, 36])
    result = tracker.track(frames[1])
    assert result.box.shape == (4,) and result.mask.shape == frames[1].shape[:2]


def test_training_starts_from_another_methods_backbone(tmp_path, monkeypatch):
    """--features-from: USOT's backbone and neck in, CycleSiam's branches fresh, recorded."""
    from test_discovery import train_on_moving_patch
    from unsup_tracker.methods.usot.model import build_usot
    donor = build_usot({})
    with torch.no_grad():
        donor.neck[0].weight.fill_(0.123)
    donor_path = save_checkpoint(tmp_path / "usot.pt", "usot", donor, {})
    result, _, _ = train_on_moving_patch(
        tmp_path, monkeypatch, "cyclesiam", 1,
        {"batch_size": 1, "lr": 1e-4, "lr_start": 1e-4, "lr_end": 1e-4},
        features_from=str(donor_path))
    trained = load_checkpoint(result.checkpoint)
    neck = trained.state_dict["neck.0.weight"]
    assert torch.allclose(neck, torch.full_like(neck, 0.123), atol=1e-3)
    name = next(k for k in trained.state_dict if k.startswith("backbone.") and
                k.endswith("weight") and trained.state_dict[k].dim() == 4)
    assert torch.allclose(trained.state_dict[name], donor.state_dict()[name], atol=1e-3)
    assert trained.meta["features_from"]["method"] == "usot"
    assert trained.meta["features_from"]["tensors"] > 30


def test_shared_features_are_refused_from_another_network():
    from unsup_tracker.checkpoint import Checkpoint, CheckpointError, load_shared_features
    from unsup_tracker.methods.usot.model import build_usot
    donor = build_usot({"channels": 16})
    record = {"backbone": donor.weights_record()}
    model = build_cyclesiam({})
    with pytest.raises(CheckpointError, match="another network shape for neck"):
        load_shared_features(model, Checkpoint("usot", {}, donor.state_dict(), record))
    heads_only = {k: v for k, v in donor.state_dict().items() if not k.startswith("backbone.")
                  and not k.startswith("neck.")}
    with pytest.raises(CheckpointError, match="shares no backbone"):
        load_shared_features(model, Checkpoint("usot", {}, heads_only, record))
    other = {"backbone": {**record["backbone"], "sha256": "0" * 64}}
    with pytest.raises(CheckpointError, match="backbone weights"):
        load_shared_features(model, Checkpoint("usot", {}, donor.state_dict(), other))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copied = load_shared_features(model, Checkpoint("usot", {}, build_usot({}).state_dict(),
                                                    record))
    assert copied and all(k.startswith(("backbone.", "neck.")) for k in copied)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()
               if not k.startswith(("backbone.", "neck.")))
