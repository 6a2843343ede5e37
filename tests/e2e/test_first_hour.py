"""README's "The first hour", followed exactly as written: its commands are read from README.md (so the two
cannot drift) and run with bash, in order, from a checkout's root, on the README's own ports: `make demo`,
`make up`, the second shell's exports, doctor, a sync, a quarantined record, two lookups with curl; then
the dashboard's login with the generated operator's password and a quarantined record read there. What the
README says the newcomer sees is checked against what they get."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PORTS = {8080: "Airflow", 8300: "the lookup API", 8801: "land", 8802: "business", 8803: "construction",
         8804: "tax"}


def first_hour() -> tuple[str, list[list[str]]]:
    """(the section's text, its ```sh blocks as lists of commands, comments and continuation lines dropped)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The first hour", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
        blocks.append([c for c in commands if c and not c.startswith("#")])
    return section, blocks


def test_the_readme_first_hour_is_what_this_test_runs() -> None:
    """The parse itself: the commands the README shows, in its order (the e2e test below runs these)."""
    section, blocks = first_hour()
    assert [b[:2] for b in blocks][:1] == [["make demo", "make up"]], blocks
    second = blocks[1]
    assert [c.split("=")[0] for c in second if c.startswith("export ")] == [
        "export LIENTHONG_DATABASE_URL", "export LIENTHONG_DATA_DIR", "export AIRFLOW_HOME",
        *(f"export LIENTHONG_AGENCY_{a}_URL" for a in ("LAND", "BUSINESS", "CONSTRUCTION", "TAX"))]
    tools = [c.split()[0] + (" " + c.split()[1] if c.startswith(".venv") else "") for c in second
             if not c.startswith("export ")]
    assert tools == [".venv/bin/lienthong doctor", ".venv/bin/lienthong sync", ".venv/bin/lienthong quarantine",
                     ".venv/bin/lienthong quarantine", "curl", "curl"], tools
    assert "var/ops-passwords.generated" in section and "http://127.0.0.1:8300/ops/" in section


def _taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free; a listener is not
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _checkout(where: Path) -> Path:
    """A checkout's root without a var/ of its own: the tree's files by symlink, the test's .venv."""
    where.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".venv", ".git", "lienthong.egg-info") and not entry.name.startswith("."):
            (where / entry.name).symlink_to(entry)
    (where / ".venv").symlink_to(Path(sys.prefix))
    return where


