"""TFDS builders of the skeleton datasets (array_record files, readable without TensorFlow).

Importing this package registers the builder `skeleton_actions` (see builders.py).
"""

from skel_jax.data.tfds.builders import SkeletonActions, build

__all__ = ["SkeletonActions", "build"]
