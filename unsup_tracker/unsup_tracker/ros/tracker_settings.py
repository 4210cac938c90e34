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
"""tracker_node's parameters and how they become a method's hyper-parameters (no rclpy here).

Kept apart from the node so the mapping and the shipped YAML files can be checked without ROS.

Per-method hyper-parameters are ROS parameters named ``<method>.<key>`` (in YAML a ``udt:``
mapping under ``ros__parameters``). The generic settings live at top level only, so one value
cannot be given twice: ``lost_score_threshold`` (negative = the method's default), ``finetune``
(an ``~/init`` request's ``finetune: true`` also turns it on), and the online model update:
``online_update`` maps onto the method's switch (:data:`ONLINE_UPDATE_KEYS`) and ``update_rate``
(negative = the method's default) onto its rate (:data:`UPDATE_RATE_KEYS`). A method with a rate
but no switch gets rate 0 for ``online_update: false``; a method with neither gets a warning.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Optional

from ..params import UnknownParameterError
from ..targets import check_max_targets
from .common import RELIABILITIES, ParameterError, as_bool, as_choice, as_float, as_int, as_str

#: name: (default, description) of every tracker_node parameter except ``<method>.<key>``.
NODE_PARAMETERS = {
    "method": ("udt", "tracking method (see `unsup-tracker methods`)"),
    "checkpoint": (
        "",
        "checkpoint file; empty = the method's shipped weights; 'untrained' = fresh",
    ),
    "device": ("auto", "auto, cpu, cuda or cuda:N"),
    "online_update": (True, "update the target model online while tracking"),
    "update_rate": (-1.0, "online update rate in [0, 1]; negative = the method's default"),
    "finetune": (False, "self-supervised first-frame fine-tuning for every ~/init"),
    "publish_mask": (True, "publish ~/mask: each method's own masks, else the shared mask "
                           "stage's (unsup_tracker.masks)"),
    "lost_score_threshold": (-1.0, "below this score the target is lost; negative = method's"),
    "frame_buffer_size": (30, "received frames kept for stamp-matched ~/init"),
    "image_reliability": ("best_effort", "QoS reliability of the image subscription"),
    "stats_period": (5.0, "seconds between latency/FPS log lines; 0 = never"),
    "publish_timing": (False, "publish per-frame timing on ~/timing (benchmarks)"),
    "torch_threads": (0, "torch intra-op threads; 0 = torch's default"),
    "max_targets": (8, "targets tracked at once; ~/init beyond it is refused"),
    "init_detections": (False, "start targets from Detection2DArray on init_detections"),
    "init_class_id": ("", "class_id a detection must have to start a target; '' = any"),
    "init_min_score": (0.5, "lowest detection score that starts a target"),
    "init_overlap_iou": (0.1, "a detection overlapping a target by more IoU starts none"),
    "diagnostics_period": (1.0, "seconds between /diagnostics messages; 0 = none"),
    "init_clicks": (True, "start a target at a geometry_msgs/Point on image_mouse_left"),
}
#: Read once at start-up; changing them needs a restart.
STARTUP_ONLY = ("image_reliability", "frame_buffer_size", "publish_timing", "torch_threads",
                "init_detections", "diagnostics_period", "init_clicks")
#: Method parameter names that switch the online model update on/off, in order of preference.
ONLINE_UPDATE_KEYS = ("online_update", "update_model", "model_update")
#: Method parameter names of the online update (model interpolation) rate.
UPDATE_RATE_KEYS = ("update_rate", "interp_factor", "model_update_rate")
#: Method parameters that are set through the top-level node parameters only.
TOP_LEVEL_ONLY = ("lost_score_threshold", "finetune", "mask", "mask_settings") + \
    ONLINE_UPDATE_KEYS + UPDATE_RATE_KEYS


def update_rate(value: Any) -> float:
    """Check ``update_rate``: a number in [0, 1], or negative for the method's default (-1)."""
    rate = as_float("update_rate", value)
    return -1.0 if rate < 0 else as_float("update_rate", rate, 0.0, 1.0)


