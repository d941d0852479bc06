"""Every evaluation protocol end to end through `skel_jax.run.run`: the smoke preset on the demo
data (one short pretraining with the KNN monitor, shared by the tests), and NW-UCLA."""

import json
import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from skel_jax import fusion_run, run
from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.evaluate import fusion, protocols, results, semi, tsne
from skel_jax.train import metrics_writer


def _smoke_config():
  config = load_config("configs/skeletonclr.py", "smoke")
  config.eval.semi.fractions = (0.1,)
  config.eval.semi.lr, config.eval.semi.lr_steps = (0.1,), ((1,),)
  config.eval.semi.weight_decay = (0.0,)
  return config


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
  """The smoke run of `--mode=all` with the KNN monitor every epoch."""
  config = _smoke_config()
  config.train.knn_every_epochs = 1
  config.train.ckpt_every_epochs = 2  # one checkpoint, at the end
  config.eval.tsne.max_points = 32
  splits = registry.load_splits(config)
  workdir = str(tmp_path_factory.mktemp("smoke_all"))
  out = run.run(config, workdir, "all", splits=splits)
  return config, workdir, splits, out


def test_all_mode_pretrains_monitors_and_evaluates(pretrained):
  config, workdir, _, out = pretrained
  assert {"linear_top1_final", "linear_top1_best_of_evals", "knn_top1@1", "knn_top1@5",
          "tsne_png"} <= set(out)
  assert os.path.isfile(out["tsne_png"])
  res = results.read_results(workdir)
  assert res["linear"]["context"]["weights"] == "checkpoint"
  assert res["linear"]["context"]["checkpoint_step"] == 8  # 2 epochs x 4 steps
  assert [h[0] for h in res["linear"]["history"]] == [1, 2, 3, 4, 5]
  assert np.load(os.path.join(workdir, "linear_test_logits.npy")).shape == (32, 10)
  # The KNN monitor ran after each epoch, logged with the training scalars.
  rows = [r for r in metrics_writer.read_metrics_jsonl(workdir) if "knn/top1@1" in r]
  assert [r["step"] for r in rows] == [4, 8]
  best = json.loads(open(os.path.join(workdir, "best_knn.json")).read())
  assert best["top1"] == max(r["knn/top1@1"] for r in rows)
  assert os.path.isfile(os.path.join(workdir, "best_knn.npz"))
  assert "linear: linear_top1: final (last epoch)" in open(
      os.path.join(workdir, "results.md")).read().replace("| linear | ", "linear: ")


