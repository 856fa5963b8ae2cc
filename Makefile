# The README's two commands. Both bootstrap first: on a fresh Debian 12
# machine they install what is missing, elsewhere they print one line.
#   make run [ARGS="-h broker -p 1883 ..."]   build and run agentbus
#   make test                                 build twice (plain, sanitizers), run every test
#   make bench                                bench/run: agentbus against the bare broker
JOBS := $(shell nproc)

.PHONY: run test bench build clean

build:
	@scripts/bootstrap
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build --target agentbus -j $(JOBS) -- --no-print-directory

run: build
	@./build/agentbus $(ARGS)

test:
	@scripts/bootstrap
	@scripts/test

bench:
	@bench/run $(ARGS)

clean:
	rm -rf build build-asan
