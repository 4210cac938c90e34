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
"""Soak: camera -> tracker -> visualization at 640x480 / 30 Hz for an hour, re-initialised often.

The graph is :mod:`ros_graph`'s (the same harness as ``bench_ros_latency.py``), with
visualization_node. Every ``--reinit-every`` seconds this process calls ``~/stop`` then ``~/init``
at the newest detection on its own frame, with the demo box's size (the demo's box on the latest
frame when the target is lost), so tracker sessions, models and buffers are replaced all along.
Each minute it prints one row: memory of every node sampled at the minute's end (RSS,
private = anonymous memory, shm = the DDS shared-memory segments it maps;
:func:`ros_graph.memory_mib`), frames published / answered / dropped as stale by the tracker (it
was busy: compute) / lost while an ``~/init`` ran (the tracker's executor was busy: compute) /
lost otherwise (transport, unexplained: "beyond compute") / annotated, stamp -> detection latency
p50 / p95, stamp -> annotated p50, compute p50 and the re-inits. At the end: memory growth of
each node after the warm-up, private and RSS, last minute against the warm-up's and as the
median of the last 10 minutes against the first 10 (aim < 5 % of private memory: that is where a
leak grows; RSS also counts the transport's fixed-size segments as far as a load burst has
touched them), the latency trend after the warm-up (aim: no creep) and the drops not explained
by compute (aim: none).

Outputs go to ``--out`` (default ``bench/results/soak_ros_<UTC time>/``, which git ignores:
results depend on the machine and its load, so they are documentation only when quoted with
that context, as in the README): ``soak.csv`` (the table), ``soak.json`` (rows and summary),
``soak.png`` (memory, latency and drops per minute) and the nodes' logs.

Not a CI test (an hour by default), and not run by ``make bench`` (which runs
``bench/bench_*.py``)::

    make bench BENCH=bench/soak_ros.py ARGS="--minutes 60"
"""
import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from unsup_tracker.geometry import cxcywh_to_xywh, xywh_to_cxcywh

from ros_graph import MEMORY_FIELDS, Graph, add_graph_arguments, memory_mib, window_figures

NODES = ("camera_node", "tracker_node", "visualization_node")
#: Minutes whose median memory is compared at the start (after the warm-up) and at the end.
TREND_WINDOW_MINUTES = 10
MEMORY_COLUMNS = tuple(f"{kind}_{n.split('_')[0]}_mib" for kind in MEMORY_FIELDS for n in NODES)
COLUMNS = ("minute", *MEMORY_COLUMNS, "published", "answered",
           "stale", "lost_init", "lost", "annotated", "latency_p50_ms", "latency_p95_ms",
           "annotated_p50_ms", "compute_p50_ms", "reinits", "reinit_failed", "reinit_p50_ms")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="soak length")
    parser.add_argument("--warmup-minutes", type=int, default=1,
                        help="minutes before the memory and latency baselines")
    parser.add_argument("--minute-seconds", type=float, default=60.0,
                        help="length of one table row (60; shorter only to try the script)")
    parser.add_argument("--reinit-every", type=float, default=4.0, help="seconds")
    parser.add_argument("--out", default=None, help="output folder")
    add_graph_arguments(parser)
    args = parser.parse_args()
    if args.minutes <= args.warmup_minutes:
        parser.error("--minutes must be larger than --warmup-minutes")
    return args


def reinit(graph):
    """Re-initialise at the newest detection (its own frame), else the demo box; return row.

    The box keeps the demo box's size at the detected centre: re-initialising on the tracker's
    own box compounds its size drift over ~900 re-inits (UDT's grew to the whole 640x480 frame
    within the hour), which changes the workload (mask area, drawing) and reads as creep.
    """
    latest = graph.latest_detection()
    if latest is not None and time.time() - latest[0] * 1e-9 < 0.5:
        stamp, detected = latest
        size = np.asarray(graph.init_box, dtype=float)[2:]
        # The centre is kept where the whole box stays inside the frame.
        center = np.clip(xywh_to_cxcywh(detected)[:2], size / 2,
                         np.asarray(graph.frame_size, dtype=float) - size / 2)
        box = cxcywh_to_xywh([*center, *size])
    else:
        stamp, box = 0, None
    # ~/init adds a target: a re-init replaces the held one, so it stops it first (the pair is
    # what a user re-seating the target does, and what is timed).
    started = time.monotonic()
    graph.stop()
    response, _ = graph.init(stamp, box, retries=3)
    return response.success, time.monotonic() - started, response.message


