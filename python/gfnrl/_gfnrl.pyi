from typing import Optional, Annotated

import numpy
from numpy.typing import NDArray


def cuda_available() -> bool:
    """True when a CUDA device can be used"""

def cuda_compiled() -> bool:
    """True when this build contains the CUDA backend"""

def algo_names() -> list[str]:
    """the learners' names, in Algo order"""

def backend_names() -> list[str]:
    """the backend names: cpu, cuda, auto"""

def environment_names() -> list[str]:
    """the generated environments' names"""

class Dag:
    """A DAG of states, level-sorted (state 0 is the source), on one backend."""

    @property
    def num_states(self) -> int:
        """number of states N (ids 0..N-1, level-sorted)"""

    @property
    def num_edges(self) -> int:
        """number of inner edges E (exits not counted)"""

    @property
    def num_levels(self) -> int:
        """number of levels (longest path from the source, plus one)"""

    @property
    def exit_action(self) -> int:
        """the action id of the exit (one more than the largest edge action)"""

    @property
    def backend(self) -> str:
        """'cpu' or 'cuda': where the DAG's arrays live"""

    @property
    def kind(self) -> str:
        """
        what made it: hypergrid, subsets, bitseq, dag-structure, ising, set-addition, binary-tree, tree, file, edges
        """

    def edges(self) -> tuple:
        """
        (src, dst, action): int32 arrays, one entry per edge in the library's edge order
        """

    def log_rewards(self) -> NDArray[numpy.float64]:
        """float64 [num_states]: log R(x), -inf where a state does not terminate"""

    def intermediate_log_rewards(self) -> Optional[NDArray[numpy.float64]]:
        """
        float64 [num_states] or None: each state's intermediate log-reward -E(s) (-inf where none), which forward-looking flows (fldb, flsubtb) read where log R is -inf
        """

    def labels(self) -> NDArray[numpy.int64]:
        """
        int64 [num_states]: each state's id in the caller's numbering (from_edges, a DAG file) or the environment's code
        """

    def log_z(self) -> float:
        """log Z = log sum_x R(x), in double"""

    def coords(self) -> NDArray[numpy.int32]:
        """hypergrids: int32 [num_states, ndim], the coordinates of each state"""

    @staticmethod
    def from_edges(src: Annotated[NDArray[numpy.int32], dict(order='C', device='cpu', writable=False)], dst: Annotated[NDArray[numpy.int32], dict(order='C', device='cpu', writable=False)], action: Annotated[NDArray[numpy.int32], dict(order='C', device='cpu', writable=False)], log_reward: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], source: int = 0, backend: str = 'auto', intermediate_log_reward: Optional[Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)]] = None) -> Dag:
        """
        A DAG from an edge list in your own state ids (0..len(log_reward)-1); log_reward[s] = -inf where s does not terminate; intermediate_log_reward (optional): -E(s) per state for forward-looking flows, -inf where none. Validated: cycles, duplicate edges, unreachable states and dead ends raise ValueError.
        """

def hypergrid(ndim: int, height: int, r0: float = 0.001, r1: float = 0.5, r2: float = 2.0, backend: str = 'auto', regions: str = 'exact') -> Dag:
    """
    The hypergrid {0..height-1}^ndim (docs/USAGE.md, 'Environments'); regions 'exact' decides the reward regions in rational arithmetic, 'float64' as float64 reference codes do.
    """

def subsets(items: int = 8, pairwise_scale: float = 0.5, seed: int = 0, backend: str = 'auto') -> Dag:
    """Sets built one item at a time (2^items states)."""

def bitseq(length: int = 8, word: int = 2, modes: int = 4, beta: float = 1.0, seed: int = 0, backend: str = 'auto') -> Dag:
    """
    Bit strings built by appending or prepending words; log R = -beta * Hamming distance to the nearest mode.
    """

def dag_structure(nodes: int = 4, samples: int = 100, seed: int = 0, backend: str = 'auto', score: str = 'bic') -> Dag:
    """
    Bayesian-network structures built one edge at a time; reward BIC or BGe (score='bge').
    """

def ising(spins: int = 9, coupling: str = 'lattice', coupling_constant: float = 0.44, beta: float = 1.0, backend: str = 'auto') -> Dag:
    """
    torchgfn's DiscreteEBM with an Ising energy: spins set one at a time (3^spins states), log R = beta * coupling_constant * s^T J s, J a ring, an L x L torus ('lattice') or 'all' pairs.
    """

def set_addition(items: int = 8, max_items: int = 4, fixed_length: bool = False, pairwise_scale: float = 0.5, seed: int = 0, backend: str = 'auto') -> Dag:
    """
    torchgfn's SetAddition: sets of at most max_items items built one item at a time, the subsets energies; labels are torchgfn's state indices.
    """

def binary_tree(depth: int = 4, beta: float = 1.0, seed: int = 0, backend: str = 'auto') -> Dag:
    """
    torchgfn's PerfectBinaryTree: nodes breadth-first, leaves terminate with log R = beta * U(-1, 1).
    """

def tree(dag: Dag, max_states: int = 67108864) -> Dag:
    """
    The autoregressive (tree) version of a DAG: one state per path from the source.
    """

def load_dag(path: str, backend: str = 'auto') -> Dag:
    """
    A DAG file (text or binary, docs/USAGE.md 'DAG files'); P_B values it carries are kept for solve(correction='file').
    """


def trainer_options() -> list[str]:
    """the option names Trainer(**options) accepts"""
