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
"""Training data layer: every source kind, bag decoding and corruption, the frame sampler."""
from __future__ import annotations

import gzip
import hashlib
import logging
import shutil

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from training_testdata import frame_marks, marked_frame, write_images, write_video

from unsup_tracker_training import make_bag
from unsup_tracker_training.sampler import FrameSampler
from unsup_tracker_training.sources import (DataError, ImageSequenceSource,
                                            RosbagSource, StillsSource, VideoSource,
                                            classify_image_folder, decode_compressed_image,
                                            open_sources, ros_typestore)

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
START_NS = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    video = write_video(root / "clip.avi", 12, source_id=0)
    seq = write_images(root / "otb_seq" / "img", [f"{i:04d}.jpg" for i in range(1, 11)], 1)
    stills = write_images(root / "stills", ["cat.jpg", "dog.png", "IMG_7.jpg", "house.bmp"], 2)
    return {"root": root, "video": video, "seq": seq, "stills": stills}


def read_all(source, stride=1):
    return list(source.iter_frames(stride))


def test_video_source_reads_every_frame_in_order(media):
    (source,) = open_sources([media["root"] / "clip.avi"])
    assert isinstance(source, VideoSource)
    frames = read_all(source)
    assert [frame_marks(f) for _, f in frames] == [(i, 0) for i in range(12)]
    assert {clip for clip, _ in frames} == {0}
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for _, f in frames)
    assert [frame_marks(f)[0] for _, f in read_all(source, stride=5)] == [0, 5, 10]


