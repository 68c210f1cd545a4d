"""Speed of the whole run against today's code (a git worktree of commit 5585b3f, --baseline).

This module: the L-BFGS iteration against an Adam step (alternating, in one process), the L-BFGS set-up
and the start-up from the command to the first iteration. Part `quality` (benchmarks/speed_quality.py):
the time to quality of the default picture, the program's loss at the final size against wall time for
a few schedules. Part `video` (benchmarks/speed_video.py): a later video frame's time, flicker and
losses. Writes benchmarks/SPEED3_RESULTS.md (--results) with the command at its top.

    git worktree add /tmp/baseline 5585b3f
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline               # every part; over an hour
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --quick       # 128 px, minutes
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --parts quality \
        --schedules "1 scale, 150, --init content" --results benchmarks/SPEED3_SCHEDULES.md --pictures docs
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --parts video --rounds 2 --video-frames 4
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --parts video --video-clip ../shared/videos/vtest.avi
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --parts quality --alternate --size 1024

On a shared machine: the step and start-up parts alternate their two sides, and the whole runs of the
quality part run at the same time (each under the same load): ratios are what to read, absolute seconds
are the loaded machine's. On a quiet one: --alternate runs the quality part's whole runs one at a time
instead, for --rounds rounds; the video part's runs always go one at a time, alternating, after the
other parts (and after the quality runs started at once have ended).
"""

import argparse
import dataclasses
import functools
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

from parts.machine import cpu_fields
from speed_quality import (
    LARGE_PX,
    LARGE_SCHEDULES,
    SCHEDULES,
    finish_all,
    floor_section,
    pass_sizes,
    planned_runs,
    quality_section,
    run_one_at_a_time,
    start_all,
)
from speed_video import CLIP, FIRST_FRAME, QUICK_SIZE_PX, run_video, video_section
from speed_video import SIZE_PX as VIDEO_SIZE_PX

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_PATH = os.path.join(REPO, "benchmarks", "SPEED3_RESULTS.md")
TODAY, OURS = "today (5585b3f, scipy)", "this branch"
PARTS = ["step", "startup", "quality", "video"]

# --- Workers: each runs in a fresh process on one code tree (ours or the baseline's) ----------------


def step_worker(size_px, rounds, iterations):
    """Adam steps and L-BFGS iterations on the default picture's last pass, alternating in rounds;
    L-BFGS's evaluations of the loss per iteration, its set-up and each optimizer's first (traced) step."""
    import style_transfer
    import utils
    from neural_style.files.weights import load_weights
    from neural_style.model.losses import style_targets
    from neural_style.model.tf_setup import resolve_precision, tf
    from neural_style.work import passes

    settings = style_transfer.parse_args(["--size", str(size_px)])
    settings = dataclasses.replace(settings, precision=resolve_precision(settings.precision))
    weights = load_weights(None, log=lambda *args: None)
    content, styles, _ = passes.prepare_images(
        settings,
        utils.load_image(settings.content_image),
        [utils.load_image(p) for p in settings.style_images],
        size_px,
    )
    start = utils.start_image(settings.init, content, styles[0], settings.noise_ratio, settings.seed)
    network = passes.build_network(settings, weights)
    targets = style_targets(network, styles, settings.style_blend, settings.style_layers)
    evaluations = tf.Variable(0, trainable=False)

    def counted(loss):
        def evaluate(image):
            evaluations.assign_add(1)
            return loss(image)

        return evaluate

    built, first_s, step_s = {}, {}, {"adam": [], "lbfgs": []}
    for kind in ("adam", "lbfgs"):
        started = time.perf_counter()
        kind_settings = dataclasses.replace(settings, optimizer=kind)
        built[kind] = passes.build_optimizer(kind_settings, network, content, targets, start, extend_loss=counted)
        first_s[kind] = {"build_s": time.perf_counter() - started}
        built[kind].run(1, lambda progress, first=first_s[kind]: first.update(first_step_s=progress.step_s))
    lbfgs_evaluations = 0
    for _ in range(rounds):
        for kind, optimizer in built.items():
            before, times = int(evaluations), step_s[kind]
            optimizer.run(int(optimizer.step) + iterations, lambda progress, times=times: times.append(progress.step_s))
            lbfgs_evaluations += (int(evaluations) - before) if kind == "lbfgs" else 0
    return {
        "step_s": step_s,
        "first": first_s,
        "rounds": rounds,
        "evaluations_per_iteration": lbfgs_evaluations / len(step_s["lbfgs"]),
        "setup_s": lbfgs_setup_s(built["lbfgs"]),
    }


