"""Command start-up imports what the command needs (issue 19: every ``gateway`` command paid 4.3 s,
most of it importing pyHanko, Alembic, httpx and every adapter it would never use).

These are not timings: they assert which libraries a command loads, which a change can break and a
test can see on any machine. The times are in docs/performance.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from gateway.cli import COMMAND_MODULES, COMMANDS
from gateway.db.engine import MIGRATIONS, head_revisions, make_engine, upgrade, upgrade_if_behind
from mappings.admin_units import _current_list, _current_list_from_objects

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pyhanko", "pyhanko_certvalidator", "aiohttp", "alembic", "httpx", "openpyxl")


def loaded_after(argv: list[str], data_dir: Path, *, full: bool = False) -> tuple[set[str], str]:
    """Run ``gateway ARGV`` in a fresh interpreter; return the top-level packages it had imported
    (every module's full name with ``full``)."""
    names = "set(sys.modules)" if full else "{m.split('.')[0] for m in sys.modules}"
    probe = (
        "import sys, json\n"
        f"sys.argv = ['gateway', *{argv!r}]\n"
        "from gateway.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
        f"print(json.dumps({{'code': code, 'modules': sorted({names})}}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=data_dir,
        env={**env, "GATEWAY_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None), done.stdout + done.stderr
    return set(result["modules"]), done.stdout


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    modules, out = loaded_after(["--help"], tmp_path)
    assert "ingest" in out and "scheduler" in out
    assert modules.isdisjoint(HEAVY + ("sqlalchemy", "pydantic_settings")), sorted(modules.intersection(HEAVY))


def test_help_lists_every_command_of_every_module(tmp_path: Path) -> None:
    """``gateway --help`` still registers all eighteen modules, so no command goes missing from it."""
    modules, out = loaded_after(["--help"], tmp_path, full=True)
    assert {f"gateway.cli.{m}" for m in COMMAND_MODULES} <= modules
    listed = {line.strip("│ ").split()[0] for line in out.splitlines() if line.startswith("│ ") and line.strip("│ ")}
    assert set(COMMANDS) <= listed, sorted(set(COMMANDS) - listed)


def test_each_command_is_registered_by_the_module_named_for_it() -> None:
    """``gateway NAME`` imports only ``COMMANDS[NAME]``: the table must say which module registers
    each top-level command and group, and name all of them (a new command not in it would still
    run, through the import of every module, but slower; one named wrongly would not be found)."""
    probe = (
        "import importlib, json\n"
        "from gateway.cli import COMMAND_MODULES, common\n"
        "app, seen = common.app, {}\n"
        "for module in COMMAND_MODULES:\n"
        "    before = len(app.registered_commands), len(app.registered_groups)\n"
        "    importlib.import_module(f'gateway.cli.{module}')\n"
        "    for c in app.registered_commands[before[0]:]:\n"
        "        seen[c.name or c.callback.__name__.lower().replace('_', '-')] = module\n"
        "    for g in app.registered_groups[before[1]:]:\n"
        "        seen[g.name] = module\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(done.stdout) == COMMANDS


def test_a_command_given_in_full_registers_only_its_module(tmp_path: Path) -> None:
    modules, out = loaded_after(
        ["mapping", "check", str(ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml")], tmp_path, full=True
    )
    assert out.startswith(f"{ROOT / 'mappings' / 'indicators' / 'lao-cai-ktxh.yaml'}: ok")
    assert {m for m in modules if m.startswith("gateway.cli.")} <= {
        "gateway.cli.common",
        "gateway.cli.ingest",
        "gateway.cli.output",
        "gateway.cli.checks",
    }


def test_a_misspelt_command_is_still_answered_with_the_closest_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ingset", "x.csv"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**env, "GATEWAY_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    assert "No such command 'ingset'. Did you mean 'ingest'?" in done.stderr


def test_the_communes_read_from_the_packages_json_are_its_objects() -> None:
    """The QD19-2025 list is read from ``vietnam-provinces``' JSON file, not its Python objects
    (a tenth of a second to import); both must give the same provinces, communes and names."""
    provinces, communes = _current_list()
    assert (provinces, communes) == _current_list_from_objects()
    assert len(provinces) == 34 and len(communes) == 3321
    assert communes["00004"] == ("01", "Phường Ba Đình")  # as the Decision lists it (QD19-2025, Hà Nội)


def test_a_one_row_csv_ingest_imports_neither_signing_nor_http_nor_xlsx_libraries(tmp_path: Path) -> None:
    source = tmp_path / "one.csv"
    source.write_text(
        "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\nT0201,,người,2026-THANG-10,15,1234\n",
        encoding="utf-8",
    )
    mapping = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
    argv = ["ingest", str(source), "--adapter", "csv", "--mapping", str(mapping)]
    modules, out = loaded_after(argv, tmp_path)  # first run: a new database, migrated by Alembic
    assert "mapped 1" in out
    assert "alembic" in modules
    source.write_text(  # another month's value: new content (the same file again is "unchanged")
        "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\nT0201,,người,2026-THANG-9,15,1200\n",
        encoding="utf-8",
    )
    modules, out = loaded_after(argv, tmp_path, full=True)  # second run: already at head, one query
    assert "mapped 1" in out
    packages = {m.split(".")[0] for m in modules}
    assert packages.isdisjoint(HEAVY), sorted(packages.intersection(HEAVY))
    # Nor what a long-format CSV does not read with (issue 19, this session): the admin-unit list's
    # Python form, the template layouts' models and the grid reader (lxml), the other commands.
    assert packages.isdisjoint({"vietnam_provinces", "lxml"}), sorted(packages & {"vietnam_provinces", "lxml"})
    assert modules.isdisjoint({"adapters.template_spec", "adapters.grid", "gateway.packets.model"})
    assert "gateway.packets.period" in modules  # the regime check's period, without the packet models
    assert {m for m in modules if m.startswith("gateway.cli.")} <= {
        "gateway.cli.common",
        "gateway.cli.ingest",
        "gateway.cli.output",
        "gateway.cli.checks",
    }


def test_an_ingest_with_signing_configured_builds_neither_the_signer_nor_the_holiday_calendar(
    tmp_path: Path, test_pki: Path
) -> None:
    """A deployment that signs (keys, a trust folder, a destination) ingests without loading its keys,
    the trust store, the packet signer, the broker client or the public holidays: an ingest needs
    them only to correct a report already sent (issue 19: a fifth of a small ingest's start-up was
    composing the signer, and the ``holidays`` package imports every country's module)."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[[signing.keys]]\npath = "{test_pki / "signer.p12"}"\npassphrase_file = "{test_pki / "passphrase.txt"}"\n'
        f'[trust]\ndir = "{test_pki / "trust"}"\n'
        '[destinations.national]\nurl = "http://127.0.0.1:9/receive"\nreceiver = { code = "G01", name = "CP" }\n',
        encoding="utf-8",
    )
    source = tmp_path / "one.csv"
    mapping = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
    argv = ["ingest", str(source), "--adapter", "csv", "--mapping", str(mapping), "--config", str(config)]
    for month in (9, 10):  # the first run makes the database; the second is what every later one costs
        source.write_text(
            f"ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\nT0201,,người,2026-THANG-{month},15,12\n",
            encoding="utf-8",
        )
        modules, out = loaded_after(argv, tmp_path, full=True)
        assert "mapped 1" in out
    assert not [m for m in modules if m.startswith("gateway.signing")], sorted(modules)
    assert modules.isdisjoint({"cryptography", "holidays", "kombu", "gateway.messaging", "gateway.packets.profile"})


def test_the_heads_read_from_the_scripts_are_alembics_heads() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revisions() == frozenset(ScriptDirectory.from_config(config).get_heads())


def test_upgrade_if_behind_migrates_a_new_database_and_then_only_checks(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.sqlite'}")
    assert upgrade_if_behind(engine) is True
    with engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))} == head_revisions()
    assert upgrade_if_behind(engine) is False
    engine.dispose()


def test_a_database_behind_the_scripts_is_migrated_to_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine, "0001")  # as an older release left it
    assert upgrade_if_behind(engine) is True
    with engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))} == head_revisions()
    engine.dispose()


def test_inbound_routes_are_still_checked_against_the_packet_types(tmp_path: Path) -> None:
    """The settings import the packet model only to check ``[inbound] routes`` (issue 19: a
    deployment without routes no longer loads it); with routes, a wrong type is still refused."""
    from gateway.errors import ConfigurationError
    from gateway.settings import load_settings

    config = tmp_path / "gateway.toml"
    destination = (
        '[destinations.tinh]\nurl = "http://127.0.0.1:9/receive"\nreceiver = { code = "H15", name = "UBND" }\n'
    )
    config.write_text(f'data_dir = "{tmp_path}"\n{destination}[inbound.routes]\nSO_LIEU_BAO_CAO = ["tinh"]\n')
    assert load_settings(config).inbound.routes == {"SO_LIEU_BAO_CAO": ["tinh"]}
    config.write_text(f'data_dir = "{tmp_path}"\n{destination}[inbound.routes]\nSO_LIEU = ["tinh"]\n')
    with pytest.raises(ConfigurationError, match="'SO_LIEU' is not a packet type"):
        load_settings(config)
