"""The one way a test says "this needs installed footage": every such skip goes through here.

``make setup`` installs the footage (Debian's opencv-doc and lomiri-wallpapers-16.04). A test that
cannot run without it calls :func:`skip_footage_missing` (or a ``require_*`` helper), so the skip
reason always starts with :data:`FOOTAGE_MISSING` and one place decides what a missing package
means (a skip on a developer's machine; CI can turn it into a failure here).
"""
import pytest

from unsup_tracker import sample_data
from unsup_tracker.evaluation import devbench

FOOTAGE_MISSING = "footage missing"


def skip_footage_missing(reason) -> None:
    """Skip the calling test because footage is not installed."""
    pytest.skip(f"{FOOTAGE_MISSING}: {reason} (make setup installs it)")


def require_opencv_doc():
    """The opencv-doc directory, or a footage-missing skip."""
    try:
        return sample_data.opencv_doc_dir()
    except FileNotFoundError as exc:
        skip_footage_missing(exc)


def require_devbench_footage():
    """Every development-benchmark source file, or a footage-missing skip."""
    try:
        return devbench.source_files()
    except devbench.FootageMissingError as exc:
        skip_footage_missing(exc)
