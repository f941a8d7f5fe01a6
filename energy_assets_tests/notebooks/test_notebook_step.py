"""The notebook step: a SageMaker notebook instance created, opened, stopped, reused and
deleted against the local AWS (whose presigned URL is a real Jupyter), the Dagster job, and
`energy-assets notebook` serving the notebook locally with kernels that reach the local AWS."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import boto3
import dagster as dg
import httpx
import nbformat
import pandas as pd
import pytest
from dagster_aws.s3 import S3Resource

from energy_assets import layout
from energy_assets.localaws import notebook_instances
from energy_assets.notebooks.job import notebook_instance_job
from energy_assets.orchestration.definitions import build_resources
from energy_assets.resources import S3Storage
from energy_assets.settings import Settings
from energy_assets.tools.cli import main
from energy_assets_tests.notebooks.kernel import run_in_kernel

NAME = "test-exploration"


def _jupyter(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}", parse_qs(parsed.query)["token"][0]


def _train_csv(bucket: str) -> None:
    storage = S3Storage(bucket=bucket, s3=S3Resource())
    storage.ensure_bucket()
    days = pd.date_range("2025-01-01", periods=30).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"meter_id": "m1", "date": days, "usage": range(30)})
    storage.put_csv(layout.TRAIN, frame)


@pytest.fixture
def own_bucket(monkeypatch):
    """A bucket of its own: the session's pipeline keeps its training set in the shared one."""
    monkeypatch.setenv("ENERGY_ASSETS_BUCKET", "notebook-instance-test")
    return "notebook-instance-test"


def test_notebook_instance_create_url_stop_reuse_delete(local_aws, own_bucket, capsys):
    sagemaker = boto3.client("sagemaker")
    _train_csv(own_bucket)
    assert main(["notebook-instance", "create", "--name", NAME, "--volume-gb", "10"]) == 0
    out = capsys.readouterr().out
    assert f"lifecycle configuration {NAME}-lifecycle created" in out
    assert f"notebook instance {NAME} created (ml.t3.medium, 10 GB)" in out
    assert f"notebook instance {NAME} is InService" in out
    url = re.search(r"Jupyter: (\S+)", out).group(1)

    described = sagemaker.describe_notebook_instance(NotebookInstanceName=NAME)
    assert described["RoleArn"] == Settings().role_arn
    assert described["NotebookInstanceLifecycleConfigName"] == f"{NAME}-lifecycle"
    config = sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=f"{NAME}-lifecycle"
    )
    on_start = base64.b64decode(config["OnStart"][0]["Content"]).decode()
    bucket = Settings().bucket
    assert f"aws s3 cp s3://{bucket}/notebook-instance/exploration.ipynb" in on_start
    assert "pip install --quiet /tmp/energy_assets-src.tar.gz" in on_start

    # the URL is a Jupyter serving the instance's home folder with the notebook in it, its
    # parameters naming this bucket, and kernels that reach the local AWS
    base, token = _jupyter(url)
    page = httpx.get(url, follow_redirects=True)
    assert page.status_code == 200 and "Jupyter" in page.text
    listing = httpx.get(f"{base}/api/contents?token={token}").json()
    assert [f["name"] for f in listing["content"]] == ["exploration.ipynb"]
    notebook = httpx.get(f"{base}/api/contents/exploration.ipynb?token={token}").json()
    cells = nbformat.from_dict(notebook["content"]).cells
    assert f"BUCKET = '{bucket}'" in cells[2].source
    read = "import boto3\nprint(boto3.client('s3').get_object(Bucket=BUCKET, Key=TRAIN_KEY)"
    read += "['Body'].read().decode().count(chr(10)), 'lines')"
    loaded = run_in_kernel(base, token, f"{cells[1].source}\n{cells[2].source}\n{read}")
    assert loaded.strip() == "31 lines"  # header and 30 days, read from the local S3

    assert main(["notebook-instance", "url", "--name", NAME]) == 0
    assert capsys.readouterr().out.strip() == url  # the same running Jupyter

    assert main(["notebook-instance", "stop", "--name", NAME]) == 0
    assert capsys.readouterr().out.strip() == f"notebook instance {NAME} is Stopped"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    assert main(["notebook-instance", "url", "--name", NAME]) == 1
    assert "is Stopped, not InService" in capsys.readouterr().err

    # create again: the stopped instance is updated and started, the home folder kept
    home = notebook_instances.home_folder("123456789012", "us-east-1", NAME)
    (home / "mine.txt").write_text("kept across a stop")
    assert (
        main(["notebook-instance", "create", "--name", NAME, "--instance-type", "ml.t3.large"]) == 0
    )
    out = capsys.readouterr().out
    assert f"notebook instance {NAME} updated: InstanceType" in out
    assert f"notebook instance {NAME} started" in out
    base, token = _jupyter(re.search(r"Jupyter: (\S+)", out).group(1))
    names = {f["name"] for f in httpx.get(f"{base}/api/contents?token={token}").json()["content"]}
    assert names == {"exploration.ipynb", "mine.txt"}

    assert main(["notebook-instance", "delete", "--name", NAME]) == 0
    assert capsys.readouterr().out.strip() == f"notebook instance {NAME}: Deleted"
    assert not home.exists()
    with pytest.raises(sagemaker.exceptions.ClientError):
        sagemaker.describe_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=f"{NAME}-lifecycle"
        )
    assert main(["notebook-instance", "status", "--name", NAME]) == 0
    assert capsys.readouterr().out.strip() == f"notebook instance {NAME}: absent"


