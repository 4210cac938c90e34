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
"""PUL tracking: the shared SiamFC tracker with PUL's defaults.

PUL keeps "the same tracking steps used in the original trackers" and applies "no online
adaptation" (DIGEST 3.5), so the template is never updated; SiamFC's scale-search defaults apply,
except the cosine-window weight.

Decision: ``window_influence`` 0.3 instead of SiamFC's 0.176, chosen on our development
benchmark (``unsup-tracker eval --dataset devbench --set window_influence=...``, shipped
checkpoint; sweep of window 0.176/0.3/0.45 x scale_lr 0.59/0.3 x update_rate 0/0.0102). With
the other defaults, AUC went from 44.5 to 48.1; 0.3 was better than 0.176 in all four
(scale_lr, update_rate) pairs, and 0.45 worse. The shipped network's response is flatter than
SiamFC's supervised one, so the motion prior matters more. real_dev, looked at only after the
choice: 48.9 -> 50.0. A template update (update_rate 0.0102) raised devbench further (49.6) but
lowered real_dev (46.2) and is not what PUL prescribes, so it stays off.
"""
from __future__ import annotations

import dataclasses

from ...models.siamfc_tracker import SiamFCParams, SiamFCTracker


@dataclasses.dataclass
class PULParams(SiamFCParams):
    update_rate: float = 0.0
    window_influence: float = 0.3
    #: Lost flag and long-term layer, chosen on devbench with bench/bench_long_term.py for the
    #: shipped Lite0 checkpoint (`thresholds --methods s2siamfc pul --threads 1`; no layer, per
    #: frame, false alarms = flagged with IoU > 0.5 out of 1366, hits = flagged while absent
    #: out of 128): match (peak logit over the first frame's) < 0.4 or PSR < 0.08 flagged
    #: 38 / 100 (2.8 % / 78 %); match < 0.35: 18 / 45; PSR < 0.10 adds 11 false alarms and no
    #: hit. Re-acquisition at 0.74, the lowest threshold without a wrong re-acquisition (best
    #: full-frame candidate of 168 frames, right in 119: 0.74: 43 right, 0 wrong; 0.72: 48 and
    #: 2; 0.7: 52 and 5; 0.8: 23 and 0; the scratch checkpoint's 0.95: none). The scratch
    #: checkpoint had PSR 0.10, match 0.4, re-acquisition 0.95.
    lost_score_threshold: float = 0.08
    #: The match floor is 0.1 and a frame is also low below 0.6 of the running mean of the
    #: confident matches; the local track recovers at 0.7 of that mean at the loss (at most
    #: ``recover_match_threshold``). Why: on real footage the match with the first frame drifts
    #: with the target's look, and a fixed 0.4 flagged tracked targets lost (real_dev, reporting
    #: only: 487 of 1326 well-tracked frames). Chosen on devbench: the layer's rule replayed
    #: without search (`bench/bench_long_term.py lost --save P` then `drift --load P`; false
    #: alarms / hits of 1389 on-target and 128 absent frames): floor 0.1, drop 0.6, recover
    #: 0.7: 16 / 88; drop 0.65: 58 / 116 (the fixed 0.4 rule: 88 / 117); then the eval of the
    #: two (`unsup-tracker eval --method pul --dataset devbench --threads 1`): drop 0.6: AUC
    #: 73.3, 14 / 76 (of 1394 / 128); drop 0.65: AUC 71.1, 48 / 104 (of 1352 / 128); without
    #: the layer 72.9. Devbench's targets barely change look, so it cannot show the drift; the
    #: lower floor is chosen for it, not measured on it.
    lost_match_threshold: float = 0.1
    lost_drop_ratio: float = 0.6
    recover_ratio: float = 0.7
    reacquire_threshold: float = 0.74
    #: Search patches of 191 px (the network's 255 searches a 2x template region, this 1.5x):
    #: 0.56x the backbone's work per frame, and on devbench (shipped checkpoint,
    #: `unsup-tracker eval --set long_term=false --set instance_size=N --threads 1`) AUC
    #: 72.9 at 191 and at 223 against 71.6 at 255; real_dev (reporting only) 191: see README.
    #: Chosen on devbench alone. PUL's training mines with the full 255 (methods/pul/recipe.py).
    instance_size: int = 191
    #: Recovery by the local track at match >= 0.6 for 3 frames (chosen with the fixed lost
    #: level 0.4). Devbench, no layer (`bench/bench_long_term.py lost`: frames ending a run of
    #: 3 with match >= R and PSR >= 0.08): R 0.6: 10 of 128 absent and 942 of 1366 on-target
    #: frames; 0.5: 15 / 1154; 0.45: 25 / 1222; 0.55: 11 / 1050. 0.5 took the look-alike of
    #: test_long_term.py (alone in view, it matches 0.52-0.55) for the target.
    recover_match_threshold: float = 0.6
    recover_frames: int = 3


class PULTracker(SiamFCTracker):
    """SiamFC three-scale tracker registered as ``pul``."""
