# The commands a developer and CI use. `make` alone lists them; CI runs `make test`, as a person
# does. Each target has one `## ` comment, which is what `make help` prints.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
# What shellcheck reads; ruff finds the Python files itself (pyproject.toml).
SHELL_SCRIPTS := scripts/*.sh scripts/k8s/*.sh bench/*.sh tests/k8s/run.sh tests/compose/standins/build.sh .ci/run
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k smoke -x"`.
PYTEST_ARGS ?=

.PHONY: help lock deps promtool venv browser lint stack-start stack-stop stack-status test compose-test k8s-test run demo secrets bench

help: ## List the targets with one line each
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-13s %s\n", $$1, $$2}'

lock: venv ## Re-pin every service's requirements.txt from its requirements.in (pip-compile)
	for service in auth gateway converter notification; do \
		(cd $$service && ../$(VENV)/bin/pip-compile --quiet --no-header --no-emit-find-links \
			--strip-extras --output-file requirements.txt requirements.in) || exit 1; \
	done

deps: ## Install the missing system packages (apt, as root): RabbitMQ, MariaDB, ffmpeg, shellcheck, build headers
	bash scripts/stack.sh deps

promtool: ## Install promtool (Debian's prometheus package, apt, as root) for the alert and dashboard checks
	bash scripts/promtool.sh

venv: deps ## Create .venv from requirements-dev.txt (pip runs again only when requirements change)
	bash scripts/venv.sh

browser: ## Install what the browser tests need: Debian's Chromium (apt, as root) and a pinned axe-core
	bash scripts/browser.sh

# After venv, and so deps: on a fresh machine that is the step that installs shellcheck.
lint: venv ## Check the Python code with ruff and the shell scripts with shellcheck
	$(VENV)/bin/ruff check .
	@command -v shellcheck >/dev/null || \
		{ echo "lint: shellcheck is not installed; 'make deps' (as root) installs it" >&2; exit 1; }
	shellcheck $(SHELL_SCRIPTS)

stack-start: venv ## Start RabbitMQ, MariaDB, MongoDB/FerretDB and the SMTP sink on 127.0.0.1
	bash scripts/stack.sh start

stack-stop: ## Stop the local stack, leaving no process behind (the data stays in .stack/)
	bash scripts/stack.sh stop

stack-status: ## Show which servers of the local stack are running and answering
	bash scripts/stack.sh status

# tests/k8s/test_chart.py is in it (helm lint and the rendered manifests, no cluster); the
# cluster's own tests (tests/k8s/cluster) need a running cluster.
test: lint promtool stack-start browser ## Install what is missing, lint, start the stack and run the whole test suite
	$(VENV)/bin/pytest -q tests --ignore=tests/compose --ignore=tests/k8s/cluster $(PYTEST_ARGS)

compose-test: venv ## Prove `docker compose up` on stand-in images: health, the flow, a crash, a restart
	bash tests/compose/run.sh $(PYTEST_ARGS)

k8s-test: venv ## Install the Helm chart on a single-node cluster built here, and test it there (README: Kubernetes)
	bash tests/k8s/run.sh $(PYTEST_ARGS)

run: ## Run the four services on the local stack (scripts/run.sh)
	bash scripts/run.sh

demo: ## Register, upload a video and fetch its MP3, end to end (scripts/demo.sh)
	bash scripts/demo.sh

secrets: venv ## Write the development secrets into .secrets/ if absent (python -m auth.keygen)
	$(VENV)/bin/python -m auth.keygen .secrets

# MONGODB_URI and AMQP_URL, when given, replace the bench's own MongoDB-protocol server and its
# vhost on the stack's RabbitMQ: `make bench MONGODB_URI=mongodb://127.0.0.1:27017/`.
bench: ## Run the benchmark (bench/run.sh); MONGODB_URI=... and AMQP_URL=... run it against those servers
	bash bench/run.sh $(if $(MONGODB_URI),--mongodb-uri '$(MONGODB_URI)') $(if $(AMQP_URL),--amqp-url '$(AMQP_URL)')
