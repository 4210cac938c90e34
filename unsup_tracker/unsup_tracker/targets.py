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
"""Several single-object trackers on one image stream: ids, limits, lost state, batching.

No ROS here: ``ros/tracker_node.py`` is the plumbing (topics, services, threads) around a
:class:`TargetManager`, and anything else that tracks several targets on one camera (a script, a
benchmark) can use it the same way.

Decisions:

- Ids are ``<method>-<n>`` with one counter per manager, never reused, so a client that stopped
  ``udt-2`` cannot confuse a later target with it.
- ``max_targets`` counts every target the manager holds, lost ones included: a lost target is
  still searched for on every frame and costs as much as a followed one. Past it,
  :meth:`TargetManager.check_room` raises :class:`TooManyTargetsError` (checked before the
  tracker is built, so a refused request costs nothing, and again when it is added).
- Batching: targets whose trackers are of the same class and share one model object are tracked
  by that class's ``track_batch(trackers, image)`` when it has one (one network pass for all of
  them, see ``methods/udt/tracker.py``); every other target by its own ``track()``. A failure of
  one group is reported for that group's targets only.
- Masks: :func:`compose_masks` paints every target's mask into one mono8 image with the value
  ``index + 1`` of the target in the list given (0 = background; where masks overlap the later
  target wins), which is how tracker_node's ``~/mask`` is documented.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Any, Callable, Iterable, Optional

import numpy as np

from .tracker_base import TrackResult

#: Largest ``max_targets`` accepted (the mask's values are 1..255).
MAX_TARGETS_LIMIT = 255


class TooManyTargetsError(ValueError):
    """Adding a target would exceed ``max_targets``."""


class UnknownTargetError(LookupError):
    """No live target has the given id."""


@dataclasses.dataclass(eq=False)
class Target:
    """One tracked object: its tracker and where it started."""

    track_id: str
    method: str
    tracker: Any
    init_stamp_ns: int
    #: (width, height) of the init frame: the tracker's geometry.
    size: tuple
    #: Frames between the init frame and the present still have to be tracked (not published).
    catch_up: bool = False
    lost: bool = False
    #: Latest (x, y, w, h) box: the init box, then every tracked frame's.
    box: Optional[np.ndarray] = None
    #: Stamp of the newest frame tracked (the init frame until one is): an older or repeated
    #: stamp would move the tracker's state back in time.
    last_stamp_ns: int = -1

    def __post_init__(self):
        self.last_stamp_ns = max(self.last_stamp_ns, self.init_stamp_ns)


def check_max_targets(value: Any) -> int:
    """Return ``value`` as a valid ``max_targets`` or raise ValueError saying why."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"max_targets must be an integer, got {value!r}")
    if not 1 <= value <= MAX_TARGETS_LIMIT:
        raise ValueError(f"max_targets must be in [1, {MAX_TARGETS_LIMIT}], got {value}")
    return value


