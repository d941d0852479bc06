"""Generic training machinery: state, jit'd steps, loop, sharding, checkpoints, logging."""
