"""Tic-tac-toe for learning by playing: the rules, three fixed players and a referee.

A board is a tuple of 9 ints, squares numbered row by row::

    0 | 1 | 2
    3 | 4 | 5        X = 1, O = -1, empty = 0; X moves first,
    6 | 7 | 8        so the player to move follows from the counts.

    b = board("X.O......")            # from a string, a 3x3 nested list, or 9 numbers
    b = play(b, 4)                    # X takes the centre -> a new board
    legal_moves(b), winner(b)         # [1, 3, 5, 6, 7, 8], None (the game goes on)
    match(perfect_player(rng), random_player(rng), games=100)  # {"win": .., "draw": .., "loss": ..}

A player is any function ``board -> move``; :func:`dlbook.mcts.mcts_player` makes one from a network.
"""

from collections.abc import Callable, Sequence

import numpy as np

X, O, EMPTY = 1, -1, 0  # noqa: E741 (O is the player's name)
Board = tuple[int, ...]
Player = Callable[[Board], int]
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_SYMBOLS = {"X": X, "x": X, "O": O, "o": O, ".": EMPTY, "-": EMPTY, "_": EMPTY}


def board(cells: str | Sequence = "") -> Board:
    """A checked board from ``"X.O......"`` (9 of X, O and .), a 3x3 nested list, or 9 numbers in {1, -1, 0}.

    No argument gives the empty board. Raises ValueError for a wrong shape, an unknown mark, or counts
    that no game can reach (X moves first, so X has as many marks as O, or one more).
    """
    if isinstance(cells, str):
        text = "".join(cells.split()).replace("|", "") or "." * 9  # whitespace and bars are layout
        unknown = sorted(set(text) - set(_SYMBOLS))
        if unknown:
            raise ValueError(f"unknown marks {unknown} in {cells!r}: use X, O and . (empty), 9 squares row by row.")
        values = [_SYMBOLS[c] for c in text]
    else:
        shape = np.shape(cells)
        if shape not in ((9,), (3, 3)):
            raise ValueError(f"a board has 9 squares, as 9 numbers or 3x3; got shape {shape}.")
        values = np.asarray(cells).reshape(-1).tolist()
    if len(values) != 9:
        raise ValueError(f"a board has 9 squares (row by row), got {len(values)}: {cells!r}.")
    if any(v not in (X, O, EMPTY) for v in values):
        raise ValueError(f"squares hold 1 (X), -1 (O) or 0 (empty); got {values}.")
    b = tuple(int(v) for v in values)
    if not 0 <= b.count(X) - b.count(O) <= 1:
        raise ValueError(f"X moves first, so X has as many marks as O or one more; got {b.count(X)} X, {b.count(O)} O.")
    return b


def to_move(b: Board) -> int:
    """The player to move: X (1) when the marks are level, else O (-1)."""
    return X if sum(b) == 0 else O


def winner(b: Board) -> int | None:
    """1 if X has three in a row, -1 if O has, 0 for a full board with no line (a draw), None while the game is on."""
    for i, j, k in LINES:
        if b[i] != EMPTY and b[i] == b[j] == b[k]:
            return b[i]
    return 0 if EMPTY not in b else None


def legal_moves(b: Board) -> list[int]:
    """The empty squares of a game still going on (none once someone has won)."""
    if winner(b) is not None:
        return []
    return [i for i, v in enumerate(b) if v == EMPTY]


def play(b: Board, move: int) -> Board:
    """The board after the player to move marks square ``move`` (0-8). Raises ValueError for an illegal move."""
    if len(b) != 9:
        raise ValueError(f"a board has 9 squares; got {len(b)}. Build one with dlbook.games.board(...).")
    if not isinstance(move, int | np.integer) or not 0 <= move < 9 or b[move] != EMPTY or winner(b) is not None:
        raise ValueError(f"illegal move {move!r} on {render(b)!r}: legal moves are {legal_moves(b)}.")
    return b[:move] + (to_move(b),) + b[move + 1 :]


def render(b: Board) -> str:
    """The board as three lines of X, O and ., e.g. for print()."""
    marks = {X: "X", O: "O", EMPTY: "."}
    return "\n".join("".join(marks[v] for v in b[r : r + 3]) for r in (0, 3, 6))


def encode(boards: Sequence[Board]) -> np.ndarray:
    """Boards as the network sees them, from the side of the player to move: (n, 18) float32.

    The first 9 numbers mark the squares of the player to move, the last 9 the opponent's, so one
    network plays both X and O.
    """
    b = np.asarray(boards, dtype=np.float32).reshape(-1, 9)
    side = np.where(b.sum(1, keepdims=True) == 0, 1.0, -1.0).astype(np.float32)
    own = b * side
    return np.concatenate([own == 1, own == -1], axis=1).astype(np.float32)


