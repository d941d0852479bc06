"""Import and export of the reference PyTorch checkpoints."""
