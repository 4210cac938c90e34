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
"""USOT: anchor-free parts, network shapes, Eq. 8 fusion, the tracker and its memory queue."""
import dataclasses
import math

import numpy as np
import pytest
import torch
from synthetic import one_torch_thread  # noqa: F401  (autouse fixture)
from test_siamfc import moving_patch_sequence, textured_image

from unsup_tracker import UNTRAINED, UnknownParameterError, build_tracker, get_method
from unsup_tracker.checkpoint import save_checkpoint
from unsup_tracker.methods.usot.model import (DEFAULT_USOT_CONFIG, build_usot, memory_fusion,
                                              usot_config)
from unsup_tracker.methods.usot.recipe import USOTRecipe, USOTRecipeParams, memory_lambda
from unsup_tracker.methods.usot.tracker import MemoryQueue, USOTParams
from unsup_tracker.models.anchor_free import (MultiScaleCorrelation, iou_loss, ltrb_targets,
                                              roi_align)


# -- shared parts ---------------------------------------------------------------------------
def test_roi_align_matches_hand_computed_bilinear_values():
    # f(x, y) = 4 x y on the 2x2 map [[0, 0], [0, 4]] (bilinear interpolation is exact on it).
    features = torch.tensor([[[[0.0, 0.0], [0.0, 4.0]]]])
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    # Four 1-sample bins: centres at 0.25 and 0.75 on each axis.
    assert torch.allclose(roi_align(features, box, output_size=2, sampling=1),
                          torch.tensor([[[[0.25, 0.75], [0.75, 2.25]]]]))
    # One bin averaging 2x2 samples at the same points: (0.25 + 0.75 + 0.75 + 2.25) / 4 = 1.
    assert torch.allclose(roi_align(features, box, output_size=1, sampling=2),
                          torch.tensor([[[[1.0]]]]))
    # Outside the map reads zeros: a 1-bin box centred at x = -0.5 on a constant 2 map gives 1.
    constant = torch.full((1, 1, 2, 2), 2.0)
    assert torch.allclose(roi_align(constant, torch.tensor([[-1.0, 0.0, 0.0, 1.0]]), 1, 1),
                          torch.tensor([[[[1.0]]]]))
    # One box per map of a batch, channels pooled alike.
    batch = torch.stack([features[0], 2 * features[0]]).expand(2, 3, 2, 2)
    pooled = roi_align(batch, box.expand(2, 4), 2, 1)
    assert pooled.shape == (2, 3, 2, 2) and torch.allclose(pooled[1], 2 * pooled[0])
    with pytest.raises(ValueError):
        roi_align(features, torch.zeros(2, 4))


def test_iou_loss_hand_computed():
    # Location 0: predicted ltrb (1, 1, 1, 1) (a 2x2 box), target (2, 2, 2, 2) (4x4):
    # I = 4, U = 4 + 16 - 4 = 16 -> -ln(5 / 17). Location 1 is not positive: ignored.
    predicted = torch.tensor([1.0, 1.0, 1.0, 1.0, 9.0, 9.0, 9.0, 9.0]).view(1, 2, 4)
    predicted = predicted.permute(0, 2, 1).reshape(1, 4, 1, 2)
    target = torch.tensor([2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]).view(1, 2, 4)
    target = target.permute(0, 2, 1).reshape(1, 4, 1, 2)
    positive = torch.tensor([[[True, False]]])
    assert math.isclose(float(iou_loss(predicted, target, positive)), -math.log(5 / 17),
                        rel_tol=1e-6)
    # Identical boxes cost nothing; no positive gives 0.
    assert float(iou_loss(target, target, torch.ones(1, 1, 2, dtype=torch.bool))) == 0.0
    assert float(iou_loss(predicted, target, torch.zeros(1, 1, 2, dtype=torch.bool))) == 0.0


