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
"""The long-term layer (issue 9) of every shipped method, shipped weights, in-memory clips.

Lost while occluded, frozen model, re-found elsewhere, no look-alike taken for the target;
the lost state ends when the target comes back where the local track is.
"""
import functools

import numpy as np
import pytest
import torch
from synthetic import LONG_TERM_TARGET as TARGET, dimming_clip, distractor_clip, occlusion_clip
from synthetic import one_torch_thread  # noqa: F401  (autouse fixture)

from unsup_tracker import build_tracker, list_methods
from unsup_tracker.geometry import iou_xywh
from unsup_tracker.long_term import LongTermTracker, LostRule
from unsup_tracker.params import SCAN_SCALES, TrackerParams
from unsup_tracker.tracker_base import Candidate, Tracker, TrackResult
from unsup_tracker.registry import get_method

METHODS = [m for m in list_methods() if get_method(m).shipped_checkpoint.is_file()]


def _tracker(method):
    tracker = build_tracker(method, device="cpu")
    assert isinstance(tracker, LongTermTracker)
    return tracker


def _model_state(tracker):
    inner = tracker.inner
    if hasattr(inner, "_filter"):
        return inner._filter.alpha.clone()
    if hasattr(inner, "queue"):                      # USOT: the frames in its memory queue
        return torch.tensor(inner.memory_frames())
    if hasattr(inner, "kernel"):                     # SiamFC methods
        return inner.kernel.clone()
    return torch.cat([t.flatten() for t in inner.template.values()])  # CycleSiam: no update


@functools.lru_cache(maxsize=None)
def occlusion_run(method):
    """Track the occlusion clip; return (lost flags, model states, IoUs after it, events)."""
    frames, boxes = occlusion_clip()
    tracker = _tracker(method)
    tracker.init(frames[0], boxes[0])
    visible = [tracker.track(frame) for frame in frames[1:10]]
    assert not any(r.lost for r in visible), f"lost while visible: {[r.score for r in visible]}"
    lost, states = [], []
    for frame in frames[10:30]:
        lost.append(tracker.track(frame).lost)
        states.append(_model_state(tracker))
    ious = []
    for frame, box in zip(frames[30:], boxes[30:]):
        result = tracker.track(frame)
        ious.append(0.0 if result.lost else float(iou_xywh(result.box[None], box[None])[0]))
    return lost, states, ious, [e.kind for e in tracker.events]


@pytest.mark.parametrize("method", METHODS)
def test_occluded_target_is_lost_frozen_and_found_again(method):
    lost, states, ious, events = occlusion_run(method)
    # Lost within the first few covered frames, and no model update from then on.
    first_lost = lost.index(True)
    assert first_lost <= 5 and all(lost[first_lost:]), lost
    for state in states[first_lost + 1:]:
        assert torch.equal(state, states[first_lost])
    # Found again (within the 15 frames the patch is back), and kept from then on.
    found = next((i for i, iou in enumerate(ious) if iou > 0.5), None)
    assert found is not None and all(i > 0.5 for i in ious[found:]), ious
    assert events == ["lost", "found"]


#: Measured (Lite0 checkpoints): found on the 8th frame after the patch reappears (both): the
#: SiamFC search windows (a third of a frame's cost each, 3 a frame) scan the frame in ~7
#: frames, and scans at x0.75 / x1.33 of the size alternate with the ones at the old size.
SLOW_SCAN = pytest.mark.xfail(strict=True, reason="SiamFC full-frame scan takes > 5 frames")


@pytest.mark.parametrize("method", [pytest.param(m, marks=SLOW_SCAN) if m != "udt" else m
                                    for m in METHODS])
def test_found_again_within_five_frames(method):
    ious = occlusion_run(method)[2]
    assert max(ious[:5]) > 0.5, ious


@pytest.mark.parametrize("method", METHODS)
def test_lookalike_alone_in_view_is_not_taken(method):
    frames = distractor_clip()
    tracker = _tracker(method)
    first = np.array([60, 60, TARGET, TARGET], dtype=float)
    tracker.init(frames[0], first)
    results = [tracker.track(frame) for frame in frames[1:]]
    assert not any(r.lost for r in results[:9])
    assert all(r.lost for r in results[-20:]), [round(r.score, 2) for r in results]
    assert "found" not in [e.kind for e in tracker.events]


#: Frames after the dimmed target's return within which the lost state must have ended.
RECOVERED_WITHIN = 5


