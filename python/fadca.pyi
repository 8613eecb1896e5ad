"""fadca: protein residue contacts from a multiple sequence alignment.

Type stubs of the compiled module (editors complete the API from here).
Residues are numbered 1..L along the query, as in the files fadca writes.
"""

import os
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

__version__: str
"""The fadca version (the crate's)."""

ALPHABET: str
"""States in index order, ``"ARNDCQEGHILKMFPSTWYV-"`` (20 is the gap)."""

_Path = Union[str, "os.PathLike[str]"]

class InputError(ValueError):
    """Bad input, with the message the command line prints.

    ``file``, ``line``, ``column`` and ``record`` (``(number, name)``) say
    where; each is None when it does not apply.
    """

    file: Optional[str]
    line: Optional[int]
    column: Optional[int]
    record: Optional[tuple[int, str]]

class Alignment:
    """An alignment as fadca trains on it (read-only numpy arrays)."""

    @property
    def msa(self) -> npt.NDArray[np.uint8]:
        """States, N x L, 0-20 in ``alphabet`` order; row 0 is the query."""
    @property
    def weights(self) -> npt.NDArray[np.float64]:
        """Sequence weights, length N."""
    @property
    def meff(self) -> float:
        """M_eff, the sum of the weights."""
    @property
    def query(self) -> str:
        """The query's residues over the kept columns (1..L)."""
    @property
    def query_name(self) -> str: ...
    @property
    def names(self) -> list[str]:
        """Names of the kept sequences, the query first."""
    @property
    def alphabet(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def format(self) -> str:
        """``fasta``, ``a3m``, ``stockholm`` or ``aln``."""
    @property
    def sha256(self) -> str: ...
    @property
    def theta(self) -> float:
        """Identity threshold of the weights (1: unweighted)."""
    @property
    def length(self) -> int:
        """Query length L."""
    @property
    def stats(self) -> dict[str, int]:
        """``n_read``, ``n_dropped_gappy``, ``n_kept``, ``n_columns``, ``n_columns_dropped``."""
    def __len__(self) -> int:
        """Number of sequences N."""

class Prediction:
    """A trained model's contact prediction (made by :func:`predict`)."""

    @property
    def scores(self) -> npt.NDArray[np.float64]:
        """L x L APC-corrected symmetric scores: the numbers in ``contacts.mat``."""
    @property
    def length(self) -> int: ...
    @property
    def model(self) -> str:
        """The model trained: ``"factored"`` or ``"potts"``."""
    @property
    def model_reason(self) -> str:
        """Why that model."""
    @property
    def alignment(self) -> Alignment:
        """The alignment trained on."""
    @property
    def summary(self) -> dict[str, Any]:
        """The dict of ``summary.json`` (after :meth:`save`, what it wrote)."""
    def contacts(self, top: Optional[int] = None, min_separation: int = 6) -> np.ndarray:
        """Pairs best first: a structured array with fields ``i``, ``j`` (1-based) and ``score``."""
    def couplings(self) -> npt.NDArray[np.float32]:
        """Trained asymmetric couplings ``J[i, j, a, b]``, L x L x 21 x 21 (MemoryError when too large)."""
    def save(
        self,
        folder: _Path,
        *,
        model_path: Optional[_Path] = None,
        couplings: bool = False,
        structure: Optional[_Path] = None,
        contacts: Optional[_Path] = None,
        chain: Optional[str] = None,
        atoms: str = "cb",
        cutoff: float = 8.0,
        force_mapping: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """Writes the files ``fadca predict`` writes; returns the summary."""

class Simulation:
    """A synthetic family made by :func:`simulate`."""

    @property
    def alignment(self) -> Alignment: ...
    @property
    def contacts(self) -> npt.NDArray[np.int64]:
        """Planted contacts, K x 2, 1-based ``i < j``."""
    @property
    def report(self) -> dict[str, Any]:
        """What ``simulate.json`` holds."""

def read_alignment(
    path: _Path,
    *,
    theta: float = 0.8,
    max_gap_fraction: float = 0.9,
    keep_query_gaps: bool = False,
    format: Optional[str] = None,
) -> Alignment:
    """Reads and weighs an alignment (FASTA/A2M, A3M, Stockholm, PSICOV; gzipped or not)."""

def predict(
    alignment: Union[_Path, Alignment],
    *,
    model: str = "auto",
    seed: int = 0,
    threads: Optional[int] = None,
    device: str = "cpu",
    progress: bool = True,
    name: Optional[str] = None,
    heads: Optional[int] = None,
    head_dim: Optional[int] = None,
    epochs: Optional[int] = None,
    steps: Optional[int] = None,
    batch_size: Optional[int] = None,
    learning_rate: Optional[float] = None,
    lambda_j: Optional[float] = None,
    lambda_h: Optional[float] = None,
    objective: Optional[str] = None,
    mask_prob: Optional[float] = None,
    max_memory: Optional[Union[int, str]] = None,
    max_seqs: Optional[int] = None,
    theta: float = 0.8,
    max_gap_fraction: float = 0.9,
    keep_query_gaps: bool = False,
    format: Optional[str] = None,
) -> Prediction:
    """Trains a model and returns its contact prediction, as ``fadca predict`` does."""

def score(
    prediction: Union[Prediction, _Path],
    structure: Optional[_Path] = None,
    *,
    contacts: Optional[_Path] = None,
    chain: Optional[str] = None,
    cutoff: float = 8.0,
    atoms: str = "cb",
    force_mapping: bool = False,
    msa: Optional[_Path] = None,
    keep_query_gaps: bool = False,
    output: Optional[_Path] = None,
) -> dict[str, Any]:
    """Precision against a structure or contact list: the dict ``score.json`` holds."""

def simulate(
    *,
    length: int = 60,
    heads: int = 4,
    samples: int = 3000,
    seed: int = 1,
    coupling_strength: float = 0.4,
    cutoff: float = 6.0,
    min_separation: int = 3,
    chains: int = 8,
    burn_in: Optional[int] = None,
    thin: Optional[int] = None,
    output: Optional[_Path] = None,
) -> Simulation:
    """A synthetic family with known contacts, as ``fadca simulate`` makes it."""
