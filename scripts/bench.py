#!/usr/bin/env python3
"""Contact benchmark: runs `fadca predict --pdb` on every family of a manifest
(default ../shared/bench/families.tsv) one after another, and prints per family
the wall and CPU seconds of the whole command (reading, weights, training,
contacts, files) and the precision it reached, then the totals and means;
the same table is written to OUT/bench.tsv.

    scripts/bench.py [--manifest FILE] [--threads 2] [--out DIR]
                     [--baseline OTHER_FADCA] [-- extra predict flags]

With --baseline, every family is run by the baseline binary and then by this
one, back to back (the same flags), so that a speed claim is a ratio measured
in one run on one machine: the table gets the baseline's wall seconds and
precision beside this binary's, and the summary line the ratio of the total
wall times and the families that got slower or lost precision.

Only the standard library is used. Families without a structure are skipped.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time


def run_one(binary, name, msa, pdb, chain, out, threads, extra):
    """Runs one family; returns (wall, cpu, summary) or (None, error)."""
    cmd = [binary, "predict", msa, "-o", out, "--model-out", os.path.join(out, "model.safetensors"),
           "--pdb", pdb, "--chain", chain, "--threads", str(threads), "--quiet"] + extra
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    return (wall, cpu, json.load(open(os.path.join(out, "summary.json")))), None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=os.path.join(root, "..", "shared", "bench", "families.tsv"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/fadca-bench")
    ap.add_argument("--binary", default=os.path.join(root, "target", "release", "fadca"))
    ap.add_argument("--baseline", default="", help="another fadca binary, run before this one on each family")
    ap.add_argument("--only", default="", help="comma-separated family names")
    ap.add_argument("extra", nargs="*", help="extra flags for fadca predict (after --)")
    a = ap.parse_args()
    base = os.path.dirname(os.path.abspath(a.manifest))
    rows = [l.rstrip("\n").split("\t") for l in open(a.manifest)][1:]
    only = set(filter(None, a.only.split(",")))
    cols = ["family", "N", "L", "Meff", "wall_s", "cpu_s", "p_L_all", "p_L2_all", "p_L5_all", "p_L_long", "p_L5_long"]
    if a.baseline:
        cols += ["base_wall_s", "base_p_L_all", "steps", "base_steps"]
    lines = ["\t".join(cols)]
    print(lines[0], flush=True)
    results = []
    for f in rows:
        if len(f) < 4 or not f[2] or (only and f[0] not in only):
            continue
        name, msa, pdb, chain = f[0], os.path.join(base, f[1]), os.path.join(base, f[2]), f[3]
        baseline = None
        if a.baseline:
            baseline, err = run_one(a.baseline, name, msa, pdb, chain, os.path.join(a.out, "baseline", name),
                                    a.threads, a.extra)
            if baseline is None:
                print(f"{name}\tBASELINE FAILED: {err}", flush=True)
                continue
        done, err = run_one(a.binary, name, msa, pdb, chain, os.path.join(a.out, name), a.threads, a.extra)
        if done is None:
            print(f"{name}\tFAILED: {err}", flush=True)
            continue
        wall, cpu, s = done
        p = s["precision"]
        r = [name, s["n_kept"], s["length"], round(s["meff"], 1), round(wall, 2), round(cpu, 1),
             p["all"]["L"], p["all"]["L/2"], p["all"]["L/5"], p["long"]["L"], p["long"]["L/5"]]
        if baseline:
            bwall, _, bs = baseline
            r += [round(bwall, 2), bs["precision"]["all"]["L"], s.get("steps"), bs.get("steps")]
        results.append(r)
        lines.append("\t".join(f"{x:.4f}" if isinstance(x, float) and i >= 6 and i != 11 else str(x)
                               for i, x in enumerate(r)))
        print(lines[-1], flush=True)
    if results:
        mean = lambda k: statistics.mean(r[k] or 0.0 for r in results)
        total = sum(r[4] for r in results)
        lines.append(f"# {len(results)} families: total wall {total:.1f} s, CPU {sum(r[5] for r in results):.1f} s; "
                     f"mean P@L all {mean(6):.4f}, L/2 {mean(7):.4f}, L/5 {mean(8):.4f}, long P@L {mean(9):.4f}; "
                     f"threads {a.threads}; flags: {' '.join(a.extra) or '(defaults)'}")
        if a.baseline:
            btotal = sum(r[11] for r in results)
            slower = [r[0] for r in results if r[4] > r[11]]
            worse = [f"{r[0]} ({r[6] - r[12]:+.3f})" for r in results if r[6] < r[12] - 0.02]
            lines.append(f"# baseline {a.baseline}: total wall {btotal:.1f} s, mean P@L all {mean(12):.4f}; "
                         f"ratio {total / btotal:.3f}; slower than the baseline: {', '.join(slower) or 'none'}; "
                         f"more than 0.02 below it: {', '.join(worse) or 'none'}")
        print("\n".join(lines[-1 - bool(a.baseline):]))
        with open(os.path.join(a.out, "bench.tsv"), "w") as fh:
            fh.write("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
