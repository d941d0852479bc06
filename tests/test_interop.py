"""Tests of skel_jax.interop: reference pretraining checkpoints <-> train-state pieces.

There is no PyTorch here, so the reference-layout state_dicts are built two ways: by our own
exporter from random variables (round trips for the four methods), and from the AimCLR ST-GCN
fixture (`../shared/fixtures/aimclr_stgcn_reference`) prefixed as the pretraining models prefix it,
for parity with the PyTorch outputs (relative error below 1e-4). The SkeAttnCLR neck and predictors
are checked against float64 numpy written from SkeAttnCLR net/utils/AttnMask.py on the
reference-layout weights (Conv1d `[O, I, 1]`, Linear `[O, I]`), which pins down the transpositions
and the qkv split.
"""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from skel_jax import methods
from skel_jax.config_lib import load_config
from skel_jax.interop import convert, init_from, reference, state_dict_io
from skel_jax.interop.stgcn_state_dict import StateDictError
from skel_jax.methods.aimclr import AimCLR
from skel_jax.models.attention import MLP1D, AttentionMask
from skel_jax.train.step import TrainState

METHODS = ("skeletonclr", "aimclr", "skelemixclr", "skeattnclr")
QUEUES = {"skeattnclr": ("z", "s", "ns")}


def _fill(tree, rng):
  return jax.tree_util.tree_map(lambda s: rng.standard_normal(s.shape).astype(np.float32), tree)


def _random_pieces(config, seed=0, queue_size=64):
  rng = np.random.default_rng(seed)
  template = init_from.expected_variables(config)
  pieces = {"params": _fill(template["params"], rng),
            "batch_stats": _fill(template["batch_stats"], rng),
            "key_params": _fill(template["params"], rng),
            "key_batch_stats": _fill(template["batch_stats"], rng)}
  dim = int(config.model.feature_dim)
  pieces["queues"] = {q: rng.standard_normal((queue_size, dim)).astype(np.float32)
                      for q in QUEUES.get(config.method, ("z",))}
  pieces["queue_ptr"] = np.int32(16)
  return pieces


def _assert_trees_equal(a, b):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _rel_err(got, want):
  return float(np.max(np.abs(np.asarray(got, np.float64) - want)) / np.max(np.abs(want)))


@functools.cache
def _smoke(method):
  return load_config(f"configs/{method}.py", "smoke")


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_round_trip(method):
  config = _smoke(method)
  pieces = _random_pieces(config)
  sd = reference.reference_from_state(pieces, config)
  back = reference.state_from_reference(sd, config)
  if method == "skeattnclr":
    # The reference key encoder has no predictors: the imported ones are the query's.
    for name in reference.SKEATTN_PREDICTORS:
      _assert_trees_equal(back["key_params"][name], pieces["params"][name])
      pieces["key_params"][name] = pieces["params"][name]
      pieces["key_batch_stats"][name] = pieces["batch_stats"][name]
  _assert_trees_equal(back, pieces)
  again = reference.reference_from_state(back, config)
  assert sorted(again) == sorted(sd)
  for key in sd:
    np.testing.assert_array_equal(again[key], sd[key])
  assert reference.unused_keys(sd, config) == []


def test_moco_layout_is_the_reference_one():
  """SkeletonCLR: fc = Sequential(Linear, ReLU, Linear); queue [D, K]; queue_ptr int64 [1]."""
  config = _smoke("aimclr")
  pieces = _random_pieces(config)
  sd = reference.reference_from_state(pieces, config)
  kernel = pieces["params"]["head"]["fc1"]["kernel"]  # [in, out]
  assert sd["encoder_q.fc.0.weight"].shape == kernel.shape[::-1]
  assert sd["encoder_q.fc.0.weight"][3, 5] == kernel[5, 3]
  assert "encoder_q.fc.2.bias" in sd and "encoder_q.fc.1.weight" not in sd
  assert sd["queue"].shape == (config.model.feature_dim, 64)
  np.testing.assert_array_equal(sd["queue"][:, 7], pieces["queues"]["z"][7])
  assert sd["queue_ptr"].dtype == np.int64 and sd["queue_ptr"].tolist() == [16]
  assert sd["encoder_q.A"].shape == (3, 25, 25)
  assert any(k.startswith("encoder_k.st_gcn_networks.") for k in sd)


