# The two commands of README.md: `make demo` and `make test`.
SWIFT ?= swift
# The toolchain's own llvm-cov reads the profile format its compiler writes.
LLVM_COV ?= $(dir $(realpath $(shell command -v $(SWIFT))))llvm-cov
DEMO_DIR := $(CURDIR)/.demo
DEMO_STATE := $(DEMO_DIR)/state
BIN := .build/debug/hypermesh

.PHONY: sim-long demo demo-mesh test build deps schemas shaders coverage benchmarks deb clean

deps:
	@bash Packaging/install-deps.sh

build: deps
	$(SWIFT) build

# The demo on whatever machine runs it: specs from Examples/demo/ with their paths put inside .demo/, a CA made in
# .demo/state/ca, a small directory to mirror; the pool is sized as shares of this host (half its cores, a quarter
# of its memory). Running it again changes nothing. Examples/workstation/ is a real workstation's set.
demo: build
	@mkdir -p $(DEMO_DIR)/specs $(DEMO_DIR)/files/notes
	@[ -e $(DEMO_DIR)/files/README.txt ] || { echo "Files the demo mirrors: chunked, erasure-coded 4+2, kept on this node." > $(DEMO_DIR)/files/README.txt; \
	  seq 1 20000 > $(DEMO_DIR)/files/notes/numbers.txt; head -c 1048576 /dev/urandom > $(DEMO_DIR)/files/random.bin; }
	@[ -e $(DEMO_STATE)/ca ] || $(BIN) --state-dir $(DEMO_STATE) ca init --name "HyperMesh demo"
	@for spec in Examples/demo/*.yaml; do sed 's|$${DEMO_DIR}|$(DEMO_DIR)|g' $$spec > $(DEMO_DIR)/specs/$$(basename $$spec); done
	$(BIN) --state-dir $(DEMO_STATE) apply -f $(DEMO_DIR)/specs/
	@echo
	$(BIN) --state-dir $(DEMO_STATE) get all
	@echo
	@bash Tools/demo-workload.sh $(BIN) $(DEMO_STATE) $(DEMO_DIR)
	@echo
	@echo "Release what the demo bound with: $(BIN) --state-dir $(DEMO_STATE) delete -f $(DEMO_DIR)/specs/ (then rm -rf .demo)"

# Four agents in network namespaces of their own (root), joined into one mesh: a pool offered on one, claimed
# from another through the ledger; every view shown, then everything removed.
demo-mesh: build
	bash Tools/demo-mesh.sh

# The integration tests run the built binary, so build it before the tests. They run in a process of their
# own: they block on child processes for seconds at a time, and in one process with the unit tests they
# would hold the few threads the unit tests' async code (the reconciler's retries) needs to resume.
test: build
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 2 --skip HyperMeshIntegrationTests
	$(SWIFT) test --skip-build --parallel --num-workers 2 --filter HyperMeshIntegrationTests

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
	$(SWIFT) build -c release --product hypermesh-shim
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
	taskset -c 0 python3 Benchmarks/peers/python_cryptography_issue.py 10000
	taskset -c 0 python3 Benchmarks/peers/pyfastcdc_throughput.py
	taskset -c 0 python3 Benchmarks/peers/zfec_throughput.py

# The long-running consensus simulation, not part of `make test`: many more seeds than the suite runs,
# f = 1 of 4 and f = 2 of 7, with loss, duplication, partitions and crashes. Exits 1 on any violation and
# prints the seed to replay. SEEDS=N to change the count.
SEEDS ?= 20000
sim-long: deps
	$(SWIFT) build -c release --product hypermesh
	.build/release/hypermesh consensus sim --validators 4 --byzantine 1 --seed 1 --seeds $(SEEDS) --ops 100 --drop 0.1 --duplicate 0.05 --partition --crashes --quiet
	.build/release/hypermesh consensus sim --validators 7 --byzantine 2 --seed 1 --seeds $$(( $(SEEDS) / 4 )) --ops 100 --drop 0.1 --duplicate 0.05 --partition --crashes --quiet
	.build/release/hypermesh consensus sim --validators 4 --byzantine 1 --seed 1 --seeds $$(( $(SEEDS) / 4 )) --ops 50 --isolate 0,1 --faults-end 20000 --quiet

clean:
	rm -rf .build .demo Benchmarks/.build
