"""State of the C library's ``rand()``, so a resumed run continues its sequence.

OpenCV's selective search (PUL's proposals) draws from ``rand()``, a process-wide generator
that neither torch, NumPy nor Python seed or save. A fresh process starts it in the same state,
so a run from scratch is reproducible; a resumed run must get back the state the interrupted
run had reached, or PUL's round-2 proposals differ.

The state is read and written through glibc's ``initstate``/``setstate``: switching to a scratch
buffer makes glibc store the current position in the state buffer's first word, the buffer is
copied (or overwritten), and switching back resumes from it. Reading leaves the sequence
unchanged. Where those functions are missing (not glibc), :func:`get_state` returns None.
"""
from __future__ import annotations

import ctypes
import ctypes.util

#: Table degree of each glibc random() type (TYPE_0 .. TYPE_4); the buffer holds one more word.
_DEGREES = {0: 0, 1: 7, 2: 15, 3: 31, 4: 63}
_SCRATCH_BYTES = 256
_scratch = ctypes.create_string_buffer(_SCRATCH_BYTES)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        initstate, setstate = libc.initstate, libc.setstate
        # The buffer layout below is glibc's: refuse other C libraries.
        libc.gnu_get_libc_version
    except (OSError, AttributeError):
        return None
    initstate.restype = ctypes.c_void_p
    initstate.argtypes = [ctypes.c_uint, ctypes.c_void_p, ctypes.c_size_t]
    setstate.restype = ctypes.c_void_p
    setstate.argtypes = [ctypes.c_void_p]
    return libc


_LIBC = _libc()


def get_state() -> list[int] | None:
    """Return the bytes of ``rand()``'s state buffer (None where it cannot be read)."""
    if _LIBC is None:
        return None
    current = _LIBC.initstate(1, _scratch, _SCRATCH_BYTES)
    try:
        kind = ctypes.c_int32.from_address(current).value % len(_DEGREES)
        return list(ctypes.string_at(current, 4 * (_DEGREES[kind] + 1)))
    finally:
        _LIBC.setstate(current)


def set_state(state: list[int]) -> None:
    """Continue ``rand()`` from a :func:`get_state` result of the same kind of buffer."""
    if _LIBC is None:
        raise RuntimeError("the C library's rand() state cannot be set on this platform")
    current = _LIBC.initstate(1, _scratch, _SCRATCH_BYTES)
    try:
        kind = ctypes.c_int32.from_address(current).value % len(_DEGREES)
        if len(state) != 4 * (_DEGREES[kind] + 1):
            raise ValueError(f"rand() state of {len(state)} bytes does not fit this process's "
                             f"({4 * (_DEGREES[kind] + 1)} bytes)")
        ctypes.memmove(current, bytes(state), len(state))
    finally:
        _LIBC.setstate(current)
