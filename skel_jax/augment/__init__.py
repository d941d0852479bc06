"""Device-side augmentations: pure per-example ops, the string registry and SkeleMix."""
