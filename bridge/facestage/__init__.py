"""The face stage: one frame in, every mapped face swapped out (map faces to targets, prepare the targets,
swap, and build all of it from a profile)."""