def test_skelemix_bn_head_layout():
  """SkeleMixCLR+: Linear-BN-ReLU-Linear -> fc.0, fc.1 (BN with running stats), fc.3."""
  config = _smoke("skelemixclr")
  pieces = _random_pieces(config)
  sd = reference.reference_from_state(pieces, config)
  np.testing.assert_array_equal(sd["encoder_q.fc.1.running_var"],
                                pieces["batch_stats"]["head"]["bn"]["var"])
  np.testing.assert_array_equal(sd["encoder_k.fc.3.bias"],
                                pieces["key_params"]["head"]["fc2"]["bias"])
  assert "encoder_q.fc.2.weight" not in sd


def test_skeattn_layout():
  config = _smoke("skeattnclr")
  pieces = _random_pieces(config)
  sd = reference.reference_from_state(pieces, config)
  d, h, f = config.model.out_dim, config.model.head_hidden, config.model.feature_dim
  assert sd["encoder_q.neck.proj.mlp.0.weight"].shape == (h, d, 1)  # Conv1d, no bias
  assert "encoder_q.neck.proj.mlp.0.bias" not in sd
  assert sd["encoder_q.neck.Attn.qkv.weight"].shape == (3 * d, d)
  assert sd["predictor_p.mlp.3.weight"].shape == (f, config.model.predictor_hidden, 1)
  assert not any(k.startswith("encoder_k.predictor") for k in sd)
  for name in ("queue_z", "queue_p", "queue_c"):
    assert sd[name].shape == (f, 64)
  for name in ("queue_ptr_z", "queue_ptr_p", "queue_ptr_c"):
    assert sd[name].tolist() == [16]


def test_extra_makes_the_round_trip_lossless():
  config = _smoke("skeattnclr")
  sd = reference.reference_from_state(_random_pieces(config), config)
  sd["encoder_q.backbone.fc.weight"] = np.ones((60, config.model.out_dim), np.float32)
  sd["encoder_q.backbone.fc.bias"] = np.ones(60, np.float32)
  sd["encoder_q.neck.proj_obj.mlp.0.weight"] = np.ones((3, 3, 1), np.float32)
  sd["encoder_q.neck.proj.mlp.1.num_batches_tracked"] = np.asarray(1234, np.int64)
  assert reference.unused_keys(sd, config) == ["encoder_q.backbone.fc.bias",
                                               "encoder_q.backbone.fc.weight",
                                               "encoder_q.neck.proj_obj.mlp.0.weight"]
  pieces = reference.state_from_reference(sd, config)
  back = reference.reference_from_state(pieces, config, extra=sd)
  assert sorted(back) == sorted(sd)
  assert int(back["encoder_q.neck.proj.mlp.1.num_batches_tracked"]) == 1234


# -- parity with the PyTorch fixture ----------------------------------------------------------


@pytest.fixture(scope="module")
def fixture(reference_fixture_dir):
  sd = state_dict_io.load_npz_state_dict(reference_fixture_dir / "stgcn_state_dict.npz")
  x = np.load(reference_fixture_dir / "input_x.npz")["x"].transpose(0, 4, 2, 3, 1)
  outputs = dict(np.load(reference_fixture_dir / "stgcn_eval_output.npz"))
  return {"sd": sd, "x": x, "path": reference_fixture_dir / "stgcn_state_dict.npz", **outputs}


def _full_config(method, **model):
  """The method's full-size config (h = 16) on the fixture's ST-GCN graph."""
  config = load_config(f"configs/{method}.py", "ntu60_xsub,hidden=16")
  config.model.graph = "stgcn"
  config.model.update(model)
  return config


