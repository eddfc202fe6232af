"""Run emitted patterns on the engines Timestream and its stand-in use: Java's and RE2 (DuckDB)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import duckdb

_JAVA_SOURCE = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.regex.*;

public class RegexCheck {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t", -1);
            try {
                out.append(Pattern.compile(hex(parts[0])).matcher(hex(parts[1])).find() ? '1' : '0');
            } catch (PatternSyntaxException e) {
                out.append('E');
            }
            out.append('\n');
        }
        System.out.print(out);
    }

    static String hex(String text) {
        byte[] bytes = new byte[text.length() / 2];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) Integer.parseInt(text.substring(2 * i, 2 * i + 2), 16);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
"""

JAVA = shutil.which("java")


def java_find(pairs: Sequence[tuple[str, str]], workdir: Path) -> list[str]:
    """'1'/'0' per (pattern, text) for ``Pattern.compile(p).matcher(s).find()``; 'E' if refused."""
    source = workdir / "RegexCheck.java"
    source.write_text(_JAVA_SOURCE)
    lines = "".join(f"{p.encode().hex()}\t{s.encode().hex()}\n" for p, s in pairs)
    assert JAVA is not None
    done = subprocess.run([JAVA, str(source)], input=lines.encode(), capture_output=True, timeout=120, check=True)
    return done.stdout.decode().split()


def re2_find(pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """``regexp_matches(s, p)`` in DuckDB (RE2, contains semantics, like the embedded store)."""
    connection = duckdb.connect()
    try:
        row = connection.execute(
            "SELECT list_transform(list_zip(?::VARCHAR[], ?::VARCHAR[]), lambda x: regexp_matches(x[2], x[1]))",
            [[p for p, _ in pairs], [s for _, s in pairs]],
        ).fetchone()
        assert row is not None
        return list(row[0])
    finally:
        connection.close()
