"""The same runs spread over a Ray cluster (--cluster): each photo's run, and each chunk of a video
(clip_chunks.py), is a Ray task. Only imported with --cluster: without it nothing of Ray is loaded.

Who writes files: the driver, the process where the command runs. A worker gets everything it needs
through Ray's object store: the VGG19 weights' arrays (put there once), the bytes of the run's image
files or the chunk's decoded frames, and the program's own code (Ray's working_dir, the driver's copy).
It paints into a temporary folder of its own, exactly as a run on one machine paints into its run
folder, and hands back that folder's files (or a chunk's pictures), which the driver writes into the
run folder a run on this machine would have made. So the nodes need no shared file system and can
lack the weights and the images; they need only this program's packages (requirements.txt and
requirements-cluster.txt) in the same Python and Ray versions as the driver.

Retries: a task whose worker or node dies is run again by Ray (MAX_RETRIES times). A task writes
nothing anywhere the driver reads, and the driver writes a run's files (or a chunk's) only when its
task has handed back its one result, so a retried task is never lost nor counted twice.

Every wait has a time-out: the connection (CONNECT_TIMEOUT_S: reaching the address, and its answer as
a Ray head; Ray's own connection would wait forever on a service of another kind), and a cluster that
has no node with the CPUs a task asks for (NO_WORKER_TIMEOUT_S) ends the run with one line instead of
waiting. Ctrl-C while connecting ends the program at once: no work is under way yet.
"""

import contextlib
import fcntl
import glob
import logging
import os
import shutil
import signal
import socket
import tempfile
import time

import ray

from neural_style.errors import ProgramExit, RunStopped, UserError
from neural_style.runs import painting
from neural_style.runs.folder import LOCK, RECORD, RunFolder, folder_files
from neural_style.work import clip_chunks

CONNECT_TIMEOUT_S = 10  # to reach the cluster's address
NO_WORKER_TIMEOUT_S = 60  # how long tasks may wait for a node with the CPUs they ask for
POLL_S = 0.5  # how often the driver looks at its tasks, and at Ctrl-C
MAX_RETRIES = 3  # runs of a task again when its worker or node dies
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
NOT_SHIPPED = [".venv", ".git", "outputs", "docs", "images", "benchmarks", "tests", "__pycache__", ".*cache*"]
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
# A Ray head's GCS is a gRPC server: to HTTP/2's client preface and an empty SETTINGS frame it answers
# with a frame of its own, whose fourth byte is the SETTINGS type (4).
HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
HTTP2_SETTINGS = 4


class NoStop:
    """A worker's stand-in for stop.StopRequest: the driver stops tasks by cancelling them."""

    signal = None


def address_of(cluster):
    """The address --cluster names: the flag alone takes $RAY_ADDRESS, or else 'auto' (the cluster
    started on this machine with `ray start`)."""
    return cluster or os.environ.get("RAY_ADDRESS") or "auto"


def thread_settings(cpus_per_task):
    """The environment of the workers' TensorFlow: as many threads as the task has CPUs, unless the
    driver's environment says otherwise (then the same as the driver, so that pictures match)."""
    return {name: os.environ.get(name, str(cpus_per_task)) for name in THREAD_VARIABLES}


def connect(address, cpus_per_task):
    """Connect this process to the Ray cluster at address as its driver; UserError, one line, if the
    address cannot be reached, is no Ray cluster, runs another Ray or Python, or has no node with
    cpus_per_task CPUs."""
    if address.startswith("ray://"):
        raise UserError(
            f"--cluster {address}: Ray Client addresses are not supported; run the command on a node "
            "of the cluster, with --cluster auto or the head's HOST:PORT"
        )
    if address != "auto":
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"--cluster {address}: give the head node's HOST:PORT (such as 10.0.0.5:6379) or auto")
        check_ray_head(address, host, int(port))
    runtime_env = {"working_dir": PROJECT, "excludes": NOT_SHIPPED, "env_vars": thread_settings(cpus_per_task)}
    try:
        with signals_end_at_once():
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, runtime_env=runtime_env)
    except RunStopped:
        raise
    except Exception as error:  # ConnectionError (no cluster), RuntimeError (versions), and Ray's own
        raise UserError(f"cannot use the Ray cluster at {address}: {' '.join(str(error).split())}") from None
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]), default=0)
    if largest < cpus_per_task:
        ray.shutdown()
        raise UserError(
            f"no node of the Ray cluster has {cpus_per_task} CPUs (the largest has {largest:g}); lower --cpus-per-task"
        )


