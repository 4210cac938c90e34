"""UDT online tracking: DCFNet features + a DCF with a 3-scale search and linear model update.

Per frame: crop ``num_scales`` search windows (target size x (1 + padding) x scale) around the
last position, resize each to ``input_size``, extract features, multiply by a cosine window,
correlate with the DCF model, take the scale whose (penalised) peak is highest and the
displacement at that peak. Then re-crop at the new position and blend the new DCF into the
model with ``interp_factor`` (UDT Eq. 12, applied to alpha and X separately as in UDT's code).

Decisions where paper and code leave room (DIGEST section 1.5 / 1.8):

* ``scale_penalty`` multiplies off-centre peaks per scale step, so < 1 discourages scale changes
  (DCFNet's 0.9925). UDT's run_UDT.m passes 1.2, whose meaning there is unclear; on the synthetic
  and real development clips 0.9925 tracked better, so it is the default.
* The size update is damped (``scale_lr``) as in DCFNet's configuration and clamped to
  ``[min_scale_factor, max_scale_factor]`` x the initial size (UDT: 0.2 / 5).
* Sub-pixel peak refinement (a parabola through the peak and its two neighbours per axis) is
  added: with a small input one response pixel is ~4 % of the target side, and the refinement
  costs a few microseconds.
* Crops outside the image are filled with the frame's mean colour, estimated on a strided
  subsample of the frame (the full mean costs ~1 ms on 640x480, a sixth of the frame budget).
* ``score``: the peak of the chosen scale's response (without the scale penalty) divided by the
  peak the first frame's filter gives on its own training patch, clipped to [0, 1]. The DCF is
  trained to answer 1 at the target's centre, so 1 means "looks like the model", and the value
  does not depend on the feature magnitude of a given network or image; the lost threshold is
  therefore comparable between checkpoints.
* ``input_size`` default 64 instead of the paper's 125: measured in bench/bench_udt_speed.py and
  on the development clips (see the method's README numbers in the commit history); 125 costs
  about 4x more per frame on the CPU for no consistent accuracy gain with these shallow features.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...crops import cosine_window, scale_factors, scale_pyramid_crops
from ...geometry import cxcywh_to_xywh, xywh_to_cxcywh
from ...models.dcf import CorrelationFilter, gaussian_label, index_to_displacement, spectrum
from ...tracker_base import Tracker, TrackResult
from .finetune import UDTFinetune
from .params import UDTParams

#: Stride of the pixel subsample used to estimate the frame's mean colour (crop fill).
_MEAN_STRIDE = 8
#: Largest displacement, as a fraction of the map side, for which the model update reuses the
#: search features (see ``UDTParams.update_from_search``); beyond it the frame is re-cropped.
_MAX_REUSE_SHIFT = 0.125


def frame_mean_colour(image: np.ndarray) -> np.ndarray:
    """Mean BGR colour of ``image`` estimated on every ``_MEAN_STRIDE``-th pixel per axis."""
    return image[::_MEAN_STRIDE, ::_MEAN_STRIDE].reshape(-1, image.shape[2]).mean(axis=0)


def parabola_offset(left: float, centre: float, right: float) -> float:
    """Sub-sample offset in [-0.5, 0.5] of the vertex of the parabola through three samples."""
    curvature = left - 2.0 * centre + right
    if curvature >= 0.0:
        return 0.0
    return float(min(0.5, max(-0.5, 0.5 * (left - right) / curvature)))


class UDTTracker(Tracker):
    """``UDTTracker(model, params, device)``; the model is a :class:`DCFNetFeatures`."""

    #: First-frame fine-tuning (``finetune=True``): see finetune.py.
    finetune_hook = UDTFinetune()

    def __init__(self, model: torch.nn.Module, params: UDTParams, device: torch.device | str):
        super().__init__(params)
        self.params: UDTParams = params
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        # Feature (and response) side: the 3x3 convolutions shrink the map unless padded.
        self._map_size = params.input_size + 4 * (params.conv_padding - 1)
        self._window = torch.from_numpy(cosine_window(self._map_size)).to(self.device)
        target_side = params.input_size / (1.0 + params.padding)
        self._label = gaussian_label(self._map_size, self._map_size,
                                     params.output_sigma_factor * target_side, device=self.device)
        self._scales = scale_factors(params.num_scales, params.scale_step)
        offsets = np.abs(np.arange(params.num_scales) - params.num_scales // 2)
        self._penalties = params.scale_penalty ** offsets
        self._filter: CorrelationFilter | None = None
        self._center = np.zeros(2)
        self._size = np.ones(2)
        self._min_size = np.ones(2)
        self._max_size = np.ones(2)
        self._score_ref = 1.0

    # -- pieces ---------------------------------------------------------------------------
    def _patches_to_tensor(self, patches: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 crops to a (N, 3, H, W) float tensor in channels-last memory.

        The permuted view of the NHWC array already has channels-last strides, which is the
        layout the convolutions are fastest in, so no copy is made besides the dtype change.
        """
        tensor = torch.from_numpy(patches).to(self.device, non_blocking=True)
        return tensor.permute(0, 3, 1, 2).float()

    def _features(self, image: np.ndarray, center, window_size, scales, fill) -> torch.Tensor:
        """Features ``(S, C, h, w)`` of the crops of ``window_size * s`` for ``s`` in scales."""
        patches = scale_pyramid_crops(image, center, window_size, scales,
                                      self.params.input_size, fill)
        return self.model(self._patches_to_tensor(patches), padding=self.params.conv_padding)

    def _windowed_spectra(self, features: torch.Tensor) -> torch.Tensor:
        """Cosine-windowed feature spectra ``(S, C, h, w // 2 + 1)``."""
        # Multiplying into a standard-layout tensor doubles as the layout change: the FFT over
        # (h, w) of a channels-last tensor is ~2x slower than of a contiguous one.
        windowed = torch.empty(features.shape, dtype=features.dtype, device=features.device)
        return spectrum(torch.mul(features, self._window, out=windowed))

    def _window_size(self) -> np.ndarray:
        return self._size * (1.0 + self.params.padding)

    # -- Tracker interface ----------------------------------------------------------------
    @torch.inference_mode()
    def _init(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        p = self.params
        cx, cy, w, h = xywh_to_cxcywh(box_xywh)
        self._center = np.array([cx, cy])
        self._size = np.array([w, h])
        image_wh = np.array([image.shape[1], image.shape[0]], dtype=float)
        self._min_size = np.maximum(self._size * p.min_scale_factor, 4.0)
        self._max_size = np.maximum(np.minimum(self._size * p.max_scale_factor, image_wh),
                                    self._min_size)
        self._filter = CorrelationFilter(self._label, p.dcf_lambda)
        x_spec = self._windowed_spectra(self._features(
            image, self._center, self._window_size(), [1.0], frame_mean_colour(image)))
        self._filter.fit(x_spec[0], rate=1.0)
        self_peak = float(self._filter.respond(x_spec).max())
        self._score_ref = self_peak if self_peak > 1e-6 else 1.0

    @torch.inference_mode()
    def _track(self, image: np.ndarray) -> TrackResult:
        p = self.params
        fill = frame_mean_colour(image)
        window_size = self._window_size()
        features = self._features(image, self._center, window_size, self._scales, fill)
        z_spec = self._windowed_spectra(features)
        responses = self._filter.respond(z_spec)
        num_scales, height, width = responses.shape
        peaks, indices = responses.view(num_scales, -1).max(dim=1)
        peaks = peaks.cpu().numpy().astype(np.float64)
        best = int(np.argmax(peaks * self._penalties))
        index = int(indices[best])
        row, col = divmod(index, width)
        dy = float(index_to_displacement(row, height))
        dx = float(index_to_displacement(col, width))
        if p.subpixel:
            best_map = responses[best]
            around = best_map[[(row - 1) % height, row, (row + 1) % height], col].cpu().numpy()
            dy += parabola_offset(*around)
            around = best_map[row, [(col - 1) % width, col, (col + 1) % width]].cpu().numpy()
            dx += parabola_offset(*around)
        scale = float(self._scales[best])
        # One response pixel covers window / input_size image pixels at the chosen scale.
        pixel = window_size * scale / p.input_size
        self._center = self._center + np.array([dx, dy]) * pixel
        self._center = np.clip(self._center, 0.0, [image.shape[1], image.shape[0]])
        self._size = np.clip(self._size * (1.0 + p.scale_lr * (scale - 1.0)),
                             self._min_size, self._max_size)
        if p.online_update and p.interp_factor > 0.0:
            shift = (int(round(dy)), int(round(dx)))
            if p.update_from_search and max(map(abs, shift)) <= height * _MAX_REUSE_SHIFT:
                # The crop centred on the new position, on the grid of the chosen search crop,
                # is that crop's feature map rolled by the displacement (convolutions are
                # shift-equivariant); only a border strip of |shift| pixels differs, where the
                # cosine window is nearly zero. This saves a fourth network evaluation.
                new_features = torch.roll(features[best:best + 1], (-shift[0], -shift[1]), (2, 3))
            else:
                new_features = self._features(image, self._center, self._window_size(), [1.0],
                                              fill)
            self._filter.fit(self._windowed_spectra(new_features)[0], rate=p.interp_factor)
        score = peaks[best] / self._score_ref
        score = float(min(1.0, max(0.0, score))) if math.isfinite(score) else 0.0
        box = cxcywh_to_xywh([*self._center, *self._size])
        return TrackResult(box=box, score=score)
