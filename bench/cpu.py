"""CPU time spent by the processes a benchmark row drives, per turn of its warm phase.

On this machine the function, moto, the upstream stubs and the harness share two cores, so a warm p50 tracks
the CPU every one of them spends on a request, not only the function's. The keyed-latency row reports both
side by side (bench/keyedlatency.py): where the wall-clock ratio follows the CPU ratio, what a design adds is
work, and a network's delays (which cost no CPU) hide it.

Linux's /proc/<pid>/stat counts user and system time in clock ticks (10 ms where CONFIG_HZ is 100), for every
thread the process has had, ended ones included (moto serves each request on a thread of its own).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_cpu_ms(pid: int) -> float:
    """User + system CPU time of process `pid` and all its threads so far, in ms (tick resolution)."""
    with open(f"/proc/{pid}/stat") as stat:
        # Fields after the command name (which may hold spaces, but never a ")"): utime and stime are the
        # 14th and 15th fields of the line, the 12th and 13th after it.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / _TICKS_PER_SECOND


class CpuMeter:
    """CPU each of `pids` (name -> pid) spends while a turn runs, summed over the turn's runs."""

    def __init__(self, pids: Mapping[str, int], *, read: Callable[[int], float] = process_cpu_ms) -> None:
        self._pids = dict(pids)
        self._read = read
        self._spent: dict[str, dict[str, float]] = {}
        self._invocations: dict[str, int] = {}

    @contextmanager
    def measure(self, turn: str, invocations: int) -> Iterator[None]:
        before = {name: self._read(pid) for name, pid in self._pids.items()}
        yield
        spent = self._spent.setdefault(turn, dict.fromkeys(self._pids, 0.0))
        for name, pid in self._pids.items():
            spent[name] += self._read(pid) - before[name]
        self._invocations[turn] = self._invocations.get(turn, 0) + invocations

    def per_invocation(self, turn: str) -> dict[str, float] | None:
        """ms of CPU per invocation of `turn`, by process and in total; None if the turn never ran."""
        invocations = self._invocations.get(turn)
        if not invocations:
            return None
        per_process = {name: spent / invocations for name, spent in self._spent[turn].items()}
        return {**per_process, "total": sum(per_process.values())}