def test_ltrb_targets_hand_computed():
    targets = ltrb_targets(torch.tensor([10.0, 20.0]), torch.tensor([[5.0, 12.0, 30.0, 40.0]]))
    assert targets.shape == (1, 4, 2, 2)
    # Row 0 (y = 10), column 1 (x = 20): left 15, top -2, right 10, bottom 30.
    assert targets[0, :, 0, 1].tolist() == [15.0, -2.0, 10.0, 30.0]


def test_memory_fusion_eq8_hand_computed():
    # Two memories: confidences 0 and ln 3 -> softmax 1/4, 3/4; values 4 and 8 -> 7.
    conf = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1, 1)
    value = torch.tensor([4.0, 8.0]).view(1, 2, 1, 1, 1)
    assert torch.allclose(memory_fusion(conf, value), torch.tensor([[[[7.0]]]]))
    # Confidences are clamped to [-6, 4] first: 10 counts as 4.
    conf = torch.tensor([10.0, 0.0]).view(1, 2, 1, 1, 1)
    weight = math.exp(4) / (math.exp(4) + 1)
    assert math.isclose(float(memory_fusion(conf, value)), 4 * weight + 8 * (1 - weight),
                        rel_tol=1e-6)
    with pytest.raises(ValueError):
        memory_fusion(torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1))


def test_multi_scale_correlation_sizes_and_equal_initial_branches():
    torch.manual_seed(0)
    corr = MultiScaleCorrelation(4).eval()
    out = corr(torch.rand(2, 4, 7, 7), torch.rand(2, 4, 28, 28))
    assert out.shape == (2, 4, 22, 22)
    kernels = corr.encode_template(torch.rand(1, 4, 7, 7))
    assert [tuple(k.shape[2:]) for k in kernels] == [(5, 5), (3, 5), (5, 3)]
    searches = corr.encode_search(torch.rand(1, 4, 28, 28))
    from unsup_tracker.models.correlation import xcorr_depthwise
    expected = sum(xcorr_depthwise(k, s) for k, s in zip(kernels, searches)) / 3
    assert torch.allclose(corr.correlate(kernels, searches), expected, atol=1e-6)


# -- network -------------------------------------------------------------------------------
def test_network_shapes_and_config():
    torch.manual_seed(0)
    net = build_usot({}).eval()
    template = torch.rand(2, 3, 127, 127) * 255
    search = torch.rand(2, 3, 223, 223) * 255
    boxes = torch.tensor([[40.0, 45.0, 90.0, 80.0]] * 2)
    cls, reg = net(template, boxes, search)
    assert cls.shape == (2, 1, 22, 22) and reg.shape == (2, 4, 22, 22) and (reg > 0).all()
    assert net.response_size(239) == 24
    # Response cell j is centred on search pixel 8 (j + 3) + 6: cell 0 at 30, the centre
    # ((22 - 1) / 2 = 10.5) at 114, 3 px right of the patch centre 111 (Lite0's offset).
    locations = net.locations(223)
    assert locations[0] == 30.0 and float(locations.mean()) == 114.0
    features = net.features(search)
    kernels = net.pool(features, boxes)
    assert kernels.shape == (2, 32, 7, 7)
    memory = net.encode_memory(torch.cat([kernels, kernels, kernels]))
    encoded = net.encode_search(features)
    # Search-major memories: 3 per search.
    mem = net.memory_head([m.reshape(2, 3, *m.shape[1:]).flatten(0, 1) for m in memory],
                          encoded["cls"], 3)
    assert mem.shape == (2, 1, 22, 22)
    with torch.no_grad():
        fused = net.inference_copy()
        assert torch.allclose(fused.features(search), features, atol=1e-3)
    with pytest.raises(ValueError, match="unknown"):
        usot_config({"chanels": 8})
    with pytest.raises(ValueError, match="8 m \\+ 7"):
        usot_config({"instance_size": 224})
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        usot_config({"backbone": {"name": "scratch"}})


