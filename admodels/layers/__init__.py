"""Reusable layers: positions, the multifaceted FFN, the Transformer encoder, DIN attention."""
