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
"""Hyper-parameters: each component declares its defaults in one dataclass, refuses unknown keys.

A method's tracker parameters are a dataclass deriving from :class:`TrackerParams`; models and
training recipes use :class:`Params` the same way. ``from_overrides`` is the only way parameters
enter from outside (Python keyword arguments, YAML files, ROS parameters), so a typo such as
``scale_stpe`` is an error that names the valid keys instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, TypeVar

P = TypeVar("P", bound="Params")


class UnknownParameterError(KeyError):
    """An override names a key that the component does not declare."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclasses.dataclass
class Params:
    """Base of all hyper-parameter sets."""

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_overrides(cls: type[P], overrides: Mapping[str, Any] | None = None, **kwargs) -> P:
        merged = dict(overrides or {})
        merged.update(kwargs)
        valid = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - set(valid))
        if unknown:
            raise UnknownParameterError(
                f"{cls.__name__} has no parameter(s) {unknown}; valid keys: {sorted(valid)}"
            )
        values = {}
        for name, value in merged.items():
            values[name] = _coerce(name, value, valid[name], cls)
        params = cls(**values)
        params.validate()
        return params

    def replace(self: P, **kwargs) -> P:
        return type(self).from_overrides({**self.to_dict(), **kwargs})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise ValueError for values outside their meaningful range (subclasses do)."""


def _coerce(name: str, value: Any, field: dataclasses.Field, cls: type) -> Any:
    default = field.default if field.default is not dataclasses.MISSING else None
    if default is None and field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        default = field.default_factory()  # type: ignore[misc]
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes", "on"):
                    return True
                if value.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError(value)
            if isinstance(value, (bool, int)) and value in (0, 1, True, False):
                return bool(value)
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            result = float(value)
            if not math.isfinite(result):
                raise ValueError(value)
            return result
        if kind is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if kind in (tuple, list):
            return kind(value)
    except (TypeError, ValueError, OverflowError) as exc:  # Overflow: an int beyond float range
        shown = repr(value)
        raise ValueError(
            f"{cls.__name__}.{name} expects a {kind.__name__}, got "
            f"{shown if len(shown) <= 80 else shown[:60] + '...'}"
        ) from exc
    return value


#: Upper bounds on the sizes and budgets a user can set: an init (which fine-tunes in the node's
#: service call) or a frame must not be able to block a node for minutes or exhaust its memory.
MAX_FINETUNE_SECONDS = 30.0
MAX_FINETUNE_STEPS = 1_000_000
MAX_NUM_SCALES = 15
#: Target size factors of the long-term layer's successive full-frame scans (the size may change
#: while out of view); a method uses the first ``TrackerParams.scan_sizes`` of them.
SCAN_SCALES = (1.0, 0.75, 1.33, 1.78, 0.56)


@dataclasses.dataclass
class TrackerParams(Params):
    """Parameters every tracker has, whatever the method."""

    #: A result whose confidence is below this is reported as lost (the box is still given).
    lost_score_threshold: float = 0.15
    #: Self-supervised fine-tuning on the first frame before tracking starts.
    finetune: bool = False
    #: Wall-clock budget of that fine-tuning, seconds.
    finetune_seconds: float = 0.5
    #: Upper bound on its gradient steps.
    finetune_steps: int = 10
    #: Its learning rate.
    finetune_lr: float = 1e-3
    #: Report a target mask with every box: the method's own, else the shared label-free mask
    #: stage's (:mod:`unsup_tracker.masks`).
    mask: bool = False
    #: Settings of that mask stage (:class:`unsup_tracker.masks.MaskStageParams`; unknown keys
    #: are refused), e.g. ``{"kind": "grabcut"}``.
    mask_settings: dict = dataclasses.field(default_factory=dict)
    #: Long-term layer (:mod:`unsup_tracker.long_term`): lost decision, frozen model while
    #: lost, widening search and re-acquisition. Applied by ``build_tracker``.
    long_term: bool = True
    #: Long-term layer: lost after ``lost_patience`` consecutive frames whose score is below
    #: ``lost_score_threshold`` or whose match with the template (``Tracker.match_score``,
    #: 1 = as on the first frame) is below this.
    lost_match_threshold: float = 0.25
    lost_patience: int = 3
    #: ... or whose match is below this fraction of the running mean of the confident frames'
    #: matches (0 = off: the floors alone); gradual change of the target's look moves the mean
    #: with it, an occlusion does not.
    lost_drop_ratio: float = 0.0
    #: ... or at once when the match falls below this fraction of its recent confident mean.
    collapse_ratio: float = 0.3
    #: A re-detection candidate must match the first-frame template (and memory) this well
    #: (``Candidate.score``); each method sets its own default.
    reacquire_threshold: float = 0.5
    #: ... or when the best candidate of ``reacquire_confirm_frames`` consecutive searching
    #: frames stays at one place (centres within half the target's smaller side) and scores at
    #: least this (0 = off): a target that changed while away stands out from the background
    #: frame after frame below ``reacquire_threshold``, a background peak seldom stays the
    #: best. Each method sets its own default.
    reacquire_confirm_threshold: float = 0.0
    reacquire_confirm_frames: int = 3
    #: While lost, the method's own (frozen) local track ends the lost state when for
    #: ``recover_frames`` consecutive frames its match is at least this and its score at least
    #: ``lost_score_threshold`` (the target came back where the local track is: no search
    #: candidate needs to reach ``reacquire_threshold``); each method sets its own default.
    recover_match_threshold: float = 0.5
    recover_frames: int = 3
    #: When > 0 the recovery level is at most this fraction of the confident frames' mean
    #: match at the loss (a target whose look had drifted comes back looking as it did then),
    #: never below ``lost_match_threshold``; must exceed ``lost_drop_ratio``.
    recover_ratio: float = 0.0
    #: Search windows evaluated per frame while lost (the search is spread over frames).
    search_windows_per_frame: int = 4
    #: Successive full-frame scans assume the target size times the first ``scan_sizes``
    #: factors of :data:`SCAN_SCALES` in turn: a target may come back nearer or farther. More
    #: sizes make each come round later.
    scan_sizes: int = 3

    def validate(self) -> None:
        if not 0 <= self.finetune_seconds <= MAX_FINETUNE_SECONDS:
            raise ValueError(f"finetune_seconds must be in [0, {MAX_FINETUNE_SECONDS:g}]")
        if not 0 <= self.finetune_steps <= MAX_FINETUNE_STEPS:
            raise ValueError(f"finetune_steps must be in [0, {MAX_FINETUNE_STEPS}]")
        if self.finetune_lr <= 0:
            raise ValueError("finetune_lr must be > 0")
        if not 1 <= self.lost_patience <= 1000 or not 1 <= self.search_windows_per_frame <= 64:
            raise ValueError("lost_patience must be in [1, 1000] and search_windows_per_frame "
                             "in [1, 64]")
        if not 1 <= self.scan_sizes <= len(SCAN_SCALES):
            raise ValueError(f"scan_sizes must be in [1, {len(SCAN_SCALES)}]")
        if not 1 <= self.recover_frames <= 1000 or not 1 <= self.reacquire_confirm_frames <= 1000:
            raise ValueError("recover_frames and reacquire_confirm_frames must be in [1, 1000]")
        if not 0.0 <= self.reacquire_confirm_threshold <= 10.0:
            raise ValueError("reacquire_confirm_threshold must be in [0, 10] (0 = off)")
        if not 0.0 <= self.collapse_ratio < 1.0 or not 0.0 <= self.lost_drop_ratio < 1.0:
            raise ValueError("collapse_ratio and lost_drop_ratio must be in [0, 1)")
        if not (self.recover_ratio == 0.0
                or self.lost_drop_ratio < self.recover_ratio <= 10.0):
            raise ValueError("recover_ratio must be 0 (off) or in (lost_drop_ratio, 10]")
        if self.reacquire_threshold <= 0 or self.recover_match_threshold <= 0:
            raise ValueError("reacquire_threshold and recover_match_threshold must be > 0")
        self.mask_stage_params()  # refuses unknown keys and bad values now, not on first frame

    def mask_stage_params(self):
        """Return the mask stage's validated :class:`~unsup_tracker.masks.MaskStageParams`."""
        from .masks import MaskStageParams  # masks imports this module

        if not isinstance(self.mask_settings, dict):
            raise ValueError(f"mask_settings must be a mapping, got "
                             f"{type(self.mask_settings).__name__}")
        return MaskStageParams.from_overrides(self.mask_settings)