def test_regression_is_relative_to_the_reference_size():
    torch.manual_seed(0)
    net = build_usot({}).eval()
    with torch.no_grad():
        net.reg_out.weight.zero_()
        net.reg_out.bias.zero_()
        net.reg_bias.fill_(math.log(3.0))
        template = net.encode_template(torch.rand(2, 32, 7, 7))
        search = net.encode_search(torch.rand(2, 32, 28, 28))
        _, reg = net.offline_heads(template, search, torch.tensor([[40.0, 20.0], [10.0, 64.0]]))
    # exp(bias) * (w, h, w, h) / 2 at every location.
    assert torch.allclose(reg[0, :, 5, 7], torch.tensor([60.0, 30.0, 60.0, 30.0]))
    assert torch.allclose(reg[1, :, 0, 0], torch.tensor([15.0, 96.0, 15.0, 96.0]))
    with pytest.raises(ValueError, match="sizes"):
        net.offline_heads(template, search, torch.ones(2, 4))


def test_registration_params_and_checkpoint_round_trip(tmp_path):
    spec = get_method("usot")
    assert spec.default_model_config == DEFAULT_USOT_CONFIG
    params = USOTParams()
    assert (params.memory_size, params.memory_weight, params.online_update) == (7, 0.7, True)
    with pytest.raises(UnknownParameterError):
        USOTParams.from_overrides(memory_sise=5)
    for bad in ({"memory_size": 2}, {"memory_weight": 1.5}, {"small_instance_size": 240},
                {"instance_size": 200}, {"instance_size": 55}):
        with pytest.raises(ValueError):
            USOTParams.from_overrides(bad)
    torch.manual_seed(1)
    net = build_usot({})
    path = save_checkpoint(tmp_path / "usot.pt", "usot", net, DEFAULT_USOT_CONFIG)
    tracker = build_tracker("usot", path, device="cpu", memory_size=5)
    assert tracker.params.memory_size == 5
    loaded = tracker.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())


# -- memory queue ----------------------------------------------------------------------------
def test_memory_queue_keeps_exactly_the_frames_of_the_rule():
    queue = MemoryQueue(7)
    queue.set_first(["first", "flip"])
    assert [e[2] for e in queue.entries()] == ["first", "flip"]
    scores = {1: 0.2, 2: 0.9, 3: 0.1, 4: 0.5, 5: 0.6, 6: 0.4, 7: 0.3, 8: 0.8, 9: 0.7, 10: 0.1,
              11: 0.05, 12: 0.0}
    queue.push(1, scores[1], 1)
    assert [e[0] for e in queue.entries()] == [0, 0, 1]        # latest only
    queue.push(2, scores[2], 2)
    assert [e[0] for e in queue.entries()] == [0, 0, 2, 1]     # history 1 -> one segment
    for frame in range(3, 12):
        queue.push(frame, scores[frame], frame)
    # Tracking frame 12: latest 11; history 1..10 in 4 segments [1, 2, 3] [4, 5, 6] [7, 8]
    # [9, 10] (np.array_split); their best frames are 2, 5, 8 and 9.
    assert [e[0] for e in queue.entries()] == [0, 0, 11, 2, 5, 8, 9]
    assert [e[1] for e in queue.entries()][:2] == [0.9, 0.9]
    # N_q = 5: two segments [1..5] [6..10] -> 2 and 8.
    small = MemoryQueue(5)
    small.set_first(["a", "b"])
    for frame in range(1, 12):
        small.push(frame, scores[frame], frame)
    assert [e[0] for e in small.entries()] == [0, 0, 11, 2, 8]


def test_memory_queue_history_stays_bounded():
    queue = MemoryQueue(7)
    queue.history_cap = 8
    queue.set_first(["a", "b"])
    for frame in range(1, 100):
        queue.push(frame, float(frame % 7), frame)
    assert len(queue.history) <= 8 and len(queue.entries()) == 7


