"""A run's folder, the one place that knows its layout: which folder a run's inputs and settings map
to, opening it (locked against a second process), its record, and the saved state of every job,
from which an interrupted run goes on.

    outputs/<photo>-<paintings>-<digest>/
        settings.json                 the run's record (settings, plan, status)
        losses.csv, tensorboard/      the loss log
        <name>-<label>.png            snapshots, <name>-final.png and <name>-sheet.png
        checkpoints/<job>/state.npz   each job's optimizer state; canvas.npz for a tiled pass
"""

import fcntl
import hashlib
import io
import json
import os
import re

import numpy as np

from errors import UserError, write_failed
from files import file_digest, safe_name, write_atomic

# Settings that do not change the picture, so that a run can be resumed or extended with other values.
NOT_IN_RUN_IDENTITY = ("iterations", "save_every", "print_every", "output_dir", "fresh")
# In the identity by their content.
INPUT_FILES = (
    "content_image",
    "style_images",
    "init",
    "weights_file",
    "style_masks",
    "style_region_masks",
    "content_mask",
)
NAME_STEMS_MAX = 80  # characters of the folder name taken by the images' names; with the digest and the
# longest file name in it (<name>-<size>px-tile000.png and the like) well within the 255 of file systems


def run_identity(settings, weights_digest):
    """(folder name, identity): the same inputs and settings always map to the same run folder.

    Inputs count by content, not by name: an image replaced under the same name is another run, and
    the same file named another way (a relative or absolute path, a link) is the same run.
    """
    identity = {k: v for k, v in vars(settings).items() if k not in NOT_IN_RUN_IDENTITY + INPUT_FILES}
    identity["inputs_sha256"] = {
        "content": file_digest(settings.content_image),
        "styles": [file_digest(path) for path in settings.style_images],
        "init": file_digest(settings.init) if os.path.isfile(settings.init) else settings.init,
        "weights": weights_digest,
        "style_masks": [file_digest(path) for path in settings.style_masks],
        "style_region_masks": [file_digest(path) for path in settings.style_region_masks],
        "content_mask": settings.content_mask and file_digest(settings.content_mask),
    }
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    stems = "-".join(
        safe_name(os.path.splitext(os.path.basename(path))[0], 24)
        for path in [settings.content_image, *settings.style_images]
    )
    return f"{stems[:NAME_STEMS_MAX].rstrip('-')}-{digest}", identity


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
            pattern = re.compile(re.escape(name) + r"(?:-(\d+))?")
            numbers = sorted(int(m.group(1) or 1) for m in map(pattern.fullmatch, os.listdir(output_dir)) if m)
            resuming = bool(numbers) and not fresh
            if resuming:
                path = folder_path(output_dir, name, numbers[-1])
                if os.path.islink(path) or not os.path.isdir(path):
                    raise UserError(f"{path} is a link or not a folder; remove it or use --fresh")
            else:
                path = make_new_folder(output_dir, name, numbers[-1] + 1 if numbers else 1)
            lock_fd = os.open(os.path.join(path, ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
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
                if name.endswith(".partial"):
                    os.remove(os.path.join(root, name))

    def file(self, name):
        return os.path.join(self.path, name)

    def image_name(self, label):
        return f"{self.name}-{label}.png"

    # --- the record -----------------------------------------------------------------------------------
    def read_record(self):
        """settings.json as the last run in this folder wrote it, or None."""
        try:
            with open(self.file("settings.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def write_record(self, record):
        self.write("settings.json", json.dumps(record, indent=1).encode())

    def write(self, name, data):
        try:
            write_atomic(self.file(name), data)
        except OSError as error:
            raise write_failed(error) from None

    # --- job states ------------------------------------------------------------------------------------
    def _checkpoint(self, job, name):
        return os.path.join(self.path, "checkpoints", job.folder, name)

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
