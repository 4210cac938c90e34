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
"""SiamFC network, S2SiamFC losses and training, and the shared SiamFC tracker (s2siamfc, pul)."""
import math

import cv2
import numpy as np
import pytest
import torch
from installed import require_shipped_weights
from synthetic import frozen_size_boxes, zooming_clip

from unsup_tracker import UNTRAINED, UnknownParameterError, build_tracker, get_method
from unsup_tracker.checkpoint import save_checkpoint
from unsup_tracker.geometry import iou_xywh
from unsup_tracker.methods.s2siamfc.recipe import (S2SiamFCRecipe, S2SiamFCRecipeParams,
                                                   anti_clutter_weights, kmeans, saliency_masks)
from unsup_tracker.models.correlation import xcorr, xcorr_depthwise
from unsup_tracker.models.siamfc import balanced_logistic_loss, build_siamfc, label_maps

torch.set_num_threads(1)


def textured_image(rng, height=240, width=320):
    """Blocky colour noise at a few scales: every region is distinctive."""
    image = np.zeros((height, width, 3), np.float32)
    for cells in (6, 17, 45):
        noise = rng.random((cells, cells * width // height, 3)).astype(np.float32)
        image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.clip(image / 3.0 * 255.0, 0, 255).astype(np.uint8)


class ImageSource:
    """FrameSource over a fixed list of images."""

    def __init__(self, images):
        self.images = images

    def sample_image(self, rng):
        return self.images[int(rng.integers(len(self.images)))]

    def sample_window(self, length, rng):
        return [self.sample_image(rng)]


# -- correlation and losses against hand-computed values -----------------------------------
def test_xcorr_matches_hand_computation():
    template = torch.tensor([[[[1.0, 2.0]]], [[[0.0, -1.0]]]])          # (2, 1, 1, 2)
    search = torch.tensor([[[[1.0, 0.0, 3.0]]], [[[2.0, 5.0, 7.0]]]])   # (2, 1, 1, 3)
    out = xcorr(template, search)
    # pair 0: [1*1 + 2*0, 1*0 + 2*3] = [1, 6]; pair 1: [-5, -7]
    assert out.shape == (2, 1, 1, 2)
    assert torch.equal(out.flatten(), torch.tensor([1.0, 6.0, -5.0, -7.0]))
    # One template broadcast over several searches equals repeating it.
    broadcast = xcorr(template[:1], search)
    assert torch.equal(broadcast, xcorr(template[:1].expand(2, -1, -1, -1), search))
    # Depth-wise correlation summed over channels is the full correlation.
    rng = torch.Generator().manual_seed(0)
    z, x = torch.randn(3, 4, 2, 2, generator=rng), torch.randn(3, 4, 5, 5, generator=rng)
    assert torch.allclose(xcorr_depthwise(z, x).sum(1, keepdim=True), xcorr(z, x), atol=1e-5)
    with pytest.raises(ValueError):
        xcorr(torch.zeros(2, 3, 2, 2), torch.zeros(3, 3, 4, 4))


def test_balanced_logistic_loss_hand_computed():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 1.0]]]])
    labels = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731  BCE(x, 0) = softplus(x)
    expected = 0.5 * softplus(-2.0) + (0.5 / 3) * (softplus(-1.0) + softplus(0.0) + softplus(1.0))
    assert balanced_logistic_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    # A negative pair (no positives) averages all cells.
    negative = balanced_logistic_loss(logits, torch.zeros_like(labels)).item()
    assert negative == pytest.approx(
        (softplus(2.0) + softplus(-1.0) + softplus(0.0) + softplus(1.0)) / 4, rel=1e-6)


def test_label_maps_follow_offsets():
    labels = label_maps(5, torch.tensor([[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]]), 1.0,
                        positive=torch.tensor([1.0, 1.0, 0.0]))
    assert labels.shape == (3, 1, 5, 5)
    assert labels[0, 0].sum() == 5 and labels[0, 0, 2, 2] == 1     # centre + 4 neighbours
    assert labels[1, 0, 1, 3] == 1 and labels[1, 0, 2, 2] == 0     # dx=+1 (col 3), dy=-1 (row 1)
    assert labels[2].sum() == 0


