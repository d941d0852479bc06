"""Evaluation protocols: features, linear, KNN, fine-tune, semi-supervised, fusion, plots."""