def test_gzipped_video_is_decompressed_once_into_the_cache(media, tmp_path, monkeypatch):
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    packed = tmp_path / "clip.avi.gz"
    with open(media["root"] / "clip.avi", "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (source,) = open_sources([packed])
    assert isinstance(source, VideoSource)
    assert [frame_marks(f)[0] for _, f in read_all(source)] == list(range(12))
    cached = list((tmp_path / "cache" / "videos").iterdir())
    assert len(cached) == 1 and cached[0].name.endswith("clip.avi")
    read_all(source)
    assert list((tmp_path / "cache" / "videos").iterdir()) == cached
    # The manifest describes the user's file, not the cache copy.
    entry = source.manifest_entry()
    assert entry["sha256"] == hashlib.sha256(packed.read_bytes()).hexdigest()
    truncated = tmp_path / "broken.avi.gz"
    truncated.write_bytes(packed.read_bytes()[:500])
    with pytest.raises(DataError, match="truncated"):
        read_all(open_sources([truncated])[0])


def test_sequence_folder_with_img_subfolder(media):
    (source,) = open_sources([media["root"] / "otb_seq"])
    assert isinstance(source, ImageSequenceSource) and source.kind == "sequence"
    frames = read_all(source)
    assert [frame_marks(f) for _, f in frames] == [(i, 1) for i in range(10)]
    assert {clip for clip, _ in frames} == {0}


def test_sequence_sorted_naturally(tmp_path):
    names = [f"frame{i}.png" for i in range(1, 13)]  # frameN.png carries mark N - 1
    write_images(tmp_path / "seq", names, 0)
    (source,) = open_sources([tmp_path / "seq"])
    assert source.kind == "sequence"
    order = [frame_marks(f)[0] for _, f in read_all(source)]
    assert order == list(range(12))  # plain string order would put frame10 after frame1


def test_stills_folder_gives_one_clip_per_image(media):
    (source,) = open_sources([media["root"] / "stills"])
    assert isinstance(source, StillsSource)
    frames = read_all(source)
    assert len(frames) == 4
    assert [clip for clip, _ in frames] == [0, 1, 2, 3]
    assert all(frame_marks(f)[1] == 2 for _, f in frames)


@pytest.mark.parametrize("names, kind", [
    (["0001.jpg", "0002.jpg", "0003.jpg"], "sequence"),
    (["frame_000010.png", "frame_000015.png", "frame_000020.png"], "sequence"),
    ([f"{i:05d}.jpg" for i in range(1, 40) if i != 17], "sequence"),  # one dropped frame
    (["left01.jpg", "left02.jpg", "right01.jpg"], "stills"),
    (["a.jpg", "b.jpg"], "stills"),
    (["1.jpg", "7.jpg", "8.jpg", "30.jpg"], "stills"),
    (["0001.jpg", "0002.png"], "stills"),
    (["0001.jpg"], "stills"),
])
def test_sequence_or_stills_heuristic(tmp_path, names, kind):
    assert classify_image_folder([tmp_path / n for n in names]) == kind


def test_images_as_overrides_the_guess(media):
    (source,) = open_sources([media["root"] / "stills"], images_as="sequence")
    assert source.kind == "sequence"


def test_collection_folder_and_errors(media, tmp_path):
    sources = open_sources([media["root"]])
    assert sorted(s.kind for s in sources) == ["sequence", "stills", "video"]
    with pytest.raises(DataError, match="does not exist"):
        open_sources([tmp_path / "missing.avi"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no videos, images or rosbag2"):
        open_sources([tmp_path / "empty"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="unknown data kind"):
        open_sources([tmp_path / "notes.txt"])


# -- rosbag2 --------------------------------------------------------------------------------
def image_msg(typestore, frame, encoding, stamp_ns, pad=0, step=None):
    """Build a raw Image message; ``pad`` extra bytes per row; ``step`` forces a (wrong) step."""
    from unsup_tracker.image_encoding import bgr8_to_fields
    fields = bgr8_to_fields(frame, encoding)
    rows = np.frombuffer(fields["data"], np.uint8).reshape(fields["height"], -1)
    if pad:
        rows = np.concatenate([rows, np.full((rows.shape[0], pad), 7, np.uint8)], axis=1)
    t = typestore.types
    return t["sensor_msgs/msg/Image"](
        header=t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=0),
            frame_id="cam"),
        height=fields["height"], width=fields["width"], encoding=encoding,
        is_bigendian=int(fields["is_bigendian"]),
        step=step if step is not None else rows.shape[1], data=rows.ravel().copy())


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "jpeg"])
def test_bag_encodings(tmp_path, storage, encoding):
    frames = [marked_frame(i, 3) for i in range(6)]
    bag = tmp_path / "bag"
    assert make_bag.write_bag(frames, bag, storage=storage, encoding=encoding,
                              start_ns=START_NS) == 6
    assert (bag / "metadata.yaml").is_file()
    (source,) = open_sources([bag])
    assert isinstance(source, RosbagSource) and source.topic == "/camera/image_raw"
    got = read_all(source)
    assert len(got) == 6 and source.skipped == 0
    for (_, frame), original in zip(got, frames):
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        if encoding in ("rgb8", "bgr8"):
            np.testing.assert_array_equal(frame, original)
        elif encoding == "mono8":
            gray = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY)
            np.testing.assert_array_equal(frame, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        else:
            assert np.abs(frame.astype(int) - original).mean() < 6
    assert [frame_marks(f) for _, f in got] == [(i, 3) for i in range(6)]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_padded_step_and_bare_storage_file(tmp_path, storage):
    typestore = ros_typestore()
    frames = [marked_frame(i, 1) for i in range(3)]
    bag = tmp_path / "padded"
    with Writer(bag, version=9, storage_plugin=STORAGES[storage]) as writer:
        conn = writer.add_connection("/cam/image", "sensor_msgs/msg/Image", typestore=typestore)
        for i, frame in enumerate(frames):
            msg = image_msg(typestore, frame, "rgb8", START_NS + i * 10**8, pad=13)
            assert msg.step == 64 * 3 + 13
            writer.write(conn, START_NS + i * 10**8,
                         typestore.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    storage_file = next(p for p in bag.iterdir() if p.suffix in (".db3", ".mcap"))
    for path in (bag, bag / "metadata.yaml"):
        (source,) = open_sources([path])
        got = [f for _, f in read_all(source)]
        assert len(got) == 3
        for frame, original in zip(got, frames):
            np.testing.assert_array_equal(frame, original)
    # A storage file passed alone is read through its recording folder.
    (source,) = open_sources([storage_file])
    assert source.path == bag


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_corrupt_messages_are_skipped_with_a_warning(tmp_path, storage, caplog):
    typestore = ros_typestore()
    bag = tmp_path / "corrupt"
    msgtype = "sensor_msgs/msg/Image"
    with Writer(bag, version=9, storage_plugin=STORAGES[storage]) as writer:
        conn = writer.add_connection("/camera/image_raw", msgtype, typestore=typestore)
        for i in range(6):
            stamp = START_NS + i * 10**8
            raw = bytes(typestore.serialize_cdr(image_msg(typestore, marked_frame(i, 0), "bgr8",
                                                          stamp), msgtype))
            if i in (0, 2):
                raw = raw[:40]  # truncated CDR: does not deserialize
            if i == 4:  # deserializes, but its step is too small for its width
                raw = typestore.serialize_cdr(
                    image_msg(typestore, marked_frame(i, 0), "bgr8", stamp, step=10), msgtype)
            writer.write(conn, stamp, raw)
    (source,) = open_sources([bag])
    with caplog.at_level(logging.WARNING, logger="unsup_tracker_training"):
        got = read_all(source)
    assert [frame_marks(f)[0] for _, f in got] == [1, 3, 5]
    assert source.skipped == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    for index, text in zip((0, 2, 4), warnings):
        assert str(bag) in text and "/camera/image_raw" in text
        assert f"message #{index}" in text
        assert f"t={START_NS + index * 10**8} ns" in text
    assert "step 10" in warnings[2]
    # The sampler counts the skips, trains on the rest, and warns once per bad message (its
    # size probe reads message #0 too, silently).
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unsup_tracker_training"):
        sampler = FrameSampler([source])
    assert sampler.num_frames == 3 and sampler.skipped == 3
    assert sampler.manifest()[0]["frames_skipped"] == 3
    assert sum("message #0" in r.getMessage() for r in caplog.records) == 1


def test_undecodable_jpeg_and_compressed_formats(tmp_path, caplog):
    typestore = ros_typestore()
    msgtype = "sensor_msgs/msg/CompressedImage"
    bag = tmp_path / "jpeg"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/camera/image_raw/compressed", msgtype, typestore=typestore)
        for i in range(4):
            msg = make_bag.image_message(typestore, marked_frame(i, 0), "jpeg", START_NS + i)
            if i == 1:
                msg.data = msg.data[:30].copy()  # truncated JPEG
            writer.write(conn, START_NS + i, typestore.serialize_cdr(msg, msgtype))
    (source,) = open_sources([bag])
    with caplog.at_level(logging.WARNING, logger="unsup_tracker_training"):
        got = read_all(source)
    assert [frame_marks(f)[0] for _, f in got] == [0, 2, 3] and source.skipped == 1
    assert any("message #1" in r.getMessage() for r in caplog.records)
    # PNG compressed from RGB-ordered memory is swapped back to BGR.
    frame = marked_frame(0, 0)
    ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    np.testing.assert_array_equal(decode_compressed_image("rgb8; png compressed rgb8", png), frame)
    ok, png = cv2.imencode(".png", frame)
    np.testing.assert_array_equal(decode_compressed_image("png", png), frame)
    with pytest.raises(ValueError, match="depth"):
        decode_compressed_image("16UC1; compressedDepth", png)


def test_topic_selection_errors_list_the_topics(tmp_path):
    typestore = ros_typestore()
    bag = tmp_path / "two_cams"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        for topic in ("/left/image_raw", "/right/image_raw"):
            conn = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=typestore)
            msg = image_msg(typestore, marked_frame(0, 0), "rgb8", START_NS)
            writer.write(conn, START_NS, typestore.serialize_cdr(msg, "sensor_msgs/msg/Image"))
        conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=typestore)
        writer.write(conn, START_NS, typestore.serialize_cdr(
            typestore.types["std_msgs/msg/String"](data="hi"), "std_msgs/msg/String"))
    with pytest.raises(DataError, match="several image topics.*/left/image_raw.*/right/image_raw"):
        open_sources([bag])
    with pytest.raises(DataError, match="no topic '/camera'.*/chatter.*/left/image_raw"):
        open_sources([bag], topic="/camera")
    with pytest.raises(DataError, match="std_msgs/msg/String, not an image"):
        open_sources([bag], topic="/chatter")
    (source,) = open_sources([bag], topic="/right/image_raw")
    assert len(read_all(source)) == 1


