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
"""Fuzz checkpoint loading (issue 13.7): damaged files are refused with CheckpointError.

A real training checkpoint (weights, metadata, optimizer state) is truncated, has bytes
overwritten or inserted, or is replaced by random bytes; ``load_checkpoint`` must return a
well-formed Checkpoint or raise CheckpointError, never another exception. A pickle whose
``__reduce__`` runs code (creating a marker file) is refused and the code never runs: that is
``torch.load(..., weights_only=True)`` at work, shown by loading the same file without it.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st

from unsup_tracker import CheckpointError, load_checkpoint, save_checkpoint
from unsup_tracker.checkpoint import FORMAT

WORKDIR = Path(tempfile.mkdtemp(prefix="unsup_tracker_fuzz_ckpt_"))


def _original() -> bytes:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    path = WORKDIR / "original.pt"
    save_checkpoint(path, "udt", model, {"channels": 4}, {"steps": 1},
                    training_state={"step": 1, "optimizer": optimizer.state_dict(),
                                    "torch_rng": torch.get_rng_state()})
    return path.read_bytes()


ORIGINAL = _original()


@st.composite
def damaged(draw):
    data = bytearray(ORIGINAL)
    kind = draw(st.sampled_from(["truncated", "overwritten", "inserted", "random", "mixed"]))
    if kind in ("overwritten", "mixed"):
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
    if kind in ("inserted", "mixed"):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    if kind in ("truncated", "mixed"):
        data = data[:draw(st.integers(0, len(data) - 1))]
    if kind == "random":
        data = bytearray(draw(st.binary(max_size=4096)))
    return kind, bytes(data)


@given(damaged())
def test_damaged_checkpoints_load_or_are_refused(case):
    kind, data = case
    path = WORKDIR / "damaged.pt"
    path.write_bytes(data)
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as exc:
        assert str(path) in str(exc)
        event(f"{kind}: refused")
        return
    # Damage confined to tensor bytes still gives a well-formed checkpoint.
    event(f"{kind}: loaded")
    assert isinstance(checkpoint.method, str) and isinstance(checkpoint.meta, dict)
    assert isinstance(checkpoint.model_config, dict) and isinstance(checkpoint.state_dict, dict)


class RunsCode:
    """Unpickling this calls ``function(*args)``, as a hostile checkpoint would."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def hostile_payload(marker: Path, how: str) -> dict:
    code = (RunsCode(open, str(marker), "w") if how == "open"
            else RunsCode(os.system, f"touch '{marker}'"))
    return {"format": FORMAT, "method": "udt", "model_config": {},
            "state_dict": {"w": torch.zeros(2)}, "meta": {"note": code}}


@pytest.mark.parametrize("how", ["open", "system"])
@pytest.mark.parametrize("container", ["torch_zip", "torch_legacy", "plain_pickle"])
def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, how, container):
    marker = tmp_path / "code_ran"
    path = tmp_path / "hostile.pt"
    payload = hostile_payload(marker, how)
    if container == "plain_pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=container == "torch_zip")
    with pytest.raises(CheckpointError, match="corrupt or not an unsup_tracker checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    # The file is a working exploit: loading it without weights_only=True runs its code.
    if container == "plain_pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()
