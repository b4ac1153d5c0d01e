"""Access to the store, tried as an attacker would, against the SeaweedFS that ``make up`` runs.

The server is started by devstack.seaweed exactly as ``make up`` starts it (conftest's ``seaweed``):
its credentials, its JWT keys, ``-disableHttp``, the project's bucket policy. Every request below is
refused, and afterwards every object version in the bucket is byte-identical.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import time
import urllib.parse
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import pipeline
from releases.settings import Settings
from releases.storage import Store, bucket_policy

IID = PRELIMINARY["incident_id"]
PRIVATE_KEYS = ("_state/catalog.json", "inbox/2026-0142-update.json", "drafts/2026-0142.json")
SECRET_TEXT = b"Jamie Doe, 14, withheld"


def snapshot(client, bucket: str) -> dict[tuple[str, str], tuple[bytes, str]]:
    """Every version of every key (and every delete marker), with its bytes and content type."""
    found = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            obj = client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            found[(v["Key"], v["VersionId"])] = (obj["Body"].read(), obj["ContentType"])
        for m in page.get("DeleteMarkers", []):
            found[(m["Key"], m["VersionId"])] = (b"<delete marker>", "")
    assert found, "the snapshot is not vacuous"
    return found


@pytest.fixture(scope="module")
def site(seaweed):
    """A bucket provisioned as ``make up`` provisions it, published by the pipeline with the writer
    identity, plus what an inbox drop and a draft look like."""
    name = f"attack-{uuid.uuid4().hex[:10]}"
    seaweed.provision(name)
    settings = Settings(bucket=name, s3_endpoint=seaweed.endpoint)
    writer = Store(seaweed.client("writer"), name)
    for n, doc in enumerate((PRELIMINARY, UPDATE, CORRECTION), 1):
        pipeline.release(doc, writer, settings, key=f"run-{n}", released_by="pio")
    admin = seaweed.client("admin")
    admin.put_object(Bucket=name, Key="inbox/2026-0142-update.json", Body=SECRET_TEXT)
    admin.put_object(Bucket=name, Key="drafts/2026-0142.json", Body=SECRET_TEXT)
    return seaweed, name


class Raw:
    """Requests exactly as written: method, path (not normalised), headers, body."""

    def __init__(self, endpoint: str) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        self.host, self.port = parts.hostname, parts.port

    def send(self, method: str, path: str, body: bytes = b"", headers: dict | None = None, port=None):
        conn = http.client.HTTPConnection(self.host, port or self.port, timeout=15)
        try:
            conn.putrequest(method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            if body or method in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def forged_client(endpoint: str, access_key: str, secret: str, **config):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, **config),
    )


BOGUS_SIGV4 = (
    "AWS4-HMAC-SHA256 Credential={key}/20261127/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64
)


def raw_forms(bucket: str, writer_key: str) -> list[tuple[str, str, str, bytes, dict]]:
    """(id, method, path, body, headers) of anonymous, bogus-signed and odd requests."""
    b = f"/{bucket}"
    v1 = f"{b}/incidents/{IID}/v1.json"
    evil = b"<script>alert(1)</script>"
    delete_xml = (
        b'<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>incidents/2026-0142/v1.json</Key>'
        b"</Object><Object><Key>index.html</Key></Object></Delete>"
    )
    md5 = base64.b64encode(hashlib.md5(delete_xml).digest()).decode()  # noqa: S324 - S3's Content-MD5
    amz = {"x-amz-date": "20261127T000000Z", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    bogus = {"Authorization": BOGUS_SIGV4.format(key=writer_key), **amz}
    bogus_unknown = {"Authorization": BOGUS_SIGV4.format(key="AKIAUNKNOWNKEY000000"), **amz}
    form_boundary = "----x"
    form = (
        f'--{form_boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nindex.html\r\n'
        f'--{form_boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
        "Content-Type: text/html\r\n\r\n<h1>defaced</h1>\r\n"
        f"--{form_boundary}--\r\n"
    ).encode()
    policy_doc = json.dumps(bucket_policy(bucket)).replace("incidents/*", "*").encode()
    suspend = (
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Status>Suspended</Status></VersioningConfiguration>"
    )
    acl = {"x-amz-acl": "public-read"}
    qs_sig = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={k}%2F20261127%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261127T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature={s}"
    return [
        ("anon-put-view", "PUT", f"{b}/index.html", evil, {}),
        ("anon-put-record", "PUT", v1, evil, {}),
        ("anon-put-new-key", "PUT", f"{b}/incidents/{IID}/v9.json", evil, {}),
        ("anon-put-private", "PUT", f"{b}/_state/catalog.json", b"{}", {}),
        ("anon-delete-view", "DELETE", f"{b}/rss.xml", b"", {}),
        ("anon-delete-record", "DELETE", v1, b"", {}),
        ("anon-post-multi-delete", "POST", f"{b}?delete", delete_xml, {"Content-MD5": md5}),
        ("anon-post-uploads", "POST", f"{b}/index.html?uploads", b"", {}),
        (
            "anon-form-upload",
            "POST",
            b,
            form,
            {"Content-Type": f"multipart/form-data; boundary={form_boundary}"},
        ),
        (
            "anon-copy-private-to-public",
            "PUT",
            f"{b}/incidents/x/leak.json",
            b"",
            {"x-amz-copy-source": f"{b}/_state/catalog.json"},
        ),
        ("anon-put-acl", "PUT", f"{b}/_state/catalog.json?acl", b"", acl),
        ("anon-put-bucket-acl", "PUT", f"{b}?acl", b"", acl),
        ("anon-put-policy", "PUT", f"{b}?policy", policy_doc, {}),
        ("anon-delete-policy", "DELETE", f"{b}?policy", b"", {}),
        ("anon-suspend-versioning", "PUT", f"{b}?versioning", suspend, {}),
        ("anon-delete-bucket", "DELETE", b, b"", {}),
        ("anon-create-bucket", "PUT", f"/attack-made-{uuid.uuid4().hex[:6]}", b"", {}),
        ("bogus-sigv4-put", "PUT", f"{b}/index.html", evil, bogus),
        ("bogus-sigv4-delete", "DELETE", v1, b"", bogus),
        ("bogus-sigv4-unknown-key-put", "PUT", f"{b}/index.html", evil, bogus_unknown),
        ("bogus-sigv4-multi-delete", "POST", f"{b}?delete", delete_xml, {**bogus, "Content-MD5": md5}),
        ("bogus-sigv2-header", "PUT", f"{b}/index.html", evil, {"Authorization": f"AWS {writer_key}:AAAA"}),
        ("query-signature-1", "PUT", f"{b}/index.html?Signature=1", evil, {}),
        ("query-signature-1-delete", "DELETE", f"{v1}?Signature=1", b"", {}),
        (
            "query-sigv2-wrong",
            "PUT",
            f"{b}/index.html?AWSAccessKeyId={writer_key}&Expires=4102444800&Signature=AAAA",
            evil,
            {},
        ),
        ("query-sigv4-wrong", "PUT", f"{b}/index.html?" + qs_sig.format(k=writer_key, s="0" * 64), evil, {}),
        ("query-sigv4-wrong-delete", "DELETE", f"{v1}?" + qs_sig.format(k=writer_key, s="1" * 64), b"", {}),
        ("virtual-host-put", "PUT", "/index.html", evil, {"Host": f"{bucket}.localhost"}),
        (
            "virtual-host-delete",
            "DELETE",
            f"/incidents/{IID}/v1.json",
            b"",
            {"Host": f"{bucket}.127.0.0.1.nip.io"},
        ),
        ("odd-host-put", "PUT", f"{b}/index.html", evil, {"Host": "evil.example"}),
        ("odd-host-delete", "DELETE", v1, b"", {"Host": "s3.amazonaws.com"}),
        ("dot-segment-put", "PUT", f"{b}/incidents/../index.html", evil, {}),
        ("encoded-slash-delete", "DELETE", f"{b}/incidents%2F{IID}%2Fv1.json", b"", {}),
        ("double-slash-put", "PUT", f"/{bucket}//index.html", evil, {}),
    ]


READS = [
    ("get-state", "GET", "/{b}/_state/catalog.json"),
    ("head-state", "HEAD", "/{b}/_state/catalog.json"),
    ("get-inbox", "GET", "/{b}/inbox/2026-0142-update.json"),
    ("get-drafts", "GET", "/{b}/drafts/2026-0142.json"),
    ("get-state-dot-segment", "GET", "/{b}/incidents/../_state/catalog.json"),
    ("get-state-encoded-dot-segment", "GET", "/{b}/incidents/%2e%2e/_state/catalog.json"),
    ("get-state-encoded-underscore", "GET", "/{b}/%5Fstate/catalog.json"),
    ("get-state-encoded-slash", "GET", "/{b}/_state%2Fcatalog.json"),
    ("get-state-double-slash", "GET", "/{b}//_state/catalog.json"),
    ("get-state-after-public-prefix", "GET", "/{b}/index.html/../_state/catalog.json"),
    ("get-state-with-signature-1", "GET", "/{b}/_state/catalog.json?Signature=1"),
    ("get-state-virtual-host", "GET", "/_state/catalog.json"),
    ("list-v2", "GET", "/{b}?list-type=2"),
    ("list-v1", "GET", "/{b}"),
    ("list-prefix-inbox", "GET", "/{b}?list-type=2&prefix=inbox/"),
    ("list-versions", "GET", "/{b}?versions"),
    ("list-uploads", "GET", "/{b}?uploads"),
    ("list-buckets", "GET", "/"),
    ("get-policy", "GET", "/{b}?policy"),
    ("get-acl", "GET", "/{b}?acl"),
    ("get-object-acl", "GET", "/{b}/index.html?acl"),
]


def test_the_bucket_policy_is_the_repository_s_allow_list(site):
    server, bucket = site
    stored = json.loads(server.client("admin").get_bucket_policy(Bucket=bucket)["Policy"])
    allow, deny = stored["Statement"]
    expected_allow, expected_deny = bucket_policy(bucket)["Statement"]
    assert allow["Effect"] == "Allow" and allow["Principal"] in ("*", {"AWS": "*"})
    assert allow["Action"] in ("s3:GetObject", ["s3:GetObject"])
    assert sorted(allow["Resource"]) == sorted(expected_allow["Resource"])
    # The one Deny: SeaweedFS's path to stored versions (``<key>.versions/v_<id>``).
    assert deny["Effect"] == "Deny" and deny["Resource"] in (
        expected_deny["Resource"],
        expected_deny["Resource"][0],
    )


def test_the_pipeline_publishes_three_stages_and_reads_its_private_state_under_the_policy(site):
    server, bucket = site
    raw = Raw(server.endpoint)
    writer = Store(server.client("writer"), bucket)
    # The writer identity reads and writes the private state the releases keep...
    catalog = json.loads(writer.get("_state/catalog.json"))
    assert IID in json.dumps(catalog)
    for n in (1, 2, 3):
        record = json.loads(writer.get(f"incidents/{IID}/v{n}.json"))
        assert record["version"] == n
        # ...and anonymous readers get every published object of the three stages,
        for ext in ("json", "html", "txt"):
            assert raw.send("GET", f"/{bucket}/incidents/{IID}/v{n}.{ext}")[0] == 200
    assert record["stage"] == "corrected"
    for key in ("index.html", "index.json", "site.json", "rss.xml", "atom.xml", "corrections.rss.xml"):
        assert raw.send("GET", f"/{bucket}/{key}")[0] == 200, key
    for key in ("corrections/index.html", "corrections/corrections.csv", f"incidents/{IID}/index.html"):
        assert raw.send("GET", f"/{bucket}/{key}")[0] == 200, key
    # ...but not the private state.
    assert raw.send("GET", f"/{bucket}/_state/catalog.json")[0] == 403


def test_at_least_30_forged_or_anonymous_writes_are_refused_and_change_nothing(site):
    server, bucket = site
    admin = server.client("admin")
    before = snapshot(admin, bucket)
    raw = Raw(server.endpoint)
    forms = raw_forms(bucket, server.credentials("writer")["access_key"])
    answers = {}
    for form_id, method, path, body, headers in forms:
        status, _ = raw.send(method, path, body, headers)
        answers[form_id] = status
    assert len(answers) >= 30
    accepted = {k: s for k, s in answers.items() if s < 400}
    assert accepted == {}, f"accepted: {accepted}"
    assert snapshot(admin, bucket) == before
    assert (
        json.loads(admin.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Resource"]
        == (bucket_policy(bucket)["Statement"][0]["Resource"])
    )
    assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert not [b for b in admin.list_buckets()["Buckets"] if b["Name"].startswith("attack-made-")]


def _wrong_secret_calls(bucket: str):
    evil = b"<script>alert(1)</script>"
    v1 = f"incidents/{IID}/v1.json"
    yield "put-view", lambda c: c.put_object(Bucket=bucket, Key="index.html", Body=evil)
    yield "put-record", lambda c: c.put_object(Bucket=bucket, Key=v1, Body=evil)
    yield "delete-record", lambda c: c.delete_object(Bucket=bucket, Key=v1)
    yield (
        "delete-objects",
        lambda c: c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": v1}, {"Key": "index.html"}]}),
    )
    yield (
        "copy",
        lambda c: c.copy_object(
            Bucket=bucket,
            Key="incidents/x/leak.json",
            CopySource={"Bucket": bucket, "Key": "_state/catalog.json"},
        ),
    )
    yield "put-policy", lambda c: c.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy("x")))
    yield "delete-policy", lambda c: c.delete_bucket_policy(Bucket=bucket)
    yield (
        "suspend-versioning",
        lambda c: c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}),
    )
    yield "get-state", lambda c: c.get_object(Bucket=bucket, Key="_state/catalog.json")
    yield "list", lambda c: c.list_objects_v2(Bucket=bucket)
    yield "list-versions", lambda c: c.list_object_versions(Bucket=bucket)


@pytest.mark.parametrize("who", ["known-key-wrong-secret", "unknown-key"])
def test_requests_signed_with_a_wrong_key_are_refused_with_signature_errors(site, who):
    server, bucket = site
    admin = server.client("admin")
    before = snapshot(admin, bucket)
    access = (
        server.credentials("writer")["access_key"]
        if who == "known-key-wrong-secret"
        else "AKIAFORGED0000000000"
    )
    forged = forged_client(server.endpoint, access, "wrong-secret-" + "x" * 27)
    codes = {}
    for name, call in _wrong_secret_calls(bucket):
        with pytest.raises(ClientError) as err:
            call(forged)
        codes[name] = err.value.response["Error"]["Code"]
    expected = {"SignatureDoesNotMatch"} if who == "known-key-wrong-secret" else {"InvalidAccessKeyId"}
    assert set(codes.values()) <= expected | {"AccessDenied"}, codes
    assert expected & set(codes.values()), codes
    assert snapshot(admin, bucket) == before


def test_presigned_urls_with_a_wrong_key_expired_or_for_another_key_are_refused(site):
    server, bucket = site
    admin = server.client("admin")
    before = snapshot(admin, bucket)
    raw = Raw(server.endpoint)
    writer_key = server.credentials("writer")["access_key"]
    wrong = forged_client(server.endpoint, writer_key, "not-the-secret-" + "y" * 25, signature_version="s3v4")
    real = server.client("writer", signature_version="s3v4")
    v1 = f"incidents/{IID}/v1.json"

    def path_of(url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.path}?{parts.query}"

    cases = {
        "wrong-key-put": (
            "PUT",
            wrong.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "index.html"}),
        ),
        "wrong-key-delete": (
            "DELETE",
            wrong.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": v1}),
        ),
        "wrong-key-get-state": (
            "GET",
            wrong.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "_state/catalog.json"}
            ),
        ),
    }
    # A correctly signed URL for a public key, replayed against a private key and as a write.
    good = real.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "index.html"})
    cases["signed-for-another-key"] = ("GET", good.replace("/index.html?", "/_state/catalog.json?"))
    cases["signed-get-replayed-as-delete"] = ("DELETE", good)
    cases["signed-get-replayed-as-put"] = ("PUT", good)
    # A correctly signed URL that has expired (X-Amz-Expires=1, used two seconds later).
    expired = real.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": v1}, ExpiresIn=1)
    assert "X-Amz-Expires=1&" in expired
    time.sleep(2.1)
    cases["expired-delete"] = ("DELETE", expired)
    answers = {}
    for name, (method, url) in cases.items():
        status, body = raw.send(method, path_of(url), b"evil" if method == "PUT" else b"")
        answers[name] = status
        assert b'"version"' not in body
    assert {k: s for k, s in answers.items() if s < 400} == {}, answers
    assert snapshot(admin, bucket) == before


@pytest.mark.parametrize(("form_id", "method", "path"), READS, ids=[r[0] for r in READS])
def test_anonymous_reads_of_private_keys_and_listings_are_refused_in_every_form(site, form_id, method, path):
    server, bucket = site
    raw = Raw(server.endpoint)
    headers = {"Host": f"{bucket}.localhost"} if form_id.endswith("virtual-host") else {}
    status, body = raw.send(method, path.format(b=bucket), headers=headers)
    assert status in (400, 403, 404, 405), (status, body[:200])
    assert SECRET_TEXT not in body
    # An S3 error names the key it refused; it must hold nothing of what is stored or listed.
    assert PRELIMINARY["headline"].encode() not in body
    for listing_element in (b"<Contents>", b"<Version>", b"<Upload>", b"<Bucket>", b"<Statement", b"<Grant>"):
        assert listing_element not in body


def test_older_versions_of_published_objects_are_not_public(site):
    """A view is overwritten on every release; its superseded versions stay private (a redaction
    must be able to rely on that), and so do versions of records fetched by id."""
    server, bucket = site
    admin = server.client("admin")
    raw = Raw(server.endpoint)
    versions = admin.list_object_versions(Bucket=bucket, Prefix=f"incidents/{IID}/index.html")["Versions"]
    old = [v for v in versions if not v["IsLatest"]]
    assert old, "the incident page was written more than once"
    for v in old:
        status, body = raw.send("GET", f"/{bucket}/incidents/{IID}/index.html?versionId={v['VersionId']}")
        assert status == 403, (status, body[:200])
    current = [v for v in versions if v["IsLatest"]][0]
    assert raw.send("GET", f"/{bucket}/incidents/{IID}/index.html?versionId={current['VersionId']}")[0] == 403
    # SeaweedFS also serves each stored version at `<key>.versions/v_<id>`, a path `incidents/*` would
    # match; every public GET tells its version id (x-amz-version-id), so the id is no secret.
    for v in [*old, current]:
        for path in (
            f"/{bucket}/incidents/{IID}/index.html.versions/v_{v['VersionId']}",
            f"/{bucket}/incidents/{IID}/index.html.versions/v_{v['VersionId']}?x=1",
            f"/{bucket}/incidents/{IID}/INDEX.html.versions/../index.html.versions/v_{v['VersionId']}",
        ):
            status, body = raw.send("GET", path)
            assert status >= 400 and b"<html" not in body.lower(), (path, status)


def test_the_store_s_internal_servers_refuse_writes_and_deletes_that_bypass_s3(site):
    """SeaweedFS's master, filer and volume servers have HTTP APIs of their own on loopback, reachable
    by any page open in a browser on this machine. ``make up`` runs them with ``-disableHttp`` and JWT
    keys: a request that would delete the bucket's whole collection or a stored chunk is refused."""
    server, bucket = site
    admin = server.client("admin")
    before = snapshot(admin, bucket)
    raw = Raw(server.endpoint)
    p = server.ports
    fid = chunk_id(server, bucket, "_state/catalog.json")
    attempts = {
        "master-col-delete": ("POST", p.master, f"/col/delete?collection={bucket}"),
        "master-col-delete-get": ("GET", p.master, f"/col/delete?collection={bucket}"),
        "master-vol-grow": ("POST", p.master, "/vol/grow?count=1"),
        "master-dir-assign": ("POST", p.master, "/dir/assign"),
        "filer-delete-record": (
            "DELETE",
            p.filer,
            f"/buckets/{bucket}/incidents/{IID}/v1.json.versions?recursive=true",
        ),
        "filer-put-view": ("PUT", p.filer, f"/buckets/{bucket}/index.html"),
        "filer-get-state": ("GET", p.filer, f"/buckets/{bucket}/_state/catalog.json"),
        "filer-delete-bucket": ("DELETE", p.filer, f"/buckets/{bucket}?recursive=true"),
        "volume-put-chunk": ("PUT", p.volume, "/1,01637037d6"),
        "volume-delete-chunk": ("DELETE", p.volume, "/1,01637037d6"),
        # With the real id of the private catalog's chunk (learned here through the gRPC port, which
        # a local process can reach; README says so): the volume server still wants a token.
        "volume-get-real-chunk": ("GET", p.volume, f"/{fid}"),
        "volume-put-real-chunk": ("PUT", p.volume, f"/{fid}"),
        "volume-delete-real-chunk": ("DELETE", p.volume, f"/{fid}"),
        "admin-api": ("POST", p.admin, "/api/cluster/volumes/delete"),
    }
    answers = {}
    for name, (method, port, path) in attempts.items():
        status, body = raw.send(method, path, b"evil" if method in ("PUT", "POST") else b"", port=port)
        answers[name] = status
        assert SECRET_TEXT not in body
    assert {k: s for k, s in answers.items() if s < 400} == {}, answers
    assert snapshot(admin, bucket) == before


