"""bench/cpu.py: the CPU a benchmark's processes spend, per turn of a warm phase."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.cpu import CpuMeter, process_cpu_ms

# Each line read from stdin starts the next step, and each step ends with a line written: 300 ms of work,
# then 300 ms of sleep.
BUSY_THEN_ASLEEP = """
import sys, time
sys.stdin.readline()
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print(flush=True)
sys.stdin.readline()
time.sleep(0.3)
print(flush=True)
sys.stdin.readline()
"""


def test_a_process_cpu_counts_its_work_and_not_its_sleep():
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY_THEN_ASLEEP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:

        def step() -> float:
            before = process_cpu_ms(child.pid)
            child.stdin.write("\n")
            child.stdin.flush()
            child.stdout.readline()
            return process_cpu_ms(child.pid) - before

        busy, asleep = step(), step()
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    assert 250 <= busy <= 600, busy  # 300 ms of work, counted in 10 ms ticks
    assert asleep <= 50, asleep


def test_this_process_is_readable_too():
    start = process_cpu_ms(os.getpid())
    end = time.process_time() + 0.1
    while time.process_time() < end:
        pass
    assert process_cpu_ms(os.getpid()) - start >= 50


def test_the_meter_sums_each_turn_by_process_per_invocation():
    clock = {1: 0.0, 2: 0.0}
    meter = CpuMeter({"function": 1, "moto": 2}, read=clock.__getitem__)
    turns = (("keyed", (30.0, 50.0), 10), ("unkeyed", (10.0, 20.0), 10), ("keyed", (10.0, 10.0), 10))
    for turn, spent, invocations in turns:
        with meter.measure(turn, invocations):
            clock[1] += spent[0]
            clock[2] += spent[1]
    assert meter.per_invocation("keyed") == {"function": 2.0, "moto": 3.0, "total": 5.0}
    assert meter.per_invocation("unkeyed") == {"function": 1.0, "moto": 2.0, "total": 3.0}
    assert meter.per_invocation("never") is None


def test_time_outside_a_turn_is_not_counted():
    clock = {1: 0.0}
    meter = CpuMeter({"function": 1}, read=clock.__getitem__)
    clock[1] += 100.0  # before any turn: the warm-up
    with meter.measure("keyed", 4):
        clock[1] += 8.0
    clock[1] += 100.0  # between turns
    assert meter.per_invocation("keyed") == {"function": 2.0, "total": 2.0}
