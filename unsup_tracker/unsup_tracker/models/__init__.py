"""Network parts shared by several methods (backbones, heads, correlation, DCF)."""
