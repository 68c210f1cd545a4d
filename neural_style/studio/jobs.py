"""The studio's jobs: each a command line of style_transfer.py, run as a process of its own one at a
time, the rest queued. Stopping one sends it SIGINT, as Ctrl-C does (it saves and stays resumable);
resuming it queues the same command again, which goes on in the same run folder."""

import itertools
import os
import re
import signal
import subprocess
import threading

from neural_style.errors import UserError
from neural_style.studio import Refused
from neural_style.studio.controls import shown

RUN_FOLDER_LINE = re.compile(r"run folder: (.+)")  # what painting.paint prints when it opens the folder
OUTPUT_LINES_KEPT = 40
STOP_WAIT_S = 60  # how long the server, when it ends, waits for the run under way to save and stop


class Job:
    """One command line: its state (queued, running, stopping, stopped, finished, failed), the run
    folder it paints in once it says so, its last lines of output, and the page that started it."""

    def __init__(self, number, argv, owner):
        self.number, self.argv, self.owner = number, argv, owner
        self.state, self.folder, self.lines, self.process, self.exit_status = "queued", None, [], None, None

    def view(self, place):
        """What the page shows of the job; place: its place in the queue (1: next), or None."""
        return {
            "id": self.number,
            "command": shown(self.argv),
            "state": self.state,
            "place": place,
            "folder": self.folder and os.path.basename(self.folder),
            "lines": self.lines[-OUTPUT_LINES_KEPT:],
            "exit_status": self.exit_status,
            "owner": self.owner,
        }


class JobQueue:
    """Runs the jobs one at a time in a thread of its own; `changed` is set whenever one changes."""

    def __init__(self):
        self.jobs, self.waiting, self.numbers = {}, [], itertools.count(1)
        self.lock = threading.Condition()
        self.version = 0  # counts the changes, so that a watcher knows when to look again
        self.closed = False
        self.worker = threading.Thread(target=self._work, name="studio-jobs", daemon=True)
        self.worker.start()

    def _changed(self):
        self.version += 1
        self.lock.notify_all()

    def submit(self, argv, owner):
        """Queue argv; the same command already queued or running is that job (whose page paints it)."""
        with self.lock:
            for job in self.jobs.values():
                if job.argv == argv and job.state in ("queued", "running", "stopping"):
                    return job
            job = Job(next(self.numbers), argv, owner)
            self.jobs[job.number] = job
            self.waiting.append(job)
            self._changed()
            return job

    def owned(self, number, owner):
        job = self.jobs.get(number)
        if job is None:
            raise UserError(f"there is no job {number}")
        if job.owner != owner:
            raise Refused(f"job {number} is painted from another page; this one watches it")
        return job

    def stop(self, number, owner):
        """SIGINT to a running job (it saves, then ends); a queued one just leaves the queue."""
        with self.lock:
            job = self.owned(number, owner)
            if job.state == "queued":
                self.waiting.remove(job)
                job.state = "stopped"
            elif job.state == "running":
                job.process.send_signal(signal.SIGINT)
                job.state = "stopping"
            self._changed()

    def resume(self, number, owner):
        """The job's command queued again: it goes on from what its run folder holds."""
        with self.lock:
            job = self.owned(number, owner)
            if job.state not in ("stopped", "failed", "finished"):
                raise UserError(f"job {number} is {job.state}")
            job.state, job.exit_status = "queued", None
            self.waiting.append(job)
            self._changed()

    def views(self):
        with self.lock:
            return [
                job.view(self.waiting.index(job) + 1 if job in self.waiting else None) for job in self.jobs.values()
            ]

    def wait_for_change(self, version, timeout_s):
        """The version after waiting up to timeout_s for one past `version`."""
        with self.lock:
            self.lock.wait_for(lambda: self.version != version, timeout_s)
            return self.version

    def _work(self):
        while True:
            with self.lock:
                self.lock.wait_for(lambda: self.waiting or self.closed)
                if self.closed:
                    return
                job = self.waiting.pop(0)
                job.state, job.lines = "running", []
                # A session of its own: a Ctrl-C in the server's terminal reaches the server, which then
                # sends the job one SIGINT (a second would end it at once, unsaved).
                job.process = subprocess.Popen(
                    job.argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    errors="replace",
                    env=dict(os.environ, PYTHONUNBUFFERED="1"),  # each line as it is printed
                    start_new_session=True,
                )
                self._changed()
            self._follow(job)

    def _follow(self, job):
        """Read the job's output until it ends; note its run folder and last lines."""
        for line in job.process.stdout:
            with self.lock:
                job.lines = [*job.lines[-OUTPUT_LINES_KEPT:], line.rstrip()]
                match = RUN_FOLDER_LINE.match(line)
                job.folder = match.group(1).strip() if match else job.folder
                self._changed()
        status = job.process.wait()
        with self.lock:
            stopped = job.state == "stopping" or status in (130, 128 + signal.SIGTERM)
            job.exit_status = status
            job.state = "finished" if status == 0 else "stopped" if stopped else "failed"
            self._changed()

    def close(self):
        """Stop the job under way (it saves, as on Ctrl-C) and wait for it; drop the queue."""
        with self.lock:
            self.closed = True
            self.waiting.clear()
            running = [job for job in self.jobs.values() if job.state in ("running", "stopping")]
            self.lock.notify_all()
        for job in running:
            if job.state == "running":
                job.process.send_signal(signal.SIGINT)
            try:
                job.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                job.process.kill()
