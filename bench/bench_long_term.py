"""The long-term layer (issue 9): choose its thresholds on devbench, and measure its cost.

``thresholds``: for each method on the development benchmark (never real_dev):

* lost thresholds: one run without the layer (``long_term=False``) records every frame's
  ``score`` and ``match_score`` with the ground truth; for each candidate threshold it prints
  the frames a flag "score < T" (or "match < T") would call lost while the box has IoU > 0.5
  (false alarms) and while the target is absent (hits), out of all such frames;
  and, as a proxy for the recovery by the local track, the frames that end a run of N frames
  with match >= R and score >= the lost score threshold (absent / on target);
* re-acquisition threshold: on every ``--every``-th frame, a fresh tracker initialised on
  frame 1 (with the first frame's target size; the true size is used for present frames so
  that a right candidate can reach IoU > 0.5) searches the whole frame as the layer does (a
  method's dense scan and ``detect`` on its best proposals, else a grid of ``detect``
  windows); the best candidate is "right" when its box has IoU > 0.5 with the ground truth,
  "wrong" otherwise (target absent, a distractor, background). For each threshold: right and wrong
  re-acquisitions (best candidate >= T), out of the frames scanned.

``recovery``: the layer's run on every sequence with recovery by the local track turned off
(``recover_match_threshold`` 1e9) records, per frame, the lost flag, the local track's box,
score and match; for each recovery level R and count N it then replays the layer's rule (lost
ends after N consecutive frames with match >= R and score >= the lost score threshold; lost
again after ``lost_patience`` low frames) and prints the frames flagged lost while IoU > 0.5
(false alarms) and while the target is absent (hits), and the absent frames it would report as
tracked. A replay, not a re-run: after a recovery the method's template update resumes, which
the replay does not model (the eval measures the chosen values).

``drift``: the lost rule (:class:`unsup_tracker.long_term.LostRule`, the layer's own code)
replayed on each plain run without the layer, for match floors, drop ratios (a frame is low
below that fraction of the running mean of confident matches) and recovery ratios (the local
track recovers at that fraction of the mean at the loss): frames flagged lost while IoU > 0.5
(false alarms) and while the target is absent (hits). The search is not replayed (no
re-acquisition elsewhere), so hits are an upper bound on what the layer keeps flagged.

``cost``: per-frame ``track()`` time with the layer on and off on the same frames, of the
frames tracked normally (one the layer enters lost is a searching frame; their count is printed;
rounds alternate, median over rounds), and the time of a frame while lost (searching), for each
method at one thread (mean and 95th percentile over the frames). Printed, never asserted.

    python bench/bench_long_term.py thresholds [--methods udt s2siamfc pul] [--every 10]
    python bench/bench_long_term.py recovery [--methods ...]
    python bench/bench_long_term.py lost --save /tmp/plain   # then, without re-running:
    python bench/bench_long_term.py drift --load /tmp/plain
    python bench/bench_long_term.py cost [--methods ...] [--frames 100] [--rounds 5]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import cv2
import numpy as np
import torch

from unsup_tracker import build_tracker, list_methods
from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.geometry import iou_xywh, xywh_to_cxcywh
from unsup_tracker.long_term import LongTermTracker, LostRule

LOST_THRESHOLDS = (0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
REACQUIRE_THRESHOLDS = (0.4, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
RECOVER_LEVELS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
RECOVER_FRAMES = (1, 3, 5, 10)
DROP_RATIOS = (0.0, 0.4, 0.5, 0.6, 0.65, 0.7)
RECOVER_RATIOS = (0.0, 0.6, 0.7, 0.75, 0.8, 0.9)


def _iou(box, truth) -> float:
    if not np.all(np.isfinite(truth)):
        return -1.0
    return float(iou_xywh(np.asarray(box, float)[None], np.asarray(truth, float)[None])[0])


def _run_ends(good: np.ndarray, starts: np.ndarray, count: int) -> np.ndarray:
    """Flag the frames that end a run of ``count`` or more ``good`` frames (runs restart at
    ``starts``, the first frame of each sequence)."""
    flags, run = np.zeros(len(good), dtype=bool), 0
    for index, value in enumerate(good):
        run = (run + 1 if index not in starts else 1) if value else 0
        flags[index] = run >= count
    return flags


def _plain_record(method: str, sequence) -> dict:
    """Run the method without the layer on ``sequence``; score, match, IoU after frame 0."""
    tracker = build_tracker(method, device="cpu", long_term=False)
    tracker.init(sequence.load_frame(0), sequence.groundtruth[0])
    record = {"score": [], "match": [], "iou": []}
    for index in range(1, len(sequence)):
        result = tracker.track(sequence.load_frame(index))
        record["score"].append(result.score)
        record["match"].append(tracker.match_score)
        record["iou"].append(_iou(result.box, sequence.groundtruth[index]))
    return {key: np.array(value, dtype=float) for key, value in record.items()}


def _plain_records(method: str, sequences, load: str = "") -> list[dict]:
    """The plain runs, read from ``<load>_<method>.npz`` (``--save``) when given."""
    if load:
        with np.load(f"{load}_{method}.npz") as saved:
            ends = np.cumsum(saved["lengths"])[:-1]
            return [dict(zip(("score", "match", "iou"), values)) for values in zip(
                *(np.split(saved[key], ends) for key in ("scores", "matches", "ious")))]
    return [_plain_record(method, sequence) for sequence in sequences]


def lost_study(method: str, sequences, save: str = "", load: str = "") -> None:
    records = _plain_records(method, sequences, load)
    starts = list(np.cumsum([0] + [len(r["iou"]) for r in records])[:-1])
    scores, matches, ious = (np.concatenate([r[key] for r in records])
                             for key in ("score", "match", "iou"))
    if save:
        np.savez(f"{save}_{method}.npz", scores=scores, matches=matches, ious=ious,
                 lengths=[len(r["iou"]) for r in records])
    on_target, absent = ious > 0.5, ious < 0
    for name, values in (("score", scores), ("match", matches)):
        values = np.array(values, float)
        print(f"\n{method}: lost flag '{name} < T' (no layer, per frame): on-target frames "
              f"{on_target.sum()}, absent frames {absent.sum()}")
        print("| T | false alarms (lost, IoU > 0.5) | hits (lost, absent) |\n|---:|---:|---:|")
        for threshold in LOST_THRESHOLDS:
            low = values < threshold
            alarms, hits = (low & on_target).sum(), (low & absent).sum()
            print(f"| {threshold:.2f} | {alarms} ({100 * alarms / max(on_target.sum(), 1):.1f} %)"
                  f" | {hits} ({100 * hits / max(absent.sum(), 1):.1f} %) |", flush=True)
    # Recovery by the local track (proxy without the layer): frames ending a run of N frames
    # with match >= R and score >= the lost score threshold, i.e. where the rule would end lost.
    params = build_tracker(method, device="cpu").params
    matches, scores = np.array(matches, float), np.array(scores, float)
    print(f"\n{method}: frames ending a run of N frames with match >= R and score >= "
          f"{params.lost_score_threshold} (no layer; local recovery would end lost there)")
    print("| R | N | absent frames | on-target frames |\n|---:|---:|---:|---:|")
    for level in RECOVER_LEVELS:
        good = (matches >= level) & (scores >= params.lost_score_threshold)
        for count in (3, 5):
            ends = _run_ends(good, set(starts), count)
            print(f"| {level:.2f} | {count} | {(ends & absent).sum()} | "
                  f"{(ends & on_target).sum()} |")


def _scan(tracker, image):
    """Best candidate of a full-frame search around the frame centre, as the layer searches.

    A method with a dense scan: its proposals over the whole frame, the best
    ``search_windows_per_frame - 1`` verified with ``detect``; otherwise a grid of ``detect``
    windows.
    """
    height, width = image.shape[:2]
    if tracker.supports_dense_scan:
        count = tracker.params.search_windows_per_frame - 1
        proposals = [candidate for part in tracker.scan_parts(image, 1.0, (width / 2, height / 2))
                     for candidate in tracker.scan(image, part, count)]
        proposals = sorted(proposals, key=lambda c: -c.score)[:count]
        centers = np.array([xywh_to_cxcywh(c.box)[:2] for c in proposals])
    else:
        side, step = tracker.search_window()
        xs = np.arange(step / 2, width + step / 2, step)
        ys = np.arange(step / 2, height + step / 2, step)
        centers = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return max(tracker.detect(image, centers), key=lambda c: c.score)


def reacquire_study(method: str, sequences, every: int) -> None:
    best_scores, right = [], []
    for sequence in sequences:
        first = sequence.groundtruth[0]
        for index in range(every, len(sequence), every):
            tracker = build_tracker(method, device="cpu", long_term=False)
            tracker.init(sequence.load_frame(0), first)
            truth = sequence.groundtruth[index]
            if np.all(np.isfinite(truth)):
                tracker.reseat((*first[:2], *truth[2:]))
            candidate = _scan(tracker, sequence.load_frame(index))
            best_scores.append(candidate.score)
            right.append(_iou(candidate.box, truth) > 0.5)
    best_scores, right = np.array(best_scores), np.array(right)
    print(f"\n{method}: re-acquisition by the best full-frame candidate, {len(right)} frames "
          f"scanned (every {every}th), best candidate right in {right.sum()}")
    print("| T | right re-acquisitions | wrong re-acquisitions |\n|---:|---:|---:|")
    for threshold in REACQUIRE_THRESHOLDS:
        accept = best_scores >= threshold
        print(f"| {threshold:.2f} | {(accept & right).sum()} | {(accept & ~right).sum()} |")


def _recovery_record(method: str, sequence) -> dict:
    """Run the layer without local recovery on ``sequence``; per-frame values after frame 0."""
    tracker = build_tracker(method, device="cpu", recover_match_threshold=1e9)
    assert isinstance(tracker, LongTermTracker)
    tracker.init(sequence.load_frame(0), sequence.groundtruth[0])
    record = {"lost": [], "score": [], "match": [], "iou": []}
    for index in range(1, len(sequence)):
        result = tracker.track(sequence.load_frame(index))
        record["lost"].append(result.lost)
        score, match = tracker._score_and_match(result)
        record["score"].append(score)
        record["match"].append(match)
        record["iou"].append(_iou(result.box, sequence.groundtruth[index]))
    return {key: np.array(value, dtype=float) for key, value in record.items()}


def _replay(record: dict, params, level: float, count: int) -> np.ndarray:
    """Return the lost flags the layer's rule with local recovery (level, count) would give.

    The recorded run's lost episodes start as recorded; within one, :class:`LostRule` with a
    fixed recovery ``level`` over ``count`` frames ends it, and judges the frames after that.
    """
    recorded = record["lost"].astype(bool)
    rule = LostRule(dataclasses.replace(
        params, recover_match_threshold=level, recover_frames=count, recover_ratio=0.0))
    flags = np.zeros(len(recorded), dtype=bool)
    lost = False
    for index, (score, match) in enumerate(zip(record["score"], record["match"])):
        if not recorded[index]:
            rule.judge(score, match)  # the recorded run tracked (or re-acquired) here
            lost = False
        elif index == 0 or not recorded[index - 1]:
            rule.judge(score, match)  # the recorded run declared the loss here
            lost = True
        elif lost:
            lost = not rule.recovered(score, match)
        else:
            lost = rule.judge(score, match)[1]
        flags[index] = lost
    return flags


def recovery_study(method: str, sequences) -> None:
    params = build_tracker(method, device="cpu").params
    records = [_recovery_record(method, sequence) for sequence in sequences]
    ious = np.concatenate([r["iou"] for r in records])
    on_target, absent = ious > 0.5, ious < 0
    print(f"\n{method}: lost flag with recovery by the local track (replay, devbench): "
          f"on-target frames {on_target.sum()}, absent frames {absent.sum()}; "
          f"lost match {params.lost_match_threshold}, score {params.lost_score_threshold}")
    recorded = np.concatenate([r["lost"] for r in records]).astype(bool)
    print(f"without recovery: false alarms {(recorded & on_target).sum()}, "
          f"hits {(recorded & absent).sum()}")
    print("| R | N | false alarms (lost, IoU > 0.5) | hits (lost, absent) | "
          "absent reported tracked |\n|---:|---:|---:|---:|---:|")
    for level in RECOVER_LEVELS:
        for count in RECOVER_FRAMES:
            flags = np.concatenate([_replay(r, params, level, count) for r in records])
            print(f"| {level:.2f} | {count} | {(flags & on_target).sum()} | "
                  f"{(flags & absent).sum()} | {(~flags & absent).sum()} |", flush=True)


def rule_replay(record: dict, params) -> np.ndarray:
    """Lost flags :class:`LostRule` gives on a plain run's values (the layer's local track
    without its search: while lost, the recorded match stands for the local box's)."""
    rule, lost = LostRule(params), False
    flags = np.zeros(len(record["iou"]), dtype=bool)
    for index, (score, match) in enumerate(zip(record["score"], record["match"])):
        if not lost:
            lost = rule.judge(score, match)[1]
        elif rule.recovered(score, match):
            lost = False
        flags[index] = lost
    return flags


