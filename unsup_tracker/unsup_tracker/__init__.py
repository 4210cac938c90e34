"""unsup_tracker: single-object trackers learned without labels.

    from unsup_tracker import build_tracker
    tracker = build_tracker("udt")          # shipped weights, CUDA when present
    tracker.init(first_frame_bgr, (x, y, w, h))
    result = tracker.track(next_frame_bgr)  # TrackResult(box, score, mask, lost)

This package (the core) imports neither ROS nor the training module.
"""
__version__ = "0.1.0"

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from .geometry import InvalidBoxError  # noqa: E402
from .params import UnknownParameterError  # noqa: E402
from .registry import UNTRAINED, build_model, build_tracker, get_method, list_methods  # noqa: E402
from .tracker_base import InvalidImageError, Tracker, TrackResult  # noqa: E402

__all__ = [
    "build_tracker", "build_model", "list_methods", "get_method", "UNTRAINED",
    "Tracker", "TrackResult", "Checkpoint", "CheckpointError", "load_checkpoint",
    "save_checkpoint", "InvalidBoxError", "InvalidImageError", "UnknownParameterError",
]
