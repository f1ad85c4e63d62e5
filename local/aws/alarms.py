"""The template's CloudWatch alarms with an emulated state (`GET /_local/alarms`).

The metrics the local stack itself produces drive their alarms, read generically from the alarm's
namespace, metric and dimensions:
- `AWS/S3 PutRequests` (dimensions BucketName, FilterId): each object the stack writes to a bucket (a failed
  batch) is a request counted under every metrics configuration of that bucket (its `Id` is the FilterId)
  whose prefix the key has;
- `AWS/Lambda DestinationDeliveryFailures` (FunctionName): each failed write to a stream mapping's on-failure
  destination.
An alarm on one of those is ALARM while the Sum of its datapoints over the last Period x EvaluationPeriods
seconds passes its threshold (missing data: notBreaching unless the template says `breaching`), then OK
again. Every other alarm stays OK and says it is not emulated.
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.template import Unresolvable, resources_of_type
from local.template.model import LocalResources

EMULATED = {("AWS/S3", "PutRequests"), ("AWS/Lambda", "DestinationDeliveryFailures")}
# ComparisonOperator → (how it reads, what it does)
_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": (">", operator.gt),
    "GreaterThanOrEqualToThreshold": (">=", operator.ge),
    "LessThanThreshold": ("<", operator.lt),
    "LessThanOrEqualToThreshold": ("<=", operator.le),
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Alarm:
    name: str  # logical id
    namespace: str
    metric: str
    dimensions: dict[str, str]
    window: float  # Period x EvaluationPeriods, seconds
    threshold: float
    comparison: str
    missing_breaches: bool
    emulated: bool
    state: str = "OK"
    updated: float = field(default_factory=time.time)
    datapoints: list[tuple[float, float]] = field(default_factory=list)  # (epoch, value), oldest first

    def evaluate(self, now: float) -> tuple[str, str]:
        """The state at `now` and why."""
        if not self.emulated:
            return "OK", f"not emulated locally ({self.namespace} {self.metric})"
        recent = [value for at, value in self.datapoints if now - self.window < at <= now]
        seconds = f"{self.window:g} s"
        if not recent:
            state = "ALARM" if self.missing_breaches else "OK"
            return state, f"no {self.metric} datapoints in the last {seconds} (missing data is " + (
                "breaching)" if self.missing_breaches else "not breaching)"
            )
        total = sum(recent)
        symbol, compare = _COMPARISONS.get(self.comparison, _COMPARISONS["GreaterThanThreshold"])
        breaching = compare(total, self.threshold)
        return ("ALARM" if breaching else "OK"), (
            f"{self.metric} Sum {total:g} over the last {seconds} "
            f"{'' if breaching else 'not '}{symbol} threshold {self.threshold:g}"
        )


class Alarms:
    def __init__(self, resources: LocalResources, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._alarms: list[Alarm] = []
        started = clock()
        for logical_id, resource in resources_of_type(resources.template, "AWS::CloudWatch::Alarm").items():
            try:
                properties = resources.resolve(resource.get("Properties") or {})
            except (Unresolvable, KeyError, TypeError, ValueError):
                properties = {}
            namespace, metric = str(properties.get("Namespace", "")), str(properties.get("MetricName", ""))
            dimensions = {
                str(item.get("Name")): str(item.get("Value"))
                for item in properties.get("Dimensions") or []
                if isinstance(item, dict)
            }
            try:
                window = float(properties.get("Period", 60)) * float(properties.get("EvaluationPeriods", 1))
                threshold = float(properties.get("Threshold", 0))
            except (TypeError, ValueError):
                window, threshold = 60.0, 0.0
            self._alarms.append(
                Alarm(
                    name=logical_id,
                    namespace=namespace,
                    metric=metric,
                    dimensions=dimensions,
                    window=window,
                    threshold=threshold,
                    comparison=str(properties.get("ComparisonOperator", "GreaterThanThreshold")),
                    missing_breaches=properties.get("TreatMissingData") == "breaching",
                    emulated=(namespace, metric) in EMULATED and bool(properties),
                    updated=started,
                )
            )
        self._metric_filters = _bucket_metric_filters(resources)

    def object_written(self, bucket: str, key: str) -> list[str]:
        """One PutRequests datapoint for `bucket` (per matching metrics configuration); the alarms it
        concerns, each as `<name>: <state change>`."""
        dimension_sets = [
            {"BucketName": bucket, "FilterId": filter_id}
            for filter_id, prefix in self._metric_filters.get(bucket, [])
            if key.startswith(prefix)
        ]
        return self._record("AWS/S3", "PutRequests", dimension_sets)

    def delivery_failed(self, function: str) -> list[str]:
        return self._record("AWS/Lambda", "DestinationDeliveryFailures", [{"FunctionName": function}])

    def _record(self, namespace: str, metric: str, dimension_sets: list[dict[str, str]]) -> list[str]:
        now = self._clock()
        changes = []
        with self._lock:
            for alarm in self._alarms:
                if not alarm.emulated or (alarm.namespace, alarm.metric) != (namespace, metric):
                    continue
                if not any(_covers(alarm.dimensions, dimensions) for dimensions in dimension_sets):
                    continue
                self._settle(alarm, now)
                before = alarm.state
                alarm.datapoints.append((now, 1.0))
                self._settle(alarm, now)
                changes.append(
                    f"{alarm.name}: {before} -> {alarm.state}"
                    if before != alarm.state
                    else f"{alarm.name}: still {alarm.state}"
                )
        return changes

    def _settle(self, alarm: Alarm, now: float) -> str:
        """Bring the alarm's state to `now` (a datapoint leaving the window may have ended an ALARM: its
        update time is when it left); the reason."""
        state, reason = alarm.evaluate(now)
        if state != alarm.state:
            left = [at + alarm.window for at, _ in alarm.datapoints if at + alarm.window <= now]
            alarm.updated = max(left) if state == "OK" and left else now
            alarm.state = state
        # Datapoints that left every window count no more.
        alarm.datapoints = [(at, value) for at, value in alarm.datapoints if at > now - alarm.window]
        return reason

    def describe(self) -> list[dict[str, Any]]:
        now = self._clock()
        rows = []
        with self._lock:
            for alarm in self._alarms:
                reason = self._settle(alarm, now)
                rows.append(
                    {
                        "name": alarm.name,
                        "namespace": alarm.namespace,
                        "metric": alarm.metric,
                        "dimensions": dict(alarm.dimensions),
                        "state": alarm.state,
                        "emulated": alarm.emulated,
                        "reason": reason,
                        "updated": _iso(alarm.updated),
                    }
                )
        return rows


def _covers(wanted: dict[str, str], dimensions: dict[str, str]) -> bool:
    """A datapoint with `dimensions` is in the alarm's metric (CloudWatch: exactly the same dimensions)."""
    return wanted == dimensions


def _bucket_metric_filters(resources: LocalResources) -> dict[str, list[tuple[str, str]]]:
    """bucket name → (metrics configuration Id, its prefix) for each request-metrics configuration (one
    with tag filters counts no object: the stack tags none)."""
    filters: dict[str, list[tuple[str, str]]] = {}
    for logical_id, resource in resources_of_type(resources.template, "AWS::S3::Bucket").items():
        try:
            configurations = resources.resolve(
                (resource.get("Properties") or {}).get("MetricsConfigurations")
            )
        except (Unresolvable, KeyError, TypeError, ValueError):
            continue
        for configuration in configurations or []:
            if (
                isinstance(configuration, dict)
                and configuration.get("Id")
                and not configuration.get("TagFilters")
            ):
                filters.setdefault(resources.physical_ids[logical_id], []).append(
                    (str(configuration["Id"]), str(configuration.get("Prefix") or ""))
                )
    return filters
