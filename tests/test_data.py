"""The CIFAR-10 loader: every source kind, subsets, the cache and every bad input."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

import involution_course as ic
from involution_course.data import CLASS_NAMES, DataError, load_cifar10, pin_data_location

PER_CLASS = {"train": 4, "test": 2}


def _image(seed: int, size=(32, 32), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


@pytest.fixture
def class_folders(tmp_path):
    """A tiny copy in the shared copy's layout: PNG, so pixels survive exactly."""
    root = tmp_path / "cifar-small"
    expected = {}
    for split, count in PER_CLASS.items():
        images, labels = [], []
        for label, name in enumerate(CLASS_NAMES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                image = _image(hash((split, label, i)) % 2**32)
                image.save(folder / f"{i:04d}.png")
                images.append(np.asarray(image))
                labels.append(label)
        expected[split] = (np.stack(images), np.array(labels))
    return root, expected


@pytest.fixture
def archive(class_folders, tmp_path):
    root, expected = class_folders
    path = tmp_path / "cifar-small.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split in PER_CLASS:
            tar.add(root / split, arcname=split)
    return path, expected


@pytest.fixture
def batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(7)
    expected = {}
    for name, n in [*[(f"data_batch_{i}", 6) for i in range(1, 6)], ("test_batch", 10)]:
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = list(rng.integers(0, 10, size=n))
        flat = images.transpose(0, 3, 1, 2).reshape(n, -1)
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": flat, b"labels": labels}, handle)
        expected[name] = (images, np.array(labels))
    return folder, expected


def _as_sets(x, y):
    """Image-label pairs as a set of bytes, since folder sources come in a fixed shuffled order."""
    return {(img.tobytes(), int(label)) for img, label in zip(x, y.reshape(-1))}


def _check_format(arrays, n_train, n_test):
    (x_train, y_train), (x_test, y_test) = arrays
    assert x_train.shape == (n_train, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (n_train, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (n_test, 32, 32, 3) and y_test.shape == (n_test, 1)


# ------------------------------------------------------------------- source kinds


def test_class_folders(class_folders, isolated_cache):
    root, expected = class_folders
    arrays = load_cifar10(root, progress=False)
    _check_format(arrays, 40, 20)
    (x_train, y_train), (x_test, y_test) = arrays
    assert _as_sets(x_train, y_train) == _as_sets(*expected["train"])
    assert _as_sets(x_test, y_test) == _as_sets(*expected["test"])
    # Mixed order, as the original data set: the first ten are not all one class.
    assert len(set(y_train[:10].ravel())) > 1


def test_tar_archive(archive, isolated_cache):
    path, expected = archive
    (x_train, y_train), (x_test, y_test) = load_cifar10(path, progress=False)
    assert _as_sets(x_train, y_train) == _as_sets(*expected["train"])
    assert _as_sets(x_test, y_test) == _as_sets(*expected["test"])


def test_tar_archive_with_a_top_folder(class_folders, tmp_path, isolated_cache):
    root, expected = class_folders
    path = tmp_path / "nested.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname="cifar10-jpeg")
    (x_train, y_train), _ = load_cifar10(path, progress=False)
    assert _as_sets(x_train, y_train) == _as_sets(*expected["train"])


def test_batches_folder_keeps_the_original_order(batches, isolated_cache):
    folder, expected = batches
    (x_train, y_train), (x_test, y_test) = load_cifar10(folder, progress=False)
    _check_format(((x_train, y_train), (x_test, y_test)), 30, 10)
    np.testing.assert_array_equal(x_train[:6], expected["data_batch_1"][0])
    np.testing.assert_array_equal(x_train[24:], expected["data_batch_5"][0])
    np.testing.assert_array_equal(y_test.ravel(), expected["test_batch"][1])
    # The parent of cifar-10-batches-py works too, as Keras extracts it.
    (x_again, _), _ = load_cifar10(folder.parent, progress=False)
    np.testing.assert_array_equal(x_again, x_train)


def test_environment_variable_names_the_source(archive, isolated_cache, monkeypatch):
    path, expected = archive
    monkeypatch.setenv("INVOLUTION_COURSE_DATA", str(path))
    (x_train, y_train), _ = load_cifar10(progress=False)
    assert _as_sets(x_train, y_train) == _as_sets(*expected["train"])


def test_a_relative_path_is_pinned_where_it_was_set_and_loads_from_anywhere(archive, isolated_cache,
                                                                           monkeypatch, tmp_path):
    path, expected = archive
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv("INVOLUTION_COURSE_DATA", path.name)
    assert pin_data_location() == str(path)
    assert os.environ["INVOLUTION_COURSE_DATA"] == str(path)
    # a kernel started in another folder (a notebook's, a grading course's) still finds it
    elsewhere = tmp_path / "notebook-folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (x_train, y_train), _ = load_cifar10(progress=False)
    assert _as_sets(x_train, y_train) == _as_sets(*expected["train"])


def test_pinning_leaves_absolute_paths_and_an_unset_variable_alone(tmp_path):
    assert pin_data_location({}) is None
    environ = {"INVOLUTION_COURSE_DATA": str(tmp_path / "cifar.tar.gz")}
    assert pin_data_location(environ) == str(tmp_path / "cifar.tar.gz")


def test_argument_wins_over_the_environment(archive, batches, isolated_cache, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_DATA", str(archive[0]))
    (x_train, _), _ = load_cifar10(batches[0], progress=False)
    assert len(x_train) == 30


# ------------------------------------------------------------------------ subsets


def test_stratified_seeded_subsets(archive, isolated_cache):
    path, _ = archive
    (x1, y1), (xt1, yt1) = load_cifar10(path, n_train=20, n_test=10, seed=3, progress=False)
    _check_format(((x1, y1), (xt1, yt1)), 20, 10)
    assert np.bincount(y1.ravel(), minlength=10).tolist() == [2] * 10
    assert np.bincount(yt1.ravel(), minlength=10).tolist() == [1] * 10
    (x2, _), _ = load_cifar10(path, n_train=20, n_test=10, seed=3, progress=False)
    np.testing.assert_array_equal(x1, x2)
    (x3, _), _ = load_cifar10(path, n_train=20, n_test=10, seed=4, progress=False)
    assert not np.array_equal(x1, x3)


def test_subset_sizes_that_do_not_divide_by_ten(archive, isolated_cache):
    (x, y), _ = load_cifar10(archive[0], n_train=13, progress=False)
    assert len(x) == 13
    assert sorted(np.bincount(y.ravel(), minlength=10)) == [1] * 7 + [2] * 3


@pytest.mark.parametrize("n", [0, -5, 41, 2.5])
def test_impossible_subsets_are_refused(archive, isolated_cache, n):
    with pytest.raises(ValueError, match="n_train"):
        load_cifar10(archive[0], n_train=n, progress=False)


def test_profile_sizes(archive, isolated_cache):
    with pytest.raises(ValueError, match="1000 is more than the 40"):
        ic.load_profile_data("grading", data=archive[0], progress=False)


# -------------------------------------------------------------------------- cache


def test_second_load_comes_from_the_cache(archive, isolated_cache):
    path, _ = archive
    first = load_cifar10(path, progress=False)
    cached = list(isolated_cache.glob("cifar10-*.npz"))
    assert len(cached) == 1
    # Prove the second load reads the cache: the archive is gone, the arrays are not.
    moved = path.with_name("elsewhere.tar.gz")
    shutil.copy2(path, moved)
    path.write_bytes(b"")  # would fail to decode if read
    path.unlink()
    moved.rename(path)  # same name, same size and mtime as before
    second = load_cifar10(path, progress=False)
    for a, b in zip(np.concatenate([first[0][0], first[1][0]]), np.concatenate([second[0][0], second[1][0]])):
        np.testing.assert_array_equal(a, b)


def test_a_changed_source_is_decoded_again(class_folders, isolated_cache):
    root, _ = class_folders
    (x_before, _), _ = load_cifar10(root, progress=False)
    target = root / "train" / "cat" / "0000.png"
    _image(999).save(target)
    (x_after, _), _ = load_cifar10(root, progress=False)
    assert not np.array_equal(np.sort(x_before, axis=0), np.sort(x_after, axis=0))
    assert len(list(isolated_cache.glob("cifar10-*.npz"))) == 1  # the old version's copy is gone


def test_each_source_keeps_its_own_cache(archive, class_folders, isolated_cache):
    load_cifar10(archive[0], progress=False)
    load_cifar10(class_folders[0], progress=False)
    assert len(list(isolated_cache.glob("cifar10-*.npz"))) == 2


def test_a_damaged_cache_is_rebuilt(archive, isolated_cache):
    path, expected = archive
    load_cifar10(path, progress=False)
    (cache_file,) = isolated_cache.glob("cifar10-*.npz")
    cache_file.write_bytes(b"not an npz")
    (x_train, y_train), _ = load_cifar10(path, progress=False)
    assert _as_sets(x_train, y_train) == _as_sets(*expected["train"])


def test_shared_copy_loads_and_caches_quickly(shared_data, isolated_cache):
    (x_train, y_train), (x_test, y_test) = load_cifar10(shared_data, progress=False)
    _check_format(((x_train, y_train), (x_test, y_test)), 50_000, 10_000)
    assert np.bincount(y_train.ravel()).tolist() == [5000] * 10
    assert np.bincount(y_test.ravel()).tolist() == [1000] * 10
    start = time.perf_counter()
    (x_again, _), _ = load_cifar10(shared_data, progress=False)
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(x_again, x_train)
    # The foundation's promise; a generous bound, not a benchmark.
    assert elapsed < 2.0, f"cached load took {elapsed:.2f} s"


# ---------------------------------------------------------------------- bad input


def _no_partial(isolated_cache):
    assert not list(isolated_cache.glob("cifar10-*.npz")), "a failed load must not leave a cache"


def test_missing_path(tmp_path, isolated_cache):
    with pytest.raises(DataError, match=r"not found at .*nowhere.*data= argument"):
        load_cifar10(tmp_path / "nowhere")


def test_missing_path_from_environment(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="INVOLUTION_COURSE_DATA"):
        load_cifar10()


def test_truncated_archive(archive, isolated_cache):
    path, _ = archive
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cifar-small\.tar\.gz is truncated or corrupt.*again"):
        load_cifar10(path, progress=False)
    _no_partial(isolated_cache)


def test_archive_that_is_not_gzip(tmp_path, isolated_cache):
    path = tmp_path / "junk.tar.gz"
    path.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(DataError, match="junk.tar.gz is truncated or corrupt"):
        load_cifar10(path, progress=False)


def test_gzip_that_is_not_tar(tmp_path, isolated_cache):
    path = tmp_path / "plain.tar.gz"
    path.write_bytes(gzip.compress(b"\x01" * 5000))
    with pytest.raises(DataError, match="plain.tar.gz"):
        load_cifar10(path, progress=False)


def test_missing_class_folder(class_folders, isolated_cache):
    root, _ = class_folders
    shutil.rmtree(root / "test" / "frog")
    with pytest.raises(DataError, match=r"Missing class folder .*test.frog"):
        load_cifar10(root, progress=False)
    _no_partial(isolated_cache)


def test_missing_class_in_archive(class_folders, tmp_path, isolated_cache):
    root, _ = class_folders
    shutil.rmtree(root / "train" / "ship")
    path = tmp_path / "no-ship.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root / "train", arcname="train")
        tar.add(root / "test", arcname="test")
    with pytest.raises(DataError, match="no train/ folder for class.*ship"):
        load_cifar10(path, progress=False)


def test_image_of_the_wrong_size(class_folders, isolated_cache):
    root, _ = class_folders
    _image(1, size=(28, 30)).save(root / "train" / "dog" / "0001.png")
    with pytest.raises(DataError, match=r"dog.0001\.png is 28x30 RGB; CIFAR-10 images are 32x32 RGB"):
        load_cifar10(root, progress=False)
    _no_partial(isolated_cache)


def test_image_of_the_wrong_mode(class_folders, isolated_cache):
    root, _ = class_folders
    _image(2, mode="L").save(root / "test" / "bird" / "0000.png")
    with pytest.raises(DataError, match=r"bird.0000\.png is 32x32 L"):
        load_cifar10(root, progress=False)


def test_corrupt_image(class_folders, isolated_cache):
    root, _ = class_folders
    (root / "train" / "deer" / "0002.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"Cannot decode the image .*deer.0002\.png"):
        load_cifar10(root, progress=False)


def test_corrupt_batch_file(batches, isolated_cache):
    folder, _ = batches
    (folder / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="data_batch_3.*Extract cifar-10-python.tar.gz again"):
        load_cifar10(folder, progress=False)


def test_missing_batch_file(batches, isolated_cache):
    folder, _ = batches
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="Missing .*test_batch"):
        load_cifar10(folder, progress=False)


def test_folder_without_cifar(tmp_path, isolated_cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no CIFAR-10 copy"):
        load_cifar10(tmp_path / "empty")


def test_offline_without_a_local_copy_names_both_ways_out(tmp_path, isolated_cache, monkeypatch):
    # A real download attempt: this machine has no internet, as a student offline would.
    monkeypatch.delenv("INVOLUTION_COURSE_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    with pytest.raises(DataError) as failure:
        load_cifar10()
    message = str(failure.value)
    assert "connect to the internet" in message and "INVOLUTION_COURSE_DATA" in message