class TargetManager:
    """Hold the live targets of one image stream; thread-safe (one internal lock)."""

    def __init__(self, max_targets: int = 8):
        self._max_targets = check_max_targets(max_targets)
        self._targets: dict[str, Target] = {}
        self._counter = 0
        self._lock = threading.Lock()

    @property
    def max_targets(self) -> int:
        return self._max_targets

    @max_targets.setter
    def max_targets(self, value: int) -> None:
        # Lowering it below the current count keeps the targets; only new ones are refused.
        self._max_targets = check_max_targets(value)

    def check_room(self) -> None:
        """Raise :class:`TooManyTargetsError` when no further target may be added."""
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if len(self._targets) >= self._max_targets:
            raise TooManyTargetsError(
                f"refused: {len(self._targets)} targets are tracked and max_targets is "
                f"{self._max_targets} (stop one by id or raise max_targets)"
            )

    def add(self, method: str, tracker: Any, init_stamp_ns: int, size: tuple,
            catch_up: bool = False) -> Target:
        """Add an initialised tracker as a new target and return it (with its new id)."""
        with self._lock:
            self._check_room()
            self._counter += 1
            target = Target(f"{method}-{self._counter}", method, tracker, int(init_stamp_ns),
                            tuple(size), catch_up)
            self._targets[target.track_id] = target
            return target

    def remove(self, track_id: str) -> Target:
        """Remove and return the target ``track_id``; :class:`UnknownTargetError` if none."""
        with self._lock:
            target = self._targets.pop(track_id, None)
            if target is None:
                live = sorted(self._targets) or "none"
                raise UnknownTargetError(f"no target {track_id!r}; live targets: {live}")
            return target

    def discard(self, target: Target) -> bool:
        """Remove ``target`` if it is still held; return whether it was."""
        with self._lock:
            if self._targets.get(target.track_id) is target:
                del self._targets[target.track_id]
                return True
            return False

    def clear(self) -> list[Target]:
        """Remove and return every target."""
        with self._lock:
            targets = list(self._targets.values())
            self._targets.clear()
            return targets

    def targets(self) -> list[Target]:
        """Return the targets in the order they were added (a snapshot)."""
        with self._lock:
            return list(self._targets.values())

    def holds(self, target: Target) -> bool:
        with self._lock:
            return self._targets.get(target.track_id) is target

    def counts(self) -> tuple[int, int]:
        """Return (followed, lost) target counts."""
        with self._lock:
            lost = sum(1 for t in self._targets.values() if t.lost)
            return len(self._targets) - lost, lost

    def __len__(self) -> int:
        with self._lock:
            return len(self._targets)


def track_targets(
    targets: Iterable[Target],
    image: np.ndarray,
    on_error: Optional[Callable[[list[Target], Exception], None]] = None,
) -> list[tuple[Target, Optional[TrackResult]]]:
    """Track every target on ``image``; returns (target, result or None) in the given order.

    Targets whose trackers share class and model are batched (see the module docstring). A
    group whose tracking raises gets None results; ``on_error(group, exc)`` is told, and the
    exception is re-raised when no ``on_error`` is given.
    """
    targets = list(targets)
    results: dict[int, Optional[TrackResult]] = {}
    for group in _batches(targets):
        trackers = [target.tracker for target in group]
        try:
            batch = getattr(type(trackers[0]), "track_batch", None)
            if batch is not None and len(group) > 1:
                outcome = batch(trackers, image)
            else:
                outcome = [tracker.track(image) for tracker in trackers]
        except Exception as exc:  # noqa: BLE001 - reported per group, the others go on
            if on_error is None:
                raise
            on_error(group, exc)
            outcome = [None] * len(group)
        for target, result in zip(group, outcome):
            results[id(target)] = result
    return [(target, results[id(target)]) for target in targets]


def _batches(targets: list[Target]) -> list[list[Target]]:
    groups: dict[tuple, list[Target]] = {}
    for target in targets:
        model = getattr(target.tracker, "model", None)
        key = (type(target.tracker), id(model) if model is not None else id(target))
        groups.setdefault(key, []).append(target)
    return list(groups.values())


def compose_masks(shape: tuple, masks: Iterable[Optional[np.ndarray]]) -> Optional[np.ndarray]:
    """Paint the i-th mask (> 127) with value i + 1 into one uint8 ``shape`` image.

    None entries and masks of another shape are skipped (their index is still used); returns
    None when no mask was painted.
    """
    out = np.zeros(shape[:2], dtype=np.uint8)
    painted = False
    for index, mask in enumerate(masks):
        if mask is None or mask.shape[:2] != out.shape:
            continue
        if index + 1 > MAX_TARGETS_LIMIT:
            raise ValueError(f"at most {MAX_TARGETS_LIMIT} masks fit into a mono8 image")
        out[mask > 127] = index + 1
        painted = True
    return out if painted else None
