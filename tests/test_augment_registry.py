"""Tests for skel_jax.augment.registry: spec parsing, composition order, errors, jit, layouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.augment import ops, registry
from skel_jax.data import skeletons

# Small programs: compile fast rather than run fast.

BUILTIN = ["axis_mask", "gaussian_blur", "gaussian_noise", "identity", "rotate", "shear",
           "spatial_flip", "temporal_flip", "temporal_shift"]


def _batch(n=3, v=25, t=16, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(n, 2, t, v, 3)).astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Parsing.


def test_parse_names_positional_and_keyword_literals():
  spec = ("temporal_shift(6)|shear(0.5)| spatial_flip |rotate(30, 1)|"
          "gaussian_blur(normalize_kernel=True)|axis_mask(p=0.25)||foo((1, 2), a=[3], b='x')")
  assert registry.parse(spec) == [
      ("temporal_shift", (6,), {}),
      ("shear", (0.5,), {}),
      ("spatial_flip", (), {}),
      ("rotate", (30, 1), {}),
      ("gaussian_blur", (), {"normalize_kernel": True}),
      ("axis_mask", (), {"p": 0.25}),
      ("foo", ((1, 2),), {"a": [3], "b": "x"}),
  ]


def test_parse_empty_and_identity():
  assert registry.parse("") == []
  assert registry.parse("  ") == []
  assert registry.parse("identity") == [("identity", (), {})]


@pytest.mark.parametrize("spec,match", [
    ("rotate(x)", "rotate.*literals"),
    ("shear(__import__('os'))", "shear.*literals"),
    ("shear(0.5", "not 'name' or 'name\\(args\\)'"),
    ("a.b(1)", "not 'name' or 'name\\(args\\)'"),
    ("3", "not 'name' or 'name\\(args\\)'"),
])
def test_parse_rejects_non_literals_and_bad_syntax(spec, match):
  with pytest.raises(ValueError, match=match):
    registry.parse(spec)


def test_reference_chains():
  assert registry.NORMAL == "temporal_shift(6)|shear(0.5)"
  names = [n for n, _, _ in registry.parse(registry.EXTREME)]
  assert names == ["temporal_shift", "shear", "spatial_flip", "rotate", "gaussian_noise",
                   "gaussian_blur", "axis_mask"]
  names_v0 = [n for n, _, _ in registry.parse(registry.EXTREME_V0)]
  assert names_v0 == ["temporal_shift", "shear", "spatial_flip", "rotate", "temporal_flip",
                      "gaussian_noise", "gaussian_blur", "axis_mask"]
  assert registry.parse(registry.EXTREME)[2] == ("spatial_flip", (0.5,), {})


def test_list_ops_and_get_op():
  assert set(BUILTIN) <= set(registry.list_ops())
  assert registry.list_ops() == sorted(registry.list_ops())
  assert registry.get_op("shear") is ops.shear


# ----------------------------------------------------------------------------------------------
# Errors.


def test_unknown_op_lists_known_ones():
  with pytest.raises(ValueError, match="unknown augmentation op 'shaer'") as info:
    registry.build("temporal_shift(6)|shaer(0.5)", "ntu25")
  for name in BUILTIN:
    assert name in str(info.value)


@pytest.mark.parametrize("spec", [
    "shear(0.5, 1)",  # too many positional arguments
    "shear(bogus=1)",  # unknown keyword
    "shear(0.5, amplitude=0.4)",  # given twice
    "gaussian_blur(kernel_size=14)",  # even kernel, caught when tracing at build time
    "axis_mask(p=1.5)",  # probability out of range
    "temporal_flip(p='often')",  # wrong type
])
def test_bad_arguments_name_the_op(spec):
  name = spec.split("(")[0]
  with pytest.raises(ValueError, match=f"augmentation op '{name}'"):
    registry.build(spec, "ntu25")


def test_layout_is_required_for_spatial_flip_and_must_match_batch():
  with pytest.raises(ValueError, match="spatial_flip.*layout"):
    registry.build("spatial_flip")
  fn = registry.build("spatial_flip(1.0)", "ntu25")
  with pytest.raises(ValueError, match="20 joints.*ntu25"):
    fn(jax.random.key(0), _batch(v=20))
  with pytest.raises(ValueError, match="N, M, T, V, C"):
    fn(jax.random.key(0), _batch()[0])


def test_duplicate_registration_raises():
  with pytest.raises(ValueError, match="already registered"):
    registry.register("shear")(ops.shear)


def test_register_custom_op(monkeypatch):
  monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

  @registry.register("scale_for_test")
  def scale(rng, x, factor=2.0):
    del rng
    return x * factor

  assert "scale_for_test" in registry.list_ops()
  x = _batch(n=2)
  out = registry.build("scale_for_test(3.0)|scale_for_test(factor=0.5)")(jax.random.key(0), x)
  np.testing.assert_allclose(np.asarray(out), 1.5 * np.asarray(x), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Building and composing.


def test_identity_pipelines_return_the_batch():
  x = _batch()
  for spec in ("", "identity", " | identity | "):
    fn = registry.build(spec, "ntu25")
    np.testing.assert_array_equal(np.asarray(fn(jax.random.key(0), x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(jax.jit(fn)(jax.random.key(1), x)), np.asarray(x))


def test_composition_order_and_keys():
  # shear then axis mask do not commute, so the order is visible in the result.
  x = _batch()
  rng = jax.random.key(7)
  fn = registry.build("shear(0.5)|axis_mask(1.0)", "ntu25")
  got = np.asarray(fn(rng, x))
  k1, k2 = jax.random.split(rng, 2)
  sheared = ops.batched(ops.shear)(k1, x, amplitude=0.5)
  want = np.asarray(ops.batched(ops.axis_mask)(k2, sheared, p=1.0))
  np.testing.assert_array_equal(got, want)
  # Every example ends with one all-zero axis (the mask came last).
  assert np.all(np.sum(np.all(got == 0.0, axis=(1, 2, 3)), axis=-1) == 1)
  reversed_order = ops.batched(ops.shear)(k1, ops.batched(ops.axis_mask)(k2, x, p=1.0),
                                          amplitude=0.5)
  assert not np.allclose(got, np.asarray(reversed_order))


def test_layout_fills_spatial_flip_and_spec_args_fill_the_rest():
  x = _batch()
  fn = registry.build("spatial_flip(1.0)", skeletons.NTU25)
  np.testing.assert_array_equal(np.asarray(fn(jax.random.key(0), x)),
                                np.asarray(x)[:, :, :, list(skeletons.NTU25.flip)])
  # An explicit perm needs no layout and wins over it.
  swap = registry.build("spatial_flip(perm=(1, 0, 2), p=1.0)")
  np.testing.assert_array_equal(np.asarray(swap(jax.random.key(0), x[:, :, :, :3])),
                                np.asarray(x)[:, :, :, [1, 0, 2]])
  off = registry.build("spatial_flip(0.0)", "ntu25")
  np.testing.assert_array_equal(np.asarray(off(jax.random.key(0), x)), np.asarray(x))


def test_extreme_pipeline_jit_matches_eager():
  x = _batch()
  fn = registry.build(registry.EXTREME, "ntu25")
  rng = jax.random.key(3)
  eager = np.asarray(fn(rng, x))
  jitted = np.asarray(jax.jit(fn)(rng, x))
  assert jitted.shape == x.shape and jitted.dtype == np.float32
  np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-5)
  assert np.all(np.isfinite(jitted))
  assert not np.allclose(jitted, np.asarray(jax.jit(fn)(jax.random.key(4), x)))


def test_kinect_v1_20_layout():
  layout = skeletons.KINECT_V1_20
  x = _batch(n=2, v=20)
  flip = registry.build("spatial_flip(p=1.0)", "kinect_v1_20")
  np.testing.assert_array_equal(np.asarray(flip(jax.random.key(0), x)),
                                np.asarray(x)[:, :, :, list(layout.flip)])
  fn = jax.jit(registry.build(registry.EXTREME_V0, layout))
  out = np.asarray(fn(jax.random.key(1), x))
  assert out.shape == x.shape and np.all(np.isfinite(out))


def test_pipeline_accepts_raw_uint32_keys():
  x = _batch()
  rng = jax.random.PRNGKey(0)  # old-style uint32 key, as many train loops still use
  got = registry.build("temporal_shift(6)")(rng, x)
  (key,) = jax.random.split(rng, 1)
  want = ops.batched(ops.temporal_shift)(key, x, ratio=6)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
