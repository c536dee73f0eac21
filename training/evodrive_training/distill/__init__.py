"""EvoDriveVLA distillation: oracle teacher, refinement, MC-dropout, AnchorFormer, losses (METHOD §2–§4)."""
