"""Every measurement runs in a worker: a fresh Python process (benchmark.py started with --worker), so
that each starts with a fresh TensorFlow and its peak memory is its own."""

import json
import os
import subprocess
import sys

from parts.ours import REPO

ENTRY_POINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmark.py")


def run_worker(kind, **arguments):
    """Run one worker in a fresh Python process; its result is the last line it prints."""
    result = subprocess.run(
        [sys.executable, ENTRY_POINT, "--worker", kind, json.dumps(arguments)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    if result.returncode != 0:
        sys.exit(f"benchmark: the {kind} worker {arguments} failed with exit status {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])
