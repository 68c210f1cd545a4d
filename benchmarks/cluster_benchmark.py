"""Benchmark of batches on a Ray cluster and of a clip painted in chunks. Writes benchmarks/CLUSTER_RESULTS.md.

    python benchmarks/cluster_benchmark.py           # about 15 minutes on 2 shared cores
    python benchmarks/cluster_benchmark.py --quick   # a smoke run: smaller, fewer

1. Overhead per task. A real Ray cluster on this machine (tests/local_cluster.py: two nodes of one CPU,
   so two tasks at a time) paints batches through the program's own path (batch.expand, painting.prepare,
   cluster.Cluster, batch.run_batch), as `style_transfer.py --cluster` does. Each task reports the
   seconds its painting.paint took on the worker; the overhead per task is the time of the cluster's task
   slots not spent painting, (slots x wall time - sum of painting times) / tasks: handing the inputs
   out, Ray's scheduling, a worker's start (its TensorFlow import and VGG19 build), sending the run's
   files back and the driver writing them. Measured on a batch of tiny runs (where it is nearly all
   overhead) and on a batch at 384 px. The same 384 px batch is also painted on this machine alone
   (batch.paint_runs_here: one run at a time, TensorFlow on both cores), the per-pair time of the speed-up
   estimate.
2. Flicker across a chunk boundary. box.mp4 from frame 120 at 128 px is painted (a) every frame on its
   own as a still image, (b) in video mode in one chain, (c) in chunks as --chunk-frames paints it
   (clip_chunks: each chunk a video of its own, the overlap cross-faded). Flicker is the video
   benchmark's (flow.temporal_error, benchmarks/video_benchmark.py): per transition from one frame
   to the next; the boundary transitions are those into, inside and out of an overlap, where two chunks
   meet; the others are inside one chunk.
"""

import argparse
import functools
import os
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests"), os.path.dirname(os.path.abspath(__file__))]

import referee
from local_cluster import LocalCluster
from video_benchmark import VIDEOS, alone, clip_settings, input_frames, video_mode
from video_report import cpu_model

import style_transfer
import utils
from neural_style.files.disk import write_atomic
from neural_style.files.weights import load_weights
from neural_style.model.tf_setup import tf
from neural_style.runs import (
    batch,
    painting,
)
from neural_style.runs.stop import StopRequest
from neural_style.work import (
    clip_chunks,
    passes,
)

RESULTS_PATH = os.path.join(REPO, "benchmarks", "CLUSTER_RESULTS.md")
PHOTOS = ["images/cincinnati_bridge.jpg", "images/coffee.png", "images/astronaut.png"]
PAINTINGS = ["images/starry_night.jpg", "images/great_wave.png", "images/kandinsky_composition_viii.png"]


def plans_for(flags, weights):
    """The runs `style_transfer.py FLAGS` makes, checked and named as its run() does."""
    settings = style_transfer.parse_args(flags)
    return settings, style_transfer.plan(settings)[0]


def on_cluster(cluster, flags, weights, output_dir):
    """(connect seconds, wall seconds of the batch, [(hand-out to result, painting) seconds of each task])."""
    settings, plans = plans_for([*flags, "--output-dir", output_dir], weights)
    with StopRequest() as stop:
        started = time.perf_counter()
        painter = style_transfer_cluster().Cluster(cluster.address, weights, settings.cpus_per_task, stop)
        connected = time.perf_counter()
        try:
            paint_runs = functools.partial(painter.paint_runs, weights=weights, output_dir=output_dir)
            batch.run_batch(plans, paint_runs, output_dir, fresh=False)
        finally:
            painter.close()
    return connected - started, time.perf_counter() - connected, painter.task_seconds


def style_transfer_cluster():
    from neural_style.runs import cluster  # Ray, only here: the rest of the benchmark is the program without it

    return cluster


def here(flags, weights, output_dir):
    """Seconds of each run of the batch painted on this machine, one after another."""
    settings, plans = plans_for([*flags, "--output-dir", output_dir], weights)
    network = passes.build_network(plans[0].settings, weights)
    with StopRequest() as stop:
        return [seconds for _, _, seconds in batch.paint_runs_here(weights, network, output_dir, stop)(plans)]


