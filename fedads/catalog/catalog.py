"""A catalogue version on disk: `ads.parquet`, `vocab.parquet` and `manifest.json` in one folder.

The manifest's sha256 addresses the content (both tables and the schema); `Catalog.load` checks every
file against it, so a catalogue that was changed, truncated or mixed with another is refused.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fedads.catalog.schema import ID_COLUMN, CatalogSchema, SchemaError

ADS, VOCAB, SEMANTIC, MANIFEST = "ads.parquet", "vocab.parquet", "semantic.parquet", "manifest.json"
FILES = (ADS, VOCAB)  # every catalogue's; SEMANTIC too when its schema names a text encoder
FORMAT = "fedads-catalog/1"


class CatalogError(ValueError):
    pass


def index_column(name: str) -> str:
    return f"{name}__index"


def content_sha256(file_hashes: dict[str, str], schema: CatalogSchema, encoder: dict | None = None) -> str:
    h = hashlib.sha256(FORMAT.encode())
    for name in sorted(file_hashes):
        h.update(f"\n{name}:{file_hashes[name]}".encode())
    h.update(b"\nschema:" + json.dumps(schema.to_dict(), sort_keys=True).encode())
    if encoder:
        h.update(b"\nencoder:" + json.dumps(encoder, sort_keys=True).encode())
    return h.hexdigest()


def catalog_files(manifest: dict) -> tuple[str, ...]:
    return tuple(sorted(manifest.get("files", {}))) or FILES


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Catalog:
    """One immutable catalogue version. Ad index = row + 1; `vocab[f]` lists feature f's values from index 2."""

    def __init__(self, manifest: dict, ads: pa.Table, vocab: dict[str, list[str]], root: Path | None = None,
                 semantic: np.ndarray | None = None):
        self.manifest, self.ads, self.vocab, self.root = manifest, ads, vocab, root
        self.schema = CatalogSchema.from_dict(manifest["schema"])
        self._id_lookup: dict[str, int] | None = None
        self._semantic = semantic

    @property
    def semantic(self) -> np.ndarray | None:
        """(n_ads + 1, dim) float32 text vectors by ad index (row 0: padding, zeros), or None."""
        if self._semantic is None and self.root is not None and (self.root / SEMANTIC).exists():
            col = pq.read_table(self.root / SEMANTIC).column("vector").combine_chunks()
            dim = col.type.list_size
            flat = col.values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
            self._semantic = np.concatenate([np.zeros((1, dim), np.float32), flat])
        return self._semantic

    @property
    def text_encoder(self) -> dict | None:
        return self.manifest.get("text_encoder")

    # --- identity ---
    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def n_ads(self) -> int:
        return self.ads.num_rows

    def ref(self) -> dict:
        """What a model manifest records of the catalogue it was trained with."""
        return {"version": self.version, "sha256": self.sha256}

    def vocab_size(self, feature: str) -> int:
        """Embedding rows a table for this feature needs: padding, unknown and every value."""
        return len(self.vocab[feature]) + 2

    # --- lookups ---
    def ad_indices(self, ad_ids) -> np.ndarray:
        """Bulk: the index (1..n_ads) of each ad id string, 0 where the catalogue does not hold it."""
        ad_ids = ad_ids if isinstance(ad_ids, (pa.Array, pa.ChunkedArray)) else pa.array(ad_ids, pa.string())
        pos = pc.index_in(ad_ids, value_set=self.ads.column(ID_COLUMN).combine_chunks())
        return pc.fill_null(pc.add(pos, 1), 0).to_numpy(zero_copy_only=False).astype(np.int64)

    def lookup(self) -> dict[str, int]:
        """ad id → index as a dict, for per-request use (serving): built once per catalogue."""
        if self._id_lookup is None:
            ids = self.ads.column(ID_COLUMN).to_pylist()
            self._id_lookup = {a: i + 1 for i, a in enumerate(ids)}
        return self._id_lookup

    def ad_ids(self) -> list[str]:
        return self.ads.column(ID_COLUMN).to_pylist()

    def feature_codes(self, name: str) -> np.ndarray:
        """(n_ads + 1,) int64 codes of a single-valued categorical feature per ad index (row 0: padding)."""
        col = self.ads.column(index_column(name)).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.concatenate([[0], col])

    # --- disk ---
    @classmethod
    def load(cls, root: str | os.PathLike) -> "Catalog":
        root = Path(root)
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except FileNotFoundError as exc:
            raise CatalogError(f"{root} holds no catalogue ({MANIFEST} is missing)") from exc
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{root / MANIFEST} is not valid JSON: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise CatalogError(f"{root}: not a {FORMAT} catalogue (format {manifest.get('format')!r})")
        hashes = {}
        files = catalog_files(manifest)
        if set(FILES) - set(files) or set(files) - {*FILES, SEMANTIC}:
            raise CatalogError(f"catalogue {root}: unexpected file list {list(files)}")
        for name in files:
            path = root / name
            if not path.exists():
                raise CatalogError(f"catalogue {root}: {name} is missing")
            hashes[name] = file_sha256(path)
            if hashes[name] != manifest["files"][name]["sha256"]:
                raise CatalogError(f"catalogue {root}: {name} does not match its sha256 in {MANIFEST}")
        try:
            schema = CatalogSchema.from_dict(manifest["schema"])
        except SchemaError as exc:
            raise CatalogError(f"catalogue {root}: {exc}") from exc
        if content_sha256(hashes, schema, manifest.get("text_encoder")) != manifest["sha256"]:
            raise CatalogError(f"catalogue {root}: content does not match the manifest's sha256")
        ads = pq.read_table(root / ADS)
        vt = pq.read_table(root / VOCAB)
        vocab: dict[str, list[str]] = {f.name: [] for f in schema.of_kind("categorical")}
        # Written grouped by feature in index order (Catalog.write); anything else is a damaged file.
        for feat, value, index in zip(vt.column("feature").to_pylist(), vt.column("value").to_pylist(),
                                      vt.column("index").to_pylist()):
            if feat not in vocab or index != len(vocab[feat]) + 2:
                raise CatalogError(f"catalogue {root}: {VOCAB} is out of order at {feat!r} index {index}")
            vocab[feat].append(value)
        if ads.num_rows != manifest["n_ads"]:
            raise CatalogError(f"catalogue {root}: {ads.num_rows} ads but the manifest says {manifest['n_ads']}")
        return cls(manifest, ads, vocab, root)

    def write(self, root: str | os.PathLike) -> "Catalog":
        """Write into an empty or missing folder; fills in file hashes and the content sha256."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        if any((root / n).exists() for n in (*FILES, SEMANTIC, MANIFEST)):
            raise CatalogError(f"{root} already holds a catalogue; write a new version into a new folder")
        pq.write_table(self.ads, root / ADS)
        feats, values, idx = [], [], []
        for name, vals in self.vocab.items():
            feats += [name] * len(vals)
            values += vals
            idx += list(range(2, len(vals) + 2))
        pq.write_table(pa.table({"feature": pa.array(feats, pa.string()), "value": pa.array(values, pa.string()),
                                 "index": pa.array(idx, pa.int32())}), root / VOCAB)
        names = FILES
        if self._semantic is not None:
            vectors = np.ascontiguousarray(self._semantic[1:], dtype=np.float32)
            if len(vectors) != self.n_ads:
                raise CatalogError(f"{len(vectors)} text vectors for {self.n_ads} ads")
            flat = pa.array(vectors.reshape(-1))
            pq.write_table(pa.table({"vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])}),
                           root / SEMANTIC)
            names = (*FILES, SEMANTIC)
        hashes = {n: file_sha256(root / n) for n in names}
        manifest = dict(self.manifest)
        manifest.update(format=FORMAT, files={n: {"sha256": hashes[n], "bytes": (root / n).stat().st_size}
                                              for n in names},
                        sha256=content_sha256(hashes, self.schema, manifest.get("text_encoder")), n_ads=self.n_ads,
                        vocab_sizes={f: self.vocab_size(f) for f in self.vocab},
                        created_at=manifest.get("created_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        tmp = root / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        tmp.replace(root / MANIFEST)
        self.manifest, self.root = manifest, root
        return self

    def summary(self) -> dict:
        m = self.manifest
        return {"version": m["version"], "parent_version": m.get("parent_version", 0), "sha256": m["sha256"],
                "n_ads": m["n_ads"], "vocab_sizes": m.get("vocab_sizes", {}),
                "features": [f"{f.name}:{f.kind}" for f in self.schema.features], "created_at": m.get("created_at"),
                "text_encoder": m.get("text_encoder")}
