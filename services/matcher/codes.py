"""The packing of VRMs into int64 codes, and look-alike classes (see index.py for how the index
uses them).

Each normalised VRM (1-10 chars of A-Z0-9) is packed into one int64 *code*: 6 bits per character,
first character in the most significant field, unused trailing fields zero (digits are 1..10, letters
11..36, so the length is implicit and codes of different lengths never collide).  The *skeleton* of a
VRM replaces every character by the representative of its look-alike class and is packed the same way.
Two VRMs have the same skeleton exactly when they have the same length and every differing position
holds two characters of one class; the differing positions are the non-zero 6-bit fields of
``code_a ^ code_b``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from anpr.vrm import MAX_VRM_LENGTH, is_valid_vrm

DEFAULT_LOOKALIKE_CLASSES: tuple[str, ...] = ("O0DQ", "I1L", "B8", "S5", "Z2", "G6")

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BITS = 6
_FIELD = (1 << _BITS) - 1
_WIDTH = MAX_VRM_LENGTH + 1  # one extra byte column detects over-long input in bulk loads
_INVALID = 255

# char -> 6-bit value (1..36); 0 is "no character".
_CHAR_VALUE: dict[str, int] = {ch: i + 1 for i, ch in enumerate(_ALPHABET)}
_VALUE_CHAR: tuple[str, ...] = ("", *_ALPHABET)
# Shift of the 6-bit field holding position i (position 0 is the most significant field).
_SHIFTS: tuple[int, ...] = tuple(_BITS * (MAX_VRM_LENGTH - 1 - i) for i in range(MAX_VRM_LENGTH))

# byte -> 6-bit value, NUL -> 0 (padding), anything else -> _INVALID.
_BYTE_VALUE = np.full(256, _INVALID, dtype=np.uint8)
_BYTE_VALUE[0] = 0
for _ch, _v in _CHAR_VALUE.items():
    _BYTE_VALUE[ord(_ch)] = _v
del _ch, _v


def _merged_classes(classes: Sequence[str]) -> list[str]:
    """The classes with overlapping ones merged (union-find), each sorted, in sorted order."""
    if isinstance(classes, (str, bytes)):
        raise TypeError("classes must be a sequence of strings such as ['O0DQ', 'B8'], not one string")
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for cls in classes:
        if not isinstance(cls, str):
            raise TypeError(f"look-alike class must be a str, got {type(cls).__name__}")
        for ch in cls:
            if ch not in _CHAR_VALUE:
                raise ValueError(f"look-alike class {cls!r}: {ch!r} is not one of A-Z, 0-9")
            parent.setdefault(ch, ch)
        for a, b in itertools.pairwise(cls):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, set[str]] = {}
    for ch in parent:
        groups.setdefault(find(ch), set()).add(ch)
    return sorted("".join(sorted(g)) for g in groups.values() if len(g) > 1)


class LookalikeClasses:
    """Classes of characters an ANPR camera may confuse (e.g. ``"B8"``).

    Overlapping classes are merged (``["AB", "BC"]`` is one class ``"ABC"``).  Each class is
    represented by its smallest character (digits sort before letters).
    """

    __slots__ = ("_byte_rep", "_classes", "_rep", "_translate", "_value_rep")

    def __init__(self, classes: Sequence[str] = DEFAULT_LOOKALIKE_CLASSES) -> None:
        merged = _merged_classes(classes)
        self._classes: tuple[str, ...] = tuple(merged)
        rep = {ch: ch for ch in _ALPHABET}
        for cls in merged:
            for ch in cls:
                rep[ch] = cls[0]
        self._rep: dict[str, str] = rep
        self._translate = str.maketrans(rep)
        # 6-bit value -> representative's 6-bit value (0 -> 0), as a tuple and as a numpy table.
        value_rep = [0] * 64
        for ch, r in rep.items():
            value_rep[_CHAR_VALUE[ch]] = _CHAR_VALUE[r]
        self._value_rep: tuple[int, ...] = tuple(value_rep)
        byte_rep = np.zeros(256, dtype=np.uint8)
        byte_rep[:64] = value_rep
        self._byte_rep = byte_rep

    @property
    def classes(self) -> tuple[str, ...]:
        """The merged classes, each sorted, in sorted order (single characters omitted)."""
        return self._classes

    def representative(self, ch: str) -> str:
        """The class representative of one character (the character itself if in no class)."""
        try:
            return self._rep[ch]
        except KeyError:
            raise ValueError(f"{ch!r} is not one of A-Z, 0-9") from None

    def same_class(self, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` are equal or in one look-alike class."""
        return self.representative(a) == self.representative(b)

    def skeleton(self, vrm: str) -> str:
        """``vrm`` with each character replaced by its class representative (``"B0"`` -> ``"80"``)."""
        return vrm.translate(self._translate)

    def encode(self, vrm: str) -> tuple[int, int]:
        """``(code, skeleton_code)`` of a normalised VRM; ``ValueError`` if it is not valid."""
        if not isinstance(vrm, str):
            raise TypeError(f"VRM must be a str, got {type(vrm).__name__}")
        n = len(vrm)
        if not 0 < n <= MAX_VRM_LENGTH:
            raise ValueError(f"VRM must be 1-{MAX_VRM_LENGTH} characters, got {vrm!r}")
        values = _CHAR_VALUE
        value_rep = self._value_rep
        code = skel = 0
        try:
            for ch in vrm:
                v = values[ch]
                code = (code << _BITS) | v
                skel = (skel << _BITS) | value_rep[v]
        except KeyError:
            raise ValueError(f"VRM must be normalised (A-Z, 0-9 only), got {vrm!r}") from None
        pad = _BITS * (MAX_VRM_LENGTH - n)
        return code << pad, skel << pad

    def encode_many(self, vrms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, skeleton codes)`` of many normalised VRMs at once (int64 arrays; ``ValueError``
        if one is not valid)."""
        codes, skels, bad = self.encode_checked(vrms)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} VRMs are not normalised")
        return codes, skels

    def encode_checked(self, vrms: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``encode_many`` without raising: ``(codes, skeleton codes, bad)``, where ``bad`` marks
        the VRMs that are not normalised (their codes are meaningless)."""
        try:
            codes, skels, bad = _encode_block(_block_bytes(vrms, 0, len(vrms)), self._byte_rep)
        except ValueError:  # not ASCII
            bad = np.array([not is_valid_vrm(v) for v in vrms], dtype=bool)
            codes, skels, _ = _encode_block(
                _block_bytes([v if not b else "0" for v, b in zip(vrms, bad, strict=True)], 0, len(vrms)),
                self._byte_rep,
            )
        return codes, skels, bad | (codes == 0)

    def value_table(self) -> np.ndarray:
        """6-bit value -> its representative's 6-bit value, as an int64 table (0 -> 0)."""
        return np.array(self._value_rep, dtype=np.int64)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LookalikeClasses) and other._classes == self._classes

    def __hash__(self) -> int:
        return hash(self._classes)

    def __repr__(self) -> str:
        return f"LookalikeClasses({list(self._classes)!r})"


