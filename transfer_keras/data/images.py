"""Decoding one image file: checks, Pillow decode, upright, RGB, resize.

- `read_image`: one file -> `(sha256, uint8 pixels, None)`, or `(None, None, reason)`
  for a file that cannot be used (the reasons of `unreadable_reason`, or the decoder's).
- `read_images`: the same for many files, decoded in a pool of threads.
- `load_image`: one file for prediction, read exactly as `load_image_folder` reads it.
"""

import hashlib
import io
import os
import stat
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transfer_keras._checks import check_image_size
from transfer_keras.errors import ArgumentValueError

# Safety limits of the folder scan: larger files and images are skipped with the reason.
MAX_FILE_BYTES = 1 << 30  # 1 GiB: no photo is that big; a link to a device would never end
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS  # Pillow's own limit (about 89 megapixels)
SCAN_WORKERS = min(8, os.cpu_count() or 1)  # threads that decode files in parallel
ORIENTATION_TAG = 0x0112  # the EXIF tag that says how to turn a photo upright


def _to_rgb(image):
    """Converts any Pillow mode to RGB; transparent pixels become white.

    16-bit grayscale is divided by 257 (65535 -> 255). 32-bit integer and
    floating-point grayscale (TIFF modes "I" and "F") have no fixed range, so
    their brightest value decides it: at most 1, fractions of white (x 255);
    at most 255, 8-bit values; at most 65535, 16-bit values (/ 257); above,
    scaled so that it becomes white. Negative, infinite and NaN values become black.
    """
    if image.mode.startswith("I;16"):
        pixels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    elif image.mode in ("I", "F"):
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0, posinf=0, neginf=0)
        top = pixels.max(initial=0.0)
        if top <= 1:
            pixels = pixels * 255.0
        elif top > 65535:
            pixels = pixels / top * 255.0
        elif top > 255:
            pixels = pixels / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


class _ImageTooLarge(ValueError):
    """An image whose decoded pixels would exceed `MAX_IMAGE_PIXELS`."""


def _decode_image(data, image_size):
    """Returns the file bytes `data` as a uint8 `(height, width, 3)` array.

    The image is turned upright (EXIF orientation), converted to RGB and resized
    to `image_size` with bilinear filtering, squashing it like Keras's
    `image_dataset_from_directory` (no crop, no padding). JPEGs are first
    decoded at a reduced scale (`Image.draft`) when they are much larger.
    Images of more than `MAX_IMAGE_PIXELS` pixels raise `_ImageTooLarge`
    before any pixel is decoded.
    """
    height, width = image_size
    with Image.open(io.BytesIO(data)) as image:  # GIF, TIFF, WEBP: the first frame
        pixels = image.size[0] * image.size[1]
        if pixels > MAX_IMAGE_PIXELS:
            raise _ImageTooLarge(
                f"image too large ({image.size[0]}x{image.size[1]} = {pixels:,} pixels; the "
                f"limit is {MAX_IMAGE_PIXELS:,}, transfer_keras.data.images.MAX_IMAGE_PIXELS); "
                f"not decoded")
        if image.format == "JPEG":
            side = max(height, width)  # square, so EXIF rotation cannot make it too small
            image.draft("RGB", (side, side))
        image.load()  # raises for truncated or corrupt files
        if image.getexif().get(ORIENTATION_TAG, 1) not in (0, 1):  # else upright already
            image = ImageOps.exif_transpose(image)
        if image.mode != "RGB" or "transparency" in image.info:  # else RGB already
            image = _to_rgb(image)
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def load_image(path, image_size):
    """Reads one image file for prediction, exactly as `load_image_folder` does.

    Args:
        path: an image file (JPEG, PNG, GIF, BMP, WEBP, TIFF).
        image_size: an int or `(height, width)`: the model's input size.

    Returns:
        A uint8 `(height, width, 3)` array (upright, RGB, resized).

    Raises:
        ValueError: the file is missing, unreadable or not an image, with the reason.

    Example:
    >>> pixels = load_image("bee.jpg", 128)  # for a model with 128 x 128 inputs
    >>> model.predict(pixels[None], verbose=0).shape  # P(ants), P(bees)
    (1, 2)
    """
    path = Path(path).expanduser()
    if not (path.exists() or path.is_symlink()):
        raise ArgumentValueError(
            f"`path` {str(path)!r} does not exist; check the path.", argument="path")
    if path.is_dir():
        raise ArgumentValueError(
            f"`path` {str(path)!r} is a folder, not a file; give an image file "
            f"(load_image_folder reads folders).", argument="path")
    _, pixels, reason = read_image(path, check_image_size(image_size))
    if reason:
        raise ArgumentValueError(
            f"`path` {str(path)!r} cannot be used: {reason}.", argument="path")
    return pixels


