"""Performance benchmarks: `python -m bench.bench_service` measures the ComfyUI service against the fake."""
