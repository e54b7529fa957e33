"""A stand-in for Slurm's `sbatch`, so tests can run the scripts `ponder plan --slurm` writes.

`python fakeslurm.py [sbatch options] FILE` runs FILE's array tasks one after another right away
(each task is its own `bash FILE` process with `SLURM_ARRAY_TASK_ID` set, as on a cluster), then
prints a job id like `sbatch --parsable`. `--wrap CMD` runs CMD. Jobs are submitted in dependency
order by submit.sh and run synchronously, so an `afterok` dependency holds by construction; a
failing task makes this command fail (and `set -e` in submit.sh stops the submission).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

_ids = itertools.count(1000 + os.getpid() % 1000)


def _array(script: str) -> range:
    m = re.search(r"^#SBATCH --array=(\d+)-(\d+)", script, re.M)
    return range(int(m.group(1)), int(m.group(2)) + 1) if m else range(1)


def main(argv: list[str]) -> int:
    wrap, file = None, None
    it = iter(argv)
    for arg in it:
        if arg == "--wrap":
            wrap = next(it)
        elif arg.startswith("--wrap="):
            wrap = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            file = arg
    if wrap is not None:
        code = subprocess.call(["bash", "-c", wrap])
    else:
        script = Path(file).read_text()
        code = 0
        for task in _array(script):
            env = {
                **os.environ,
                "SLURM_ARRAY_TASK_ID": str(task),
                "SLURM_NNODES": "1",
                "SLURM_JOB_NODELIST": "localhost",
            }
            code = subprocess.call(["bash", file], env=env)
            if code:
                break
    if code:
        print(f"fakeslurm: {file or wrap} failed with {code}", file=sys.stderr)
        return code
    print(next(_ids))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
