# %% [markdown]
# # fadca in a notebook: the embedded example, end to end
#
# Reads the embedded synthetic family (`msa/example.fasta`, 224 planted
# contacts), trains the default model, scores the prediction against the
# planted contacts and plots the contact map. Run it from the repository
# root with the Python that `make python` installed fadca into:
#
#     ~/.cache/fadca/venv-torch-2.13.0/bin/python examples/notebook.py
#
# or open it as a notebook (the `# %%` cells: VS Code, or Jupyter with
# jupytext). matplotlib is needed for the plot only (`pip install
# matplotlib`); without it the figure is skipped.

# %%
import numpy as np

import fadca

aln = fadca.read_alignment("msa/example.fasta")
print(aln)
print("states", aln.msa.shape, aln.msa.dtype, "M_eff", round(aln.meff, 1))

# %% Train (the GIL is released; Ctrl-C stops training cleanly)
p = fadca.predict(aln, threads=2, seed=0)
print(p.model, "-", p.model_reason)
print("loss", [round(x, 3) for x in p.summary["loss_curve"][::5]])

# %% The best long-range contacts, 1-based like the files
top = p.contacts(top=10, min_separation=6)
for i, j, score in top:
    print(f"{i:3d} {j:3d}  {aln.query[i - 1]}-{aln.query[j - 1]}  {score:.3f}")

# %% Precision against the planted contacts (what score.json holds)
report = fadca.score(p, contacts="msa/example.contacts.tsv")
for cls in ("all", "short", "medium", "long"):
    print(cls, {k: round(v, 3) for k, v in report["precision"][cls].items() if v is not None})

# %% The contact map: predicted top-L pairs over the planted ones
planted = np.loadtxt("msa/example.contacts.tsv", skiprows=1, dtype=int)[:, :2]
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed: no figure (pip install matplotlib)")

if plt is not None:
    best = p.contacts(top=p.length)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(p.scores, cmap="Greys", origin="upper")
    ax.scatter(planted[:, 1] - 1, planted[:, 0] - 1, s=8, c="tab:blue", label="planted")
    ax.scatter(best["i"] - 1, best["j"] - 1, s=8, c="tab:red", label="top-L predicted")
    ax.set_title(f"{p.model}: top-L precision {report['precision']['all']['L']:.2f}")
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig("contact_map_python.png", dpi=120)
    print("wrote contact_map_python.png")
