# Thin wrappers; scripts/setup.sh does the set-up and is safe to run again.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup book test lint gpu bench clean

setup:
	@bash scripts/setup.sh

book: setup  ## build the HTML book into _build/html (executes the notebooks, with a cache)
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going .

test: setup  ## unit tests, every notebook (nbval), and the built book in a headless browser
	$(VENV)/bin/ruff check dlbook tests benchmarks
	@# one thread per worker: two workers share the two cores without oversubscription
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/ruff check dlbook tests benchmarks

gpu: setup  ## every notebook at full scale; per-chapter time and metrics in benchmarks/results/
	DLBOOK_SCALE=full $(PY) benchmarks/run_chapters.py

bench: setup
	$(PY) benchmarks/engine_vs_torch.py

clean:
	rm -rf _build
