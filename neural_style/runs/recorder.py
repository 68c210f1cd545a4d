"""What a run leaves behind and shows, as the observer of its jobs: progress lines, snapshots,
checkpoints, the loss log (CSV and TensorBoard), the run's record with its status, a video's frames,
and at the end the result (a picture, or a video) and a content | style | result sheet."""

import csv
import io
import platform
import resource
import time

import cv2
import numpy
import scipy

from neural_style.errors import RunStopped, check_finite
from neural_style.files.videos import VideoWriter
from neural_style.model.tf_setup import tf
from neural_style.runs.folder import FRAMES, LOSS_LOG, TENSORBOARD
from neural_style.work.observer import Observer
from utils import encode_png, side_by_side

LOSS_COLUMNS = ("frame", "pass", "tile", "size_px", "step", "content", "style", "tv", "total", "step_s")


def library_versions():
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
    }


def loss_row(job, progress, frame=None):
    """The loss log's row (LOSS_COLUMNS) of one step; `frame` if the frame is not job.frame (a chunk's)."""
    return [
        job.frame if frame is None else frame,
        job.pass_index,
        job.tile,
        job.size_px,
        progress.step,
        progress.content_loss,
        progress.style_loss,
        progress.tv_loss,
        progress.total_loss,
        round(progress.step_s, 4),
    ]


def minutes_left(seconds_so_far, done, total):
    """The time left, in minutes, for total - done more items at the mean pace of the `done` so far."""
    return seconds_so_far / max(done, 1) * (total - done) / 60


