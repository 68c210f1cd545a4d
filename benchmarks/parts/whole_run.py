"""Whole runs: style_transfer.py run as a user runs it, in a fresh process; its peak memory and time
beside the peak the program's own estimate plans it with."""

import os
import subprocess
import sys
import tempfile
import time

import style_transfer
from neural_style.model.memory import run_peak_bytes
from neural_style.runs.painting import prepare
from parts.ours import CONTENT_IMAGE, REPO, STYLE_IMAGE, project_args
from parts.report import straight_line
from utils import fit_long_side, load_image

TITLE = "Whole runs"


def whole_run(size_px, flags):
    """Peak resident memory and wall time of a user's run: style_transfer.py with its defaults at size_px
    (and `flags`), writing its files into a temporary folder. The peak is the run's own (its rusage, as
    the parent reaps it), TensorFlow, the weights, every pass, the snapshots and the summaries included;
    beside it, the peak the program's own estimate (memory.py) expects of it."""
    with tempfile.TemporaryDirectory(prefix="benchmark-run-") as folder:
        command = [sys.executable, "style_transfer.py", "--size", str(size_px), *flags, "--output-dir", folder]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed_s = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"benchmark: {' '.join(command[1:])} failed with exit status {process.returncode}")
    height, width = fit_long_side(load_image(CONTENT_IMAGE).shape, size_px)
    return {
        "command": " ".join(["python", *command[1:-2]]),
        "height": height,
        "width": width,
        "peak_bytes": usage.ru_maxrss * 1024,
        "estimate_bytes": planned_peak_bytes(size_px, flags),
        "elapsed_s": elapsed_s,
    }


def planned_peak_bytes(size_px, flags):
    """The peak the program expects of the run, in the tiles it plans the run with. The run is prepared
    as style_transfer.plan prepares each of its runs, but without the weights and the precision, which
    would bring TensorFlow into this process."""
    run = prepare(style_transfer.parse_args(project_args(size_px, *flags)))
    shapes = [load_image(path).shape for path in (CONTENT_IMAGE, STYLE_IMAGE)]
    return run_peak_bytes(shapes[0], shapes[1:], size_px, run.settings.style_scale, run.tile)


def part(args, precisions):
    print(f"a whole default run at {args.run_size} px ...", file=sys.stderr, flush=True)
    runs = [whole_run(args.run_size, args.run_flags)]
    for size_px in args.one_pass_sizes:
        print(f"a one-pass run at {size_px} px ...", file=sys.stderr, flush=True)
        runs.append(whole_run(size_px, ("--scales", "1", "--iterations", str(args.one_pass_iterations))))
    return [
        "style_transfer.py run as a user runs it, in a fresh process; its peak is the process's own (ru_maxrss, "
        "from wait4), TensorFlow's start-up, every pass and every file written included, and its seconds from "
        f"start to exit. The one-pass runs take {args.one_pass_iterations} iterations (L-BFGS's history, which "
        "holds the last 10, fills in the first 10).",
        "",
        *whole_runs_table(runs),
    ]


def whole_runs_table(runs):
    """The default run first, then one-pass runs at larger sizes."""
    lines = [
        "| command (and `--output-dir` a temporary folder) | image (w x h) | peak GiB | memory.py's estimate GiB "
        "| seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for index, run in enumerate(runs):
        peak = f"{run['peak_bytes'] / 2**30:.2f}"
        lines.append(
            f"| `{run['command']}` | {run['width']} x {run['height']} | {f'**{peak}**' if index == 0 else peak} | "
            f"{run['estimate_bytes'] / 2**30:.2f} | {run['elapsed_s']:.0f} |"
        )
    if len(runs) > 2:
        base, slope = straight_line([(run["height"] * run["width"], run["peak_bytes"]) for run in runs[1:]])
        lines += [
            "",
            f"One pass of L-BFGS, by a straight line through the peaks of the one-pass runs: {base / 2**30:.2f} GiB + "
            f"{slope / 1024:.2f} KiB per pixel.",
        ]
    return lines
