"""Call `ponder.cli.main` in-process with one command group registered (the others are not
imported), returning (exit code, stdout, stderr): main()'s error mapping is part of what is
tested."""

from __future__ import annotations

import sys

from ponder import cli


def run_cli(monkeypatch, capsys, module: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(cli, "COMMAND_MODULES", (module,))
    # main() registers its commands on every call: start from none, or each call grows the app
    # (and slows: a test file of 200 calls spent 0.4 s a call rebuilding duplicate commands).
    monkeypatch.setattr(cli.app, "registered_commands", [])
    monkeypatch.setattr(cli.app, "registered_groups", [])
    monkeypatch.setattr(sys, "argv", ["ponder", *argv])
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err
