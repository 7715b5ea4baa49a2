"""The Prometheus rules (deploy/prometheus) and the Grafana dashboard (deploy/grafana).

promtool (Debian's `prometheus` package) checks the rules and runs their unit tests; every
alert says how bad it is and links a runbook section that exists; the SLO alerts follow the
SRE workbook's burn rates, need a minimum of requests and read the latency SLO's own bucket;
every dashboard query is valid PromQL; and the rules and the dashboard read only metrics that
a real coach api exposes (scraped here) or the canary controller's.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from api.metrics import LATENCY_BUCKETS, SLO_LATENCY_SECONDS
from tests.conftest import REPO
from tests.factories import upserted
from tests.integration.conftest import bearer

RULES_DIR = REPO / "deploy/prometheus"
RULES = RULES_DIR / "coach-rules.yml"
RULE_TESTS = sorted(RULES_DIR.glob("*.test.yml"))
DASHBOARD = REPO / "deploy/grafana/coach-dashboard.json"
RUNBOOK = REPO / "docs/RUNBOOK.md"

ROLLOUT_METRICS = frozenset(
    {
        "coach_rollout_percent",
        "coach_rollout_step",
        "coach_rollout_state",
        "coach_rollout_decisions_total",
        "coach_rollout_check_value",
    }
)
"""What the canary controller (rollout/, issue 17) exposes: its contract with the dashboard."""

BURN_RATE_ALERTS = {
    # name: (SLO's budget, burn rate, long window, short window, severity)
    "CoachWodErrorBudgetBurn1h": (0.001, 14.4, "1h", "5m", "page"),
    "CoachWodErrorBudgetBurn6h": (0.001, 6, "6h", "30m", "page"),
    "CoachWodErrorBudgetBurn3d": (0.001, 1, "3d", "6h", "ticket"),
    "CoachWodLatencyBudgetBurn1h": (0.01, 14.4, "1h", "5m", "page"),
    "CoachWodLatencyBudgetBurn6h": (0.01, 6, "6h", "30m", "page"),
    "CoachWodLatencyBudgetBurn3d": (0.01, 1, "3d", "6h", "ticket"),
}
SECONDS = {"m": 60, "h": 3600, "d": 86400}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$job": ".+"}
"""What each Grafana variable a query uses stands for when promtool checks it."""


def _need_promtool() -> str:
    found = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin:/usr/sbin")
    if found:
        return found
    reason = "promtool is not installed (apt-get install prometheus; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def promtool() -> str:
    return _need_promtool()


def _run(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _panels() -> list[dict[str, Any]]:
    """Every panel but the rows (layout only)."""
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _queries() -> list[tuple[str, str]]:
    """(where, expr) of every dashboard query, Grafana's variables replaced; `where` is
    `panel_<id>_<refId>`, a valid series name (the title is in the assertion messages)."""
    found = []
    for panel in _panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']!r}: a Grafana variable with no stand-in"
            found.append((f"panel_{panel['id']}_{target['refId']}", expr))
    return found


_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names a PromQL expression reads: what is left once
    strings, label matchers, ranges, grouping clauses and function names are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr)
    return {n for n in names if n.lower() not in _KEYWORDS}


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    """The anchors of docs/RUNBOOK.md's headings (not of `#` lines in code blocks)."""
    anchors = set()
    in_code = False
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            anchors.add(_anchor(line.lstrip("#")))
    return anchors


# -- promtool ----------------------------------------------------------------------------------


