r"""`python -m skel_jax.interop.export`: the command line of earlier versions, kept working.

Exporting restores a run's checkpoint with the trainer, so it lives in skel_jax.released
(`python -m skel_jax.released export`, `skel_jax.released.export_checkpoint`); skel_jax.interop
itself only converts formats.
"""

if __name__ == "__main__":
  from skel_jax import released  # pylint: disable=g-import-not-at-top

  released.run_cli("export")
