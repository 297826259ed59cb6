# The two commands of README.md: `make demo` and `make test`.
SWIFT ?= swift
# The toolchain's own llvm-cov reads the profile format its compiler writes.
LLVM_COV ?= $(dir $(realpath $(shell command -v $(SWIFT))))llvm-cov
DEMO_STATE := $(CURDIR)/.demo/state
BIN := .build/debug/hypermesh

.PHONY: demo test build deps schemas shaders coverage benchmarks deb clean

deps:
	@bash Packaging/install-deps.sh

build: deps
	$(SWIFT) build

demo: build
	@mkdir -p $(DEMO_STATE)
	$(BIN) --state-dir $(DEMO_STATE) apply -f Examples/
	@echo
	$(BIN) --state-dir $(DEMO_STATE) get all

# The integration tests run the built binary, so build it before the tests.
test: build
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 2

# A .deb (dpkg-deb) with a release binary that carries the Swift runtime statically.
deb: deps
	bash Packaging/build-deb.sh --out .build/deb

shaders:
	python3 Tools/generate-shaders.py

schemas: build
	$(BIN) schemas --out Specs

coverage: deps
	$(SWIFT) build
	$(SWIFT) test --enable-code-coverage
	$(LLVM_COV) report .build/debug/hypermeshPackageTests.xctest \
	  -instr-profile=.build/debug/codecov/default.profdata \
	  -ignore-filename-regex='(\.build|Tests)/' > .build/coverage.txt
	@awk '$$1 ~ /\.swift$$/ { split($$1, m, "/"); lines[m[1]] += $$8; missed[m[1]] += $$9 } \
	  /^TOTAL/ { total = $$10 } \
	  END { printf "%-24s %8s %8s\n", "MODULE", "LINES", "COVER"; \
	        for (k in lines) printf "%-24s %8d %7.2f%%\n", k, lines[k], 100 * (lines[k] - missed[k]) / lines[k]; \
	        print "TOTAL lines " total }' .build/coverage.txt

# The peers are measured in the same run: Python cryptography (OpenSSL) issuing P-256 leaves on one core.
benchmarks: deps
	$(SWIFT) build -c release --product hypermesh
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
	taskset -c 0 python3 Benchmarks/peers/python_cryptography_issue.py 10000
	taskset -c 0 python3 Benchmarks/peers/pyfastcdc_throughput.py
	taskset -c 0 python3 Benchmarks/peers/zfec_throughput.py

clean:
	rm -rf .build .demo Benchmarks/.build
