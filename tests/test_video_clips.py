"""Clips through the CLI end to end: a numbered PNG sequence, an .mp4 and an .m4v, made here with OpenCV
(benchmarks/clips.py), their frames on disk checked; and clips that used to fail late or quietly."""

import glob
import os
import struct

import cv2
import numpy as np
import pytest
from conftest import run_main

from benchmarks import clips
from neural_style.files import videos
from utils import load_image

TINY = ["--iterations", "2", "--frame-iterations", "1", "--print-every", "1"]


def painted(output_dir):
    """(the run folder's frame PNGs, its .webm videos)."""
    (folder,) = glob.glob(str(output_dir / "*"))
    return sorted(glob.glob(os.path.join(folder, "frames", "*.png"))), glob.glob(os.path.join(folder, "*.webm"))


def small(frames, width_px=32):
    return [cv2.resize(frame, (width_px, width_px * 3 // 4), interpolation=cv2.INTER_AREA) for frame in frames]


@pytest.mark.parametrize("name", ["seq/%04d.png", "clip.mp4"])
def test_an_image_sequence_and_an_mp4_are_painted_end_to_end(tmp_path, name):
    frames = clips.moving_object(3, 64, 48)
    source = clips.write_clip(frames, tmp_path / name)
    done = run_main("--content", source, "--size", "32", *TINY, "--output-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    pngs, (webm,) = painted(tmp_path / "out")
    assert [os.path.basename(path) for path in pngs] == ["00001.png", "00002.png", "00003.png"]
    pictures = [load_image(path) for path in pngs]
    with videos.open_video(source) as clip:
        inputs = small(list(clip))
    for picture, frame in zip(pictures, inputs, strict=True):
        assert picture.shape == (24, 32, 3)
        assert np.abs(picture - frame).mean() > 10  # painted: not the frame itself
    with videos.open_video(webm) as clip:
        decoded = list(clip)
    assert len(decoded) == 3 and all(np.abs(p - d).mean() < 15 for p, d in zip(pictures, decoded))


def one_line_error(done):
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    return lines[0]


def test_a_frame_too_small_for_the_optical_flow_is_refused_before_any_work(tmp_path):
    clip = clips.write_clip(clips.moving_object(2, 64, 48), tmp_path / "clip.mp4")
    wide = clips.write_clip([np.full((8, 128, 3), 100 * i, np.uint8) for i in range(2)], tmp_path / "wide.mp4")
    for source, size in ((clip, "8"), (wide, "64")):  # 8x6 px; 16:1 at 64 px: 64x4
        done = run_main("--content", source, "--size", size, *TINY, "--output-dir", tmp_path / "out")
        assert "optical flow needs 12 px or more on each side" in one_line_error(done)
        assert not os.path.exists(tmp_path / "out")


def write_avi_saying_fps(path, frames, header_fps):
    """A Motion JPEG .avi of the frames whose headers say header_fps (OpenCV writes 1 fps or more)."""
    size = frames[0].shape[1::-1]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 1, size)
    for frame in frames:
        writer.write(frame[:, :, ::-1])
    writer.release()
    data = bytearray(path.read_bytes())
    stream = data.index(b"strh")  # the stream header's dwScale and dwRate: rate / scale frames per second
    data[stream + 28 : stream + 36] = struct.pack("<II", 1_000_000, round(header_fps * 1_000_000))
    main = data.index(b"avih")  # the main header's dwMicroSecPerFrame
    data[main + 8 : main + 12] = struct.pack("<I", round(1e6 / header_fps))
    path.write_bytes(bytes(data))
    return path


def test_a_header_that_says_0_001_fps_gives_a_video_at_a_sane_rate(tmp_path):
    clip = write_avi_saying_fps(tmp_path / "slow.avi", clips.moving_object(2, 64, 48), 0.001)
    with videos.open_video(clip) as opened:
        assert opened.fps == videos.DEFAULT_FPS
    done = run_main("--content", clip, "--size", "32", *TINY, "--output-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "says 0.001 frames per second; its video is made at 25" in done.stdout
    _, (webm,) = painted(tmp_path / "out")
    with videos.open_video(webm) as clip:
        assert clip.fps == pytest.approx(25) and len(list(clip)) == 2


def test_an_m4v_with_fewer_frames_than_asked_then_fewer_frames_asked(tmp_path):
    clip = clips.write_clip(clips.moving_object(3, 64, 48), tmp_path / "clip.m4v")
    done = run_main("--content", clip, "--size", "32", *TINY, "--frames", "5", "--output-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "note: --frames 5 asks for more frames than decode from frame 0 on: painting 3" in done.stdout
    pngs, (webm,) = painted(tmp_path / "out")
    assert len(pngs) == 3 and videos.count_frames(webm) == 3

    # A rerun asking for fewer keeps the video of every painted frame, as frames/ keeps them
    fewer = run_main("--content", clip, "--size", "32", *TINY, "--frames", "2", "--output-dir", tmp_path / "out")
    assert fewer.returncode == 0, fewer.stderr
    assert "frames 1 to 3 of this run are painted; its video keeps them all" in fewer.stdout
    pngs, (webm,) = painted(tmp_path / "out")
    assert len(pngs) == 3 and videos.count_frames(webm) == 3
