"""Ad text in the shared semantic space: the packaged sentence model, recorded in the catalogue, never mixed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from fedads.catalog.build import build_catalog
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.catalog.text_encoder import PACKAGED, SentenceEncoder, packaged_model_dir

SCHEMA = CatalogSchema((FeatureSpec("genres", "categorical", "|"), FeatureSpec("title", "text")),
                       text_encoder=PACKAGED, text_fields=("title", "genres"))


def feed(rows):
    return pa.table({"ad_id": [r[0] for r in rows], "genres": [r[1] for r in rows], "title": [r[2] for r in rows]})


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder()


def test_the_packaged_encoder_loads_offline_and_is_deterministic(encoder, monkeypatch):
    assert encoder.folder == packaged_model_dir() and (encoder.folder / "config.json").exists()
    assert encoder.dim == 384 and len(encoder.sha256) == 64
    texts = ["Toy Story (1995) | Animation, Children's, Comedy", "Heat (1995) | Action, Crime, Thriller"]
    a, b = encoder.encode(texts), encoder.encode(texts)
    assert np.array_equal(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    near = encoder.encode(["Toy Story 2 (1999) | Animation, Children's, Comedy"])[0]
    assert near @ a[0] > near @ a[1] + 0.1  # a sequel sits nearer its original than an unrelated thriller


def test_catalogues_store_vectors_and_their_encoder_and_refuse_to_mix(tmp_path, encoder):
    rows = [("1", "Animation|Comedy", "Toy Story (1995)"), ("2", "Action|Crime", "Heat (1995)")]
    v1 = build_catalog(feed(rows), SCHEMA, encoder=encoder).write(tmp_path / "v1")
    back = Catalog.load(tmp_path / "v1")
    assert back.text_encoder == {"name": PACKAGED, "sha256": encoder.sha256, "dim": 384}
    assert back.semantic.shape == (3, 384) and not back.semantic[0].any()
    # (a batch of one pads differently from a batch of two: equal up to float rounding)
    np.testing.assert_allclose(back.semantic[1], encoder.encode(["Toy Story (1995) | Animation, Comedy"])[0], atol=1e-5)
    # Growth keeps the vectors of unchanged ads and embeds new or changed ones.
    grown = build_catalog(feed([("2", "Action|Crime", "Heat (1995)"), ("3", "Comedy", "Clueless (1995)")]), SCHEMA,
                          parent=back, encoder=encoder).write(tmp_path / "v2")
    assert np.array_equal(grown.semantic[:3], back.semantic)
    np.testing.assert_allclose(grown.semantic[3], encoder.encode(["Clueless (1995) | Comedy"])[0], atol=1e-5)
    # The same model files with one byte changed are another encoder: the chain refuses it.
    other_dir = tmp_path / "other-model"
    shutil.copytree(encoder.folder, other_dir)
    (other_dir / "README.md").write_text("a different encoder\n")
    other = SentenceEncoder(path=other_dir)
    assert other.sha256 != encoder.sha256
    with pytest.raises(CatalogError, match="never mixes encoders"):
        build_catalog(feed(rows), SCHEMA, parent=back, encoder=other)
    with pytest.raises(CatalogError, match="pass a text encoder"):
        build_catalog(feed(rows), SCHEMA)
    # Changed vectors are caught by the content hash.
    (tmp_path / "v1" / "semantic.parquet").write_bytes((tmp_path / "v2" / "semantic.parquet").read_bytes())
    with pytest.raises(CatalogError, match="semantic.parquet does not match"):
        Catalog.load(tmp_path / "v1")
    assert v1.sha256 != grown.sha256


def test_catalog_cli_embeds_text_when_the_schema_names_an_encoder(tmp_path):
    (tmp_path / "ads.csv").write_text("ad_id,genres,title\n1,Comedy,Clueless (1995)\n2,Drama,Heat (1995)\n")
    (tmp_path / "catalog.toml").write_text(SCHEMA.to_toml())
    res = subprocess.run([sys.executable, "-m", "fedads.catalog.cli", "build", "--ads", str(tmp_path / "ads.csv"),
                          "--schema", str(tmp_path / "catalog.toml"), "--out", str(tmp_path / "c"), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # JSON only on stdout: the model package's banner is kept out of it
    assert out["text_encoder"]["name"] == PACKAGED and Catalog.load(tmp_path / "c").semantic.shape == (3, 384)