def lbfgs_setup_s(optimizer):
    """What a new L-BFGS run costs before its first evaluation, outside the tracing every optimizer has:
    the state it builds (ours: the history variables; scipy's: its bounds, built by scipy.optimize)."""
    try:
        from neural_style.model.lbfgs import LBFGS
    except ImportError:  # today's code: scipy's L-BFGS-B with per-pixel bounds, set up as its run did
        import numpy as np
        import scipy.optimize

        started = time.perf_counter()
        x = optimizer.image.numpy().ravel().astype(np.float64)
        scipy.optimize.minimize(
            lambda x: (0.0, np.zeros_like(x)),
            x,
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(0.0, 255.0),
            options={"maxiter": 0, "maxfun": 1},
        )
        return time.perf_counter() - started
    started = time.perf_counter()
    LBFGS(optimizer.image, optimizer.loss)
    return time.perf_counter() - started


def startup_worker(spawned_at):
    """Seconds from the command (the parent's clock at spawn) to each stage of a default run's first
    iteration, driven through the program's own API as style_transfer.run drives it."""
    stages = {}

    def mark(stage):
        stages[stage] = time.time() - spawned_at

    import style_transfer
    from neural_style.model.tf_setup import load_tensorflow

    mark("program imported")
    load_tensorflow()
    mark("TensorFlow loaded")
    from neural_style.files.weights import load_weights

    weights = load_weights(None, log=lambda *args: None)
    mark("weights read")
    weights.digest()
    mark("weights hashed (the run's identity)")
    settings = style_transfer.parse_args([])
    from neural_style.runs.painting import prepare
    from neural_style.work import passes
    from neural_style.work.observer import Observer

    prepare(settings)
    network = passes.build_network(settings, weights)

    class FirstIteration(Observer):
        def step(self, job, progress, optimizer):
            mark("first iteration done (graph traced)")
            raise StopIteration

    try:
        import utils

        content = utils.load_image(settings.content_image)
        styles = [utils.load_image(path) for path in settings.style_images]
        passes.stylize(settings, content, styles, network, 10**6, FirstIteration())
    except StopIteration:
        pass
    return stages


def floor_worker(spawned_at, sizes_px, iterations):
    """What no schedule's run can go below, measured as a run starts: seconds from the command to the
    program and TensorFlow imported, and at each pass size in sizes_px two prices of an iteration,
    medians after one compiling call: its 26 convolutions alone (parts.baseline.ConvolutionFloor:
    forward and input gradient, in the program's precision) and one evaluation of the loss and its
    gradient (the compiled call every optimizer makes, ImageOptimizer.loss_and_gradient), on the bundled
    photo's pass shapes."""
    from parts.ours import build_job, pass_images, planned_run  # the program's modules, style_transfer's included

    from neural_style.model.tf_setup import load_tensorflow

    load_tensorflow()
    imported_s = time.time() - spawned_at
    from parts.baseline import ConvolutionFloor, seconds_of_each

    def median_after_the_first(seconds):  # the first call compiles
        return statistics.median(seconds[1:])

    run, weights = planned_run(max(sizes_px))
    convolutions_s, evaluation_s = {}, {}
    for size_px in sizes_px:
        settings = dataclasses.replace(run.settings, size_px=size_px)  # a pass of the run at size_px
        content, styles, start = pass_images(settings)
        optimizer = build_job(settings, weights, content, styles, start)
        floor = ConvolutionFloor(optimizer.loss.network, *content.shape[:2])
        convolutions_s[size_px] = median_after_the_first(floor.timed_iterations(iterations + 1))
        evaluate = functools.partial(evaluated_gradient, optimizer)
        evaluation_s[size_px] = median_after_the_first(seconds_of_each(evaluate, iterations + 1))
    return {"imported_s": imported_s, "convolutions_s": convolutions_s, "evaluation_s": evaluation_s}


