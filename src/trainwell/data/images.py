"""Image folders: one sub-folder per class, read with Pillow, resized to one size.

Images are kept as ``uint8`` arrays of shape ``(n, channels, height, width)``; scaling to
training statistics happens later, like any other input. Unreadable files are listed in
one error with their paths, or skipped and counted with ``skip_bad=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class ImageFolder:
    """Images and labels read from a folder tree.

    Attributes
    ----------
    X : ndarray of shape (n, channels, height, width), uint8
    y : ndarray of shape (n,), the sub-folder names
    paths : list of str
    skipped : list of str
        Files that could not be read (only with ``skip_bad=True``).
    """

    X: np.ndarray
    y: np.ndarray
    paths: list[str]
    skipped: list[str] = field(default_factory=list)


def load_image_folder(root: str | Path, size: tuple[int, int] | None = None, mode: str | None = None,
                      skip_bad: bool = False) -> ImageFolder:
    """Read ``root/<class>/<image>`` files into arrays.

    Parameters
    ----------
    root : path
        A folder with one sub-folder per class.
    size : (height, width), optional
        Size every image is resized to; default: the size of the first image.
    mode : {"L", "RGB"}, optional
        Colour mode; default: ``"L"`` when every image is grey, else ``"RGB"``.
    skip_bad : bool
        Skip unreadable images (and count them) instead of failing.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give a folder with one sub-folder of images per class.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root} has {len(classes)} class sub-folder(s); put each class's images in its own sub-folder (at least two).")
    files = [(f, c) for c in classes for f in sorted((root / c).rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{root} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    images, labels, paths, bad = [], [], [], []
    modes = set()
    for path, label in files:
        try:
            with Image.open(path) as img:
                img.load()
                modes.add(img.mode)
                images.append(img.copy())
                labels.append(label)
                paths.append(str(path))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            bad.append(f"{path} ({type(exc).__name__})")
    if bad and not skip_bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(f"{len(bad)} image(s) cannot be read: {shown}; remove them or pass --skip-bad to skip them.")
    if not images:
        raise DataError(f"No image in {root} could be read.")
    if mode is None:
        mode = "L" if modes <= {"L", "1", "I;16", "I", "LA"} else "RGB"
    if size is None:
        size = (images[0].height, images[0].width)
    arrays = []
    for img in images:
        img = img.convert(mode)
        if (img.height, img.width) != tuple(size):
            img = img.resize((size[1], size[0]), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
        arrays.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
    return ImageFolder(np.stack(arrays), np.asarray(labels, dtype=object), paths, bad)