@pytest.mark.parametrize("method", METHODS)
def test_lost_ends_when_the_local_track_recovers(method):
    """A target dims (lost), then comes back in the local window: lost ends within 5 frames.

    Re-acquisition by the search is turned off (``reacquire_threshold`` 1e9, no confirmation
    below it): as on long real
    sequences, the target comes back changed (here still blended 30 % into grey), below what
    re-acquisition asks, and never jumps; the method's own local track follows it all along.
    """
    frames, boxes = dimming_clip()
    tracker = build_tracker(method, device="cpu", reacquire_threshold=1e9,
                            reacquire_confirm_threshold=0.0)
    tracker.init(frames[0], boxes[0])
    results = [tracker.track(frame) for frame in frames[1:]]
    dimmed, back = results[9:24], results[24:]  # frames 10-24 dimmed, 25-44 back
    assert not any(r.lost for r in results[:9])
    assert any(r.lost for r in dimmed), [round(r.score, 2) for r in dimmed]
    tracked = [not r.lost for r in back]
    assert True in tracked[:RECOVERED_WITHIN], [round(r.score, 2) for r in back]
    assert all(tracked[tracked.index(True):]), tracked
    ious = iou_xywh(np.stack([r.box for r in back]), boxes[25:])
    assert np.all(ious > 0.5), ious
    assert [(e.kind, e.source) for e in tracker.events] == [("lost", ""), ("found", "local")]


def test_layer_can_be_turned_off():
    tracker = build_tracker("udt", device="cpu", long_term=False)
    assert not isinstance(tracker, LongTermTracker)
    with pytest.raises(ValueError, match="lost_patience"):
        build_tracker("udt", device="cpu", lost_patience=0)


def _rule(**overrides):
    base = dict(lost_score_threshold=0.1, lost_match_threshold=0.1, lost_patience=3,
                collapse_ratio=0.3, recover_match_threshold=0.45, recover_frames=3)
    params = TrackerParams(**{**base, **overrides})
    params.validate()
    return LostRule(params)


def _first_loss(rule, matches, score=1.0):
    """Index of the frame ``rule`` declares the loss on, or None."""
    for index, match in enumerate(matches):
        if rule.judge(score, match)[1]:
            return index
    return None


def test_gradual_change_of_look_is_not_a_loss_with_the_drop_ratio():
    # The match falls from 1.0 to 0.12 over 100 frames (a lighting change): above the floor
    # 0.1 throughout, never half the running mean; an absolute level of 0.22 calls it lost.
    drift = np.linspace(1.0, 0.12, 100)
    assert _first_loss(_rule(lost_drop_ratio=0.5), drift) is None
    assert _first_loss(_rule(lost_match_threshold=0.22), drift) is not None


def test_sudden_drop_below_half_the_mean_is_a_loss():
    # Mean 0.3 (look drifted), then 0.13: above the floor and the collapse level (0.09), below
    # half the mean (0.15): lost on the third such frame.
    matches = [0.3] * 20 + [0.13] * 5
    assert _first_loss(_rule(lost_drop_ratio=0.5), matches) == 22
    assert _first_loss(_rule(), matches) is None  # floors alone: no loss


def test_recovery_level_follows_the_mean_at_the_loss():
    rule = _rule(lost_drop_ratio=0.5, recover_ratio=0.8)
    assert _first_loss(rule, [0.3] * 20 + [0.13] * 3) == 22
    assert rule.mean_at_loss == pytest.approx(0.3)
    assert rule.recovery_level() == pytest.approx(0.24)  # 0.8 x 0.3 < 0.45
    assert [rule.recovered(1.0, m) for m in (0.25, 0.23, 0.25, 0.25, 0.25)] == \
        [False, False, False, False, True]
    # Without the ratio the absolute level stands; a confident target keeps it too.
    assert _rule(lost_drop_ratio=0.5).recovery_level() == pytest.approx(0.45)
    confident = _rule(lost_drop_ratio=0.5, recover_ratio=0.8)
    _first_loss(confident, [0.9] * 20 + [0.1] * 3)
    assert confident.recovery_level() == pytest.approx(0.45)


def test_recover_ratio_must_exceed_the_drop_ratio():
    with pytest.raises(ValueError, match="recover_ratio"):
        _rule(lost_drop_ratio=0.6, recover_ratio=0.5)
    with pytest.raises(ValueError, match="lost_drop_ratio"):
        _rule(lost_drop_ratio=1.0)