def minute_row(graph, minute, start, end, memory, inits):
    f = window_figures(graph, start, end)
    ok = [s for success, s, _ in inits if success]
    return {
        "minute": minute,
        **{f"{kind}_{n.split('_')[0]}_mib": round(memory[n][kind], 1)
           for kind in MEMORY_FIELDS for n in NODES},
        "published": f["frames_published"], "answered": f["frames_answered"],
        "stale": f["dropped_as_stale_by_tracker"],
        "lost_init": f["lost_while_init_ran"],
        "lost": f["lost_in_transport_or_unaccounted"], "annotated": f["frames_annotated"],
        "latency_p50_ms": round(f["latency_ms"]["p50"], 2),
        "latency_p95_ms": round(f["latency_ms"]["p95"], 2),
        "annotated_p50_ms": round(f["annotated_latency_ms"]["p50"], 2),
        "compute_p50_ms": round(f["compute_ms"]["p50"], 2),
        "reinits": len(inits), "reinit_failed": len(inits) - len(ok),
        "reinit_p50_ms": round(float(np.median(ok)) * 1e3, 1) if ok else float("nan"),
    }


def print_row(row):
    print("  ".join(f"{row[c]:>{max(len(c), 6)}}" if isinstance(row[c], (int, str))
                    else f"{row[c]:>{max(len(c), 6)}.1f}" for c in COLUMNS), flush=True)


