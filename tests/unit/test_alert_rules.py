"""ops/prometheus/alerts.yml: well-formed rules that point at the runbook and use only our metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from service.observability import Metrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
SEVERITIES = {"page", "ticket"}

# PromQL words that are not metric names: functions, aggregations, operators, keywords.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "rate", "irate", "increase", "delta", "idelta", "deriv", "absent", "absent_over_time",
    "histogram_quantile", "changes", "resets", "clamp_min", "clamp_max", "abs", "ceil", "floor", "round",
    "time", "timestamp", "vector", "scalar", "label_replace", "label_join", "sort", "sort_desc",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "predict_linear", "and", "or", "unless", "bool", "offset",
}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _rule_ids() -> list[str]:
    return [rule.get("alert", "?") for rule in _rules()]


def _metric_labels() -> dict[str, set[str]]:
    """Every series name a `Metrics()` registry can expose (with the _total/_bucket/_count/_sum/_created
    suffixes of its type), mapped to the label names it carries."""
    metrics = Metrics()
    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_count", "_sum", "_created"],
                "gauge": [""]}
    # A labelled metric exposes no sample until first used, so its label names come from its wrapper.
    label_names = {family.name: set(wrapper._labelnames)
                   for wrapper in vars(metrics).values() if isinstance(wrapper, MetricWrapperBase)
                   for family in wrapper.collect()}
    labels: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for suffix in suffixes[family.type]:
            labels[family.name + suffix] = set(label_names.get(family.name, set()))
        if family.type == "histogram":
            labels[family.name + "_bucket"].add("le")
    return labels


def _selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) for every vector selector in a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                      # string literals
    text = re.sub(r"\[[^\]]*\]", "", text)                               # range / subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = []
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?", text):
        name, matchers, call = match.group(1), match.group(2), match.group(3)
        if call or name in PROMQL_WORDS:
            continue
        label_names = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers or ""))
        found.append((name, label_names))
    return found


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    lines = RUNBOOK.read_text().splitlines()
    return {_slug(line.lstrip("#")) for line in lines if re.match(r"#{1,6} ", line)}


def test_alert_file_has_groups_of_rules() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert document["groups"], "no rule groups"
    for group in document["groups"]:
        assert group["name"] and group["rules"], group


def test_alert_names_are_unique() -> None:
    names = _rule_ids()
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("rule", _rules(), ids=_rule_ids())
def test_rule_has_alert_expr_for_severity_and_summary(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
    assert isinstance(rule["expr"], str) and rule["expr"].strip()
    assert re.fullmatch(r"\d+[smhd]", str(rule["for"])), rule["for"]
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()


@pytest.mark.parametrize("rule", _rules(), ids=_rule_ids())
def test_rule_runbook_points_at_a_runbook_heading(rule: dict[str, Any]) -> None:
    runbook = rule["annotations"]["runbook"]
    path, _, anchor = runbook.partition("#")
    assert path == "docs/runbook.md" and anchor, runbook
    assert anchor in _runbook_anchors(), f"docs/runbook.md has no heading for #{anchor}"


@pytest.mark.parametrize("rule", _rules(), ids=_rule_ids())
def test_rule_uses_only_metrics_the_service_exposes(rule: dict[str, Any]) -> None:
    known = _metric_labels()
    selectors = _selectors(rule["expr"])
    assert selectors, "the expression selects no metric"
    for name, _labels in selectors:
        assert name in known, f"{name} is not defined in service/observability.py"


@pytest.mark.parametrize("rule", _rules(), ids=_rule_ids())
def test_rule_matches_only_labels_the_metric_has(rule: dict[str, Any]) -> None:
    known = _metric_labels()
    for name, label_names in _selectors(rule["expr"]):
        assert label_names <= known.get(name, set()), f"{name} has no label(s) {label_names - known[name]}"


def test_selector_parser_sees_names_and_skips_functions_and_groupings() -> None:
    expr = 'sum by (kind) (increase(ob_jobs_total{outcome="failed"}[30m])) / max(up{job="x"}) > 1e3'
    assert _selectors(expr) == [("ob_jobs_total", {"outcome"}), ("up", {"job"})]