def test_anti_clutter_weight_hand_computed():
    peaked = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])    # normalised 0, 1/3, 2/3, 1
    flat = torch.tensor([[[[3.0, 3.0], [3.0, 0.0]]]])      # normalised 1, 1, 1, 0
    weights = anti_clutter_weights(torch.cat([peaked, flat]), threshold=0.5, power=2.0)
    assert weights.tolist() == pytest.approx([(1 - 2 / 4) ** 2, (1 - 3 / 4) ** 2])


def test_kmeans_finds_separated_groups():
    generator = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(20, 3, generator=generator) * 0.05 + torch.tensor([1., 0, 0]),
                        torch.randn(20, 3, generator=generator) * 0.05 + torch.tensor([0., 1, 0])])
    _, assignment = kmeans(points, 2, 10, generator)
    assert len(set(assignment[:20].tolist())) == 1 and len(set(assignment[20:].tolist())) == 1
    assert assignment[0] != assignment[20]


def test_saliency_masks_hide_part_of_each_template():
    torch.manual_seed(0)
    model = build_siamfc({}).train()
    template = torch.rand(2, 3, 127, 127) * 255
    search = torch.rand(2, 3, 255, 255) * 255
    template_features = model.features(template)
    logits = model.head(template_features, model.features(search))
    labels = label_maps(model.response_size, torch.zeros(2, 2), 2.0)
    masks = saliency_masks(template_features, logits, labels, 127, 0.5, 0.5, 2,
                           torch.Generator().manual_seed(0))
    assert masks.shape == (2, 2, 1, 127, 127)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    coverage = masks.mean((2, 3, 4))
    assert (coverage > 0).all() and (coverage < 0.5).all()
    assert not torch.equal(masks[0], masks[1])          # two different channels per template


# -- network --------------------------------------------------------------------------------
def test_network_sizes_and_fused_copy():
    model = build_siamfc({})
    for module in model.modules():              # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2.0)
    model.eval()
    template, search = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
    assert model.features(template).shape == (2, 96, 6, 6)
    out = model(template, search)
    assert out.shape == (2, 1, 17, 17) and model.response_size == 17
    fused = model.inference_copy()
    assert torch.allclose(fused(template, search.contiguous(memory_format=torch.channels_last)),
                          out, atol=1e-4)
    wide = build_siamfc({"channels": [96, 256, 384, 384, 256], "conv1_kernel": 11})
    assert wide.response_size == 17
    with pytest.raises(ValueError, match="unknown SiamFC model_config"):
        build_siamfc({"widht": 2})
    with pytest.raises(ValueError):
        build_siamfc({"channels": [31, 96, 128, 128, 96]})


# -- training -------------------------------------------------------------------------------
def test_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    source = ImageSource([textured_image(rng) for _ in range(4)])
    params = S2SiamFCRecipeParams.from_overrides(batch_size=4, hard_negatives=False)
    recipe = S2SiamFCRecipe(params, {})
    model = build_siamfc({}).train()
    recipe.prepare(model, source, rng)
    optimizer, scheduler = recipe.make_optimizer(model, 100)
    batch = recipe.sample_batch(source, rng)

    def raw_loss():
        with torch.no_grad():
            logits = model(batch["template"], batch["search"])
            labels = label_maps(17, batch["offset"] / 8, 2.0, batch["positive"])
            return balanced_logistic_loss(logits, labels).mean().item()

    before = raw_loss()
    for _ in range(8):
        loss, logs = recipe.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    assert logs["masked_pairs"] > 0 and 0 < logs["ac_weight"] <= 1
    after = raw_loss()
    assert after < 0.8 * before, (before, after)


