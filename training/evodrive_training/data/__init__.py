"""Driving samples from nuScenes-format data (real or synthetic), cached once per split.

Load a cached split with ``evodrive_ros.core.driving_samples.load_split``; build or refresh one with
``evodrive_training.data.cache.build_split`` (or ``evodrive samples``).
"""
