"""CIFAR-10, from a local copy when one is named, else from the Keras download.

``load_cifar10`` returns exactly what ``keras.datasets.cifar10.load_data()``
returns: ``(x_train, y_train), (x_test, y_test)`` with uint8 images of shape
(N, 32, 32, 3) and uint8 labels of shape (N, 1), in the original label order.

Local copies come in three kinds, told apart by what the path holds:

* a folder of class folders, ``train/<class>/*.jpg|png`` and ``test/<class>/*``;
* a ``.tar.gz`` of such a folder;
* an extracted ``cifar-10-batches-py`` folder (the Python version of the data set).

Decoded arrays are cached as ``.npz`` files, so a second load of the same source
is quick. Any problem with the source raises :class:`DataError`, which names the
file and the remedy; a partial data set is never returned.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .profiles import Profile, get_profile
from .progress import progress_bar

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (32, 32, 3)
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

DATA_VARIABLE = "INVOLUTION_COURSE_DATA"
CACHE_VARIABLE = "INVOLUTION_COURSE_CACHE"
# Bump when the decoded arrays for the same source would change.
_CACHE_FORMAT = 2
# Class folders come sorted by class; the original data set is mixed. A fixed
# permutation restores a mixed order so that x_train[:n] holds every class.
_ORDER_SEED = 20210401

ArrayPair = tuple[np.ndarray, np.ndarray]
Cifar10 = tuple[ArrayPair, ArrayPair]


class DataError(RuntimeError):
    """The data set could not be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class _Source:
    kind: str  # "folder", "tar", "batches"
    path: Path


# --------------------------------------------------------------------------- public


def load_cifar10(
    data: str | os.PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> Cifar10:
    """Load CIFAR-10 as ``keras.datasets.cifar10.load_data()`` does.

    Args:
        data: a local copy (folder, ``.tar.gz`` or ``cifar-10-batches-py``). When
            omitted, ``INVOLUTION_COURSE_DATA`` names it; when that is unset too,
            the Keras download is used.
        n_train, n_test: sizes of seeded, stratified subsets (equal numbers per
            class); ``None`` keeps the whole split.
        seed: seed of the subset choice.
        cache: reuse and write decoded arrays (see ``INVOLUTION_COURSE_CACHE``).
        progress: show a progress bar while decoding images.
    """
    source = _resolve_source(data)
    if source is None:
        arrays = _load_from_keras()
    else:
        arrays = _load_local(source, cache=cache, progress=progress)
    (x_train, y_train), (x_test, y_test) = arrays
    train = _stratified_subset(x_train, y_train, n_train, seed, "n_train")
    test = _stratified_subset(x_test, y_test, n_test, seed + 1, "n_test")
    return train, test


def load_profile_data(profile: Profile | str | None = None, **kwargs) -> Cifar10:
    """Load the subset that a profile asks for (``INVOLUTION_COURSE_PROFILE`` by default)."""
    if not isinstance(profile, Profile):
        profile = get_profile(profile)
    return load_cifar10(n_train=profile.n_train, n_test=profile.n_test, **kwargs)


def cache_directory() -> Path:
    """Where decoded arrays are kept: ``INVOLUTION_COURSE_CACHE`` or ``~/.cache/involution-course``."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "involution-course"


# ---------------------------------------------------------------- source resolution


def pin_data_location(environ=None) -> str | None:
    """Make a relative ``INVOLUTION_COURSE_DATA`` absolute, from the current directory.

    Commands that run notebooks start their kernels in other folders (the notebook's own, a
    grading course's); an absolute path means there what it meant where it was set.
    Returns the value now set, or ``None`` when the variable is unset.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(DATA_VARIABLE)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        environ[DATA_VARIABLE] = str(path.absolute())
    return environ[DATA_VARIABLE]


def _resolve_source(data) -> _Source | None:
    origin = "the data= argument"
    if data is None:
        data = os.environ.get(DATA_VARIABLE) or None
        origin = f"the environment variable {DATA_VARIABLE}"
    if data is None:
        return None
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(
            f"CIFAR-10 not found at {path} (given by {origin}). "
            "Check the path, or unset it to use the Keras download."
        )
    if path.is_file():
        if path.name.endswith((".tar.gz", ".tgz")):
            return _Source("tar", path)
        raise DataError(
            f"{path} is a file but not a .tar.gz archive. Name a .tar.gz of class folders, "
            "a folder with train/ and test/ class folders, or a cifar-10-batches-py folder."
        )
    if (path / "data_batch_1").exists():
        return _Source("batches", path)
    if (path / "cifar-10-batches-py" / "data_batch_1").exists():
        return _Source("batches", path / "cifar-10-batches-py")
    if any((path / split).is_dir() for split in SPLITS):
        return _Source("folder", path)
    raise DataError(
        f"{path} holds no CIFAR-10 copy that the course recognises: expected train/ and test/ "
        "class folders, or the files of cifar-10-batches-py (data_batch_1 ... test_batch)."
    )


# ------------------------------------------------------------------------- loaders


def _load_from_keras() -> Cifar10:
    import keras

    try:
        return keras.datasets.cifar10.load_data()
    except Exception as error:  # noqa: BLE001 - any download failure gets the same advice
        raise DataError(
            "Could not download CIFAR-10 with keras.datasets.cifar10.load_data() "
            f"({type(error).__name__}: {error}). Either connect to the internet and run again, "
            f"or point the course at a local copy: set {DATA_VARIABLE} (or pass data=...) to a "
            "folder of class folders, a .tar.gz of one, or an extracted cifar-10-batches-py folder."
        ) from None


def _load_local(source: _Source, *, cache: bool, progress: bool) -> Cifar10:
    cache_file = _cache_file(source) if cache else None
    if cache_file is not None and cache_file.exists():
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached
    if source.kind == "batches":
        arrays = _read_batches(source.path)
    else:
        encoded = _read_tar(source.path) if source.kind == "tar" else _read_folder(source.path)
        arrays = _decode_splits(encoded, progress=progress)
    if cache_file is not None:
        _write_cache(cache_file, arrays)
    return arrays


def _read_folder(root: Path) -> dict[str, list[tuple[str, int, bytes]]]:
    encoded: dict[str, list[tuple[str, int, bytes]]] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"Missing folder {split_dir}: a local CIFAR-10 copy needs train/ and test/.")
        items = []
        for label, name in enumerate(CLASS_NAMES):
            class_dir = split_dir / name
            if not class_dir.is_dir():
                raise DataError(
                    f"Missing class folder {class_dir}. Each split needs one folder per class: "
                    f"{', '.join(CLASS_NAMES)}."
                )
            files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"Class folder {class_dir} holds no .jpg or .png images.")
            items.extend((str(p), label, p.read_bytes()) for p in files)
        encoded[split] = items
    return encoded


