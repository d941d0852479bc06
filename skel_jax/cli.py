"""absl command lines of the tools beside skel_jax.main (prepare, report, visualize, interop).

Each tool defines its absl flags in a `flags.FlagValues` of its own, not in the global
`flags.FLAGS`: the tools share flag names (`--out`, `--config`, `--frames`) with each other and
with skel_jax.main, and importing two of them in one process (tests, notebooks) would otherwise
raise a DuplicateFlagError. A tool's `main(argv)` parses its arguments with `parse` and returns
the exit status, so tests call it directly; `run_tool` starts it with `absl.app.run`.

The flag names follow absl (`--skip_list`, `--noview_normalize`); the GNU spellings the tools
had before (`--skip-list`, `--no-view-normalize`) are still accepted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from absl import app, flags

_HELP = ("-h", "-?", "--help", "--helpshort", "--helpfull")


def absl_spelling(arg: str, flag_values: flags.FlagValues) -> str:
  """`arg` with a GNU-style flag name (`--skip-list`, `--no-center`) in absl's spelling.

  Arguments that already name a flag, and anything that is not a `--flag`, are unchanged.
  """
  if not arg.startswith("--") or arg == "--":
    return arg
  name, eq, value = arg[2:].partition("=")
  if name in flag_values:
    return arg
  underscored = name.replace("-", "_")
  if underscored in flag_values:
    return f"--{underscored}{eq}{value}"
  negated = underscored[3:] if underscored.startswith("no_") else None
  if negated in flag_values and isinstance(flag_values[negated], flags.BooleanFlag):
    return f"--no{negated}{eq}{value}"
  return arg


def parse(flag_values: flags.FlagValues, argv: Sequence[str] | None, prog: str,
          description: str = "") -> list[str]:
  """Parses `argv` (without the program name; None: sys.argv) into `flag_values`.

  Returns:
    The positional arguments.

  Raises:
    SystemExit: status 0 after printing the help (`--help`), 2 after a one-line message for a
      bad flag (an unknown name, a bad value, a missing required flag), as argparse did.
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  if any(a in _HELP for a in argv):
    print(f"usage: {prog} [flags]\n\n{description}\n\nflags:\n"
          f"{flag_values.get_help(include_special_flags=False)}")
    raise SystemExit(0)
  if flag_values.is_parsed():
    flag_values.unparse_flags()  # back to the defaults: main() may run twice in one process
  try:
    return flag_values([prog] + [absl_spelling(a, flag_values) for a in argv])[1:]
  except flags.Error as e:
    print(f"error: {e}\nsee: {prog} --help", file=sys.stderr)
    raise SystemExit(2) from None


def usage_error(message: str, prog: str) -> int:
  """Prints a bad-usage message (positional arguments, flags that go together); returns 2."""
  print(f"error: {message}\nsee: {prog} --help", file=sys.stderr)
  return 2


def run_tool(main: Callable[[Sequence[str]], int]) -> None:
  """Runs a tool's `main(args) -> status` with `absl.app.run` (logging set up, exit status).

  absl's own flags (`--verbosity`, ...) keep their defaults: `main` parses the tool's flags,
  from its own FlagValues.
  """
  def parse_absl_defaults(argv: list[str]) -> list[str]:
    flags.FLAGS(argv[:1])
    return argv

  app.run(lambda argv: main(argv[1:]), flags_parser=parse_absl_defaults)
