"""Progress bars on stderr for pretraining, data preparation and evaluation (tqdm).

One helper so that every long loop looks the same: done/total, rate, elapsed and ETA. On a
terminal tqdm redraws one line; in a log file or a notebook cell it writes its updates at most
every `mininterval` seconds. Process 0 of a multi-host run shows the bar, the others pass
`enabled=False`.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int | None, desc: str, *, unit: str = "step", initial: int = 0,
        enabled: bool = True, mininterval: float = 1.0) -> tqdm:
  """A progress bar on stderr; use as a context manager or call `.close()`.

  Args:
    total: the count at which the work is done (None: unknown, a counter without ETA).
    desc: what is being done, shown first ("pretrain", "ntu60_xsub", "features").
    unit: what is counted ("step", "files", "clips").
    initial: the count done before (a resumed run), excluded from the rate.
    enabled: False writes nothing (non-zero processes, `progress=False`).
    mininterval: seconds between redraws, so that logs stay short.

  Returns:
    A `tqdm` object: `.update(n)`, `.set_postfix(loss=...)`, `.close()`.
  """
  return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=not enabled,
              file=sys.stderr, mininterval=mininterval, dynamic_ncols=True, leave=True)
