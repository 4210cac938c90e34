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
"""TargetManager (several targets on one stream, no ROS) and UDT's batched tracking."""
import numpy as np
import pytest
from synthetic import one_torch_thread, zooming_clip  # noqa: F401

from unsup_tracker import UNTRAINED
from unsup_tracker.geometry import iou_xywh
from unsup_tracker.registry import build_model, get_method
from unsup_tracker.targets import (Target, TargetManager, TooManyTargetsError, UnknownTargetError,
                                   check_max_targets, compose_masks, track_targets)
from unsup_tracker.tracker_base import TrackResult


class _Fixed:
    """A stand-in tracker that returns a fixed box; ``fail`` makes track() raise."""

    def __init__(self, box, fail=False, model=None):
        self.box, self.fail, self.model, self.calls = np.asarray(box, float), fail, model, 0

    def track(self, image):
        self.calls += 1
        if self.fail:
            raise RuntimeError("broken tracker")
        return TrackResult(box=self.box, score=0.9)


def test_ids_are_per_method_counters_never_reused():
    manager = TargetManager(max_targets=3)
    a = manager.add("udt", _Fixed((0, 0, 5, 5)), 10, (64, 48))
    b = manager.add("pul", _Fixed((0, 0, 5, 5)), 10, (64, 48))
    assert (a.track_id, b.track_id) == ("udt-1", "pul-2")
    assert manager.remove("udt-1") is a
    c = manager.add("udt", _Fixed((0, 0, 5, 5)), 10, (64, 48))
    assert c.track_id == "udt-3"
    assert [t.track_id for t in manager.targets()] == ["pul-2", "udt-3"]
    with pytest.raises(UnknownTargetError, match="pul-2"):
        manager.remove("udt-1")


def test_max_targets_refuses_clearly_and_counts_lost_targets():
    manager = TargetManager(max_targets=2)
    manager.add("udt", _Fixed((0, 0, 5, 5)), 0, (64, 48))
    lost = manager.add("udt", _Fixed((0, 0, 5, 5)), 0, (64, 48))
    lost.lost = True
    assert manager.counts() == (1, 1)
    with pytest.raises(TooManyTargetsError, match="max_targets is 2"):
        manager.check_room()
    with pytest.raises(TooManyTargetsError):
        manager.add("udt", _Fixed((0, 0, 5, 5)), 0, (64, 48))
    manager.max_targets = 3
    manager.check_room()
    for bad in (0, 256, 2.5, True, "4"):
        with pytest.raises(ValueError, match="max_targets"):
            check_max_targets(bad)
    assert len(manager.clear()) == 2 and len(manager) == 0


def test_a_failing_group_does_not_stop_the_others():
    manager = TargetManager()
    good = manager.add("a", _Fixed((1, 2, 3, 4)), 0, (64, 48))
    bad = manager.add("b", _Fixed((0, 0, 5, 5), fail=True), 0, (64, 48))
    errors = []
    results = track_targets(manager.targets(), np.zeros((48, 64, 3), np.uint8),
                            lambda group, exc: errors.append((group, exc)))
    assert results[0][0] is good and np.allclose(results[0][1].box, (1, 2, 3, 4))
    assert results[1] == (bad, None)
    assert errors and errors[0][0] == [bad]
    with pytest.raises(RuntimeError, match="broken"):
        track_targets([bad], np.zeros((48, 64, 3), np.uint8))


def test_masks_carry_each_targets_index():
    first = np.zeros((4, 6), np.uint8)
    first[0, :3] = 255
    second = np.zeros((4, 6), np.uint8)
    second[0, 2:] = 255
    mask = compose_masks((4, 6), [first, None, second])
    assert mask.dtype == np.uint8
    assert mask[0].tolist() == [1, 1, 3, 3, 3, 3]  # the later target wins where they overlap
    assert not mask[1:].any()
    assert compose_masks((4, 6), [None, np.zeros((2, 2), np.uint8)]) is None


def _udt_trackers(count, image, boxes, model, **params):
    spec = get_method("udt")
    trackers = []
    for box in boxes[:count]:
        tracker = spec.tracker_cls(model, spec.params_cls.from_overrides(params), "cpu")
        tracker.init(image, box)
        trackers.append(tracker)
    return trackers