# -- tracker ---------------------------------------------------------------------------------
def structured_usot() -> torch.nn.Module:
    """Untrained USOT whose heads compute plain correlations of the neck features.

    Encoders, towers and the memory generators pass their input through (centre tap 1), the
    cls and memory outputs sum the channels, and the regression predicts its reference box
    (the current target size) around every location. The tracker then locates the target by feature
    correlation (as an untrained SiamFC does), which exercises its geometry end to end.
    """
    torch.manual_seed(0)
    net = build_usot({}).eval()
    channels = net.neck[0].out_channels
    identity = torch.zeros(channels, channels, 3, 3)
    identity[torch.arange(channels), torch.arange(channels), 1, 1] = 1.0
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d) and module.weight.shape == identity.shape:
                module.weight.copy_(identity)
        for out in (net.cls_out, net.memory_out):
            out.weight.zero_()
            out.weight[0, :, 1, 1] = 1.0 / channels
            out.bias.zero_()
        net.reg_out.weight.zero_()
        net.reg_out.bias.zero_()
        net.reg_bias.zero_()
    return net


def test_tracker_follows_a_moving_textured_patch(tmp_path):
    frames, boxes = moving_patch_sequence(20)
    # The 40 px patch with context 0.5: template side 80 -> 127 px, so 63.5 px in the patch.
    net = structured_usot()
    path = save_checkpoint(tmp_path / "usot.pt", "usot", net, DEFAULT_USOT_CONFIG)
    for overrides in ({}, {"memory_weight": 0.0}, {"instance_size": 191}):
        tracker = build_tracker("usot", path, device="cpu", **overrides)
        tracker.init(frames[0], boxes[0])
        if overrides.get("instance_size"):
            assert tracker.inner.search_window()[0] == pytest.approx(
                80.0 * 191 / 127), "the search crop follows instance_size"
        errors = []
        for frame, box in zip(frames[1:], boxes[1:]):
            result = tracker.track(frame)
            assert result.box.shape == (4,) and 0.0 <= result.score <= 1.0
            centre = result.box[:2] + result.box[2:] / 2
            errors.append(np.hypot(*(centre - np.array(box[:2]) - 20)))
            assert np.allclose(result.box[2:], 40.0, atol=2.0)
        assert max(errors) < 8.0 and np.mean(errors) < 4.0, (overrides, errors)
    # A tracker that stayed put would be far off by the end.
    assert np.hypot(boxes[-1][0] - boxes[0][0], boxes[-1][1] - boxes[0][1]) > 60


def test_size_error_is_the_bounded_geometric_mean_hand_computed():
    from unsup_tracker.models.rpn import size_error
    # Widths 2x and 0.5x (mean log 0) and heights 1.2x twice: (1, 1.2).
    assert np.allclose(size_error([[80.0, 24.0], [20.0, 24.0]], (40.0, 20.0)), [1.0, 1.2])
    assert np.allclose(size_error([[400.0, 2.0]], (40.0, 20.0)), [math.exp(0.5), math.exp(-0.5)])


def test_size_calibration_removes_the_heads_steady_size_error(tmp_path):
    """A head that always predicts 1.3x the true size: calibrated, the box keeps its size."""
    frames, boxes = moving_patch_sequence(20)
    net = structured_usot()
    with torch.no_grad():
        net.reg_bias.fill_(math.log(1.3))
    path = save_checkpoint(tmp_path / "usot.pt", "usot", net, DEFAULT_USOT_CONFIG)
    sizes = {}
    for calibrate in (True, False):
        tracker = build_tracker("usot", path, device="cpu", long_term=False, size_lr=0.3,
                                calibrate_size=calibrate)
        tracker.init(frames[0], boxes[0])
        if calibrate:
            assert np.allclose(tracker.size_error, 1.3, atol=0.02)
        for frame in frames[1:]:
            sizes[calibrate] = tracker.track(frame).box[2:]
    assert np.allclose(sizes[True], 40.0, atol=2.0)
    # Uncalibrated, every frame moves the size 0.3 of the way towards 1.3x.
    assert np.all(sizes[False] > 50.0)
    # The calibration is bounded: a head 3x off is corrected by exp(0.5) at most.
    with torch.no_grad():
        net.reg_bias.fill_(math.log(3.0))
    path = save_checkpoint(tmp_path / "usot3.pt", "usot", net, DEFAULT_USOT_CONFIG)
    tracker = build_tracker("usot", path, device="cpu", long_term=False)
    tracker.init(frames[0], boxes[0])
    assert np.allclose(tracker.size_error, math.exp(0.5))


