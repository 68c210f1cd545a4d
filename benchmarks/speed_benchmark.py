"""Speed of the whole run: the L-BFGS iteration against an Adam step (alternating, in one process), the
L-BFGS set-up, the start-up from the command to the first iteration, and the time to quality of the
default picture against today's code at a fixed commit (a git worktree given with --baseline), with
the program's loss at the final size against wall time for a few schedules. Writes
benchmarks/SPEED3_RESULTS.md with the command at its top.

    git worktree add /tmp/baseline 5585b3f
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline               # under an hour, loaded
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --quick       # 128 px, minutes
    python benchmarks/speed_benchmark.py --baseline /tmp/baseline --parts quality \
        --schedules "1 scale, 150, --init content" --results benchmarks/SPEED3_SCHEDULES.md --pictures docs

The machine may be shared: the step and start-up parts alternate their two sides, the whole runs run at
the same time (each under the same load), and ratios are what to read; absolute seconds are the loaded
machine's.
"""

import argparse
import csv
import dataclasses
import glob
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_PATH = os.path.join(REPO, "benchmarks", "SPEED3_RESULTS.md")
TODAY, OURS = "today (5585b3f, scipy)", "this branch"

# Schedules of the time-to-quality part: flags of style_transfer.py. Each ends with at least today's 100
# iterations at the final size, and its curve shows where the default picture's final loss is reached on
# the way: where the start image comes from, how many scales, how the iterations are split.
SCHEDULES = {
    "today's default (2 scales, 50 + 100, --init mix)": ("--scales", "2", "--iterations", "50", "100"),
    "2 scales, 50 + 100, --init content": ("--scales", "2", "--iterations", "50", "100", "--init", "content"),
    "3 scales, 25 + 50 + 100": ("--scales", "3", "--iterations", "25", "50", "100"),
    "2 scales, 100 + 100": ("--scales", "2", "--iterations", "100", "100"),
    "1 scale, 150": ("--scales", "1", "--iterations", "150"),
    "1 scale, 150, --init content": ("--scales", "1", "--iterations", "150", "--init", "content"),
}
PICTURE_PX = 256  # the side of the final pictures --pictures writes, to look at side by side


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


# --- Whole runs: the program as a user starts it, on either code tree ---------------------------------


def start_run(code_dir, size_px, flags):
    """style_transfer.py started from code_dir, writing into a temporary folder."""
    folder = tempfile.TemporaryDirectory(prefix="speed3-run-")
    command = [sys.executable, "style_transfer.py", "--size", str(size_px), *flags, "--output-dir", folder.name]
    return folder, time.time(), subprocess.Popen(command, cwd=code_dir, stdout=subprocess.DEVNULL)


def finish_runs(started, size_px, pictures_dir):
    """Each started run's wall time (to the last file it wrote: they end while the other parts run, and
    are reaped later), peak resident memory and its losses.csv's rows of the last pass as (seconds since
    the command, total loss). All time outside the iterations (start-up, style targets, files) is
    counted before the first row."""
    runs = []
    for name, (folder, started_at, process) in started:
        _, status, usage = os.wait4(process.pid, 0)
        written = [os.path.join(top, file) for top, _, files in os.walk(folder.name) for file in files]
        ended_at = max(map(os.path.getmtime, written))
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"speed benchmark: {' '.join(process.args)} failed")
        with folder:
            if pictures_dir:
                keep_picture(folder.name, name, pictures_dir)
            (losses_path,) = glob.glob(os.path.join(folder.name, "*", "losses.csv"))
            with open(losses_path, newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["size_px"]) == size_px]
        elapsed_s = ended_at - started_at
        clock_s, curve = elapsed_s - sum(float(row["step_s"]) for row in rows), []
        for row in rows:
            clock_s += float(row["step_s"])
            curve.append((clock_s, float(row["total"])))
        runs.append((name, {"elapsed_s": elapsed_s, "peak_bytes": usage.ru_maxrss * 1024, "curve": curve}))
    return runs


def keep_picture(folder, run_name, pictures_dir):
    """The run's final picture, PICTURE_PX wide, as a JPEG named after the run."""
    import cv2

    (final_path,) = glob.glob(os.path.join(folder, "*", "*-final.png"))
    picture = cv2.imread(final_path)
    height_px = round(picture.shape[0] * PICTURE_PX / picture.shape[1])
    small = cv2.resize(picture, (PICTURE_PX, height_px), interpolation=cv2.INTER_AREA)
    file_name = "speed3-" + re.sub(r"[^a-z0-9]+", "-", run_name.lower()).strip("-") + ".jpg"
    cv2.imwrite(os.path.join(pictures_dir, file_name), small, [cv2.IMWRITE_JPEG_QUALITY, 85])


def time_to_loss_s(curve, target_loss):
    """The first time the curve is at or below target_loss; None if it never is."""
    return next((seconds for seconds, loss in curve if loss <= target_loss), None)


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
        f"## L-BFGS iteration against an Adam step, {size_px} px (alternating rounds in one process each)",
        "",
        "| code | Adam step, median s | L-BFGS iteration, median s | ratio | evaluations per iteration "
        "| L-BFGS set-up, ms | first step (traced), Adam / L-BFGS, s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for code, result in steps.items():
        adam, lbfgs = (statistics.median(result["step_s"][kind]) for kind in ("adam", "lbfgs"))
        evaluations, setup_ms = result["evaluations_per_iteration"], 1000 * result["setup_s"]
        first_adam, first_lbfgs = (result["first"][kind]["first_step_s"] for kind in ("adam", "lbfgs"))
        lines.append(
            f"| {code} | {adam:.3f} | {lbfgs:.3f} | **{lbfgs / adam:.2f}x** | {evaluations:.2f} "
            f"| {setup_ms:.1f} | {first_adam:.2f} / {first_lbfgs:.2f} |"
        )
    return lines


