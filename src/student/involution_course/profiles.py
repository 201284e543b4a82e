"""Run profiles: how much data and how many epochs every notebook uses.

The profile is read from ``INVOLUTION_COURSE_PROFILE`` here and nowhere else, so
that one variable scales the whole course, from autograding to the full
reproduction of the Keras example.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_VARIABLE = "INVOLUTION_COURSE_PROFILE"
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Profile:
    """Sizes and training settings shared by every notebook."""

    name: str
    description: str
    n_train: int | None  # None: the whole training set
    n_test: int | None
    epochs: int
    batch_size: int
    # Short runs inside notebooks (timings, kernel snapshots) scale with this.
    repeats: int
    # Notebook 04 on a CPU: a short live run beside the shipped full-profile checkpoints.
    live_images: int | None = None  # training images of the example pair's live run (None: all n_train)
    live_epochs: int | None = None  # its epochs (None: ``epochs``)
    fair_live_steps: int | None = None  # None: train the fair pair with the recipe for ``epochs``; else
    #                                      this many steps from scratch on a few images, beside its checkpoints
    overfit_images: int = 500  # the sanity check that a network can overfit a small set,
    overfit_epochs: int = 40  # in this many epochs of one batch each
    probe_images: int = 128  # the sanity check of the loss at initialisation

    @property
    def is_full(self) -> bool:
        return self.n_train is None

    @property
    def trains_fair_pair(self) -> bool:
        """Whether notebook 04 trains the fair pair with the recipe (else it loads checkpoints)."""
        return self.fair_live_steps is None


PROFILES = {
    "grading": Profile(
        name="grading",
        description="what autograding runs: every notebook in under a minute, on real images",
        n_train=1_000,
        n_test=100,
        epochs=1,
        batch_size=128,
        repeats=1,
        live_images=256,
        live_epochs=1,
        fair_live_steps=0,
        overfit_images=50,
        overfit_epochs=10,
        probe_images=32,
    ),
    "quick": Profile(
        name="quick",
        description="a whole notebook in a few minutes on a laptop CPU",
        n_train=10_000,
        n_test=2_000,
        epochs=3,
        batch_size=256,
        repeats=3,
        live_images=10_000,  # below that, or in 2 epochs, the example's involution network stays at chance
        live_epochs=3,
        fair_live_steps=12,
    ),
    "full": Profile(
        name="full",
        description="the Keras example's settings: all 50,000 images, 20 epochs, batch 256, Adam",
        n_train=None,
        n_test=None,
        epochs=20,
        batch_size=256,
        repeats=5,
    ),
}


class ProfileError(ValueError):
    """An unknown profile name."""


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name``, or the one ``INVOLUTION_COURSE_PROFILE`` names.

    >>> get_profile("grading").epochs
    1
    """
    chosen = name if name is not None else os.environ.get(PROFILE_VARIABLE, DEFAULT_PROFILE)
    chosen = chosen.strip().lower() or DEFAULT_PROFILE
    try:
        return PROFILES[chosen]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ProfileError(
            f"Unknown profile {chosen!r} (from {PROFILE_VARIABLE}). "
            f"Choose one of: {known}; for example `export {PROFILE_VARIABLE}=quick`."
        ) from None
