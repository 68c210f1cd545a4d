"""A real Ray cluster on this machine for the tests and the cluster benchmark: a head node and more
nodes, each started with `ray start` in a session of its own, with its files in a temporary folder.
stop() ends exactly the processes those sessions hold (no `ray stop`, which would end every Ray
process on the machine) and removes the folder. Every wait has a time-out."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
START_TIMEOUT_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_processes(session):
    """The PIDs of the live processes in a session (by /proc/<pid>/stat)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                pids.append(int(entry))
    return pids


class LocalCluster:
    """`nodes` Ray nodes of `cpus` CPUs each on 127.0.0.1: the head and nodes - 1 others."""

    def __init__(self, nodes=2, cpus=1):
        # Short: Ray's Unix sockets live under it, and their paths may not exceed 107 characters.
        self.root = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
        self.port, self.cpus, self.sessions = free_port(), cpus, []
        self.address = f"127.0.0.1:{self.port}"
        self.tmp = os.path.join(self.root, "tmp")
        os.mkdir(self.tmp)
        try:
            client_port = f"--ray-client-server-port={free_port()}"
            self._start("--head", f"--port={self.port}", client_port, "--include-dashboard=false")
            for _ in range(nodes - 1):
                self._start(f"--address={self.address}")
        except BaseException:
            self.stop()
            raise

    def _start(self, *args):
        process = subprocess.Popen(
            [
                RAY,
                "start",
                *args,
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={self.cpus}",
                f"--temp-dir={self.root}",
                "--disable-usage-stats",
            ],
            start_new_session=True,  # its session id is its PID, and every process it starts keeps it
            env=dict(os.environ, TMPDIR=self.tmp),  # the workers' temporary files go with the cluster's
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.sessions.append(process.pid)
        output, _ = process.communicate(timeout=START_TIMEOUT_S)
        if process.returncode:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{output[-3000:]}")

    def worker_logs(self):
        """{pid: the text so far} of every worker process's stdout log."""
        logs = {}
        for path in Path(self.root).glob("session_*/logs/worker-*.out"):
            match = re.search(r"-(\d+)\.out$", path.name)
            if match:
                logs[int(match.group(1))] = path.read_text(errors="replace")
        return logs

    def processes(self):
        return [pid for session in self.sessions for pid in session_processes(session)]

    def stop(self, timeout_s=20):
        """End every process the cluster's sessions hold (TERM, then KILL), then remove its folder."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout_s / 2
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.2)
        left = self.processes()
        shutil.rmtree(self.root, ignore_errors=True)
        assert not left, f"processes of the test cluster still running: {left}"
