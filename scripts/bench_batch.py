#!/usr/bin/env python3
"""Bookkeeping benchmark of `fadca batch`: makes FAMILIES tiny random
families (one folder each, L = 30, N = 40, seeded), runs `fadca batch` over
them, then `fadca batch --resume` over the complete output, and prints

- the wall time of each run and the peak memory (RSS) of the batch process
  itself (not its children), read from /proc while it runs;
- the time per family beyond training: (wall x jobs - sum of the families'
  training seconds) / families, i.e. process start, reading, weights,
  contacts, files and the batch's own bookkeeping.

    scripts/bench_batch.py [--families 10000] [--jobs 2] [--binary PATH] [--work DIR]

Only the standard library is used. The families are kept in WORK/families
between runs (made once per count).
"""
import argparse, json, os, random, subprocess, sys, threading, time


def make_families(root, count):
    aa = "ACDEFGHIKLMNPQRSTVWY"
    stamp = os.path.join(root, f".made-{count}")
    if os.path.exists(stamp):
        return
    rng = random.Random(5)
    for k in range(count):
        d = os.path.join(root, f"fam{k:05d}")
        os.makedirs(d, exist_ok=True)
        query = [rng.choice(aa) for _ in range(30)]
        lines = [">query", "".join(query)]
        for n in range(39):
            row = [c if rng.random() > 0.3 else rng.choice(aa + "-") for c in query]
            lines += [f">s{n}", "".join(row)]
        with open(os.path.join(d, "msa.fasta"), "w") as fh:
            fh.write("\n".join(lines) + "\n")
    open(stamp, "w").close()


def run(cmd):
    """Runs `cmd`; returns (wall seconds, peak RSS of the process in MiB)."""
    peak = [0]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def watch():
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.strip()}")
    return wall, peak[0] / 1024


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(root, "target", "release", "fadca"))
    ap.add_argument("--work", default="/tmp/fadca-bench-batch")
    a = ap.parse_args()
    fams = os.path.join(a.work, f"families-{a.families}")
    out = os.path.join(a.work, f"out-{a.families}")
    os.makedirs(fams, exist_ok=True)
    make_families(fams, a.families)
    subprocess.run(["rm", "-rf", out], check=True)
    batch = [a.binary, "batch", fams, "--jobs", str(a.jobs), "-o", out, "--quiet"]
    wall, rss = run(batch)
    resume_wall, resume_rss = run(batch + ["--resume"])
    with open(os.path.join(out, "summary.json")) as fh:
        rows = json.load(fh)["families"]
    train = 0.0
    for row in rows:
        with open(os.path.join(row["dir"], "summary.json")) as fh:
            train += json.load(fh)["timings"]["train"]
    n = len(rows)
    print(f"families {n}, jobs {a.jobs}: batch {wall:.1f} s (peak RSS of the batch process {rss:.0f} MiB), "
          f"--resume {resume_wall:.2f} s ({resume_rss:.0f} MiB); training {train:.1f} s in all; "
          f"beyond training {(wall * a.jobs - train) / n * 1000:.0f} ms per family")


if __name__ == "__main__":
    main()
