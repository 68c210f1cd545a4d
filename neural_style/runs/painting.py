"""One run (one photo or video in one painting or blend of paintings): its inputs read and checked
before any work, the folder it maps to (a Run), and the run painted into that folder.

A batch (batch.py) is many Runs; on a cluster (cluster.py) a worker paints a Run into a folder of its
own and the driver writes the files, so a Run carries what a worker needs and cannot read itself:
the bytes of every input image file, when `ship_files` asks for them.
"""

import dataclasses
import itertools
import time

from neural_style.errors import Diverged, RunStopped, UserError
from neural_style.files.videos import count_frames, is_video_source, open_video
from neural_style.model.guides import layer_guides, load_mask
from neural_style.model.memory import check_memory, tile_size
from neural_style.runs.chunked import paint_chunks_here, paint_in_chunks
from neural_style.runs.folder import RunFolder
from neural_style.runs.identity import INPUT_FILES, run_identity
from neural_style.runs.recorder import RunRecorder, memory_peak_gib
from neural_style.settings import Settings
from neural_style.work.passes import Masks, stylize
from neural_style.work.sweeps import stylize_clip
from utils import START_IMAGES, fit_long_side, load_image, read_image_file, resize

MIN_FRAME_PX = 12  # OpenCV's DIS flow raises on frames under 8 px on a side; 12 leaves a margin


@dataclasses.dataclass(frozen=True)
class Run:
    """A run whose inputs were read and checked: its settings (content_image one photo or video),
    its folder's name and identity, the tile size it was planned with, and for a video its frames."""

    settings: Settings
    tile: int
    frame_count: int = 0  # a video's frames; 0 for a photo
    name: str = None  # the run folder's name and the identity it stands for, by identified()
    identity: dict = None
    files: dict = dataclasses.field(default_factory=dict)  # {path: bytes} of the image files, if shipped

    def identified(self, precision, weights_digest):
        """The run in the precision it runs in (not "auto") and named, once the weights are known."""
        settings = dataclasses.replace(self.settings, precision=precision)
        name, identity = run_identity(settings, weights_digest)
        return dataclasses.replace(self, settings=settings, name=name, identity=identity)

    @property
    def video(self):
        return bool(self.frame_count)

    @property
    def frames(self):
        return frame_selection(self.settings)

    def image(self, path, background=255):
        """An input image, from the bytes shipped with the run or else from its file (utils.load_image)."""
        return load_image(path, self.files.get(path), background)

    def image_paths(self):
        s = self.settings
        paths = [*s.style_images, *s.style_masks, *s.style_region_masks, s.content_mask]
        if s.init not in START_IMAGES:
            paths.append(s.init)
        if not self.video:
            paths.append(s.content_image)
        return [path for path in paths if path]

    def ship_files(self):
        """The Run with the bytes of its image files, for a machine that may not have them."""
        return dataclasses.replace(self, files={path: read_image_file(path) for path in self.image_paths()})


def prepare(settings):
    """Read and check every input of one run (UserError, one line, if one cannot be used). Nothing
    is kept in memory: a batch of many photos is checked photo by photo."""
    video = is_video_source(settings.content_image)
    frame_count = 0
    if video:
        frame_count, content = read_clip(settings)
    else:
        content = load_image(settings.content_image)
    styles = [load_image(path) for path in settings.style_images]
    if settings.init not in START_IMAGES:
        load_image(settings.init)  # refused now if it cannot be read, not when the first pass starts
    masks = load_masks(settings, content, styles, load_image)
    note_small_regions(settings, masks, styles)
    tile = settings.tile_px or tile_size(*fit_long_side(content.shape, settings.size_px))
    if video and max(fit_long_side(content.shape, settings.size_px)) > tile:
        raise UserError(f"video frames are painted whole, and tiles of {tile} px are needed here; use --size {tile}")
    check_memory(content.shape, [style.shape for style in styles], settings.size_px, settings.style_scale, tile)
    return Run(settings, tile, frame_count)


def read_clip(settings):
    """(how many frames the settings select, the first of them): each one decoded, so that all are
    readable and of one size before any work; a clip too small to follow refused, its notes told."""
    selection = frame_selection(settings)
    frame_count = count_frames(*selection)
    if settings.frame_count > frame_count:
        print(
            f"note: --frames {settings.frame_count} asks for more frames than decode from frame "
            f"{settings.first_frame} on: painting {frame_count}"
        )
    with open_video(*selection) as clip:
        first = next(clip)
    if clip.fps_note:
        print(clip.fps_note)
    height, width = fit_long_side(first.shape, settings.size_px)
    if min(height, width) < MIN_FRAME_PX:
        raise UserError(
            f"video frames would be {width}x{height} px at --size {settings.size_px}: the optical flow needs "
            f"{MIN_FRAME_PX} px or more on each side; use a larger --size"
        )
    return frame_count, first


def frame_selection(settings):
    """A video's frames that the settings ask for, as videos.open_video takes them."""
    return settings.content_image, settings.first_frame, settings.frame_count or None, settings.frame_every


def load_masks(settings, content, styles, load=load_image, note=print):
    """The masks the settings name, read and checked now (MaskError otherwise), at full size; `note`
    tells of a mask resized to its image (prepare tells it, the painting reads the masks again)."""

    def read(path, image, image_name="the photo"):
        mask, file_shape = load_mask(path, *image.shape[:2], load, image_name)
        if file_shape != image.shape[:2]:
            note(f"note: mask {path} resized from {file_shape[1]}x{file_shape[0]} px to the image's size")
        return mask

    return Masks(
        styles=tuple(read(path, content) for path in settings.style_masks) or None,
        paintings=tuple(
            read(mask_path, style, f"its painting {style_path}")
            for mask_path, style_path, style in zip(settings.style_region_masks, settings.style_images, styles)
        )
        or None,
        content=read(settings.content_mask, content) if settings.content_mask else None,
        mode=settings.mask_mode,
    )


