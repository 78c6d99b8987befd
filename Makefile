# Thin wrappers; scripts/setup.sh does the set-up and is safe to run again.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup book test lint gpu bench clean

setup:
	@bash scripts/setup.sh

book: setup  ## build the HTML book into _build/html (executes the notebooks, with a cache)
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going .

test: setup  ## unit tests, every notebook (nbval), and the built book in a headless browser
	$(VENV)/bin/ruff check dlbook tests benchmarks scripts
	@# one thread per worker: two workers share the two cores without oversubscription
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/ruff check dlbook tests benchmarks scripts

gpu: setup  ## every notebook at full scale on the GPU: benchmarks/results/<date>-<device>.json (time, metrics)
	$(PY) benchmarks/run_chapters.py --scale full

bench: setup  ## the speed ratios the book quotes, in one run: benchmarks/results/ratios-<device>.json
	$(PY) benchmarks/ratios.py
	$(PY) benchmarks/engine_vs_torch.py

clean:
	rm -rf _build
