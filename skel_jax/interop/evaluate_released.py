r"""`python -m skel_jax.interop.evaluate_released`: the command line of earlier versions, kept.

Evaluating released weights runs the protocols, so it lives in skel_jax.released
(`python -m skel_jax.released evaluate`, `skel_jax.released.evaluate_released`);
skel_jax.interop itself only converts formats.
"""

if __name__ == "__main__":
  from skel_jax import released  # pylint: disable=g-import-not-at-top

  released.run_cli("evaluate")
