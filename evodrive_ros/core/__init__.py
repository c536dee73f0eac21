"""ROS-free, torch-free contracts shared by training and inference (numpy only)."""
