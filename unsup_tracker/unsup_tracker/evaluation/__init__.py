"""OTB-style one-pass evaluation and the development benchmark generator."""
