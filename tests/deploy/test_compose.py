"""docker-compose.yml: no credential in it, every secret wired to the services that read it,
named volumes for the data, the filerelay services hardened, Prometheus scraping the ports
the processes serve, Grafana provisioned; and ``docker compose config -q`` where Docker's
compose plugin exists (it is not part of CI: the structure tests are what CI runs)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, load_config
from filerelay.config.envsubst import references
from filerelay.settings import load_settings
from tests.deploy.helpers import (
    COMPOSE,
    PIPELINE_COMMANDS,
    ROOT,
    SECRETS_DIR,
    bind_mounts,
    command,
    compose,
    environment,
    generate_secrets,
    named_volumes,
    option,
    read_secret,
    secrets_used,
    services,
    strings,
)

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|AUTH|ROOT_USER|DATABASE_URL|BROKER_URL")
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@$]+:[^/\s@]+@")
KNOWN_DEFAULTS = ["minioadmin", "change-me", "filerelay:filerelay", "POSTGRES_PASSWORD:"]
DATA_VOLUMES = {
    "redis": "/data",
    "postgres": "/var/lib/postgresql/data",
    "minio": "/data",
    "watcher": "/var/lib/filerelay",
    "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
}


def filerelay_services() -> dict[str, dict]:
    return {name: svc for name, svc in services().items() if "build" in svc}


def test_no_credential_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    # no well-known default credential, and no URL with a password in it
    for literal in KNOWN_DEFAULTS:
        assert literal not in text
    assert not [s for s in strings(compose()) if URL_WITH_PASSWORD.search(s)]
    # and every credential-named variable is a *_FILE variable naming a secret file
    for name, svc in services().items():
        for var, value in environment(svc).items():
            if SECRET_NAME.search(var):
                assert var.endswith("_FILE"), f"{name}: {var} holds a credential itself"
                assert "/" not in value or value.startswith(SECRETS_DIR), (name, var)


def test_every_service_has_exactly_the_secrets_it_reads() -> None:
    declared = compose()["secrets"]
    for name, svc in services().items():
        given = set(svc.get("secrets") or [])
        used = secrets_used(svc)
        # then each secret it reads is given to it, and it is given none it does not read
        assert used <= given, f"{name} reads {sorted(used - given)} without being given them"
        assert given <= used, f"{name} is given {sorted(given - used)} it never reads"
        assert given <= set(declared), f"{name}: undeclared {sorted(given - set(declared))}"
    # every declared secret is a file under deploy/secrets/ that some service reads
    read = set().union(*(set(svc.get("secrets") or []) for svc in services().values()))
    assert set(declared) == read
    for secret, spec in declared.items():
        assert spec == {"file": f"./deploy/secrets/{secret}"}


def test_the_generator_makes_every_secret_consistently(tmp_path: Path) -> None:
    # given the generator run into an empty folder
    folder = generate_secrets(tmp_path / "secrets")
    # then it made exactly the secrets the compose file declares, unreadable by other users
    assert {p.name for p in folder.iterdir()} == set(compose()["secrets"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # and the URLs embed the passwords the servers are given
    redis_pw = read_secret(folder, "redis_password")
    assert read_secret(folder, "redis_conf") == f"requirepass {redis_pw}"
    assert read_secret(folder, "broker_url") == f"redis://:{redis_pw}@redis:6379/0"
    for role in ("owner", "worker"):
        url = read_secret(folder, f"database_url_{role}")
        password = read_secret(folder, f"pg_{role}_password")
        assert url == f"postgresql://filerelay_{role}:{password}@postgres:5432/filerelay"
    assert read_secret(folder, "alert_webhook_secret").startswith("whsec_")
    # and running it again changes no credential in use
    before = {p.name: p.read_text() for p in folder.iterdir()}
    generate_secrets(folder)
    assert {p.name: p.read_text() for p in folder.iterdir()} == before


def test_each_filerelay_process_loads_the_pipeline_from_its_secret_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = generate_secrets(tmp_path / "secrets")
    catalog = ActionCatalog.from_registry(default_registry())
    pipeline = ROOT / "deploy" / "pipeline.yaml"
    needed = references(pipeline.read_text())
    for name, svc in filerelay_services().items():
        with monkeypatch.context() as env:
            # given the service's environment, its secrets where compose mounts them
            for key in [k for k in os.environ if k.startswith("FILERELAY_")]:
                env.delenv(key)
            env.chdir(tmp_path)
            for var, value in environment(svc).items():
                env.setenv(var, value.replace(SECRETS_DIR, f"{folder}/"))
            settings = load_settings()
            # then migrate connects as the owner; every other process as the worker role,
            # without upgrading the schema itself
            store_url = settings.database_url or ""
            if name == "migrate":
                assert "filerelay_owner:" in store_url
                continue
            if command(svc)[0] == "flower":
                assert settings.flower_basic_auth is not None
                continue
            assert "filerelay_worker:" in store_url and settings.db_auto_upgrade is False
            assert settings.broker_url == read_secret(folder, "broker_url")
            if command(svc)[0] not in PIPELINE_COMMANDS:
                continue
            # and the pipeline's every ${NAME} comes from the environment or a NAME_FILE
            for ref in needed:
                assert ref in environment(svc) or f"{ref}_FILE" in environment(svc), (name, ref)
            loaded = load_config(pipeline, catalog, check_paths=False)
            assert loaded.model.alerts is not None


def test_the_alert_evaluator_runs() -> None:
    [alerts] = [s for s in filerelay_services().values() if command(s)[:2] == ["alerts", "run"]]
    assert alerts["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_data_lives_in_named_volumes_and_bind_mounts_exist() -> None:
    declared = set(compose()["volumes"])
    for name, svc in services().items():
        volumes = named_volumes(svc)
        assert set(volumes.values()) <= declared, name
        if name in DATA_VOLUMES:
            assert DATA_VOLUMES[name] in volumes, f"{name} keeps its data outside a volume"
        for source, _target in bind_mounts(svc):
            assert source == "./data/inbox" or (ROOT / source).exists(), (name, source)


def test_filerelay_containers_run_unprivileged_on_a_read_only_root() -> None:
    for name, svc in filerelay_services().items():
        assert svc.get("read_only") is True, name
        assert "/tmp" in svc.get("tmpfs", []), name
        assert svc.get("user") in (None, "10001:10001"), name
        assert not svc.get("privileged") and not svc.get("cap_add"), name
    # the image's last USER is the unprivileged one the tmpfs and volumes are made for
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert users[-1] == "filerelay:filerelay"
    assert "FILERELAY_UID=10001" in (ROOT / "Dockerfile").read_text()
    # the build context is an allow-list: deploy/secrets/ is never sent
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"]
    assert not [line for line in ignore if line.startswith("!") and "deploy" in line]


def test_prometheus_scrapes_exactly_the_ports_the_processes_serve() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    scraped: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                scraped.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            scraped.update((host, int(dns["port"])) for host in dns["names"])
    serving = set()
    for name, svc in filerelay_services().items():
        port = option(command(svc), "--metrics-port")
        if port is not None:
            serving.add((name, int(port)))
            # bound to all addresses of the container, or Prometheus cannot reach it
            assert environment(svc).get("FILERELAY_METRICS_HOST") == "0.0.0.0", name
    assert serving and scraped == serving


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    svc = services()["grafana"]
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    mounts = dict(bind_mounts(svc))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services()
    [provider] = yaml.safe_load((provisioning / "dashboards" / "filerelay.yml").read_text())[
        "providers"
    ]
    dashboard = mounts["./deploy/grafana/filerelay-dashboard.json"]
    assert str(Path(dashboard).parent) == provider["options"]["path"]


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    probe = subprocess.run([docker or "docker", "compose", "version"], capture_output=True)
    if docker is None or probe.returncode != 0:
        pytest.skip("docker compose is not installed (the structure tests above still ran)")
    # given a copy of the compose file and deploy/ with generated secrets
    shutil.copy(COMPOSE, tmp_path / COMPOSE.name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy", ignore=shutil.ignore_patterns("secrets"))
    generate_secrets(tmp_path / "deploy" / "secrets")
    # then docker compose finds it valid
    done = subprocess.run(
        [docker, "compose", "-f", str(tmp_path / COMPOSE.name), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
