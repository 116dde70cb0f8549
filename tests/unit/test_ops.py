"""ops/ is how the gateway is deployed: the compose file, systemd units, example configurations and
the Grafana dashboard are checked here (no container engine runs on the build machine)."""

from __future__ import annotations

import configparser
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.cli import app
from gateway.errors import ConfigurationError
from gateway.settings import load_settings
from tests.conftest import GatewayFactory

OPS = Path(__file__).resolve().parents[2] / "ops"


def command_names() -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def test_compose_has_every_service_with_a_health_check_and_volumes() -> None:
    compose = yaml.safe_load((OPS / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"migrate", "api", "worker", "scheduler", "postgres", "rabbitmq"}
    for name, service in services.items():
        if name != "migrate":  # a one-shot job: the others wait for it to complete
            assert "test" in service["healthcheck"], name
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["scheduler"]["deploy"]["replicas"] == 2
    assert set(compose["volumes"]) == {"gateway-data", "postgres-data", "rabbitmq-data"}
    for name in ("api", "worker", "scheduler"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "gateway-data:/var/lib/gateway" in services[name]["volumes"]
        assert services[name]["command"][0] in command_names()  # the image's entrypoint is `gateway`
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]  # published on loopback only


@pytest.mark.parametrize("unit", sorted(p.name for p in (OPS / "systemd").glob("*.service")))
def test_systemd_units_run_real_commands(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(OPS / "systemd" / unit)
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    exec_start = parser["Service"]["ExecStart"]
    command = exec_start.split("/gateway ", 1)[1].split()[0]
    assert command in command_names()
    if parser["Service"].get("Type") != "oneshot":  # the backup runs from its timer
        assert parser["Service"]["Restart"] == "always"
    assert parser["Service"]["User"] == "gateway"


@pytest.mark.parametrize("name", ["single-node.toml", "scale-out.toml"])
def test_example_configurations_load(name: str) -> None:
    settings = load_settings(OPS / "config" / name)
    assert "national" in settings.destinations and settings.forward_returns_to in settings.destinations
    if name == "single-node.toml":
        assert settings.signing.keys and settings.signing.keys[0].passphrase_file is not None
        assert settings.trust.dir is not None
    if name == "scale-out.toml":
        assert settings.database_url.startswith("postgresql") and settings.broker_url.startswith("amqp")
        assert settings.broker.queue_type == "quorum"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace(b"]", b"", 1), r"is not valid TOML: .*\(at line \d+, column \d+\)"),
        (lambda t: t.replace(b"=", b"= =", 1), r"is not valid TOML: Invalid value \(at line \d+"),
        (lambda t: b"# \xff\n" + t, r"is not UTF-8 \(byte 2\)"),
    ],
    ids=["unclosed-table", "bad-value", "not-utf8"],
)
def test_a_broken_configuration_file_is_named_with_its_place(
    tmp_path: Path, edit: Callable[[bytes], bytes], message: str
) -> None:
    """Found by mutating the example configurations: TOML syntax errors surfaced as "unexpected error"."""
    broken = tmp_path / "gateway.toml"
    broken.write_bytes(edit((OPS / "config" / "single-node.toml").read_bytes()))
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_settings(broken)
    assert str(broken) in str(caught.value)


def test_rabbitmq_definitions_match_what_the_gateway_declares() -> None:
    from gateway.messaging import Broker

    definitions = json.loads((OPS / "rabbitmq" / "definitions.json").read_text())
    queue = next(q for q in definitions["queues"] if q["name"] == "gateway.deliveries")
    declared = Broker("amqp://x@y//", "gateway.deliveries", queue_type="quorum").queue.queue_arguments
    assert queue["arguments"] == declared


def exported_names(gateway_factory: GatewayFactory) -> set[str]:
    """Metric names a real gateway exposes, after one attempt and one scheduler tick were recorded."""
    from gateway import metrics
    from tests.conftest import national_destination

    gw = gateway_factory(destinations={"national": national_destination("http://127.0.0.1:9/x")})
    metrics.observe_attempt("national", "TransientDeliveryError", 0.1, 1)
    metrics.SCHEDULER_TICK.set(1.0)
    metrics.SCHEDULER_LAG.set(0.0)
    text = metrics.render(gw).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("gateway_")}


def test_grafana_dashboard_uses_only_exported_metrics(gateway_factory: GatewayFactory) -> None:
    exported = exported_names(gateway_factory)
    dashboard = json.loads((OPS / "grafana" / "gateway-dashboard.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"gateway_[a-z0-9_]+", target["expr"]))
    assert used and used <= exported, used - exported
