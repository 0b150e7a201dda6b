"""Embedded mode keeps working: the local key file and JSONL crosswalk, now with lookup and an audit trail."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.local import LocalCrosswalk, crosswalk_path
from pixelguard.keyservice.local import LocalKeyService

from .conftest import fake_entry


def run(*args: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PIXELGUARD_"))}
    env["PIXELGUARD_KEY_FILE"] = str(key_file)
    return subprocess.run([sys.executable, "-m", "pixelguard.cli", "crosswalk", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_local_lookup_and_export_are_audited_beside_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "key.json"
    keys = LocalKeyService.open(key_file)
    derive = Derivations(keys.hmac)
    entries = [fake_entry(derive, i, "job-local") for i in range(3)]
    LocalCrosswalk(crosswalk_path(keys.path), keys).append(entries)

    found = run("lookup", entries[1].pseudonyms["PatientID"], key_file=key_file)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["input_path"] == entries[1].input_path
    assert run("lookup", "PGNOSUCHPSEUDONYM000", key_file=key_file).returncode == 1
    out = tmp_path / "x.jsonl"
    assert run("export", "--out", str(out), key_file=key_file).returncode == 0
    assert len(out.read_text().splitlines()) == 3
    # Rotation needs Vault: a usage error, not a traceback.
    rotate = run("rotate", key_file=key_file)
    assert rotate.returncode == 2 and "Traceback" not in rotate.stderr

    events = [json.loads(line) for line in (key_file.parent / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("crosswalk.lookup", "ok"), ("crosswalk.lookup", "not-found"), ("crosswalk.export", "ok")]
    assert events[0]["actor"].startswith("os:")