def test_tracker_queue_follows_the_rule_and_switches():
    frames, boxes = moving_patch_sequence(12)
    # Without the long-term layer: its lost thresholds, chosen for the shipped weights, freeze
    # this untrained network's queue (every frame scores low), and the rule is what is tested.
    tracker = build_tracker("usot", UNTRAINED, device="cpu", long_term=False)
    tracker.init(frames[0], boxes[0])
    for frame in frames[1:]:
        tracker.track(frame)
    # Tracked frames 1..11: first pair, latest 11, one best frame in each of 4 segments of
    # 1..10, whatever the scores were.
    kept = tracker.memory_frames()
    assert kept[:3] == [0, 0, 11] and len(kept) == 7
    segments = [[1, 2, 3], [4, 5, 6], [7, 8], [9, 10]]
    assert all(frame in segment for frame, segment in zip(kept[3:], segments))
    frozen = build_tracker("usot", UNTRAINED, device="cpu", online_update=False)
    frozen.init(frames[0], boxes[0])
    for frame in frames[1:4]:
        frozen.track(frame)
    assert frozen.memory_frames() == [0, 0]


def test_small_targets_get_the_larger_search():
    image = textured_image(np.random.default_rng(0), 480, 640)
    tracker = build_tracker("usot", UNTRAINED, device="cpu")
    tracker.init(image, [300, 200, 20, 20])     # 400 / 307200 < 0.004
    assert tracker._search_geometry()[0] == 239
    tracker.init(image, [300, 200, 60, 50])
    assert tracker._search_geometry()[0] == 223


def test_first_frame_finetuning_adapts_the_last_layers_only():
    frames, boxes = moving_patch_sequence(3)
    tracker = build_tracker("usot", UNTRAINED, device="cpu", finetune=True, finetune_steps=2,
                            finetune_seconds=30.0)
    shared = {k: v.clone() for k, v in tracker.model.state_dict().items()}
    tracker.init(frames[0], boxes[0])
    assert tracker.finetune_report.steps == 2
    tuned = tracker.model.state_dict()
    changed = {k for k in tuned if not torch.equal(tuned[k], shared[k])}
    assert changed and all(k.startswith(("backbone._blocks.4.", "cls_out.", "reg_out.",
                                         "memory_out.", "reg_adjust", "reg_bias"))
                           for k in changed), changed
    assert tracker.track(frames[1]).box.shape == (4,)


# -- training --------------------------------------------------------------------------------
@dataclasses.dataclass
class FakeDiscovery:
    """A DiscoveredClip whose pseudo boxes are the true ones (the recipe, not discovery, here)."""

    frame_offset: int
    num_frames: int
    boxes: np.ndarray
    quality: np.ndarray
    fragment: np.ndarray
    video_score: float = 1.0


class FrameList:
    """FrameSource over a list of frames (frame_at only, what the USOT recipe reads)."""

    def __init__(self, frames):
        self.frames = frames

    def frame_at(self, index):
        return self.frames[index]


def recipe_and_source(frames=16):
    images, boxes = moving_patch_sequence(frames)
    boxes = np.array(boxes, dtype=np.float64)
    boxes[3] = np.nan                                            # a frame without a box
    fragment = np.tile([[1, frames - 1]], (frames, 1))
    clip = FakeDiscovery(0, frames, boxes, np.linspace(0.5, 1.0, frames), fragment)
    return clip, FrameList(images)


