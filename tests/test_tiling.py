"""High-resolution mode: tiles cover the image, blend without seams, and give nearly what one piece gives."""

import glob
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, STYLE_LAYERS, loss_values, make_optimizer, run_main

from neural_style.model import losses, memory
from neural_style.work import tiles


@pytest.mark.parametrize("height, width, tile, overlap", [(70, 96, 64, 8), (300, 1000, 256, 32), (50, 50, 64, 8)])
def test_tiles_cover_the_image_with_the_overlap(height, width, tile, overlap):
    boxes = tiles.tile_boxes(height, width, tile, overlap)
    covered = np.zeros((height, width), int)
    for top, left, bottom, right in boxes:
        assert bottom - top <= tile and right - left <= tile
        covered[top:bottom, left:right] += 1
    assert covered.min() >= 1
    for starts in (tiles.tile_starts(height, tile, overlap), tiles.tile_starts(width, tile, overlap)):
        assert all(previous + tile - start >= overlap for previous, start in zip(starts, starts[1:]))


def test_paste_keeps_the_tile_inside_and_ramps_across_the_overlap():
    canvas = np.zeros((40, 80, 3), np.float32)
    box = (0, 30, 40, 80)  # the right-hand tile: its left side overlaps the canvas
    tiles.paste(canvas, np.full((40, 50, 3), 100, np.float32), box, overlap_px=10)
    row = canvas[20, :, 0]
    assert (row[:30] == 0).all() and (row[40:] == 100).all()
    ramp = row[30:40]
    assert (np.diff(ramp) > 0).all() and 0 < ramp[0] < 20 and 80 < ramp[-1] < 100


@pytest.fixture(scope="module")
def network(vgg_weights):
    from vgg_model import VGG19

    return VGG19(vgg_weights, ["conv4_2", *STYLE_LAYERS])


def test_gram_matrices_in_tiles_match_the_whole_image(network):
    import tensorflow as tf

    import utils
    from neural_style.model.losses import gram_matrix

    image = utils.resize(utils.load_image("images/starry_night.jpg"), 300, 376)
    whole = {
        name: gram_matrix(features).numpy()
        for name, features in network(tf.constant(image[None])).items()
        if name in STYLE_LAYERS
    }
    tiled = losses.tiled_gram_matrices(network, image, list(STYLE_LAYERS), tile_px=160, margin_px=32)
    for name in STYLE_LAYERS:
        error = np.abs(tiled[name].numpy() - whole[name]).max() / np.abs(whole[name]).max()
        # conv5_1 sees about 200 px around each position, more than the margin: tiles see less context.
        assert error < (0.05 if name == "conv5_1" else 1e-3), (name, error)
    exact = losses.tiled_gram_matrices(network, image, list(STYLE_LAYERS), tile_px=376)
    for name in STYLE_LAYERS:
        np.testing.assert_allclose(exact[name].numpy(), whole[name], rtol=1e-5, atol=1e-3)


@pytest.fixture(scope="module")
def tiled_and_whole(tmp_path_factory):
    """The same refinement of a 96 px image, once in one piece and once in 64 px tiles."""
    results = {}
    for tile_px in (96, 64):
        output_dir = tmp_path_factory.mktemp(f"tile{tile_px}")
        done = run_main(
            "--content",
            "images/astronaut.png",
            "--style",
            "images/great_wave.png",
            "--size",
            "96",
            "--iterations",
            "15",
            "--scales",
            "1",
            "--optimizer",
            "lbfgs",
            "--init",
            "content",
            "--save-every",
            "100",
            "--tile-px",
            tile_px,
            "--output-dir",
            output_dir,
        )
        assert done.returncode == 0, done.stderr
        if tile_px == 64:
            assert "tile 4/4" in done.stdout  # 96 px in 64 px tiles with overlap: 2 x 2
        (final,) = glob.glob(str(output_dir / "*" / "*-final.png"))
        results[tile_px] = cv2.imread(final)[:, :, ::-1].astype(np.float32)
    return results


