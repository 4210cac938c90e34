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
"""Frame readers behind camera_node: image folders (OTB img/), videos (.gz too), errors."""
import gzip

import cv2
import numpy as np
import pytest

from unsup_tracker.frame_readers import FrameReaderError, open_frame_reader


def _frame(value, size=(32, 24)):
    frame = np.full((size[1], size[0], 3), value, np.uint8)
    frame[0, 0] = (value, 255 - value, 7)
    return frame


def test_folder_is_read_in_numeric_order_and_rewinds(tmp_path):
    for index in (1, 2, 10):
        assert cv2.imwrite(str(tmp_path / f"frame{index}.png"), _frame(index * 10))
    (tmp_path / "notes.txt").write_text("not an image")
    reader = open_frame_reader(str(tmp_path))
    assert reader.frame_count == 3 and not reader.live
    values = [int(reader.read()[5, 5, 0]) for _ in range(3)]
    assert values == [10, 20, 100]
    assert reader.read() is None
    assert reader.rewind() and int(reader.read()[5, 5, 0]) == 10


def test_otb_sequence_folder_uses_its_img_subfolder(tmp_path):
    (tmp_path / "img").mkdir()
    assert cv2.imwrite(str(tmp_path / "img" / "0001.jpg"), _frame(50))
    (tmp_path / "groundtruth_rect.txt").write_text("1,2,3,4\n")
    reader = open_frame_reader(str(tmp_path))
    assert reader.frame_count == 1
    assert reader.read().shape == (24, 32, 3)


def test_unreadable_images_are_skipped_and_listed(tmp_path):
    assert cv2.imwrite(str(tmp_path / "1.png"), _frame(30))
    (tmp_path / "2.png").write_bytes(b"broken")
    assert cv2.imwrite(str(tmp_path / "3.png"), _frame(90))
    reader = open_frame_reader(str(tmp_path))
    assert [int(reader.read()[5, 5, 0]) for _ in range(2)] == [30, 90]
    assert [p.name for p in reader.unreadable] == ["2.png"]


def _write_video(path, count=5):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (32, 24))
    assert writer.isOpened()
    for index in range(count):
        writer.write(_frame(40 * index))
    writer.release()


def test_gzipped_video_is_decompressed_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    video = tmp_path / "clip.avi"
    _write_video(video)
    packed = tmp_path / "clip.avi.gz"
    packed.write_bytes(gzip.compress(video.read_bytes()))
    reader = open_frame_reader(str(packed))
    (cached,) = (tmp_path / "cache" / "videos").iterdir()
    assert cached.name.endswith("clip.avi")
    assert reader.fps == pytest.approx(12.0) and reader.frame_count == 5
    frames = []
    while (frame := reader.read()) is not None:
        frames.append(frame)
    assert len(frames) == 5 and frames[0].shape == (24, 32, 3)
    assert reader.rewind() and reader.read() is not None


@pytest.mark.parametrize("make, message", [
    (lambda p: "", "no source"),
    (lambda p: str(p / "missing.mp4"), "does not exist"),
    (lambda p: "/dev/video987", "does not exist"),
    (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no images"),
    (lambda p: (p / "text.mp4").write_text("no video") and str(p / "text.mp4"), "cannot open"),
    (lambda p: (p / "bad.mp4.gz").write_bytes(b"not gzip") and str(p / "bad.mp4.gz"),
     "cannot decompress"),
])
def test_bad_sources_raise_a_clear_error(tmp_path, monkeypatch, make, message):
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FrameReaderError, match=message):
        open_frame_reader(make(tmp_path))
