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
"""Helpers shared by the method tests that train and track on in-memory synthetic clips."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: one thread avoids OpenMP spin-waiting on a shared, loaded CPU.

    Autouse: a test module gets it by importing the name.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class ClipSource:
    """FrameSource over an in-memory clip: windows of consecutive frames, or any one frame."""

    def __init__(self, frames):
        self.frames = frames

    def sample_window(self, length, rng):
        start = int(rng.integers(0, max(1, len(self.frames) - length + 1)))
        return self.frames[start:start + length]

    def sample_image(self, rng):
        return self.frames[int(rng.integers(len(self.frames)))]