def drift_study(method: str, sequences, load: str = "", floors=(), score_levels=()) -> None:
    """Relative lost rule: false alarms and hits for floors, drop and recovery ratios."""
    records = _plain_records(method, sequences, load)
    ious = np.concatenate([r["iou"] for r in records])
    on_target, absent = ious > 0.5, ious < 0
    base = build_tracker(method, device="cpu").params
    print(f"\n{method}: layer's lost rule replayed on the plain run (no search): on-target "
          f"frames {on_target.sum()}, absent {absent.sum()}; score < {base.lost_score_threshold},"
          f" recover_match_threshold {base.recover_match_threshold}, "
          f"{base.recover_frames} frames")
    print("| score level | match floor | drop ratio | recover ratio | false alarms (lost, "
          "IoU > 0.5) | hits (lost, absent) |\n|---:|---:|---:|---:|---:|---:|")
    floors = sorted({base.lost_match_threshold, 0.1, *floors})
    for score_level in sorted({base.lost_score_threshold, *score_levels}):
        for floor in floors:
            for drop in DROP_RATIOS:
                for recover in RECOVER_RATIOS:
                    if recover and recover <= drop:
                        continue
                    params = dataclasses.replace(
                        base, lost_score_threshold=score_level, lost_match_threshold=floor,
                        lost_drop_ratio=drop, recover_ratio=recover)
                    flags = np.concatenate([rule_replay(r, params) for r in records])
                    print(f"| {score_level:.2f} | {floor:.2f} | {drop:.2f} | {recover:.2f} | "
                          f"{(flags & on_target).sum()} | {(flags & absent).sum()} |",
                          flush=True)


