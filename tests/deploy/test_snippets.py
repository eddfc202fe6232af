"""Every `prometheus.yml` we show is one Prometheus accepts: each YAML snippet with `remote_write` or
`remote_read` in the README and docs/, and what `make run` prints, goes through the real
`promtool check config` (Debian's Prometheus 2.42 here and in CI).

A snippet that needs a newer Prometheus must say so in the paragraph right above it; 2.42's promtool
then checks it without the newer fields, so a field that exists in no version still fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.local import prometheus_snippet
from tests.deploy.cfn import ROOT
from tests.integration.serve_process import serving
from tests.tools import missing

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# prometheus.yml fields newer than the Prometheus the tests run, with the version that added them.
NEWER_FIELDS = {"service_name": "3.5", "protobuf_message": "2.54"}


@dataclass(frozen=True)
class Snippet:
    where: str  # file:line of the fence
    text: str
    intro: str  # the paragraph right above the fence: where a version note must be

    def newer_fields(self) -> dict[str, str]:
        return {f: v for f, v in NEWER_FIELDS.items() if re.search(rf"^\s*{f}:", self.text, re.MULTILINE)}

    def without_newer_fields(self) -> str:
        fields = "|".join(map(re.escape, self.newer_fields()))
        return re.sub(rf"^\s*(?:{fields}):.*\n", "", self.text, flags=re.MULTILINE) if fields else self.text


def shown_snippets() -> list[Snippet]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            language, body = match.groups()
            if language not in ("yaml", "yml") or not re.search(r"^remote_(write|read):", body, re.MULTILINE):
                continue
            paragraphs = text[: match.start()].rstrip().split("\n\n")
            line = text.count("\n", 0, match.start()) + 1
            found.append(Snippet(f"{doc.relative_to(ROOT)}:{line}", body, " ".join(paragraphs[-1].split())))
    return found


SNIPPETS = shown_snippets()


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool", "apt-get install -y prometheus")
    return path


def check(promtool: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    return subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)


def test_the_docs_show_a_config_for_each_way_in() -> None:
    texts = [s.text for s in SNIPPETS]
    basic = [t for t in texts if t.count("basic_auth:") == 2 and "password_file:" in t]
    proxied = [t for t in texts if "127.0.0.1:8005" in t and "remote_read:" in t]
    signed = [t for t in texts if re.search(r"sigv4:\n\s+region: \S+\n\s+service_name: execute-api", t)]
    assert basic and proxied and signed, [s.where for s in SNIPPETS]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.where for s in SNIPPETS])
def test_shown_config_is_accepted_by_promtool(snippet: Snippet, promtool: str, tmp_path: Path) -> None:
    assert not re.search(r"^remote_read:(\n .*)*\n\s+sigv4:", snippet.text, re.MULTILINE), (
        "no Prometheus version has sigv4 under remote_read")
    whole = check(promtool, snippet.text, tmp_path)
    if whole.returncode == 0:
        return
    newer = snippet.newer_fields()
    assert newer, whole.stdout + whole.stderr
    for field, version in newer.items():
        note = rf"Prometheus {re.escape(version)}(\.\d+)? (or|and) later"
        assert re.search(note, snippet.intro), f"{snippet.where}: say right above it which version needs {field}"
    assert any(f"field {field} not found" in whole.stdout + whole.stderr for field in newer)
    stripped = check(promtool, snippet.without_newer_fields(), tmp_path)
    assert stripped.returncode == 0, stripped.stdout + stripped.stderr


@pytest.mark.parametrize("sigv4", [False, True], ids=["basic", "sigv4"])
def test_make_run_snippet_is_accepted_by_promtool(sigv4: bool, promtool: str, tmp_path: Path) -> None:
    snippet = prometheus_snippet("http://127.0.0.1:9201", sigv4)
    assert snippet.count("basic_auth:") == (0 if sigv4 else 2)
    result = check(promtool, snippet, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_what_serve_prints_is_accepted_by_promtool(promtool: str, tmp_path: Path) -> None:
    """The snippet exactly as `make run` (`serve --local`) prints it, taken from its output."""
    with serving(["--local"]) as served:
        printed = served.printed()
    snippet = printed.split("Add to prometheus.yml:", 1)[1]
    assert f"url: {served.url}/write" in snippet and snippet.count("basic_auth:") == 2
    result = check(promtool, snippet, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