def test_promtool_checks_the_rules(promtool):
    """The rules parse, their PromQL and templates are valid (`promtool check rules`)."""
    result = _run(promtool, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.slow  # `make check` skips it
def test_the_rules_unit_tests_pass(promtool):
    """`promtool test rules` on every *.test.yml beside the rules: each alert fires on
    series that should page (or ticket) and stays quiet on those that should not."""
    assert [p.name for p in RULE_TESTS] == ["coach-rules.3d.test.yml", "coach-rules.test.yml"]
    result = _run(promtool, "test", "rules", *(p.name for p in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_every_alert_is_exercised_by_the_unit_tests():
    """Each alert is named in a promtool test (which the test above runs)."""
    tested = "\n".join(p.read_text() for p in RULE_TESTS)
    untested = [a["alert"] for a in _alerts() if f'alertname="{a["alert"]}"' not in tested]
    assert untested == []


# -- the alerts --------------------------------------------------------------------------------


def test_every_alert_says_how_bad_it_is_and_what_to_do():
    """`for`, a severity (page or ticket), `service: coach`, a summary, a description and a
    runbook_url on every alert, and no two alerts of the same name."""
    alerts = _alerts()
    assert len(alerts) >= 13
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names))
    for alert in alerts:
        name = alert["alert"]
        assert re.fullmatch(r"\d+[smh]", str(alert.get("for", ""))), name
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        assert alert["labels"]["service"] == "coach", name
        annotations = alert["annotations"]
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key, "").strip(), f"{name} has no {key}"


def test_every_runbook_url_names_a_section_of_the_runbook():
    """docs/RUNBOOK.md#<anchor>, the anchor of a heading that exists (one per alert)."""
    anchors = _runbook_anchors()
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/RUNBOOK.md", url
        assert anchor == alert["alert"].lower(), url
        assert anchor in anchors, f"docs/RUNBOOK.md has no section for {alert['alert']}"
    assert "alerts" in anchors


@pytest.mark.parametrize("name", sorted(BURN_RATE_ALERTS))
def test_each_burn_rate_alert_follows_the_workbook_and_needs_enough_requests(name):
    """Both windows over burn rate x budget, and the long window holding at least enough
    requests that the threshold means 10 bad ones: a handful of requests cannot page."""
    budget, burn, long, short, severity = BURN_RATE_ALERTS[name]
    (alert,) = [a for a in _alerts() if a["alert"] == name]
    expr = " ".join(alert["expr"].split())
    sli = "errors" if "Error" in name else "slow"
    threshold = f"> ({burn:g} * {budget:g})"
    assert f"job:coach_wod_{sli}:ratio_rate{long} {threshold}" in expr
    assert f"and job:coach_wod_{sli}:ratio_rate{short} {threshold}" in expr
    seconds = int(long[:-1]) * SECONDS[long[-1]]
    minimum = re.search(rf"and job:coach_wod_requests:rate{long} \* {seconds} >= (\d+)", expr)
    assert minimum, f"{name}: no minimum count of requests over {long}"
    assert int(minimum.group(1)) >= math.ceil(10 / (burn * budget) - 1e-9)
    assert alert["labels"]["severity"] == severity


def test_the_latency_slo_reads_the_bucket_of_the_slo_threshold():
    """Every latency-SLO rule selects le="0.25", written as prometheus_client writes
    api.metrics.SLO_LATENCY_SECONDS, a bucket of the histogram (no interpolation)."""
    assert SLO_LATENCY_SECONDS in LATENCY_BUCKETS
    le = floatToGoString(SLO_LATENCY_SECONDS)
    assert le == "0.25"
    selectors = [
        s
        for rule in _rules()
        for s in re.findall(r"coach_http_request_duration_seconds_bucket\{[^}]*\}", rule["expr"])
    ]
    assert len(selectors) == 5
    assert all(f'le="{le}"' in s and 'route="/fitness/wod"' in s for s in selectors), selectors


def test_the_slo_rules_count_only_real_wod_requests():
    """The SLO recordings read /fitness/wod's request metrics, never the shadow ones."""
    recorded = [r for r in _rules() if r.get("record", "").startswith("job:coach_wod_")]
    assert len(recorded) == 15
    for rule in recorded:
        assert "coach_shadow" not in rule["expr"]
        assert all(
            'route="/fitness/wod"' in s
            for s in re.findall(r"coach_http_\w+\{[^}]*\}", rule["expr"])
        ), rule["record"]


