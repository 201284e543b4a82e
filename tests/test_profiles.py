import pytest

from involution_course.profiles import PROFILES, ProfileError, get_profile


def test_default_profile_is_quick(monkeypatch):
    monkeypatch.delenv("INVOLUTION_COURSE_PROFILE", raising=False)
    assert get_profile().name == "quick"


@pytest.mark.parametrize("name", ["grading", "quick", "full", " FULL "])
def test_profile_from_environment(monkeypatch, name):
    monkeypatch.setenv("INVOLUTION_COURSE_PROFILE", name)
    assert get_profile().name == name.strip().lower()


def test_full_profile_is_the_keras_example():
    full = PROFILES["full"]
    assert (full.n_train, full.n_test, full.epochs, full.batch_size) == (None, None, 20, 256)
    assert full.is_full


def test_profiles_grow_from_grading_to_full():
    grading, quick = PROFILES["grading"], PROFILES["quick"]
    assert grading.n_train < quick.n_train and grading.epochs <= quick.epochs < PROFILES["full"].epochs


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_PROFILE", "fast")
    with pytest.raises(ProfileError, match="'fast'.*grading, quick, full"):
        get_profile()


def test_notebook_04_runs_short_live_runs_except_in_the_full_profile():
    grading, quick, full = PROFILES["grading"], PROFILES["quick"], PROFILES["full"]
    assert full.trains_fair_pair and not quick.trains_fair_pair and not grading.trains_fair_pair
    assert (full.live_images, full.live_epochs) == (None, None)  # the Keras example's settings
    assert quick.live_epochs < full.epochs and quick.live_images <= quick.n_train
    assert grading.fair_live_steps <= quick.fair_live_steps
    assert grading.overfit_images < quick.overfit_images == full.overfit_images == 500
    assert grading.overfit_epochs < quick.overfit_epochs == full.overfit_epochs == 40
    assert grading.probe_images < quick.probe_images == full.probe_images == 128