def test_hard_negatives_from_clusters():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    source = ImageSource([textured_image(rng, 160, 200) for _ in range(6)])
    params = S2SiamFCRecipeParams.from_overrides(
        batch_size=6, negative_fraction=0.5, hard_negative_start=0.0, cluster_bank_size=8,
        kmeans_clusters=2, adversarial_masking=False)
    recipe = S2SiamFCRecipe(params, {})
    model = build_siamfc({}).train()
    recipe.prepare(model, source, rng)
    recipe.make_optimizer(model, 10)
    batch = recipe.sample_batch(source, rng)
    assert recipe._bank is not None and len(recipe._bank["crops"]) == 8
    assert set(recipe._bank["assignment"].tolist()) <= {0, 1}
    negatives = batch["positive"] < 0.5
    assert negatives.any() and batch["template"].shape == (6, 3, 127, 127)
    loss, logs = recipe.loss(model, batch)
    assert torch.isfinite(loss) and logs["negatives"] == float(negatives.sum())


def test_recipe_registration_and_params():
    spec = get_method("s2siamfc")
    assert spec.recipe_cls is S2SiamFCRecipe and spec.recipe_cls.data_kind == "images"
    assert get_method("pul").recipe_cls is None or get_method("pul").recipe_cls.data_kind
    assert S2SiamFCRecipeParams.from_overrides(adversarial_masking="false").adversarial_masking \
        is False
    with pytest.raises(UnknownParameterError):
        S2SiamFCRecipeParams.from_overrides(adversarial_maskin=False)


# -- tracking -------------------------------------------------------------------------------
def moving_patch_sequence(num_frames=30):
    rng = np.random.default_rng(3)
    background = textured_image(rng, 240, 320)
    background = (background * 0.5 + 64).astype(np.uint8)   # low-contrast clutter
    patch = textured_image(rng, 40, 40)
    frames, boxes = [], []
    for t in range(num_frames):
        x, y = int(40 + 4 * t), int(60 + 2 * t + 10 * math.sin(t / 4))
        frame = background.copy()
        frame[y:y + 40, x:x + 40] = patch
        frames.append(frame)
        boxes.append((x, y, 40, 40))
    return frames, boxes


@pytest.mark.parametrize("method", ["s2siamfc", "pul"])
def test_tracker_follows_a_moving_textured_patch(method):
    torch.manual_seed(0)
    frames, boxes = moving_patch_sequence()
    # The tracking mechanics of an untrained network: its flat responses are below S2SiamFC's
    # lost threshold on every frame, so the long-term layer (tested in test_long_term.py with
    # the shipped weights) would rightly hold the target as lost.
    # The untrained scratch network's flat responses follow this patch only with the full
    # 255 px search; PUL's default 191 px search (chosen for its shipped Lite0 network) is
    # tested with Lite0 in test_backbones.py (translation, instance_size).
    tracker = build_tracker(method, UNTRAINED, device="cpu", long_term=False, instance_size=0)
    tracker.init(frames[0], boxes[0])
    errors, scores = [], []
    for frame, box in zip(frames[1:], boxes[1:]):
        result = tracker.track(frame)
        assert result.box.shape == (4,) and 0.0 <= result.score <= 1.0
        centre = result.box[:2] + result.box[2:] / 2
        errors.append(np.hypot(*(centre - np.array(box[:2]) - 20)))
        scores.append(result.score)
    assert max(errors) < 8.0, errors
    assert np.mean(errors) < 4.0
    # The confidence (normalised peak-to-sidelobe ratio) drops when the patch disappears.
    background = (textured_image(np.random.default_rng(3), 240, 320) * 0.5 + 64).astype(np.uint8)
    assert tracker.track(background).score < min(scores)


def _track_zoom(method, zoom, **overrides):
    """Mean IoU, frozen-size IoU and fraction of the log area change followed on a zoom."""
    images, boxes = zooming_clip(seed=0, frames=20, zoom=zoom)
    torch.manual_seed(0)
    tracker = build_tracker(method, str(get_method(method).shipped_checkpoint), device="cpu",
                            **overrides)
    tracker.init(images[0], boxes[0])
    predicted = np.array([tracker.track(image).box for image in images[1:]])
    frozen = iou_xywh(frozen_size_boxes(boxes)[1:], boxes[1:]).mean()
    log_area = np.log(predicted[-1, 2] * predicted[-1, 3] / (boxes[0, 2] * boxes[0, 3]))
    true_log_area = np.log(boxes[-1, 2] * boxes[-1, 3] / (boxes[0, 2] * boxes[0, 3]))
    return iou_xywh(predicted, boxes[1:]), frozen, log_area / true_log_area


