"""What a run leaves in its folder: snapshots, checkpoints, the loss log (CSV and TensorBoard), the
record of its settings, and at the end the result and a content | style | result sheet."""
import csv
import io
import json
import os
import platform

from stylize import tf
from utils import encode_png, save_image, side_by_side, write_atomic

LOSS_COLUMNS = ("pass", "tile", "size_px", "step", "content", "style", "tv", "total", "step_s")


def library_versions():
    import cv2
    import numpy
    import scipy
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "opencv": cv2.__version__}


class RunRecord:
    def __init__(self, folder, name, settings):
        self.folder, self.name, self.settings = folder, name, settings
        self.csv_path = os.path.join(folder, "losses.csv")
        self.rows = self._read_rows()
        self.summaries = tf.summary.create_file_writer(os.path.join(folder, "tensorboard"))

    def _read_rows(self):
        if not os.path.exists(self.csv_path):
            return []
        with open(self.csv_path, newline="") as f:
            return [row for row in csv.reader(f)][1:]

    def write_settings(self, **extra):
        record = dict(self.settings, **extra, library_versions=library_versions())
        write_atomic(os.path.join(self.folder, "settings.json"), json.dumps(record, indent=1).encode())

    def start_job(self, where, restored_step):
        """Forget the log rows of this pass (or tile) after its restored checkpoint: they will be redone."""
        key = lambda row: tuple(int(value) for value in row[:2])
        self.rows = [row for row in self.rows if key(row) != where[:2] or int(row[3]) <= restored_step]

    def log(self, where, global_step, progress):
        """where: (pass, tile, size_px), tile 0 for a pass done in one piece."""
        self.rows.append([*where, progress.step, progress.content_loss, progress.style_loss, progress.tv_loss,
                          progress.total_loss, round(progress.step_s, 4)])
        with self.summaries.as_default(step=global_step):
            for key in ("content_loss", "style_loss", "tv_loss", "total_loss"):
                tf.summary.scalar(f"loss/{key[:-5]}", getattr(progress, key))

    def snapshot(self, label, global_step, image):
        """Write the image and the loss log so far; returns the image's path."""
        path = os.path.join(self.folder, f"{self.name}-{label}.png")
        save_image(path, image)
        text = io.StringIO()
        csv.writer(text).writerows([LOSS_COLUMNS, *self.rows])
        write_atomic(self.csv_path, text.getvalue().encode())
        with self.summaries.as_default(step=global_step):
            tf.summary.image("result", tf.constant(image[None] / 255.0), max_outputs=1)
        self.summaries.flush()
        return path

    def finish(self, result, content, styles):
        """The final image and a content | style(s) | result sheet; returns the final image's path."""
        path = os.path.join(self.folder, f"{self.name}-final.png")
        save_image(path, result)
        sheet = side_by_side([content, *styles, result], result.shape[0])
        write_atomic(os.path.join(self.folder, f"{self.name}-sheet.png"), encode_png(sheet))
        return path
