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
"""Development benchmark: deterministic, masks agree with boxes, absent frames when asked.

Skipped locally (failed in CI) when the benchmark's raw material (Debian's opencv-doc and
lomiri-wallpapers-16.04) is not installed.
"""
import dataclasses
import json

import numpy as np
import pytest
from installed import require_devbench_footage

from unsup_tracker import sample_data
from unsup_tracker.cli import main
from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.dataset import load_dataset, load_sequence


def _footage():
    require_devbench_footage()
    return devbench.Footage()


def _specs():
    base = devbench.make_specs(seed=5, num_sequences=1, num_frames=24, frame_size=(192, 144))[0]
    # An opencv-doc background with the target leaving the frame and a full occlusion, and a
    # (large, so shrunk) wallpaper background without either.
    hidden = dataclasses.replace(
        base, name="hidden", background="building.jpg",
        attributes=("camera_motion", "out_of_view", "full_occlusion", "distractor"))
    visible = dataclasses.replace(
        base, name="visible", seed=(5, 1), background="friends_by_Aitzol_Berasategi.jpg",
        target=devbench.TARGET_PHOTOS[0],
        attributes=("camera_motion", "motion_blur", "rotation", "illumination", "distractor"))
    return hidden, visible


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    roots = []
    for copy in ("a", "b"):
        footage = _footage()  # a fresh instance each time: nothing cached between the runs
        root = tmp_path_factory.mktemp(f"devbench_{copy}")
        for spec in _specs():
            devbench.render_sequence(spec, root, footage)
        roots.append(root)
    return roots


def test_same_seed_same_bytes(generated):
    first, second = generated
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 2 * (2 * 24 + 2)  # frames + masks + groundtruth + meta, two sequences
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_other_seed_differs(tmp_path, generated):
    hidden, _ = _specs()
    other = dataclasses.replace(hidden, seed=(6, 0))
    devbench.render_sequence(other, tmp_path, _footage())
    assert ((tmp_path / "hidden" / "groundtruth_rect.txt").read_text()
            != (generated[0] / "hidden" / "groundtruth_rect.txt").read_text())


def test_masks_agree_with_boxes(generated):
    for name in ("hidden", "visible"):
        sequence = load_sequence(generated[0] / name)
        meta = json.loads((generated[0] / name / "meta.json").read_text())
        visibility = np.array(meta["per_frame"]["visibility"])
        assert len(sequence) == 24 and sequence.has_masks
        assert visibility[0] == 1.0 and sequence.present[0]
        fully_visible = 0
        for index in range(len(sequence)):
            mask = sequence.load_mask(index)
            box = sequence.groundtruth[index]
            if not sequence.present[index]:
                assert not mask.any()
                continue
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            mask_box = np.array([cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]])
            if visibility[index] >= 0.999:
                fully_visible += 1
                np.testing.assert_allclose(box, mask_box, atol=1.0)
            else:
                # Partly hidden: the visible pixels lie inside the (full-object) box.
                assert box[0] <= mask_box[0] and box[1] <= mask_box[1]
                assert mask_box[0] + mask_box[2] <= box[0] + box[2]
                assert mask_box[1] + mask_box[3] <= box[1] + box[3]
        assert fully_visible >= 5


def test_backgrounds_come_from_their_packages(generated):
    hidden = json.loads((generated[0] / "hidden" / "meta.json").read_text())["background"]
    visible = json.loads((generated[0] / "visible" / "meta.json").read_text())["background"]
    assert hidden["file"] == "building.jpg" and hidden["package"] == "opencv-doc"
    assert visible["package"] == sample_data.WALLPAPER_PACKAGE
    for background in (hidden, visible):  # shrunk: the widest window spans 1.5 frame widths
        width, height = background["size_used"]
        assert min(width, height * 192 / 144) == pytest.approx(1.5 * 192, abs=1)
    # At the default 640x480 the opencv-doc photos are small enough to be used as they are.
    assert _footage().background("building.jpg", (640, 480)).shape[:2] == (600, 868)


def test_specs_use_every_template_background():
    specs = devbench.make_specs()
    assert len(specs) == 12
    assert [s.background for s in specs] == [b for b, _ in devbench.TEMPLATES]
    assert specs[0].name.startswith("dev01_life_")
    assert len({s.name for s in specs}) == 12


def test_absent_frames_only_when_requested(generated):
    hidden = load_sequence(generated[0] / "hidden")
    visible = load_sequence(generated[0] / "visible")
    assert (~hidden.present).sum() >= 2
    assert visible.present.all()
    lines = (generated[0] / "hidden" / "groundtruth_rect.txt").read_text().splitlines()
    assert "0,0,0,0" in lines
    meta = json.loads((generated[0] / "hidden" / "meta.json").read_text())
    assert meta["num_absent"] == (~hidden.present).sum()
    assert "OV" in meta["otb_attributes"]


def test_cli_and_cache(tmp_path, monkeypatch):
    _footage()
    out = tmp_path / "bench"
    assert main(["devbench", "--out", str(out), "--num-sequences", "1", "--frames", "20",
                 "--size", "128x96", "--seed", "2"]) == 0
    sequences = load_dataset(out)
    assert len(sequences) == 1 and len(sequences[0]) == 20
    assert devbench.is_complete(out, 2, 1, 20, (128, 96))
    assert not devbench.is_complete(out, 3, 1, 20, (128, 96))

    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    options = dict(seed=2, num_sequences=1, num_frames=20, frame_size=(128, 96), log=None)
    folder = devbench.ensure_devbench(**options)
    assert folder.is_relative_to(tmp_path / "cache")
    stamp = (folder / devbench.INDEX_FILE).stat().st_mtime_ns
    assert devbench.ensure_devbench(**options) == folder
    assert (folder / devbench.INDEX_FILE).stat().st_mtime_ns == stamp  # reused, not regenerated
    first = folder / sequences[0].name / "groundtruth_rect.txt"
    assert first.read_text() == (out / sequences[0].name / "groundtruth_rect.txt").read_text()


def test_bad_options():
    with pytest.raises(ValueError):
        devbench.make_specs(num_frames=5)
    spec = devbench.make_specs(num_sequences=1, num_frames=20)[0]
    with pytest.raises(ValueError, match="unknown attribute"):
        devbench.render_sequence(dataclasses.replace(spec, attributes=("wobble",)), "/nonexistent",
                                 None)
