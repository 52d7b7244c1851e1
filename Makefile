# Two commands on a fresh machine: `make run` and `make test`. Each makes the virtual
# environment and compiles the catalogs first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint catalogs extract update-catalogs bench clean

$(BIN)/diabridge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/diabridge

catalogs: $(BIN)/diabridge
	$(BIN)/pybabel compile -d locales -D messages --statistics

run: catalogs
	$(BIN)/diabridge run

test: catalogs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/diabridge content check
	$(BIN)/python -m pytest -q

lint: $(BIN)/diabridge
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Translation workflow: extract new strings into the template, merge them into hi and ur.
extract: $(BIN)/diabridge
	$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location \
		--sort-output --project diabridge --copyright-holder diabridge \
		-o locales/messages.pot .

update-catalogs: extract
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages \
		--ignore-obsolete

bench: catalogs
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/updates.py

clean:
	rm -rf $(VENV) *.egg-info
	find locales -name '*.mo' -delete
