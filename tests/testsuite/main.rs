//! Integration tests: the real binary against real files and loopback servers.
