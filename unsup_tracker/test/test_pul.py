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
"""PUL training: proposals, InfoNCE, the bounded noise-robust loss, AHM, mining and the recipe."""
import math

import cv2
import numpy as np
import pytest
import torch
from synthetic import ClipSource

from unsup_tracker import get_method
from unsup_tracker.geometry import iou_xywh, xywh_to_cxcywh
from unsup_tracker.methods.pul import background_model as bd
from unsup_tracker.methods.pul.losses import (bounded_nr_loss, floored_log_probabilities,
                                              info_nce, noise_samples, weighted_label_samples)
from unsup_tracker.methods.pul.mining import MiningSettings, mine_pairs
from unsup_tracker.methods.pul.proposals import (ProposalSettings, edge_density,
                                                 non_maximum_suppression, propose)
from unsup_tracker.methods.pul.recipe import PULRecipe, PULRecipeParams
from unsup_tracker.models.siamfc import build_siamfc, label_maps
from unsup_tracker.params import UnknownParameterError

torch.set_num_threads(1)

#: A small network: same layout and feature sizes as the default, a fraction of the cost.
TINY_CONFIG = {"channels": [8, 16, 16, 16, 16]}


def texture(rng, height, width):
    """Blocky colour noise at a few scales, smoothed: distinctive everywhere, with segments."""
    image = np.zeros((height, width, 3), np.float32)
    for cells in (5, 13, 37):
        noise = rng.random((cells, max(1, cells * width // height), 3)).astype(np.float32)
        image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_NEAREST)
    image = cv2.GaussianBlur(image / 3.0 * 255.0, (0, 0), 1.0)
    return np.clip(image, 0, 255).astype(np.uint8)


def panning_clip(rng, num_frames, step, size=(320, 240)):
    """Make a camera panning over a large texture: scene content moves by -step px per frame."""
    width, height = size
    canvas = texture(rng, height + abs(step[1]) * num_frames + 1,
                     width + abs(step[0]) * num_frames + 1)
    frames = []
    for index in range(num_frames):
        x, y = index * step[0], index * step[1]
        frames.append(np.ascontiguousarray(canvas[y:y + height, x:x + width]))
    return frames


def moving_object_clip(rng, num_frames, size=(320, 240)):
    """Make a textured square moving diagonally over a static textured background."""
    width, height = size
    background = (texture(rng, height, width) * 0.6).astype(np.uint8)
    target = texture(rng, 48, 48)
    frames = []
    for index in range(num_frames):
        frame = background.copy()
        x, y = 40 + 4 * index, 30 + 3 * index
        frame[y:y + 48, x:x + 48] = target
        frames.append(frame)
    return frames


# -- InfoNCE ---------------------------------------------------------------------------------
def test_info_nce_hand_computed():
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    second = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # Similarities / tau (tau = 0.5): a1.b1 = 1.2, a1.a2 = 0, a1.b2 = 0, a2.b1 = 1.6,
    # a2.b2 = 2, b1.b2 = 1.6. Per anchor: -s(positive) + log sum_{k != i} exp(s_ik).
    anchors = [
        -1.2 + math.log(math.exp(0.0) + math.exp(1.2) + math.exp(0.0)),   # a1, positive b1
        -2.0 + math.log(math.exp(0.0) + math.exp(1.6) + math.exp(2.0)),   # a2, positive b2
        -1.2 + math.log(math.exp(1.2) + math.exp(1.6) + math.exp(1.6)),   # b1, positive a1
        -2.0 + math.log(math.exp(0.0) + math.exp(2.0) + math.exp(1.6)),   # b2, positive a2
    ]
    expected = sum(anchors) / 4
    # By hand: 0.471495 + 0.590924 + 1.382198 + 0.590924 = 3.035541, / 4:
    assert expected == pytest.approx(0.758885, abs=1e-5)
    assert info_nce(first, second, 0.5).item() == pytest.approx(expected, abs=1e-6)
    # Embeddings are L2-normalised: the scale of the features does not matter.
    assert info_nce(3 * first, 0.5 * second, 0.5).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError):
        info_nce(first[:1], second[:1])


# -- noise-robust loss -----------------------------------------------------------------------
def test_bounded_nr_loss_hand_computed():
    # Two cells, two noise samples: the target is cell 0 in sample A and cell 1 in sample B.
    # Balanced weights: the positive cell 0.5, the negative cell 0.5.
    weights = torch.tensor([[[[0.0, 0.5], [0.5, 0.0]],      # sample A: (w0 per cell, w1 per cell)
                             [[0.5, 0.0], [0.0, 0.5]]]])    # sample B
    logits = torch.tensor([[2.0, -1.0]])
    floor = 0.01
    sigmoid = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0))]
    f = [floor + (1 - 2 * floor) * s for s in sigmoid]        # 0.873181, 0.273562
    g_a = 0.5 * math.log(f[0]) + 0.5 * math.log(1 - f[1])
    g_b = 0.5 * math.log(1 - f[0]) + 0.5 * math.log(f[1])
    scale = -math.log(floor)
    u_a, u_b = g_a / scale, g_b / scale
    expected = scale * 0.5 * ((-u_a - u_a ** 2 / 2) + (-u_b - u_b ** 2 / 2))
    # By hand: g_A = -0.227614, g_B = -1.680627, u = g / 4.605170 = -0.049426, -0.364943,
    # -u - u^2 / 2 = 0.048205, 0.298351, mean 0.173278, times 4.605170:
    assert expected == pytest.approx(0.79798, abs=1e-4)
    assert bounded_nr_loss(logits, weights, floor).item() == pytest.approx(expected, abs=1e-5)


