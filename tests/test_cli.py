"""skel_jax.cli: the absl flags of the tools beside skel_jax.main (prepare, report, convert)."""

import pytest
from absl import flags

from skel_jax import cli


def _flag_values():
  values = flags.FlagValues()
  flags.DEFINE_string("skip_list", None, "a string", flag_values=values)
  flags.DEFINE_bool("view_normalize", None, "a tri-state bool", flag_values=values)
  flags.DEFINE_integer("frames", 50, "an integer", flag_values=values)
  return values


def test_gnu_spellings_are_still_accepted():
  values = _flag_values()
  assert cli.absl_spelling("--skip-list=none", values) == "--skip_list=none"
  assert cli.absl_spelling("--no-view-normalize", values) == "--noview_normalize"
  assert cli.absl_spelling("--view-normalize", values) == "--view_normalize"
  assert cli.absl_spelling("--frames=3", values) == "--frames=3"
  assert cli.absl_spelling("ntu60_xsub", values) == "ntu60_xsub"
  assert cli.absl_spelling("--no-frames", values) == "--no-frames"  # not a bool: absl says so


def test_parse_returns_positionals_and_resets_between_calls():
  values = _flag_values()
  assert cli.parse(values, ["a", "--skip-list", "none", "b", "--no-view-normalize",
                            "--frames=3"], "prog") == ["a", "b"]
  assert (values.skip_list, values.view_normalize, values.frames) == ("none", False, 3)
  assert cli.parse(values, ["c"], "prog") == ["c"]
  assert (values.skip_list, values.view_normalize, values.frames) == (None, None, 50)


def test_bad_flags_exit_2_and_help_exits_0(capsys):
  values = _flag_values()
  for argv in (["--nope=1"], ["--frames=x"]):
    with pytest.raises(SystemExit) as info:
      cli.parse(values, argv, "prog")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith("see: prog --help\n")
  with pytest.raises(SystemExit) as info:
    cli.parse(values, ["--help"], "prog", "What prog does.")
  assert info.value.code == 0
  out = capsys.readouterr().out
  assert "What prog does." in out and "--skip_list" in out and "--[no]view_normalize" in out