@pytest.mark.parametrize("zoom", [1.25, 0.8])
def test_scale_search_follows_a_zoom_without_the_scale_penalty(zoom):
    """The three-scale search and size update follow a zoom (shipped S2SiamFC weights).

    Untrained weights give flat responses, so the shipped checkpoint is used. The scale penalty
    is switched off (1.0), so this checks the search and size update alone. Measured with the
    earlier checkpoint: zoom 1.25 IoU 0.95 (frozen-size box 0.80), area x1.62 for x1.56; zoom
    0.8 IoU 0.91, area x0.71 for x0.64.
    """
    require_shipped_weights("s2siamfc")
    ious, frozen, followed = _track_zoom("s2siamfc", zoom, scale_penalty=1.0)
    assert frozen < 0.85
    assert ious.mean() > frozen + 0.05 and ious.min() > 0.6, (ious, frozen)
    assert 0.5 < followed < 1.5, followed


# The scratch-backbone PUL checkpoint failed both zoom cases (its box followed 10 % of the size
# change); the shipped ImageNet-backbone one passes them.
@pytest.mark.parametrize("method, zoom", [
    ("s2siamfc", 1.25), ("s2siamfc", 0.8), ("pul", 1.25), ("pul", 0.8)])
def test_default_scale_search_follows_a_zoom(method, zoom):
    """With the default scale penalty the size follows a zoom (each method's shipped weights).

    Catches the penalty applied where it cannot be overcome: on ``sigmoid`` of confident peaks
    the size never changed here (area ratio exactly 1.00 for both methods).
    """
    require_shipped_weights(method)
    ious, frozen, followed = _track_zoom(method, zoom)
    assert ious.mean() > frozen + 0.02 and 0.3 < followed < 1.5, (ious.mean(), frozen, followed)


def test_template_update_defaults_and_effect():
    assert get_method("s2siamfc").params_cls().update_rate == pytest.approx(0.0102)
    assert get_method("pul").params_cls().update_rate == 0.0
    frames, boxes = moving_patch_sequence(4)
    kernels = {}
    for rate in (0.0, 0.5):
        torch.manual_seed(0)
        tracker = build_tracker("s2siamfc", UNTRAINED, device="cpu", update_rate=rate)
        tracker.init(frames[0], boxes[0])
        initial = tracker.kernel.clone()
        tracker.track(frames[1])
        kernels[rate] = (initial, tracker.kernel)
    assert torch.equal(*kernels[0.0])
    assert not torch.equal(*kernels[0.5])
    # With each method's defaults: S2SiamFC (Linear) updates its template, PUL never does.
    for method, updates in (("s2siamfc", True), ("pul", False)):
        torch.manual_seed(0)
        tracker = build_tracker(method, UNTRAINED, device="cpu")
        tracker.init(frames[0], boxes[0])
        initial = tracker.kernel.clone()
        tracker.track(frames[1])
        assert torch.equal(initial, tracker.kernel) is not updates, method


def test_unknown_and_invalid_params_refused():
    with pytest.raises(UnknownParameterError, match="scale_stpe"):
        build_tracker("s2siamfc", UNTRAINED, device="cpu", scale_stpe=1.1)
    with pytest.raises(UnknownParameterError):
        build_tracker("pul", UNTRAINED, device="cpu", template_update=0.1)
    for bad in ({"num_scales": 2}, {"num_scales": 101}, {"response_upsample": 1000},
                {"finetune_seconds": 3600}):
        with pytest.raises(ValueError):
            build_tracker("pul", UNTRAINED, device="cpu", **bad)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_siamfc({})
    path = save_checkpoint(tmp_path / "s2.pt", "s2siamfc", model,
                           get_method("s2siamfc").default_model_config)
    tracker = build_tracker("s2siamfc", str(path), device="cpu")
    for name, value in model.state_dict().items():
        assert torch.equal(tracker.model.state_dict()[name], value)