def test_udt_batched_tracking_matches_one_by_one():
    frames, truth = zooming_clip(seed=3, frames=12, size=(320, 240), box=(60, 50, 44, 36),
                                 zoom=1.0, pan=(2.0, 1.0))
    model, _ = build_model("udt", UNTRAINED, "cpu")
    boxes = [truth[0], truth[0] + np.array([150, 100, 0, 0]), truth[0] + np.array([150, 0, 0, 0])]
    # All scales every frame: the batch then spreads nothing (see the test below).
    # With the mask stage on: batched results carry the same masks.
    alone = _udt_trackers(3, frames[0], boxes, model, scale_interval=1, mask=True)
    batched = _udt_trackers(3, frames[0], boxes, model, scale_interval=1, mask=True)
    spec = get_method("udt")
    for frame in frames[1:]:
        expected = [tracker.track(frame) for tracker in alone]
        got = spec.tracker_cls.track_batch(batched, frame)
        for a, b in zip(expected, got):
            assert iou_xywh(a.box[None], b.box[None])[0] > 0.99, (a.box, b.box)
            assert abs(a.score - b.score) < 1e-3 and a.lost == b.lost
            assert b.mask is not None and b.mask.shape == frame.shape[:2]
            assert (a.mask != b.mask).mean() < 0.01


def test_long_term_wrapped_udt_targets_are_still_batched(monkeypatch):
    """The node wraps every tracker in the long-term layer: batching must survive the wrapper."""
    from unsup_tracker.long_term import LongTermTracker, wrap

    frames, truth = zooming_clip(seed=3, frames=8, size=(320, 240), box=(60, 50, 44, 36),
                                 zoom=1.0, pan=(2.0, 1.0))
    model, _ = build_model("udt", UNTRAINED, "cpu")
    boxes = [truth[0], truth[0] + np.array([150, 100, 0, 0])]
    spec = get_method("udt")

    def wrapped():
        trackers = [wrap(spec.tracker_cls(model, spec.params_cls.from_overrides(
            {"scale_interval": 1}), "cpu")) for _ in boxes]
        for tracker, box in zip(trackers, boxes):
            tracker.init(frames[0], box)
        return trackers

    alone, batched = wrapped(), wrapped()
    assert all(isinstance(t, LongTermTracker) for t in batched)
    calls = []
    original = spec.tracker_cls.track_batch.__func__
    monkeypatch.setattr(spec.tracker_cls, "track_batch", classmethod(
        lambda cls, trackers, image:
            calls.append(len(trackers)) or original(cls, trackers, image)))
    for frame in frames[1:]:
        expected = [tracker.track(frame) for tracker in alone]
        got = [result for _, result in track_targets(
            [Target(f"udt-{i}", "udt", t, 0, (320, 240)) for i, t in enumerate(batched)], frame)]
        for a, b in zip(expected, got):
            assert iou_xywh(a.box[None], b.box[None])[0] > 0.99 and a.lost == b.lost
    assert calls == [2] * (len(frames) - 1), calls


def test_targets_sharing_a_model_are_batched():
    class _Batched(_Fixed):
        batches = []

        @classmethod
        def track_batch(cls, trackers, image):
            cls.batches.append(len(trackers))
            return [t.track(image) for t in trackers]

    shared, other = object(), object()
    manager = TargetManager()
    for model in (shared, shared, other):
        manager.add("x", _Batched((0, 0, 5, 5), model=model), 0, (64, 48))
    results = track_targets(manager.targets(), np.zeros((48, 64, 3), np.uint8))
    assert _Batched.batches == [2]  # the lone target of the other model is tracked alone
    assert all(result is not None for _, result in results)
    assert [t.tracker.calls for t in manager.targets()] == [1, 1, 1]


def test_udt_batches_spread_the_all_scale_searches_over_the_frames(monkeypatch):
    frames, truth = zooming_clip(seed=4, frames=7, size=(320, 240), box=(60, 50, 44, 36),
                                 zoom=1.0, pan=(1.0, 1.0))
    model, _ = build_model("udt", UNTRAINED, "cpu")
    spec = get_method("udt")
    offsets = ((0, 0), (150, 0), (0, 120), (150, 120))
    boxes = [truth[0] + np.array([dx, dy, 0, 0]) for dx, dy in offsets]
    trackers = _udt_trackers(4, frames[0], boxes, model)  # scale_interval 2, all in phase
    crops = []
    search = spec.tracker_cls._search

    def counting(self, image, fill=None):
        plan = search(self, image, fill)
        crops[-1] += len(plan["patches"])
        return plan

    monkeypatch.setattr(spec.tracker_cls, "_search", counting)
    for frame in frames[1:]:
        crops.append(0)
        spec.tracker_cls.track_batch(trackers, frame)
    # One by one they would alternate 4 x 3 = 12 and 4 x 1 = 4 crops a frame.
    assert crops == [8] * len(crops), crops