def test_tiled_refinement_reaches_nearly_the_loss_of_untiled(tiled_and_whole, network):
    import utils

    content = utils.resize(utils.load_image("images/astronaut.png"), 96, 96)
    style = utils.resize(utils.load_image("images/great_wave.png"), 65, 96)
    optimizer = make_optimizer(network, content, [style], content)
    start = loss_values(optimizer, content)[2]
    whole = loss_values(optimizer, tiled_and_whole[96])[2]
    tiled = loss_values(optimizer, tiled_and_whole[64])[2]
    assert whole < 0.5 * start and tiled < 0.5 * start  # both did the work
    assert tiled < 1.5 * whole  # and the tiles, each seeing a third of the image, nearly as well


def test_tile_borders_leave_no_seam(tiled_and_whole):
    image = tiled_and_whole[64].mean(axis=2)
    column_steps = np.abs(np.diff(image, axis=1)).mean(axis=0)  # energy between columns x and x+1
    row_steps = np.abs(np.diff(image, axis=0)).mean(axis=1)
    starts = tiles.tile_starts(96, 64, 64 // 8)
    borders = sorted(
        {edge for start in starts[1:] for edge in (start - 1, start)}
        | {end - 1 for end in (s + 64 for s in starts[:-1])}
    )
    for steps in (column_steps, row_steps):
        at_borders = steps[[b for b in borders if b < len(steps)]].mean()
        assert at_borders < 1.5 * np.median(steps), (at_borders, np.median(steps))


def test_an_interrupted_tiled_pass_resumes_at_the_tile_where_it_stopped(tmp_path):
    flags = ["--size", "96", "--scales", "1", "--iterations", "3", "--tile-px", "64", "--output-dir", tmp_path]
    process = subprocess.Popen(
        [sys.executable, str(REPO / "style_transfer.py"), *map(str, flags)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not glob.glob(str(tmp_path / "*" / "*-96px-tile002.png")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.kill()
    process.wait()
    resumed = run_main(*flags)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming pass 1 after tile 2/4" in resumed.stdout or "resuming pass 1 after tile 3/4" in resumed.stdout
    assert "tile 1/4" not in resumed.stdout.replace("after tile", "")  # done tiles are not redone
    assert glob.glob(str(tmp_path / "*" / "*-final.png"))


def test_a_machine_with_too_little_memory_is_told_so(monkeypatch):
    from neural_style.errors import TooLargeError

    monkeypatch.setattr(memory, "total_memory_bytes", lambda: 1 << 30)
    with pytest.raises(TooLargeError, match="a run needs at least"):
        memory.tile_size(4000, 3000)


@pytest.mark.parametrize("size_px, style_scale, flag", [(10**20, 1.0, "--size"), (64, 1e6, "--style-scale")])
def test_the_value_suggested_for_a_size_too_large_is_accepted(size_px, style_scale, flag):
    from neural_style.errors import TooLargeError

    content_shape, style_shapes = (953, 1302, 3), [(600, 760, 3)]
    with pytest.raises(TooLargeError) as refused:
        memory.check_memory(content_shape, style_shapes, size_px, style_scale, tile_px=512)
    suggested = float(str(refused.value).split(f"use {flag} ")[1].split()[0])
    if flag == "--size":
        size_px = int(suggested)
        assert 1000 < size_px < 10**6
    else:
        style_scale = suggested
        assert 1 < style_scale < 1e6
    memory.check_memory(content_shape, style_shapes, size_px, style_scale, tile_px=512)  # accepted


def test_the_cgroup_limit_is_read_in_both_versions(tmp_path):
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert memory.cgroup_limit_bytes([str(v2), str(v1)]) is None  # neither file: no limit
    v1.write_text(f"{2 * 2**30}\n")
    assert memory.cgroup_limit_bytes([str(v2), str(v1)]) == 2 * 2**30
    v1.write_text("9223372036854771712\n")  # v1's "unlimited"
    assert memory.cgroup_limit_bytes([str(v2), str(v1)]) is None
    v2.write_text("max\n")
    assert memory.cgroup_limit_bytes([str(v2), str(v1)]) is None
    v2.write_text("1073741824\n")
    assert memory.cgroup_limit_bytes([str(v2), str(v1)]) == 2**30
