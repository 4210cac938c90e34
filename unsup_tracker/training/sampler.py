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
"""In-memory frame sampler over many unlabeled sources (the core ``FrameSource`` protocol).

Decisions:

* Every frame is decoded once, downscaled so its longest side is at most ``max_side`` (INTER_AREA;
  trackers crop small patches, and a 480-pixel frame keeps a 640x480 camera intact) and kept in
  RAM, so a training step never waits on a decoder.
* Memory budget: before decoding, the sampler estimates the stored size from each source's
  frame count and first frame. When it exceeds ``memory_budget_mb`` every source is strided by
  the same extra factor (a warning says which), so all sources stay represented and windows
  still cover real motion (only faster). Should the estimate be wrong, loading stops at the
  budget with a warning naming what was left out.
* ``sample_window`` picks its clip with probability proportional to the clip's stored frames
  (every stored frame is an equally likely window start), so one long video is not starved by
  many short clips nor the reverse. Stills are one-frame clips: a window from one has length 1.
* Frames are returned as read-only views of the cache: recipes copy before writing.
* ``frame_index`` / ``frame_at`` number the stored frames in loading order, so a recipe's
  checkpointed state can refer to frames instead of copying pixels; the same files read with the
  same options give the same numbering.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Sequence

import cv2
import numpy as np

from .sources import DataError, Source

LOG = logging.getLogger("unsup_tracker_training.sampler")


def downscale(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink so the longest side is at most ``max_side`` (never enlarges; None/0 keeps size)."""
    height, width = frame.shape[:2]
    longest = max(height, width)
    if not max_side or longest <= max_side:
        return np.ascontiguousarray(frame)
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