def evaluated_gradient(optimizer):
    """One evaluation of the optimizer's loss and gradient, the gradient fetched."""
    return optimizer.loss_and_gradient()[1].numpy()


# --- The parent: runs the workers alternating, writes the report ---------------------------------------


def run_worker(code_dir, kind, **arguments):
    """One worker in a fresh process with code_dir's modules; its result is the last line it prints."""
    environment = dict(os.environ, PYTHONPATH=code_dir)
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind, json.dumps(arguments)]
    done = subprocess.run(command, cwd=code_dir, env=environment, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"speed benchmark: the {kind} worker in {code_dir} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def step_section(size_px, steps):
    lines = [
        f"## L-BFGS iteration against an Adam step, {size_px} px (alternating rounds in one process each: "
        + ", ".join(f"{code} {r['rounds']} of {len(r['step_s']['adam']) // r['rounds']}" for code, r in steps.items())
        + ")",
        "",
        "| code | Adam step, median s | L-BFGS iteration, median s | ratio | evaluations per iteration "
        "| L-BFGS set-up, ms | first step (traced), Adam / L-BFGS, s | ratio round by round, median |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for code, result in steps.items():
        adam, lbfgs = (statistics.median(result["step_s"][kind]) for kind in ("adam", "lbfgs"))
        paired = statistics.median(round_ratios(result["step_s"]["adam"], result["step_s"]["lbfgs"], result["rounds"]))
        evaluations, setup_ms = result["evaluations_per_iteration"], 1000 * result["setup_s"]
        first_adam, first_lbfgs = (result["first"][kind]["first_step_s"] for kind in ("adam", "lbfgs"))
        lines.append(
            f"| {code} | {adam:.3f} | {lbfgs:.3f} | **{lbfgs / adam:.2f}x** | {evaluations:.2f} "
            f"| {setup_ms:.1f} | {first_adam:.2f} / {first_lbfgs:.2f} | **{paired:.2f}x** |"
        )
    return lines


def round_ratios(adam_s, lbfgs_s, rounds):
    """Each round's median L-BFGS iteration over its median Adam step (the rounds' iterations in order,
    equally many each): the median leaves out the round's first iteration if it carries a set-up."""
    per_round = len(adam_s) // rounds
    medians = [
        [statistics.median(times[r * per_round : (r + 1) * per_round]) for r in range(rounds)]
        for times in (adam_s, lbfgs_s)
    ]
    return [lbfgs / adam for adam, lbfgs in zip(*medians)]


def startup_section(startups):
    stages = list(next(iter(startups.values())))
    lines = ["## Start-up: seconds from the command to each stage of a default run", ""]
    lines += ["| stage | " + " | ".join(startups) + " |", "|---|" + "---:|" * len(startups)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{seconds[stage]:.2f}" for seconds in startups.values()) + " |")
    return lines


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a worktree of today's code (commit 5585b3f)")
    parser.add_argument("--quick", action="store_true", help="128 px and few iterations: a smoke run")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS)
    parser.add_argument("--results", default=RESULTS_PATH, help="the Markdown file the results are written to")
    parser.add_argument("--rounds", type=int, default=2, help="of the runs one at a time: video, quality --alternate")
    quality = parser.add_argument_group("quality part")
    quality.add_argument("--size", type=int, help="the whole runs' final size in px (default 512; --quick: 128)")
    offered = SCHEDULES | LARGE_SCHEDULES
    schedules_help = f"besides today's default, of: {'; '.join(offered)} (if none: SCHEDULES, and from {LARGE_PX} px"
    quality.add_argument("--schedules", nargs="+", choices=offered, metavar="NAME", help=schedules_help + " the rest)")
    quality.add_argument("--alternate", action="store_true", help="whole runs one at a time, --rounds rounds")
    quality.add_argument("--pictures", help="a folder to write each whole run's final picture into, small")
    video = parser.add_argument_group("video part")
    video.add_argument("--video-frames", type=int, help="frames of the clip (default 4; --quick: 3)")
    video.add_argument("--video-clip", default=CLIP, help="the clip (default: box.mp4 of ../shared/videos)")
    video.add_argument("--video-first-frame", type=int, default=FIRST_FRAME, help="its first frame painted")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("arguments", nargs="?", help=argparse.SUPPRESS)
    options = parser.parse_args()
    options.size = options.size or (128 if options.quick else 512)
    options.video_frames = options.video_frames or (3 if options.quick else 4)
    return options


def main():
    options = parse_options()
    codes = {TODAY: os.path.abspath(options.baseline), OURS: REPO}
    lines = [f"    python benchmarks/speed_benchmark.py {shlex.join(sys.argv[1:])}", ""]
    cpu = cpu_fields().get("model name", "unknown")
    lines.append(f"CPU: {cpu}; load average at the start {os.getloadavg()[0]:.1f} (2 cores, shared).")
    planned = planned_runs(codes, options.size, options.schedules, options.quick)
    # Unless alternating, the whole runs go on while the other parts run: their load is on both sides of
    # every comparison.
    at_once = start_all(planned) if "quality" in options.parts and not options.alternate else None
    write_results(options.results, lines)
    if "step" in options.parts:
        lines += ["", *step_part(codes, options.quick)]
        write_results(options.results, lines)
    if "startup" in options.parts:
        lines += ["", *startup_part(codes)]
        write_results(options.results, lines)
    if at_once:
        rounds = [finish_all(at_once, options.size, options.pictures)]
        lines += ["", *quality_section(options.size, rounds, "All the runs at the same time.")]
        write_results(options.results, lines)
    if "video" in options.parts:
        size_px = QUICK_SIZE_PX if options.quick else VIDEO_SIZE_PX
        clip = (options.video_clip, options.video_first_frame)
        results = run_video(codes, *clip, size_px, options.video_frames, options.rounds, options.quick)
        lines += ["", *video_section(*clip, size_px, options.video_frames, results)]
        write_results(options.results, lines)
    if "quality" in options.parts and options.alternate:
        rounds, floors = [], []
        for _ in range(options.rounds):
            runs = run_one_at_a_time(planned, options.size, options.pictures)
            sizes_px = [*pass_sizes(runs), options.size]
            rounds.append(runs)
            floors.append(run_worker(REPO, "floor", spawned_at=time.time(), sizes_px=sizes_px, iterations=10))
        lines += ["", *quality_section(options.size, rounds, "Whole runs one at a time, in the order of the table.")]
        lines += ["", *floor_section(options.size, rounds, floors)]
    lines.append(f"\nLoad average at the end {os.getloadavg()[0]:.1f}.")
    write_results(options.results, lines)
    print("\n".join(lines))


def step_part(codes, quick):
    # Short rounds, many of them: this machine's speed changes by up to 2x within seconds (a neighbour on
    # the host), so the ratio is taken round by round. Ours keeps its state across run() calls: one
    # iteration a round, each paired with its neighbour. Today's code starts scipy's L-BFGS-B afresh at
    # each call, set-up and all: rounds of 4, whose median leaves the restart out.
    size_px, plan = (128, {TODAY: (2, 3), OURS: (2, 3)}) if quick else (512, {TODAY: (12, 4), OURS: (48, 1)})
    steps = {
        code: run_worker(path, "step", size_px=size_px, rounds=plan[code][0], iterations=plan[code][1])
        for code, path in codes.items()
    }
    return step_section(size_px, steps)


def startup_part(codes):
    startups = {}
    for _ in range(2):  # alternating, the second of each counts: the files are in the page cache
        for code, path in codes.items():
            startups[code] = run_worker(path, "startup", spawned_at=time.time())
    return startup_section(startups)


def write_results(path, lines):
    """The results so far: each part is written as soon as it is done."""
    with open(path, "w") as f:
        f.write("# Speed III results\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        kind, arguments = sys.argv[sys.argv.index("--worker") + 1 :][:2]
        sys.path.insert(0, os.getcwd())
        worker = {"step": step_worker, "startup": startup_worker, "floor": floor_worker}[kind]
        print(json.dumps(worker(**json.loads(arguments))))
    else:
        main()
