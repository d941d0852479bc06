"""Installs skel_jax; versions are pinned to the set known to work together."""

from setuptools import find_packages, setup

setup(
    name="skel_jax",
    version="0.1.0",
    description="Self-supervised skeleton-based action recognition (SkeletonCLR, AimCLR, "
                "SkeleMixCLR, SkeAttnCLR) in JAX/Flax",
    python_requires=">=3.10",
    # The top-level configs/ folder ships as skel_jax.configs: every preset runs from an
    # installed package (skel_jax.config_lib.resolve_config_path finds it).
    packages=find_packages(include=["skel_jax", "skel_jax.*"]) + ["skel_jax.configs"],
    package_dir={"skel_jax.configs": "configs"},
    package_data={"skel_jax": ["data/layouts/*.json"]},
    install_requires=[
        "jax==0.10.2",
        "jaxlib==0.10.2",
        "flax==0.12.8",
        "optax==0.2.8",
        "orbax-checkpoint==0.12.8",
        "ml-collections==1.1.0",
        "tensorflow-datasets==4.9.10",
        "grain==0.2.18",
        "numpy>=1.26,<3",
        "absl-py>=2.1",
        "matplotlib>=3.8",
    ],
    extras_require={
        "test": ["pytest>=8", "ruff==0.17.6", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6"],
        "torch": ["torch"],
    },
)