def test_recipe_registration_and_discovery_protocol():
    spec = get_method("usot")
    assert spec.recipe_cls is USOTRecipe and USOTRecipe.needs_discovery
    with pytest.raises(UnknownParameterError):
        USOTRecipeParams.from_overrides(num_memory=3)
    recipe = USOTRecipe(USOTRecipeParams(), {})
    with pytest.raises(RuntimeError, match="set_discovery"):
        recipe.sample_batch(FrameList([]), np.random.default_rng(0))
    empty = FakeDiscovery(0, 2, np.full((2, 4), np.nan), np.zeros(2), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="pseudo box"):
        recipe.set_discovery([empty])
    # lambda_1 schedule of the memory stage (lambda_2 = 0.9 - lambda_1).
    assert [memory_lambda(f) for f in (0.0, 0.27, 0.28, 0.35, 0.36, 1.0)] == \
        [0.30, 0.30, 0.275, 0.275, 0.25, 0.25]


def test_recipe_batches_put_the_box_on_the_target():
    clip, source = recipe_and_source()
    params = USOTRecipeParams.from_overrides(batch_size=6, search_shift=0.0, search_scale=0.0,
                                             template_shift=0.0, template_scale=0.0,
                                             hflip_probability=1.0, vflip_probability=0.0,
                                             brightness=0.0, contrast=0.0, saturation=0.0)
    recipe = USOTRecipe(params, {})
    recipe.set_discovery([clip])
    model = build_usot({})
    recipe.make_optimizer(model, 10)
    batch = recipe.sample_batch(source, np.random.default_rng(0))
    assert "memory" not in batch                                # step 0: naive stage
    # The 40 px patch, context 0.5: 80 px region -> 63.5 px about pixel 63 (flips keep it).
    assert torch.allclose(batch["template_box"][0], torch.tensor([31.25, 31.25, 94.75, 94.75]))
    # The search crop has the template's pixels per image pixel, centred on pixel 111.
    assert torch.allclose(batch["search_box"][0], torch.tensor([79.25, 79.25, 142.75, 142.75]))
    # Horizontal flip: the patch's left column is the frame's right column of the box region.
    patch = batch["template"][0].permute(1, 2, 0).numpy()
    assert np.abs(patch[63, ::-1] - patch[63]).mean() > 5


def test_context_swap_keeps_the_target_and_replaces_its_surroundings():
    clip, source = recipe_and_source()
    # Another clip of plain frames: the context the swap brings in is flat grey here.
    plain = FakeDiscovery(0, 4, np.tile([[10.0, 10.0, 20.0, 20.0]], (4, 1)), np.ones(4),
                          np.tile([[0, 3]], (4, 1)))
    frames = list(source.frames) + [np.full_like(source.frames[0], 90)] * 4
    plain.frame_offset = len(source.frames)
    batches = {}
    for probability in (0.0, 1.0):
        params = USOTRecipeParams.from_overrides(batch_size=1, brightness=0.0, contrast=0.0,
                                                 saturation=0.0,
                                                 context_swap_probability=probability)
        recipe = USOTRecipe(params, {})
        recipe.set_discovery([clip])
        recipe.make_optimizer(build_usot({}), 10)
        recipe.clips.append(plain)          # swapped contexts come from either clip
        rng = np.random.default_rng(5)
        batches[probability] = recipe.sample_batch(FrameList(frames), rng)
    kept, swapped = batches[0.0], batches[1.0]
    assert torch.equal(kept["search_box"], swapped["search_box"])
    assert torch.equal(kept["template"], swapped["template"])
    x0, y0, x1, y1 = (int(round(float(v))) for v in kept["search_box"][0])
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    inside = (slice(None), slice(cy - 5, cy + 5), slice(cx - 5, cx + 5))
    assert torch.allclose(kept["search"][0][inside], swapped["search"][0][inside], atol=2.0)
    corners = swapped["search"][0][:, :20, :20] - kept["search"][0][:, :20, :20]
    assert corners.abs().mean() > 5.0
    with pytest.raises(ValueError, match="context_swap_probability"):
        USOTRecipeParams(context_swap_probability=1.5).validate()


