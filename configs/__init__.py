"""The method configs (`--config=configs/<method>.py[:preset,key=value]`).

Installed with the package as `skel_jax.configs` (setup.py), so that `--config=configs/aimclr.py`
resolves from any working directory and without a checkout (skel_jax.config_lib.resolve_config_path).
"""