def method_overrides(
    spec,
    namespaced: Mapping[str, Any],
    online_update: bool,
    rate: float,
    lost_score_threshold: float,
    finetune: bool,
    mask: bool = False,
) -> tuple[dict, Optional[str]]:
    """Build and check the overrides for ``spec.params_cls``; returns (overrides, warning).

    ``namespaced`` holds the ``<method>.<key>`` values without the prefix. Raises
    :class:`ParameterError` (or the params class's ValueError) naming the offending key.
    """
    misplaced = sorted(set(namespaced) & set(TOP_LEVEL_ONLY))
    if misplaced:
        raise ParameterError(
            f"set {misplaced} through the top-level parameters (online_update, update_rate, "
            f"lost_score_threshold, finetune, publish_mask), not as {spec.name}.<key>"
        )
    overrides = {
        key: (
            tuple(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
        )
        for key, value in namespaced.items()
    }
    overrides["finetune"] = bool(finetune)
    # publish_mask asks every target for a mask: the method's own, else the shared mask stage's.
    overrides["mask"] = bool(mask)
    if lost_score_threshold >= 0:
        overrides["lost_score_threshold"] = float(lost_score_threshold)
    keys = set(spec.params_cls.keys())
    switch = next((k for k in ONLINE_UPDATE_KEYS if k in keys), None)
    rate_key = next((k for k in UPDATE_RATE_KEYS if k in keys), None)
    warning = None
    if switch:
        overrides[switch] = bool(online_update)
    elif not online_update and rate_key:
        overrides[rate_key] = 0.0
    if rate >= 0 and rate_key and (online_update or switch):
        overrides[rate_key] = float(rate)
    if (not online_update or rate >= 0) and not (switch or rate_key):
        warning = (
            f"method {spec.name!r} has no online update setting; "
            "online_update/update_rate ignored"
        )
    spec.params_cls.from_overrides(overrides)  # refuses unknown keys and bad values now
    return overrides, warning


def check_startup_parameters(values: Mapping[str, Any]) -> dict:
    """Check the node-level parameters read once at start-up; return them converted.

    Raises :class:`ParameterError` (the node exits with status 2; the launch file refuses to
    start). Missing names take their defaults.
    """

    def value(name):
        return values.get(name, NODE_PARAMETERS[name][0])

    return {
        "image_reliability": as_choice(
            "image_reliability", value("image_reliability"), RELIABILITIES
        ),
        "frame_buffer_size": as_int("frame_buffer_size", value("frame_buffer_size"), 1, 10000),
        "stats_period": as_float("stats_period", value("stats_period"), 0.0, 3600.0),
        "publish_timing": as_bool("publish_timing", value("publish_timing")),
        "publish_mask": as_bool("publish_mask", value("publish_mask")),
        "torch_threads": as_int("torch_threads", value("torch_threads"), 0, 256),
        "max_targets": max_targets(value("max_targets")),
        "init_detections": as_bool("init_detections", value("init_detections")),
        "init_clicks": as_bool("init_clicks", value("init_clicks")),
        "init_class_id": as_str("init_class_id", value("init_class_id")),
        "init_min_score": as_float("init_min_score", value("init_min_score")),
        "init_overlap_iou": as_float("init_overlap_iou", value("init_overlap_iou"), 0.0, 1.0),
        "diagnostics_period": as_float(
            "diagnostics_period", value("diagnostics_period"), 0.0, 3600.0
        ),
    }


def max_targets(value: Any) -> int:
    """Check ``max_targets`` (see :func:`unsup_tracker.targets.check_max_targets`)."""
    try:
        return check_max_targets(value)
    except ValueError as exc:
        raise ParameterError(f"parameter {exc}") from None


@dataclasses.dataclass
class TrackerConfig:
    """Everything needed to build a tracker, checked."""

    method: str
    spec: Any
    checkpoint: Optional[str]
    device: Any
    overrides: dict
    finetune: bool

    @property
    def model_key(self) -> tuple:
        return self.method, self.checkpoint, str(self.device)


def build_tracker_config(
    values: dict, method: str = "", finetune: bool = False
) -> tuple[TrackerConfig, Optional[str]]:
    """Build the checked tracker settings from parameter values; returns (config, warning).

    ``values`` maps parameter names (``<method>.<key>`` included) to values; ``method`` is the
    request's method (empty: the ``method`` parameter). Raises :class:`ParameterError`,
    ValueError or :class:`UnknownParameterError` naming the offending setting.
    """
    from ..device import resolve_device
    from ..registry import UNTRAINED, get_method

    def value(name):
        return values.get(name, NODE_PARAMETERS[name][0])

    method = method or as_str("method", value("method"))
    spec = get_method(method)  # ValueError names the available methods
    checkpoint = as_str("checkpoint", value("checkpoint")).strip()
    if checkpoint and checkpoint != UNTRAINED:
        checkpoint = str(Path(checkpoint).expanduser())
    device = resolve_device(as_str("device", value("device")))
    online = as_bool("online_update", value("online_update"))
    rate = update_rate(value("update_rate"))
    lost = as_float("lost_score_threshold", value("lost_score_threshold"))
    finetune = finetune or as_bool("finetune", value("finetune"))
    prefix = f"{spec.name}."
    namespaced = {
        name[len(prefix):]: setting
        for name, setting in values.items()
        if name.startswith(prefix)
    }
    mask = as_bool("publish_mask", value("publish_mask"))
    overrides, warning = method_overrides(spec, namespaced, online, rate, lost, finetune, mask)
    return TrackerConfig(spec.name, spec, checkpoint or None, device, overrides, finetune), warning


def settings_error(values: dict, method: str) -> Optional[str]:
    """Return why ``values`` give no usable settings for ``method``, or None."""
    try:
        build_tracker_config(values, method)
    except (ParameterError, ValueError, UnknownParameterError) as exc:
        return str(exc)
    return None


def check_changed_parameter(name: str, value: Any) -> None:
    """Check one changed parameter on its own; raise :class:`ParameterError` with the reason."""
    from ..device import resolve_device
    from ..registry import UNTRAINED, get_method

    if name in STARTUP_ONLY:
        raise ParameterError(f"'{name}' is read at start-up only; restart the node to change it")
    if name == "method":
        get_method(as_str(name, value))
    elif name == "checkpoint":
        path = as_str(name, value).strip()
        if path and path != UNTRAINED and not Path(path).expanduser().is_file():
            raise ParameterError(
                f"checkpoint {path!r} is not a file (use '' for the shipped weights or "
                f"'{UNTRAINED}' for fresh ones)"
            )
    elif name == "device":
        resolve_device(as_str(name, value))
    elif name in ("online_update", "finetune", "publish_mask"):
        as_bool(name, value)
    elif name == "update_rate":
        update_rate(value)
    elif name == "lost_score_threshold":
        as_float(name, value)
    elif name == "stats_period":
        as_float(name, value, 0.0, 3600.0)
    elif name == "max_targets":
        max_targets(value)
    elif name == "init_class_id":
        as_str(name, value)
    elif name == "init_min_score":
        as_float(name, value)
    elif name == "init_overlap_iou":
        as_float(name, value, 0.0, 1.0)