def _pretraining_state_dict(fixture, head: str, queue_size=256):
  """The fixture's ST-GCN as encoder_q / encoder_k of a pretraining model.

  The head's first Linear is the identity (and the BN, if any, an identity in eval mode), the
  last one is the fixture's fc: the pooled feature is >= 0 (a mean after ReLU), so the head's
  output equals the fixture's `out`.
  """
  base = {k: v for k, v in fixture["sd"].items() if not k.startswith("fc.")}
  d = fixture["sd"]["fc.weight"].shape[1]
  names = {"plain": ("fc.0", None, "fc.2"), "bn": ("fc.0", "fc.1", "fc.3")}[head]
  sd = {}
  for enc in ("encoder_q", "encoder_k"):
    sd.update({f"{enc}.{k}": v for k, v in base.items()})
    sd[f"{enc}.{names[0]}.weight"] = np.eye(d, dtype=np.float32)
    sd[f"{enc}.{names[0]}.bias"] = np.zeros(d, np.float32)
    if names[1]:
      bn = f"{enc}.{names[1]}"
      sd.update({f"{bn}.weight": np.ones(d, np.float32), f"{bn}.bias": np.zeros(d, np.float32),
                 f"{bn}.running_mean": np.zeros(d, np.float32),
                 f"{bn}.running_var": np.full(d, 1.0 - 1e-5, np.float32),
                 f"{bn}.num_batches_tracked": np.asarray(0, np.int64)})
    sd[f"{enc}.{names[2]}.weight"] = fixture["sd"]["fc.weight"]
    sd[f"{enc}.{names[2]}.bias"] = fixture["sd"]["fc.bias"]
  rng = np.random.default_rng(1)
  sd["queue"] = rng.standard_normal((fixture["sd"]["fc.weight"].shape[0], queue_size),
                                    ).astype(np.float32)
  sd["queue_ptr"] = np.asarray([128], np.int64)
  return sd


@pytest.fixture(scope="module")
def aimclr_import(fixture):
  config = _full_config("aimclr")
  sd = _pretraining_state_dict(fixture, "plain")
  return config, sd, init_from.load_init_variables(sd, config)


def test_aimclr_checkpoint_parity(fixture, aimclr_import):
  """encoder_q of an AimCLR checkpoint (backbone + fc.0/fc.2 head) vs the PyTorch output.

  (The EADM branch is discontinuous at its threshold; its parity is tests/test_aimclr.py's.)
  """
  config, _, pieces = aimclr_import
  model = AimCLR(config, config.data.layout).model
  variables = {"params": pieces["params"], "batch_stats": pieces["batch_stats"]}
  out = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables,
                                                             jnp.asarray(fixture["x"]))
  assert _rel_err(out, fixture["out"]) < 1e-4
  _assert_trees_equal(pieces["key_params"], pieces["params"])
  assert pieces["queues"]["z"].shape == (256, 128) and int(pieces["queue_ptr"]) == 128


def test_bare_stgcn_backbone_parity(fixture, aimclr_import):
  """The bare fixture file through load_backbone_variables: pooled features -> fc == out."""
  config, _, pieces = aimclr_import
  variables = init_from.load_backbone_variables(fixture["path"], config)
  _assert_trees_equal(variables["params"], pieces["params"]["backbone"])
  _assert_trees_equal(variables["batch_stats"], pieces["batch_stats"]["backbone"])
  method = AimCLR(config, config.data.layout)
  pooled = jax.jit(lambda v, x: method.model.apply(
      v, x, method=lambda m, x: m.feature_map(x, train=False).mean(axis=(2, 3)).mean(axis=1)))(
          {"params": pieces["params"], "batch_stats": pieces["batch_stats"]},
          jnp.asarray(fixture["x"]))
  logits = np.asarray(pooled, np.float64) @ fixture["sd"]["fc.weight"].T.astype(np.float64)
  assert _rel_err(logits + fixture["sd"]["fc.bias"], fixture["out"]) < 1e-4


def test_skelemix_bn_head_parity(fixture, aimclr_import):
  """SkeleMixCLR+'s BN head (fc.0, fc.1, fc.3) on the fixture's pooled features."""
  config = _full_config("skelemixclr")
  pieces = init_from.load_init_variables(_pretraining_state_dict(fixture, "bn"), config)
  _assert_trees_equal(pieces["params"]["backbone"], aimclr_import[2]["params"]["backbone"])
  model = methods.get_method("skelemixclr")(config, config.data.layout).model
  variables = {"params": pieces["params"], "batch_stats": pieces["batch_stats"]}
  aim = AimCLR(aimclr_import[0], "ntu25")
  pooled = jax.jit(lambda v, x: aim.model.apply(
      v, x, method=lambda m, x: m.feature_map(x, train=False).mean(axis=(2, 3)).mean(axis=1)))(
          {"params": aimclr_import[2]["params"], "batch_stats": aimclr_import[2]["batch_stats"]},
          jnp.asarray(fixture["x"]))
  out = model.apply(variables, pooled, method=lambda m, p: m.project(p, train=False))
  assert _rel_err(out, fixture["out"]) < 1e-4


