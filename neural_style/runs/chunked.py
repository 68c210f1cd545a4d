"""A clip painted in chunks (neural_style/work/clip_chunks.py) into its run folder: each chunk's
pictures are kept (checkpoints/chunk<NNN>.npz) as soon as it is painted, and a frame is written
(frames/00001.png, ...) as soon as every chunk that paints it is. On this machine each finished frame
of the chunk under way is kept too, so that a stopped or killed run goes on from the last finished
frame; a chunk painted on a cluster is the unit that is kept, and painted again when its task is lost.
"""

import time

from neural_style.errors import RunStopped
from neural_style.runs.recorder import minutes_left
from neural_style.work.clip_chunks import chunk_frames, cut, frame_picture, paint_chunk
from utils import encode_png


def paint_chunks_here(network, stop, folder):
    """paint_in_chunks's painter on this machine: the chunks one after another, each going on after
    the frames of it that an earlier process finished, each new frame kept and told as it is done."""

    def kept(chunk, frame, picture):
        folder.save_chunk_frame(chunk, frame, encode_png(picture))
        print(f"{chunk.label}: frame {frame}/{chunk.frame_count} done", flush=True)

    def paint(settings, styles, tasks):
        for chunk, frames in tasks:
            saved = folder.load_chunk_frames(chunk)
            if saved:
                print(f"resuming {chunk.label} after its frame {len(saved)}")
            yield chunk, paint_chunk(settings, chunk, frames, styles, network, stop, saved, kept)

    return paint


def paint_in_chunks(run, styles, recorder, paint_chunks):
    """Paint the run's clip in chunks, those an earlier process kept taken as they are, and write
    every frame (blended where two chunks overlap) into the run folder. paint_chunks(settings,
    styles, [(chunk, frames)]) yields (chunk, ChunkResult) as chunks are done, in any order."""
    s, folder = run.settings, recorder.folder
    chunks = cut(run.frame_count, s.chunk_frames, s.chunk_overlap)
    pictures = {chunk.index: saved for chunk in chunks if (saved := folder.load_chunk(chunk)) is not None}
    if pictures:
        print(f"resuming: {len(pictures)} of {len(chunks)} chunks were painted before")
    written = set()
    todo = [chunk for chunk in chunks if chunk.index not in pictures]
    started, done = time.perf_counter(), 0
    tasks = chunk_frames(run, todo)  # decoded as they are handed out
    try:
        for chunk, result in paint_chunks(s, styles, tasks):
            folder.save_chunk(chunk, result.pictures)
            folder.remove_chunk_frames(chunk)
            recorder.chunk_finished(result.steps)
            pictures[chunk.index], done = result.pictures, done + 1
            left_min = minutes_left(time.perf_counter() - started, done, len(todo))
            print(f"{chunk.label} done ({done}/{len(todo)}; {result.seconds:.0f} s; about {left_min:.1f} min left)")
            write_frames(folder, chunks, pictures, written)
    except RunStopped as stopped:
        recorder.write_record(status="stopped")
        raise RunStopped(
            f"stopped: {len(pictures)} of {len(chunks)} chunks are kept in {folder.path}, with the finished "
            "frames of the chunk under way. Run the same command again to go on.",
            stopped.status,
        ) from None
    write_frames(folder, chunks, pictures, written)


def write_frames(folder, chunks, pictures, written):
    """Write every frame whose chunks are all painted and that is not written yet."""
    for frame in range(1, chunks[-1].last + 1):
        if frame not in written and (picture := frame_picture(frame, chunks, pictures)) is not None:
            folder.save_frame(frame, encode_png(picture))
            written.add(frame)