def unreadable_reason(path):
    """Why `path` cannot be read as an image file, or None for a regular file.

    Checked before opening: reading a FIFO would wait forever and a link to
    a device such as /dev/zero would never end, so only regular files (or
    links to them) are read, and only up to `MAX_FILE_BYTES`.
    """
    try:
        info = os.stat(path)  # follows links
    except FileNotFoundError:
        if os.path.islink(path):
            return f"broken link (its target {os.readlink(path)!r} does not exist)"
        return "the file disappeared while the folder was read"
    except OSError as error:
        return f"cannot read the file ({error.strerror or error})"
    if not stat.S_ISREG(info.st_mode):
        kinds = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
        kind = next((name for test, name in kinds if test(info.st_mode)), "a special file")
        link = " the link points to" if os.path.islink(path) else ""
        return f"not a regular file ({'it is' if not link else link} {kind}); not read"
    if info.st_size > MAX_FILE_BYTES:
        return (f"file too large ({info.st_size / 2**20:,.0f} MB; the limit is "
                f"{MAX_FILE_BYTES / 2**20:,.0f} MB, transfer_keras.data.images.MAX_FILE_BYTES)")
    return None


def read_image(path, image_size):
    """Reads and decodes one image file as `load_image_folder` does, without raising.

    Args:
        path: the file.
        image_size: `(height, width)` to resize to (already checked).

    Returns:
        `(sha256, pixels, None)` for a usable image (the file's hex digest and
        uint8 `(height, width, 3)` pixels), else `(None, None, reason)`: why the
        file is skipped, as a phrase for the report.

    Example:
    >>> digest, pixels, reason = read_image("bee.jpg", (128, 128))
    """
    reason = unreadable_reason(path)
    if reason:
        return None, None, reason
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return None, None, f"cannot read the file ({error.strerror or error})"
    if not data:
        return None, None, "empty file (0 bytes)"
    try:
        return hashlib.sha256(data).hexdigest(), _decode_image(data, image_size), None
    except _ImageTooLarge as error:
        return None, None, str(error)
    except Image.DecompressionBombError as error:  # Pillow's own check, at twice the limit
        return None, None, f"image too large ({error})"
    except UnidentifiedImageError:
        return None, None, "not an image (Pillow cannot identify the format)"
    except Exception as error:  # Pillow raises many types for broken files
        return None, None, f"corrupt or truncated image ({type(error).__name__}: {error})"


def read_images(paths, image_size):
    """Yields `read_image(path, image_size)` for each path, in order, in threads.

    `SCAN_WORKERS` files are decoded at a time (Pillow releases the GIL while
    it decodes). At most a few results wait to be consumed, so memory stays
    bounded.
    """
    paths = list(paths)
    if SCAN_WORKERS <= 1 or len(paths) < 2:
        yield from (read_image(path, image_size) for path in paths)
        return
    with ThreadPoolExecutor(SCAN_WORKERS) as pool:
        pending = deque()
        for path in paths:
            pending.append(pool.submit(read_image, path, image_size))
            if len(pending) >= 4 * SCAN_WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

