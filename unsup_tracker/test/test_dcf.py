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
"""DCF layer against a NumPy reference, and the fast LRN against torch.nn.LocalResponseNorm."""
import numpy as np
import pytest
import torch
from synthetic import one_torch_thread  # noqa: F401 (autouse fixture)
from torch import nn

from unsup_tracker.models.dcf import (CorrelationFilter, dcf_forward, gaussian_label,
                                      index_to_displacement, shifted_label_spectrum, spectrum)
from unsup_tracker.models.lrn import FastLocalResponseNorm


# -- NumPy reference (full complex FFTs, written from the formulas, not from the module) -----
def np_label(height, width, sigma):
    ys = np.arange(height)
    xs = np.arange(width)
    dy = np.minimum(ys, height - ys).astype(float)
    dx = np.minimum(xs, width - xs).astype(float)
    # For even sizes index h/2 stands for -h/2: same distance.
    return np.exp(-0.5 * (dy[:, None] ** 2 + dx[None, :] ** 2) / sigma ** 2)


def np_alpha(x, y, lam):
    channels, height, width = x.shape
    xf = np.fft.fft2(x)
    kxx = (xf * np.conj(xf)).real.sum(axis=0) / (height * width * channels)
    return np.fft.fft2(y) / (kxx + lam), xf


def np_response(alphaf, xf, z):
    channels, height, width = z.shape
    zf = np.fft.fft2(z)
    kzx = (zf * np.conj(xf)).sum(axis=0) / (height * width * channels)
    return np.real(np.fft.ifft2(alphaf * kzx))


def test_gaussian_label_peak_and_symmetry():
    for height, width in ((9, 9), (8, 12), (7, 10)):
        label = gaussian_label(height, width, 1.7, dtype=torch.float64).numpy()
        assert label[0, 0] == pytest.approx(1.0)
        assert np.unravel_index(label.argmax(), label.shape) == (0, 0)
        np.testing.assert_allclose(label, np_label(height, width, 1.7), atol=1e-12)
    assert index_to_displacement(7, 8) == -1 and index_to_displacement(3, 8) == 3
    with pytest.raises(ValueError):
        gaussian_label(8, 8, 0.0)


@pytest.mark.parametrize("size", [(16, 16), (15, 12)])
def test_dcf_forward_matches_numpy(size):
    rng = np.random.default_rng(0)
    height, width = size
    x = rng.standard_normal((3, 4, height, width))
    z = rng.standard_normal((3, 4, height, width))
    y = np_label(height, width, 2.0)
    lam = 1e-2
    ours = dcf_forward(torch.from_numpy(x), torch.from_numpy(z),
                       spectrum(torch.from_numpy(y)), lam).numpy()
    for item in range(3):
        alphaf, xf = np_alpha(x[item], y, lam)
        np.testing.assert_allclose(ours[item], np_response(alphaf, xf, z[item]), atol=1e-10)


def test_response_peaks_at_the_circular_shift():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((1, 8, 32, 32)))
    z = torch.roll(x, shifts=(3, -5), dims=(2, 3))
    label = gaussian_label(32, 32, 2.0, dtype=torch.float64)
    resp = dcf_forward(x, z, spectrum(label), 1e-4)[0]
    row, col = divmod(int(resp.argmax()), 32)
    assert (index_to_displacement(row, 32), index_to_displacement(col, 32)) == (3, -5)
    # On its own training sample the filter reproduces the label.
    self_resp = dcf_forward(x, x, spectrum(label), 1e-6)[0]
    np.testing.assert_allclose(self_resp.numpy(), label.numpy(), atol=1e-3)


def test_shifted_label_spectrum_is_a_roll():
    label = gaussian_label(12, 10, 1.5, dtype=torch.float64)
    shifts = torch.tensor([[0, 0], [2, -3], [-5, 4]])
    spec = shifted_label_spectrum(spectrum(label), shifts, 12, 10)
    maps = torch.fft.irfft2(spec, s=(12, 10))
    for item, (dy, dx) in enumerate(shifts.tolist()):
        np.testing.assert_allclose(maps[item].numpy(),
                                   torch.roll(label, (dy, dx), (0, 1)).numpy(), atol=1e-12)