def test_skeattn_checkpoint_backbone_and_unused_keys(fixture, aimclr_import):
  """SkeAttnCLR keys: encoder_q.backbone.* is the fixture's ST-GCN; backbone.fc is unused."""
  config = _full_config("skeattnclr")
  own = reference.reference_from_state(_random_pieces(config, queue_size=128), config)
  sd = {k: v for k, v in own.items() if ".backbone." not in k}
  for enc in ("encoder_q", "encoder_k"):
    sd.update({f"{enc}.backbone.{k}": v for k, v in fixture["sd"].items()})
  pieces = init_from.load_init_variables(sd, config)
  _assert_trees_equal(pieces["params"]["backbone"], aimclr_import[2]["params"]["backbone"])
  _assert_trees_equal(pieces["key_batch_stats"]["backbone"],
                      aimclr_import[2]["batch_stats"]["backbone"])
  assert reference.unused_keys(sd, config) == [
      "encoder_k.backbone.fc.bias", "encoder_k.backbone.fc.weight",
      "encoder_q.backbone.fc.bias", "encoder_q.backbone.fc.weight"]


def _np_bn_eval(x, sd, key, eps=1e-5):
  return ((x - sd[f"{key}.running_mean"]) / np.sqrt(sd[f"{key}.running_var"] + eps)
          * sd[f"{key}.weight"] + sd[f"{key}.bias"])


def _np_mlp1d(x, sd, key):
  """SkeAttnCLR MLP1D in eval mode on `[N, C]`: Conv1d(k=1) -> BN -> ReLU -> Conv1d(k=1)."""
  h = x @ sd[f"{key}.0.weight"][..., 0].T.astype(np.float64)
  h = np.maximum(_np_bn_eval(h, sd, f"{key}.1"), 0.0)
  return h @ sd[f"{key}.3.weight"][..., 0].T.astype(np.float64)


