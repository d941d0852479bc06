"""Installs skel_jax with compatible version ranges; the tested versions are in constraints.txt.

Each range starts at the version the test suite ran with and stops before the next release
that may break the API (the next minor version for 0.x libraries, the next major otherwise),
so that `pip install` keeps a preinstalled JAX (Colab's TPU build, say) that fits the range.
CI installs with `-c constraints.txt`, the exact set known to work together.
"""

from setuptools import find_packages, setup

setup(
    name="skel_jax",
    version="0.1.0",
    description="Self-supervised skeleton-based action recognition (SkeletonCLR, AimCLR, "
                "SkeleMixCLR, SkeAttnCLR) in JAX/Flax",
    # jax 0.10, flax 0.12, orbax-checkpoint 0.12 and matplotlib 3.11 require Python 3.11.
    python_requires=">=3.11",
    # The top-level configs/ folder ships as skel_jax.configs: every preset runs from an
    # installed package (skel_jax.config_lib.resolve_config_path finds it).
    packages=find_packages(include=["skel_jax", "skel_jax.*"]) + ["skel_jax.configs"],
    package_dir={"skel_jax.configs": "configs"},
    package_data={"skel_jax": ["data/layouts/*.json"]},
    install_requires=[
        "jax>=0.10.2,<0.11",
        "jaxlib>=0.10.2,<0.11",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.8,<0.3",
        "orbax-checkpoint>=0.12.8,<0.13",
        "ml-collections>=1.1.0,<2",
        "numpy>=2.0,<3",  # jax 0.10 needs numpy 2
        "absl-py>=2.1,<3",
        "matplotlib>=3.8,<4",
        "tensorboardX>=2.6.5,<3",  # TensorBoard event files without TensorFlow
        "tqdm>=4.66,<5",  # progress bars
    ],
    extras_require={
        # TFDS builders of the prepared datasets (skel_jax.data.tfds, `tfds:<config>` datasets).
        "tfds": ["tensorflow-datasets>=4.9.10,<5"],
        # Everything the test suite exercises, the TFDS builders included.
        "test": ["pytest>=8,<10", "pytest-xdist>=3.8,<4", "ruff==0.17.6", "nbclient>=0.10,<1", "nbformat>=5.10,<6",
                 "ipykernel>=6,<8", "tensorflow-datasets>=4.9.10,<5"],
        # Converting the reference PyTorch checkpoints (skel_jax.interop.convert).
        "torch": ["torch>=2,<3"],
    },
)
