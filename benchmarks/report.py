"""The figures as the report shows them: each a measured value, the reference it is a ratio
to (measured in the same run), the ratio and its target. A target is reported, never asserted."""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    reference: str
    reference_value: float
    target: str = ""  # ">= 0.8", "<= 1.2", "<= 20" (compared with the ratio, or the value)
    on_value: bool = False  # the target bounds the value itself (latencies), not the ratio

    @classmethod
    def alone(cls, name: str, value: float, unit: str, target: str = "") -> Figure:
        """A figure without a reference (a latency); its target bounds the value."""
        return cls(name, value, unit, "", 0, target, on_value=True)

    @property
    def ratio(self) -> float:
        return round(self.value / self.reference_value, 3) if self.reference_value else 0.0

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        sign, bound = self.target.split()
        compare = operator.ge if sign == ">=" else operator.le
        return bool(compare(self.value if self.on_value else self.ratio, float(bound)))

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def table(figures: list[Figure]) -> str:
    lines = [
        "| figure | value | reference | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        met = {None: "", True: "yes", False: "NO"}[f.met]
        reference = f"{f.reference} {f.reference_value:g}" if f.reference else ""
        ratio = "" if f.on_value or not f.reference_value else f"{f.ratio:g}"
        lines.append(
            f"| {f.name} | {f.value:g} {f.unit} | {reference} | {ratio} | {f.target} | {met} |"
        )
    return "\n".join(lines)