def memory_peak_gib():
    """This process's peak resident memory so far, in GiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


class RunRecorder(Observer):
    """Records a run in its RunFolder: writes what the jobs report and gives them back what was saved."""

    def __init__(self, folder, settings, record, stop):
        self.folder, self.settings, self.record, self.stop = folder, settings, dict(record), stop
        self.rows = self._read_rows()
        self.summaries = tf.summary.create_file_writer(folder.file(TENSORBOARD))
        self.to_output = None
        self.last_saved = None  # (label, step, snapshot path or None) of the newest checkpoint
        self.job_clock = None  # (time the job started, its first step): the progress lines' speed and ETA
        self.job = None  # the job under way
        self.frames_done = 0  # a video's frames 1..frames_done are written
        self.frame_clock = None  # when the frame under way started: the clip's ETA
        self.later_frame_s = []  # how long each frame after the first took in this process

    def close(self):
        self.summaries.close()

    # --- the record ---------------------------------------------------------------------------------
    def write_record(self, **fields):
        self.record.update(fields, library_versions=library_versions())
        self.folder.write_record(self.record)

    def finish(self, picture, content, styles):
        """The final image and a content | style(s) | result sheet; returns the final image's path."""
        check_finite(picture, self.last_saved[1] if self.last_saved else 0)
        self.folder.write(self.folder.image_name("final"), encode_png(picture))
        self.write_sheet([content, *styles, picture], picture.shape[0])
        return self.folder.file(self.folder.image_name("final"))

    def finish_video(self, frames, fps, content, styles):
        """The video of frames 1..frames, and a sheet of the first frame, the style(s) and a few painted
        frames; returns the video's path."""
        first = self.folder.load_frame(1)
        path = self.folder.file(self.folder.video_name())
        with VideoWriter(path, fps, (first.shape[1], first.shape[0])) as writer:
            for frame in range(1, frames + 1):
                writer.write(self.folder.load_frame(frame))
        shown = [self.folder.load_frame(frame) for frame in sorted({1, (frames + 1) // 2, frames})]
        self.write_sheet([content, *styles, *shown], first.shape[0])
        return path

    def write_sheet(self, images, height):
        self.folder.write(self.folder.image_name("sheet"), encode_png(side_by_side(images, height)))

    def what_was_saved(self):
        kept = [f"frames 1 to {self.frames_done} ({self.folder.file(FRAMES)})"] if self.frames_done else []
        if self.last_saved:
            label, step, snapshot = self.last_saved
            kept.append(f"{f'the image ({snapshot}) and ' if snapshot else ''}the checkpoint of {label} step {step}")
        if not kept:
            return f"nothing was saved in {self.folder.path} yet"
        return f"{' and '.join(kept)} are kept in {self.folder.path}"

    # --- the loss log ---------------------------------------------------------------------------------
    def _read_rows(self):
        try:
            with open(self.folder.file(LOSS_LOG), newline="") as f:
                return list(csv.reader(f))[1:]
        except OSError:
            return []

    def _write_rows(self):
        text = io.StringIO()
        csv.writer(text).writerows([LOSS_COLUMNS, *self.rows])
        self.folder.write(LOSS_LOG, text.getvalue().encode())

    def global_step(self, job, step):
        """TensorBoard's step axis, which runs on across passes, tiles and frames."""
        earlier = sum(self.settings.iterations[: job.pass_index - 1])
        if job.frame > 1:
            earlier = sum(self.settings.iterations) + (job.frame - 2) * self.settings.frame_iterations
        return earlier + max(job.tile - 1, 0) * job.iterations + step

    def chunk_finished(self, steps):
        """A video chunk's steps (clip_chunks.ChunkResult.steps, painted here or on a cluster), logged
        in frame order; the frames two chunks overlap on have the rows of both."""
        rows = [loss_row(job, progress, frame) for frame, job, progress in steps]
        self.rows = sorted([*self.rows, *rows], key=lambda row: int(row[0]))
        self._write_rows()

    # --- Observer -------------------------------------------------------------------------------------
    def saved_state(self, job):
        return self.folder.load_state(job)

    def saved_canvas(self, job):
        saved = self.folder.load_canvas(job)
        if saved and saved[1] < job.tiles:
            print(f"resuming pass {job.pass_index} after tile {saved[1]}/{job.tiles}")
        return saved

    def job_started(self, job, step, to_output):
        self.to_output = to_output
        if self.stop.signal:
            raise self.stopped(job)
        if step >= job.iterations:
            print(f"{job.label}: done")
        elif step:
            print(f"resuming {job.label} from step {step}")
        # The log rows of this job after its saved state will be done again.
        key = (str(job.frame), str(job.pass_index), str(job.tile))
        self.rows = [row for row in self.rows if tuple(row[:3]) != key or int(row[4]) <= step]
        self.job_clock, self.job = (time.perf_counter(), step), job
        self.frame_clock = self.frame_clock or time.perf_counter()

    def step(self, job, progress, optimizer):
        self.rows.append(loss_row(job, progress))
        with self.summaries.as_default(step=self.global_step(job, progress.step)):
            for key in ("content_loss", "style_loss", "tv_loss", "total_loss"):
                tf.summary.scalar(f"loss/{key[:-5]}", getattr(progress, key))
        if progress.step % self.settings.print_every == 0 or progress.step == job.iterations:
            self.print_progress(job, progress)
        if progress.step % self.settings.save_every == 0 or progress.step == job.iterations or self.stop.signal:
            self.save(job, optimizer.state())
        if self.stop.signal:
            raise self.stopped(job)

    def job_finished(self, job, state):
        # Saved again with its "finished_at", so that a resumed run skips it; the snapshot is only written
        # if no step wrote it (an optimizer that converged early still leaves its last image).
        self.save(job, state, snapshot=self.last_saved is None or self.last_saved[:2] != (job.label, state["step"]))

    def tile_pasted(self, job, canvas):
        self.folder.save_canvas(job, canvas, job.tile, job.iterations)
        self.snapshot(f"{job.size_px}px-tile{job.tile:03d}", self.global_step(job, job.iterations), canvas)

    def saved_frame(self, frame):
        picture = self.folder.load_frame(frame)
        if picture is not None:
            self.frames_done = frame
        elif self.frames_done and self.frame_clock is None:
            print(f"resuming at frame {frame}: frames 1 to {self.frames_done} are done")
        return picture

    def frame_finished(self, frame, frames, picture):
        """Writes the frame's picture, then drops its checkpoints; prints the time left for the clip."""
        check_finite(picture, self.last_saved[1] if self.last_saved else 0)
        self.folder.save_frame(frame, encode_png(picture))
        with self.summaries.as_default(step=self.global_step(self.job, self.job.iterations)):
            tf.summary.image("frame", tf.constant(picture[None] / 255.0), max_outputs=1)
        self.folder.remove_frame_states(frame)
        self.frames_done, self.last_saved = frame, None
        now = time.perf_counter()
        took_s, self.frame_clock = now - self.frame_clock, now
        if frame > 1:
            self.later_frame_s.append(took_s)
        left = ""
        if frame < frames and self.later_frame_s:
            left_min = minutes_left(
                sum(self.later_frame_s), len(self.later_frame_s), len(self.later_frame_s) + frames - frame
            )
            left = f"; {frames - frame} more, about {left_min:.1f} min"
        print(f"frame {frame}/{frames} done in {took_s:.1f} s{left}", flush=True)

    # --- writing ------------------------------------------------------------------------------------------
    def print_progress(self, job, progress):
        started, first_step = self.job_clock
        elapsed_s, steps = time.perf_counter() - started, progress.step - first_step
        per_step_s, left_min = (
            elapsed_s / max(1, steps),
            minutes_left(elapsed_s, steps, steps + job.iterations - progress.step),
        )
        print(
            f"{job.label}  step {progress.step:5d}/{job.iterations}  content {progress.content_loss:9.3e}  "
            f"style {progress.style_loss:9.3e}  total {progress.total_loss:9.3e}  {per_step_s:5.2f} s/it  "
            f"{left_min:5.1f} min left",
            flush=True,
        )

    def save(self, job, state, snapshot=True):
        """A snapshot (whole passes only), the loss log, then the checkpoint: the log rows of every step
        a checkpoint holds are on disk before it is."""
        path = self.last_saved[2] if self.last_saved else None
        if snapshot and not job.tile and not job.frame:  # a video's frames are written when done
            path = self.snapshot(
                f"{job.size_px}px-step{state['step']:05d}", self.global_step(job, state["step"]), state["image"]
            )
        else:
            self._write_rows()
        self.folder.save_state(job, state)
        self.last_saved = (job.label, state["step"], path)

    def snapshot(self, label, global_step, image):
        """Write the picture and the loss log so far; returns the picture's path."""
        picture = self.to_output(image)
        name = self.folder.image_name(label)
        self.folder.write(name, encode_png(picture))
        self._write_rows()
        with self.summaries.as_default(step=global_step):
            tf.summary.image("result", tf.constant(picture[None] / 255.0), max_outputs=1)
        self.summaries.flush()
        return self.folder.file(name)

    def stopped(self, job):
        self.write_record(status="stopped")
        status = 128 + self.stop.signal.value
        if self.last_saved is None and not self.frames_done:
            return RunStopped(
                f"stopped at {job.label} before anything was saved; run the same command to start again", status
            )
        return RunStopped(f"stopped: {self.what_was_saved()}. Run the same command again to resume.", status)

    def diverged(self, error):
        """The message of a run that diverged, naming only what exists; records the status."""
        self.write_record(status="diverged")
        return (
            f"{error}{f' at {self.job.label}' if self.job else ''} after step {error.step}; {self.what_was_saved()}. "
            + (
                f"Lower --learning-rate (now {self.settings.learning_rate:g}) or the loss weights"
                if self.settings.optimizer == "adam"
                else "Lower the loss weights (--style-weight, --content-weight)"
            )
            + ", and start with --fresh"
        )
