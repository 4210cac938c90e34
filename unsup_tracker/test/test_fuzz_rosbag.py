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
"""Fuzz the training module's rosbag reader (issue 13.7): corrupted bytes never crash it.

Real rosbag2 recordings (MCAP and sqlite3) of Image (bgr8, rgb8, mono8) and CompressedImage
(jpeg) messages get some messages' bytes overwritten (anywhere, or in the CDR header that holds
the sizes, encoding and step), truncated, extended or replaced by random bytes; or the storage
file itself is damaged. Reading must never raise: each message either decodes to an HxWx3 uint8
frame or is skipped with a warning naming it, untouched messages decode exactly as before, and
the frame sampler builds on what is left. A storage file too damaged to open is a DataError.
"""
from __future__ import annotations

import functools
import itertools
import logging
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from training_testdata import marked_frame

from unsup_tracker_training import make_bag
from unsup_tracker_training.sampler import FrameSampler
from unsup_tracker_training.sources import DataError, open_sources, ros_typestore

WORKDIR = Path(tempfile.mkdtemp(prefix="unsup_tracker_fuzz_bag_"))
BAGS = itertools.count()
STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
ENCODINGS = ["bgr8", "rgb8", "mono8", "jpeg"]
TOPIC = "/camera/image_raw"
COUNT = 4
START_NS = 1_700_000_000 * 10**9


@functools.lru_cache(maxsize=None)
def originals(encoding: str) -> tuple[str, list[bytes], list[np.ndarray]]:
    """Return the message type, the serialized messages and their decoded frames."""
    typestore = ros_typestore()
    msgtype = make_bag.message_type(encoding)
    raws, frames = [], []
    for i in range(COUNT):
        message = make_bag.image_message(typestore, marked_frame(i, 0), encoding,
                                         START_NS + i * 10**8)
        raws.append(bytes(typestore.serialize_cdr(message, msgtype)))
    bag = write(msgtype, raws, "mcap")
    (source,) = open_sources([bag])
    frames = [frame for _, frame in source.iter_frames()]
    assert len(frames) == COUNT and source.skipped == 0
    return msgtype, raws, frames


def write(msgtype: str, raws: list[bytes], storage: str) -> Path:
    bag = WORKDIR / f"bag{next(BAGS)}"
    with Writer(bag, version=9, storage_plugin=STORAGES[storage]) as writer:
        connection = writer.add_connection(TOPIC, msgtype, typestore=ros_typestore())
        for i, raw in enumerate(raws):
            writer.write(connection, START_NS + i * 10**8, raw)
    return bag


MESSAGE_DAMAGE = ["header", "header", "anywhere", "truncated", "inserted", "random"]
FILE_DAMAGE = ["anywhere", "anywhere", "truncated", "truncated", "inserted", "header"]


def damage(draw, data: bytes, kinds: list[str] = MESSAGE_DAMAGE) -> bytes:
    data = bytearray(data)
    kind = draw(st.sampled_from(kinds))
    if kind in ("header", "anywhere"):
        limit = 80 if kind == "header" else len(data)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, min(limit, len(data)) - 1))
            chunk = draw(st.binary(min_size=1, max_size=4))
            data[at:at + len(chunk)] = chunk
    elif kind == "truncated":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif kind == "inserted":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
    else:
        data = bytearray(draw(st.binary(max_size=256)))
    return bytes(data)


@st.composite
def corrupted_bags(draw):
    encoding = draw(st.sampled_from(ENCODINGS))
    msgtype, raws, _ = originals(encoding)
    raws = list(raws)
    for index in draw(st.lists(st.integers(0, COUNT - 1), min_size=1, max_size=COUNT,
                               unique=True)):
        raws[index] = damage(draw, raws[index])
    return encoding, draw(st.sampled_from(sorted(STORAGES))), raws


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def read(bag: Path):
    """Return the source, its frames and the warnings logged while reading it."""
    handler = Warnings()
    logger = logging.getLogger("unsup_tracker_training")
    logger.addHandler(handler)
    try:
        (source,) = open_sources([bag])
        frames = [frame for _, frame in source.iter_frames()]
    finally:
        logger.removeHandler(handler)
    return source, frames, handler.messages


@given(corrupted_bags())
def test_corrupted_messages_are_skipped_with_a_warning(case):
    encoding, storage, raws = case
    msgtype, original_raws, original_frames = originals(encoding)
    bag = write(msgtype, raws, storage)
    try:
        source, frames, warnings = read(bag)
        skipped = {int(m) for text in warnings for m in re.findall(r"message #(\d+)", text)}
        event(f"{len(skipped)} of {COUNT} messages skipped")
        assert source.skipped == len(skipped) == len(warnings)
        assert len(frames) + source.skipped == COUNT
        decoded = [i for i in range(COUNT) if i not in skipped]
        for index, frame in zip(decoded, frames):
            assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
            assert frame.size > 0
            if raws[index] == original_raws[index]:
                np.testing.assert_array_equal(frame, original_frames[index])
        for text in warnings:
            assert str(bag) in text and TOPIC in text
        if frames:
            assert FrameSampler([source], max_side=480).num_frames == len(frames)
        else:  # nothing left to train on: the sampler says so
            with pytest.raises(DataError, match="no usable frames"):
                FrameSampler([source], max_side=480)
    finally:
        shutil.rmtree(bag)


@given(st.sampled_from(sorted(STORAGES)), st.data())
def test_a_damaged_storage_file_is_read_as_far_as_possible_or_refused(storage, data):
    msgtype, raws, _ = originals(data.draw(st.sampled_from(ENCODINGS)))
    bag = write(msgtype, raws, storage)
    try:
        (path,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
        path.write_bytes(damage(data.draw, path.read_bytes(), FILE_DAMAGE))
        try:
            source, frames, warnings = read(bag)
        except DataError as exc:
            assert str(bag) in str(exc)
            event("refused")
            return
        event(f"{len(frames)} frames read")
        assert len(frames) <= COUNT and source.skipped <= len(warnings)
        for frame in frames:
            assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    finally:
        shutil.rmtree(bag)
