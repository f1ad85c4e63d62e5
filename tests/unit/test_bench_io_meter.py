"""bench/worker.py's I/O meter: the time an invocation waits on HTTP is the union of its requests' intervals,
whichever threads make them (a keyed create's claim goes to DynamoDB from another thread)."""

import threading

from bench.worker import IoMeter


class ManualClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def _request(meter: IoMeter, started: threading.Event, finish: threading.Event) -> threading.Thread:
    """A request on a thread of its own, in flight from `started` until `finish` is set."""

    def urlopen(pool: object) -> None:
        started.set()
        finish.wait(timeout=10)

    thread = threading.Thread(target=meter.metered(urlopen), args=(object(),))
    thread.start()
    assert started.wait(timeout=10)
    return thread


def test_requests_overlapping_on_two_threads_count_once_from_the_first_start_to_the_last_end():
    clock = ManualClock()
    meter = IoMeter(clock)
    first_done, second_done = threading.Event(), threading.Event()
    first = _request(meter, threading.Event(), first_done)  # starts at 0
    clock.now = 10
    second = _request(meter, threading.Event(), second_done)  # starts at 10, while the first is in flight
    clock.now = 20
    first_done.set()
    first.join(timeout=10)
    assert meter.total_ns() == 20  # the second is still in flight: counted up to now
    clock.now = 30
    second_done.set()
    second.join(timeout=10)
    # The second outlived the first: its last 10 count too (the old meter timed only a request that found none
    # in flight, and missed them).
    assert meter.total_ns() == 30
    clock.now = 100  # nothing in flight: nothing more counts
    assert meter.total_ns() == 30


def test_time_between_requests_is_not_counted_and_nested_calls_count_once():
    clock = ManualClock()
    meter = IoMeter(clock)

    def retried(pool: object) -> None:
        clock.now += 5
        inner(pool)  # urllib3's urlopen calls itself on a retry or a redirect

    inner = meter.metered(lambda pool: setattr(clock, "now", clock.now + 3))
    meter.metered(retried)(object())
    assert meter.total_ns() == 8
    clock.now += 50  # between two requests
    inner(object())
    assert meter.total_ns() == 11