def tiny_photos(folder, count):
    """A folder of `count` small photos of their own (blurred noise): a batch of as many tiny runs."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(count)
    for index in range(count):
        noise = rng.uniform(0, 255, (36, 48, 3)).astype(np.float32)
        cv2.imwrite(os.path.join(folder, f"photo{index:02d}.png"), cv2.GaussianBlur(noise, (5, 5), 2))
    return folder


def overhead(tasks, slots, connect_s, wall_s, task_seconds):
    """{the batch's figures}: the slots' time not spent painting, in all and per task."""
    painting = sum(seconds for _, seconds in task_seconds)
    return {
        "tasks": tasks,
        "connect_s": connect_s,
        "wall_s": wall_s,
        "painting_s": painting / tasks,
        "not_painting_s": slots * wall_s - painting,
        "overhead_s": (slots * wall_s - painting) / tasks,
    }


def chunked(settings, styles, network, chunk, overlap):
    """(c): the clip in chunks, painted one after another here, blended as a run writes its frames."""
    run = painting.Run(settings, tile=settings.size_px, frame_count=settings.frame_count)
    chunks = clip_chunks.cut(settings.frame_count, chunk, overlap)
    pictures = {}
    for part, frames in clip_chunks.chunk_frames(run, chunks):
        pictures[part.index] = clip_chunks.paint_chunk(settings, part, frames, styles, network).pictures
    blended = [clip_chunks.frame_picture(f, chunks, pictures) for f in range(1, settings.frame_count + 1)]
    return chunks, blended


def boundary_transitions(chunks):
    """The frames f whose transition from f - 1 is at a chunk boundary: into, inside and out of an overlap."""
    return {f for earlier, later in zip(chunks, chunks[1:]) for f in range(later.first, earlier.last + 2)}


def transition_flickers(inputs, pictures):
    """{frame: the independent referee's flicker of the step into it from the frame before}; a scene cut,
    which the referee does not judge, has none."""
    judged = enumerate(referee.flicker(inputs, pictures), start=2)
    return {frame: value for frame, (value, _) in judged if value is not None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: smaller, fewer")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cluster-benchmark-") as work:
        measure(args, work)


def measure(args, work):
    weights = load_weights()
    started = time.perf_counter()

    # 1. Overhead per task: batches of 6 and of 24 tiny runs, and one of 4 real ones; the time of a run here.
    tiny = ["--style", PAINTINGS[0], "--size", "32", "--scales", "1", "--iterations", "1"]
    real_size = "64" if args.quick else "384"
    real = ["--content", *PHOTOS[:2], "--style", *PAINTINGS[:2], "--each-style", "--size", real_size]
    slots = 2
    cluster = LocalCluster(nodes=slots, cpus=1)
    try:
        rows = {}
        for count in (6, 24):
            flags = ["--content", tiny_photos(f"{work}/photos{count}", count), *tiny]
            rows[count] = overhead(count, slots, *on_cluster(cluster, flags, weights, f"{work}/tiny{count}"))
        rows["real"] = overhead(4, slots, *on_cluster(cluster, real, weights, f"{work}/real"))
    finally:
        cluster.stop()
    for label, row in rows.items():
        print(label, row, flush=True)
    pair_here = here(real, weights, f"{work}/here")
    print("here", pair_here, flush=True)

    # 2. Flicker across chunk boundaries.
    frames, size, chunk, overlaps = (8, 64, 3, (2,)) if args.quick else (20, 128, 7, (2, 4))
    quick_flags = ["--iterations", "4", "--frame-iterations", "2"] if args.quick else []
    settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), 120, frames, size, *quick_flags)
    network = passes.build_network(settings, weights)
    styles = [utils.load_image(path) for path in settings.style_images]
    flickers = {}  # each way of painting: {frame: flicker of the transition from the frame before}
    inputs = input_frames(settings)
    for name, paint in (("a", alone), ("b", video_mode)):
        flickers[name] = transition_flickers(inputs, paint(settings, styles, network, inputs).pictures)
    chunkings = {}
    for overlap in overlaps:
        chunks, blended = chunked(settings, styles, network, chunk, overlap)
        flickers[overlap] = transition_flickers(inputs, blended)
        chunkings[overlap] = chunks
    print(flickers, flush=True)
    report = results_markdown(
        args, rows, pair_here, real_size, settings, frames, size, chunk, chunkings, flickers,
        time.perf_counter() - started,
    )  # fmt: skip
    write_atomic(args.output, report.encode())
    print(report)


def results_markdown(args, rows, pair_here, real_size, settings, frames, size, chunk, chunkings, flickers, elapsed_s):
    command = "python benchmarks/cluster_benchmark.py" + (" --quick" if args.quick else "")
    pair_s = float(np.mean(pair_here))
    # Time not spent painting = a start for each of the 2 workers + a cost for each task: two batches, two unknowns.
    per_task_s = (rows[24]["not_painting_s"] - rows[6]["not_painting_s"]) / (24 - 6)
    worker_start_s = (rows[6]["not_painting_s"] - 6 * per_task_s) / 2
    lines = [
        "# Cluster benchmark",
        "",
        f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d}: {cpu_model()}, {os.cpu_count()} cores, shared "
        f"with another engineer's benchmarks; TensorFlow {tf.__version__}, precision {settings.precision}; "
        f"{elapsed_s / 60:.0f} minutes in all. What each figure means: the docstring of "
        "benchmarks/cluster_benchmark.py.",
        "",
        *overhead_section(rows, pair_here, real_size, per_task_s, worker_start_s),
        *expected_section(real_size, pair_s, per_task_s, worker_start_s),
        *flicker_section(frames, size, chunk, chunkings, flickers),
    ]
    return "\n".join(lines)


def overhead_section(rows, pair_here, real_size, per_task_s, worker_start_s):
    labels = {6: "6 tiny runs (32 px, 1 iteration)", 24: "24 tiny runs (32 px, 1 iteration)"}
    labels["real"] = f"4 runs at {real_size} px (2 photos x 2 paintings), every other setting the default"
    return [
        "## Overhead per task on a local Ray cluster (2 nodes of 1 CPU on this machine, 1 CPU per task)",
        "",
        "| batch | tasks | connect, s | wall, s | painting per task, s | slots' time not painting, s | "
        "the same per task, s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {labels[key]} | {r['tasks']} | {r['connect_s']:.1f} | {r['wall_s']:.1f} | {r['painting_s']:.1f} | "
            f"{r['not_painting_s']:.1f} | {r['overhead_s']:.1f} |"
            for key, r in rows.items()
        ],
        "",
        "Every batch starts its own 2 workers (Ray's workers belong to one driver), and a worker's start "
        "(its runtime environment, TensorFlow's import, VGG19's build) is paid once per worker. The two tiny "
        "batches give both parts (time not painting = 2 starts + tasks x cost per task): "
        f"**{per_task_s:.2f} s per task** (handing out, scheduling, the files back, the driver writing them) "
        f"and **{worker_start_s:.1f} s per worker start**.",
        "",
        f"The same {len(pair_here)} runs at {real_size} px on this machine alone, one after another with "
        f"TensorFlow on both cores: {', '.join(f'{s:.1f}' for s in pair_here)} s, "
        f"**{float(np.mean(pair_here)):.1f} s** a run on average.",
        "",
    ]


def expected_section(real_size, pair_s, per_task_s, worker_start_s):
    return [
        "## Expected time on N machines (computed, not measured)",
        "",
        f"A batch of 500 runs at {real_size} px on N machines like this one, each painting one run at a time on "
        f"both cores (`--cpus-per-task 2`): 500 x (per-run time {pair_s:.1f} s + {per_task_s:.2f} s per task) / N "
        f"+ {worker_start_s:.1f} s for the workers' start, against 500 x {pair_s:.1f} s on this machine alone. "
        "It assumes the driver keeps up (it writes each run's files, milliseconds at these sizes) and machines "
        "of this speed; it was not measured on several machines.",
        "",
        "| machines | expected time | speed-up over this machine alone |",
        "|---:|---:|---:|",
        *[
            f"| {n} | {expected(n, pair_s, per_task_s, worker_start_s) / 3600:.2f} h | "
            f"{500 * pair_s / expected(n, pair_s, per_task_s, worker_start_s):.1f}x |"
            for n in (1, 2, 4, 8, 16, 32)
        ],
        "",
    ]


def flicker_section(frames, size, chunk, chunkings, flickers):
    lines = [
        f"## Flicker across chunk boundaries: box.mp4 from frame 120, {frames} frames at {size} px",
        "",
        "(a) every frame on its own, (b) video mode in one chain, (c) in chunks of "
        f"`--chunk-frames {chunk}`, cross-faded over `--chunk-overlap` frames. The boundary transitions are "
        "those into, inside and out of an overlap; each row compares (a), (b) and (c) on the same ones.",
        "",
        "| chunks | boundary transitions (into frame) | (a) there | (b) there | (c) there | (c) / (a) there | "
        "worst (c) transition / (a) | (c) / (a) inside the chunks |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for overlap, chunks in chunkings.items():
        boundary = boundary_transitions(chunks)
        mean = functools.partial(mean_flicker, flickers, boundary)
        worst = max(v for f, v in flickers[overlap].items() if f in boundary)
        lines.append(
            f"| `--chunk-overlap {overlap}`: {', '.join(f'{p.first}-{p.last}' for p in chunks)} | "
            f"{', '.join(map(str, sorted(boundary)))} | {mean('a'):.5f} | {mean('b'):.5f} | {mean(overlap):.5f} | "
            f"**{mean(overlap) / mean('a'):.3f}** | {worst / mean('a'):.3f} | "
            f"{mean(overlap, True) / mean('a', True):.3f} |"
        )
    return lines + ["", "Target (the video issue's): (c) / (a) at most 0.2.", ""]


def mean_flicker(flickers, boundary, name, inside=False):
    """The mean flicker of the transitions of painting `name` at the boundary (or inside the chunks)."""
    return np.mean([v for f, v in flickers[name].items() if (f in boundary) != inside])


def expected(machines, pair_s, per_task_s, worker_start_s, runs=500):
    """Seconds a batch of `runs` is expected to take on `machines` (computed, see results_markdown)."""
    return runs * (pair_s + per_task_s) / machines + worker_start_s


if __name__ == "__main__":
    main()
