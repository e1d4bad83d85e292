"""Generated image data sets of MNIST's shape, for offline runs and tests.

Each class has a prototype: a smooth random blotch pattern that fades out
towards the border, like pen strokes on a dark background. An image is its
class's prototype shifted by a few pixels, blended with a weaker, shifted
prototype of another class (up to half-and-half, so some images are truly
ambiguous, like a 4 that looks like a 9), scaled by a random contrast, plus
pixel noise, rounded into 0..255. As with MNIST, the shifts make the classes
harder for a linear model than for the eye: with the defaults, softmax
regression on the 60000 training images reaches about 0.9 test accuracy and a
nearest-centroid classifier about 0.75.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from gradlab.data.dataset import ImageDataset
from gradlab.errors import UsageError
from gradlab.params import Constraint, Interval, Predicate, validate

__all__ = ["make_images"]


def _is_image_shape(shape: object) -> bool:
    """True for a pair ``(height, width)`` of integers, each at least 4."""
    return (
        isinstance(shape, tuple | list)
        and len(shape) == 2
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in shape)
        and min(shape) >= 4
    )


#: What each parameter of :func:`make_images` may be.
MAKE_IMAGES_PARAMETERS: dict[str, Constraint | list[Constraint]] = {
    "n_train": Interval(Integral, 1, None),
    "n_test": Interval(Integral, 1, None),
    "shape": Predicate(_is_image_shape, "a pair (height, width) of integers >= 4"),
    "n_classes": Interval(Integral, 2, None),
    "seed": Interval(Integral, 0, None),
    "noise": Interval(Real, 0, None),
}

#: The most bytes of pixels one call generates (training and test images together):
#: 4 GB is 5 million images of 28 x 28, far more than a lesson needs; more is a typo.
MAX_IMAGE_BYTES = 4_000_000_000
#: Images generated at a time (bounds the memory used; part of the output's definition).
_CHUNK = 8192
#: Range of the per-image contrast factor.
_CONTRAST = (0.6, 1.2)
#: The weight of the other class's prototype in an image is uniform in 0 .. this.
_BLEND_MAX = 0.5


def make_images(
    n_train: int = 60000,
    n_test: int = 10000,
    *,
    shape: tuple[int, int] = (28, 28),
    n_classes: int = 10,
    seed: int = 0,
    noise: float = 0.25,
) -> ImageDataset:
    """Generate a learnable image classification data set.

    Parameters
    ----------
    n_train, n_test : int, default 60000, 10000
        The number of training and test images (each at least 1). Classes are
        balanced: their counts differ by at most one.
    shape : (int, int), default (28, 28)
        Height and width of the images, each at least 4.
    n_classes : int, default 10
        The number of classes, at least 2.
    seed : int, default 0
        The same seed and arguments always give the same images. The training
        images do not depend on ``n_test``, nor the test images on ``n_train``.
    noise : float, default 0.25
        Standard deviation of the pixel noise (uniformly distributed), as a
        fraction of the full intensity range 0..255. 0 leaves only the shifts,
        blends and contrast; 1 buries the patterns under noise.

    Returns
    -------
    ImageDataset
        Named ``"synthetic"``, images uint8 of shape (n, height, width),
        classes ``"0"``, ``"1"``, ...

    Raises
    ------
    UsageError
        A parameter is out of range (see :data:`MAKE_IMAGES_PARAMETERS`); the
        message names it: ``make_images: n_train must be an integer >= 1; got 0.``
    """
    validate(
        MAKE_IMAGES_PARAMETERS,
        {
            "n_train": n_train,
            "n_test": n_test,
            "shape": shape,
            "n_classes": n_classes,
            "seed": seed,
            "noise": noise,
        },
        "make_images",
    )
    height, width = shape
    pixels = (int(n_train) + int(n_test)) * int(height) * int(width)
    if pixels > MAX_IMAGE_BYTES:
        raise UsageError(
            f"make_images: {int(n_train):,} + {int(n_test):,} images of {height} x {width} "
            f"are {pixels / 1e9:.3g} GB of pixels, more than the "
            f"{MAX_IMAGE_BYTES / 1e9:g} GB it generates.",
            hint="Ask for fewer or smaller images.",
        )
    proto_rng, train_rng, test_rng = map(
        np.random.default_rng, np.random.SeedSequence(seed).spawn(3)
    )
    prototypes = _prototypes(proto_rng, n_classes, height, width)
    table = _shifted_prototypes(prototypes, max_shift=max(1, round(0.1 * min(shape))))
    X_train, y_train = _sample(train_rng, table, n_train, noise)
    X_test, y_test = _sample(test_rng, table, n_test, noise)
    return ImageDataset(
        "synthetic",
        X_train.reshape(n_train, height, width),
        y_train,
        X_test.reshape(n_test, height, width),
        y_test,
        tuple(str(k) for k in range(n_classes)),
    )


def _prototypes(
    rng: np.random.Generator, n_classes: int, height: int, width: int
) -> npt.NDArray[np.float32]:
    """Draw one smooth pattern per class.

    Returns
    -------
    ndarray of shape (n_classes, height, width)
        float32 intensities in 0..1, each pattern's brightest pixel 1.
    """
    field = _smooth_noise(rng, (n_classes, height, width), length=0.1 * min(height, width))
    blotches = 1 / (1 + np.exp(-3 * (field - 0.5)))
    patterns = blotches * _vignette(height, width)
    patterns /= patterns.max(axis=(1, 2), keepdims=True)
    return patterns.astype(np.float32)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int, int], length: float
) -> npt.NDArray[np.float64]:
    """Gaussian white noise low-pass filtered to a correlation ``length`` in pixels.

    Returns
    -------
    ndarray of ``shape``
        Each (height, width) field standardised to mean 0 and standard deviation 1.
    """
    _, height, width = shape
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    gain = np.exp(-2 * np.pi**2 * length**2 * (fy**2 + fx**2))
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * gain).real
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True)
    return field


def _vignette(height: int, width: int) -> npt.NDArray[np.float64]:
    """A window of shape (height, width): 1 in the middle, fading to 0 at the border."""
    y = (np.arange(height)[:, None] - (height - 1) / 2) / (height / 2)
    x = (np.arange(width)[None, :] - (width - 1) / 2) / (width / 2)
    return np.asarray(np.sqrt(np.clip(1.25 * (1 - np.hypot(y, x)), 0, 1)))


def _shifted_prototypes(
    prototypes: npt.NDArray[np.float32], max_shift: int
) -> npt.NDArray[np.float32]:
    """Every prototype shifted by every offset in ``-max_shift .. max_shift`` both ways.

    Returns
    -------
    ndarray of shape (n_classes, (2 * max_shift + 1) ** 2, height * width)
        The shifted patterns, flattened; pixels shifted in from outside are 0.
    """
    n_classes, height, width = prototypes.shape
    m = max_shift
    padded = np.pad(prototypes, ((0, 0), (m, m), (m, m)))
    windows = sliding_window_view(padded, (height, width), axis=(1, 2))
    return np.ascontiguousarray(windows.reshape(n_classes, (2 * m + 1) ** 2, height * width))


def _sample(
    rng: np.random.Generator, table: npt.NDArray[np.float32], n: int, noise: float
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Draw ``n`` images from the shifted prototypes ``table``.

    Returns
    -------
    images : ndarray of shape (n, height * width)
        uint8.
    labels : ndarray of shape (n,)
        int64, balanced over the classes, in random order.
    """
    n_classes, _, n_pixels = table.shape
    labels = rng.permutation(np.arange(n, dtype=np.int64) % n_classes)
    others = (labels + rng.integers(1, n_classes, n)) % n_classes  # never the image's own class
    images = np.empty((n, n_pixels), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        x = _blend(rng, table, labels[start:stop], others[start:stop])
        x += _uniform_noise(rng, x.shape, noise)
        x *= 255
        x += 0.5
        np.clip(x, 0, 255, out=x)
        images[start:stop] = x
    return images, labels


def _blend(
    rng: np.random.Generator,
    table: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    others: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32]:
    """Randomly shifted prototypes of ``labels`` blended with those of ``others``.

    Returns
    -------
    ndarray of shape (len(labels), height * width)
        float32 intensities, about 0..1, times a random contrast per image.
    """
    m, n_shifts = len(labels), table.shape[1]
    weight = rng.uniform(0, _BLEND_MAX, size=(m, 1)).astype(np.float32)
    x = table[labels, rng.integers(0, n_shifts, m)]
    x *= 1 - weight
    x += weight * table[others, rng.integers(0, n_shifts, m)]
    x *= rng.uniform(*_CONTRAST, size=(m, 1)).astype(np.float32)
    return x


def _uniform_noise(
    rng: np.random.Generator, shape: tuple[int, ...], std: float
) -> npt.NDArray[np.float32]:
    """Noise of ``shape``, uniform with mean 0 and standard deviation ``std``."""
    half_width = np.float32(std * math.sqrt(3))  # uniform on [-a, a] has std a / sqrt(3)
    noise = rng.random(shape, dtype=np.float32)
    noise -= np.float32(0.5)
    noise *= 2 * half_width
    return noise