def _bash(command: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_first_hour_as_the_readme_says(tmp_path: Path) -> None:
    taken = [f"{port} ({what})" for port, what in PORTS.items() if _taken(port)]
    if taken:  # nothing of ours listens there before `make up`: it is another process, not a pass
        pytest.skip(f"README's ports taken by another process: {', '.join(taken)}; free them to run this test")
    section, (first, second) = first_hour()
    assert first == ["make demo", "make up"]
    repo = _checkout(tmp_path / "lienthong")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "AIRFLOW", "VIRTUAL_ENV"))}
    env["PWD"] = str(repo)

    # make demo: the whole path once, then the table and the lookups the README announces
    demo = _bash("make demo", repo, env, 300)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    code, name = re.search(r"the first of enterprise (\d{10}) \(([^)]+)\)", section).groups()  # type: ignore[union-attr]
    for said in ("published datasets", "four cross-agency lookups", f"enterprise {code} ({name})"):
        assert said in demo.stdout, f"README: make demo shows {said!r}\n{demo.stdout[-3000:]}"

    log = (tmp_path / "up.log").open("w+", encoding="utf-8")
    up = subprocess.Popen(["bash", "-c", "make up"], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True)
    try:
        printed = _wait_for(tmp_path / "up.log", "stops everything", up, 300)
        for url in ("http://127.0.0.1:8080", "http://127.0.0.1:8300/docs", "http://127.0.0.1:8300/ops/",
                    *(f"http://127.0.0.1:{p}" for p in range(8801, 8805))):
            assert url in printed, printed
        assert str(repo / "var" / "ops-passwords.generated") in printed, printed
        # the exports the README shows are the ones make up printed (with $PWD the checkout's root)
        exports = [c for c in second if c.startswith("export ")]
        assert [e.replace("$PWD", str(repo)) for e in exports] == re.findall(r"^\s+(export \S+)$", printed,
                                                                              re.MULTILINE), printed

        outputs: dict[str, str] = {}
        for written in (c for c in second if not c.startswith("export ")):
            command = written
            if "<id>" in command:  # "an id from the list": the first one the list printed
                rows = outputs[".venv/bin/lienthong quarantine list --dataset enterprises"].splitlines()
                command = command.replace("<id>", rows[1].split("\t")[0])
            done = _bash("; ".join([*exports, command]), repo, env, 300)
            said = f"{command}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            assert done.returncode == 0, said
            outputs[written] = done.stdout
            _as_the_readme_says(command, done.stdout, name)

        # the dashboard, in Vietnamese: log in as `operator` with the password in var/ops-passwords.generated
        user, password = (repo / "var" / "ops-passwords.generated").read_text().strip().split(": ", 1)
        assert user == "operator"
        assert (repo / "var" / "airflow" / "simple_auth_manager_passwords.json.generated").exists()
        with httpx.Client(base_url="http://127.0.0.1:8300", timeout=30) as client:
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/ops/login").text)
            assert token
            answer = client.post("/ops/login", data={"csrf": token.group(1), "operator": user, "password": password})
            assert answer.status_code == 303, answer.text
            overview = client.get("/ops/").text
            assert '<html lang="vi">' in overview and 'data-source="business"' in overview
            assert ">Cách ly</a>" in overview  # "open Quarantine (Cách ly)"
            listing = client.get("/ops/quarantine", params={"status": ""}).text
            ids = re.findall(r'href="/ops/quarantine/(\d+)"', listing)
            assert ids, listing  # the simulators corrupt 2% of their records on purpose
            record = client.get(f"/ops/quarantine/{ids[0]}").text
            assert "Bản ghi gốc, như đã nhận" in record and 'class="json raw"' in record
            assert client.get("/docs").status_code == 200
    finally:
        os.killpg(up.pid, signal.SIGTERM)  # Ctrl-C in the first shell
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(timeout=30)
        log.close()


def _as_the_readme_says(command: str, out: str, enterprise_name: str) -> None:
    """What the README's comment beside each command says the newcomer sees."""
    if command.endswith("lienthong doctor"):
        for check in ("database", "data_dir", "airflow", *(f"agency:{s}" for s in
                                                          ("business", "construction", "land", "tax"))):
            assert re.search(rf"{re.escape(check)}\s+│ ok ", out), out
    elif " sync business" in command:
        assert "business/enterprises -> enterprises: fetched " in out and "business/branches -> " in out, out
    elif " quarantine list" in command:
        header, *rows = out.splitlines()
        assert header.startswith("id\tdataset\trecord_key\trule\tcolumn\tvalue\t"), out
        assert rows and all(r.split("\t")[1] == "enterprises" for r in rows), out
    elif " quarantine show" in command:
        fields = dict(line.split(": ", 1) for line in out.splitlines() if re.match(r"^\w+: ", line))
        assert fields["dataset"] == "enterprises" and fields["status"] == "quarantined", out
        assert fields["rule"] and fields["column"] and fields["reason"] and fields["raw"].startswith("{"), out
    elif command.endswith("/v1/me"):
        assert json.loads(out)["client"] == "tax_office", out
    elif "/v1/enterprises/" in command:
        body = json.loads(out)
        (enterprise,) = body["data"]["enterprises"]
        assert enterprise["name"] == enterprise_name and "*" in enterprise["legal_rep_id"], out  # masked
        assert {"enterprise_profile", "taxpayers"} <= set(body["data"]), out
    else:
        raise AssertionError(f"README's first hour has a command this test does not know: {command}")


def _wait_for(path: Path, marker: str, proc: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8", errors="replace")
        if marker in text:
            return text
        if proc.poll() is not None:
            pytest.fail(f"make up exited {proc.returncode}:\n{text[-3000:]}")
        time.sleep(1)
    pytest.fail(f"make up did not get ready in {timeout:.0f} s:\n{path.read_text(errors='replace')[-3000:]}")
