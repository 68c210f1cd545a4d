"""A run's folder, the one place that knows its layout: opening it (locked against a second process),
its record, its files' names, and the saved state of every job, from which an interrupted run goes
on. Which folder a run's inputs and settings map to is identity.py's.

    outputs/<photo>-<paintings>-<digest>/
        settings.json                 the run's record (settings, plan, status)
        losses.csv, tensorboard/      the loss log
        <name>-<label>.png            snapshots, <name>-final.png and <name>-sheet.png
        checkpoints/<job>/state.npz   each job's optimizer state; canvas.npz for a tiled pass
        frames/00001.png, <name>.webm a video's finished frames, and the video made from them
"""

import fcntl
import io
import json
import os
import re
import shutil

import numpy as np

from neural_style.errors import UserError, write_failed
from neural_style.files.disk import write_atomic
from utils import load_image

RECORD, LOCK, LOSS_LOG, TENSORBOARD, FRAMES, CHECKPOINTS = (
    "settings.json",
    ".lock",
    "losses.csv",
    "tensorboard",
    "frames",
    "checkpoints",
)


class RunFolder:
    """An open, locked run folder. Use RunFolder.open(...) in a `with` block."""

    def __init__(self, path, name, resuming, lock_fd):
        self.path, self.name, self.resuming, self._lock_fd = path, name, resuming, lock_fd

    @classmethod
    def open(cls, output_dir, name, fresh):
        """The latest folder of this run, or a new one (name, name-2, ...) if there is none or `fresh`
        is set: starting afresh never touches an earlier run. Raises UserError when the folder cannot
        be written or another process is using it, before any expensive work."""
        try:
            os.makedirs(output_dir, exist_ok=True)
            numbers = folder_numbers(output_dir, name)
            resuming = bool(numbers) and not fresh
            if resuming:
                path = folder_path(output_dir, name, numbers[-1])
                if os.path.islink(path) or not os.path.isdir(path):
                    raise UserError(f"{path} is a link or not a folder; remove it or use --fresh")
            else:
                path = make_new_folder(output_dir, name, numbers[-1] + 1 if numbers else 1)
            lock_fd = os.open(os.path.join(path, LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise UserError(
                f"cannot write to output folder {output_dir} ({error.strerror}); choose another with --output-dir"
            ) from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(lock_fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(lock_fd)
            raise UserError(
                f"run folder {path} is in use by process {holder}; wait for it to end, "
                "or add --fresh to start another run"
            ) from None
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
        folder = cls(path, name, resuming, lock_fd)
        folder.remove_partial_files()
        return folder

    def __enter__(self):
        return self

    def __exit__(self, *_):
        os.close(self._lock_fd)  # the OS releases the lock, as it does when the process is killed

    def remove_partial_files(self):
        """Files a killed run was in the middle of writing; whole ones are never named *.partial."""
        for root, _, names in os.walk(self.path):
            for name in names:
                if name.endswith(".partial") or name.endswith(".partial.webm"):  # the video's: videos.py
                    os.remove(os.path.join(root, name))

    def file(self, name):
        return os.path.join(self.path, name)

    def image_name(self, label):
        return image_name(self.name, label)

    # --- the record -----------------------------------------------------------------------------------
    def read_record(self):
        """settings.json as the last run in this folder wrote it, or None."""
        return read_record(self.path)

    def write_record(self, record):
        self.write(RECORD, json.dumps(record, indent=1).encode())

    def write(self, name, data):
        """Write the file `name` (a path inside the folder) atomically."""
        try:
            os.makedirs(os.path.dirname(self.file(name)), exist_ok=True)
            write_atomic(self.file(name), data)
        except OSError as error:
            raise write_failed(error) from None

    def video_name(self):
        return f"{self.name}.webm"

    # --- a video's frames ------------------------------------------------------------------------------
    def load_frame(self, frame):
        """A video's finished frame (1, 2, ...) as written, or None."""
        path = self.file(frame_name(frame))
        return load_image(path) if os.path.exists(path) else None

    def frames_written(self):
        """How many of a video's frames, 1, 2, ... without a gap, are written."""
        written = 0
        while os.path.exists(self.file(frame_name(written + 1))):
            written += 1
        return written

    def save_frame(self, frame, png):
        self.write(frame_name(frame), png)

    def remove_frame_states(self, frame):
        """The checkpoints of a frame once it is written: all that a resumed run needs of it is its picture."""
        shutil.rmtree(os.path.join(self.path, CHECKPOINTS, frame_folder(frame)), ignore_errors=True)

    # --- job states ------------------------------------------------------------------------------------
    def _checkpoint(self, job, name):
        return os.path.join(self.path, CHECKPOINTS, job_folder(job), name)

    def load_state(self, job):
        return load_npz(self._checkpoint(job, "state.npz"))

    def save_state(self, job, state):
        save_npz(self._checkpoint(job, "state.npz"), state)

    def load_canvas(self, job):
        saved = load_npz(self._checkpoint(job.whole_pass, "canvas.npz"))
        return saved and (saved["canvas"], int(saved["tiles_done"]), int(saved["iterations"]))

    def save_canvas(self, job, canvas, tiles_done, iterations):
        save_npz(
            self._checkpoint(job.whole_pass, "canvas.npz"),
            {"canvas": canvas, "tiles_done": tiles_done, "iterations": iterations},
        )

    def load_chunk(self, chunk):
        """A video chunk's pictures (uint8 (frames, height, width, 3)) as saved, or None."""
        saved = load_npz(self._chunk_path(chunk))
        return None if saved is None else saved["pictures"]

    def save_chunk(self, chunk, pictures):
        save_npz(self._chunk_path(chunk), {"pictures": pictures})

    def _chunk_path(self, chunk):
        return os.path.join(self.path, CHECKPOINTS, f"chunk{chunk.index:03d}.npz")

    def save_chunk_frame(self, chunk, frame, png):
        """A finished frame (1, 2, ... of the chunk) of a chunk under way."""
        self.write(os.path.join(self._chunk_frames(chunk), f"{frame:05d}.png"), png)

    def load_chunk_frames(self, chunk):
        """The frames 1, 2, ... of a chunk under way that were finished (uint8), up to the first missing."""
        frames = []
        while os.path.exists(path := self.file(os.path.join(self._chunk_frames(chunk), f"{len(frames) + 1:05d}.png"))):
            frames.append(load_image(path).astype(np.uint8))
        return frames

    def remove_chunk_frames(self, chunk):
        """A chunk's frames once the whole chunk is saved."""
        shutil.rmtree(self.file(self._chunk_frames(chunk)), ignore_errors=True)

    def _chunk_frames(self, chunk):
        return os.path.join(CHECKPOINTS, f"chunk{chunk.index:03d}")


def image_name(name, label):
    """A picture's file name in the run folder `name`: snapshots, the final picture and the sheet."""
    return f"{name}-{label}.png"


def frame_name(frame):
    """A video's finished frame (1, 2, ...), relative to its run folder."""
    return os.path.join(FRAMES, f"{frame:05d}.png")


def job_folder(job):
    """Where a run folder keeps a job's state, relative to its checkpoints."""
    folder = f"pass{job.pass_index}-{job.size_px}px" + (f"/tile{job.tile:03d}" if job.tile else "")
    return f"{frame_folder(job.frame)}/{folder}" if job.frame else folder


def frame_folder(frame):
    """Where a run folder keeps the states of a video frame's jobs, relative to its checkpoints."""
    return f"frame{frame:05d}"


def folder_files(path):
    """{path inside the folder: bytes} of every file under path but the run folder's lock."""
    files = {}
    for root, _, names in os.walk(path):
        for name in names:
            file_path = os.path.join(root, name)
            relative = os.path.relpath(file_path, path)
            if relative != LOCK:
                with open(file_path, "rb") as f:
                    files[relative] = f.read()
    return files


def folder_numbers(output_dir, name):
    """The numbers (1 for the name alone, then 2, 3, ...) of the folders of a run in output_dir, in order."""
    pattern = re.compile(re.escape(name) + r"(?:-(\d+))?")
    return sorted(int(m.group(1) or 1) for m in map(pattern.fullmatch, os.listdir(output_dir)) if m)


def finished_run(output_dir, name):
    """The path of the run's latest folder if its record says it finished, else None (no folder, or a
    run stopped, diverged or under way): what a batch takes as done and does not paint again."""
    if not os.path.isdir(output_dir) or not (numbers := folder_numbers(output_dir, name)):
        return None
    path = folder_path(output_dir, name, numbers[-1])
    record = read_record(path)
    return path if record and record.get("status") == "finished" else None


def read_record(path):
    """settings.json of the run folder at path, or None where there is none or it cannot be read."""
    try:
        with open(os.path.join(path, RECORD)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def folder_path(output_dir, name, number):
    return os.path.join(output_dir, name if number == 1 else f"{name}-{number}")


def make_new_folder(output_dir, name, number):
    """Create the first free folder name-<number>, name-<number + 1>, ...; mkdir fails on any name that
    exists, a link included, so two processes starting at once never share a new folder."""
    while True:
        path = folder_path(output_dir, name, number)
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            number += 1


def load_npz(path):
    if not os.path.exists(path):
        return None
    with np.load(path) as saved:
        return {key: saved[key] if saved[key].ndim else saved[key].item() for key in saved.files}


def save_npz(path, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, buffer.getvalue())
    except OSError as error:
        raise write_failed(error) from None
