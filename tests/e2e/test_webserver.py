"""End to end through the real Dagster webserver and daemon, a GraphQL client and a real browser.

`dagster dev` runs as a subprocess on a free loopback port with an instance home of its own
(the project's dagster.yaml: one run at a time). The job is launched through GraphQL, the
release is checked, headless Chromium opens the asset graph and the `claims` asset page, and
the server is stopped by its process id (its process group) at the end.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True)
        shutil.copyfile(PROJECT_ROOT / "pipelines" / "instance" / "dagster.yaml", self.home / "dagster.yaml")
        self.raw = root / "raw"
        self.raw.mkdir()
        for path in sorted((PROJECT_ROOT / "raw").glob("*.txt")):
            shutil.copy2(path, self.raw / path.name)
        self.published = root / "data" / "published"
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "CLAIMWIRE_RAW_DIR": str(self.raw),
            "CLAIMWIRE_WAREHOUSE": str(root / "data" / "warehouse.duckdb"),
            "CLAIMWIRE_PUBLISH_DIR": str(self.published),
        }
        self.log = open(root / "dagster_dev.log", "w")
        dagster = Path(sys.executable).parent / "dagster"
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-m", "pipelines.definitions", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=PROJECT_ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"dagster dev did not answer on {self.url} in {timeout_s}s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return (self.root / "dagster_dev.log").read_text()[-3000:]

    def stop(self) -> None:
        # dagster dev runs the webserver and the daemon as children: stop the whole group by its id
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        self.log.close()

    def client(self):
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.port, timeout=60)

    def wait_for_runs(self, run_ids: list[str], timeout_s: float = 600) -> dict[str, str]:
        from dagster import DagsterRunStatus

        done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        client, deadline, statuses = self.client(), time.monotonic() + timeout_s, {}
        while time.monotonic() < deadline:
            statuses = {run_id: client.get_run_status(run_id) for run_id in run_ids}
            if all(s in done for s in statuses.values()):
                return {r: s.value for r, s in statuses.items()}
            time.sleep(2)
        raise TimeoutError(f"runs not finished after {timeout_s}s: {statuses}\n{self.tail()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("webserver"))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()
        assert srv.process.poll() is not None


@pytest.fixture(scope="module")
def first_run(server):
    run_id = server.client().submit_job_execution("claimwire")
    assert server.wait_for_runs([run_id]) == {run_id: "SUCCESS"}
    return run_id


def test_job_launched_through_graphql_publishes_the_release(server, first_run):
    with duckdb.connect() as conn:
        n_claims = conn.execute("select count(*) from read_parquet(?)", [str(server.published / "claims" / "*.parquet")]).fetchall()
        n_docs = conn.execute("select count(*) from read_parquet(?)", [str(server.published / "documents" / "*.parquet")]).fetchall()
    assert (n_docs, n_claims) == ([(5,)], [(33,)])


def test_two_runs_requested_at_once_run_one_after_the_other(server, first_run):
    from dagster import DagsterInstance

    client = server.client()
    run_ids = [client.submit_job_execution("claimwire"), client.submit_job_execution("claimwire")]
    assert server.wait_for_runs(run_ids) == {r: "SUCCESS" for r in run_ids}
    with DagsterInstance.from_config(str(server.home)) as instance:
        records = sorted((instance.get_run_record_by_id(r) for r in run_ids), key=lambda rec: rec.start_time)
    assert records[1].start_time >= records[0].end_time


def test_browser_shows_the_asset_graph_and_the_claims_materialisation(server, first_run):
    if CHROMIUM is None:
        if os.environ.get("CLAIMWIRE_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is required here (CLAIMWIRE_REQUIRE_BROWSER) but is not installed")
        pytest.skip("Debian's chromium is not installed (`make test` installs it when run as root)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}/asset-groups", wait_until="networkidle")
        _dismiss_welcome(page)
        for group in ("ingest", "dedup", "extract", "validate", "publish"):
            page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
        # one group expanded: its assets are nodes of the graph
        page.goto(f"{server.url}/locations/pipelines.definitions/asset-groups/extract", wait_until="networkidle")
        _dismiss_welcome(page)
        for name in ("claims", "facts"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "asset_graph_extract.png"), full_page=True)

        page.goto(f"{server.url}/assets/claims", wait_until="networkidle")
        _dismiss_welcome(page)
        page.get_by_text("new_mentions").first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "claims_asset.png"), full_page=True)
        browser.close()
    assert "Latest materialization" in body
    assert "Row count\n33" in body or "Row count | 33" in body.replace("\n", " | ")
    assert "by_measure" in body and "pay_per_soldier" in body


def _dismiss_welcome(page) -> None:
    """A first visit shows a newsletter dialog over the page; skip it when it is there."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
