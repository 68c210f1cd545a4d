"""The parts of benchmarks/benchmark.py, a module each: speed, profile, memory, whole_run, quality and
video, each with the worker that measures in a fresh process, the part that runs it and the markdown
it writes; ours (the program's run and step as the parts drive them), baseline (TensorFlow's tutorial
and the convolutions alone), report (what a section says of the machine and the code measured) and
machine (the CPU's name and model, which speed_benchmark.py reports too)."""
