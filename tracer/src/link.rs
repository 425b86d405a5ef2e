//! The tracer side of the probe link.