def startup_section(startups):
    stages = list(next(iter(startups.values())))
    lines = ["## Start-up: seconds from the command to each stage of a default run", ""]
    lines += ["| stage | " + " | ".join(startups) + " |", "|---|" + "---:|" * len(startups)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{seconds[stage]:.2f}" for seconds in startups.values()) + " |")
    return lines


def quality_section(size_px, runs, target_loss, baseline_s):
    lines = [
        f"## Time to quality, {size_px} px: the default picture's final loss {target_loss:.4g} "
        f"(today's code: {baseline_s:.1f} s)",
        "",
        "| run | wall s | peak memory, GiB | final-size loss at its end | s to today's final loss | ratio to today |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs:
        reached_s = time_to_loss_s(run["curve"], target_loss)
        reached = f"{reached_s:.1f} | **{reached_s / baseline_s:.2f}x**" if reached_s else "not reached | -"
        memory_gib, final_loss = run["peak_bytes"] / 2**30, run["curve"][-1][1]
        lines.append(f"| {name} | {run['elapsed_s']:.1f} | {memory_gib:.2f} | {final_loss:.4g} | {reached} |")
    lines += ["", "The curves: the loss at the final size against seconds since the command, every 10th iteration.", ""]
    for name, run in runs:
        points = run["curve"][9::10]
        lines.append(f"- {name}: " + ", ".join(f"{seconds:.0f} s {loss:.3g}" for seconds, loss in points))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a worktree of today's code (commit 5585b3f)")
    parser.add_argument("--quick", action="store_true", help="128 px and few iterations: a smoke run")
    parser.add_argument("--parts", nargs="+", default=["step", "startup", "quality"])
    parser.add_argument("--schedules", nargs="+", choices=SCHEDULES, help="besides today's default (all if not given)")
    parser.add_argument("--results", default=RESULTS_PATH, help="the Markdown file the results are written to")
    parser.add_argument("--pictures", help="a folder to write each whole run's final picture into, small")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("arguments", nargs="?", help=argparse.SUPPRESS)
    options = parser.parse_args()
    codes = {TODAY: os.path.abspath(options.baseline), OURS: REPO}
    size_px, rounds, iterations = (128, 2, 3) if options.quick else (512, 3, 4)
    lines = [f"    python benchmarks/speed_benchmark.py {shlex.join(sys.argv[1:])}", ""]
    lines.append(f"CPU: {cpu_name()}; load average at the start {os.getloadavg()[0]:.1f} (2 cores, shared).")
    # The whole runs go on while the other parts run: their load is on both sides of every comparison.
    quality = quality_started(codes, size_px, options) if "quality" in options.parts else None
    write_results(options.results, lines)
    if "step" in options.parts:
        steps = {
            code: run_worker(path, "step", size_px=size_px, rounds=rounds, iterations=iterations)
            for code, path in codes.items()
        }
        lines += ["", *step_section(size_px, steps)]
        write_results(options.results, lines)
    if "startup" in options.parts:
        startups = {}
        for _ in range(2):  # alternating, the second of each counts: the files are in the page cache
            for code, path in codes.items():
                startups[code] = run_worker(path, "startup", spawned_at=time.time())
        lines += ["", *startup_section(startups)]
        write_results(options.results, lines)
    if quality:
        lines += ["", *quality_finished(quality, size_px, options.pictures)]
    lines.append(f"\nLoad average at the end {os.getloadavg()[0]:.1f}.")
    write_results(options.results, lines)
    print("\n".join(lines))


def write_results(path, lines):
    """The results so far: each part is written as soon as it is done."""
    with open(path, "w") as f:
        f.write("# Speed III results\n\n" + "\n".join(lines) + "\n")


def quality_started(codes, size_px, options):
    """Today's default run and this branch's schedules (today's default and those --schedules names),
    started all at once: on a shared machine the same load falls on each (alternating runs of many
    minutes would not give them that)."""
    default = next(iter(SCHEDULES))
    chosen = [default, *(name for name in options.schedules if name != default)] if options.schedules else SCHEDULES
    schedules = {"today's default": ()} if options.quick else {name: SCHEDULES[name] for name in chosen}
    planned = [("today's code, default run", codes[TODAY], ())]
    planned += [(f"this branch, {name}", codes[OURS], flags) for name, flags in schedules.items()]
    return [(name, start_run(code_dir, size_px, flags)) for name, code_dir, flags in planned]


def quality_finished(started, size_px, pictures_dir):
    runs = finish_runs(started, size_px, pictures_dir)
    today = runs[0][1]
    return quality_section(size_px, runs, today["curve"][-1][1], today["elapsed_s"])


def cpu_name():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        kind, arguments = sys.argv[sys.argv.index("--worker") + 1 :][:2]
        sys.path.insert(0, os.getcwd())
        worker = {"step": step_worker, "startup": startup_worker}[kind]
        print(json.dumps(worker(**json.loads(arguments))))
    else:
        main()
