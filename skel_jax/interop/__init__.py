"""Import and export of the reference PyTorch checkpoints.

* `stgcn_state_dict`: a bare ST-GCN state_dict <-> `{'params', 'batch_stats'}` of our STGCN.
* `reference`: the full pretraining models of the four methods (`encoder_q.*`, `encoder_k.*`,
  heads, predictors, queues) <-> TrainState pieces (`state_from_reference`,
  `reference_from_state`), with the key tables.
* `init_from`: `load_init_variables(path, config)` and `replace_state(state, pieces)` (resume a
  reference run, `config.init_from`), `load_backbone_variables(path, config)` (evaluate
  released weights).
* `state_dict_io`: `.npz` state_dicts (numpy only) and `.pt` files (PyTorch, optional extra).
* Command: `python -m skel_jax.interop.convert IN.pt OUT.npz` (and back).

This package only converts formats. Evaluating released weights and exporting a run's
checkpoint use the trainer and the protocols: they are in skel_jax.released
(`python -m skel_jax.released evaluate|export`).
"""