# -- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_picks_its_prometheus_with_a_variable_every_panel_uses():
    """A `datasource` variable of type prometheus; every panel, query and query variable
    reads `${datasource}`, so the dashboard imports into any Grafana."""
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    chosen = {"type": "prometheus", "uid": "${datasource}"}
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == chosen, variable["name"]
    for panel in _panels():
        assert panel["datasource"] == chosen, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == chosen, panel["title"]


def test_every_dashboard_panel_has_a_description_a_unit_and_its_own_id():
    """Unique ids (rows too), panels within the 24 columns and not over one another, and
    for every panel a description and a unit."""
    every = _dashboard()["panels"]
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids))
    taken: dict[tuple[int, int], str] = {}
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for cell in product(
            range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        ):
            assert cell not in taken, f"{panel['title']!r} overlaps {taken[cell]!r}"
            taken[cell] = panel["title"]
    for panel in _panels():
        assert panel.get("description", "").strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_the_dashboard_covers_the_wod_the_consumer_and_the_rollout():
    """Its rows, and the metrics each is about."""
    rows = [p["title"] for p in _dashboard()["panels"] if p["type"] == "row"]
    assert [r.split()[0] for r in rows] == ["WOD:", "Consumer", "Rollout"]
    read = set().union(*(metric_names(expr) for _, expr in _queries()))
    for metric in (
        "coach_http_requests_total",
        "coach_http_request_duration_seconds_bucket",
        "coach_shadow_requests_total",
        "coach_projection_lag_records",
        "coach_consumer_heartbeat_age_seconds",
        "coach_dead_letters",
        "coach_consumer_broker_reachable",
        *ROLLOUT_METRICS,
    ):
        assert metric in read, metric


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    """Each query, as a recording rule in a scratch rules file, passes `promtool check rules`."""
    queries = _queries()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:{where}", "expr": e} for where, e in queries],
            }
        ]
    }
    scratch = tmp_path / "dashboard-queries.yml"
    scratch.write_text(yaml.safe_dump(rules))
    result = _run(promtool, "check", "rules", str(scratch), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


# -- the metrics exist -------------------------------------------------------------------------


def test_the_name_finder_sees_metrics_not_functions_labels_or_durations():
    assert metric_names(
        'sum by (job, le) (rate(a_total{route="/x",le="0.25"}[5m])) / on (job) b:c:rate5m'
        " and time() - d offset 1h > 0.5 unless histogram_quantile(0.9, e_bucket)"
    ) == {"a_total", "b:c:rate5m", "d", "e_bucket"}


def test_the_rules_and_the_dashboard_read_only_metrics_coach_exposes(api, project, record_status):
    """Every name read is a series a real coach api exposes (scraped here, after a WOD, a
    mirrored WOD and a consumer status), one of the canary controller's, or a series the
    rules record."""
    project([upserted(1), upserted(2)])
    record_status(
        partitions=[("fitness.workouts", 0, 90, 100, 1_000_000, 2_000_000)],
        heartbeat_at_us=2_000_000,
        dead_letters=1,
    )
    with api() as client:
        assert client.get("/fitness/wod", headers=bearer()).status_code == 200
        shadow = client.get("/fitness/wod", headers={**bearer(), "X-Coach-Shadow": "1"})
        assert shadow.status_code == 200
        text = client.get("/metrics").text
    exposed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    recorded = {r["record"] for r in _rules() if "record" in r}
    known = exposed | ROLLOUT_METRICS | recorded
    read_by_rules = {
        name: metric_names(rule["expr"])
        for rule in _rules()
        for name in [rule.get("alert") or rule["record"]]
    }
    for where, names in read_by_rules.items():
        assert names and names <= known, f"{where} reads {sorted(names - known)}"
    for where, expr in _queries():
        names = metric_names(expr)
        assert names and names <= known, f"{where} reads {sorted(names - known)}"
    assert {"coach_ready", "coach_ready_check", "coach_unknown_events_total"} <= exposed