def chunk_id(server, bucket: str, key: str) -> str:
    """The volume-server id of the current version's first chunk, from the filer (``weed shell``)."""
    import re
    import subprocess

    from devstack import seaweed as seaweedfs

    version = server.client("admin").head_object(Bucket=bucket, Key=key)["VersionId"]
    out = subprocess.run(
        [
            seaweedfs.weed_binary(),
            "shell",
            f"-master=127.0.0.1:{server.ports.master}",
            f"-filer=127.0.0.1:{server.ports.filer}",
        ],
        input=f"fs.meta.cat /buckets/{bucket}/{key}.versions/v_{version}\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=server.data_dir,
    ).stdout
    found = re.search(r'"fileId":\s*"([0-9]+,[0-9a-f]+)"', out)
    assert found, out[-2000:]
    return found[1]


def test_storage_keeps_private_prefixes_private_even_when_asked_to_publish(site):
    server, bucket = site
    store = Store(server.client("writer"), bucket)
    raw = Raw(server.endpoint)
    for key in ("_state/probe.json", "inbox/probe.json"):
        store.put_if_changed(key, b"{}", public=True)
        assert raw.send("GET", f"/{bucket}/{key}")[0] == 403, key
        assert store.client.head_object(Bucket=bucket, Key=key)["CacheControl"] == "no-store"