def test_bounded_nr_loss_is_the_papers_quadratic_form_on_rescaled_log_likelihoods():
    # Eq. 16 with the sampled mean map and second moments of the weighted label maps, applied
    # to h_b / |log floor| and scaled back, equals the implementation.
    generator = torch.Generator().manual_seed(3)
    noise = noise_samples(0.5, 16, generator)
    offsets = torch.tensor([[0.0, 0.0], [1.3, -2.2]])
    weighted = weighted_label_samples(offsets, noise, 17, 2.0)            # (2, 16, 2, 289)
    logits = torch.randn(2, 1, 17, 17, generator=generator) * 3
    floor = 1e-3
    h0, h1 = floored_log_probabilities(logits.flatten(1), floor)
    h = torch.stack([h0, h1], 1) / -math.log(floor)                      # (2, 2, 289)
    for pair in range(2):
        samples = weighted[pair]                                          # (S, 2, X)
        mean_map = samples.mean(0)                                        # (2, X)
        flat = samples.reshape(samples.shape[0], -1)                      # (S, 2X)
        second_moment = flat.t() @ flat / samples.shape[0]              # V, (2X, 2X)
        hv = h[pair].reshape(-1).double()
        paper = -(mean_map.reshape(-1).double() @ hv) - 0.5 * hv @ second_moment.double() @ hv
        ours = bounded_nr_loss(logits[pair:pair + 1], weighted[pair:pair + 1], floor)
        assert ours.item() == pytest.approx(-math.log(floor) * paper.item(), rel=1e-4)


def test_bounded_nr_loss_stays_in_its_bounds_where_the_printed_loss_diverges():
    floor = 1e-3
    bound = -math.log(floor) / 2
    generator = torch.Generator().manual_seed(0)
    weighted = weighted_label_samples(torch.zeros(1, 2), noise_samples(0.5, 32, generator),
                                      17, 2.0)
    labels = label_maps(17, torch.zeros(1, 2), 2.0)
    previous = None
    for magnitude in (1.0, 10.0, 100.0, 1e4):
        # Confidently wrong: high where the label is 0, low at the target.
        wrong = ((1 - 2 * labels) * magnitude).requires_grad_(True)
        loss = bounded_nr_loss(wrong, weighted, floor)
        assert 0.0 <= loss.item() <= bound + 1e-6
        loss.sum().backward()
        assert torch.isfinite(wrong.grad).all()
        if previous is not None:
            assert loss.item() >= previous - 1e-6    # more wrong is never better
        previous = loss.item()
        # The printed Eq. 16 (raw sums of log-probabilities, no normalisation) for the same
        # predictions: negative and falling without bound.
        h0 = torch.nn.functional.logsigmoid(-wrong.detach()).flatten()
        h1 = torch.nn.functional.logsigmoid(wrong.detach()).flatten()
        mask = (weighted[0] > 0).float()                                   # (S, 2, X)
        g = (mask[:, 0] * h0 + mask[:, 1] * h1).sum(-1)
        printed = (-g - 0.5 * g * g).mean()
        if magnitude >= 10:
            assert printed.item() < -1000 * magnitude / 10
    # A response peak on the target scores better than one beside it or far away, and better
    # than an uninformed map (all logits 0).
    coords = torch.arange(17.0) - 8

    def peak(column):
        distance2 = (coords.view(1, -1) - column) ** 2 + coords.view(-1, 1) ** 2
        return (-4.0 + 8.0 * torch.exp(-distance2 / 4.5)).view(1, 1, 17, 17)

    on, beside, far = (bounded_nr_loss(peak(c), weighted, floor).item() for c in (0, 2, 6))
    assert on < beside < far
    assert on < bounded_nr_loss(torch.zeros(1, 1, 17, 17), weighted, floor).item()


