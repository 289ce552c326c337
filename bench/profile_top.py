"""Summarise a py-spy raw (collapsed) profile: where the samples are, by function.

    .venv/bin/python -m bench.profile_top bench/profiles/ingest-batch50.txt [--top 25] [--grep cutman]

Prints self time (the innermost frame) and total time (anywhere on the stack) per
function, as a share of all samples.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int, grep: str | None) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    out = [f"{samples} samples in {path}", "", f"{'self %':>7}  function"]
    out += [f"{n / samples * 100:7.1f}  {f}" for f, n in own.most_common(top) if not grep or grep in f]
    out += ["", f"{'total %':>7}  function"]
    out += [f"{n / samples * 100:7.1f}  {f}" for f, n in total.most_common(top * 3) if not grep or grep in f][:top]
    return "\n".join(out)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("path", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--grep")
    a = p.parse_args()
    print(summarise(a.path, a.top, a.grep))
