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
"""Long-term layer: lost decision, frozen model while lost, widening search, re-acquisition.

One implementation for every method: :func:`unsup_tracker.registry.build_tracker` wraps the
method's tracker in :class:`LongTermTracker` unless ``long_term=False``. The wrapped tracker
provides the hooks of :class:`~unsup_tracker.tracker_base.Tracker` (``search_window``,
``detect``, ``reseat``, ``frozen``); a tracker without them is returned unwrapped.

Per frame while tracking: the method's own ``track``. A frame is low when its ``score`` is
below the method's ``lost_score_threshold`` or its match with the template
(``Tracker.match_score``, in the units of ``Candidate.score``: 1 = as the template matches its
own first frame) is below ``lost_match_threshold``. After the first low frame the model update
is frozen (the frames that follow are suspect), and the target is declared lost after
``lost_patience`` consecutive low frames, or at once when the match collapses below
``collapse_ratio`` times the mean of the recent confident matches (a sudden occlusion). A
frame is also low when its match is below ``lost_drop_ratio`` times that mean (0 = off), and
the recovery level below is then at most ``recover_ratio`` times the mean at the loss: on real
footage the match with the first frame drifts with the target's look, which a fixed level
reads as a loss (:class:`LostRule`; its thresholds are chosen per method). For
UDT ``score`` and match are the same quantity; for the SiamFC methods ``score`` is the
peak-to-sidelobe ratio and the match the peak logit over the first frame's, the quantity
re-acquisition compares with ``reacquire_threshold`` (hysteresis: ``lost_match_threshold`` <
``reacquire_threshold``).

While lost: the method's ``track`` goes on with its model frozen (re-seated at the last
confident box when the loss is declared), so a partly occluded target is still followed and
an occluder that moves away uncovers it in the local search; besides,
``search_windows_per_frame - 1`` windows of the method's normal search size are evaluated with
``detect``: the next windows of a grid of step ``search_window()[1]`` anchored at the last
confident position and covering the whole frame, nearest first (a widening search that ends as
a coarse full-frame scan, then starts over). Successive scans assume the target size times
the first ``scan_sizes`` of :data:`~unsup_tracker.params.SCAN_SCALES` (it may have changed
out of view); the anchor window keeps the size.
The local track's box is checked with ``detect`` like the grid windows (in the same batch);
the target is re-acquired, and the tracker re-seated on it, when the best candidate's
``Candidate.score`` (match with the first-frame template, and the memory for methods with one)
reaches ``reacquire_threshold``, or when the best candidate stays at one place for
``reacquire_confirm_frames`` frames scoring at least ``reacquire_confirm_threshold``.
A method with a dense scan (``Tracker.scan_parts`` / ``scan``, UDT's) proposes its windows
instead of the grid: each frame evaluates the next part (a band or tile) of a scan of the
whole frame (every window position at once) and ``detect`` verifies its best local maxima,
so a scan covers the frame in a few frames instead of dozens. The lost state also ends, at the
local track's box, when the local track recovers: its match, and its box's
``Candidate.score``, are at least ``recover_match_threshold`` (and its score at least
``lost_score_threshold``) on ``recover_frames`` consecutive frames. While lost the result is
the local track's box and score with ``lost=True``.

Decisions: the lost flag is the layer's state, not the per-frame threshold (one low frame is
not "lost"). Recovery by the local track: with re-acquisition alone, a target that came back
where the frozen local track follows it, but changed (lighting, pose), below
``reacquire_threshold``, stayed flagged lost for good (real_dev, before: S2SiamFC lost on 806
of 1328 frames it tracked with IoU > 0.5); the recovery level is chosen per method on
devbench by counting false alarms against hits (``bench/bench_long_term.py recovery`` and
``lost``). A first version reported the last confident box while lost and stopped the local
track: on devbench it cut S2SiamFC's AUC on a partly occluded sequence from 66.5 to 33.9 (the
PSR fell below its threshold while the target, half covered, moved on).

Tried and dropped (devbench, UDT, FOC+OV sequences): a per-axis grid step for UDT's
rectangular window (scans 2-3x shorter on an elongated target; OV unchanged at 56.5, dev07
73.6 -> 63.9) and scans that try every size near the last position first (a window at another
size counting twice as far; dev08 87.7 -> 79.2, and the synthetic target reappearing far away
was no longer found within 5 frames).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .geometry import xywh_to_cxcywh
from .params import SCAN_SCALES
from .tracker_base import Tracker, TrackResult, check_image

#: Weight of a new confident score in the running mean the collapse test compares with.
_SCORE_MEAN_RATE = 0.1


@dataclasses.dataclass
class Event:
    """A change of the lost state: ``kind`` is "lost" or "found", ``frame`` counts track calls."""

    kind: str
    frame: int
    box: np.ndarray
    score: float
    #: For "found": "search" (a candidate reached ``reacquire_threshold``) or "local" (the
    #: local track's match recovered, see ``recover_match_threshold``).
    source: str = ""


class LostRule:
    """The lost decision on a frame's ``(score, match)``, shared by the layer and its replays.

    ``bench/bench_long_term.py`` replays it on recorded values to choose thresholds, so the
    rule it measures is the rule the layer runs.
    """

    def __init__(self, params):
        self.params = params
        self.low_streak = 0
        self.recover_streak = 0
        #: Running mean of the confident frames' matches (None before the first one).
        self.match_mean: Optional[float] = None
        self.mean_at_loss: Optional[float] = None

    def low(self, score: float, match: float) -> bool:
        """Return whether a frame tracked normally is suspect (below a floor or the mean)."""
        params = self.params
        if score < params.lost_score_threshold or match < params.lost_match_threshold:
            return True
        return (self.match_mean is not None and params.lost_drop_ratio > 0
                and match < params.lost_drop_ratio * self.match_mean)

    def judge(self, score: float, match: float) -> tuple[bool, bool]:
        """Update on a frame tracked normally; return ``(low, lose)``."""
        low = self.low(score, match)
        collapse = (self.match_mean is not None
                    and match < self.params.collapse_ratio * self.match_mean)
        if low or collapse:
            self.low_streak += 1
        else:
            self.low_streak = 0
            self.match_mean = match if self.match_mean is None else (
                (1.0 - _SCORE_MEAN_RATE) * self.match_mean + _SCORE_MEAN_RATE * match)
        lose = collapse or self.low_streak >= self.params.lost_patience
        if lose:
            self.mean_at_loss = self.match_mean
            self.recover_streak = 0
        return low or collapse, lose

    def recovery_level(self) -> float:
        """Return the match the local track needs while lost to end the lost state."""
        params = self.params
        level = params.recover_match_threshold
        if params.recover_ratio > 0 and self.mean_at_loss is not None:
            # A target whose look had drifted before the loss comes back as it was then.
            level = min(level, params.recover_ratio * self.mean_at_loss)
        return max(level, params.lost_match_threshold)

    def recovered(self, score: float, match: float) -> bool:
        """Update on a frame while lost; return True when the lost state ends here.

        ``match`` is the lower of the local track's match and its box's verification.
        """
        good = (score >= self.params.lost_score_threshold and match >= self.recovery_level())
        self.recover_streak = self.recover_streak + 1 if good else 0
        if self.recover_streak >= self.params.recover_frames:
            self.end_loss()
            return True
        return False

    def end_loss(self) -> None:
        """Start counting afresh: the lost state ended (recovered here or re-acquired)."""
        self.low_streak = self.recover_streak = 0


class LongTermTracker(Tracker):
    """Wrap ``inner`` (a :class:`Tracker` with the re-detection hooks); same interface."""

    def __init__(self, inner: Tracker):
        if not inner.supports_redetection:
            raise TypeError(f"{type(inner).__name__} has no re-detection hooks")
        self.inner = inner
        super().__init__(inner.params)
        self.method = inner.method
        self.lost = False
        #: State changes of the current target, in order (for evaluation and tests).
        self.events: list[Event] = []
        self._reset()

    def _reset(self) -> None:
        self.lost = False
        self.events = []
        self._frame = 0
        self._rule = LostRule(self.params)
        self._last_box = np.zeros(4)
        self._queue: list = []
        self._scan = 0
        #: Where the best search candidate has stayed, at which scan scale, for how many frames.
        self._streak: tuple[Optional[np.ndarray], float, int] = (None, 1.0, 0)

    # One set of parameters and fine-tuning hook: the wrapped tracker's.
    @property
    def params(self):
        return self.inner.params

    @params.setter
    def params(self, value) -> None:
        self.inner.params = value
        if "_rule" in self.__dict__:  # not yet during __init__
            self._rule.params = value

    @property
    def finetune_hook(self):
        return self.inner.finetune_hook

    def __getattr__(self, name):
        # Only reached for attributes the wrapper lacks: the method's (model, device, ...).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def init(self, image_bgr: np.ndarray, box_xywh, finetune: Optional[bool] = None) -> None:
        """Start tracking (the method's ``init``, fine-tuning included)."""
        self.inner.frozen = False
        self.inner.init(image_bgr, box_xywh, finetune)
        self._reset()
        self._last_box = np.asarray(box_xywh, dtype=np.float64).reshape(4).copy()
        self.initialized = True

    def track(self, image_bgr: np.ndarray) -> TrackResult:
        """Track one frame; ``lost`` is the layer's lost state (see the module docstring)."""
        if not self.initialized:
            raise RuntimeError("track() called before init()")
        return self._track(check_image(image_bgr))

    def _init(self, image: np.ndarray, box_xywh: np.ndarray) -> None:  # pragma: no cover
        raise AssertionError("init() delegates to the wrapped tracker")

    @classmethod
    def track_batch(cls, trackers: list["LongTermTracker"],
                    image_bgr: np.ndarray) -> list[TrackResult]:
        """Track several wrapped targets on one frame, batching the methods' own passes.

        Targets tracking normally go through their method's ``track_batch`` (one network pass,
        see :func:`unsup_tracker.targets.track_targets`); lost ones run their own search.
        """
        if not all(t.initialized for t in trackers):
            raise RuntimeError("track() called before init()")
        image = check_image(image_bgr)
        normal = [t for t in trackers if not t.lost]
        batch = getattr(type(normal[0].inner), "track_batch", None) if normal else None
        if batch is not None and len(normal) > 1:
            inner_results = batch([t.inner for t in normal], image)
        else:
            inner_results = [t.inner.track(image) for t in normal]
        judged = {}
        for tracker, result in zip(normal, inner_results):
            tracker._frame += 1
            judged[id(tracker)] = tracker._judge(result)
        return [judged[id(t)] if id(t) in judged else t._track(image) for t in trackers]

    def _track(self, image: np.ndarray) -> TrackResult:
        self._frame += 1
        if self.lost:
            return self._search(image)
        return self._judge(self.inner.track(image))

    def _judge(self, result: TrackResult) -> TrackResult:
        """Decide on the method's result of a frame tracked normally: low, collapse, lost."""
        score, match = self._score_and_match(result)
        low, lose = self._rule.judge(score, match)
        # After a suspect frame the model stops learning (the frames that follow are suspect).
        self.inner.frozen = low
        if not low:
            self._last_box = np.asarray(result.box, dtype=np.float64).reshape(4).copy()
        if lose:
            self._enter_lost(score)
            return TrackResult(box=self._last_box.copy(), score=score, lost=True)
        return TrackResult(box=result.box, score=score, mask=result.mask, lost=False)

    def _score_and_match(self, result: TrackResult) -> tuple[float, float]:
        """Return the method's score of ``result`` and its match (the score if it has none)."""
        score = float(result.score)
        match = self.inner.match_score
        return score, score if match is None or not np.isfinite(match) else float(match)

    def _enter_lost(self, score: float) -> None:
        self.lost = True
        self.inner.frozen = True
        self.inner.reseat(self._last_box)
        self._queue = []
        self._scan = 0
        self._streak = (None, 1.0, 0)
        self.events.append(Event("lost", self._frame, self._last_box.copy(), score))

    def _grid(self, image: np.ndarray, scale: float) -> list[np.ndarray]:
        """Window centres covering the frame, anchored at the last box, nearest first."""
        side, step = self.inner.search_window()
        height, width = image.shape[:2]
        anchor = np.asarray(xywh_to_cxcywh(self._last_box)[:2], dtype=np.float64)
        step = max(float(step) * scale, 1.0)
        # Grid lines through the anchor, reaching past each image border by at most half a step.
        xs = anchor[0] + step * np.arange(-np.floor((anchor[0] + step / 2) / step),
                                          np.floor((width - 1 - anchor[0] + step / 2) / step) + 1)
        ys = anchor[1] + step * np.arange(-np.floor((anchor[1] + step / 2) / step),
                                          np.floor((height - 1 - anchor[1] + step / 2) / step) + 1)
        centers = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        distance = np.hypot(*(centers - anchor).T)
        order = np.argsort(distance, kind="stable")
        # The anchor itself is evaluated every frame; the queue holds the others.
        return [centers[i] for i in order if distance[i] > 1e-6]

    def _scan_scale(self) -> float:
        """Target size factor of the current scan (the first one: the size as it was)."""
        return SCAN_SCALES[(self._scan - 1) % self.params.scan_sizes]

    def _next_windows(self, image: np.ndarray) -> list[np.ndarray]:
        """Centres of this frame's search windows beside the local track's (at the scan's size).

        A method with a dense scan evaluates the next part of it and proposes its best local
        maxima; otherwise the next windows of the grid are taken.
        """
        dense = self.inner.supports_dense_scan
        if not self._queue:
            self._scan += 1
            scale = self._scan_scale()
            anchor = xywh_to_cxcywh(self._last_box)[:2]
            self._queue = (self.inner.scan_parts(image, scale, anchor) if dense
                           else self._grid(image, scale))
        count = self.params.search_windows_per_frame - 1
        if dense:
            proposals = self.inner.scan(image, self._queue.pop(0), count)
            return [np.asarray(xywh_to_cxcywh(c.box)[:2]) for c in proposals]
        grid = self._queue[:count]
        del self._queue[:len(grid)]
        return grid

    def _search(self, image: np.ndarray) -> TrackResult:
        windows = self._next_windows(image)
        scale = self._scan_scale()
        threshold = self.params.reacquire_threshold
        # The method's own frozen local search goes on (a partly occluded target is followed).
        local = self.inner.track(image)
        # The local box is verified like any candidate (the method's own score can be
        # degenerate on featureless occluders), in one batch with the next windows and the
        # place that has been the best candidate lately (at its own size: the scans' sizes
        # alternate).
        centers = [xywh_to_cxcywh(local.box)[:2]] + windows
        scales = [1.0] + [scale] * len(windows)
        streak_center, streak_scale, _ = self._streak
        if streak_center is not None:
            centers.append(streak_center)
            scales.append(streak_scale)
        candidates = self.inner.detect(image, np.stack(centers), np.array(scales))
        index = max(range(len(candidates)), key=lambda i: candidates[i].score)
        best = candidates[index]
        if best.score >= threshold or self._confirmed(best, scales[index]):
            box = np.asarray(best.box, dtype=np.float64).reshape(4)
            self.inner.reseat(box)
            return self._found(box, float(best.score), "search")
        # The local track recovered: its match with the template came back for a few frames,
        # and so did its box's verification (a method's own match can be degenerate on a
        # featureless occluder: UDT's energy-normalised peak on a flat grey block).
        score, match = self._score_and_match(local)
        local_box = np.asarray(local.box, dtype=np.float64).reshape(4).copy()
        if self._rule.recovered(score, min(match, candidates[0].score)):
            return self._found(local_box, score, "local", local.mask)
        return TrackResult(box=local_box, score=score, lost=True)

    def _confirmed(self, best, scale: float) -> bool:
        """Return whether ``best`` is confirmed (``scale``: the scan size it was found at).

        Confirmed: the best candidate at one place for ``reacquire_confirm_frames`` frames in
        a row, each time scoring at least ``reacquire_confirm_threshold``.
        """
        level = self.params.reacquire_confirm_threshold
        if level <= 0 or best.score < level:
            self._streak = (None, 1.0, 0)
            return False
        cx, cy, w, h = xywh_to_cxcywh(best.box)
        center = np.array([cx, cy])
        previous, _, count = self._streak
        same = previous is not None and np.hypot(*(center - previous)) <= 0.5 * min(w, h)
        self._streak = (center, scale, count + 1 if same else 1)
        return self._streak[2] >= self.params.reacquire_confirm_frames

    def _found(self, box: np.ndarray, score: float, source: str, mask=None) -> TrackResult:
        """End the lost state at ``box`` (the method's state is already there)."""
        self.inner.frozen = False
        self.lost = False
        self._rule.end_loss()
        self._last_box = box.copy()
        self.events.append(Event("found", self._frame, box.copy(), score, source))
        return TrackResult(box=box.copy(), score=score, mask=mask, lost=False)


def wrap(tracker: Tracker) -> Tracker:
    """Return ``tracker`` wrapped when its params ask for the layer and it has the hooks."""
    if getattr(tracker.params, "long_term", False) and tracker.supports_redetection:
        return LongTermTracker(tracker)
    return tracker
