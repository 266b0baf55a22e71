"""The shared ad catalogue: ad ids (strings) and their declared features, versioned and append-only.

An ad's index is its row in the catalogue plus one (0 is padding); a categorical feature's vocabulary
maps raw strings to indices with 0 for padding and 1 for unknown. Indices never move between versions,
so a model trained on version N keeps working on N+1 (its tables grow, see `growth`).
"""
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.catalog.schema import CatalogSchema, FeatureSpec

__all__ = ["Catalog", "CatalogError", "CatalogSchema", "FeatureSpec"]