def _read_tar(archive: Path) -> dict[str, list[tuple[str, int, bytes]]]:
    labels = {name: i for i, name in enumerate(CLASS_NAMES)}
    found: dict[str, list[tuple[str, int, bytes]]] = {split: [] for split in SPLITS}
    seen_classes: dict[str, set[str]] = {split: set() for split in SPLITS}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                # Accept an optional top folder: [prefix/]split/class/file.
                if len(parts) < 3 or parts[-3] not in SPLITS or parts[-2] not in labels:
                    continue
                if member.isdir():
                    seen_classes[parts[-3]].add(parts[-2])
                    continue
                if not member.isfile() or Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                split, name = parts[-3], parts[-2]
                seen_classes[split].add(name)
                payload = tar.extractfile(member).read()
                found[split].append((f"{archive}:{member.name}", labels[name], payload))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(
            f"The archive {archive} is truncated or corrupt ({type(error).__name__}: {error}). "
            "Download or copy it again (compare its sha256 with the one published beside it)."
        ) from None
    for split in SPLITS:
        missing = [name for name in CLASS_NAMES if name not in seen_classes[split]]
        if missing:
            raise DataError(
                f"The archive {archive} has no {split}/ folder for class(es) {', '.join(missing)}. "
                "It must hold train/<class>/ and test/<class>/ for all ten classes."
            )
        found[split].sort(key=lambda item: (item[1], item[0]))
    return found


