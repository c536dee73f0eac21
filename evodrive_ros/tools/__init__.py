"""Offline tools over the runtime: ``evodrive replay`` (rosbag2 through the real node, scored, drawn)
and ``evodrive demo``. They need ``requirements/tools.txt`` (bags, pictures); a vehicle does not.
"""
