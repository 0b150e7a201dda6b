"""``pixelguard crosswalk``: export, look up and rotate the encrypted crosswalk.

Two backends, picked per call:

- Vault mode, when ``--vault-addr`` is given or both ``VAULT_ADDR`` and ``VAULT_TOKEN`` are set: entries on
  the compacted crosswalk topic (``--kafka`` or ``PIXELGUARD_KAFKA_BOOTSTRAP``), encrypted by transit.
  The token is read from ``VAULT_TOKEN`` only, never from the command line (``ps`` would show it).
- Local mode otherwise: the key file and the JSONL crosswalk beside it (embedded ``pixelguard deid``).

Exit codes: 0 done; 1 nothing matched; 2 usage or configuration error; 3 refused: the token lacks the
policy (e.g. a worker token asking to decrypt); 4 the key service, Kafka or the audit trail is unavailable.
Every lookup, export, rotation and setup is audited (``pixelguard.audit``) before any result is shown or
written; the event carries ids and counts only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelguard.settings import Settings

from ._common import key_file

if TYPE_CHECKING:  # hvac is imported only when a Vault command runs
    from pixelguard.keyservice.vault_setup import KubernetesAuth

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_UNAVAILABLE = 4

_DENIED_HINT = ("this Vault token may not re-identify: it lacks decrypt on {path} (policy {policy!r} needed). "
                "Worker tokens can only encrypt and hmac.")


def register(sub: argparse._SubParsersAction) -> None:
    crosswalk = sub.add_parser("crosswalk", help="the encrypted crosswalk").add_subparsers()

    export = crosswalk.add_parser("export", help="decrypt the crosswalk to FILE (created 0600)")
    export.add_argument("--out", required=True, type=Path, metavar="FILE")
    export.add_argument("--job", default=None, metavar="ID", help="only this job (required in Vault mode)")
    _common_options(export)
    export.set_defaults(handler=export_command)

    lookup = crosswalk.add_parser("lookup", help="print the entries behind a pseudonym or output UID")
    lookup.add_argument("pseudonym", metavar="PSEUDONYM")
    _common_options(lookup)
    lookup.set_defaults(handler=lookup_command)

    rotate = crosswalk.add_parser("rotate", help="rotate the transit keys and rewrap every stored entry")
    _common_options(rotate, local=False)
    rotate.set_defaults(handler=rotate_command)

    setup = crosswalk.add_parser("setup", help="create transit keys, policies and the worker AppRole (idempotent)")
    setup.add_argument("--secret-id-file", type=Path, default=None, metavar="FILE",
                       help="also issue a worker AppRole secret id into FILE (0600)")
    setup.add_argument("--kubernetes-namespace", default=None, metavar="NS",
                       help="also enable Kubernetes auth: workers of namespace NS log in with their service account")
    setup.add_argument("--kubernetes-service-account", default="pixelguard-worker", metavar="NAME",
                       help="the workers' service account (pixelguard-worker, as deploy/k8s names it)")
    setup.add_argument("--kubernetes-host", default="https://kubernetes.default.svc", metavar="URL",
                       help="the API server OpenBao sends TokenReviews to (the in-cluster address)")
    _common_options(setup, local=False)
    setup.set_defaults(handler=setup_command)


def _common_options(parser: argparse.ArgumentParser, local: bool = True) -> None:
    if local:
        parser.add_argument("--key-file", type=Path, default=None, help="local mode: the key file")
    parser.add_argument("--vault-addr", default=None, help="Vault/OpenBao address (default $VAULT_ADDR)")
    parser.add_argument("--kafka", default=None, metavar="BOOTSTRAP",
                        help="Kafka bootstrap servers (default $PIXELGUARD_KAFKA_BOOTSTRAP)")
    parser.add_argument("--vault-prefix", default=None,
                        help="name prefix of the transit keys and policies (default $PIXELGUARD_VAULT_PREFIX "
                             "or 'pixelguard')")
    parser.add_argument("--vault-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to retry a sealed or unreachable Vault before giving up")
    parser.add_argument("--audit-file", type=Path, default=None, help="append-only audit JSONL file")


# --- plumbing ----------------------------------------------------------------------------------------------

class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _vault_mode(args: argparse.Namespace) -> bool:
    vault = Settings.from_env().vault
    return bool(args.vault_addr or (vault.addr and vault.token))


@dataclass
class _VaultContext:
    keys: Any  # VaultKeyService
    store: Any  # KafkaCrosswalk
    audit: Any  # AuditLog
    actor: str


def _vault_context(args: argparse.Namespace) -> _VaultContext:
    from pixelguard.audit import AuditLog
    from pixelguard.crosswalk.kafka import KafkaCrosswalk
    from pixelguard.keyservice.vault import RetryPolicy, VaultKeyService, VaultLayout

    vault = Settings.from_env().vault
    addr = args.vault_addr or vault.addr
    token = vault.token
    if not token:
        raise _Refused(EXIT_USAGE, "Vault mode needs a token in PIXELGUARD_VAULT_TOKEN")
    bootstrap = args.kafka or os.environ.get("PIXELGUARD_KAFKA_BOOTSTRAP")
    if not bootstrap:
        raise _Refused(EXIT_USAGE, "Vault mode needs Kafka: --kafka BOOTSTRAP or PIXELGUARD_KAFKA_BOOTSTRAP")
    layout = VaultLayout(prefix=args.vault_prefix or vault.prefix)
    keys = VaultKeyService.connect(addr, token, layout=layout, retry=RetryPolicy(deadline_s=args.vault_timeout))
    audit = AuditLog.from_env(args.audit_file, bootstrap)
    return _VaultContext(keys, KafkaCrosswalk(bootstrap, keys), audit, keys.session.actor())


def _local_audit(args: argparse.Namespace, keys_path: Path):
    from pixelguard.audit import AuditLog

    # Beside the key file and the crosswalk by default: same trust domain, and tests stay in their tmp dir.
    explicit = args.audit_file or (Path(os.environ["PIXELGUARD_AUDIT_FILE"])
                                   if os.environ.get("PIXELGUARD_AUDIT_FILE") else None)
    return AuditLog.from_env(explicit or keys_path.parent / "audit.jsonl")


def _guarded(handler):
    """Turn every expected failure into one clear line on stderr and an exit code; never a traceback."""

    def run(args: argparse.Namespace) -> int:
        from pixelguard.audit import AuditError
        from pixelguard.crosswalk.kafka import CrosswalkError
        from pixelguard.keyservice.vault import VaultDenied, VaultError

        try:
            return int(handler(args))
        except _Refused as err:
            print(f"pixelguard: {err}", file=sys.stderr)
            return err.code
        except VaultDenied as err:
            print(f"pixelguard: refused: {err}", file=sys.stderr)
            return EXIT_DENIED
        except (VaultError, CrosswalkError) as err:
            print(f"pixelguard: {err}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        except AuditError as err:
            # Lookups and exports record before they reveal anything, so for them nothing was shown.
            print(f"pixelguard: audit trail unavailable, nothing revealed: {err}", file=sys.stderr)
            return EXIT_UNAVAILABLE

    return run


def _require_reidentify(ctx: _VaultContext, action: str, job_id: str | None = None) -> None:
    from pixelguard.audit import AuditEvent

    if ctx.keys.may_decrypt():
        return
    layout = ctx.keys.layout
    ctx.audit.record(AuditEvent(action, "denied", ctx.actor, job_id=job_id,
                                detail={"reason": "missing-reidentify-policy"}))
    raise _Refused(EXIT_DENIED, "refused: " + _DENIED_HINT.format(path=layout.decrypt_path(),
                                                                   policy=layout.reidentifier_policy))


# --- export ------------------------------------------------------------------------------------------------

@_guarded
def export_command(args: argparse.Namespace) -> int:
    return export_vault(args) if _vault_mode(args) else export_local(args)


def export_local(args: argparse.Namespace) -> int:
    from pixelguard.audit import AuditEvent, local_actor
    from pixelguard.crosswalk.local import LocalCrosswalk, crosswalk_path
    from pixelguard.keyservice.local import LocalKeyService

    keys = LocalKeyService.open(key_file(args), create=False)
    store = LocalCrosswalk(crosswalk_path(keys.path), keys)
    rows = [asdict(entry) for entry in store.entries(args.job)]
    _local_audit(args, keys.path).record(AuditEvent("crosswalk.export", "ok", local_actor(), job_id=args.job,
                                                    detail={"entries": len(rows), "backend": "local"}))
    count = write_private_jsonl(args.out, rows)
    print(f"exported {count} crosswalk entries to {args.out}", file=sys.stderr)
    return 0


def export_vault(args: argparse.Namespace) -> int:
    from pixelguard.audit import AuditEvent

    if not args.job:
        raise _Refused(EXIT_USAGE, "Vault mode exports one job at a time: give --job ID")
    ctx = _vault_context(args)
    _require_reidentify(ctx, "crosswalk.export", args.job)
    rows = [asdict(entry) for entry in ctx.store.entries(args.job)]
    outcome = "ok" if rows else "not-found"
    ctx.audit.record(AuditEvent("crosswalk.export", outcome, ctx.actor, job_id=args.job,
                                detail={"entries": len(rows), "backend": "vault"}))
    if not rows:
        print(f"pixelguard: no crosswalk entries for job {args.job}", file=sys.stderr)
        return EXIT_NOT_FOUND
    count = write_private_jsonl(args.out, rows)
    print(f"exported {count} crosswalk entries of job {args.job} to {args.out}", file=sys.stderr)
    return 0


# --- lookup ------------------------------------------------------------------------------------------------

@_guarded
def lookup_command(args: argparse.Namespace) -> int:
    from pixelguard.audit import AuditEvent, local_actor
    from pixelguard.crosswalk.base import index_tag

    term = args.pseudonym.strip()
    if _vault_mode(args):
        ctx = _vault_context(args)
        _require_reidentify(ctx, "crosswalk.lookup")
        found, keys, audit, actor = ctx.store.lookup(term), ctx.keys, ctx.audit, ctx.actor
    else:
        from pixelguard.crosswalk.local import LocalCrosswalk, crosswalk_path
        from pixelguard.keyservice.local import LocalKeyService

        keys = LocalKeyService.open(key_file(args), create=False)
        found = LocalCrosswalk(crosswalk_path(keys.path), keys).lookup(term)
        audit, actor = _local_audit(args, keys.path), local_actor()
    if not found:
        # What was typed may be an original value by mistake: record only its keyed tag, never the text.
        audit.record(AuditEvent("crosswalk.lookup", "not-found", actor,
                                targets={"term_tag": index_tag(keys, term)}))
        print("pixelguard: no crosswalk entry for that pseudonym", file=sys.stderr)
        return EXIT_NOT_FOUND
    # A match proves the term is one of our pseudonyms (or an output name): safe to record as is.
    audit.record(AuditEvent("crosswalk.lookup", "ok", actor, targets={"pseudonym": term},
                            detail={"matches": len(found)}))
    for entry in found:
        print(json.dumps(asdict(entry), sort_keys=True))
    return 0


# --- rotate and setup (Vault only) ---------------------------------------------------------------------------

@_guarded
def rotate_command(args: argparse.Namespace) -> int:
    from pixelguard.audit import AuditEvent

    if not _vault_mode(args):
        raise _Refused(EXIT_USAGE, "rotate needs Vault: --vault-addr (or VAULT_ADDR) and VAULT_TOKEN")
    ctx = _vault_context(args)
    layout = ctx.keys.layout
    caps = ctx.keys.session.capabilities([layout.rotate_path()])[layout.rotate_path()]
    if "update" not in caps and "root" not in caps:
        ctx.audit.record(AuditEvent("key.rotate", "denied", ctx.actor, detail={"reason": "missing-admin-policy"}))
        raise _Refused(EXIT_DENIED, f"refused: this Vault token may not rotate {layout.crosswalk_key} "
                                    f"(policy {layout.admin_policy!r} needed)")
    try:
        rotated = ctx.keys.rotate_keys()
        report = ctx.store.rewrap_all(ctx.keys)
    except Exception as err:
        ctx.audit.record(AuditEvent("key.rotate", "error", ctx.actor, detail={"error": err.__class__.__name__}))
        raise
    ctx.audit.record(AuditEvent("key.rotate", "ok", ctx.actor, targets={"key": layout.crosswalk_key}, detail={
        "crosswalk_version": rotated.crosswalk_version, "datakey_version": rotated.datakey_version,
        "entries": report.total, "rewrapped": report.rewrapped, "seconds": round(rotated.seconds + report.seconds, 3)}))
    print(json.dumps({"crosswalk_key_version": rotated.crosswalk_version,
                      "datakey_key_version": rotated.datakey_version, "entries": report.total,
                      "rewrapped": report.rewrapped, "rotate_s": round(rotated.seconds, 3),
                      "scan_s": round(report.scan_s, 3), "rewrap_s": round(report.rewrap_s, 3),
                      "produce_s": round(report.produce_s, 3), "verify_s": round(report.verify_s, 3)}))
    return 0


@_guarded
def setup_command(args: argparse.Namespace) -> int:
    from pixelguard.audit import AuditEvent
    from pixelguard.keyservice.vault_setup import new_worker_secret_id, setup_vault

    if not _vault_mode(args):
        raise _Refused(EXIT_USAGE, "setup needs Vault: --vault-addr (or VAULT_ADDR) and VAULT_TOKEN")
    ctx = _vault_context(args)
    # setup_vault speaks hvac directly (mounts, policies, auth): run it through the retry loop as one step.
    result = ctx.keys.session.call("setup", lambda client: setup_vault(client, ctx.keys.layout))
    auth = kubernetes_auth(args)
    if auth is not None:
        from pixelguard.keyservice.vault_setup import setup_kubernetes_auth

        ctx.keys.session.call("Kubernetes auth setup", lambda c: setup_kubernetes_auth(c, ctx.keys.layout, auth))
    if args.secret_id_file:
        secret_id = ctx.keys.session.call("issue secret id", lambda c: new_worker_secret_id(c, ctx.keys.layout))
        write_private_text(args.secret_id_file, secret_id + "\n")
    ctx.audit.record(AuditEvent("crosswalk.setup", "ok", ctx.actor, targets={"role": ctx.keys.layout.worker_role}))
    print(json.dumps({"role_id": result.role_id, "policies": result.policies}))
    return 0


def kubernetes_auth(args: argparse.Namespace) -> KubernetesAuth | None:
    """What ``setup --kubernetes-*`` asks for, or None when no namespace was given."""
    from pixelguard.keyservice.vault_setup import KubernetesAuth

    if not args.kubernetes_namespace:
        return None
    return KubernetesAuth(host=args.kubernetes_host, namespace=args.kubernetes_namespace,
                          service_account=args.kubernetes_service_account)


# --- files -------------------------------------------------------------------------------------------------

def write_private_text(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def write_private_jsonl(out: Path, rows: Iterable[dict]) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: force it
    count = 0
    with os.fdopen(fd, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            count += 1
    return count
