"""Metrics and alert rules: the rules pass promtool's own unit tests, and with the simulator failing
the gateway's real /metrics show the failure and the matching alerts fire in promtool."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.app import create_app
from gateway.sim.faults import FaultPlan
from gateway.sim.server import BackgroundServer
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import bearer, client_token
from tests.support.packets import store_packets

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's `prometheus` package (ops/ci/ensure-packages.sh does)"
    return path


def test_rules_are_valid_and_each_fires_on_its_crafted_series() -> None:
    check = subprocess.run([promtool(), "check", "rules", "alerts.yml"], cwd=RULES, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=RULES, capture_output=True, text=True)
    assert unit.returncode == 0, unit.stdout + unit.stderr


def scrape(url: str, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    answer = httpx.get(f"{url}/metrics", headers=bearer(token), timeout=5)
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_failing_receiver_shows_in_metrics_and_fires_the_alerts(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    tmp_path: Path,
) -> None:
    sim = sim_factory(FaultPlan(down=True))
    dest = national_destination(sim.receive_url, circuit_threshold=3, circuit_cool_down=60.0, max_attempts=50)
    gw = gateway_factory(
        database_url=database_url, destinations={"national": dest.model_copy(update={"alert_after": 1.0})}
    )
    store_packets(gw, 5)
    stop = threading.Event()
    thread = threading.Thread(target=Worker(gw, worker_id="alerts").run, args=(stop,), daemon=True)
    thread.start()
    national = (("destination", "national"),)
    try:
        app = create_app(gw)
        scraper = client_token(gw, app, "metrics")  # Prometheus scrapes with its own client's token
        with BackgroundServer(app) as api:
            assert httpx.get(f"{api.url}/metrics", timeout=5).status_code == 401  # never anonymous by default
            deadline = time.monotonic() + 20
            while (
                scrape(api.url, scraper).get(("gateway_circuit_open", national)) != 1.0 and time.monotonic() < deadline
            ):
                time.sleep(0.2)
            first = scrape(api.url, scraper)
            time.sleep(1.2)
            second = scrape(api.url, scraper)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert first[("gateway_circuit_open", national)] == 1.0
    age1 = first[("gateway_delivery_oldest_waiting_seconds", national)]
    age2 = second[("gateway_delivery_oldest_waiting_seconds", national)]
    assert age2 > age1 > 0  # the oldest waiting delivery keeps getting older
    assert second[("gateway_deliveries", (("destination", "national"), ("state", "pending")))] == 5
    limit = second[("gateway_destination_alert_after_seconds", national)]

    # Feed what the gateway really exposed into promtool: the circuit stays open, the age keeps growing.
    test = tmp_path / "live_test.yml"
    test.write_text(f"""
rule_files: [{RULES / "alerts.yml"}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'gateway_circuit_open{{destination="national"}}'
        values: '{int(second[("gateway_circuit_open", national)])}x20'
      - series: 'gateway_delivery_oldest_waiting_seconds{{destination="national"}}'
        values: '{age2:.0f}+60x20'
      - series: 'gateway_destination_alert_after_seconds{{destination="national"}}'
        values: '{limit:.0f}x20'
    alert_rule_test:
      - eval_time: 10m
        alertname: GatewayCircuitOpen
        exp_alerts: []
      - eval_time: 16m
        alertname: GatewayCircuitOpen
        exp_alerts:
          - exp_labels: {{severity: critical, destination: national}}
            exp_annotations:
              summary: "The circuit to national has been open for 15 minutes: the receiver is down"
              runbook: "docs/operations.md#outage-mode"
""")
    run = subprocess.run([promtool(), "test", "rules", str(test)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