def test_correlation_filter_interpolates_alpha_and_features():
    rng = np.random.default_rng(2)
    height = width = 16
    y = np_label(height, width, 2.0)
    lam, rate = 1e-3, 0.3
    first, second, search = (rng.standard_normal((4, height, width)) for _ in range(3))
    filt = CorrelationFilter(torch.from_numpy(y), lam)
    filt.fit(spectrum(torch.from_numpy(first)))
    filt.fit(spectrum(torch.from_numpy(second)), rate=rate)
    ours = filt.respond(spectrum(torch.from_numpy(search))[None])[0].numpy()
    alpha1, xf1 = np_alpha(first, y, lam)
    alpha2, xf2 = np_alpha(second, y, lam)
    alphaf = (1 - rate) * alpha1 + rate * alpha2
    xf = (1 - rate) * xf1 + rate * xf2
    np.testing.assert_allclose(ours, np_response(alphaf, xf, search), atol=1e-10)
    with pytest.raises(RuntimeError):
        CorrelationFilter(torch.from_numpy(y), lam).respond(spectrum(torch.from_numpy(search)))


def test_spatial_kernel_gives_the_response_at_zero_displacement():
    rng = np.random.default_rng(3)
    height, width = 12, 16
    filt = CorrelationFilter(torch.from_numpy(np_label(height, width, 2.0)), 1e-3)
    filt.fit(spectrum(torch.from_numpy(rng.standard_normal((4, height, width)))))
    search = torch.from_numpy(rng.standard_normal((4, height, width)))
    kernel = filt.spatial_kernel()
    assert kernel.shape == (4, height, width)
    expected = filt.respond(spectrum(search)[None])[0, 0, 0]
    assert float((search * kernel).sum()) == pytest.approx(float(expected), rel=1e-9)
    # Shifting the search by d moves that response to index d: the kernel is in window
    # coordinates, so a dense correlation with it scores every placement of the window.
    shifted = torch.roll(search, (2, 3), (1, 2))
    assert float((shifted * kernel).sum()) == pytest.approx(
        float(filt.respond(spectrum(search)[None])[0, -2, -3]), rel=1e-9)
    version = filt.version
    filt.fit(spectrum(search), rate=0.5)
    assert filt.version == version + 1


def test_dcf_gradients():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    z = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    label_spec = spectrum(gaussian_label(6, 5, 1.0, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda a, b: dcf_forward(a, b, label_spec, 0.1), (x, z))


@pytest.mark.parametrize("size", [(6, 6), (5, 7), (6, 7), (1, 4), (20, 20)])
def test_spectrum_backward_equals_torch(size):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 3, size[0], size[1] // 2 + 1, dtype=torch.complex128)
    (ours,) = torch.autograd.grad((spectrum(x) * weights).real.sum(), x)
    (ref,) = torch.autograd.grad((torch.fft.rfft2(x) * weights).real.sum(), x)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


# -- fast LRN -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 4, 5, 7])
@pytest.mark.parametrize("beta", [0.75, 0.5])
def test_fast_lrn_matches_torch_float64(size, beta):
    torch.manual_seed(size)
    for channels in (1, 3, 32):
        x = torch.randn(2, channels, 7, 6, dtype=torch.float64) * 40
        ref_module = nn.LocalResponseNorm(size, 1e-3, beta, 1.5)
        fast = FastLocalResponseNorm(channels, size, 1e-3, beta, 1.5)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), ref_module(x), rtol=1e-12, atol=1e-12)
        x_ours = x.clone().requires_grad_()
        x_ref = x.clone().requires_grad_()
        grad_out = torch.randn_like(x)
        (g_ours,) = torch.autograd.grad((fast(x_ours) * grad_out).sum(), x_ours)
        (g_ref,) = torch.autograd.grad((ref_module(x_ref) * grad_out).sum(), x_ref)
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-10, atol=1e-10)


def test_fast_lrn_float32_udt_setting_and_layouts():
    """Check UDT's LRN(5, 1e-4, 0.75, 1) on float32 features: ~1e-6 relative, any layout."""
    torch.manual_seed(0)
    x = torch.randn(3, 32, 40, 40) * 30
    reference = nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)(x)
    fast = FastLocalResponseNorm(32)
    scale = reference.abs().max()
    for tensor in (x, x.contiguous(memory_format=torch.channels_last)):
        with torch.inference_mode():
            assert float((fast(tensor) - reference).abs().max() / scale) < 2e-6
        out = fast(tensor.clone().requires_grad_()).detach()
        assert float((out - reference).abs().max() / scale) < 2e-6
    assert torch.autograd.gradcheck(FastLocalResponseNorm(2, 3, 0.5, 0.75, 1.0),
                                    (torch.randn(1, 2, 3, 3, dtype=torch.float64,
                                                 requires_grad=True),))


def test_fast_lrn_refuses_wrong_channels():
    with pytest.raises(ValueError):
        FastLocalResponseNorm(32)(torch.zeros(1, 16, 4, 4))
    with pytest.raises(ValueError):
        FastLocalResponseNorm(0)
