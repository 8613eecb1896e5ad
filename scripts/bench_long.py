#!/usr/bin/env python3
"""Long-protein benchmark of factored attention (`make bench-long`): what the
model whose table is built a block of sites at a time costs where the Potts
model does not fit.

Cases (each one `fadca predict --model factored --threads T`):

- `sim-L1000`, `sim-L3000`: families simulated with planted contacts
  (`fadca simulate -L 1000|3000 --samples M`), trained for 10 passes at
  L = 1000 and one at L = 3000 (--sim-epochs E for both), scored against
  the planted contacts;
- `random-L3000-N5000`, `random-L1500-N20000`: random alignments (seeded,
  5 % gaps), one epoch (`--epochs 1`): memory and time per step only.

Printed per case: N, L, peak RSS of the predict process (ru_maxrss), wall
time, training seconds per optimiser step (summary.json: train time / steps),
contact-extraction seconds and, for the simulated families, precision of the
planted contacts (top-L and top-L/5, |i-j| >= 6). The table also goes to
OUT/bench_long.tsv.

    scripts/bench_long.py [--binary PATH] [--out DIR] [--threads 2]
                          [--only sim-L1000,...] [--samples 3000] [--sim-epochs E]

Only the standard library is used. Inputs are made once in OUT/inputs.
"""
import argparse, json, os, random, subprocess, sys, time

CASES = ["sim-L1000", "sim-L3000", "random-L3000-N5000", "random-L1500-N20000"]


def random_alignment(path, n, l, seed):
    if os.path.exists(path):
        return
    aa = "ACDEFGHIKLMNPQRSTVWY"
    rng = random.Random(seed)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(">query\n" + "".join(rng.choice(aa) for _ in range(l)) + "\n")
        for k in range(n - 1):
            row = "".join("-" if rng.random() < 0.05 else rng.choice(aa) for _ in range(l))
            f.write(f">s{k}\n{row}\n")
    os.replace(tmp, path)


def simulated(binary, folder, l, samples):
    if os.path.exists(os.path.join(folder, "simulate.json")):
        return
    subprocess.run([binary, "simulate", "-L", str(l), "--samples", str(samples), "--seed", "1",
                    "-o", folder], check=True, stdout=subprocess.DEVNULL)


def run_case(binary, out, case, a):
    inputs = os.path.join(out, "inputs")
    os.makedirs(inputs, exist_ok=True)
    extra = []
    if case.startswith("sim-"):
        l = int(case[len("sim-L"):])
        folder = os.path.join(inputs, case)
        simulated(binary, folder, l, a.samples)
        msa = os.path.join(folder, "msa.fasta")
        extra = ["--native-contacts", os.path.join(folder, "contacts.tsv")]
        # A full schedule (about 400 steps) at L = 3000 would take hours on
        # two cores: by default 10 passes at L = 1000, one at L = 3000.
        epochs = a.sim_epochs or (10 if l <= 1000 else 1)
        extra += ["--epochs", str(epochs)]
    else:
        _, ls, ns = case.split("-")
        l, n = int(ls[1:]), int(ns[1:])
        msa = os.path.join(inputs, f"{case}.fasta")
        random_alignment(msa, n, l, seed=l + n)
        extra = ["--epochs", "1"]
    dest = os.path.join(out, case)
    cmd = [binary, "predict", msa, "--model", "factored", "-o", dest, "--model-out",
           os.path.join(dest, "model.safetensors"), "--threads", str(a.threads), "--quiet",
           "--force"] + extra
    os.makedirs(out, exist_ok=True)
    err_path = os.path.join(out, f"{case}.stderr")
    t0 = time.time()
    with open(err_path, "w") as err:
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        # wait4: this child's own peak RSS (ru_maxrss, KiB).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - t0
    peak_kib = usage.ru_maxrss
    if child.returncode != 0:
        return [case, "FAILED", open(err_path).read().strip().splitlines()[-1:]]
    s = json.load(open(os.path.join(dest, "summary.json")))
    t = s["timings"]
    p = s.get("precision") or {}
    prec = lambda k: f"{p['all'][k]:.3f}" if p.get("all") and p["all"].get(k) is not None else "-"
    return [case, s["n_kept"], s["length"], f"{peak_kib / 1048576:.2f}",
            f"{wall:.1f}", s["steps"], f"{t['train'] / max(s['steps'], 1):.2f}", f"{t['contacts']:.1f}",
            prec("L"), prec("L/5")]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(root, "target", "release", "fadca"))
    ap.add_argument("--out", default="/tmp/fadca-bench-long")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--sim-epochs", type=int, default=0)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = [c for c in a.only.split(",") if c] or CASES
    cols = ["case", "N", "L", "peak_GiB", "wall_s", "steps", "s_per_step", "contacts_s", "P@L", "P@L/5"]
    lines = ["\t".join(cols)]
    print(lines[0], flush=True)
    for case in only:
        row = run_case(a.binary, a.out, case, a)
        lines.append("\t".join(str(x) for x in row))
        print(lines[-1], flush=True)
    lines.append(f"# threads {a.threads}; peak_GiB: the predict process's peak RSS")
    print(lines[-1])
    with open(os.path.join(a.out, "bench_long.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
