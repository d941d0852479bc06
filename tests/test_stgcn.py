"""ST-GCN encoder: parameter counts, shapes, and exact parity with the PyTorch reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax import config_lib
from skel_jax.interop import stgcn_state_dict
from skel_jax.models import stgcn


def _param_count(**kw):
  model = stgcn.STGCN(**kw)
  shapes = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 2, 50, 25, 3)), train=False))
  return stgcn.count_params(shapes["params"])


def test_parameter_counts_match_spec():
  assert _param_count(hidden=16) == 821_380
  assert _param_count(hidden=64) == 3_083_412


@pytest.mark.parametrize("t, t_out", [(50, 13), (64, 16), (9, 3)])
def test_temporal_out_length(t, t_out):
  assert stgcn.temporal_out_length(t) == t_out


def test_shapes_and_person_averaging():
  model = stgcn.STGCN(hidden=4, out_dim=8, num_classes=5, layout="kinect_v1_20")
  x = jax.random.normal(jax.random.key(1), (3, 2, 20, 20, 3))
  variables = jax.jit(lambda: model.init(jax.random.key(0), x, train=False))()
  logits, aux = jax.jit(lambda v: model.apply(v, x, train=False))(variables)
  assert logits.shape == (3, 5)
  assert aux["feature_map"].shape == (3, 2, 5, 20, 8)
  np.testing.assert_allclose(aux["pooled"], aux["feature_map"].mean((1, 2, 3)), rtol=1e-5)


def test_wrong_joint_count_is_a_clear_error():
  model = stgcn.STGCN(hidden=4, out_dim=8)
  with pytest.raises(ValueError, match="20 joints but layout 'ntu25' has 25"):
    model.init(jax.random.key(0), jnp.zeros((1, 1, 10, 20, 3)), train=False)


def test_matmul_and_conv_formulations_agree():
  x = jax.random.normal(jax.random.key(1), (2, 2, 16, 25, 3))
  fast = stgcn.STGCN(hidden=4, out_dim=8, conv_impl="matmul")
  slow = stgcn.STGCN(hidden=4, out_dim=8, conv_impl="conv")
  variables = jax.jit(lambda: fast.init(jax.random.key(0), x, train=False))()

  def run(model):
    return jax.jit(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"],
                                         rngs={"dropout": jax.random.key(2)}))(variables)

  (a, _), state_a = run(fast)
  (b, _), state_b = run(slow)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  jax.tree_util.tree_map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6),
                         state_a, state_b)


def test_init_follows_spec():
  model = stgcn.STGCN(hidden=16)
  params = jax.jit(lambda: model.init(jax.random.key(0), jnp.zeros((1, 1, 50, 25, 3)),
                                      train=False))()["params"]
  kernel = params["block5"]["tcn_conv"]["kernel"]
  assert abs(float(kernel.std()) - 0.02) < 0.002
  assert float(jnp.abs(params["block5"]["tcn_conv"]["bias"]).max()) == 0.0
  assert abs(float(params["block5"]["tcn_bn1"]["scale"].mean()) - 1.0) < 0.01
  np.testing.assert_array_equal(params["block3"]["gcn"]["edge_importance"], 1.0)


@pytest.mark.parametrize("gcn_impl, conv_impl, winograd", [
    ("einsum", "matmul", False), ("aggregate_first", "matmul", False),
    ("aggregate_first", "matmul", True),  # the passes with a gradient
    ("dense_narrow", "conv", True),  # the passes without one (backbone_kwargs(no_grad=True))
    ("dense", "conv", False)])
def test_reference_parity(reference_fixture_dir, gcn_impl, conv_impl, winograd):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  x = np.load(reference_fixture_dir / "input_x.npz")["x"].transpose(0, 4, 2, 3, 1)
  expected = np.load(reference_fixture_dir / "stgcn_eval_output.npz")["out"]
  variables = stgcn_state_dict.stgcn_variables_from_state_dict(sd)
  # winograd=True stands for the library's fast forms: Winograd and the strided XLA form.
  model = stgcn.STGCN(hidden=16, num_classes=128, gcn_impl=gcn_impl, conv_impl=conv_impl,
                      winograd=winograd, strided_xla_conv=winograd)
  out, _ = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  rel = np.abs(np.asarray(out) - expected).max() / np.abs(expected).max()
  assert rel < 1e-4, rel


def test_state_dict_round_trip(reference_fixture_dir):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  variables = stgcn_state_dict.stgcn_variables_from_state_dict(sd)
  back = stgcn_state_dict.stgcn_variables_to_state_dict(variables)
  assert set(back) == set(sd) - {"A"}
  for key, value in back.items():
    if "num_batches_tracked" not in key:
      np.testing.assert_array_equal(value, sd[key], err_msg=key)


def test_missing_key_is_named(reference_fixture_dir):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  del sd["st_gcn_networks.3.tcn.2.weight"]
  with pytest.raises(stgcn_state_dict.StateDictError, match="st_gcn_networks.3.tcn.2.weight"):
    stgcn_state_dict.stgcn_variables_from_state_dict(sd)


def _graph_conv_float64(x, kernel, bias, adjacency, importance):
  """Reference graph conv, float64: `out[w] = sum_k sum_v (x W_k + b_k)[v] (A_k * E_k)[v, w]`."""
  k, v, _ = adjacency.shape
  x = np.asarray(x, np.float64)
  y = x @ np.asarray(kernel[0], np.float64) + np.asarray(bias, np.float64)  # [B, T, V, K*O]
  y = y.reshape(*y.shape[:-1], k, -1)  # channel index k * O + o
  a = np.asarray(adjacency, np.float64) * np.asarray(importance, np.float64)
  return np.einsum("btvko,kvw->btwo", y, a)


@pytest.mark.parametrize("graph, layout", [("stgcn", "ntu25"), ("agcn", "ntu25"),
                                           ("stgcn", "kinect_v1_20")])
@pytest.mark.parametrize("gcn_impl", ["einsum", "aggregate_first", "dense"])
def test_graph_conv_formulations_compute_the_spec_function(graph, layout, gcn_impl):
  from skel_jax.models.graph import build_adjacency
  adjacency = build_adjacency(layout, graph)
  v = adjacency.shape[-1]
  x = jax.random.normal(jax.random.key(0), (2, 3, v, 5))
  module = stgcn.GraphConv(4, adjacency, gcn_impl=gcn_impl)
  params = module.init(jax.random.key(1), x)["params"]
  # The same tree as the reference-order form, whatever the formulation.
  reference_tree = stgcn.GraphConv(4, adjacency, gcn_impl="einsum").init(jax.random.key(1), x)
  assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
      reference_tree["params"])
  # Non-trivial importance and bias, so that every term of the formula matters.
  params = {"edge_importance": jax.random.uniform(jax.random.key(2), (3, v, v), minval=0.5,
                                                  maxval=1.5),
            "conv": {"kernel": params["conv"]["kernel"] * 10.0,
                     "bias": jax.random.normal(jax.random.key(3), (12,))}}
  out = module.apply({"params": params}, x)
  expected = _graph_conv_float64(x, params["conv"]["kernel"], params["conv"]["bias"],
                                 adjacency, params["edge_importance"])
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

  # Gradients with respect to every parameter and the input agree with the einsum form's.
  def loss(impl):
    mod = stgcn.GraphConv(4, adjacency, gcn_impl=impl)
    return lambda p, x: jnp.sum(jnp.sin(mod.apply({"params": p}, x)))

  got = jax.grad(loss(gcn_impl), argnums=(0, 1))(params, x)
  want = jax.grad(loss("einsum"), argnums=(0, 1))(params, x)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                         got, want)


def test_graph_conv_formulation_names():
  # The default is 'aggregate_first'; 'auto', in configs written before the field was pruned,
  # still reads as it; anything else is refused by name.
  from skel_jax.models.graph import build_adjacency
  adjacency = build_adjacency("ntu25", "stgcn")
  assert stgcn.GraphConv(8, adjacency).resolved_impl() == "aggregate_first"
  assert stgcn.GraphConv(8, adjacency, gcn_impl="auto").resolved_impl() == "aggregate_first"
  for name in ("kron", "sparse"):
    with pytest.raises(ValueError, match=f"unknown gcn_impl '{name}'"):
      stgcn.GraphConv(8, adjacency, gcn_impl=name).resolved_impl()


def test_dense_narrow_picks_dense_by_the_cost_ratio():
  from skel_jax.models.graph import build_adjacency
  adjacency = build_adjacency("ntu25", "stgcn")  # K = 3, V = 25
  # V C_out / (K (V + C_out)) by hand: 400 / 123, 800 / 171, 1600 / 267, 6400 / 843.
  for c_out, ratio, impl in [(16, 400 / 123, "dense"), (32, 800 / 171, "dense"),
                             (64, 1600 / 267, "aggregate_first"),
                             (256, 6400 / 843, "aggregate_first")]:
    assert stgcn.dense_cost_ratio(3, 25, c_out) == pytest.approx(ratio)
    assert stgcn.GraphConv(c_out, adjacency, gcn_impl="dense_narrow").resolved_impl() == impl
  # The passes without a gradient take it; the others keep the config's formulation.
  model_config = config_lib.base_config().model
  assert stgcn.backbone_kwargs(model_config, no_grad=True)["gcn_impl"] == "dense_narrow"
  assert stgcn.backbone_kwargs(model_config)["gcn_impl"] == "aggregate_first"


def _temporal_conv_float64(x, kernel):
  """The (9, 1) convolution, stride 1, zero padding 4, in float64: `sum_i x[t + i - 4] W_i`."""
  x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  t = x.shape[1]
  xp = np.pad(x, ((0, 0), (4, 4), (0, 0), (0, 0)))
  return sum(np.einsum("btvc,co->btvo", xp[:, i:i + t], kernel[i]) for i in range(9))


def test_winograd_matrices_compute_the_correlation_exactly():
  # F(3, 3): y_i = sum_r d[i + r] g[r] for a 5-frame tile d and a 3-tap filter g, in float64;
  # the unit vectors make it an identity of the matrices, not of one draw.
  for q in range(5):
    for r in range(3):
      d, g = np.eye(5)[q], np.eye(3)[r]
      got = stgcn.WINOGRAD_AT @ ((stgcn.WINOGRAD_G @ g) * (stgcn.WINOGRAD_BT @ d))
      want = np.array([d[i:i + 3] @ g for i in range(3)])
      np.testing.assert_allclose(got, want, atol=1e-15)


# Every tail length (T mod 3 for F(3, 3), T mod 9 for the nested form) and clips shorter than
# one tile: value and both gradients, against float64 and the unfold-and-matmul's autodiff.
@pytest.mark.parametrize("conv, t", [
    *[(stgcn.winograd_temporal_conv, t) for t in (1, 2, 3, 4, 5, 13, 50)],
    *[(stgcn.nested_winograd_temporal_conv, t) for t in (1, 2, 8, 9, 10, 13, 16, 50)]])
def test_winograd_temporal_conv_is_the_convolution(conv, t):
  x = jax.random.normal(jax.random.key(0), (2, t, 3, 4))
  kernel = jax.random.normal(jax.random.key(1), (9, 4, 5))
  out = conv(x, kernel)
  expected = _temporal_conv_float64(x, kernel)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())

  def loss(conv):
    return lambda x, k: jnp.sum(jnp.sin(conv(x, k)))

  direct = lambda x, k: stgcn._unfold_matmul(x, k.reshape(36, 5), 9, 1, t)  # noqa: E731
  got = jax.grad(loss(conv), argnums=(0, 1))(x, kernel)
  want = jax.grad(loss(direct), argnums=(0, 1))(x, kernel)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))


def test_nested_winograd_is_f33_applied_to_frames_and_to_tiles_exactly():
  # F(9, 9) from F(3, 3) twice, in float64: for a 17-frame super-tile d and a 9-tap filter w,
  # out[3 a + b] = sum_q sum_p AT[a, q] AT[b, p] (G [G w_j]_p)_q (BT [BT d_c]_p)_q with w_j the
  # taps 3 j .. 3 j + 2 and d_c the 5-frame tile at 3 c; unit vectors make it an identity of
  # the matrices.
  at, g, bt = stgcn.WINOGRAD_AT, stgcn.WINOGRAD_G, stgcn.WINOGRAD_BT
  for f in range(17):
    for i in range(9):
      d, w = np.eye(17)[f], np.eye(9)[i]
      tiles = np.stack([bt @ d[3 * c:3 * c + 5] for c in range(5)])  # [c, p]
      filters = w.reshape(3, 3) @ g.T  # [j, r] -> [j, p]
      products = (bt @ tiles) * (g @ filters)  # [q, p]
      got = (at @ products @ at.T).reshape(9)  # [a, b] -> frame 3 a + b
      want = np.array([d[o:o + 9] @ w for o in range(9)])
      np.testing.assert_allclose(got, want, atol=1e-13)


@pytest.mark.parametrize("t, stride", [(1, 2), (2, 2), (7, 2), (8, 2), (50, 2), (25, 2), (10, 3)])
def test_strided_temporal_conv_is_the_convolution(t, stride):
  # XLA's convolution forward and input gradient, a GEMM for the weight gradient: value and
  # both gradients against float64 and the unfold-and-matmul, for odd and even lengths.
  x = jax.random.normal(jax.random.key(0), (2, t, 3, 4))
  kernel = jax.random.normal(jax.random.key(1), (9, 4, 5))
  out = stgcn.strided_temporal_conv(x, kernel, stride)
  expected = _temporal_conv_float64(x, kernel)[:, ::stride]
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
  t_out = (t - 1) // stride + 1

  def loss(conv):
    return lambda x, k: jnp.sum(jnp.sin(conv(x, k)))

  direct = lambda x, k: stgcn._unfold_matmul(x, k.reshape(36, 5), 9, stride, t_out)  # noqa: E731
  got = jax.grad(loss(lambda x, k: stgcn.strided_temporal_conv(x, k, stride)),
                 argnums=(0, 1))(x, kernel)
  want = jax.grad(loss(direct), argnums=(0, 1))(x, kernel)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))


def test_strided_xla_conv_is_a_formulation_of_the_same_layer():
  x = jax.random.normal(jax.random.key(0), (2, 12, 3, 8))
  layer = stgcn.TemporalConv(16, stride=2, strided_xla_conv=True)
  variables = layer.init(jax.random.key(1), x)
  reference = stgcn.TemporalConv(16, stride=2)  # the unfold and matmul
  assert (jax.tree_util.tree_structure(variables)
          == jax.tree_util.tree_structure(reference.init(jax.random.key(1), x)))
  np.testing.assert_allclose(layer.apply(variables, x), reference.apply(variables, x),
                             rtol=1e-5, atol=1e-5)


def test_winograd_serves_stride_one_layers_and_only_wide_ones_without_a_gradient():
  # Passes with a gradient (matmul formulation): every stride-1 9-tap layer.
  for c in (16, 32, 64, 128, 256):
    assert stgcn.use_winograd(9, 1, c, c)
    assert stgcn.use_winograd(9, 1, c, c, "matmul")
  # Passes without one (XLA's convolution otherwise): only C_in C_out >= 2^10.
  assert stgcn.use_winograd(9, 1, 256, 256, "conv")  # block 10 of the h = 16 encoder
  assert stgcn.use_winograd(9, 1, 64, 64, "conv")
  assert stgcn.use_winograd(9, 1, 32, 32, "conv")  # C_in C_out = 2^10, the threshold
  assert not stgcn.use_winograd(9, 1, 16, 16, "conv")  # narrower: XLA's convolution wins
  assert not stgcn.use_winograd(9, 1, 16, 32, "conv")
  for impl in ("matmul", "conv"):
    assert not stgcn.use_winograd(9, 2, 256, 256, impl)  # strided
    assert not stgcn.use_winograd(1, 1, 256, 256, impl)  # 1x1
  x = jax.random.normal(jax.random.key(0), (2, 13, 3, 256))
  layer = stgcn.TemporalConv(256, winograd=True)
  variables = layer.init(jax.random.key(1), x)
  # The same parameters as the direct form, and its function.
  direct = stgcn.TemporalConv(256).init(jax.random.key(1), x)
  assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(direct)
  kernel = variables["params"]["kernel"]
  np.testing.assert_allclose(layer.apply(variables, x), _temporal_conv_float64(x, kernel),
                             rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride, t", [(1, 12), (2, 12), (2, 13), (1, 3)])
def test_unfold_time_matches_its_definition_and_its_gradient_is_the_overlap_add(stride, t):
  x = jax.random.normal(jax.random.key(0), (2, t, 3, 4))
  t_out = (t - 1) // stride + 1
  out = stgcn._unfold_time(x, 9, stride, t_out)
  # float64 definition: out[b, t', v, i * C + c] = x[b, stride * t' + i - 4, v, c] (0 outside).
  xp = np.pad(np.asarray(x, np.float64), ((0, 0), (4, 4), (0, 0), (0, 0)))
  expected = np.concatenate([xp[:, i:i + stride * (t_out - 1) + 1:stride] for i in range(9)],
                            axis=-1)
  np.testing.assert_array_equal(out, expected.astype(np.float32))
  np.testing.assert_array_equal(jax.jit(stgcn._unfold_time, static_argnums=(1, 2, 3))(
      x, 9, stride, t_out), out)
  # The custom VJP is the transpose of the unfold: each input frame collects the cotangents
  # of every (output frame, tap) that read it.
  cot = jax.random.normal(jax.random.key(1), out.shape)
  (grad,) = jax.vjp(lambda x: stgcn._unfold_time(x, 9, stride, t_out), x)[1](cot)
  cot64 = np.asarray(cot, np.float64).reshape(2, t_out, 3, 9, 4)
  want = np.zeros((2, t + 8, 3, 4))
  for tt in range(t_out):
    for i in range(9):
      want[:, stride * tt + i] += cot64[:, tt, :, i]
  np.testing.assert_allclose(grad, want[:, 4:4 + t], rtol=1e-5, atol=1e-5)


def _plain_temporal_conv(x, kernel, stride):
  """float64-style reference: unfold and matmul, differentiated by autodiff."""
  k, c_in, c_out = kernel.shape
  t_out = (x.shape[1] - 1) // stride + 1
  return stgcn._unfold_time(x, k, stride, t_out) @ kernel.reshape(k * c_in, c_out)


@pytest.mark.parametrize("stride, t", [(1, 12), (2, 12), (2, 13)])
def test_low_precision_conv_vjp_is_the_exact_gradient(stride, t):
  # With float32 as the "low" dtype the custom VJP must equal autodiff of the plain conv.
  x = jax.random.normal(jax.random.key(0), (3, t, 5, 4))
  kernel = jax.random.normal(jax.random.key(1), (9, 4, 6))
  cot = jax.random.normal(jax.random.key(2), (3, (t - 1) // stride + 1, 5, 6))
  y_ref, vjp_ref = jax.vjp(lambda x, w: _plain_temporal_conv(x, w, stride), x, kernel)
  y, vjp = jax.vjp(lambda x, w: stgcn._lp_conv(x, w, stride, jnp.float32), x, kernel)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  for got, want in zip(vjp(cot), vjp_ref(cot)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("stride, t", [(1, 12), (2, 12), (2, 13), (1, 3)])
def test_float32_conv_vjp_is_the_float64_gradient(stride, t):
  # The custom VJP (both gradients from one unfold of the cotangent) against autodiff of the
  # plain unfold-and-matmul, both in float64.
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), (3, t, 5, 4), jnp.float64)
    kernel = jax.random.normal(jax.random.key(1), (9, 4, 6), jnp.float64)
    t_out = (t - 1) // stride + 1
    cot = jax.random.normal(jax.random.key(2), (3, t_out, 5, 6), jnp.float64)
    y_ref, vjp_ref = jax.vjp(lambda x, w: _plain_temporal_conv(x, w, stride), x, kernel)
    y, vjp = jax.vjp(lambda x, w: stgcn._unfold_matmul(x, w.reshape(36, 6), 9, stride, t_out),
                     x, kernel)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    d_x, d_w = vjp(cot)
    d_x_ref, d_w_ref = vjp_ref(cot)
    np.testing.assert_allclose(d_x, d_x_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_w.reshape(9, 4, 6), d_w_ref, rtol=1e-12, atol=1e-12)


def test_temporal_convs_do_not_keep_their_unfolds_for_the_backward_pass():
  # Four stacked (9, 1) convolutions: autodiff of unfold-and-matmul kept every layer's
  # 9-times larger unfold alive until the backward pass (3.9 unfolds of temporaries at these
  # shapes); the custom VJP keeps the inputs only (1.7: the transient unfold of one cotangent).
  layers = [stgcn.TemporalConv(16, kernel_size=9, stride=s) for s in (1, 1, 2, 1)]
  x = jnp.ones((8, 64, 25, 16))
  params, h = [], x
  for layer in layers:
    params.append(layer.init(jax.random.key(0), h))
    h = layer.apply(params[-1], h)

  def loss(params, x):
    for layer, p in zip(layers, params):
      x = jnp.tanh(layer.apply(p, x))
    return jnp.sum(x ** 2)

  compiled = jax.jit(jax.grad(loss)).lower(params, x).compile()
  analysis = compiled.memory_analysis()
  if analysis is None:
    pytest.skip("this backend reports no memory analysis")
  assert analysis.temp_size_in_bytes < 2.5 * 9 * x.nbytes


def test_bfloat16_encoder_is_close_to_float32():
  x = jax.random.normal(jax.random.key(1), (4, 2, 16, 25, 3))
  full = stgcn.STGCN(hidden=8, out_dim=16, dropout=0.0)
  mixed = stgcn.STGCN(hidden=8, out_dim=16, dropout=0.0, dtype=jnp.bfloat16)
  variables = jax.jit(lambda: full.init(jax.random.key(0), x, train=False))()

  def loss(model, params):
    (out, _), _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                              train=True, mutable=["batch_stats"])
    return jnp.sum(out ** 2), out

  (l32, out32), g32 = jax.jit(jax.value_and_grad(lambda p: loss(full, p), has_aux=True))(
      variables["params"])
  (l16, out16), g16 = jax.jit(jax.value_and_grad(lambda p: loss(mixed, p), has_aux=True))(
      variables["params"])
  assert out16.dtype == jnp.float32  # features come back in float32
  np.testing.assert_allclose(out16, out32, rtol=0.05, atol=0.05 * float(jnp.abs(out32).max()))
  flat32, flat16 = (jnp.concatenate([a.ravel() for a in jax.tree_util.tree_leaves(g)])
                    for g in (g32, g16))
  cosine = jnp.dot(flat32, flat16) / (jnp.linalg.norm(flat32) * jnp.linalg.norm(flat16))
  # bfloat16 operands carry 8 significant bits; through ten train-mode BN layers (whose
  # backward subtracts means) the gradient direction stays within ~15 degrees of float32's.
  assert cosine > 0.9, cosine
  assert all(a.dtype == jnp.float32 for a in jax.tree_util.tree_leaves(g16))


def test_compute_dtype_names():
  assert stgcn.compute_dtype("float32") is None
  assert stgcn.compute_dtype("bfloat16") == jnp.bfloat16
  with pytest.raises(ValueError, match="unknown model dtype 'float16'"):
    stgcn.compute_dtype("float16")


def test_half_dropout_mask_uses_every_bit_and_is_fair():
  shape = (64, 50, 37)  # last axis not a multiple of 32
  mask = stgcn.half_dropout_mask(jax.random.key(0), shape)
  assert mask.shape == shape and mask.dtype == jnp.bool_
  np.testing.assert_array_equal(mask, stgcn.half_dropout_mask(jax.random.key(0), shape))
  assert not np.array_equal(mask, stgcn.half_dropout_mask(jax.random.key(1), shape))
  m = np.asarray(mask, np.float64)
  assert abs(m.mean() - 0.5) < 0.005  # 118,400 fair coins: std 0.0015
  # Every channel (bit position) is fair on its own, and neighbours are uncorrelated.
  assert np.all(np.abs(m.reshape(-1, 37).mean(0) - 0.5) < 0.03)
  assert abs(np.corrcoef(m[..., 0].ravel(), m[..., 1].ravel())[0, 1]) < 0.03


def test_dropout_scales_kept_units_and_is_off_in_eval():
  x = jnp.ones((8, 10, 40))
  drop = stgcn.Dropout(0.5)
  y = drop.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(3)})
  assert set(np.unique(np.asarray(y)).tolist()) == {0.0, 2.0}
  np.testing.assert_array_equal(drop.apply({}, x, deterministic=True), x)
  y3 = stgcn.Dropout(0.25).apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(3)})
  kept = np.asarray(y3) > 0
  np.testing.assert_allclose(np.asarray(y3)[kept], 1 / 0.75, rtol=1e-6)
  assert abs(kept.mean() - 0.75) < 0.03

