# The two commands of the README: `make demo` and `make test`. Both install what is missing first.
PRESET ?= default
BUILD_DIR := build/$(PRESET)

.PHONY: deps configure build test demo format format-check bench clean

deps:
	@bash tools/bootstrap.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET)

test: build format-check
	@ctest --preset $(PRESET)

demo: build
	@bash tools/demo.sh $(BUILD_DIR)

bench: build
	@bash bench/run.sh $(BUILD_DIR)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')

format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.h' '*.cc') && echo "format: ok"

clean:
	rm -rf build