def summarize(rows, warmup):
    after = [r for r in rows if r["minute"] > warmup]
    base = rows[warmup - 1]
    summary = {"warmup_minutes": warmup, "minutes": len(rows)}
    # A node's memory swings with the frames it holds at the sampling instant (visualization_node's
    # 30-frame pairing cache alone is up to 27 MiB), so besides last-vs-warm-up the trend is given
    # robustly: the median of the last WINDOW minutes against the median of the first WINDOW
    # after the warm-up, and a least-squares slope.
    window = max(1, min(TREND_WINDOW_MINUTES, len(after) // 2))
    for kind in ("private", "rss"):
        for n in NODES:
            key = f"{kind}_{n.split('_')[0]}_mib"
            values = [r[key] for r in after]
            growth = [100.0 * (v - base[key]) / base[key] for v in values]
            summary[f"{n}_{kind}_growth_pct"] = round(growth[-1], 2)
            summary[f"{n}_{kind}_max_growth_pct"] = round(max(growth), 2)
            first, last = float(np.median(values[:window])), float(np.median(values[-window:]))
            summary[f"{n}_{kind}_median_growth_pct"] = round(100.0 * (last - first) / first, 2)
            summary[f"{n}_{kind}_slope_mib_per_hour"] = (
                round(60.0 * float(np.polyfit([r["minute"] for r in after], values, 1)[0]), 2)
                if len(after) > 1 else float("nan"))
    p50 = [r["latency_p50_ms"] for r in after]
    minutes = [r["minute"] for r in after]
    summary["latency_p50_slope_ms_per_min"] = (
        round(float(np.polyfit(minutes, p50, 1)[0]), 3) if len(after) > 1 else float("nan"))
    summary["latency_p50_first_last_ms"] = (p50[0], p50[-1])
    summary["latency_p95_first_last_ms"] = (after[0]["latency_p95_ms"],
                                            after[-1]["latency_p95_ms"])
    for key in ("published", "answered", "stale", "lost_init", "lost", "annotated", "reinits",
                "reinit_failed"):
        summary[f"total_{key}"] = int(sum(r[key] for r in rows))
    return summary


def plot(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["minute"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for n in NODES:
        for kind, style in (("rss", "-"), ("private", "--")):
            axes[0].plot(minutes, [r[f"{kind}_{n.split('_')[0]}_mib"] for r in rows],
                         style, marker=".", label=f"{n} {kind}")
    axes[0].set_ylabel("memory (MiB)")
    axes[0].legend(fontsize=8)
    for key, label in (("latency_p50_ms", "detection p50"), ("latency_p95_ms", "detection p95"),
                       ("annotated_p50_ms", "annotated p50"), ("compute_p50_ms", "compute p50")):
        axes[1].plot(minutes, [r[key] for r in rows], marker=".", label=label)
    axes[1].set_ylabel("latency (ms)")
    axes[1].legend(fontsize=8)
    for key in ("stale", "lost_init", "lost"):
        axes[2].plot(minutes, [r[key] for r in rows], marker=".", label=f"dropped: {key}")
    axes[2].plot(minutes, [r["published"] - r["annotated"] for r in rows], marker=".",
                 label="published - annotated")
    axes[2].set_ylabel("frames per minute")
    axes[2].set_xlabel("minute")
    axes[2].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    args = parse_args()
    out = Path(args.out or Path(__file__).resolve().parent / "results" /
               time.strftime("soak_ros_%Y%m%d-%H%M%S", time.gmtime()))
    out.mkdir(parents=True, exist_ok=True)
    title = (f"soak: {args.method}, 640x480 rgb8 at {args.rate:g} Hz, {args.reliability}, "
             f"re-init every {args.reinit_every:g} s")
    print(title)
    print("  ".join(f"{c:>{max(len(c), 6)}}" for c in COLUMNS), flush=True)
    rows, failures = [], []
    with Graph(args, visualization=True, logs=out / "logs") as graph:
        response, _ = graph.init(graph.first_frame())
        if not response.success:
            sys.exit(f"~/init failed: {response.message}")
        pids = graph.pids()
        start = time.time()
        next_reinit = start + args.reinit_every
        inits, pending = [], None  # pending: the last minute, reported once its answers are in

        def report(minute):
            rows.append(minute_row(graph, **minute))
            print_row(rows[-1])
            graph.forget_before(int(minute["end"] * 1e9))

        for minute in range(1, args.minutes + 1):
            minute_end = start + minute * args.minute_seconds
            while time.time() < minute_end:
                if pending and time.time() > pending["end"] + 1.0:
                    report(pending)
                    pending = None
                if time.time() >= next_reinit:
                    inits.append(reinit(graph))
                    if not inits[-1][0]:
                        failures.append(inits[-1][2])
                    next_reinit += args.reinit_every
                wake = min(next_reinit, minute_end, pending["end"] + 1.0 if pending else np.inf)
                time.sleep(max(0.0, min(wake - time.time(), 0.5)))
            memory = {n: memory_mib(pids[n]) for n in NODES}
            if pending:  # minutes shorter than a second (trying the script)
                time.sleep(1.0)
                report(pending)
            pending = dict(minute=minute, start=minute_end - args.minute_seconds,
                           end=minute_end, memory=memory, inits=inits)
            inits = []
            dead = [n for n, alive in graph.alive().items() if not alive]
            if dead:
                print(f"stopped: {dead} exited; see {graph.logs}", flush=True)
                break
        time.sleep(1.0)
        report(pending)
    with open(out / "soak.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(rows, args.warmup_minutes) if len(rows) > args.warmup_minutes else {}
    (out / "soak.json").write_text(json.dumps(
        {"args": vars(args), "rows": rows, "summary": summary,
         "reinit_failures": failures[:20]}, indent=2))
    plot(rows, out / "soak.png", title)
    print("summary (after the warm-up):")
    for key, value in summary.items():
        print(f"  {key}: {value}")
    if failures:
        print(f"  re-init failures (first 3 of {len(failures)}): {failures[:3]}")
    print(f"wrote {out}/soak.csv, soak.json, soak.png, logs/")


if __name__ == "__main__":
    main()
