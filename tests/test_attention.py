"""SkeAttnCLR neck (`ObjectNeck_AM`): masked pooling, the attention mask, branches, tree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.models import attention
from skel_jax.models.contrastive import global_pool
from skel_jax.models.stgcn import count_params


def test_masked_pool_values_and_identity():
  rng = np.random.default_rng(0)
  tokens = rng.normal(size=(3, 5, 4))
  mask = rng.uniform(size=(3, 5, 4))
  s, ns = attention.masked_pool(jnp.asarray(tokens, jnp.float32), jnp.asarray(mask, jnp.float32))
  # Divided by the token count L = 5, not by the mask sum (`ObjectNeck_AM._mask_pooling`).
  np.testing.assert_allclose(s, (tokens * mask).sum(1) / 5, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ns, (tokens * (1 - mask)).sum(1) / 5, rtol=1e-5, atol=1e-6)
  # salient + non-salient = global mean.
  np.testing.assert_allclose(s + ns, tokens.mean(1), rtol=1e-5, atol=1e-6)


def test_masked_pool_shape_mismatch_is_an_error():
  with pytest.raises(ValueError, match="same shape"):
    attention.masked_pool(jnp.zeros((2, 5, 4)), jnp.zeros((2, 5, 3)))


def test_tokens_and_person_mean():
  fmap = jnp.arange(2 * 3 * 2 * 4 * 5, dtype=jnp.float32).reshape(2, 3, 2, 4, 5)
  tokens = attention.to_tokens(fmap)
  assert tokens.shape == (6, 8, 5)
  # Row 4 is sample 1, person 1; token 5 is frame 1, joint 1 (time-major).
  np.testing.assert_array_equal(tokens[4, 5], fmap[1, 1, 1, 1])
  pooled = tokens.mean(axis=1)
  np.testing.assert_allclose(attention.person_mean(pooled, 3), global_pool(fmap), rtol=1e-6)


def _numpy_attention_mask(tokens, p, num_heads, lam):
  """Float64 LayerNorm + MHSA (no residual) + sigmoid(lam * out), as `Attention_MASK`."""
  x = np.asarray(tokens, np.float64)
  b, length, d = x.shape
  hd = d // num_heads
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  h = (x - mu) / np.sqrt(var + 1e-5) * p["norm"]["scale"] + p["norm"]["bias"]
  qkv = h @ np.asarray(p["qkv"]["kernel"], np.float64) + p["qkv"]["bias"]
  qkv = qkv.reshape(b, length, 3, num_heads, hd)
  q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # [B, H, L, hd]
  logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w /= w.sum(-1, keepdims=True)
  out = (w @ v).transpose(0, 2, 1, 3).reshape(b, length, d)
  out = out @ np.asarray(p["proj"]["kernel"], np.float64) + p["proj"]["bias"]
  return 1.0 / (1.0 + np.exp(-lam * out))


def test_attention_mask_matches_float64_formula():
  module = attention.AttentionMask(num_heads=2, lam=2.0)
  tokens = jax.random.normal(jax.random.key(0), (2, 6, 8))
  params = jax.jit(module.init)(jax.random.key(1), tokens)["params"]
  # Non-trivial LayerNorm and biases, so every term of the formula is exercised.
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  params = jax.tree_util.tree_unflatten(
      tree, [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
  mask = jax.jit(module.apply)({"params": params}, tokens)
  assert mask.shape == (2, 6, 8)
  np_params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
  expected = _numpy_attention_mask(tokens, np_params, 2, 2.0)
  np.testing.assert_allclose(mask, expected, rtol=2e-5, atol=2e-6)


def test_attention_heads_must_divide_width():
  with pytest.raises(ValueError, match="not divisible by 8 heads"):
    attention.AttentionMask(num_heads=8).init(jax.random.key(0), jnp.zeros((1, 3, 12)))


NECK = attention.AttentionMaskNeck(hidden=8, features=4, num_heads=2, lam=2.0)
FMAP = jax.random.normal(jax.random.key(3), (3, 2, 2, 3, 8))  # [N, M, T', V, D]


def _neck_variables():
  return jax.jit(lambda: NECK.init(jax.random.key(4), FMAP, train=False,
                                   method=lambda m, f, train: (m.global_branch(f, train=train),
                                                               m.attention_branch(f, train=train))))()


def _neck(fn, *args, train=True):
  out, _ = NECK.apply(_VARS, *args, train=train, method=fn, mutable=["batch_stats"])
  return out


_VARS = _neck_variables()


@pytest.mark.parametrize("train", [False, True])
def test_given_mask_special_cases(train):
  z = _neck(attention.AttentionMaskNeck.global_branch, FMAP, train=train)
  ones = jnp.ones((6, 6, 8))
  # Mask 1: the salient pool is the global mean and the non-salient one is zero.
  z_s, z_ns = _neck(attention.AttentionMaskNeck.pool_with_mask, FMAP, ones, train=train)
  np.testing.assert_allclose(z_s, z, rtol=1e-5, atol=1e-6)
  zero_proj = _neck(lambda m, f, train: m.proj(f, train=train), jnp.zeros((3, 8)), train=train)
  np.testing.assert_allclose(z_ns, zero_proj, rtol=1e-5, atol=1e-6)
  # Mask 0.5: both pools are half the global mean.
  half_s, half_ns = _neck(attention.AttentionMaskNeck.pool_with_mask, FMAP, 0.5 * ones,
                          train=train)
  np.testing.assert_allclose(half_s, half_ns, rtol=1e-5, atol=1e-6)


def test_attention_branch_uses_pre_norm_features_and_swaps_with_complement():
  z_s, z_ns, mask = _neck(attention.AttentionMaskNeck.attention_branch, FMAP)
  assert mask.shape == (6, 6, 8)  # [N*M, T'*V, D]: per token and channel
  assert float(mask.min()) > 0.0 and float(mask.max()) < 1.0
  # The given-mask branch with the same mask reproduces it; the complement swaps s and ns.
  g_s, g_ns = _neck(attention.AttentionMaskNeck.pool_with_mask, FMAP, mask)
  np.testing.assert_allclose(g_s, z_s, rtol=1e-5, atol=1e-6)
  c_s, c_ns = _neck(attention.AttentionMaskNeck.pool_with_mask, FMAP, 1.0 - mask)
  np.testing.assert_allclose(c_s, z_ns, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c_ns, z_s, rtol=1e-5, atol=1e-6)
  # The pooled features are the raw (pre-LayerNorm) tokens weighted by the mask.
  s, ns = attention.masked_pool(attention.to_tokens(FMAP), mask)
  np.testing.assert_allclose(attention.person_mean(s + ns, 2), global_pool(FMAP),
                             rtol=1e-5, atol=1e-6)


def test_persons_stay_separate_through_the_attention():
  def mask_of(fmap):
    return _neck(lambda m, f, train: m.attention(attention.to_tokens(f)), fmap)

  base = mask_of(FMAP)
  # Second person only; not a constant shift, which the LayerNorm would remove.
  changed = mask_of(FMAP.at[:, 1].multiply(jnp.linspace(-2.0, 2.0, 8)))
  np.testing.assert_allclose(changed[0::2], base[0::2], rtol=1e-6)  # person-0 rows
  assert not np.allclose(changed[1::2], base[1::2])


def test_gradient_flows_through_the_mask():
  def salient_sum(attn_params):
    params = dict(_VARS["params"], attention=attn_params)
    (z_s, _, _), _ = NECK.apply({"params": params, "batch_stats": _VARS["batch_stats"]}, FMAP,
                                train=True, method=attention.AttentionMaskNeck.attention_branch,
                                mutable=["batch_stats"])
    return jnp.sum(z_s ** 2)

  grads = jax.jit(jax.grad(salient_sum))(_VARS["params"]["attention"])
  assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree_util.tree_leaves(grads))


def test_encoder_tree_and_parameter_count_at_full_width():
  model = attention.SkeAttnEncoder()  # h = 64, D = 256, features 128, AGCN graph
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 2, 64, 25, 3)),
                                             train=False))
  params = shapes["params"]
  assert sorted(params) == ["backbone", "neck", "predictor_global", "predictor_nonsalient",
                            "predictor_salient"]
  assert sorted(params["neck"]) == ["attention", "proj"]
  assert count_params(params["backbone"]) == 3_083_412  # the reference's, h = 64, no fc
  d, hid, f = 256, 256, 128
  attn = 2 * d + (d * 3 * d + 3 * d) + (d * d + d)  # LayerNorm, qkv, proj (with biases)
  mlp1d = d * hid + 2 * hid + hid * f  # conv1x1 (no bias), BN, conv1x1 (no bias)
  predictor = f * 256 + 2 * 256 + 256 * f
  assert count_params(params["neck"]["attention"]) == attn == 263_680
  assert count_params(params["neck"]["proj"]) == mlp1d == 98_816
  for name in ("predictor_global", "predictor_salient", "predictor_nonsalient"):
    assert count_params(params[name]) == predictor == 66_048
    assert "bias" not in params[name]["fc1"]
  # BN statistics exist for the neck projection and every predictor (MLP1D has BN).
  stats = shapes["batch_stats"]
  assert {"neck", "predictor_global", "predictor_salient", "predictor_nonsalient"} <= set(stats)


def test_encoder_outputs():
  model = attention.SkeAttnEncoder(hidden=4, out_dim=8, neck_hidden=8, feature_dim=4,
                                   predictor_hidden=8, num_heads=2, widths=(8,),
                                   strides=(4,))
  x = jax.random.normal(jax.random.key(0), (3, 2, 8, 25, 3))

  @jax.jit
  def run():
    variables = model.init(jax.random.key(1), x, train=False)
    out = model.apply(variables, x, train=False)
    keys = model.apply(variables, x, out["mask"], train=False,
                       method=attention.SkeAttnEncoder.encode_key)
    return out, keys

  out, keys = run()
  assert {k: v.shape for k, v in out.items()} == {"z": (3, 4), "s": (3, 4), "ns": (3, 4),
                                                   "mask": (6, 2 * 25, 8)}
  assert [k.shape for k in keys] == [(3, 4)] * 3


@pytest.mark.parametrize("scheme, want_std", [("reference", 0.02), ("lecun", 64 ** -0.5)])
def test_attention_init_schemes(scheme, want_std):
  mask_module = attention.AttentionMask(num_heads=8, lam=2.0, init_scheme=scheme)
  params = mask_module.init(jax.random.key(0), jnp.zeros((2, 30, 64)))["params"]
  for name in ("qkv", "proj"):
    kernel = np.asarray(params[name]["kernel"])
    assert abs(kernel.std() - want_std) < 0.1 * want_std, (name, kernel.std())
  # With unit-gain weights the mask is no longer uniform over the tokens at init.
  tokens = jax.random.normal(jax.random.key(1), (2, 30, 64))
  mask = mask_module.apply({"params": params}, tokens)
  spread = float(jnp.std(mask, axis=1).mean())
  assert (spread > 0.05) if scheme == "lecun" else (spread < 0.05), spread
