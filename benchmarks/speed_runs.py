"""Whole runs of benchmarks/speed_benchmark.py: style_transfer.py started as a user starts it, from
either code tree (this repository or the baseline's worktree), each into a temporary folder of its
own; the run waited for, and what it wrote read back. Standard library only: the speed benchmark's
workers import this module, and their start-up is timed."""

import csv
import glob
import os
import subprocess
import sys
import tempfile
import time


class Run:
    """A started run: its temporary folder (removed by close), the time of the command, the process."""

    def __init__(self, code_dir, flags):
        self.folder = tempfile.TemporaryDirectory(prefix="speed3-run-")
        command = [sys.executable, "style_transfer.py", *flags, "--output-dir", self.folder.name]
        self.started_at = time.time()
        self.process = subprocess.Popen(command, cwd=code_dir, stdout=subprocess.DEVNULL)

    def wait(self):
        """The run's peak resident memory in bytes, once it has ended; the benchmark stops if it failed."""
        _, status, usage = os.wait4(self.process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"speed benchmark: {' '.join(self.process.args)} failed")
        return usage.ru_maxrss * 1024

    def files(self, pattern="**"):
        """The files the run wrote that match pattern, relative to the output folder, sorted."""
        found = glob.glob(os.path.join(self.folder.name, pattern), recursive=True)
        return sorted(path for path in found if os.path.isfile(path))

    def ended_at(self):
        """When the run wrote its last file (a run may be reaped well after it ended)."""
        return max(map(os.path.getmtime, self.files()))

    def loss_rows(self):
        """The rows of the run's losses.csv, as dicts of its columns (strings)."""
        (path,) = self.files(os.path.join("*", "losses.csv"))
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def close(self):
        self.folder.cleanup()
