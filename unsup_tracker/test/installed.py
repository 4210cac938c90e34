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
"""What tests need that `make setup` installs or the repository ships: skip locally, fail in CI.

Every test that cannot run without installed footage (Debian's opencv-doc and
lomiri-wallpapers-16.04) or a shipped checkpoint goes through here. CI (``CI`` set to a true
value) has both, so a test that would skip there fails instead: a broken install or a lost
checkpoint cannot turn into a green run of skips. Elsewhere the test skips with the reason
printed (``-rs``); footage reasons start with :data:`FOOTAGE_MISSING`. real_dev is not covered
here: it may be absent anywhere, CI included.
"""
import os
from pathlib import Path

import pytest

from unsup_tracker.evaluation import devbench
from unsup_tracker.registry import get_method
from unsup_tracker.sample_data import available_sample_videos, opencv_doc_dir

FOOTAGE_MISSING = "footage missing"


def in_ci() -> bool:
    """Tell whether the ``CI`` environment variable holds a true value (CI sets ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def missing(reason: str) -> None:
    """Skip the test with ``reason``, or fail it in CI, where nothing may be missing."""
    if in_ci():
        pytest.fail(f"{reason} (CI must have it, so this is a failure there, not a skip)")
    pytest.skip(reason)


def footage_missing(reason) -> None:
    """Skip (fail in CI) the calling test because footage is not installed."""
    missing(f"{FOOTAGE_MISSING}: {reason} (make setup installs it)")


def require_footage(video: str = "") -> Path:
    """Return the opencv-doc directory (and check ``video`` is among its sample videos)."""
    try:
        root = opencv_doc_dir()
    except FileNotFoundError as exc:
        footage_missing(exc)
    if video and video not in available_sample_videos():
        footage_missing(f"opencv-doc's {video} is not installed")
    return root


def require_devbench_footage() -> list[Path]:
    """Return every development-benchmark source file."""
    try:
        return devbench.source_files()
    except devbench.FootageMissingError as exc:
        footage_missing(exc)


def require_shipped_weights(method: str) -> Path:
    """Return the shipped checkpoint of ``method``."""
    path = get_method(method).shipped_checkpoint
    if not path.is_file():
        missing(f"no shipped {method} checkpoint at {path}")
    return path


def shipped_weights_or_untrained(method: str) -> str:
    """``''`` (the node's shipped weights) when shipped, else ``'untrained'`` (fails in CI)."""
    if get_method(method).shipped_checkpoint.is_file():
        return ""
    if in_ci():
        pytest.fail(f"no shipped {method} checkpoint (CI must have it)")
    return "untrained"
