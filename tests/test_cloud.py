"""Run artifacts in S3, against moto's S3 in server mode: a real HTTP server on 127.0.0.1,
started here, that counts the requests it serves and can be stopped in the middle of an
upload."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from pathlib import Path

import boto3
import pytest
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from ninjarl.cli import main
from ninjarl.cloud import MANIFEST, PartSizes, S3Error, S3Location, pull, upload_dir, upload_run

from conftest import MAPS

BUCKET = "ninjarl-test"
LEVEL = str(MAPS / "test" / "simple-walk")
#: no real credentials, config files or instance metadata may leak into the tests
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent/config",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "2"}


class S3Server:
    """moto's S3 served over HTTP by werkzeug on 127.0.0.1. ``requests`` lists (method, path,
    query) of every request; ``stop_at_put = n`` stops the server while it receives its n-th
    PUT from then on (that request gets a 500, later ones find no server)."""

    def __init__(self):
        self.requests: list[tuple[str, str, str]] = []
        self.stop_at_put: int | None = None
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server = None
        self.port = _free_port()
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def puts(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "PUT"]

    def start(self) -> None:
        import threading

        self._server = make_server("127.0.0.1", self.port, self._serve, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, environ, start_response):
        self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"],
                              environ.get("QUERY_STRING", "")))
        if environ["REQUEST_METHOD"] == "PUT" and self.stop_at_put is not None:
            self.stop_at_put -= 1
            if self.stop_at_put == 0:
                self.stop_at_put = None
                self.stop()
                start_response("500 Internal Server Error", [("Content-Length", "0")])
                return [b""]
        return self._app(environ, start_response)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            patch.delenv(name)
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        s3 = S3Server()
        boto3.client("s3", endpoint_url=s3.endpoint).create_bucket(Bucket=BUCKET)
        yield s3
        s3.stop()


@pytest.fixture
def s3(server):
    server.requests.clear()
    return server


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _make_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _manifest(s3: S3Server, prefix: str) -> dict:
    body = boto3.client("s3", endpoint_url=s3.endpoint).get_object(
        Bucket=BUCKET, Key=f"{prefix}/{MANIFEST}")["Body"].read()
    return json.loads(body)


@pytest.fixture(scope="module")
def trained_run(server, tmp_path_factory):
    """A real training run uploaded by ``ninjarl train --s3`` (the endpoint through the
    standard environment variable)."""
    root = tmp_path_factory.mktemp("train")
    config = root / "tiny.json"
    config.write_text(json.dumps({"ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1},
                                  "env": {"max_frames": 200}}))
    run = root / "run"
    url = f"s3://{BUCKET}/runs/tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_S3", server.endpoint)
        code = main(["train", "--levels", LEVEL, "--timesteps", "64", "--envs", "2",
                     "--checkpoint-every", "32", "--config", str(config), "--out", str(run),
                     "--s3", url])
    assert code == 0
    return run, url


def test_train_uploads_the_run_with_a_correct_manifest(s3, trained_run):
    run, url = trained_run
    manifest = _manifest(s3, "runs/tiny")
    local = _files(run)
    assert {"config.json", "eval.json", "final/policy.pt"} <= set(local)
    assert any(name.startswith("tb_") for name in local)           # TensorBoard events
    assert [f["path"] for f in manifest["files"]] == sorted(local)
    for entry in manifest["files"]:
        data = local[entry["path"]]
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_pull_restores_the_run_byte_identically_and_it_resumes(s3, trained_run, tmp_path,
                                                              capsys):
    run, url = trained_run
    copy = tmp_path / "copy"
    assert main(["pull", url, "--out", str(copy), "--s3-endpoint", s3.endpoint]) == 0
    assert _files(copy) == _files(run)
    assert f"into {copy}" in capsys.readouterr().out
    # the pulled run is a run: it continues elsewhere
    assert main(["train", "--resume", str(copy), "--timesteps", "96"]) == 0
    assert json.loads((copy / "eval.json").read_text())["timesteps"] == 96


def test_uploading_again_sends_nothing(s3, trained_run):
    run, url = trained_run
    result = upload_dir(run, url, s3.endpoint)
    assert result.transferred == [] and len(result.skipped) == len(_files(run))
    assert s3.puts() == [] and s3.requests                  # it did ask the server


def test_eval_uploads_only_its_new_files(s3, trained_run, capsys):
    run, url = trained_run
    before = set(_files(run))
    assert main(["eval", str(run), "--levels", LEVEL, "--s3", url,
                 "--s3-endpoint", s3.endpoint]) == 0
    new = sorted(set(_files(run)) - before)
    assert new and all(name.startswith("evals/") for name in new)
    assert s3.puts() == [f"/{BUCKET}/runs/tiny/{name}" for name in new] + [
        f"/{BUCKET}/runs/tiny/{MANIFEST}"]
    assert [f["path"] for f in _manifest(s3, "runs/tiny")["files"]] == sorted(_files(run))


def test_a_changed_file_is_the_only_one_sent_again(s3, tmp_path):
    directory = _make_dir(tmp_path / "d", {"a.txt": b"alpha", "sub/b.bin": b"\0" * 100})
    url = f"s3://{BUCKET}/changed"
    upload_dir(directory, url, s3.endpoint)
    (directory / "sub/b.bin").write_bytes(b"\1" * 100)             # same size, new content
    s3.requests.clear()
    result = upload_dir(directory, url, s3.endpoint)
    assert result.transferred == ["sub/b.bin"]
    assert s3.puts() == [f"/{BUCKET}/changed/sub/b.bin", f"/{BUCKET}/changed/{MANIFEST}"]


def test_large_files_go_in_parts(s3, tmp_path):
    big = bytes(range(256)) * (11 * 4096)                          # 11 MiB
    directory = _make_dir(tmp_path / "d", {"big.bin": big, "small.txt": b"x"})
    url = f"s3://{BUCKET}/multipart"
    upload_dir(directory, url, s3.endpoint, PartSizes(threshold=5 << 20, part_size=5 << 20))
    parts = [q for method, path, q in s3.requests if method == "PUT" and "partNumber=" in q]
    assert len(parts) == 3                                          # 5 + 5 + 1 MiB
    pull(url, tmp_path / "back", s3.endpoint)
    assert _files(tmp_path / "back") == _files(directory)


def test_server_stopped_mid_upload_leaves_the_run_intact_and_a_rerun_finishes(s3, tmp_path):
    directory = _make_dir(tmp_path / "run", {f"file{i}.bin": os.urandom(1000 + i)
                                             for i in range(6)})
    before = _files(directory)
    url = f"s3://{BUCKET}/interrupted"
    s3.stop_at_put = 3
    with pytest.raises(S3Error) as error:
        upload_run(directory, url, s3.endpoint, passes=1)
    assert "\n" not in str(error.value) and "cannot reach" in str(error.value)
    assert _files(directory) == before
    s3.start()
    s3.requests.clear()
    result = upload_dir(directory, url, s3.endpoint)
    assert result.skipped == ["file0.bin", "file1.bin"]             # sent before the stop
    assert len(s3.puts()) == 4 + 1                                  # the rest and the manifest
    pull(url, tmp_path / "back", s3.endpoint)
    assert _files(tmp_path / "back") == before


def test_training_survives_a_failing_upload_and_push_resumes_it(s3, tmp_path, capsys,
                                                                 monkeypatch):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1},
                                  "env": {"max_frames": 200}, "checkpoint_every": 0}))
    run, url = tmp_path / "run", f"s3://{BUCKET}/killed"
    s3.stop_at_put = 2
    monkeypatch.setattr("ninjarl.cloud.RETRY_PAUSE_S", 0.1)   # before the pass retried at the end
    code = main(["train", "--levels", LEVEL, "--timesteps", "32", "--envs", "2",
                 "--config", str(config), "--out", str(run), "--s3", url,
                 "--s3-endpoint", s3.endpoint])
    assert code == 1
    err = capsys.readouterr().err                          # after training's progress bar
    (line,) = [line for line in err.splitlines() if line.startswith("ninjarl: error: ")]
    assert "Traceback" not in err and f"ninjarl push {run} {url}" in line
    assert (run / "final").is_dir() and (run / "eval.json").is_file()   # the run finished
    s3.start()
    assert main(["push", str(run), url, "--s3-endpoint", s3.endpoint]) == 0
    pull(url, tmp_path / "back", s3.endpoint)
    assert _files(tmp_path / "back") == _files(run)


@pytest.mark.parametrize("case", ["bad bucket", "no credentials", "unreachable",
                                  "no manifest"])
def test_errors_are_one_line(s3, case, tmp_path, capsys, monkeypatch):
    url, endpoint = f"s3://{BUCKET}/nothing-here", s3.endpoint
    if case == "bad bucket":
        url, expected = "s3://no-such-bucket/x", "bucket 'no-such-bucket' does not exist"
    elif case == "no credentials":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        expected = "no AWS credentials found"
    elif case == "unreachable":
        endpoint, expected = f"http://127.0.0.1:{_free_port()}", "cannot reach the S3 endpoint"
    else:
        expected = "no manifest.json there"
    for argv in (["pull", url, "--out", str(tmp_path / "p")],
                 ["push", str(tmp_path), url],
                 ["train", "--levels", LEVEL, "--out", str(tmp_path / "never"), "--s3", url]):
        if case == "no manifest" and argv[0] != "pull":
            continue
        assert main([*argv, "--s3-endpoint", endpoint]) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("ninjarl: error: "), err
        assert expected in err, err
    assert not (tmp_path / "never").exists()                 # checked before training


def test_pull_verifies_the_manifest(s3, tmp_path):
    directory = _make_dir(tmp_path / "d", {"a.txt": b"alpha", "b.txt": b"beta"})
    url = f"s3://{BUCKET}/tampered"
    upload_dir(directory, url, s3.endpoint)
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    client.put_object(Bucket=BUCKET, Key="tampered/b.txt", Body=b"BETA")   # same size
    with pytest.raises(S3Error, match="b.txt: 4 bytes with sha256 .* but the manifest says"):
        pull(url, tmp_path / "back", s3.endpoint)
    assert _files(tmp_path / "back") == {"a.txt": b"alpha"}       # never a wrong file
    manifest = _manifest(s3, "tampered")
    manifest["files"][0]["path"] = "../escape.txt"
    client.put_object(Bucket=BUCKET, Key=f"tampered/{MANIFEST}", Body=json.dumps(manifest))
    with pytest.raises(S3Error, match="unsafe path '../escape.txt'"):
        pull(url, tmp_path / "other", s3.endpoint)


def test_s3_urls():
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b")
    assert S3Location.parse("s3://bucket").key("x/y") == "x/y"
    with pytest.raises(S3Error, match="not an S3 URL"):
        S3Location.parse("https://bucket/a")


@pytest.mark.parametrize("missing, argv", [
    ("boto3", ["pull", "s3://bucket/run"]),
    ("boto3", ["push", ".", "s3://bucket/run"]),
    ("boto3", ["train", "--levels", LEVEL, "--s3", "s3://bucket/run"]),
    ("ray", ["compare", "--archs", "vision_free", "--levels", LEVEL, "--ray"]),
    ("optuna", ["sweep", "--levels", LEVEL, "--trials", "1", "--timesteps", "32"]),
])
def test_a_missing_cloud_extra_is_a_one_line_error(missing, argv, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)            # as if not installed
    if argv[0] in ("train", "compare", "sweep"):
        argv = [*argv, "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"ninjarl: error: {err.split(': ', 2)[2]}" and err.count("\n") == 1
    assert f"needs the '{missing}' package: pip install 'ninjarl[cloud]'" in err
    assert not (tmp_path / "out").exists()
