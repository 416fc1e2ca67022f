"""Offline training of GG-CNN / MTG-CNN (imports the model definitions from mtg_grasp_ros)."""