def check_ray_head(address, host, port):
    """UserError, one line, unless host:port answers as a Ray head does within CONNECT_TIMEOUT_S."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    with signals_end_at_once():
        try:
            connection = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except OSError as error:
            raise UserError(
                f"cannot reach the Ray cluster at {address} ({error.strerror or error}); "
                "start it with `ray start --head` there, or check the address"
            ) from None
        answer = b""
        with connection:
            try:
                connection.sendall(HTTP2_HELLO)
                while len(answer) < 4 and time.monotonic() < deadline:
                    connection.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = connection.recv(64)
                    if not chunk:
                        break
                    answer += chunk
            except OSError:
                pass  # a time-out, or a service that hung up: not a Ray head either way
    if len(answer) < 4 or answer[3] != HTTP2_SETTINGS:
        raise UserError(
            f"{address} is not a Ray cluster's head (no gRPC answer within {CONNECT_TIMEOUT_S} s); check the "
            "port: `ray start --head` there prints it (6379 unless --port said otherwise)"
        )


@contextlib.contextmanager
def signals_end_at_once():
    """Ctrl-C or SIGTERM ends the program at once (RunStopped), in place of the run's StopRequest,
    which lets the step under way finish: while connecting there is none."""

    def stop(number, _frame):
        raise RunStopped("stopped while connecting to the Ray cluster", 128 + number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


_networks = {}


def network_for(settings, weights):
    """The worker's VGG19, built once per worker process for the settings' layers and precision."""
    from neural_style.work.passes import build_network

    key = (tuple(settings.content_layers), tuple(settings.style_layers), settings.pooling, settings.precision)
    if key not in _networks:
        _networks.clear()
        _networks[key] = build_network(settings, weights)
    return _networks[key]


def task_folders():
    """Where a worker's tasks paint, one temporary folder each; those of tasks whose worker was killed
    (their run folder's lock free, an hour old) are removed here, since nothing else can."""
    parent = os.path.join(tempfile.gettempdir(), "style-transfer-tasks")
    os.makedirs(parent, exist_ok=True)
    for lock in glob.glob(os.path.join(parent, "*", "*", LOCK)):
        folder = os.path.dirname(os.path.dirname(lock))
        try:
            with open(lock) as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no live task holds it
            if time.time() - os.path.getmtime(folder) > 3600:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
    return parent


@ray.remote(max_retries=MAX_RETRIES)
def paint_run(run, weights):
    """On a worker: paint one photo's run into a temporary folder; ({file: bytes}, seconds)."""
    print(f"task: painting run {run.name}", flush=True)
    network = network_for(run.settings, weights)
    with tempfile.TemporaryDirectory(dir=task_folders()) as output_dir:
        started = time.perf_counter()
        painting.paint(run, weights, network, output_dir, NoStop())
        seconds = time.perf_counter() - started
        return folder_files(os.path.join(output_dir, run.name)), seconds


@ray.remote(max_retries=MAX_RETRIES)
def paint_chunk(settings, chunk, frames, styles, weights):
    """On a worker: paint one chunk of a video; a clip_chunks.ChunkResult."""
    print(f"task: painting {chunk.label}", flush=True)
    return clip_chunks.paint_chunk(settings, chunk, frames, styles, network_for(settings, weights))


class Cluster:
    """The connection to a Ray cluster as the painter of a batch's runs and a video's chunks."""

    def __init__(self, address, weights, cpus_per_task, stop):
        connect(address, cpus_per_task)
        self.address, self.cpus_per_task, self.stop = address, cpus_per_task, stop
        self.weights = ray.put(weights)
        cpus = ray.cluster_resources().get("CPU", 0)
        self.window = max(2, 2 * int(cpus // cpus_per_task))  # tasks handed out at once: all busy, inputs bounded
        nodes = sum(node["Alive"] for node in ray.nodes())
        print(f"Ray cluster at {address}: {nodes} nodes, {cpus:g} CPUs, {cpus_per_task} per task")
        self.task_seconds = []  # (seconds from hand-out to result, seconds the worker painted) of each task

    def close(self):
        ray.shutdown()

    def paint_runs(self, todo, weights, output_dir):
        """Paint the runs (photos as tasks; a video's chunks as tasks) and write each one's files into
        its run folder as its result comes back; yields (run, result path, seconds) as runs finish."""
        photos = [run for run in todo if not run.video]
        submit = lambda run: paint_run.options(num_cpus=self.cpus_per_task).remote(run.ship_files(), self.weights)
        for run, (files, seconds) in self.as_done(submit, photos):
            yield run, write_files(run, files, output_dir), seconds
        for run in todo:
            if run.video:
                started = time.perf_counter()
                path = painting.paint(run, weights, None, output_dir, self.stop, self.paint_chunks)
                yield run, path, time.perf_counter() - started

    def paint_chunks(self, settings, styles, tasks):
        """clip_chunks.paint_in_chunks's painter: each chunk a task."""
        styles = ray.put(styles)
        submit = lambda task: paint_chunk.options(num_cpus=self.cpus_per_task).remote(
            settings, task[0], task[1], styles, self.weights
        )
        for (chunk, _), result in self.as_done(submit, tasks):
            yield chunk, result

    def as_done(self, submit, items):
        """Hand out submit(item) for the items, at most self.window at a time, and yield (item, its
        result) as each task finishes. Ctrl-C cancels the tasks under way (RunStopped)."""
        items, pending, handed_out = iter(items), {}, {}
        waiting_since = None  # when the cluster was first seen without a node able to run a task
        while True:
            while len(pending) < self.window and (item := next(items, None)) is not None:
                ref = submit(item)
                pending[ref], handed_out[ref] = item, time.perf_counter()
            if not pending:
                return
            if self.stop.signal:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise RunStopped("stopped: the tasks under way were cancelled.", 128 + self.stop.signal.value)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            if not ready:
                waiting_since = self.check_workers(waiting_since)
                continue
            ref = ready[0]
            item = pending.pop(ref)
            result = task_result(ref)
            self.task_seconds.append((time.perf_counter() - handed_out.pop(ref), result_seconds(result)))
            yield item, result

    def check_workers(self, waiting_since):
        """Fails when no live node has the CPUs a task asks for for NO_WORKER_TIMEOUT_S; returns since when."""
        able = any(node["Alive"] and node["Resources"].get("CPU", 0) >= self.cpus_per_task for node in ray.nodes())
        if able:
            return None
        now = time.monotonic()
        if waiting_since and now - waiting_since > NO_WORKER_TIMEOUT_S:
            raise UserError(
                f"the Ray cluster at {self.address} has had no node with {self.cpus_per_task} CPUs for "
                f"{NO_WORKER_TIMEOUT_S} s; add nodes (`ray start --address=...`) and run the same command again"
            )
        return waiting_since or now


def task_result(ref):
    """A finished task's result; its error as the program's one-line ending."""
    try:
        return ray.get(ref, timeout=60)  # finished: the result is in the object store
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, ProgramExit):  # the worker's own one-line ending (a bad image, a divergence)
            raise cause from None
        what = f"{type(cause).__name__}: {cause}" if cause else str(error).splitlines()[-1]
        raise UserError(
            f"a task failed on the Ray cluster ({' '.join(what.split())}); every node needs "
            "requirements.txt and requirements-cluster.txt installed"
        ) from None
    except ray.exceptions.RayError as error:  # a worker or node lost more than MAX_RETRIES times, and the like
        raise UserError(f"the Ray cluster failed: {' '.join(str(error).split())[:300]}") from None


def result_seconds(result):
    return result[1] if isinstance(result, tuple) else result.seconds


def write_files(run, files, output_dir):
    """Write a run's files, as its task handed them back, into its run folder (its record last, so
    that a folder is never taken as finished before all of it is there); the final image's path."""
    with RunFolder.open(output_dir, run.name, run.settings.fresh) as folder:
        for name in sorted(files, key=lambda name: name == RECORD):
            folder.write(name, files[name])
        return folder.file(folder.image_name("final"))
