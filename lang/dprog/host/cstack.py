"""Python's recursion limit during a run, sized to the C stack of the running thread.

Deep dprog recursion is deep Python recursion (about 40 frames per dprog
call), and Python 3.11 crashes the whole process with SIGSEGV instead of
raising when a thread's C stack runs out. So while an interpreter runs, the
recursion limit is raised to make room for `max_depth`, but never beyond what
the *real* stack of the running thread holds: a host thread made with
`threading.stack_size(512 * 1024)` or a shell with `ulimit -s 1024` gets a
smaller limit and a clean "recursion too deep for the host" error (issue 18,
item 5).

The limit is process-wide: with runs on several threads it is the smallest
of their caps. It is restored when the last run ends, unless the host changed
it meanwhile (then the host's value stays: issue 18, item 11).
"""

from __future__ import annotations

import _thread
import os
import sys

from ..core.lazy import lazy_module

# Only off Linux, to tell the main thread (core/lazy.py): importing threading, and
# its shutdown at exit, cost `dp -c "print(1)"` ~7 M instructions (W5).
threading = lazy_module("threading")

# Bytes of C stack budgeted per Python frame: a frame reached through C calls
# (closures are called via tp_call) costs up to a few hundred bytes; measured, 8 MB
# held 20000 frames of the worst pattern tried, this budget gives ~11000.
STACK_BYTES_PER_FRAME = 768
# C stack kept free of Python frames (NumPy, the regex engine, the report formatter).
_RESERVE = 128 << 10
_MIN_LIMIT = 100  # a smaller stack than ~200 KB cannot run dprog usefully anyway

_lock = _thread.allocate_lock()
_caps: list[tuple[int, int]] = []  # (thread id, its cap) per outermost run of an interpreter
_users = 0
_saved = 0
_ours = 0  # the limit we set last (to notice a host's own change)


def _thread_stack_bytes() -> int | None:
    """This thread's stack size from the C library (Linux/glibc), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # only for threads other than the main one: not on the start-up path

        libc = ctypes.CDLL(None)
        attr = ctypes.create_string_buffer(256)  # pthread_attr_t is 56 bytes on x86-64
        libc.pthread_self.restype = ctypes.c_ulong
        if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) != 0:
            return None
        addr, size = ctypes.c_void_p(), ctypes.c_size_t()
        ok = libc.pthread_attr_getstack(attr, ctypes.byref(addr), ctypes.byref(size)) == 0
        libc.pthread_attr_destroy(attr)
        return size.value if ok and size.value > 0 else None
    except (OSError, AttributeError, ImportError):
        return None


_main_stack = [0]  # the main thread's, read once (`forget` reads it again)
_main_ident = [None]  # the main thread's `_thread.get_ident()`, once seen


def _on_main_thread() -> bool:
    """Whether this is the process's main thread. On Linux its thread id is the
    process id (also in a child after fork), so `threading` need not be imported."""
    main = _main_ident[0]
    if main is not None:
        return _thread.get_ident() == main
    if sys.platform.startswith("linux"):
        if _thread.get_native_id() == os.getpid():
            _main_ident[0] = _thread.get_ident()
            return True
        return False
    return threading.current_thread() is threading.main_thread()


def forget() -> None:
    """Read the main thread's stack size again at the next run (a new interpreter does:
    a host may have changed RLIMIT_STACK since)."""
    _main_stack[0] = 0


def stack_bytes() -> int:
    """The C stack size of the current thread, as far as it can be known (the main
    thread's cached: reading the limit is a system call, and each host call asks)."""
    if not _on_main_thread():
        size = _thread_stack_bytes() or _thread.stack_size()
        if size:
            return size
    elif _main_stack[0]:
        return _main_stack[0]
    else:
        _main_stack[0] = _main_stack_bytes()
        return _main_stack[0]
    return _main_stack_bytes()


def _main_stack_bytes() -> int:
    """The stack limit of the process (RLIMIT_STACK), else the platform's default."""
    try:
        import resource  # a small built-in module

        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            return soft
    except (ImportError, OSError, ValueError):
        pass
    return 1 << 20 if sys.platform == "win32" else 8 << 20


def _frames_in_use() -> int:
    f, n = sys._getframe(), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


def thread_cap() -> int:
    """The recursion limit this thread's C stack can hold, counting the frames
    already on it (the host's own) at the full per-frame budget."""
    room = (stack_bytes() - _RESERVE) // STACK_BYTES_PER_FRAME
    return max(_MIN_LIMIT, room)


def enter(want: int) -> None:
    """Make room for `want` Python frames on this thread, within its C stack."""
    global _users, _saved, _ours
    cap = thread_cap()
    with _lock:
        current = sys.getrecursionlimit()
        if _users == 0:
            _saved = current
        elif current != _ours:  # the host changed it during a run: that is its new base
            _saved = current
        _users += 1
        _caps.append((_thread.get_ident(), cap))
        limit = min(max(want, _saved), *(c for _, c in _caps))
        if limit >= current + 50:  # the depth is below `current`: room enough, no walk
            sys.setrecursionlimit(limit)
        elif limit != current:
            sys.setrecursionlimit(max(limit, _frames_in_use() + 50))
        _ours = sys.getrecursionlimit()


def exit_() -> None:
    """End this thread's run: restore the host's limit after the last one."""
    global _users, _ours
    with _lock:
        _users -= 1
        me = _thread.get_ident()
        for i in range(len(_caps) - 1, -1, -1):
            if _caps[i][0] == me:
                del _caps[i]
                break
        current = sys.getrecursionlimit()
        if current != _ours:  # set by the host during the run: keep it
            return
        if _users == 0:
            target = _saved
        else:
            target = min(max(_saved, current), *(c for _, c in _caps))
        if target != current:
            sys.setrecursionlimit(max(target, _frames_in_use() + 50))
        _ours = sys.getrecursionlimit()
