"""``dcellx data verify``: every file of the cache re-checked, registered files and compiled
ontologies alike."""

from __future__ import annotations

from dcellx.errors import DcellxError
from dcellx.fileio import remove_stale_temps
from dcellx.io.registry import CacheCheck, cache_dir, stale_temp_folders, verify_entries
from dcellx.ontology.compiled import CompiledOntology


def verify_cache() -> list[CacheCheck]:
    """Re-check every file in the cache: pinned files against their sha256, unpinned downloads
    against their record, compiled ontologies against their content hash; report records whose
    file is gone and cached unpinned files without a record; remove dead writers' temp files."""
    root = cache_dir()
    checks = verify_entries()
    for npz in sorted((root / "ontologies").glob("*.npz")):
        try:
            onto = CompiledOntology.load(npz)
            checks.append(CacheCheck(npz, "ok", f"compiled ontology {onto.content_hash[:12]}"))
        except (OSError, DcellxError) as exc:
            checks.append(CacheCheck(npz, "failed", str(exc)))
    for folder in stale_temp_folders() | {root / "ontologies"}:
        for tmp in remove_stale_temps(folder):
            checks.append(CacheCheck(tmp, "removed", "temp file of an interrupted write"))
    return checks
