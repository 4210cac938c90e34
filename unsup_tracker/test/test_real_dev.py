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
"""The loader reads the real annotated development set (skipped where it is absent).

real_dev lives outside the repository (``/work/shared/real_dev`` or ``../shared/real_dev``
relative to the checkout); a user's checkout does not have it.
"""
from pathlib import Path

import numpy as np
import pytest

from unsup_tracker.evaluation.dataset import load_dataset

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [Path("/work/shared/real_dev"), REPO.parent / "shared" / "real_dev"]
# Frame counts and sizes from real_dev/README.md.
EXPECTED = {
    "otb_Bird2": (99, (720, 400)),
    "otb_Crossing": (120, (360, 240)),
    "otb_David": (471, (320, 240)),
    "otb_Girl": (500, (128, 96)),
    "vot_bag": (196, (480, 360)),
    "dtb_Surfing06": (106, (1280, 720)),
}


@pytest.fixture(scope="module")
def real_dev():
    for candidate in CANDIDATES:
        if (candidate / "list.txt").is_file():
            return candidate
    pytest.skip("real_dev is not available here")


def test_all_sequences_load_with_readme_counts(real_dev):
    sequences = load_dataset(real_dev)
    assert [s.name for s in sequences] == list(EXPECTED)
    assert sum(len(s) for s in sequences) == 1492
    for sequence in sequences:
        frames, (width, height) = EXPECTED[sequence.name]
        assert len(sequence) == frames
        first = sequence.load_frame(0)
        assert first.shape == (height, width, 3)
        assert sequence.present[0]
        x, y, w, h = sequence.groundtruth[0]
        # 1-based OTB boxes became 0-based: the first box still lies on the image.
        assert 0 <= x < width and 0 <= y < height and w > 0 and h > 0
        assert np.isfinite(sequence.groundtruth).all()  # no absent frames in these six