# the 8 symmetries of the square, each a permutation of the squares: new[i] = old[perm[i]]
_GRID = np.arange(9).reshape(3, 3)
SYMMETRIES = tuple(
    tuple(int(i) for i in np.rot90(g, k).reshape(-1)) for g in (_GRID, _GRID.T) for k in range(4)
)


def symmetries(boards: np.ndarray, policies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each (board, move distribution) pair in its 8 rotations and reflections.

    boards: (n, 9), policies: (n, 9) -> (8n, 9), (8n, 9); a rotated board goes with its rotated policy.
    """
    boards, policies = np.asarray(boards), np.asarray(policies)
    if boards.ndim != 2 or boards.shape[1] != 9 or policies.shape != boards.shape:
        raise ValueError(f"boards and policies must both be (n, 9); got {boards.shape} and {policies.shape}.")
    perms = [list(p) for p in SYMMETRIES]
    return np.concatenate([boards[:, p] for p in perms]), np.concatenate([policies[:, p] for p in perms])


_VALUES: dict[Board, int] = {}  # minimax values found so far: each position is solved once


def minimax_value(b: Board) -> int:
    """The game's value for the player to move with perfect play by both: 1 win, 0 draw, -1 loss."""
    if b not in _VALUES:
        w = winner(b)
        if w is not None:  # a finished game: the last mover won (-1 for the player to move) or drew
            _VALUES[b] = w * to_move(b)
        else:  # the best move is the one that leaves the opponent the worst position
            _VALUES[b] = max(-minimax_value(play(b, m)) for m in legal_moves(b))
    return _VALUES[b]


def positions() -> list[Board]:
    """Every board a game can reach on which someone is still to move (4,520 of them), empty board first."""
    seen, frontier = {board(): None}, [board()]
    while frontier:
        b = frontier.pop()
        for m in legal_moves(b):
            child = play(b, m)
            if child not in seen and winner(child) is None:
                seen[child] = None
                frontier.append(child)
    return list(seen)


def best_moves(b: Board) -> list[int]:
    """Every move that keeps the best outcome minimax can guarantee."""
    return [m for m in legal_moves(b) if -minimax_value(play(b, m)) == minimax_value(b)]


def perfect_player(rng: np.random.Generator) -> Player:
    """A player that never loses: a random choice among the minimax-best moves."""

    def move(b: Board) -> int:
        return int(rng.choice(best_moves(b)))

    return move


def random_player(rng: np.random.Generator) -> Player:
    """A player that marks a random empty square."""

    def move(b: Board) -> int:
        return int(rng.choice(legal_moves(b)))

    return move


def rule_player(rng: np.random.Generator) -> Player:
    """A player with a beginner's rules: win if it can, else block a line, else the centre, a corner, any square."""

    def move(b: Board) -> int:
        moves, me = legal_moves(b), to_move(b)
        for side in (me, -me):  # first complete our own line, then block theirs
            for line in LINES:
                marks = [b[i] for i in line]
                if marks.count(side) == 2 and marks.count(EMPTY) == 1:
                    return line[marks.index(EMPTY)]
        for preferred in ([4], [0, 2, 6, 8]):
            free = [m for m in preferred if m in moves]
            if free:
                return int(rng.choice(free))
        return int(rng.choice(moves))

    return move


def play_game(x_player: Player, o_player: Player, start: Board | None = None) -> int:
    """Play one game to the end; the winner: 1 (X), -1 (O) or 0 (a draw). Raises ValueError on an illegal move."""
    b = board() if start is None else board(start)
    while winner(b) is None:
        b = play(b, (x_player if to_move(b) == X else o_player)(b))
    return winner(b)


def match(agent: Player, opponent: Player, games: int, agent_first: bool = True) -> dict[str, int]:
    """Play ``games`` games with the agent as X (``agent_first``) or O; counts of the agent's wins, draws, losses."""
    if not isinstance(games, int) or games < 1:
        raise ValueError(f"games must be a positive int, got {games!r}.")
    side = X if agent_first else O
    counts = {"win": 0, "draw": 0, "loss": 0}
    for _ in range(games):
        w = play_game(agent, opponent) if agent_first else play_game(opponent, agent)
        counts["draw" if w == 0 else "win" if w == side else "loss"] += 1
    return counts