def _np_attention_mask(tokens, sd, key, heads, lam):
  """SkeAttnCLR `Attention_MASK` in float64 on the reference-layout weights."""
  mu = tokens.mean(-1, keepdims=True)
  var = tokens.var(-1, keepdims=True)
  h = (tokens - mu) / np.sqrt(var + 1e-5) * sd[f"{key}.norm0.weight"] + sd[f"{key}.norm0.bias"]
  qkv = h @ sd[f"{key}.Attn.qkv.weight"].T.astype(np.float64) + sd[f"{key}.Attn.qkv.bias"]
  b, n, d = tokens.shape
  qkv = qkv.reshape(b, n, 3, heads, d // heads).transpose(2, 0, 3, 1, 4)  # [3, B, H, N, hd]
  q, k, v = qkv
  logits = q @ k.transpose(0, 1, 3, 2) * (d // heads) ** -0.5
  attn = np.exp(logits - logits.max(-1, keepdims=True))
  attn /= attn.sum(-1, keepdims=True)
  out = (attn @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
  out = out @ sd[f"{key}.Attn.proj.weight"].T.astype(np.float64) + sd[f"{key}.Attn.proj.bias"]
  return 1.0 / (1.0 + np.exp(-lam * out))


def test_skeattn_neck_and_predictor_match_numpy_reference():
  config = _smoke("skeattnclr")
  sd = reference.reference_from_state(_random_pieces(config, seed=3), config)
  for key in [k for k in sd if k.endswith("running_var")]:
    sd[key] = np.abs(sd[key]) + 0.5  # a valid variance
  pieces = reference.state_from_reference(sd, config)
  rng = np.random.default_rng(4)
  d = config.model.out_dim
  tokens = rng.standard_normal((2, 6, d)).astype(np.float32)
  attn = AttentionMask(num_heads=config.model.attn_heads, lam=config.model.attn_lambda)
  mask = attn.apply({"params": pieces["params"]["neck"]["attention"]}, jnp.asarray(tokens))
  want = _np_attention_mask(tokens.astype(np.float64), sd, "encoder_q.neck",
                            config.model.attn_heads, config.model.attn_lambda)
  np.testing.assert_allclose(np.asarray(mask), want, rtol=1e-4, atol=1e-5)
  g = rng.standard_normal((3, d)).astype(np.float32)
  for ours, key, width in (
      (("neck", "proj"), "encoder_q.neck.proj.mlp", config.model.head_hidden),
      (("predictor_salient",), "predictor_p.mlp", config.model.predictor_hidden)):
    params, stats = pieces["params"], pieces["batch_stats"]
    for name in ours:
      params, stats = params[name], stats[name]
    x = g if ours[0] == "neck" else g[:, :config.model.feature_dim]
    got = MLP1D(width, config.model.feature_dim).apply(
        {"params": params, "batch_stats": stats}, jnp.asarray(x), train=False)
    np.testing.assert_allclose(np.asarray(got), _np_mlp1d(x.astype(np.float64), sd, key),
                               rtol=1e-4, atol=1e-5)


# -- errors ------------------------------------------------------------------------------------


def test_wrong_graph_is_named(fixture):
  config = _full_config("aimclr", graph="agcn")
  with pytest.raises(StateDictError, match="graph=stgcn"):
    init_from.load_init_variables(_pretraining_state_dict(fixture, "plain"), config)
  # The check can be turned off; the shapes still fit.
  pieces = init_from.load_init_variables(_pretraining_state_dict(fixture, "plain"), config,
                                         check_graph=False)
  assert "backbone" in pieces["params"]


def test_head_and_width_mismatches_are_clear(fixture):
  sd = _pretraining_state_dict(fixture, "plain")
  with pytest.raises(StateDictError, match="head has no BatchNorm"):
    init_from.load_init_variables(sd, _full_config("skelemixclr"))
  with pytest.raises(StateDictError, match=r"block0/gcn/conv/kernel"):
    init_from.load_init_variables(sd, _full_config("aimclr", hidden=8))
  with pytest.raises(StateDictError, match="family"):
    init_from.load_init_variables(sd, _full_config("skeattnclr"))
  broken = dict(sd)
  del broken["encoder_k.st_gcn_networks.2.tcn.3.running_var"]
  with pytest.raises(StateDictError, match="encoder_k.st_gcn_networks.2.tcn.3.running_var"):
    reference.state_from_reference(broken, _full_config("aimclr"))
  with pytest.raises(StateDictError, match="not an ST-GCN"):
    reference.detect_kind({"layer.weight": np.zeros(3)})


# -- into a train state -------------------------------------------------------------------------


def _fresh_state(config, seed=7, tx=None):
  """A TrainState of random variables, built eagerly (no compilation)."""
  rng = np.random.default_rng(seed)
  template = init_from.expected_variables(config)
  params = jax.tree_util.tree_map(jnp.asarray, _fill(template["params"], rng))
  stats = jax.tree_util.tree_map(jnp.asarray, _fill(template["batch_stats"], rng))
  queues = {q: jnp.zeros((config.moco.queue_size, config.model.feature_dim))
            for q in QUEUES.get(config.method, ("z",))}
  tx = tx or optax.sgd(0.1, momentum=0.9)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=stats,
                    key_params=params, key_batch_stats=stats, opt_state=tx.init(params),
                    queues=queues, queue_ptr=jnp.zeros((), jnp.int32),
                    rng=jnp.zeros(2, jnp.uint32))


@pytest.mark.parametrize("method", ["skelemixclr", "skeattnclr"])
def test_load_init_variables_into_a_train_state(method, tmp_path):
  config = _smoke(method)
  pieces = _random_pieces(config, seed=11)
  path = tmp_path / "weights.npz"
  state_dict_io.save_npz_state_dict(reference.reference_from_state(pieces, config), path)
  state = init_from.replace_state(_fresh_state(config),
                                  init_from.load_init_variables(path, config))
  _assert_trees_equal(jax.device_get(state.params), pieces["params"])
  _assert_trees_equal(jax.device_get(state.key_batch_stats["backbone"]),
                      pieces["key_batch_stats"]["backbone"])
  _assert_trees_equal(jax.device_get(state.queues), pieces["queues"])
  assert state.queue_ptr.dtype == jnp.int32 and int(state.queue_ptr) == 16
  assert int(state.step) == 0
  assert all(float(jnp.abs(m).max()) == 0.0 for m in jax.tree_util.tree_leaves(state.opt_state))


def test_bare_stgcn_replaces_only_the_backbones(tmp_path):
  config = _smoke("skeletonclr")
  pieces = _random_pieces(config, seed=5)
  from skel_jax.interop import stgcn_state_dict  # pylint: disable=g-import-not-at-top
  bare = stgcn_state_dict.stgcn_variables_to_state_dict(
      {"params": pieces["params"]["backbone"], "batch_stats": pieces["batch_stats"]["backbone"]})
  fresh = _fresh_state(config)
  state = init_from.replace_state(fresh, init_from.load_init_variables(bare, config))
  _assert_trees_equal(jax.device_get(state.key_params["backbone"]), pieces["params"]["backbone"])
  _assert_trees_equal(jax.device_get(state.params["head"]), jax.device_get(fresh.params["head"]))


def test_queue_size_mismatch_is_clear():
  config = _smoke("skeletonclr")
  pieces = _random_pieces(config, queue_size=128)
  with pytest.raises(StateDictError, match="queue_size"):
    init_from.replace_state(_fresh_state(config), pieces)


# -- files and the converter ----------------------------------------------------------------------


class _FakeTensor:
  """Stands in for a torch tensor: `.detach().cpu().numpy()`."""

  def __init__(self, value):
    self.value = np.asarray(value)
    self.dtype = f"torch.{self.value.dtype}"

  def detach(self):
    return self

  def cpu(self):
    return self

  def numpy(self):
    return self.value


def test_to_numpy_state_dict_unwraps_checkpoints():
  wrapped = {"epoch": 300, "state_dict": {"module.queue": _FakeTensor(np.ones((2, 3))),
                                          "module.queue_ptr": _FakeTensor(np.array([5]))}}
  sd = state_dict_io.to_numpy_state_dict(wrapped)
  assert sorted(sd) == ["queue", "queue_ptr"] and sd["queue_ptr"].tolist() == [5]
  with pytest.raises(ValueError, match="no state_dict"):
    state_dict_io.to_numpy_state_dict({"epoch": {"a": "b"}})


def test_npz_round_trip(tmp_path):
  sd = {"encoder_q.fc.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "queue_ptr": np.asarray([3], np.int64)}
  path = tmp_path / "w.npz"
  state_dict_io.save_npz_state_dict(sd, path)
  back = state_dict_io.load_npz_state_dict(path)
  assert sorted(back) == sorted(sd) and back["queue_ptr"].dtype == np.int64
  np.testing.assert_array_equal(back["encoder_q.fc.0.weight"], sd["encoder_q.fc.0.weight"])
  assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
  with pytest.raises(FileNotFoundError):
    state_dict_io.load_npz_state_dict(tmp_path / "missing.npz")


def test_converter_without_torch_says_how_to_install(monkeypatch, tmp_path, capsys):
  monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
  assert convert.main([str(tmp_path / "in.pt"), str(tmp_path / "out.npz")]) == 2
  assert "pip install -e '.[torch]'" in capsys.readouterr().err
  assert convert.main([str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 1


# -- commands on workdirs ----------------------------------------------------------------------


def test_export_checkpoint_writes_the_reference_layout(tmp_path):
  from skel_jax import released  # pylint: disable=g-import-not-at-top
  from skel_jax.train import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  from skel_jax.train import pretrain  # pylint: disable=g-import-not-at-top
  config = _smoke("skeletonclr")
  tx, _ = pretrain.make_optimizer(config.optim, steps_per_epoch=4)
  state = _fresh_state(config, tx=tx)
  checkpointer = ckpt_lib.Checkpointer(str(tmp_path))
  checkpointer.save(3, state, {"step": 3})
  checkpointer.close()
  sd = released.export_checkpoint(config, str(tmp_path), str(tmp_path / "out.npz"))
  want = reference.reference_from_state(state, config)
  back = state_dict_io.load_npz_state_dict(tmp_path / "out.npz")
  assert sorted(back) == sorted(want) == sorted(sd)
  for key in want:
    np.testing.assert_array_equal(back[key], want[key])
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    released.export_checkpoint(config, str(tmp_path / "empty"), str(tmp_path / "x.npz"))


def test_evaluate_released_weights(tmp_path):
  pytest.importorskip("skel_jax.evaluate.results", reason="skel_jax/evaluate/results.py missing")
  from skel_jax import released  # pylint: disable=g-import-not-at-top
  config = _smoke("aimclr")
  weights = tmp_path / "released.npz"
  state_dict_io.save_npz_state_dict(
      reference.reference_from_state(_random_pieces(config, seed=2), config), weights)
  results = released.evaluate_released(config, str(weights), str(tmp_path / "eval"),
                                       protocols=("knn",))
  assert any(k.startswith("knn") for k in results)
  assert (tmp_path / "eval" / "released_weights.txt").read_text().strip() == str(weights)