def test_notebook_instance_job_reports_the_jupyter_url(local_aws, own_bucket):
    resources = build_resources(Settings())
    config = {"name": "job-exploration", "poll_seconds": 0.1}
    result = notebook_instance_job.execute_in_process(
        run_config={"ops": {"notebook_instance": {"config": config}}},
        resources={"sagemaker": resources["sagemaker"], "storage": resources["storage"]},
        instance=dg.DagsterInstance.ephemeral(),
    )
    outputs = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    output = outputs[0].event_specific_data.metadata
    assert output["status"].value == "InService"
    assert httpx.get(output["jupyter"].value, follow_redirects=True).status_code == 200
    deleted = notebook_instance_job.execute_in_process(
        run_config={"ops": {"notebook_instance": {"config": {**config, "action": "delete"}}}},
        resources={"sagemaker": resources["sagemaker"], "storage": resources["storage"]},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert deleted.success
    assert (
        boto3.client("sagemaker").list_notebook_instances(NameContains="job-")["NotebookInstances"]
        == []
    )


def test_notebook_command_serves_the_notebook_wired_to_the_local_aws(local_aws, tmp_path):
    _train_csv("notebook-local")
    env = {**os.environ, **local_aws.env(), "ENERGY_ASSETS_BUCKET": "notebook-local"}
    command = [sys.executable, "-m", "energy_assets.tools.cli", "notebook", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--dir", str(tmp_path / "home")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert f"kernels reach {local_aws.endpoint_url}" in lines[0], process.stderr.read()
        url = lines[1].split("open ", 1)[1].strip()
        assert "/notebooks/exploration.ipynb?token=" in url
        page = httpx.get(url, follow_redirects=True)
        assert page.status_code == 200 and "exploration.ipynb" in page.text
        base, token = _jupyter(url)
        notebook = nbformat.read(str(tmp_path / "home" / "exploration.ipynb"), as_version=4)
        code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
        first_cells = code.split("train.head()")[0]  # parameters and the load from S3
        # (without importing matplotlib, the slowest import and not what is tested here)
        first_cells = first_cells.replace("import matplotlib.pyplot as plt\n", "")
        out = run_in_kernel(base, token, first_cells)
        assert "s3://notebook-local/datasets/train/train.csv: 30 rows, 1 meters" in out
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    time.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_notebook_command_without_an_aws_says_what_to_start(tmp_path, monkeypatch, capsys):
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOCAL_AWS_PORT", "1")  # nothing listens there
    assert main(["notebook", "--dir", str(tmp_path), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("notebook: no local AWS on 127.0.0.1:1: start one")
    assert json.dumps(err).count("\\n") == 0
