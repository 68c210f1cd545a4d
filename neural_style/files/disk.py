"""Files: written atomically, named safely, identified by content."""

import hashlib
import os
import re


def write_atomic(path, data):
    """Write bytes via a temporary file and a rename: a kill mid-write never leaves a truncated file."""
    tmp = f"{path}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def file_digest(path, algorithm="sha256"):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_name(text, max_length=60):
    """A file-name fragment legal on Windows, macOS and Linux: letters, digits, '-', '_' and '.'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name[:max_length] or "image"