def note_small_regions(settings, masks, styles):
    """Says which style layers a painting's region mask is too small for at the full size (they take
    their style from the other paintings, or none: passes.PassStyle.targets)."""
    for path, mask, style in zip(settings.style_region_masks, masks.paintings or (), styles):
        height, width = fit_long_side(style.shape, round(settings.size_px * settings.style_scale))
        guides = layer_guides(resize(mask, height, width), list(settings.style_layers), settings.mask_mode)
        unreached = [name for name, guide in guides.items() if not guide.any()]
        if unreached:
            print(
                f"note: region mask {path} is too small at --size {settings.size_px} for {' '.join(unreached)} "
                "(no neuron of the layer sees only the region): the painting gives those layers no style"
            )


def paint(run, weights, network, output_dir, stop, paint_chunks=None):
    """Paint the run into its folder in output_dir (resuming what an earlier process left there), as
    `run.settings` say; `stop` is the StopRequest the run ends early on. A video is painted in chunks
    (clip_chunks.py) if settings.chunk_frames asks for them or paint_chunks, a cluster's painter of
    chunks, is given. Returns the result's path."""
    settings = run.settings
    with RunFolder.open(output_dir, run.name, settings.fresh) as folder:
        print(f"run folder: {folder.path}")
        settings, tile = plan_resumed_run(settings, folder.read_record(), run.tile)
        run = dataclasses.replace(run, settings=settings)
        inputs = {name: getattr(settings, name) for name in INPUT_FILES}
        recorder = RunRecorder(folder, settings, dict(inputs, **run.identity), stop)
        record = {"weights_source": weights.source, "weights_sha256": weights.sha256, "tile_px": tile}
        recorder.write_record(**record, iterations=settings.iterations, status="running")
        started = time.perf_counter()
        styles = [run.image(path) for path in settings.style_images]
        try:
            if run.video:
                path = paint_video(run, styles, network, recorder, paint_chunks, stop)
            else:
                content = run.image(settings.content_image)
                masks = load_masks(settings, content, styles, run.image, note=lambda _: None)
                picture = stylize(settings, content, styles, network, tile, recorder, masks)
                path = recorder.finish(picture, resize(content, *picture.shape[:2]), styles)
        except Diverged as error:
            raise Diverged(error.step, recorder.diverged(error)) from None
        except RunStopped:
            raise  # its record says "stopped"
        except Exception as error:
            record_failure(recorder, error)
            raise
        finally:
            recorder.close()  # a batch paints many runs in one process: each run's files are closed
        elapsed_s = time.perf_counter() - started
        recorder.write_record(status="finished", elapsed_s=round(elapsed_s, 1), peak_memory_gib=memory_peak_gib())
    print(f"result: {path}  ({elapsed_s:.0f} s, peak memory {memory_peak_gib():.1f} GiB)")
    return path


def record_failure(recorder, error):
    """A run that ends in an error is recorded as "failed" with it, not left as "running"."""
    try:
        recorder.write_record(status="failed", error=f"{type(error).__name__}: {error}")
    except OSError:
        pass  # the folder cannot be written (the error may be just that): the error is what the user must see


def paint_video(run, styles, network, recorder, paint_chunks, stop):
    """A clip painted frame by frame in one chain, or in chunks (clip_chunks.py) when the settings
    ask for chunks or a cluster's paint_chunks is given; returns the video's path."""
    settings = run.settings
    with open_video(*run.frames) as clip:
        first, fps = next(clip), clip.fps
        if paint_chunks and not settings.chunk_frames:
            print("note: the clip is one task; --chunk-frames N paints chunks of N frames at the same time")
        if settings.chunk_frames or paint_chunks:
            paint_in_chunks(run, styles, recorder, paint_chunks or paint_chunks_here(network, stop, recorder.folder))
        else:
            stylize_clip(settings, itertools.chain([first], clip), run.frame_count, styles, network, recorder)
    first = resize(first, *fit_long_side(first.shape, settings.size_px))
    return recorder.finish_video(frames_kept(recorder.folder, run.frame_count), fps, first, styles)


def frames_kept(folder, asked):
    """How many frames the video is made of: those asked for, or all that an earlier run in the folder
    painted if it painted more, so that a rerun with a smaller --frames never makes a video shorter
    than what frames/ holds."""
    painted = max(asked, folder.frames_written())
    if painted > asked:
        print(f"note: frames 1 to {painted} of this run are painted; its video keeps them all (--fresh: a new run)")
    return painted


def plan_resumed_run(settings, record, tile):
    """A resumed run keeps the tiles it was cut into and its earlier passes' iterations: a larger
    --iterations extends its last pass. Returns (the settings it goes on with, the tile size)."""
    if not record or "iterations" not in record:
        return settings, tile
    asked = settings.iterations
    settings = dataclasses.replace(settings, iterations=(*record["iterations"][:-1], asked[-1]))
    if settings.iterations != asked:
        print(
            f"resuming: the passes before the last keep their {' '.join(map(str, record['iterations'][:-1]))} "
            f"iterations; the last pass runs to {asked[-1]}"
        )
    if record["tile_px"] != tile:
        print(f"resuming with the run's own tiles of {record['tile_px']} px")
    return settings, record["tile_px"]
