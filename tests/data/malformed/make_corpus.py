#!/usr/bin/env python3
"""Writes the malformed-input corpus (run from this folder). The files are
committed; this script only documents how the binary ones were made.
CASES.tsv says how each file is fed to fadca and what the error must say."""
import gzip

def w(name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(name, "wb") as f:
        f.write(data)

# Valid companions (used by the prediction and structure cases).
w("ok.fasta", ">q query\nAGSLVKWY\n>s1\nAGSLVKWF\n>s2\nSGSLIKWY\n")
w("ok.tsv", "i\tj\tscore\n1\t8\t0.9\n2\t7\t0.5\n1\t2\t0.1\n")
w("ok.contacts", "1 8\n2 7\n")

# Alignments.
w("empty.fasta", "")
w("blank_lines.fasta", "\n\n  \n")
w("truncated_record.fasta", ">q\nACDEFGHIK\n>s1\nACDEFGHIK\n>s2\nACDE")
w("header_only.fasta", ">q lonely header\n")
w("bad_char.fasta", ">q\nACDEF\n>s\nAC1EF\n")
w("sequence_before_header.fasta", "ACDEF\n>q\nACDEF\n")
w("binary.fasta", b">q\nAC\x00\x01\x02DEF\n")
w("latin1.fasta", b">q caf\xe9\nACDEF\n")
w("wrong_length.a3m", "#A3M\n>q\nACDEF\n>s\nACDEFG\n")
w("space_in_sequence.a3m", ">q\nAC DEF\n>s\nacACDEF\n")
w("only_insertions.a3m", ">q\nacdef\n>s\nACDEF\n")
w("all_gap_query.a3m", ">q\n-----\n>s\nACDEF\n")
w("no_sequences.sto", "# STOCKHOLM 1.0\n#=GF ID empty\n//\n")
w("single_word.sto", "# STOCKHOLM 1.0\nq ACDE\nlonelyword\n//\n")
w("bad_char.sto", "# STOCKHOLM 1.0\nq ACDE\ns AC_E\n//\n")
w("missing_block.sto", "# STOCKHOLM 1.0\nq ACDE\ns ACDE\n\nq FGHI\n//\n")
w("bad_char.aln", "ACDE\nAC?E\n")
w("wrong_length.aln", "ACDE\nACD\nACDE\n")
w("undetectable.txt", "hello world!\n")
w("fasta_forced_stockholm.fasta", ">q\nACDEF\n>s\nACDEF\n")
w("fasta_forced_aln.fasta", ">q\nACDEF\n>s\nACDEF\n")
w("one_column.fasta", ">q\nA\n>s\nC\n")
full = gzip.compress(b">q\n" + b"ACDEFGHIKL" * 50 + b"\n" + (b">s\n" + b"ACDEFGHIKL" * 50 + b"\n") * 20)
w("truncated.fasta.gz", full[: len(full) // 2])
w("corrupt.a3m.gz", b"\x1f\x8b\x08\x00" + b"not really deflate data" * 4)

# Prediction files (scored against ok.fasta, L = 8).
w("beyond_length.tsv", "i\tj\tscore\n1\t8\t0.9\n3\t99\t0.5\n")
w("bad_score.tsv", "i\tj\tscore\n1\t8\t0.9\n2\t7\tabc\n")
w("zero_index.tsv", "i\tj\tscore\n0\t5\t0.9\n")
w("nan_score.tsv", "i\tj\tscore\n1\t8\tnan\n")
w("empty.tsv", "")
w("short_row.mat", "\n".join("\t".join("0.1" for _ in range(8 if r != 3 else 5)) for r in range(8)) + "\n")
w("wrong_size.mat", "\n".join("\t".join("0.1" for _ in range(5)) for r in range(5)) + "\n")
w("bad_line.rr", "PFRMAT RR\nTARGET T0001\nAGSLVKWY\n1 8 0 8 0.9\n2 7 zero 8 0.5\nEND\n")
w("wrong_sequence_length.rr", "PFRMAT RR\nAGSLV\n1 5 0 8 0.9\nEND\n")
w("bad_letter.ec", "1 A 8 Y 0.5 0.9\n2 G 7 W x 0.3\n")
w("binary.tsv", b"i\tj\tscore\n\x00\x01\x02\x03\n")
w("truncated.tsv.gz", gzip.compress(b"i\tj\tscore\n" + b"1\t8\t0.9\n" * 400)[:40])

# Known contacts lists.
w("beyond_length.contacts", "1 8\n2 300\n")
w("bad_number.contacts", "1 8\n2 x\n")

# Structures (PDB / mmCIF).
atom = lambda n, name, res, chain, seq, x, y, z, el, rec="ATOM  ": (
    f"{rec}{n:5d} {name:<4} {res:>3} {chain}{seq:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00          {el:>2}\n")
w("no_protein.pdb", atom(1, "O", "HOH", "A", 1, 0, 0, 0, "O", "HETATM") + atom(2, "O", "HOH", "A", 2, 3, 0, 0, "O", "HETATM") + "END\n")
w("empty.pdb", "")
w("garbage.pdb", "this is not a structure\njust words\n")
w("bad_coordinates.pdb", atom(1, "CA", "ALA", "A", 1, 0, 0, 0, "C").replace("   0.000   0.000   0.000", "   abcde   0.000   0.000") + "END\n")
w("truncated_atom.pdb", atom(1, "CA", "ALA", "A", 1, 0, 0, 0, "C") + atom(2, "CA", "GLY", "A", 2, 3.8, 0, 0, "C")[:26] + "\n")
w("truncated.cif", "data_X\nloop_\n_atom_site.group_PDB\n_atom_site.id\n_atom_site.type_symbol\n_atom_site.label_atom_id\n_atom_site.label_comp_id\n_atom_site.label_asym_id\n_atom_site.label_seq_id\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\nATOM 1 C CA ALA A 1 0.0 0.0\n")
pdb = "".join(atom(i + 1, "CA", r, "A", i + 1, 3.8 * i, 0, 0, "C") for i, r in enumerate(["ALA", "GLY", "SER", "LEU", "VAL", "LYS", "TRP", "TYR"])) + "END\n"
w("ok.pdb", pdb)
w("truncated.pdb.gz", gzip.compress(pdb.encode() * 5)[:60])

# Found by fuzzing (FUZZING.md).
w("separators_only.rr", "s,\n\n,\n")
# multibyte_char.cif: the structure fuzz crash (tests/data/fuzz-regressions/structure/), minus its selector byte.

# Found by fuzzing: residue numbers that overflow or are implausibly large.
w("huge_residue.tsv", "i\tj\tscore\n1\t8\t0.9\n2\t100000000000000000000000\t0.5\n")
w("implausible_residue.tsv", "i\tj\tscore\n1\t8\t0.9\n2\t1000000000000\t0.5\n")
