#!/usr/bin/env python3
"""Writes small.fasta (200 sequences x 30 columns) and small.contacts.tsv, the
tiny alignment of the predict tests. Seeded, standard library only:

    python3 tests/data/predict/make_small.py

Every sequence starts as a copy of a fixed query, each site is resampled at
random with probability 0.4, and four planted pairs (i, j) co-vary: column j
takes the state of column i shifted by a fixed offset, so their couplings are
strong. About 3 % of the sites are gaps. The planted pairs are also written as
a contact list (`i j`, 1-based) for --native-contacts.
"""
import random

ALPHABET = "ARNDCQEGHILKMFPSTWYV"
L, N = 30, 200
PAIRS = [(2, 14), (5, 27), (9, 21), (17, 30)]  # 1-based, separation >= 6

rng = random.Random(20240601)
query = [rng.choice(ALPHABET) for _ in range(L)]
rows = []
for n in range(N):
    if n == 0:
        rows.append("".join(query))
        continue
    seq = [c if rng.random() > 0.4 else rng.choice(ALPHABET) for c in query]
    for i, j in PAIRS:
        a = ALPHABET.index(seq[i - 1])
        seq[j - 1] = ALPHABET[(a + 7) % 20]
    seq = [c if rng.random() > 0.03 else "-" for c in seq]
    rows.append("".join(seq))
# the query must satisfy the planted relation too
q = list(rows[0])
for i, j in PAIRS:
    q[j - 1] = ALPHABET[(ALPHABET.index(q[i - 1]) + 7) % 20]
rows[0] = "".join(q)

with open("tests/data/predict/small.fasta", "w") as f:
    for n, row in enumerate(rows):
        f.write(f">seq{n}{' query' if n == 0 else ''}\n{row}\n")
with open("tests/data/predict/small.contacts.tsv", "w") as f:
    f.write("i\tj\n")
    for i, j in PAIRS:
        f.write(f"{i}\t{j}\n")
