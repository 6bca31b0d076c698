# The two commands of the README: `make demo` and `make test`. Both install what is missing first.
PRESET ?= default
BUILD_DIR := build/$(PRESET)

.PHONY: deps configure build test demo format format-check bench chaos deb-check clean

deps:
	@bash tools/bootstrap.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET)

test: build format-check
	@ctest --preset $(PRESET)

# Builds only what the demo runs, not every test and benchmark.
demo: configure
	@echo "demo: building baton and the demo probes (a minute or two the first time)"
	@cmake --build --preset $(PRESET) --target baton baton-probe baton-item-probe
	@bash tools/demo.sh $(BUILD_DIR)

bench: build
	@bash bench/run.sh $(BUILD_DIR)

# Fault injection with a safety check (tools/chaos): make chaos [MODE=queue] [DURATION=20m]
# [STORE=sqlite] [SEED=N] [MIN_EACH=N]. MODE=lease (default) runs `baton run` instances on
# SQLite, PostgreSQL and etcd, MODE=queue `baton work` workers on a queue on the two SQL
# stores, one store after the other, unless STORE names one.
MODE ?= lease
DURATION ?= 5m
STORE ?= sqlite postgresql $(if $(filter lease,$(MODE)),etcd)
MIN_EACH ?= 2
chaos: build
	@for store in $(STORE); do \
	  $(BUILD_DIR)/tools/chaos/baton-chaos --mode $(MODE) --store $$store --duration $(DURATION) \
	    $(if $(SEED),--seed $(SEED)) --min-each $(MIN_EACH) || exit 1; \
	done

# The .deb installed with apt-get into a clean Debian 12 root made by debootstrap (needs root
# and Debian's mirror; a few minutes): make deb-check
deb-check: build
	@bash tools/deb_install_check.sh $(BUILD_DIR)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')

format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.h' '*.cc') && echo "format: ok"

clean:
	rm -rf build
