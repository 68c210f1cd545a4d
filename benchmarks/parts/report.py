"""What a section of the results says besides its measurements: the command, the code and the machine
that measured it, and the machine's load; and the straight line the memory tables fit."""

import os
import platform
import subprocess
import time
from datetime import datetime, timezone

from neural_style.model.memory import total_memory_bytes
from neural_style.model.tf_setup import cpu_flags, onednn_enabled, resolve_precision, tf
from parts.machine import cpu_fields
from parts.ours import REPO

CPU_EXTENSIONS = {"avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}


def machine_worker():
    """The precision the program picks here, and TensorFlow as the program sets it up."""
    return {"precision": resolve_precision("auto"), "tensorflow": tf.__version__, "onednn": onednn_enabled()}


def machine_description(machine):
    """CPU, memory and software, the last two as a worker saw them (this process never loads TensorFlow)."""
    fields = cpu_fields()
    cpu, family, model = fields.get("model name", platform.machine()), fields.get("cpu family"), fields.get("model")
    flags = cpu_flags()
    extensions = [name for flag, name in CPU_EXTENSIONS.items() if flag in flags] or ["no AVX-512"]
    onednn = "on" if machine["onednn"] else "off"
    bfloat16 = "native" if machine["precision"] == "bfloat16" else "not native"
    return (
        f"{cpu} (family {family}, model {model}; {', '.join(extensions)}), {os.cpu_count()} logical CPUs "
        f"(bfloat16 {bfloat16}), {total_memory_bytes() / 2**30:.1f} GiB; Python {platform.python_version()}, "
        f"TensorFlow {machine['tensorflow']}, oneDNN {onednn}"
    )


def provenance(command, output, machine, started, load_at_start):
    """The line that heads a part's section: its command, code, date, minutes since `started`
    (time.perf_counter), machine and load."""
    return (
        f"`{command}` ({code_version(output)}) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{(time.perf_counter() - started) / 60:.1f} min. Machine: {machine_description(machine)}. "
        f"{load_note(load_at_start, load_average())}"
    )


def load_average():
    return os.getloadavg()[0]


def load_note(at_start, at_end):
    note = (
        f"Load average (1 min) at start {at_start:.1f}, at end {at_end:.1f}; "
        f"the benchmark itself adds up to {os.cpu_count()}."
    )
    if at_start < 0.5:
        return note + " The machine was otherwise idle at the start."
    return note + (
        " Other processes shared the CPUs: the seconds below are then longer than on an idle machine, and "
        "the ratios, taken in alternating rounds, suffer less."
    )


def code_version(output):
    """The commit measured, and whether the files differed from it (the results file aside)."""
    git = ["git", "-C", REPO]
    output = os.path.relpath(os.path.abspath(output), REPO)
    excluded = [] if output.startswith("..") else [f":(exclude){output}"]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", *excluded],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "code outside git"
    return f"commit {commit.stdout.strip()}" + (" with uncommitted changes" if changes.stdout.strip() else "")


def straight_line(points):
    """(base, slope) of the least-squares line through (x, y) points."""
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return mean_y - slope * mean_x, slope
