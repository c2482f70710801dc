"""Performance benchmarks of the ComfyUI service (bench_service) and of the whole bot (bench_compare), on the fakes."""
