"""Image files read safely: one function every reader of images goes through.

A task's images (``rank --images``), the task folders of ``build-history`` and a probe's
sample are decoded here, so each is bounded the same way: an image larger than
:data:`MAX_IMAGE_PIXELS` is refused from its header, before anything is decoded (a
50-megapixel RGB image already takes 150 MB; a decompression bomb far more), and PIL's own
decompression-bomb warning and error become that one error instead of a raw warning.
Pillow is imported only when an image is read.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from fennec_core.errors import InputError, MissingDependencyError

#: Largest image (width x height) decoded.
MAX_IMAGE_PIXELS = 50_000_000


def pil() -> Any:
    """The PIL package, or one actionable error: images need the ``proxies`` (or ``history``) extra."""
    try:
        import PIL.Image
    except ImportError:
        raise MissingDependencyError("reading images needs Pillow: pip install 'fennec[proxies]' "
                                     "(or pip install pillow)") from None
    return PIL


def read_rgb(path: str | Path) -> Any:
    """The image file at ``path`` as a PIL RGB image; one larger than :data:`MAX_IMAGE_PIXELS` is
    an InputError naming it, found from its header before anything is decoded."""
    Image = pil().Image
    max_pixels = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise InputError(f"{path}: image is {width}x{height} pixels, more than the "
                                     f"{max_pixels / 1e6:g}-megapixel limit; downscale it (or remove it)")
                return im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: image too large to decode safely ({exc}); downscale it (or remove it)") from None