def cost(methods, frames: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur((rng.random((480, 640, 3)) * 255).astype(np.uint8), (0, 0), 3)
    texture = cv2.GaussianBlur((rng.random((60, 60, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    clip = []
    for index in range(frames):
        image = background.copy()
        x = 200 + int(60 * np.sin(2 * np.pi * index / frames))
        image[200:260, x:x + 60] = texture
        clip.append(image)
    first = (200.0, 200.0, 60.0, 60.0)
    print("| method | track, layer off (ms) | track, layer on (ms) | overhead | "
          "searching frame, mean (ms) | searching frame, p95 (ms) | frames lost, layer on |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    for method in methods:
        times = {"off": [], "on": [], "search": []}
        searching, lost_frames = [], 0
        for _ in range(rounds):
            for key in ("off", "on"):
                tracker = build_tracker(method, device="cpu", long_term=key == "on")
                tracker.init(clip[0], first)
                # Tracking normally: frames the layer enters while lost are searching frames,
                # measured below, and not counted here.
                normal = []
                for image in clip[1:]:
                    was_lost = bool(getattr(tracker, "lost", False))
                    start = time.perf_counter()
                    tracker.track(image)
                    if not was_lost:
                        normal.append(time.perf_counter() - start)
                    lost_frames += was_lost
                times[key].append(float(np.mean(normal)))
            tracker = build_tracker(method, device="cpu", reacquire_threshold=1e9,
                                    reacquire_confirm_threshold=0.0)
            assert isinstance(tracker, LongTermTracker)
            tracker.init(clip[0], first)
            tracker._enter_lost(0.0)  # searching from the first frame on (never re-acquires)
            for image in clip[1:]:
                start = time.perf_counter()
                tracker.track(image)
                searching.append(time.perf_counter() - start)
            times["search"].append(float(np.mean(searching[-(len(clip) - 1):])))
        off, on, search = (1000 * float(np.median(times[k])) for k in ("off", "on", "search"))
        print(f"| {method} | {off:.2f} | {on:.2f} | {100 * (on / off - 1):+.1f} % | "
              f"{search:.2f} | {1000 * float(np.percentile(searching, 95)):.2f} | "
              f"{lost_frames}/{rounds * (len(clip) - 1)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("thresholds", "lost", "reacquire", "recovery", "drift",
                                          "cost"))
    parser.add_argument("--methods", nargs="+", default=list_methods())
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", default="", metavar="PREFIX",
                        help="lost study: also save the per-frame values to PREFIX_<method>.npz")
    parser.add_argument("--floors", type=float, nargs="*", default=[],
                        help="drift study: match floors besides the method's and 0.1")
    parser.add_argument("--score-levels", type=float, nargs="*", default=[],
                        help="drift study: lost score thresholds besides the method's")
    parser.add_argument("--load", default="", metavar="PREFIX",
                        help="lost and drift studies: read the values --save wrote")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.study == "cost":
        cost(args.methods, args.frames, args.rounds)
        return
    sequences = load_dataset(devbench.ensure_devbench())
    for method in args.methods:
        if args.study in ("thresholds", "lost"):
            lost_study(method, sequences, args.save, args.load)
        if args.study in ("thresholds", "reacquire"):
            reacquire_study(method, sequences, args.every)
        if args.study == "recovery":
            recovery_study(method, sequences)
        if args.study == "drift":
            drift_study(method, sequences, args.load, args.floors, args.score_levels)


if __name__ == "__main__":
    main()