def test_bag_gap_starts_a_new_clip(tmp_path):
    frames = [marked_frame(i, 0) for i in range(4)]
    bag = tmp_path / "gap"
    make_bag.write_bag(frames[:2], bag, storage="mcap", encoding="bgr8", start_ns=START_NS)
    (source,) = open_sources([bag])
    assert [c for c, _ in read_all(source)] == [0, 0]
    source.max_gap_ns = 10**7  # 30 fps messages are 33 ms apart: each becomes its own clip
    assert [c for c, _ in read_all(source)] == [0, 1]


def test_make_bag_command_records_a_video(media, tmp_path, capsys):
    out = tmp_path / "recorded"
    code = make_bag.main([str(media["root"] / "clip.avi"), str(out), "--storage", "sqlite3",
                          "--topic", "/camera/image_raw", "--encoding", "mono8",
                          "--max-frames", "5", "--start-ns", str(START_NS)])
    assert code == 0 and "wrote 5" in capsys.readouterr().out
    (source,) = open_sources([out])
    got = read_all(source)
    assert [frame_marks(f)[0] for _, f in got] == list(range(5))
    assert make_bag.main([str(media["root"] / "clip.avi"), str(out)]) == 2  # exists


# -- sampler --------------------------------------------------------------------------------
def test_sampler_windows_are_consecutive_frames_of_one_source(media):
    sources = open_sources([media["root"] / "clip.avi", media["root"] / "otb_seq",
                            media["root"] / "stills"])
    sampler = FrameSampler(sources)
    assert sampler.num_frames == 12 + 10 + 4 and sampler.num_clips == 1 + 1 + 4
    rng = np.random.default_rng(0)
    seen_sources = set()
    for _ in range(200):
        window = sampler.sample_window(4, rng)
        marks = [frame_marks(f) for f in window]
        source_ids = {s for _, s in marks}
        assert len(source_ids) == 1
        source_id = source_ids.pop()
        seen_sources.add(source_id)
        if source_id == 2:
            assert len(window) == 1  # a still is its own one-frame clip
        else:
            assert len(window) == 4
            assert [i for i, _ in marks] == list(range(marks[0][0], marks[0][0] + 4))
        with pytest.raises(ValueError):
            window[0][0, 0, 0] = 1  # frames are read-only views of the cache
    assert seen_sources == {0, 1, 2}
    images = {frame_marks(sampler.sample_image(rng)) for _ in range(300)}
    assert len(images) > 20
    # Same generator state, same samples.
    a = sampler.sample_window(3, np.random.default_rng(5))
    b = sampler.sample_window(3, np.random.default_rng(5))
    assert all(x is y for x, y in zip(a, b))