@pytest.mark.parametrize("stage", ["naive", "memory"])
def test_training_steps_reduce_the_loss(stage):
    torch.manual_seed(0)
    clip, source = recipe_and_source()
    # A fixed batch at a high rate: the steps must fit it.
    params = USOTRecipeParams.from_overrides(batch_size=2, num_memories=2, lr=0.05,
                                             warmup_fraction=0.0,
                                             naive_fraction=1.0 if stage == "naive" else 0.0)
    recipe = USOTRecipe(params, {})
    recipe.set_discovery([clip])
    model = build_usot({}).train()
    optimizer, scheduler = recipe.make_optimizer(model, 100)
    batch = recipe.sample_batch(source, np.random.default_rng(1))
    assert ("memory" in batch) == (stage == "memory")
    if stage == "memory":
        assert batch["memory"].shape == (4, 3, 223, 223)
    losses = []
    for _ in range(8):
        loss, logs = recipe.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    assert math.isfinite(logs["reg"]) and math.isfinite(logs["cls"])
    assert math.isfinite(logs["mem"]) == (stage == "memory")
    assert np.mean(losses[-2:]) < 0.8 * losses[0], losses


def test_training_loop_runs_discovery_for_the_recipe(tmp_path, monkeypatch):
    """unsup-tracker-train --method usot: discovery feeds the recipe, both stages run."""
    from test_discovery import _write_video, train_on_moving_patch
    from unsup_tracker_training.loop import TrainingError, TrainOptions, train
    result, frames, columns = train_on_moving_patch(
        tmp_path, monkeypatch, "usot", 3,
        {"batch_size": 1, "num_memories": 2, "naive_fraction": 0.3})
    mem = columns["mem"]
    assert math.isnan(mem[0]) and all(np.isfinite(mem[1:])), mem   # stage 1, then memory
    assert list((tmp_path / "cache" / "discovery").glob("*.npz"))
    tracker = build_tracker("usot", result.checkpoint, device="cpu")
    tracker.init(frames[0], [40, 50, 44, 36])
    assert tracker.track(frames[1]).box.shape == (4,)
    # Still footage: nothing moves, no usable clip.
    _write_video(tmp_path / "still.avi", [frames[0]] * 20)
    with pytest.raises(TrainingError, match="no usable clip"):
        train(TrainOptions(method="usot", data=[str(tmp_path / "still.avi")],
                           out=str(tmp_path / "still"), steps=1, quiet=True, threads=1))


# -- re-detection hooks (unsup_tracker.long_term) ---------------------------------------------
def patch_on_grey(num_frames=20):
    """Move a textured 40 px patch over flat grey (untrained correlation peaks only on it)."""
    patch = textured_image(np.random.default_rng(3), 40, 40)
    frames, boxes = [], []
    for t in range(num_frames):
        x, y = 40 + 5 * t, 60 + 3 * t
        frame = np.full((240, 320, 3), 128, np.uint8)
        frame[y:y + 40, x:x + 40] = patch
        frames.append(frame)
        boxes.append((x, y, 40, 40))
    return frames, boxes


def hooked_tracker(tmp_path, **overrides):
    """Structured USOT (see structured_usot) on :func:`patch_on_grey`, logits centred.

    The output biases move the target's logits to ~1.5 and the grey's to ~-1 (the raw
    correlations are ~55 and ~28 before the heads' 0.1), so R is not saturated.
    """
    frames, boxes = patch_on_grey()
    net = structured_usot()
    with torch.no_grad():
        net.cls_out.bias.fill_(-40.0)
        net.memory_out.bias.fill_(-40.0)
    path = save_checkpoint(tmp_path / "usot.pt", "usot", net, DEFAULT_USOT_CONFIG)
    tracker = build_tracker("usot", path, device="cpu", long_term=False, **overrides)
    tracker.init(frames[0], boxes[0])
    return tracker, frames, boxes


