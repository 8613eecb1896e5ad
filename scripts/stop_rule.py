#!/usr/bin/env python3
"""Replays stopping rules offline (issue #17) on the checks of runs that
never stopped: `cargo run --release --example tune -- FAMILIES.tsv
model=potts rule=never:25 > trace.txt` prints, per family, a `check` line
at every 25 steps (step, seconds, fraction of the previous top-L set kept,
top-L precision of the model at that step) and the full run's line. Since
the learning-rate schedule runs over the maximum whichever rule cuts it,
the model at a check is exactly the model a rule stopping there would
return, so one run gives every rule's outcome.

    scripts/stop_rule.py trace.txt [--min 100,150,200] [--kept 0.9,0.95,0.97,1.0]
                         [--decrease 1,0.01,0.005] [--in-a-row 1,2,3]

The rules replayed check at the trace's period (its `rule=never:EVERY`).

Prints one line per rule: mean top-L precision, its difference from the
full run, the worst family's difference, and the training time as a
fraction of the full run's (seconds at the stopping check / seconds of the
full run, summed over families). Only the standard library is used.
"""
import argparse, collections

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--min", default="100,150,200,250")
    ap.add_argument("--kept", default="0.9,0.93,0.95,0.97,1.0")
    ap.add_argument("--decrease", default="1", help="largest relative decrease of the objective (1: any)")
    ap.add_argument("--in-a-row", default="1,2,3")
    a = ap.parse_args()
    checks = collections.defaultdict(list)
    full = {}
    for line in open(a.trace):
        f = line.rstrip("\n").split("\t")
        if f[0] == "check":
            kept = None if f[4] == "-" else float(f[4])
            dec = None if len(f) < 8 or f[7] == "-" else float(f[7])
            checks[f[1]].append((int(f[2]), float(f[3]), kept, float(f[5]), dec))
        elif len(f) > 7 and f[1].startswith("N="):
            train = float(f[4].split("=")[1].rstrip("s"))
            p = float(f[7].split("=")[1])
            full[f[0]] = (train, p)
    fams = [k for k in full if checks[k]]
    base_p = sum(full[k][1] for k in fams) / len(fams)
    base_t = sum(full[k][0] for k in fams)
    print(f"{len(fams)} families; full runs: mean P@L {base_p:.4f}, train {base_t:.1f} s")
    rows = []
    rules = [(m, k, d, r) for m in map(int, a.min.split(",")) for k in map(float, a.kept.split(","))
             for d in map(float, a.decrease.split(",")) for r in map(int, a.in_a_row.split(","))]
    for min_steps, kept, decrease, in_a_row in rules:
        ps, ts, worst, stopped = [], 0.0, 0.0, 0
        for k in fams:
            stop, stable = None, 0
            for step, sec, kk, p, dec in checks[k]:
                flat = dec is None and decrease >= 1 or dec is not None and dec <= decrease
                stable = stable + 1 if kk is not None and kk >= kept and flat else 0
                if step >= min_steps and stable >= in_a_row:
                    stop = (sec, p)
                    break
            if stop is None:
                ps.append(full[k][1]); ts += full[k][0]
            else:
                stopped += 1
                ps.append(stop[1]); ts += stop[0]
            worst = min(worst, ps[-1] - full[k][1])
        mp = sum(ps) / len(ps)
        rows.append((min_steps, kept, decrease, in_a_row, mp, mp - base_p, worst, ts / base_t, stopped))
    print("min\tkept\tdecrease\tin_a_row\tP@L\tdiff\tworst\ttime\tstopped")
    for r in rows:
        print(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]:.4f}\t{r[5]:+.4f}\t{r[6]:+.4f}\t{r[7]:.3f}\t{r[8]}")

if __name__ == "__main__":
    main()