def test_sampler_downscales_strides_and_keeps_to_the_budget(media, caplog):
    video = media["root"] / "clip.avi"
    sampler = FrameSampler(open_sources([video]), max_side=32)
    assert all(max(f.shape[:2]) == 32 for f in sampler.clips[0])
    strided = FrameSampler(open_sources([video]), frame_stride=3)
    assert [frame_marks(f)[0] for f in strided.clips[0]] == [0, 3, 6, 9]
    frame_bytes = 48 * 64 * 3
    with caplog.at_level(logging.WARNING, logger="unsup_tracker_training"):
        budget = FrameSampler(open_sources([video]), memory_budget_mb=5 * frame_bytes / 2 ** 20)
    assert budget.effective_stride == 3 and budget.num_frames == 4
    assert budget.nbytes <= 5 * frame_bytes
    assert any("keeping every 3-th frame" in r.getMessage() for r in caplog.records)


def test_manifest(media):
    video = media["root"] / "clip.avi"
    sampler = FrameSampler(open_sources([video, media["root"] / "otb_seq"]))
    video_entry, seq_entry = sampler.manifest()
    assert video_entry["kind"] == "video" and video_entry["file"] == "clip.avi"
    assert video_entry["size"] == video.stat().st_size
    assert video_entry["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert video_entry["frames_used"] == 12 and video_entry["frames_skipped"] == 0
    assert seq_entry["kind"] == "sequence" and seq_entry["frames_used"] == 10
    assert seq_entry["num_files"] == 10 and len(seq_entry["sha256"]) == 64


def test_sampler_without_usable_frames(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "0001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="no usable frames"):
        FrameSampler(open_sources([tmp_path / "broken"]))
