"""Running the optimization pass by pass (coarse to fine) and, for images larger than a tile, tile by
tile; with progress lines, snapshots, checkpoints, resume, and a clean stop on Ctrl-C or SIGTERM."""
import errno
import math
import os
import signal
import sys
import time

import numpy as np

import utils
from utils import RunStopped
from stylize import Stylizer, style_targets, tf
from tiling import paste, tile_boxes


class StopRequest:
    """Ctrl-C or SIGTERM asks the run to stop after the current step; a second one ends it at once."""
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal = None

    def __enter__(self):
        self.previous = {number: signal.signal(number, self._request) for number in self.SIGNALS}
        return self

    def _request(self, number, _frame):
        self.signal = signal.Signals(number)
        for other in self.SIGNALS:  # the default action ends the process at once, even inside a TF step
            signal.signal(other, signal.SIG_DFL)
        print(f"\n{self.signal.name}: stopping after this step (press Ctrl-C again to quit at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, *_):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def prepare_images(settings, content, styles, size_px):
    """Content and style images for one pass, after colour handling, and the function that turns an
    optimized image into the output (luminance transfer puts the photo's colours back)."""
    height, width = utils.fit_long_side(content.shape, size_px)
    content = utils.resize(content, height, width)
    styles = [utils.resize(s, *utils.fit_long_side(s.shape, round(size_px * settings.style_scale))) for s in styles]
    if settings.preserve_colors == "histogram":
        styles = [utils.match_colour_histogram(style, content) for style in styles]
    if settings.preserve_colors != "luminance":
        return content, styles, lambda image: image
    content_gray = utils.luminance(content)
    styles = [utils.match_luminance(utils.luminance(style), content_gray) for style in styles]
    return content_gray, styles, lambda image: utils.recombine_colour(image, content)


class Runner:
    def __init__(self, settings, network, record, resuming, tile_px, stop):
        self.settings, self.network, self.record = settings, network, record
        self.resuming, self.tile_px, self.stop = resuming, tile_px, stop
        self.first_global_step = 0  # TensorBoard's step axis runs on across passes and tiles

    def run_passes(self, content, styles):
        """Every pass, each starting from the previous one's result; returns the output image."""
        image, passes = None, list(zip(self.settings.scales, self.settings.iterations))
        for index, (size_px, iterations) in enumerate(passes, start=1):
            pass_content, pass_styles, to_output = prepare_images(self.settings, content, styles, size_px)
            height, width = pass_content.shape[:2]
            start = (utils.start_image(self.settings.init, pass_content, pass_styles[0], self.settings.noise_ratio,
                                       self.settings.seed) if image is None else utils.resize(image, height, width))
            targets = style_targets(self.network, pass_styles, self.settings.style_blend, self.settings.style_layers,
                                    self.tile_px)
            label = f"pass {index}/{len(passes)} {width}x{height}" if len(passes) > 1 else f"{width}x{height}"
            folder = os.path.join(self.record.folder, "checkpoints", f"pass{index}-{size_px}px")
            if max(height, width) <= self.tile_px:
                image = self.optimize(label, pass_content, targets, start, folder, (index, 0, size_px), iterations,
                                      to_output)
            else:
                image = self.optimize_in_tiles(label, pass_content, targets, start, folder, (index, size_px),
                                               iterations, to_output)
        return to_output(image)

    def optimize_in_tiles(self, label, content, targets, start, folder, where, iterations, to_output):
        """Refine the image tile after tile; the canvas is saved after each, so a resume skips done tiles."""
        index, size_px = where
        height, width = content.shape[:2]
        overlap_px = self.tile_px // 8
        boxes = tile_boxes(height, width, self.tile_px, overlap_px)
        canvas, tiles_done = start.copy(), 0
        canvas_path = os.path.join(folder, "canvas.npz")
        if self.resuming and os.path.exists(canvas_path):
            with np.load(canvas_path) as saved:
                canvas, tiles_done = saved["canvas"], int(saved["tiles_done"])
            print(f"resuming pass {index} after tile {tiles_done}/{len(boxes)}")
        os.makedirs(folder, exist_ok=True)
        for tile, box in enumerate(boxes[tiles_done:], start=tiles_done + 1):
            top, left, bottom, right = box
            result = self.optimize(f"{label} tile {tile}/{len(boxes)}", content[top:bottom, left:right], targets,
                                   canvas[top:bottom, left:right], os.path.join(folder, f"tile{tile:03d}"),
                                   (index, tile, size_px), iterations, None)
            paste(canvas, result, box, overlap_px)
            utils.write_atomic(canvas_path, npz_bytes(canvas=canvas, tiles_done=tile))
            self.record.snapshot(f"{size_px}px-tile{tile:03d}", self.first_global_step, to_output(canvas))
        return canvas

    def optimize(self, label, content, targets, start, folder, where, iterations, to_output):
        """Optimize one image (a whole pass or one tile) from `start`, resuming from its checkpoint;
        snapshots go through to_output (None: checkpoints only, as for tiles)."""
        settings, record = self.settings, self.record
        stylizer = Stylizer(self.network, content, targets, start, settings.content_layers, settings.style_layers,
                            settings.content_weight, settings.style_weight, settings.tv_weight)
        checkpoints = stylizer.checkpoint_manager(folder)
        if self.resuming and checkpoints.latest_checkpoint:
            stylizer.checkpoint.restore(checkpoints.latest_checkpoint)
            print(f"resuming {label} from step {int(stylizer.step)}")
        record.start_job(where, int(stylizer.step))
        started, first_step, saved_step = time.perf_counter(), int(stylizer.step), int(stylizer.step)

        def save(step):
            nonlocal saved_step
            image = stylizer.result()
            if not np.isfinite(image).all():
                raise RunStopped(f"error: the image became NaN at {label} step {step}; the last good image and "
                                 f"checkpoint (step {saved_step}) are in {record.folder}. Lower --learning-rate "
                                 f"(now {settings.learning_rate}) or the loss weights, and start with --fresh", 3)
            if to_output is not None:
                record.snapshot(f"{where[-1]}px-step{step:05d}", self.first_global_step + step, to_output(image))
            try:
                checkpoints.save(checkpoint_number=step)
            except tf.errors.OpError as error:  # TensorFlow's own error for a full disk or a lost folder
                raise OSError(errno.EIO, error.message.rsplit(";", 1)[-1].strip(), folder) from None
            saved_step = step

        def on_step(progress):
            if not math.isfinite(progress.total_loss):
                save(progress.step)  # refuses, naming the last good checkpoint
            record.log(where, self.first_global_step + progress.step, progress)
            if progress.step % settings.print_every == 0 or progress.step == iterations:
                per_step_s = (time.perf_counter() - started) / (progress.step - first_step)
                print(f"{label}  step {progress.step:5d}/{iterations}  content {progress.content_loss:9.3e}  "
                      f"style {progress.style_loss:9.3e}  total {progress.total_loss:9.3e}  {per_step_s:5.2f} s/it  "
                      f"{per_step_s * (iterations - progress.step) / 60:5.1f} min left", flush=True)
            if progress.step % settings.save_every == 0 or progress.step == iterations or self.stop.signal:
                save(progress.step)
            if self.stop.signal:
                raise StopIteration

        stylizer.run(settings.optimizer, iterations, settings.learning_rate, on_step)
        if self.stop.signal:
            raise RunStopped(f"stopped at {label} step {saved_step}; the image and checkpoint are in "
                             f"{record.folder}. Run the same command again to resume.", 128 + self.stop.signal.value)
        if saved_step != int(stylizer.step):
            save(int(stylizer.step))  # an optimizer that converged early still leaves its last image
        self.first_global_step += iterations
        return stylizer.result()


def npz_bytes(**arrays):
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
