//! Headroom trace records and streaming readers and writers.