def decode_vrm(code: int) -> str:
    """Inverse of the VRM packing used by the index (for display and tests)."""
    chars = []
    for shift in _SHIFTS:
        v = (code >> shift) & _FIELD
        if v == 0:
            break
        chars.append(_VALUE_CHAR[v])
    return "".join(chars)


# Bit 0 of every 6-bit field.  For x = code_a ^ code_b, folding each field onto its bit 0 and
# counting bits gives the number of differing positions with one int.bit_count().
_FIELD_LOW_BITS = sum(1 << shift for shift in _SHIFTS)
# position of a field's bit 0 -> VRM position
_LOW_BIT_POSITION = {1 << shift: i for i, shift in enumerate(_SHIFTS)}


def differing_fields(a, b):
    """``a ^ b`` with each 6-bit field folded onto its bit 0: set where the two codes differ
    (Python ints, or int64 numpy arrays element-wise)."""
    x = a ^ b
    y = x | (x >> 1) | (x >> 2)
    return (y | (y >> 3)) & _FIELD_LOW_BITS


def scan_group(candidates, code: int, max_differences: int, found: list, skip=()) -> None:
    """Append to `found` ``(n differences, positions, entry id, code)`` of each ``(code, entry
    id)`` candidate equal to `code` or differing in at most `max_differences` fields; ids in
    `skip` are passed over."""
    for c, eid in candidates:
        if skip and eid in skip:
            continue
        if c == code:
            found.append((0, (), eid, c))
        elif max_differences:
            y = differing_fields(c, code)
            nd = y.bit_count()
            if nd == 1:  # the usual look-alike: no loop over the positions
                found.append((1, (_LOW_BIT_POSITION[y],), eid, c))
            elif nd <= max_differences:
                found.append(_with_positions(y, eid, c))


def _with_positions(y: int, eid: int, code: int) -> tuple[int, tuple[int, ...], int, int]:
    """(n differences, positions ascending, entry id, code) from a folded difference mask ``y``."""
    pos = []
    while y:
        low = y & -y
        pos.append(_LOW_BIT_POSITION[low])
        y ^= low
    pos.reverse()  # low bits are the last positions
    return len(pos), tuple(pos), eid, code


def _block_bytes(vrms: Sequence[str] | np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the input as an (m, _WIDTH) uint8 array, NUL padded."""
    block = vrms[start:stop]
    if isinstance(block, np.ndarray):
        if block.dtype.kind == "O":
            block = block.tolist()
        elif block.dtype.kind not in "US":
            raise TypeError(f"vrms array must hold strings, got dtype {block.dtype}")
    if not isinstance(block, np.ndarray):
        kinds = set(map(type, block))
        if not kinds <= {str}:
            bad = next(v for v in block if type(v) is not str)
            raise TypeError(f"VRMs must be str, got {type(bad).__name__}: {bad!r}")
    try:
        arr = np.asarray(block, dtype=f"S{_WIDTH}") if not isinstance(block, np.ndarray) else block.astype(f"S{_WIDTH}")
    except UnicodeEncodeError as exc:
        raise ValueError(f"VRMs are not normalised (A-Z, 0-9 only): {exc}") from None
    return arr.view(np.uint8).reshape(-1, _WIDTH)


def _encode_block(raw: np.ndarray, byte_rep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, skeleton codes, bad-row mask) of an (m, _WIDTH) uint8 block."""
    vals = _BYTE_VALUE[raw]
    present = vals != 0
    bad = (vals == _INVALID).any(axis=1)
    bad |= ~present[:, 0]  # empty
    bad |= present[:, MAX_VRM_LENGTH]  # longer than MAX_VRM_LENGTH
    bad |= (~present[:, :-1] & present[:, 1:]).any(axis=1)  # interior NUL
    reps = byte_rep[vals]
    m = vals.shape[0]
    code = np.zeros(m, dtype=np.int64)
    skel = np.zeros(m, dtype=np.int64)
    for i in range(MAX_VRM_LENGTH):
        code <<= _BITS
        code |= vals[:, i]
        skel <<= _BITS
        skel |= reps[:, i]
    return code, skel, bad
