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
"""Moving-object discovery (USOT's flow + DP): rendered clips, DP, qualities, fragments, cache."""
import json

import cv2
import numpy as np
import pytest

from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.dataset import load_sequence
from unsup_tracker.geometry import iou_xywh
from unsup_tracker_training import discover as discover_cli
from unsup_tracker_training.discovery import (ClipDiscovery, DiscoveryCache, DiscoveryParams,
                                              best_path, candidate_boxes, discover_frames,
                                              discover_clips, discover_sampler,
                                              discover_source, fragments,
                                              frame_quality, interpolate_boxes,
                                              transition_reward)
from unsup_tracker_training.make_bag import write_bag
from unsup_tracker_training.sampler import FrameSampler
from unsup_tracker_training.sources import open_sources


def _texture(rng, height, width, cell=4):
    small = (rng.random((height // cell + 1, width // cell + 1, 3)) * 255).astype(np.uint8)
    big = cv2.resize(small, ((width // cell + 1) * cell, (height // cell + 1) * cell),
                     interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(big[:height, :width], (0, 0), 0.8)


def moving_patch_clip(frames=60, size=(240, 180), patch=(44, 36), start=(40.0, 50.0),
                      velocity=(2.0, 0.8), pan=(0.0, 0.0), seed=0):
    """Textured background (optionally panning) with a textured patch moving across it."""
    width, height = size
    rng = np.random.default_rng(seed)
    margin = int(max(abs(pan[0]), abs(pan[1])) * frames) + 2
    background = _texture(rng, height + 2 * margin, width + 2 * margin)
    sprite = _texture(rng, patch[1], patch[0], cell=3)
    clip, boxes, masks = [], [], []
    for i in range(frames):
        ox, oy = margin + int(round(pan[0] * i)), margin + int(round(pan[1] * i))
        frame = background[oy:oy + height, ox:ox + width].copy()
        x, y = int(round(start[0] + velocity[0] * i)), int(round(start[1] + velocity[1] * i))
        frame[y:y + patch[1], x:x + patch[0]] = sprite
        mask = np.zeros((height, width), dtype=bool)
        mask[y:y + patch[1], x:x + patch[0]] = True
        clip.append(frame)
        boxes.append((x, y, patch[0], patch[1]))
        masks.append(mask)
    return clip, np.asarray(boxes, dtype=np.float64), masks


def test_transition_reward_hand_computed():
    # IoU 50/150, centres 5 apart, enclosing box 15x10: 1/3 - 4.1 * 25/325.
    reward = transition_reward(np.array([0, 0, 10, 10.]), np.array([5, 0, 15, 10.]), 4.1, 3.0)
    assert reward == pytest.approx(1 / 3 - 4.1 * 25 / 325)
    # Disjoint: IoU 0, centres 20 apart, enclosing 30x10: -4.1 * 400/1000, tripled.
    far = transition_reward(np.array([0, 0, 10, 10.]), np.array([20, 0, 30, 10.]), 4.1, 3.0)
    assert far == pytest.approx(-3 * 4.1 * 0.4)
    assert transition_reward(np.array([0, 0, 10, 10.]), np.array([20, 0, 30, 10.]), 4.1) == \
        pytest.approx(-4.1 * 0.4)


def test_candidate_box_of_a_blob_and_its_score():
    distance = np.full((120, 160), 0.1)
    distance[40:70, 50:90] = 5.0       # the moving region: 40 x 30 at (50, 40)
    distance[55, 60] = 6.0             # the peak lies inside it
    params = DiscoveryParams.from_overrides({"alphas": [0.3]})
    (found,) = candidate_boxes(distance, params, pixel_scale=1.0)
    assert found.box == (50, 40, 90, 70)
    # Eq. 2: area + beta * min(x0, W - x1) * min(y0, H - y1), doubled for holding the peak.
    assert found.score == pytest.approx(2 * (40 * 30 + 0.5 * min(50, 70) * min(40, 50)))
    assert found.region.shape == (30, 40) and found.region.all()
    # No salient motion (max/mean <= 2.5 and not still): no candidate.
    assert candidate_boxes(np.full((120, 160), 1.0) + np.eye(120, 160), params) == []


def test_dp_picks_the_consistent_path_over_a_distractor():
    rng = np.random.default_rng(1)
    track = [np.array([20 + 3 * n, 30 + n, 60 + 3 * n, 70 + n], dtype=float) for n in range(30)]
    candidates = []
    for n in range(30):
        x, y = rng.uniform(0, 300), rng.uniform(0, 200)
        distractor = np.array([x, y, x + rng.uniform(20, 80), y + rng.uniform(20, 80)])
        boxes = [distractor, track[n]] if n % 2 else [track[n], distractor]
        if n in (7, 8):  # the object was not found here: only the distractor
            boxes = [distractor]
        candidates.append(np.stack(boxes))
    path = best_path(candidates, DiscoveryParams())
    picked = {node: candidates[node][c] for node, c in path}
    assert 7 not in picked and 8 not in picked
    assert len(picked) == 28
    for node, box in picked.items():
        np.testing.assert_allclose(box, track[node])


def test_interpolation_is_linear_between_picked_frames_and_held_at_the_ends():
    boxes = interpolate_boxes(np.array([3, 9]), np.array([[0, 0, 10, 10], [6, 12, 16, 22.]]),
                              12)
    np.testing.assert_allclose(boxes[0], [0, 0, 10, 10])
    np.testing.assert_allclose(boxes[5], [2, 4, 12, 14])  # a third of the way from 3 to 9
    np.testing.assert_allclose(boxes[11], [6, 12, 16, 22])


def test_frame_quality_hand_computed():
    nodes = np.array([3, 6, 9, 12, 15])
    picked = np.array([True, True, False, True, False])
    quality = frame_quality(nodes, picked, 18, radius_frames=9)
    assert quality[0] == pytest.approx(2 / 3)   # nodes 3, 6, 9 within 9 frames; 3 and 6 picked
    assert quality[9] == pytest.approx(3 / 5)   # all five nodes
    assert quality[17] == pytest.approx(1 / 3)  # nodes 9, 12, 15; only 12 picked
    assert frame_quality(nodes, picked, 18, radius_frames=0)[4] == 0.0  # no node near frame 4


def test_fragments_hand_computed():
    same, other = [0, 0, 10, 10.], [100, 100, 110, 110.]
    boxes = np.array([same] * 4 + [other] + [same] * 3)
    quality = np.array([1, 1, 1, 1, 1, 1, 0.2, 1])
    frag = fragments(boxes, quality, gamma=2.5, min_reward=0.45, min_quality=0.4, max_frames=320)
    expected = [[0, 3], [0, 3], [0, 3], [0, 3], [4, 4], [5, 5], [5, 7], [7, 7]]
    np.testing.assert_array_equal(frag, expected)
    # The reach is capped.
    capped = fragments(np.array([same] * 8), np.ones(8), 2.5, 0.45, 0.4, max_frames=2)
    np.testing.assert_array_equal(capped[4], [2, 6])


def _clip(quality, fragment, video_quality=0.5, corner=None):
    length = len(quality)
    return ClipDiscovery(
        clip_id=0, num_frames=length, frame_size=(100, 100), map_size=(100, 100),
        map_cut=(3, 3), node_frames=np.array([1]), flow_intervals=np.array([4]),
        candidates=np.zeros((1, 1, 4)), candidate_scores=np.zeros((1, 1)),
        picked=np.array([0]), boxes=np.zeros((length, 4)), quality=np.asarray(quality, float),
        corner=np.zeros(length) if corner is None else np.asarray(corner, float),
        fragment=np.asarray(fragment), video_quality=video_quality, corner_freq=0.3,
        region_boxes=np.array([[10, 10, 12, 12]]), region_bits=[np.ones((2, 2), bool)])


def test_frame_selection_scores_and_draws():
    clip = _clip([0.2, 0.9, 0.5, 0.6], [[0, 0], [0, 3], [1, 2], [2, 3]], video_quality=0.6,
                 corner=[0.1, 0.0, 0.2, 0.0])
    np.testing.assert_allclose(clip.frame_scores(), [0.2 + 0.2 / 3, 0.9, 0.5 + 0.4 / 3, 0.6])
    np.testing.assert_allclose(clip.frame_scores(long_term=True),
                               [0.25, 0.9 + 3 / 8, 0.6 + 1 / 8, 0.6 + 1 / 8])
    assert clip.video_score == pytest.approx(0.6 - 0.1)
    rng = np.random.default_rng(0)
    draws = np.random.default_rng(0).integers(0, 4, 5)  # int(3 / 0.6) candidates
    assert clip.pick_template_frame(rng) == draws[np.argmax(clip.frame_scores()[draws])]
    memory = clip.pick_memory_frames(1, np.random.default_rng(3), count=4, extra=3)
    draws = np.random.default_rng(3).integers(0, 4, 7)
    assert sorted(np.abs(memory - 1)) == sorted(np.abs(draws - 1))[3:]
    assert clip.usable(DiscoveryParams.from_overrides({"max_corner_frequency": 0.5}))
    assert not clip.usable(DiscoveryParams())  # corner frequency 0.3 >= 0.25


@pytest.mark.parametrize("pan", [(0.0, 0.0), (1.5, -0.5)])
def test_discovery_finds_the_moving_patch(pan):
    frames, truth, masks = moving_patch_clip(pan=pan)
    clip = discover_frames(frames)
    assert clip.num_frames == len(frames) and clip.boxes.shape == (len(frames), 4)
    picked = clip.picked_frames
    assert len(picked) >= 0.8 * len(clip.node_frames)
    assert clip.video_quality >= 0.8
    overlap = iou_xywh(clip.boxes, truth)
    assert np.mean(overlap[picked] > 0.5) >= 0.9, overlap[picked]
    assert np.mean(overlap > 0.5) >= 0.85
    # The region mask of a picked frame lies on the patch.
    frame = int(picked[len(picked) // 2])
    region = clip.region_mask(frame)
    assert region.shape == masks[frame].shape
    assert (region & masks[frame]).sum() >= 0.7 * region.sum()
    assert clip.region_mask(frame + 1) is None  # interpolated frames have no region


def _write_video(path, frames):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_cache_round_trip_and_damaged_file(tmp_path, caplog):
    frames, truth, _ = moving_patch_clip(frames=40)
    _write_video(tmp_path / "clip.avi", frames)
    (source,) = open_sources([tmp_path / "clip.avi"])
    cache = DiscoveryCache(tmp_path / "cache")
    params = DiscoveryParams()
    first = discover_source(source, params, cache)
    path = cache.path(source, params)
    assert path.is_file() and len(first) == 1
    again = cache.load(source, params)
    for name in ("boxes", "quality", "fragment", "picked", "candidates", "node_frames"):
        np.testing.assert_array_equal(getattr(again[0], name), getattr(first[0], name))
    frame = int(first[0].picked_frames[0])
    np.testing.assert_array_equal(again[0].region_mask(frame), first[0].region_mask(frame))
    # Other settings: another file.
    assert cache.path(source, params.replace(flow_side=160)) != path
    path.write_bytes(b"not an npz")
    assert cache.load(source, params) is None
    assert "recomputing" in caplog.text
    np.testing.assert_array_equal(discover_source(source, params, cache)[0].boxes,
                                  first[0].boxes)


def test_command_writes_an_otb_folder_for_every_source_kind(tmp_path):
    frames, truth, _ = moving_patch_clip(frames=40)
    _write_video(tmp_path / "clip.avi", frames)
    write_bag(iter(frames), tmp_path / "bag", storage="mcap", topic="/cam", encoding="bgr8",
              fps=10.0, start_ns=1)
    write_bag(iter(frames), tmp_path / "bag3", storage="sqlite3", topic="/cam", encoding="rgb8",
              fps=10.0, start_ns=1)
    (tmp_path / "seq").mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / "seq" / f"frame_{i:05d}.png"), frame)
    out = tmp_path / "out"
    data = [tmp_path / "clip.avi", tmp_path / "bag", tmp_path / "bag3", tmp_path / "seq"]
    status = discover_cli.main([arg for path in data for arg in ("--data", str(path))]
                               + ["--out", str(out), "--preview", "--cache-dir",
                                  str(tmp_path / "cache")])
    assert status == 0
    names = (out / "list.txt").read_text().split()
    assert names == ["clip.avi", "bag", "bag3", "seq"]
    for name in names:
        sequence = load_sequence(out / name)
        assert len(sequence) == 40
        assert np.mean(iou_xywh(sequence.groundtruth, truth) > 0.5) >= 0.8
        assert len(list((out / name / "preview").glob("*.png"))) == 40
        info = json.loads((out / name / "discovery.json").read_text())
        assert info["usable"] and info["settings"]["flow_method"] == "dis"
        rows = (out / name / "frames.csv").read_text().splitlines()
        assert len(rows) == 41 and rows[0].startswith("frame,node")


def test_command_refuses_bad_settings_and_benchmark_footage(tmp_path, monkeypatch, capsys):
    assert discover_cli.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"),
                              "--set", "flow_sid=3"]) == 2
    assert "flow_sid" in capsys.readouterr().err
    folder = tmp_path / "seq"
    folder.mkdir()
    frames, _, _ = moving_patch_clip(frames=12)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    # Pretend one of these frames is a benchmark source photo: the guard of open_sources applies.
    monkeypatch.setattr(devbench, "source_files", lambda missing_ok=False: [folder / "0003.png"])
    assert discover_cli.main(["--data", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "development-benchmark" in capsys.readouterr().err


def test_params_reject_unknown_and_bad_values():
    with pytest.raises(KeyError):
        DiscoveryParams.from_overrides({"alpha": 0.3})
    with pytest.raises(ValueError):
        DiscoveryParams.from_overrides({"flow_method": "arflow"})
    with pytest.raises(ValueError):
        DiscoveryParams.from_overrides({"alphas": [1.5]})
    with pytest.raises(ValueError):
        DiscoveryParams.from_overrides({"flow_interval": 9})
    frames, _, _ = moving_patch_clip(frames=3)
    with pytest.raises(ValueError, match="uint8"):
        discover_frames([frames[0].astype(np.float32)])
    with pytest.raises(ValueError, match="earlier frames"):
        discover_frames([frames[0], frames[1][:100]])


def test_discovery_on_the_sampler_frames(tmp_path):
    frames, truth, _ = moving_patch_clip(frames=45)
    _write_video(tmp_path / "a.avi", frames)
    _write_video(tmp_path / "b.avi", frames[:30])
    sampler = FrameSampler(open_sources([tmp_path / "a.avi", tmp_path / "b.avi"]), max_side=120)
    cache = DiscoveryCache(tmp_path / "cache")
    clips = discover_sampler(sampler, DiscoveryParams(), cache)
    assert [c.clip_id for c in clips] == [0, 1]
    assert [c.frame_offset for c in clips] == [0, 45]
    assert clips[1].num_frames == 30 and clips[0].frame_size == (120, 90)
    # Boxes are in the stored (half-size) frames' pixels.
    assert np.mean(iou_xywh(clips[0].boxes, truth / 2) > 0.5) >= 0.8
    frame = int(clips[1].picked_frames[0])
    assert sampler.frame_at(clips[1].frame_offset + frame) is sampler.clips[1][frame]
    again = discover_sampler(sampler, DiscoveryParams(), cache)  # from the cache
    np.testing.assert_array_equal(again[0].boxes, clips[0].boxes)
    assert [c.frame_offset for c in again] == [0, 45]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_each_clip_of_a_stream_is_discovered_on_its_own():
    frames, truth, _ = moving_patch_clip(frames=30)
    stream = [(0, f) for f in frames[:5]] + [(2, f) for f in frames[5:]]
    first, second = discover_clips(stream)
    assert (first.clip_id, first.num_frames, len(first.node_frames)) == (0, 5, 0)
    assert np.isnan(first.boxes).all() and first.video_quality == 0.0
    assert not first.usable(DiscoveryParams()) and first.region_mask(0) is None
    assert (second.clip_id, second.num_frames) == (2, 25)
    assert np.mean(iou_xywh(second.boxes, truth[5:]) > 0.5) >= 0.8


def test_dp_keeps_the_moving_patch_when_a_distractor_jumps_around():
    """A larger patch teleports every 9 frames: on the nodes that see a jump it wins Eq. 2."""
    frames, truth, _ = moving_patch_clip(frames=72, size=(320, 240), start=(40.0, 60.0),
                                         velocity=(2.0, 0.8), seed=4)
    rng = np.random.default_rng(5)
    sprite = _texture(rng, 64, 80, cell=3)
    spots = [(220, 20), (200, 150), (20, 170), (230, 90)]
    for i, frame in enumerate(frames):
        x, y = spots[(i // 9) % len(spots)]
        frame[y:y + 64, x:x + 80] = sprite
    clip = discover_frames(frames)
    best = np.nanargmax(np.where(np.isfinite(clip.candidate_scores), clip.candidate_scores,
                                 -np.inf), axis=1)
    has = np.isfinite(clip.candidate_scores).any(axis=1)
    top = clip.candidates[np.arange(len(best)), best][has]
    top_iou = iou_xywh(np.stack([top[:, 0], top[:, 1], top[:, 2] - top[:, 0],
                                 top[:, 3] - top[:, 1]], 1), truth[clip.node_frames[has]])
    assert np.mean(top_iou < 0.1) >= 0.2  # the distractor is the best-scoring box on some nodes
    picked = clip.picked_frames
    assert len(picked) >= 0.4 * len(clip.node_frames)
    overlap = iou_xywh(clip.boxes[picked], truth[picked])
    assert overlap.min() > 0.25 and np.mean(overlap > 0.5) >= 0.75, overlap  # never the distractor
    assert np.mean(iou_xywh(clip.boxes, truth) > 0.5) >= 0.8  # measured 0.92


def train_on_moving_patch(tmp_path, monkeypatch, method, steps, overrides, **options):
    """Train ``method`` for ``steps`` on a clip of a moving patch.

    Discovery is cached in ``tmp_path``; ``options`` are further ``TrainOptions`` fields.
    Returns ``(result, frames, loss_columns)``, the last being loss.csv as column -> floats.
    """
    from unsup_tracker_training.loop import TrainOptions, train
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    frames, _, _ = moving_patch_clip(frames=45)
    _write_video(tmp_path / "clip.avi", frames)
    result = train(TrainOptions(
        method=method, data=[str(tmp_path / "clip.avi")], out=str(tmp_path / "run"),
        steps=steps, quiet=True, threads=1, seed=0, overrides=overrides, **options))
    assert result.steps == steps and np.isfinite(result.final_loss)
    header, *rows = [line.split(",") for line in
                     (tmp_path / "run" / "loss.csv").read_text().splitlines()]
    columns = {name: [float(row[i]) for row in rows] for i, name in enumerate(header)}
    return result, frames, columns
