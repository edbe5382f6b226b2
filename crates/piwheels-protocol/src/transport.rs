//! (in progress: transfer state, ranges and transport land in the next commits)
