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
"""Synthetic clips (``synth:``): deterministic frames, no labels, spec errors, the sampler."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from unsup_tracker_training import synth
from unsup_tracker_training.sampler import FrameSampler
from unsup_tracker_training.sources import DataError, Source, open_sources


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three textured 'photos' of different sizes and colours."""
    folder = tmp_path_factory.mktemp("photos")
    for index, (height, width) in enumerate([(300, 400), (480, 640), (200, 260)]):
        rng = np.random.default_rng(index)
        cells = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
        image = cv2.resize(cv2.GaussianBlur(cells, (0, 0), 1.0), (width, height),
                           interpolation=cv2.INTER_LINEAR)
        image[..., index] = 255 - image[..., index] // 3
        assert cv2.imwrite(str(folder / f"photo{index}.png"), image)
    return folder


def frames_of(spec, stride=1):
    (source,) = open_sources([spec])
    return source, list(source.iter_frames(stride))


def test_clips_are_deterministic_and_yield_frames_only(photos):
    spec = f"synth,clips=4,frames=10,size=96x72,objects=2:{photos}"
    source, first = frames_of(spec)
    _, second = frames_of(spec)
    assert [clip for clip, _ in first] == [c for c in range(4) for _ in range(10)]
    for (clip_a, frame_a), (clip_b, frame_b) in zip(first, second, strict=True):
        assert clip_a == clip_b and np.array_equal(frame_a, frame_b)
    # Frames only: (clip id, BGR uint8 frame) pairs, nothing else.
    for item in first:
        assert len(item) == 2 and isinstance(item[0], int)
        assert item[1].shape == (72, 96, 3) and item[1].dtype == np.uint8
    # The source exposes nothing beyond the Source interface (no boxes, masks or paths).
    public = {name for name in dir(source) if not name.startswith("_")}
    assert public - set(dir(Source)) <= {"path", "skipped", "options", "num_clips", "from_spec"}
    assert not any(isinstance(v, np.ndarray) for k, v in vars(source).items()
                   if not k.startswith("_"))
    # The camera moves and the frames are not blank.
    assert not np.array_equal(first[0][1], first[9][1])
    assert all(frame.std() > 5 for _, frame in first)


def test_stride_and_clip_count_do_not_change_a_clip(photos):
    _, full = frames_of(f"synth,clips=3,frames=9,size=80x60:{photos}")
    _, strided = frames_of(f"synth,clips=3,frames=9,size=80x60:{photos}", stride=4)
    assert [c for c, _ in strided] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    kept = [full[9 * c + i] for c in range(3) for i in (0, 4, 8)]
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(kept, strided, strict=True))
    _, longer = frames_of(f"synth,clips=5,frames=9,size=80x60:{photos}")
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(full, longer[:27], strict=True))


def test_seed_options_and_manifest(photos):
    source, base = frames_of(f"synth,clips=2,frames=6,size=80x60:{photos}")
    other, reseeded = frames_of(f"synth,clips=2,frames=6,size=80x60,seed=1:{photos}")
    assert not np.array_equal(base[0][1], reseeded[0][1])
    entry, other_entry = source.manifest_entry(), other.manifest_entry()
    assert entry["kind"] == "synth" and entry["num_files"] == 3
    assert entry["synth"] == {"clips": 2, "frames": 6, "size": [80, 60], "seed": 0,
                              "objects": 1, "version": synth.SYNTH_VERSION}
    assert entry["sha256"] != other_entry["sha256"]
    # Default clips: one per photo; a single photo works too.
    default, _ = frames_of(f"synth,frames=3,size=80x60:{photos}")
    assert default.num_clips == 3 and default.estimate_frames() == 9
    single, frames = frames_of(f"synth,clips=2,frames=3,size=80x60:{photos / 'photo1.png'}")
    assert len(frames) == 6 and single.files() == [photos / "photo1.png"]
    assert synth.spec(photos, frames=3, size=(80, 60)) == f"synth,frames=3,size=80x60:{photos}"


@pytest.mark.parametrize("spec, message", [
    ("synth,clips=0:{p}", "clips must be 1.."),
    ("synth,frames=x:{p}", "frames must be"),
    ("synth,size=80:{p}", "size must be WIDTHxHEIGHT"),
    ("synth,size=8x8:{p}", "size must be WIDTHxHEIGHT"),
    ("synth,colour=1:{p}", "bad option 'colour=1'"),
    ("synth,clips:{p}", "bad option 'clips'"),
    ("synth:", "no photo path"),
    ("synth:{p}/missing", "does not exist"),
    ("synth:{p}/empty", "no photos for synth"),
])
def test_bad_specs_are_refused(photos, spec, message):
    (photos / "empty").mkdir(exist_ok=True)
    with pytest.raises(DataError, match=message):
        open_sources([spec.format(p=photos)])


def test_sampler_reads_synth_clips_as_video(photos):
    (source,) = open_sources([f"synth,clips=3,frames=8,size=64x48:{photos}"])
    sampler = FrameSampler([source], max_side=None)
    assert sampler.num_clips == 3 and sampler.num_frames == 24
    window = sampler.sample_window(5, np.random.default_rng(0))
    assert len(window) == 5 and all(frame.shape == (48, 64, 3) for frame in window)
    assert sampler.manifest()[0]["kind"] == "synth"