class _ScriptedTracker(Tracker):
    """Always low on its own; ``detect`` finds ``spots[frame]`` (centre, score) among 0.1s."""

    method = "scripted"

    def __init__(self, spots, **overrides):
        settings = dict(lost_patience=1, reacquire_threshold=0.6,
                        reacquire_confirm_threshold=0.45, reacquire_confirm_frames=3)
        super().__init__(TrackerParams(**{**settings, **overrides}))
        self.spots = spots
        self.frame = 0

    def _init(self, image, box_xywh):
        pass

    def _track(self, image):
        self.frame += 1
        return TrackResult(box=np.array([10.0, 10.0, 20.0, 20.0]), score=0.0)

    def search_window(self):
        return 60.0, 30.0

    def detect(self, image, centers, scales=None):
        (x, y), score = self.spots[self.frame]
        found = Candidate(box=np.array([x - 10.0, y - 10.0, 20.0, 20.0]), score=score)
        return [found] + [Candidate(box=np.array([0.0, 0.0, 20.0, 20.0]), score=0.1)
                          for _ in centers[1:]]

    def reseat(self, box_xywh):
        pass


def _search_until_found(spots, **overrides):
    """Return the frame at which the scripted target is found again (None: never)."""
    tracker = LongTermTracker(_ScriptedTracker(spots, **overrides))
    image = np.zeros((120, 160, 3), np.uint8)
    tracker.init(image, (10, 10, 20, 20))
    for frame in range(1, len(spots)):
        result = tracker.track(image)
        if frame == 1:
            assert result.lost
        elif not result.lost:
            assert [e.kind for e in tracker.events] == ["lost", "found"]
            return frame
    return None


@pytest.mark.parametrize("spots, overrides, found_at", [
    # The same place, below reacquire_threshold but above the confirmation level: found on
    # the 3rd searching frame (frames 2, 3, 4), not before.
    ([((80, 60), 0.5)] * 10, {}, 4),
    ([((80, 60), 0.5)] * 10, {"reacquire_confirm_frames": 5}, 6),
    # Moving a little (within half the target's side) is the same place.
    ([((80 + 3 * i, 60), 0.5) for i in range(10)], {}, 4),
    # Above reacquire_threshold: at once.
    ([((80, 60), 0.7)] * 10, {}, 2),
    # A different place each frame, or below the level, or confirmation off: never.
    ([((20 + 40 * (i % 3), 60), 0.5) for i in range(10)], {}, None),
    ([((80, 60), 0.4)] * 10, {}, None),
    ([((80, 60), 0.5)] * 10, {"reacquire_confirm_threshold": 0.0}, None),
])
def test_a_candidate_that_stays_the_best_at_one_place_is_confirmed(spots, overrides, found_at):
    assert _search_until_found([None] + spots, **overrides) == found_at


def test_confirmation_settings_are_validated():
    with pytest.raises(ValueError, match="reacquire_confirm_frames"):
        TrackerParams(reacquire_confirm_frames=0).validate()
    with pytest.raises(ValueError, match="reacquire_confirm_threshold"):
        TrackerParams(reacquire_confirm_threshold=-1.0).validate()


class _ScaleRecorder(_ScriptedTracker):
    """Never finds anything; records the scan size of each frame's grid windows."""

    def detect(self, image, centers, scales=None):
        if len(centers) > 1:
            self.scan_scales.append(float(scales[1]))
        return [Candidate(box=np.array([0.0, 0.0, 20.0, 20.0]), score=0.1) for _ in centers]


@pytest.mark.parametrize("sizes", [1, 3, 4, 5])
def test_full_frame_scans_take_the_first_scan_sizes_in_turn(sizes):
    inner = _ScaleRecorder([None] * 400, scan_sizes=sizes)
    inner.scan_scales = []
    tracker = LongTermTracker(inner)
    image = np.zeros((120, 160, 3), np.uint8)
    tracker.init(image, (10, 10, 20, 20))
    for _ in range(300):
        assert tracker.track(image).lost or not inner.scan_scales
    scales = inner.scan_scales
    assert set(scales) == set(SCAN_SCALES[:sizes])
    if sizes > 1:
        # Each scan holds one size over its frames; the sizes follow SCAN_SCALES, cycling.
        turns = [s for i, s in enumerate(scales) if i == 0 or s != scales[i - 1]]
        assert len(turns) > 2 * sizes
        assert turns == [SCAN_SCALES[i % sizes] for i in range(len(turns))]


def test_scan_sizes_are_validated():
    for wrong in (0, 6):
        with pytest.raises(ValueError, match="scan_sizes"):
            TrackerParams(scan_sizes=wrong).validate()