class FrameSampler:
    """Frames of many sources, decoded once and kept downscaled in RAM.

    Implements :class:`unsup_tracker.recipe.FrameSource`.
    """

    def __init__(self, sources: Sequence[Source], max_side: int | None = 480,
                 frame_stride: int = 1, memory_budget_mb: float = 4096.0):
        if frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be > 0, got {memory_budget_mb}")
        if max_side is not None and max_side < 0:
            raise ValueError(f"max_side must be >= 0, got {max_side}")
        if not sources:
            raise DataError("no data sources")
        self.sources = list(sources)
        self.max_side = max_side or None
        self.frame_stride = frame_stride
        self.budget_bytes = int(memory_budget_mb * 2 ** 20)
        #: Stored clips; each a list of consecutive frames of one source.
        self.clips: list[list[np.ndarray]] = []
        self.clip_source: list[int] = []
        self._stats: list[dict] = []
        self.nbytes = 0
        self.load_seconds = 0.0
        self.effective_stride = frame_stride
        self._positions: dict[int, int] | None = None
        self._load()
        lengths = np.array([len(c) for c in self.clips], dtype=np.int64)
        self._ends = np.cumsum(lengths)
        self.num_frames = int(self._ends[-1])

    # -- loading ----------------------------------------------------------------------------
    def _stored_bytes(self, shape: tuple[int, ...]) -> int:
        height, width = shape[:2]
        scale = 1.0 if not self.max_side else min(1.0, self.max_side / max(height, width))
        return max(1, round(height * scale)) * max(1, round(width * scale)) * 3

    def _plan_stride(self) -> int:
        """Extra stride so the estimated stored size fits the budget (1 when it fits)."""
        estimate = 0
        for source in self.sources:
            count = source.estimate_frames()
            first = source.first_frame()
            if first is None or not count:
                continue
            estimate += math.ceil(count / self.frame_stride) * self._stored_bytes(first.shape)
        extra = max(1, math.ceil(estimate / self.budget_bytes))
        if extra > 1:
            LOG.warning("data would take ~%.0f MB in memory (budget %.0f MB): keeping every %d-th "
                        "frame of every source (raise the memory budget or lower max_side to keep "
                        "more)", estimate / 2 ** 20, self.budget_bytes / 2 ** 20, extra)
        return extra

    def _load(self) -> None:
        start = time.perf_counter()
        self.effective_stride = self.frame_stride * self._plan_stride()
        over_budget = False
        for index, source in enumerate(self.sources):
            if over_budget:
                self._stats.append({"frames_used": 0, "clips": 0, "frames_skipped": 0,
                                    "truncated": True, "read_seconds": 0.0})
                continue
            t0 = time.perf_counter()
            frames_used, clips, last_clip = 0, 0, None
            for clip_id, frame in source.iter_frames(self.effective_stride):
                small = downscale(frame, self.max_side)
                if self.nbytes + small.nbytes > self.budget_bytes:
                    over_budget = True
                    break
                small.flags.writeable = False
                if clip_id != last_clip:
                    self.clips.append([])
                    self.clip_source.append(index)
                    last_clip = clip_id
                    clips += 1
                self.clips[-1].append(small)
                self.nbytes += small.nbytes
                frames_used += 1
            seconds = time.perf_counter() - t0
            self._stats.append({"frames_used": frames_used, "clips": clips,
                                "frames_skipped": source.skipped, "truncated": over_budget,
                                "read_seconds": round(seconds, 3)})
            rate = frames_used / seconds if seconds > 0 else float("inf")
            LOG.info("%s: %d frames in %d clip(s), %d skipped, %.1f s (%.0f frames/s)",
                     source.describe(), frames_used, clips, source.skipped, seconds, rate)
            if over_budget:
                left = [s.describe() for s in self.sources[index:]]
                LOG.warning("memory budget of %.0f MB reached: %s only partly loaded, not "
                            "loaded: %s", self.budget_bytes / 2 ** 20, left[0],
                            ", ".join(left[1:]) or "nothing else")
            elif frames_used == 0:
                LOG.warning("%s gave no usable frames (%d skipped)", source.describe(),
                            source.skipped)
        self.load_seconds = time.perf_counter() - start
        if not self.clips:
            raise DataError("no usable frames in: "
                            + ", ".join(s.describe() for s in self.sources))

    # -- FrameSource ------------------------------------------------------------------------
    def sample_window(self, length: int, rng: np.random.Generator) -> list[np.ndarray]:
        """``length`` consecutive stored frames of one clip (the whole clip when it is shorter)."""
        if length < 1:
            raise ValueError(f"window length must be >= 1, got {length}")
        clip = self.clips[self._clip_of(int(rng.integers(self.num_frames)))]
        if len(clip) <= length:
            return list(clip)
        start = int(rng.integers(len(clip) - length + 1))
        return clip[start:start + length]

    def sample_image(self, rng: np.random.Generator) -> np.ndarray:
        """One stored frame, every frame equally likely."""
        return self.frame_at(int(rng.integers(self.num_frames)))

    def frame_at(self, index: int) -> np.ndarray:
        """Return the stored frame at flat position ``index`` (clips in loading order)."""
        if not 0 <= index < self.num_frames:
            raise ValueError(f"frame index {index} is outside 0..{self.num_frames - 1}")
        clip_index = self._clip_of(index)
        offset = index - (int(self._ends[clip_index - 1]) if clip_index else 0)
        return self.clips[clip_index][offset]

    def frame_index(self, frame: np.ndarray) -> int:
        """Flat position of a frame this sampler returned (the cached array itself)."""
        if self._positions is None:
            # The cache keeps every frame alive, so object ids are stable for the sampler's life.
            self._positions = {id(f): i for i, f in enumerate(f for c in self.clips for f in c)}
        index = self._positions.get(id(frame))
        if index is None:
            raise ValueError("not a frame of this sampler (a copy?): it has no position")
        return index

    def _clip_of(self, flat_index: int) -> int:
        return int(np.searchsorted(self._ends, flat_index, side="right"))

    # -- reporting --------------------------------------------------------------------------
    @property
    def num_clips(self) -> int:
        return len(self.clips)

    @property
    def longest_clip(self) -> int:
        return max(len(c) for c in self.clips)

    @property
    def skipped(self) -> int:
        return sum(s["frames_skipped"] for s in self._stats)

    def manifest(self) -> list[dict]:
        """Per source: kind, file name, path, size, sha256, frames used and skipped, stride."""
        entries = []
        for source, stats in zip(self.sources, self._stats):
            entry = source.manifest_entry()
            entry.update(stats)
            entry["stride"] = self.effective_stride
            entry["max_side"] = self.max_side or 0
            entries.append(entry)
        return entries

    def summary(self) -> str:
        return (f"{self.num_frames} frames in {self.num_clips} clip(s) from {len(self.sources)} "
                f"source(s), {self.nbytes / 2 ** 20:.1f} MB, stride {self.effective_stride}, "
                f"{self.skipped} skipped, loaded in {self.load_seconds:.1f} s")
