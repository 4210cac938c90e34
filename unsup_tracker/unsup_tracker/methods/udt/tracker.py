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
"""UDT online tracking: DCFNet features + a DCF with a 3-scale search and linear model update.

Per frame: crop ``num_scales`` search windows (target size x (1 + padding) x scale) around the
last position, resize each to ``input_size``, extract features, multiply by a cosine window,
correlate with the DCF model, take the scale whose (penalised) peak is highest and the
displacement at that peak. Then blend the DCF trained on the target at its new position into
the model with ``interp_factor`` (UDT Eq. 12, applied to alpha and X separately as in UDT's
code). Measurements quoted below: ``bench/bench_udt_speed.py`` (one thread, 640x480 frames) and
the six real development clips (success AUC, mean of two checkpoints trained at 64 px by the
recipe for a few minutes; one clip flipping costs several points, so differences below ~1
point are noise).

Decisions where paper and code leave room (DIGEST section 1.5 / 1.8), and for speed:

* ``input_size`` 56, not the paper's 125: AUC was flat from 56 to 125 (56: 59.1, 64: 58.9,
  96: 59.3, 125: 59.3) and fell at 48 (52.2 vs 61.8 at 64 on one checkpoint: a 17x50 px target
  is lost); 125 costs ~5x more per frame. The recipe trains at the same size by default.
* ``scale_interval`` 2: all scales are searched every second frame, the frames between track
  translation at the current size. -0.4 AUC, ~25 % less time (3 scales every frame: 58.9,
  every 2nd: 58.4, every 3rd: 57.9, never: 56.1).
* Model update from the search ("spectrum"): the template at the new position is the chosen
  search crop's windowed spectrum shifted by the found displacement (phase ramp), instead of a
  fourth crop and network pass as in UDT's code (same AUC, 61.8 vs 61.8 on one checkpoint;
  see :meth:`UDTTracker._update_spectrum`).
* ``scale_penalty`` multiplies off-centre peaks per scale step, so < 1 discourages scale changes
  (DCFNet's 0.9925). UDT's run_UDT.m passes 1.2, whose meaning there is unclear; 0.9925, 1.0
  and 1.2 were within 0.5 AUC of each other, 0.9925 is kept for its meaning. DCF scale search
  lags real size changes when the background does not scale with the target (the context
  matches the template best at the old size): on a synthetic patch growing 35 % the size
  follows about half of the growth.
* The size update is damped (``scale_lr``) as in DCFNet's configuration and clamped to
  ``[min_scale_factor, max_scale_factor]`` x the initial size (UDT: 0.2 / 5).
* Sub-pixel peak refinement (a parabola through the peak and its two neighbours per axis): one
  response pixel is ~5 % of the target side at this input size; it costs microseconds.
* Crops outside the image are filled with the frame's mean colour (cv2.mean, 0.03 ms).
* ``score``: each scale's response peak is divided by the L2 norm of that scale's windowed
  features (``energy_normalised_peaks``), which makes it invariant to contrast; the chosen
  scale's value (without the scale penalty) is divided by the same quantity of the first
  frame's filter on its own training patch and clipped to [0, 1]. So 1 means "as similar as
  the template to itself", independent of the network's feature magnitude. Measured with a
  trained model: the next frames of the same clip score 0.47 / 0.67 (5th percentile / median),
  frames of an unrelated clip 0.12 / 0.28 (median / 95th percentile); on-target frames of whole
  clips (IoU > 0.5) have a 5th percentile of 0.32. Hence ``lost_score_threshold`` 0.25.
* Speed (same run, machine shared with other jobs, one thread): ~3.4 ms per frame (~290 FPS);
  OpenCV KCF 2.0 ms with an 80x100 px target and 7.9 ms with 160x200 (its cost grows with the
  target, UDT's does not), CSRT ~33 ms. Two torch threads are much slower here (OpenMP threads
  wait for each other on a busy 2-core machine); use one.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ...crops import crop_and_resize, cosine_window, mean_color, scale_factors, scale_pyramid_crops
from ...geometry import cxcywh_to_xywh, xywh_to_cxcywh
from ...models.dcf import (CorrelationFilter, gaussian_label, index_to_displacement, phase_ramp,
                           spectrum)
from ...tracker_base import Candidate, ScanPart, Tracker, TrackResult, check_image
from .finetune import UDTFinetune
from .params import UDTParams

#: Largest displacement, as a fraction of the map side, for which the model update reuses the
#: search crop (see ``UDTParams.update_source``); beyond it the frame is re-cropped.
_MAX_REUSE_SHIFT = 0.125


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
        self._unit_scale = np.ones(1)
        self._frame_index = 0
        self._filter: CorrelationFilter | None = None
        #: The first frame's filter, never updated (re-detection checks candidates with it).
        self._first_filter: CorrelationFilter | None = None
        self._center = np.zeros(2)
        self._size = np.ones(2)
        self._min_size = np.ones(2)
        self._max_size = np.ones(2)
        self._score_ref = 1.0
        #: Spectra of the scan's kernels, per map size and filter versions (see ``scan``).
        self._scan_kernels: dict = {}

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

    def _windowed_spectra(self, features: torch.Tensor, with_norms: bool = False):
        """Cosine-windowed feature spectra ``(S, C, h, w // 2 + 1)``.

        With ``with_norms`` also the windowed maps' L2 norms ``(S,)``.
        """
        # Multiplying into a standard-layout tensor doubles as the layout change: the FFT over
        # (h, w) of a channels-last tensor is ~2x slower than of a contiguous one.
        windowed = torch.empty(features.shape, dtype=features.dtype, device=features.device)
        torch.mul(features, self._window, out=windowed)
        spec = spectrum(windowed)
        if with_norms:
            return spec, torch.linalg.vector_norm(windowed.flatten(1), dim=1)
        return spec

    def _update_spectrum(self, image, fill, features, z_spec, best, dy, dx) -> torch.Tensor:
        """Windowed spectrum ``(C, h, w // 2 + 1)`` of the target at its new position.

        The crop centred on the new position, on the grid of the chosen search crop, is that
        crop shifted by the displacement ``(dy, dx)`` (convolutions are shift-equivariant), so
        it need not be cropped and evaluated again ("crop", UDT's code, a fourth network pass):
        "features" rolls the feature map by the rounded shift and windows and transforms it
        again; only a border strip of ``|shift|`` pixels is wrong, where the cosine window is
        nearly zero. "spectrum" shifts the already windowed spectrum (phase ramp, sub-pixel
        exact), which leaves the cosine window off-centre by the displacement, a few pixels
        where the window is flat. Both fall back to "crop" beyond ``_MAX_REUSE_SHIFT``, and
        the size change of one frame (< 1 %) is ignored.
        """
        source = self.params.update_source
        if source != "crop" and max(abs(dy), abs(dx)) <= self._map_size * _MAX_REUSE_SHIFT:
            if source == "spectrum":
                shift = torch.tensor([[-dy, -dx]], device=z_spec.device)
                return z_spec[best] * phase_ramp(shift, self._map_size, self._map_size,
                                                 z_spec.dtype)[0]
            shift = (-int(round(dy)), -int(round(dx)))
            return self._windowed_spectra(torch.roll(features[best:best + 1], shift, (2, 3)))[0]
        features = self._features(image, self._center, self._window_size(), [1.0], fill)
        return self._windowed_spectra(features)[0]

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
        self._frame_index = 0
        x_spec, x_norm = self._windowed_spectra(self._features(
            image, self._center, self._window_size(), [1.0], mean_color(image)), True)
        self._filter.fit(x_spec[0], rate=1.0)
        self._first_filter = CorrelationFilter(self._label, p.dcf_lambda)
        self._first_filter.fit(x_spec[0], rate=1.0)
        self_peak = float(self._filter.respond(x_spec).max())
        if p.energy_normalised_peaks:
            self_peak /= max(float(x_norm[0]), 1e-12)
        self._score_ref = self_peak if self_peak > 1e-12 else 1.0

    def _search(self, image: np.ndarray, fill=None) -> dict:
        """Plan this frame's search: the crops to evaluate and what locating needs with them.

        ``fill``: the frame's mean colour when already known (shared by batched targets).
        """
        p = self.params
        # Every scale_interval-th frame searches all scales, the others only the current size.
        full_search = self._frame_index % p.scale_interval == 0
        self._frame_index += 1
        plan = {
            "fill": mean_color(image) if fill is None else fill,
            "window_size": self._window_size(),
            "scales": self._scales if full_search else self._unit_scale,
            "penalties": self._penalties if full_search else self._unit_scale,
        }
        plan["patches"] = scale_pyramid_crops(image, self._center, plan["window_size"],
                                              plan["scales"], p.input_size, plan["fill"])
        return plan

    @torch.inference_mode()
    def _track(self, image: np.ndarray) -> TrackResult:
        plan = self._search(image)
        features = self.model(self._patches_to_tensor(plan["patches"]),
                              padding=self.params.conv_padding)
        return self._locate(image, plan, features, *self._windowed_spectra(features, True))

    @classmethod
    @torch.inference_mode()
    def track_batch(cls, trackers: list["UDTTracker"], image_bgr: np.ndarray) -> list[TrackResult]:
        """Track several targets on one frame with ONE network pass over all their crops.

        Nearly the result of ``[t.track(image_bgr) for t in trackers]``: up to floating-point
        summation order (the convolutions run on a larger batch); the frame's mean colour, the
        network pass and the windowed FFT are shared, the correlation filters stay per target;
        and the targets' all-scale searches are spread over the frames (below), which moves some
        targets' all-scale search by one frame.
        The trackers must share the model, ``input_size`` and ``conv_padding``, else they are
        tracked one by one. Used by
        :func:`unsup_tracker.targets.track_targets`; measured in ``bench/bench_multi_target.py``.
        """
        first = trackers[0]
        shared = all(
            t.model is first.model and t.params.input_size == first.params.input_size
            and t.params.conv_padding == first.params.conv_padding and t.device == first.device
            for t in trackers
        )
        if not shared or len(trackers) == 1:
            return [t.track(image_bgr) for t in trackers]
        for tracker in trackers:
            if not tracker.initialized:
                raise RuntimeError("track() called before init()")
        image = check_image(image_bgr)
        # Spread the all-scale searches (every scale_interval-th frame of each target) over the
        # frames: targets started together would all search all scales on the same frames, so
        # every other frame would cost 3x. A target beyond its share this frame moves its
        # all-scale search one frame later, once; after that the phases stay spread.
        due = [t for t in trackers if t._frame_index % t.params.scale_interval == 0]
        share = math.ceil(len(trackers) / first.params.scale_interval)
        for tracker in due[share:]:
            tracker._frame_index += 1
        fill = mean_color(image)
        plans = [t._search(image, fill) for t in trackers]
        patches = np.concatenate([plan["patches"] for plan in plans])
        features = first.model(first._patches_to_tensor(patches),
                               padding=first.params.conv_padding)
        # One windowing and FFT for all targets too (same map size and window).
        z_spec, z_norms = first._windowed_spectra(features, True)
        results, offset = [], 0
        for tracker, plan in zip(trackers, plans):
            end = offset + len(plan["patches"])
            results.append(tracker._finish_result(tracker._locate(
                image, plan, features[offset:end], z_spec[offset:end], z_norms[offset:end]),
                image))
            offset = end
        return results

    def _locate(self, image: np.ndarray, plan: dict, features: torch.Tensor,
                z_spec: torch.Tensor, z_norms: torch.Tensor) -> TrackResult:
        """Find the target in this frame's search features and update the model.

        ``z_spec``, ``z_norms``: the features' windowed spectra and norms.
        """
        p = self.params
        fill, window_size = plan["fill"], plan["window_size"]
        scales, penalties = plan["scales"], plan["penalties"]
        responses = self._filter.respond(z_spec)
        num_scales, height, width = responses.shape
        # One transfer of the small maps (S x h x w floats); the peak search is cheaper in NumPy
        # than as several tiny tensor operations, and on CUDA it is a single synchronisation.
        maps = responses.cpu().numpy()
        flat_index = maps.reshape(num_scales, -1).argmax(axis=1)
        peaks = maps.reshape(num_scales, -1)[np.arange(num_scales), flat_index].astype(np.float64)
        if p.energy_normalised_peaks:
            peaks = peaks / np.maximum(z_norms.cpu().numpy().astype(np.float64), 1e-12)
        best = int(np.argmax(peaks * penalties))
        row, col = divmod(int(flat_index[best]), width)
        dy = float(index_to_displacement(row, height))
        dx = float(index_to_displacement(col, width))
        if p.subpixel:
            best_map = maps[best]
            dy += parabola_offset(best_map[(row - 1) % height, col], best_map[row, col],
                                  best_map[(row + 1) % height, col])
            dx += parabola_offset(best_map[row, (col - 1) % width], best_map[row, col],
                                  best_map[row, (col + 1) % width])
        scale = float(scales[best])
        # One response pixel covers window / input_size image pixels at the chosen scale.
        pixel = window_size * scale / p.input_size
        self._center = self._center + np.array([dx, dy]) * pixel
        self._center = np.clip(self._center, 0.0, [image.shape[1], image.shape[0]])
        self._size = np.clip(self._size * (1.0 + p.scale_lr * (scale - 1.0)),
                             self._min_size, self._max_size)
        if p.online_update and p.interp_factor > 0.0 and not self.frozen:
            self._filter.fit(self._update_spectrum(image, fill, features, z_spec, best, dy, dx),
                             rate=p.interp_factor)
        score = peaks[best] / self._score_ref
        score = float(min(1.0, max(0.0, score))) if math.isfinite(score) else 0.0
        self.match_score = score
        box = cxcywh_to_xywh([*self._center, *self._size])
        return TrackResult(box=box, score=score)

    # -- re-detection hooks (unsup_tracker.long_term) -------------------------------------
    def search_window(self) -> tuple[float, float]:
        """Return the search window's long side and half its short side (the grid step)."""
        window = self._window_size()
        return float(window.max()), 0.5 * float(window.min())

    @torch.inference_mode()
    def detect(self, image: np.ndarray, centers: np.ndarray,
               scales: np.ndarray | None = None) -> list[Candidate]:
        """Score windows at ``centers`` with the first-frame filter and the current model.

        A candidate's score is the lower of the two filters' energy-normalised peaks (as
        ``score``, relative to the first frame's self-response); its position is the first-frame
        filter's peak.
        """
        p = self.params
        fill = mean_color(image)
        window = self._window_size()
        centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
        scales = np.ones(len(centers)) if scales is None else np.asarray(scales, np.float64)
        patches = np.stack([crop_and_resize(image, c, window * s, p.input_size, fill)
                            for c, s in zip(centers, scales)])
        features = self.model(self._patches_to_tensor(patches), padding=p.conv_padding)
        z_spec, z_norms = self._windowed_spectra(features, True)
        norms = np.maximum(z_norms.cpu().numpy().astype(np.float64), 1e-12)
        scores, locations = [], None
        for model in (self._first_filter, self._filter):
            maps = model.respond(z_spec).cpu().numpy()
            flat = maps.reshape(len(maps), -1)
            index = flat.argmax(axis=1)
            peaks = flat[np.arange(len(maps)), index].astype(np.float64)
            if p.energy_normalised_peaks:
                peaks = peaks / norms
            scores.append(peaks / self._score_ref)
            locations = index if locations is None else locations
        combined = np.minimum(*scores)
        height, width = maps.shape[1:]
        candidates = []
        for center, scale, flat_index, score in zip(centers, scales, locations, combined):
            row, col = divmod(int(flat_index), width)
            shift = np.array([index_to_displacement(col, width),
                              index_to_displacement(row, height)], dtype=np.float64)
            found = center + shift * window * scale / p.input_size
            score = float(score) if math.isfinite(score) else 0.0
            candidates.append(Candidate(box=cxcywh_to_xywh([*found, *(self._size * scale)]),
                                        score=score))
        return candidates

    def reseat(self, box_xywh) -> None:
        """Move the search to ``box_xywh`` (size clamped as in tracking); the model is kept."""
        cx, cy, w, h = xywh_to_cxcywh(box_xywh)
        self._center = np.array([cx, cy])
        self._size = np.clip(np.array([w, h]), self._min_size, self._max_size)

    # -- dense scan (unsup_tracker.long_term) ----------------------------------------------
    @property
    def supports_dense_scan(self) -> bool:
        return bool(self.params.dense_scan)

    def _scan_geometry(self, image: np.ndarray, window) -> tuple[float, float, int, int, int]:
        """``(sx, sy, margin, map_rows, map_cols)`` of the frame warped so ``window`` is a crop.

        The frame is resized by ``input_size / window`` per axis (as a crop of that window
        would be) inside a ``margin`` of the frame's mean colour, so windows centred anywhere
        in the frame, borders included, are sub-arrays of it. The score map's entry ``(r, c)``
        is the window centred at ``((c + m / 2 - margin) / sx, (r + m / 2 - margin) / sy)``
        with ``m = input_size``; it needs the warped pixels ``[r, r + m) x [c, c + m)``.
        """
        m = self.params.input_size
        sx, sy = m / float(window[0]), m / float(window[1])
        height, width = image.shape[:2]
        map_rows = int(math.ceil(height * sy)) + 1
        map_cols = int(math.ceil(width * sx)) + 1
        return sx, sy, m // 2, map_rows, map_cols

    def scan_parts(self, image: np.ndarray, scale: float, anchor) -> list[ScanPart]:
        """Parts of the scan map of at most ``scan_pixels_per_frame`` warped pixels each.

        Full-width bands while a band holds at least ``input_size`` map rows (at least half
        of its warped pixels are then scored); square tiles for small targets in large
        frames, whose bands would be mostly the ``input_size - 1`` rows of context.
        """
        m = self.params.input_size
        budget = self.params.scan_pixels_per_frame
        window = tuple(float(v) for v in self._window_size() * scale)
        sx, sy, margin, map_rows, map_cols = self._scan_geometry(image, window)
        # r x c map entries need (r + m - 1) x (c + m - 1) warped pixels.
        tile_cols = map_cols
        tile_rows = budget // (map_cols + m - 1) - m + 1
        if tile_rows < m:
            tile_rows = tile_cols = max(int(math.isqrt(budget)) - m + 1, 8)
        anchor_map = (float(anchor[0]) * sx - m / 2 + margin,
                      float(anchor[1]) * sy - m / 2 + margin)
        parts, distances = [], []
        for row in range(0, map_rows, tile_rows):
            for col in range(0, map_cols, tile_cols):
                rows = (row, min(row + tile_rows, map_rows))
                cols = (col, min(col + tile_cols, map_cols))
                parts.append(ScanPart(float(scale), window, rows, cols))
                # Nearest point of the part to the anchor first (0 when inside), then centres.
                gap = math.hypot(max(cols[0] - anchor_map[0], 0.0, anchor_map[0] - cols[1]),
                                 max(rows[0] - anchor_map[1], 0.0, anchor_map[1] - rows[1]))
                distances.append((gap, math.hypot((cols[0] + cols[1]) / 2 - anchor_map[0],
                                                  (rows[0] + rows[1]) / 2 - anchor_map[1])))
        return [parts[i] for i in sorted(range(len(parts)), key=distances.__getitem__)]

    def _scan_kernel_spectra(self, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the conjugate spectra the scan correlates with, at map size ``(rows, cols)``.

        ``(C, rows, cols // 2 + 1)`` of the first-frame filter's windowed kernel and
        ``(rows, cols // 2 + 1)`` of the squared window (the energy normalisation); cached
        while the map size and the filter stay.
        """
        key = (rows, cols, self._first_filter.version)
        cached = self._scan_kernels.get(key)
        if cached is None:
            kernel = self._first_filter.spatial_kernel() * self._window
            cached = (torch.fft.rfft2(kernel, s=(rows, cols)).conj(),
                      torch.fft.rfft2(self._window.square(), s=(rows, cols)).conj())
            self._scan_kernels = {key: cached}
        return cached

    @torch.inference_mode()
    def scan(self, image: np.ndarray, part: ScanPart, count: int) -> list[Candidate]:
        """Score a window centred at every map position of ``part`` in one pass.

        A window's score at zero displacement is the windowed features' dot product with the
        filter's spatial kernel, so all windows are one FFT correlation of the warped band's
        features with that kernel times the cosine window; the energy normalisation is the
        correlation of the squared features with the squared window. Same quantity as
        ``detect`` at a window's centre with the first-frame filter (relative to the first
        frame), up to the convolutions' zero padding at crop borders, where the window is ~0;
        the layer verifies the proposals with ``detect`` (both filters, peak displacement).
        """
        p = self.params
        m = p.input_size
        sx, sy, margin, _, _ = self._scan_geometry(image, part.window)
        (row0, row1), (col0, col1) = part.rows, part.cols
        rows, cols = row1 - row0 + m - 1, col1 - col0 + m - 1
        # The part's warped pixels are a crop: its output pixel (0, 0) is the warped frame's
        # (row0, col0), at the frame's scale (sx, sy).
        center = ((cols / 2 + col0 - margin) / sx, (rows / 2 + row0 - margin) / sy)
        warped = crop_and_resize(image, center, (cols / sx, rows / sy), (cols, rows),
                                 mean_color(image))
        features = self.model(self._patches_to_tensor(warped[None]), padding=p.conv_padding)[0]
        frows, fcols = features.shape[-2:]
        kernel, energy_kernel = self._scan_kernel_spectra(frows, fcols)
        valid = (slice(0, frows - self._map_size + 1), slice(0, fcols - self._map_size + 1))
        score = torch.fft.irfft2((torch.fft.rfft2(features) * kernel).sum(0),
                                 s=(frows, fcols))[valid]
        if p.energy_normalised_peaks:
            energy = torch.fft.irfft2(torch.fft.rfft2(features.square().sum(0)) * energy_kernel,
                                      s=(frows, fcols))[valid]
            score = score / energy.clamp_min(1e-12).sqrt()
        values = (score / self._score_ref).cpu().numpy().astype(np.float32)
        # Local maxima over about a target's extent in the map (a separable max filter).
        side = int(round(m / (1.0 + p.padding))) | 1
        dilated = cv2.dilate(values, np.ones((side, side), np.uint8))
        peaks = np.argwhere((values >= dilated) & np.isfinite(values))
        values = values[peaks[:, 0], peaks[:, 1]].astype(np.float64)
        order = np.argsort(-values, kind="stable")[:count]
        size = np.asarray(part.window) / (1.0 + p.padding)
        candidates = []
        for index in order:
            row, col = peaks[index]
            center = ((col + col0 + m / 2 - margin) / sx, (row + row0 + m / 2 - margin) / sy)
            candidates.append(Candidate(box=cxcywh_to_xywh([*center, *size]),
                                        score=float(values[index])))
        return candidates
