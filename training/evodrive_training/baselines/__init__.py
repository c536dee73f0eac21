"""Honest open-loop baselines that write predictions files: kinematic models and an ego-status MLP."""