ATTACK_PAGE = """<!doctype html><title>a page on another origin</title><pre id=out></pre><script>
const S3 = %(s3)s, B = %(bucket)s, MASTER = %(master)s, FILER = %(filer)s;
async function attempt(name, url, opts) {
  try {
    const r = await fetch(url, opts);
    let text = "";
    try { text = await r.text(); } catch (e) {}
    return {name, type: r.type, ok: r.ok, status: r.status, text: text.slice(0, 300)};
  } catch (e) { return {name, error: String(e)}; }
}
(async () => {
  const del = '<Delete><Object><Key>incidents/2026-0142/v1.json</Key></Object></Delete>';
  const form = new FormData(); form.append("key", "index.html"); form.append("file", new Blob(["defaced"]));
  const results = [
    await attempt("control: a published object", `${S3}/${B}/index.html`, {mode: "cors"}),
    await attempt("read _state", `${S3}/${B}/_state/catalog.json`, {mode: "cors"}),
    await attempt("read inbox", `${S3}/${B}/inbox/2026-0142-update.json`, {mode: "cors"}),
    await attempt("list bucket", `${S3}/${B}?list-type=2`, {mode: "cors"}),
    await attempt("list versions", `${S3}/${B}?versions`, {mode: "cors"}),
    await attempt("put view", `${S3}/${B}/index.html`, {mode: "cors", method: "PUT", body: "<h1>defaced</h1>"}),
    await attempt("put view ?Signature=1", `${S3}/${B}/index.html?Signature=1`, {mode: "cors", method: "PUT", body: "x"}),
    await attempt("delete record", `${S3}/${B}/incidents/2026-0142/v1.json`, {mode: "cors", method: "DELETE"}),
    await attempt("no-cors multi-delete", `${S3}/${B}?delete&Signature=1`, {mode: "no-cors", method: "POST", body: del, headers: {"Content-Type": "text/plain"}}),
    await attempt("no-cors form upload", `${S3}/${B}`, {mode: "no-cors", method: "POST", body: form}),
    await attempt("no-cors master col/delete", `${MASTER}/col/delete?collection=${B}`, {mode: "no-cors", method: "POST"}),
    await attempt("no-cors filer delete", `${FILER}/buckets/${B}/incidents/2026-0142/v1.json.versions?recursive=true`, {mode: "no-cors", method: "POST", body: "x"}),
    await attempt("cors filer read", `${FILER}/buckets/${B}/_state/catalog.json`, {mode: "cors"}),
  ];
  document.getElementById("out").textContent = JSON.stringify(results, null, 1);
  window.results = results;
})();
</script>"""


