"""Helpers shared by the web tests: program transcripts, a live server, a judge's browser-less
client that reads the CSRF token from the page like a browser form would."""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from oversight.core.records import Claim, Message, Transcript
from oversight.core.seeding import rng
from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import make_backdoor, make_honest

SECRET = "test-admin-secret"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLANTED = '<script>alert("pwned")</script><b>bold</b>'
KNOBS = GeneratorConfig(
    bits=10,
    length=20,
    rarity_bits=(3, 5),
    live_guards=1,
    decoy_guards=1,
    dead_lines=2,
    redundant_pairs=1,
)


def program_transcripts(n_problems: int = 3, plant: bool = False) -> list[Transcript]:
    """Per problem an honest and a backdoored artifact, each under two arms: ``unassisted`` (no
    messages) and ``assisted`` (a critic's claim; on backdoors a true counterexample)."""
    env = ProgramEnv(KNOBS)
    out = []
    for seed in range(n_problems):
        problem, ref = env.reference(seed)
        r = rng(0, "web-test", seed)
        for made in (make_honest(ref, r), make_backdoor(ref, r, "literal", 4)):
            artifact = env.artifact(problem, made, made.kind)
            if plant:
                artifact = artifact.model_copy(update={"author": PLANTED})
            gold = env.gold(env.context(problem, artifact), made)
            x = gold.diff_inputs[0] if gold.diff_inputs else 0
            text = f"R and P differ on {x}" if gold.diff_inputs else "I found nothing"
            claim = Claim(
                author="critic",
                suspicion=0.9 if gold.diff_inputs else 0.1,
                input=x,
                text=PLANTED if plant else text,
            )
            for arm, messages in (
                ("unassisted", []),
                (
                    "assisted",
                    [Message(role="critic", text=PLANTED if plant else text, claim=claim)],
                ),
            ):
                out.append(
                    Transcript(
                        episode_id=f"{arm}/{artifact.id}",
                        protocol="critique",
                        arm=arm,
                        problem=problem,
                        artifact=artifact,
                        messages=messages,
                        gold=gold,
                    )
                )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve ``app`` with uvicorn in a background thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


INSTALL_HINT = (
    "the browser tests need a browser: install Debian's chromium (`apt-get install chromium`) "
    "or Playwright's (`python -m playwright install chromium`)"
)


def _system_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _try(command: list[str], timeout: float = 900) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def chromium_executable(playwright_own: str) -> str:
    """A chromium the tests can drive, obtained once per session if the machine lacks one:
    Debian's package where this process may install packages (root with apt-get), else
    Playwright's own download (expected at ``playwright_own``). Fails the test in one line
    saying what to install."""
    found = _obtain_chromium(playwright_own)
    if not found:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


@functools.cache  # one attempt per session, failed or not
def _obtain_chromium(playwright_own: str) -> str | None:

    def own() -> str | None:
        return playwright_own if Path(playwright_own).exists() else None

    found = _system_chromium() or own()
    if found:
        return found
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("installing Debian's chromium for the browser tests", file=sys.stderr)
        if _try(["apt-get", "update", "-qq"]) and _try(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
        ):
            found = _system_chromium()
    if not found and _try([sys.executable, "-m", "playwright", "install", "chromium"]):
        found = own()
    return found


def launch_chromium(playwright):  # type: ignore[no-untyped-def]
    """Headless chromium (installed first if missing), with the flags that keep it off this
    machine's closed network."""
    return playwright.chromium.launch(
        executable_path=chromium_executable(playwright.chromium.executable_path),
        args=CHROMIUM_ARGS,
    )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def assignment_of(html: str) -> int | None:
    match = re.search(r"/a/(\d+)/verdict", html)
    return int(match.group(1)) if match else None


def judge_once(
    client: httpx.Client, token: str, decision: str = "reject", sure: int = 90
) -> int | None:
    """Open the judge's page and give a verdict on the item shown; the assignment id, or None
    when the judge is done."""
    page = client.get(f"/j/{token}")
    page.raise_for_status()
    assignment = assignment_of(page.text)
    if assignment is None:
        return None
    response = client.post(
        f"/j/{token}/a/{assignment}/verdict",
        data={"csrf": csrf_of(page.text), "decision": decision, "sure": str(sure)},
    )
    assert response.status_code in (200, 303), response.text
    return assignment
