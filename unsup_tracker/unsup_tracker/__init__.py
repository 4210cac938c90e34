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
"""unsup_tracker: single-object trackers learned without labels.

    from unsup_tracker import build_tracker
    tracker = build_tracker("udt")          # shipped weights, CUDA when present
    tracker.init(first_frame_bgr, (x, y, w, h))
    result = tracker.track(next_frame_bgr)  # TrackResult(box, score, mask, lost)

This package (the core) imports neither ROS nor the training module.
"""
__version__ = "0.1.0"

import importlib

# Names are imported on first use (PEP 562) so that modules which need no torch, such as the
# camera and visualization nodes, start without paying torch's import (2-5 s, ~200 MB).
_EXPORTS = {
    "Checkpoint": ".checkpoint", "CheckpointError": ".checkpoint",
    "load_checkpoint": ".checkpoint", "save_checkpoint": ".checkpoint",
    "InvalidBoxError": ".geometry",
    "UnknownParameterError": ".params",
    "UNTRAINED": ".registry", "build_model": ".registry", "build_tracker": ".registry",
    "get_method": ".registry", "list_methods": ".registry",
    "InvalidImageError": ".tracker_base", "Tracker": ".tracker_base",
    "TrackResult": ".tracker_base",
}

__all__ = [
    "build_tracker", "build_model", "list_methods", "get_method", "UNTRAINED",
    "Tracker", "TrackResult", "Checkpoint", "CheckpointError", "load_checkpoint",
    "save_checkpoint", "InvalidBoxError", "InvalidImageError", "UnknownParameterError",
]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
