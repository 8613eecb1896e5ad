#!/usr/bin/env python3
"""Shared values across families (issue #19): k-fold cross-validation over the
DEV families (default 4 folds; --folds 20 = leave-one-family-out). For each
fold, `fadca train-values` trains values on the families outside the fold;
each family of the fold is then predicted with them, fixed and fine-tuned
(`fadca predict --model factored --values V [--train-values]`), on its full
alignment and on random subsets of 30 / 100 / 300 sequences (`--max-seqs N
--seed S`: sampled by weight, query kept), against the single-family
factored model and the Potts model on the same subsets. Families without a
structure are neither trained on nor scored.

    scripts/bench_values.py [--manifest FILE] [--folds 4] [--steps 400] [--threads 2]
                            [--out DIR] [--depths full,30,100,300] [--skip-baselines full]
                            [--run-folds 0,1]

Every run's folder is kept under OUT; a run whose summary.json exists is not
done again (the script resumes). OUT/results.tsv has one line per run, then
the table of mean top-L precision (all separations >= 6) per method and depth
and the times. Only the standard library is used.
"""
import argparse, json, os, statistics, subprocess, sys, time

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=os.path.join(root, "..", "shared", "bench", "families.tsv"))
    ap.add_argument("--binary", default=os.path.join(root, "target", "release", "fadca"))
    ap.add_argument("--out", default="/tmp/fadca-bench-values")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depths", default="full,30,100,300")
    ap.add_argument("--skip-baselines", default="", help="depths whose baselines are not run (e.g. full)")
    ap.add_argument("--values-flags", default="", help="extra flags for fadca train-values")
    ap.add_argument("--run-folds", default="", help="comma-separated folds to run (default: all)")
    ap.add_argument("--tag", default="", help="suffix of the values files and shared-* method names (a variant)")
    ap.add_argument("--shared-only", action="store_true", help="only the shared values, fixed (no fine-tuning, no baselines)")
    a = ap.parse_args()
    base = os.path.dirname(os.path.abspath(a.manifest))
    rows = [l.rstrip("\n").split("\t") for l in open(a.manifest)][1:]
    fams = [(r[0], os.path.join(base, r[1]), os.path.join(base, r[2]), r[3]) for r in rows if len(r) > 3 and r[2]]
    unscored = [r[0] for r in rows if not (len(r) > 3 and r[2])]
    depths = a.depths.split(",")
    skip = set(filter(None, a.skip_baselines.split(",")))
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "runs.tsv"), "a")

    def predict(name, msa, pdb, chain, method, depth, extra):
        out = os.path.join(a.out, method, depth, name)
        summary = os.path.join(out, "summary.json")
        if not os.path.exists(summary):
            cmd = [a.binary, "predict", msa, "-o", out, "--model-out", os.path.join(out, "model.safetensors"),
                   "--pdb", pdb, "--chain", chain, "--threads", str(a.threads), "--quiet", "--force"] + extra
            if depth != "full":
                cmd += ["--max-seqs", depth, "--seed", str(a.seed)]
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                print(f"{name} {method} {depth} FAILED: {proc.stderr.strip()}", flush=True)
                return
        s = json.load(open(summary))
        p = s["precision"]["all"]["L"]
        line = f"{method}\t{depth}\t{name}\t{p:.4f}\t{s['timings']['train']:.2f}"
        print(line, flush=True)
        log.write(line + "\n"); log.flush()

    run_folds = [int(x) for x in a.run_folds.split(",") if x] or list(range(a.folds))
    for k in run_folds:
        held = [f for i, f in enumerate(fams) if i % a.folds == k]
        values = os.path.join(a.out, "values", f"fold{k}{a.tag}.safetensors")
        os.makedirs(os.path.dirname(values), exist_ok=True)
        if not os.path.exists(values):
            exclude = ",".join([f[0] for f in held] + unscored)
            t0 = time.time()
            cmd = [a.binary, "train-values", a.manifest, "--exclude", exclude, "-o", values,
                   "--steps", str(a.steps), "--threads", str(a.threads), "--seed", str(a.seed),
                   "--quiet", "--resume"] + a.values_flags.split()
            subprocess.run(cmd, check=True)
            line = f"train-values\tfold{k}{a.tag}\t{len(fams) - len(held)} families\t-\t{time.time() - t0:.1f}"
            print(line, flush=True)
            log.write(line + "\n"); log.flush()
        # Family by family, every method at every depth: each finished
        # family is a complete, matched comparison.
        for name, msa, pdb, chain in held:
            for depth in depths:
                predict(name, msa, pdb, chain, "shared-fixed" + a.tag, depth, ["--model", "factored", "--values", values])
                if a.shared_only:
                    continue
                predict(name, msa, pdb, chain, "shared-tuned" + a.tag, depth,
                        ["--model", "factored", "--values", values, "--train-values"])
                if depth not in skip:
                    for model in ["factored", "potts"]:
                        predict(name, msa, pdb, chain, model, depth, ["--model", model])
    table(a.out, depths)

def table(out, depths):
    runs = {}
    times = {}
    for line in open(os.path.join(out, "runs.tsv")):
        method, depth, name, p, t = line.rstrip("\n").split("\t")
        if method == "train-values":
            times[depth] = float(t)
            continue
        runs[(method, depth, name)] = (float(p), float(t))
    methods = ["shared-fixed", "shared-tuned", "factored", "potts"]
    # Means over the families every method was run on at that depth (matched).
    lines = ["method\t" + "\t".join(f"P@L {d}" for d in depths) + "\ttrain s/family (full)"]
    common = {}
    for d in depths:
        sets = [{n for (mm, dd, n) in runs if mm == m and dd == d} for m in methods]
        sets = [x for x in sets if x]
        common[d] = set.intersection(*sets) if sets else set()
    for m in methods:
        cells = []
        for d in depths:
            ps = [runs[(m, d, n)][0] for n in sorted(common[d]) if (m, d, n) in runs]
            cells.append(f"{statistics.mean(ps):.3f} (n={len(ps)})" if ps else "-")
        ts = [runs[(m, "full", n)][1] for n in sorted(common.get("full", ())) if (m, "full", n) in runs]
        cells.append(f"{statistics.mean(ts):.1f}" if ts else "-")
        lines.append(m + "\t" + "\t".join(cells))
    for d in depths:
        lines.append(f"# {d}: families " + ",".join(sorted(common[d])))
    if times:
        lines.append("# train-values per fold (s): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(times.items())))
    text = "\n".join(lines) + "\n"
    print(text)
    open(os.path.join(out, "results.tsv"), "w").write(text)

if __name__ == "__main__":
    main()
