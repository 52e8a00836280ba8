"""sagefleet's benchmarks (make bench): docs/performance.md."""