def _decode_one(item: tuple[str, int, bytes]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    where, _, payload = item
    try:
        with Image.open(io.BytesIO(payload)) as image:
            image.load()
            mode, size = image.mode, image.size
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(
            f"Cannot decode the image {where} ({error}). Replace the file or the whole copy."
        ) from None
    if mode != "RGB" or pixels.shape != IMAGE_SHAPE:
        raise DataError(
            f"The image {where} is {size[0]}x{size[1]} {mode}; CIFAR-10 images are 32x32 RGB. "
            "Replace the file, or convert it to 32x32 RGB."
        )
    return pixels


def _decode_splits(encoded, *, progress: bool) -> Cifar10:
    total = sum(len(items) for items in encoded.values())
    out = []
    with progress_bar(total=total, desc="Decoding CIFAR-10", unit="img", disable=not progress) as bar:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for split in SPLITS:
                items = encoded[split]
                images = np.empty((len(items), *IMAGE_SHAPE), dtype=np.uint8)
                for i, pixels in enumerate(pool.map(_decode_one, items, chunksize=256)):
                    images[i] = pixels
                    bar.update(1)
                labels = np.array([label for _, label, _ in items], dtype=np.uint8).reshape(-1, 1)
                order = np.random.default_rng(_ORDER_SEED).permutation(len(items))
                out.append((images[order], labels[order]))
    return tuple(out)  # type: ignore[return-value]


def _read_batches(folder: Path) -> Cifar10:
    def read(name: str) -> ArrayPair:
        path = folder / name
        if not path.exists():
            raise DataError(
                f"Missing {path}: cifar-10-batches-py needs data_batch_1 to data_batch_5 and test_batch."
            )
        try:
            with open(path, "rb") as handle:
                batch = pickle.load(handle, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.uint8)
            images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        except Exception as error:  # noqa: BLE001 - any unreadable batch gets the same advice
            raise DataError(
                f"Cannot read {path} as a CIFAR-10 batch ({type(error).__name__}: {error}). "
                "Extract cifar-10-python.tar.gz again."
            ) from None
        if len(images) != len(labels):
            raise DataError(f"{path} has {len(images)} images but {len(labels)} labels.")
        return np.ascontiguousarray(images), labels.reshape(-1, 1)

    parts = [read(f"data_batch_{i}") for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    return (x_train, y_train), read("test_batch")


# --------------------------------------------------------------------------- subsets


def _stratified_subset(x, y, n, seed, what) -> ArrayPair:
    if n is None or n == len(x):
        return x, y
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{what} must be a positive whole number or None, not {n!r}.")
    if n > len(x):
        raise ValueError(f"{what}={n} is more than the {len(x)} images available.")
    rng = np.random.default_rng(seed)
    labels = y.reshape(-1)
    per_class = [n // NUM_CLASSES + (1 if c < n % NUM_CLASSES else 0) for c in range(NUM_CLASSES)]
    chosen = []
    for label, count in enumerate(per_class):
        pool = np.flatnonzero(labels == label)
        if count > len(pool):
            raise ValueError(f"{what}={n} needs {count} images of class {label}, but only {len(pool)} exist.")
        chosen.append(rng.choice(pool, size=count, replace=False))
    index = np.sort(np.concatenate(chosen))
    return x[index], y[index]


# ----------------------------------------------------------------------------- cache


def _cache_file(source: _Source) -> Path:
    stat = source.path.stat()
    if source.path.is_dir():
        # A folder's own mtime misses edits deep inside; the files' newest mtime does not.
        stamp = max((p.stat().st_mtime_ns for p in source.path.rglob("*")), default=stat.st_mtime_ns)
        size = sum(1 for _ in source.path.rglob("*"))
    else:
        stamp, size = stat.st_mtime_ns, stat.st_size
    # Named by the source's path, then by its version: a new version replaces the old ones.
    where = hashlib.sha256(f"{source.kind}|{source.path.resolve()}".encode()).hexdigest()[:12]
    version = hashlib.sha256(f"{_CACHE_FORMAT}|{size}|{stamp}".encode()).hexdigest()[:12]
    return cache_directory() / f"cifar10-{where}-{version}.npz"


def _read_cache(path: Path) -> Cifar10 | None:
    try:
        with np.load(path) as stored:
            return (stored["x_train"], stored["y_train"]), (stored["x_test"], stored["y_test"])
    except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
        path.unlink(missing_ok=True)
        return None


def _write_cache(path: Path, arrays: Cifar10) -> None:
    (x_train, y_train), (x_test, y_test) = arrays
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with open(partial, "wb") as handle:
            np.savez(handle, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        os.replace(partial, path)  # atomic: readers never see half a cache
        # Older versions of the same source are never read again (184 MB each for CIFAR-10).
        where = path.name.rsplit("-", 1)[0]
        for stale in path.parent.glob(f"{where}-*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home only costs speed