def test_weighted_label_samples_sum_to_one_and_follow_the_offset():
    noise = torch.zeros(1, 2)
    weighted = weighted_label_samples(torch.tensor([[2.0, -1.0]]), noise, 17, 2.0)
    assert torch.allclose(weighted.sum(dim=(2, 3)), torch.ones(1, 1))
    positives = (weighted[0, 0, 1] > 0).reshape(17, 17).float()
    assert torch.equal(positives, label_maps(17, torch.tensor([[2.0, -1.0]]), 2.0)[0, 0])
    # A centre pushed off the map: every cell a negative of weight 1 / 289.
    off = weighted_label_samples(torch.tensor([[40.0, 0.0]]), noise, 17, 2.0)
    assert torch.allclose(off[0, 0, 0], torch.full((289,), 1 / 289))


# -- proposals -------------------------------------------------------------------------------
def test_proposals_are_plausible_boxes_after_nms():
    rng = np.random.default_rng(0)
    image = np.full((240, 320, 3), 90, np.uint8)
    for x, y in ((30, 40), (180, 60), (100, 150)):
        image[y:y + 50, x:x + 60] = texture(rng, 50, 60)
    settings = ProposalSettings()
    boxes = propose(image, settings, rng)
    assert 1 <= len(boxes) <= settings.max_proposals
    assert np.all(boxes[:, 2:] >= settings.min_side_fraction * 240 - 1e-6)
    assert np.all(boxes[:, :2] >= -1e-6)
    assert np.all(boxes[:, 0] + boxes[:, 2] <= 320 + 1e-6)
    for index in range(len(boxes)):
        others = np.delete(boxes, index, axis=0)
        if len(others):
            assert iou_xywh(np.broadcast_to(boxes[index], others.shape), others).max() <= 0.6
    # Each pasted object is found (IoU >= 0.5) among the proposals.
    for x, y in ((30, 40), (180, 60), (100, 150)):
        truth = np.array([x, y, 60, 50], float)
        assert iou_xywh(np.broadcast_to(truth, boxes.shape), boxes).max() >= 0.5
    # A flat image has no edges, hence no proposals.
    assert len(propose(np.full((240, 320, 3), 90, np.uint8), settings, rng)) == 0


def test_edge_density_and_nms_by_hand():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:, 10:] = 255                                     # one vertical edge at x = 9.5
    density = edge_density(image, np.array([[0, 0, 20, 20], [0, 0, 5, 20]], float))
    assert density[1] == 0.0 and 0.0 < density[0] <= 0.15
    boxes = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [20, 20, 5, 5]], float)
    kept = non_maximum_suppression(boxes, np.array([0.5, 0.9, 0.1]), 0.6, 10)
    assert kept.tolist() == [1, 2]          # box 0 overlaps the better box 1 by IoU 0.82
    with pytest.raises(ValueError):
        ProposalSettings(method="edgeboxes")


# -- background discrimination ---------------------------------------------------------------
def test_anchor_batches_pick_the_densest_cluster_and_its_neighbours():
    rng = np.random.default_rng(0)
    dense = torch.tensor([[1.0, 0.02 * k, 0.0] for k in range(4)])
    loose = torch.tensor([[0.0, 1.0, 0.3 * k] for k in range(4)])
    stray = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    features = torch.nn.functional.normalize(torch.cat([dense, loose, stray]), dim=1)
    batches = bd.anchor_batches(features, batch_size=4, num_anchors=1, anchor_scale=5, rng=rng)
    assert sorted(batches[0].tolist()) == [0, 1, 2, 3]


def test_patch_sets_take_one_frame_per_scene_when_large_enough():
    rng = np.random.default_rng(0)
    scene_a = texture(rng, 120, 160)
    scene_b = (texture(rng, 120, 160) * np.array([1.0, 0.3, 0.2])).astype(np.uint8)
    frames = [scene_a, scene_a.copy(), scene_b, scene_b.copy()]
    boxes = np.array([[20 + 30 * k, 40, 24, 24] for k in range(4)], float)
    pool = bd.ProposalPool(frames, [boxes] * 4, [np.zeros(3)] * 4)
    pool.scenes = bd.assign_scenes(frames)
    assert pool.scenes == [0, 0, 1, 1]
    rows = bd.draw_patch_set(pool, per_frame=4, min_size=8, max_overlap=0.3, rng=rng)
    assert len(rows) == 8 and len({pool.scenes[f] for f in rows[:, 0]}) == 2
    assert len(set(rows[:, 0].tolist())) == 2           # one frame of each scene
    # Asking for more than one frame per scene gives: the same places are not drawn twice.
    rows = bd.draw_patch_set(pool, per_frame=4, min_size=100, max_overlap=0.3, rng=rng)
    assert len(rows) == 8


