"""Contrastive methods: one module per method with its loss and extra state."""
