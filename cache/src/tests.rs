//! Unit tests: every algorithm against a literal, slow transcription of
//! libCacheSim's logic, on random request sequences.
