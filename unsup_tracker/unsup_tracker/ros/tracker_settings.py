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

from typing import Any, Mapping, Optional

from .common import ParameterError, as_float

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
    "publish_mask": (True, "publish ~/mask for methods that give masks"),
    "lost_score_threshold": (-1.0, "below this score the target is lost; negative = method's"),
    "frame_buffer_size": (30, "received frames kept for stamp-matched ~/init"),
    "image_reliability": ("best_effort", "QoS reliability of the image subscription"),
    "stats_period": (5.0, "seconds between latency/FPS log lines; 0 = never"),
    "publish_timing": (False, "publish per-frame timing on ~/timing (benchmarks)"),
    "torch_threads": (0, "torch intra-op threads; 0 = torch's default"),
}
#: Read once at start-up; changing them needs a restart.
STARTUP_ONLY = ("image_reliability", "frame_buffer_size", "publish_timing", "torch_threads")
#: Method parameter names that switch the online model update on/off, in order of preference.
ONLINE_UPDATE_KEYS = ("online_update", "update_model", "model_update")
#: Method parameter names of the online update (model interpolation) rate.
UPDATE_RATE_KEYS = ("update_rate", "interp_factor", "model_update_rate")
#: Method parameters that are set through the top-level node parameters only.
TOP_LEVEL_ONLY = ("lost_score_threshold", "finetune") + ONLINE_UPDATE_KEYS + UPDATE_RATE_KEYS


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
) -> tuple[dict, Optional[str]]:
    """Build and check the overrides for ``spec.params_cls``; returns (overrides, warning).

    ``namespaced`` holds the ``<method>.<key>`` values without the prefix. Raises
    :class:`ParameterError` (or the params class's ValueError) naming the offending key.
    """
    misplaced = sorted(set(namespaced) & set(TOP_LEVEL_ONLY))
    if misplaced:
        raise ParameterError(
            f"set {misplaced} through the top-level parameters (online_update, update_rate, "
            f"lost_score_threshold, finetune), not as {spec.name}.<key>"
        )
    overrides = {
        key: (
            tuple(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
        )
        for key, value in namespaced.items()
    }
    overrides["finetune"] = bool(finetune)
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