def test_all_mode_reports_the_baselines_under_the_same_probes(pretrained):
  config, workdir, splits, out = pretrained
  res = results.read_results(workdir)
  for protocol in ("linear", "linear_std", "knn"):
    for tag, weights in (("random_init", "random_init"), ("raw_input", "raw_input")):
      assert res[f"{protocol}_{tag}"]["context"]["weights"] == weights
  # The scale-invariant probe and 1-NN are reported for the pretrained encoder too.
  assert 0 <= out["linear_std_top1_final"] <= 100 and "knn_top1@1" in out
  # The raw-input baseline's 1-NN is plain nearest neighbour on the flattened clips.
  train, test = splits
  flat_train = train.x.reshape(len(train), -1)
  flat_test = test.x.reshape(len(test), -1)
  def unit(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
  nearest = np.argmax(unit(flat_test) @ unit(flat_train).T, axis=1)
  expected = 100.0 * np.mean(train.y[nearest] == test.y)
  assert res["knn_raw_input"]["knn_top1@1"] == pytest.approx(expected)
  md = open(os.path.join(workdir, "results.md")).read()
  assert "## Pretrained encoder against the baselines" in md
  gain = out["linear_std_top1_final"] - res["linear_std_random_init"]["linear_std_top1_final"]
  assert f"{gain:+.2f}" in md


def test_finetune_and_semi_modes(pretrained, capsys):
  config, workdir, splits, _ = pretrained
  out = run.run(config, workdir, "finetune", splits=splits)
  assert 0 <= out["finetune_top1_final"] <= out["finetune_top1_best_of_evals"] <= 100
  epochs = config.eval.finetune.epochs
  err = capsys.readouterr().err  # a bar per run, with the training loss/accuracy and top-1
  assert "finetune: 100%" in err and f"{epochs}/{epochs}" in err
  assert "loss=" in err and "acc=" in err and "top1=" in err
  out = run.run(config, workdir, "semi", splits=splits)
  assert "semi_10pct: 100%" in capsys.readouterr().err
  assert out["semi_10pct_num_train"] == 10  # one clip for each of the 10 classes
  res = results.read_results(workdir)
  for name in ("finetune", "semi_10pct"):
    assert res[name]["context"]["checkpoint_step"] == 8
    assert len(res[name]["epoch_log"]) == config.eval.finetune.epochs
    assert np.load(os.path.join(workdir, f"{name}_test_logits.npy")).shape == (32, 10)
  assert res["finetune"]["settings"]["bn_mode"] == "eval"
  record = semi.load_subset(os.path.join(workdir, res["semi_10pct"]["subset_file"]))
  expected = semi.class_balanced_subset(splits[0].y, 0.1, seed=0)
  assert record["indices"] == expected.tolist()
  assert res["semi_10pct"]["subset"]["sha1"] == record["sha1"]


def test_train_mode_bn_results_sit_beside_the_reference_ones(pretrained):
  config, workdir, splits, _ = pretrained
  run.run(config, workdir, "finetune", splits=splits)
  c = config.copy_and_resolve_references()
  c.eval.finetune.bn_mode = "train"
  out = run.run(c, workdir, "finetune", splits=splits)
  res = results.read_results(workdir)
  assert res["finetune"]["settings"]["bn_mode"] == "eval"  # not replaced
  assert res["finetune_bntrain"]["settings"]["bn_mode"] == "train"
  assert res["finetune_bntrain"]["finetune_top1_final"] == out["finetune_top1_final"]
  assert os.path.isfile(os.path.join(workdir, "finetune_bntrain_test_logits.npy"))
  assert fusion_run.stream_is_done(c, workdir, ("finetune",), len(splits[0]))


def test_best_knn_weights_and_transfer(pretrained):
  config, workdir, splits, _ = pretrained
  c = config.copy_and_resolve_references()
  c.eval.use_best_knn = True
  run.run(c, workdir, "knn", splits=splits)
  entry = results.read_results(workdir)["knn_best_knn"]
  best = json.loads(open(os.path.join(workdir, "best_knn.json")).read())
  assert entry["context"]["weights"] == "best_knn"
  assert entry["context"]["best_knn_step"] == best["step"]
  # Transfer: the class count comes from the target (a 5-class demo set).
  c = config.copy_and_resolve_references()
  c.eval.target_dataset, c.eval.target_num_classes = "demo", 5
  out = run.run(c, workdir, "linear")
  assert "linear_top1_final" in out
  assert np.load(os.path.join(workdir, "linear_to_demo_test_logits.npy")).shape == (32, 5)
  assert results.read_results(workdir)["linear_to_demo"]["context"]["num_classes"] == 5
  # Different joint counts cannot transfer: a clear error before any data is read.
  c.eval.target_dataset, c.eval.target_num_classes = "nwucla", 0
  with pytest.raises(ValueError, match="25 joints.*20 joints"):
    run.run(c, workdir, "linear")


def test_finished_streams_are_recognised(pretrained):
  config, workdir, splits, _ = pretrained
  protocols = ("linear", "knn", "tsne")
  assert fusion_run.stream_is_done(config, workdir, protocols, len(splits[0]))
  c = config.copy_and_resolve_references()
  c.eval.linear.epochs = 6  # other settings: the stored result is stale
  assert not fusion_run.stream_is_done(c, workdir, protocols, len(splits[0]))
  c = config.copy_and_resolve_references()
  c.train.max_steps = 4  # would end at step 4: the checkpoint is not that run's
  assert not fusion_run.stream_is_done(c, workdir, protocols, len(splits[0]))


def test_three_stream_fuses_and_reuses(tmp_path, monkeypatch):
  config = _smoke_config()
  config.eval.random_init = True  # no pretraining: the fusion path is what is tested here
  config.eval.tsne.enabled = False
  config.eval.linear.epochs, config.eval.linear.lr_steps = 1, ()
  splits = registry.load_splits(config)
  out = run.run(config, str(tmp_path), "three_stream", splits=splits)
  logits = {s: np.load(tmp_path / s / "linear_random_init_test_logits.npy")
            for s in ("joint", "motion", "bone")}
  expected = fusion.fusion_metrics(logits, splits[1].y, fusion.DEFAULT_WEIGHTS)
  assert out["linear_fused_top1"] == expected["fused_top1"]
  entry = results.read_results(str(tmp_path))["fusion_linear_random_init"]
  assert entry["weights"] == {"joint": 0.6, "motion": 0.4, "bone": 0.6}
  assert entry["bone_top1"] == expected["bone_top1"]
  assert json.loads((tmp_path / "motion" / "results.json").read_text())["linear_random_init"][
      "context"]["stream"] == "motion"

  def must_not_run(*args, **kwargs):
    raise AssertionError("a finished stream was run again")

  monkeypatch.setattr(run, "run_single", must_not_run)
  assert run.run(config, str(tmp_path), "three_stream", splits=splits) == out


def test_bad_modes_and_missing_checkpoints(tmp_path):
  config = _smoke_config()
  with pytest.raises(ValueError, match="unknown mode"):
    run.run(config, str(tmp_path), "ensemble")
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    run.run(config, str(tmp_path), "linear")
  config.eval.fusion.protocols = ("knn",)
  with pytest.raises(ValueError, match="fusion.protocols"):
    run.run(config, str(tmp_path), "three_stream")


def test_nw_ucla_protocols_on_real_data(nw_ucla_dir, tmp_path):
  """Random-init encoder, 16 frames, a class-balanced fifth of the clips: the real-data path
  of linear, KNN and semi-supervised evaluation (the latter is fine-tuning on a subset)."""
  config = load_config("configs/skeletonclr.py", "nwucla,frames=16,hidden=4")
  config.data.data_dir = str(nw_ucla_dir)
  config.model.out_dim = 16
  config.eval.random_init = True
  config.eval.knn.ks = (1, 5)
  config.eval.linear.epochs, config.eval.linear.lr_steps = 4, (3,)
  config.eval.finetune.eval_every = 1
  config.eval.semi.epochs, config.eval.semi.fractions = 2, (0.1,)
  config.eval.semi.lr, config.eval.semi.lr_steps, config.eval.semi.weight_decay = (
      (0.01,), ((1,),), (0.0,))
  train, test = registry.load_splits(config)
  assert (len(train), len(test), train.x.shape[3]) == (1020, 464, 20)
  train = train.subset(semi.class_balanced_subset(train.y, 0.2, seed=0))
  test = test.subset(semi.class_balanced_subset(test.y, 0.1, seed=0))
  out = run.run_single(config, str(tmp_path), pretrain=False,
                       protocols=("linear", "knn", "semi"), splits=(train, test))
  for key in ("linear_top1_final", "knn_top1@5", "semi_10pct_top1_final",
              "semi_10pct_top1_best_of_evals"):
    assert 0.0 <= out[key] <= 100.0, key
  assert out["semi_10pct_num_train"] == sum(semi.per_class_count(n, 0.1)
                                            for n in np.bincount(train.y))
  res = results.read_results(str(tmp_path))
  # The nwucla preset fine-tunes in train-mode BN with augmentation: '_bntrain_aug'.
  name = "semi_10pct_bntrain_aug_random_init"
  assert res[name]["context"]["dataset"] == "nwucla"
  assert res[name]["settings"]["augment"] == config.aug.normal
  assert len(res[name]["history"]) == 2
  assert np.load(tmp_path / f"{name}_test_logits.npy").shape == (len(test), 10)


def test_tsne_legend_names_the_demo_actions():
  config = load_config("configs/aimclr.py", "demo")
  names = protocols.class_names(config)
  assert len(names) == 10 and names[0] == "wave_right_hand" and all(isinstance(n, str)
                                                                      for n in names)
  assert protocols.class_names(load_config("configs/aimclr.py", "ntu60_xsub")) is None


def test_tsne_legend_names_the_nw_ucla_actions(tmp_path, monkeypatch):
  names = protocols.class_names(load_config("configs/skeletonclr.py", "nwucla"))
  assert len(names) == 10 and (names[0], names[-1]) == ("pick up with one hand", "carry")
  saved = []  # the figure, to read its legend
  monkeypatch.setattr(Figure, "savefig", lambda fig, *args, **kwargs: saved.append(fig))
  labels = np.arange(30) % 10
  tsne.plot_embedding_2d(np.random.default_rng(0).normal(size=(30, 2)), labels,
                         str(tmp_path / "t.png"), class_names=names)
  assert [t.get_text() for t in saved[0].axes[0].get_legend().get_texts()] == names
