"""Open-loop evaluation (``evodrive eval``): predictions files, ground truth, metrics tables, BEV plots."""