def tracking_state(tracker):
    return (tracker.center.copy(), tracker.target_size.copy(), tracker.memory_frames(),
            [t.clone() for t in tracker.template["cls"]])


def same_state(a, b):
    return (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
            and all(torch.equal(x, y) for x, y in zip(a[3], b[3])))


def test_build_tracker_wraps_usot_in_the_long_term_layer():
    from unsup_tracker.long_term import LongTermTracker
    tracker = build_tracker("usot", UNTRAINED, device="cpu")
    assert isinstance(tracker, LongTermTracker) and tracker.inner.supports_redetection


def test_detect_finds_the_target_and_scores_it_against_the_first_frame(tmp_path):
    tracker, frames, boxes = hooked_tracker(tmp_path)
    side, step = tracker.search_window()
    # The search region of a 40 px target with context 0.5: 80 px template side x 223 / 127.
    assert side == pytest.approx(80 * 223 / 127)
    assert step == pytest.approx(side * 8 * 21 / 223)
    before = tracking_state(tracker)
    # On the first frame, at the target: R's peak there is the reference (score 1).
    first = tracker.detect(frames[0], np.array([[60.0, 80.0]]))[0]
    assert first.score == pytest.approx(1.0, abs=1e-6)
    # Frame 12: the target is 70 px from the first box; a window centred 36 px off it finds it.
    truth = np.array(boxes[12][:2], dtype=float) + 20
    found, far = tracker.detect(frames[12], np.array([truth + [30, -20], [270, 60]]),
                                np.array([1.0, 1.2]))
    assert np.hypot(*(found.box[:2] + found.box[2:] / 2 - truth)) < 6
    assert np.allclose(found.box[2:], 40) and np.allclose(far.box[2:], 48)
    assert found.score > 0.8 and far.score < 0.5
    assert same_state(before, tracking_state(tracker))       # detect changes nothing
    assert tracker.detect(frames[1], np.zeros((0, 2))) == []
    with pytest.raises(ValueError):
        tracker.detect(frames[1], np.array([[10.0, 10.0]]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        tracker.detect(frames[1], np.array([[np.nan, 10.0]]))


def test_match_score_frozen_and_reseat(tmp_path):
    tracker, frames, boxes = hooked_tracker(tmp_path)
    assert tracker.match_score is None
    tracker.track(frames[1])
    assert 0.8 < tracker.match_score <= 1.2 and tracker.memory_frames() == [0, 0, 1]
    # Frozen: tracking goes on (the box follows) but nothing enters the memory queue.
    tracker.frozen = True
    for frame in frames[2:6]:
        result = tracker.track(frame)
    assert tracker.memory_frames() == [0, 0, 1]
    assert np.hypot(*(result.box[:2] - boxes[5][:2])) < 8
    tracker.frozen = False
    tracker.track(frames[6])
    assert tracker.memory_frames()[:3] == [0, 0, 6]
    # Reseat: the state moves to the box, template and memories stay; tracking resumes there.
    before = tracking_state(tracker)
    tracker.reseat([boxes[15][0], boxes[15][1], 40, 40])
    after = tracking_state(tracker)
    assert np.allclose(after[0], np.array(boxes[15][:2]) + 20) and np.allclose(after[1], 40)
    assert after[2] == before[2] and all(torch.equal(x, y) for x, y in zip(after[3], before[3]))
    result = tracker.track(frames[16])
    assert np.hypot(*(result.box[:2] - boxes[16][:2])) < 8
    tracker.reseat([-50, 10, 1, 1])                          # clipped into the image
    assert tracker.center[0] == 0.0 and np.all(tracker.target_size >= 10)