@pytest.mark.browser
def test_a_page_on_another_origin_cannot_read_private_keys_or_write_or_delete(site, tmp_path):
    """Chromium opens a page served from another loopback origin; its scripts try to read private keys
    and to write and delete through the store's S3 API and its internal servers. None succeeds."""
    import functools
    import http.server
    import threading
    from pathlib import Path

    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    server, bucket = site
    admin = server.client("admin")
    before = snapshot(admin, bucket)
    page_text = ATTACK_PAGE % {
        "s3": json.dumps(server.endpoint),
        "bucket": json.dumps(bucket),
        "master": json.dumps(f"http://127.0.0.1:{server.ports.master}"),
        "filer": json.dumps(f"http://127.0.0.1:{server.ports.filer}"),
    }
    (tmp_path / "attack.html").write_text(page_text)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    # "localhost" vs the store's "127.0.0.1": another origin (scheme, host and port all count).
    origin = f"http://localhost:{httpd.server_address[1]}"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser`"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page()
            page.goto(f"{origin}/attack.html")
            page.wait_for_function("window.results !== undefined", timeout=60_000)
            results = {r["name"]: r for r in page.evaluate("window.results")}
            browser.close()
    finally:
        httpd.shutdown()
    control = results.pop("control: a published object")
    assert control["ok"] and control["status"] == 200, control  # the page does reach the store
    succeeded = {name: r for name, r in results.items() if r.get("ok")}
    assert succeeded == {}, succeeded
    for name, r in results.items():
        assert PRELIMINARY["headline"] not in r.get("text", ""), name
        assert SECRET_TEXT.decode() not in r.get("text", ""), name
    assert snapshot(admin, bucket) == before


def test_the_store_s_grpc_ports_want_a_client_certificate(site):
    """``weed shell`` or any gRPC client on this machine reaches master, volume, filer, S3 and admin over
    gRPC; ``make up`` runs them with mutual TLS, so a client without the store's certificate is refused
    during the TLS handshake (and one with it gets through: the check is the certificate)."""
    import socket
    import ssl

    from devstack import seaweed as seaweedfs

    server, _ = site
    tls = seaweedfs.tls_files(server.data_dir)
    grpc_ports = [
        p + seaweedfs.GRPC_OFFSET
        for p in (server.ports.s3, server.ports.master, server.ports.volume, server.ports.filer)
    ]

    def handshake(with_certificate: bool, port: int) -> str:
        context = ssl.create_default_context(cafile=str(tls["ca"]))
        context.set_alpn_protocols(["h2"])
        if with_certificate:
            context.load_cert_chain(str(tls["cert"]), str(tls["key"]))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw_sock:
            try:
                with context.wrap_socket(raw_sock, server_hostname="127.0.0.1") as conn:
                    conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                    conn.recv(16)  # TLS 1.3 reports a missing client certificate on the first read
                    return "accepted"
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as err:
                return f"refused: {err}"

    for port in grpc_ports:
        assert handshake(False, port).startswith("refused"), port
        assert handshake(True, port) == "accepted", port