def test_contrastive_steps_reduce_infonce_on_fixed_views():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    model = build_siamfc(TINY_CONFIG).train()
    settings = bd.BDSettings()
    geometry = bd.PairGeometry(127, 255)
    frame = texture(rng, 240, 320)
    centres = [(60 + 50 * (k % 4), 60 + 90 * (k // 4), 40, 40) for k in range(8)]
    views = [np.stack([bd.instance_view(frame, np.array(c, float), geometry, settings, rng,
                                        np.zeros(3)) for c in centres]) for _ in range(2)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        embeddings = bd.view_embeddings(model, np.concatenate(views))
        loss = info_nce(embeddings[:8], embeddings[8:], 0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3


# -- mining ----------------------------------------------------------------------------------
def test_mining_follows_a_known_motion():
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    step = (3, 2)                               # camera pan: content moves (-3, -2) per frame
    source = ClipSource(panning_clip(rng, 12, step))
    model = build_siamfc({}).eval()             # untrained: exact translations still match
    settings = MiningSettings(pairs=16, gap=5, frame_stride=2, candidates=16)
    pairs = mine_pairs(model, source, rng, settings, ProposalSettings())
    assert len(pairs) == 16 and all(p.gap == 5 for p in pairs)
    expected = -np.array(step, float) * settings.gap * settings.frame_stride
    errors = np.array([np.linalg.norm(xywh_to_cxcywh(p.last_box)[:2]
                                      - xywh_to_cxcywh(p.first_box)[:2] - expected)
                       for p in pairs])
    confidence = np.array([p.confidence for p in pairs])
    # An untrained tracker loses some tracks; the confidence ranks them last, so the pairs a
    # recipe keeps (most confident first) follow the motion.
    most_confident = np.argsort(-confidence)[:8]
    assert errors[most_confident].max() < 4.0, errors
    assert np.median(errors) < 4.0
    # Too short a clip for the gap: a clear error.
    with pytest.raises(ValueError, match="no clip"):
        mine_pairs(model, ClipSource(source.frames[:3]), rng, settings, ProposalSettings())


# -- recipe ----------------------------------------------------------------------------------
TINY_RECIPE = dict(bd_steps=3, bd_pool_frames=4, bd_batch_instances=4, bd_min_patch_set=8,
                   bd_round_steps=2, mining_pairs=6, mining_gap=3, mining_frame_stride=1,
                   round2_pairs=3, round2_gap=4, round2_start=0.5, batch_size=4)


def test_recipe_steps_reduce_the_loss_on_a_synthetic_clip():
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    source = ClipSource(moving_object_clip(rng, 16))
    params = PULRecipeParams.from_overrides(TINY_RECIPE)
    model = build_siamfc(TINY_CONFIG)
    recipe = PULRecipe(params, TINY_CONFIG)
    recipe.prepare(model, source, rng)
    assert recipe.summary["bd_steps"] == 3
    assert len(recipe.pairs) == round(0.8 * 6)
    optimizer, scheduler = recipe.make_optimizer(model, total_steps=20)
    batches = [recipe.sample_batch(source, rng) for _ in range(2)]
    assert batches[0]["template"].shape == (4, 3, 127, 127)
    assert batches[0]["search"].shape == (4, 3, 255, 255)
    assert float(batches[0]["offset"].abs().max()) <= params.max_shift
    losses = []
    for step in range(20):
        loss, logs = recipe.loss(model, batches[step % 2])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        assert 0.0 <= logs["loss_tc"] <= -math.log(params.probability_floor) / 2
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.1
    # Round 2 is mined once the schedule passes round2_start and adds its pairs.
    before = len(recipe.pairs)
    recipe.sample_batch(source, rng)
    assert len(recipe.pairs) == before + round(0.8 * 3)
    assert recipe.summary["round2_pairs"] == 3


def test_pul_is_registered_as_a_video_recipe():
    spec = get_method("pul")
    assert spec.recipe_cls is PULRecipe and spec.recipe_cls.data_kind == "video"


def test_recipe_params_refuse_bad_values():
    with pytest.raises(UnknownParameterError):
        PULRecipeParams.from_overrides({"edgebox_model": "x"})
    with pytest.raises(ValueError):
        PULRecipeParams.from_overrides({"proposal_method": "bing"})
    with pytest.raises(ValueError):
        PULRecipeParams.from_overrides({"tc_loss": "l2"})
    with pytest.raises(ValueError):
        PULRecipeParams.from_overrides({"keep_fraction": 0.0})
    recipe = PULRecipe(PULRecipeParams(), {})
    with pytest.raises(RuntimeError, match="prepare"):
        recipe.sample_batch(ClipSource([np.zeros((240, 320, 3), np.uint8)]),
                            np.random.default_rng(0))
