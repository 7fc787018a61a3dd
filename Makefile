# airgap-agent: see README.md.  "make demo" and "make check" install
# the Debian packages they need (scripts/deps), then build.

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
SHAREDIR ?= $(PREFIX)/share/airgap-agent
MANDIR ?= $(PREFIX)/share/man
RULESDIR ?= /etc/udev/rules.d
UNITDIR ?= /etc/systemd/system
MODULESLOADDIR ?= /etc/modules-load.d
CC ?= cc
PKGS = libudev blkid libzstd gpgme libconfig libgcrypt
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -D_FORTIFY_SOURCE=2 -fstack-protector-strong
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS += $(PKG_LIBS) -lpthread

SRCS = agent/log.c agent/util.c agent/config.c agent/child.c agent/state.c agent/lock.c \
	agent/queue.c agent/chunk.c agent/zstream.c agent/hash.c agent/zwalk.c agent/zfs.c agent/decompress.c \
	agent/gpg.c agent/relay.c agent/pipeline.c agent/report.c agent/ledger.c agent/verified.c agent/ingest.c agent/verify.c \
	agent/media.c agent/indicator.c agent/nncp.c agent/disk.c agent/stick.c \
	agent/handle.c agent/enqueue.c agent/status.c agent/watch.c \
	agent/restore.c agent/drill.c agent/retention.c agent/receipt.c
OBJS = $(SRCS:.c=.o)
BIN = agent/airgap-agent

UNIT_TESTS = tests/unit/test_queue tests/unit/test_zstream tests/unit/test_config \
	tests/unit/test_ledger tests/unit/test_zwalk tests/unit/test_pipeline \
	tests/unit/test_util tests/unit/test_child tests/unit/test_retention \
	tests/unit/test_chunk

all: $(BIN)

$(BIN): $(OBJS) agent/main.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

agent/%.o: agent/%.c agent/airgap-agent.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

tests/unit/%: tests/unit/%.c tests/unit/unit.h $(OBJS) agent/airgap-agent.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -Iagent $(LDFLAGS) -o $@ $< $(OBJS) $(LDLIBS)

# The unit programs alone, without tests/run (the package build runs them).
check-unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t >/dev/null || { echo "$$t: FAILED"; exit 1; }; done
	@echo "unit: $(words $(UNIT_TESTS)) programs passed"

# Sanitizer builds live under build/: the same sources, other flags.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
ASAN_OBJS = $(SRCS:agent/%.c=build/asan/%.o)
FUZZ_CC = clang
FUZZ_FLAGS = -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
FUZZ_OBJS = $(SRCS:agent/%.c=build/fuzz/%.o)
FUZZERS = queue_name zstream zwalk config ledger retention
FUZZ_SECONDS ?= 10

build/asan/%.o: agent/%.c agent/airgap-agent.h
	@mkdir -p build/asan
	$(CC) -std=gnu11 -Wall -Wextra -Werror $(ASAN_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

build/asan/airgap-agent: $(ASAN_OBJS) build/asan/main.o
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

build/asan/unit/%: tests/unit/%.c tests/unit/unit.h $(ASAN_OBJS)
	@mkdir -p build/asan/unit
	$(CC) -std=gnu11 $(ASAN_FLAGS) $(PKG_CFLAGS) -Iagent -o $@ $< $(ASAN_OBJS) $(LDLIBS)

build/fuzz/%.o: agent/%.c agent/airgap-agent.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) -std=gnu11 -Wall -Wextra -Werror $(FUZZ_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined \
		$(PKG_CFLAGS) -Iagent -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

# Each fuzzer runs FUZZ_SECONDS from the seed corpus (copied, so the
# repository's corpus stays as it is).  "make fuzz" runs ten minutes each.
fuzz-run: $(FUZZERS:%=build/fuzz/fuzz_%)
	@for f in $(FUZZERS); do \
		d=build/fuzz/corpus-$$f; mkdir -p $$d; cp -n tests/fuzz/corpus/$$f/* $$d/; \
		build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=1024 -artifact_prefix=build/fuzz/$$f- $$d >build/fuzz/$$f.log 2>&1 \
			&& echo "fuzz $$f: $(FUZZ_SECONDS) s, no crash" \
			|| { echo "fuzz $$f: FAILED (build/fuzz/$$f.log)"; tail -30 build/fuzz/$$f.log; exit 1; }; \
	done

fuzz:
	$(MAKE) fuzz-run FUZZ_SECONDS=600

# The suite against the sanitizer build: every scenario, or those whose
# names contain one of ASAN_TESTS (.ci/run picks the unit programs and the
# scenarios that drive the most C: ingest, handle, restore, retention,
# receipts, chunks).
ASAN_TESTS =
check-asan: deps
	$(MAKE) all build/asan/airgap-agent $(UNIT_TESTS:tests/unit/%=build/asan/unit/%)
	AIRGAP_AGENT=$(CURDIR)/build/asan/airgap-agent UNIT_DIR=$(CURDIR)/build/asan/unit \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 tests/run $(ASAN_TESTS)

# The unit programs under valgrind memcheck: any error fails.
check-valgrind: deps
	$(MAKE) all $(UNIT_TESTS)
	UNIT_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite" tests/run unit/

# The kill -9 storm: 100 kills of the agent mid-receive.  Not in make
# check: under such a storm zfs-fuse's FUSE side has been seen to hang,
# which would stall every scenario after it.  Then all of the guest
# suite's pulls and 24 power cuts (make check runs a share of them).
check-stress: deps
	$(MAKE) all
	LF_KILLS=100 bash tests/t51-fault-kill-agent.sh
	-bash tests/stress/t58-hostile-mountpoint-escape.sh
	$(MAKE) deb
	VM_STRESS=1 VM_TIMEOUT=9000 tests/vm/run v04 v05

CPPCHECK_FLAGS = --quiet --error-exitcode=1 --enable=warning,performance,portability \
	--std=c11 --inline-suppr --suppress=missingIncludeSystem -Iagent

lint:
	cppcheck $(CPPCHECK_FLAGS) agent/*.c
	clang-tidy --quiet agent/*.c -- -std=gnu11 $(PKG_CFLAGS) 2>/dev/null
	shellcheck scripts/* tests/run tests/*.sh tests/lab/*.sh tests/stress/*.sh \
		tests/vm/run tests/vm/image tests/vm/*.sh
	@echo "lint: no findings"

deps:
	scripts/deps

check: deps
	$(MAKE) all $(UNIT_TESTS)
	$(MAKE) fuzz-run
	$(MAKE) check-deb
	tests/run
	$(MAKE) check-vm

# The guest suite (tests/vm/): OpenZFS, USB media plugged and pulled, the
# PC speaker and a keyboard LED, in throwaway QEMU guests.  Where QEMU
# cannot run it says so in a banner and succeeds.  The first run builds
# the guest image (minutes; cached in /var/cache/airgap-agent-tests/vm).
check-vm: deps
	tests/vm/run

# The Debian packages, built from a fresh copy of the committed tree
# (scripts/deb); they land in build/deb/.
deb: deps
	scripts/deb

# Build the packages, run lintian, install them into a throwaway Debian 12
# root and purge them again (tests/deb-install.sh).
check-deb: deps
	tests/deb-install.sh

demo: deps
	$(MAKE) all
	scripts/demo

bench: deps
	$(MAKE) all
	scripts/bench

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(RULESDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SHAREDIR) $(DESTDIR)$(MODULESLOADDIR)
	install -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/airgap-agent
	install -m 644 udev-rules/90-airgap-agent.rules $(DESTDIR)$(RULESDIR)/
	for u in airgap-agent.service airgap-agent@.service; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' config/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 644 config/airgap-agent.conf $(DESTDIR)$(SHAREDIR)/airgap-agent.conf.example
	install -m 644 config/airgap-agent.modules-load \
		$(DESTDIR)$(MODULESLOADDIR)/airgap-agent.conf
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(PREFIX)/bin
	install -m 644 docs/airgap-agent.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 docs/airgap-agent.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 755 scripts/airgap-queue scripts/airgap-fanout scripts/airgap-receipt scripts/airgap-reap $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 644 docs/airgap-queue.1 docs/airgap-fanout.1 docs/airgap-reap.1 docs/airgap-receipt.1 $(DESTDIR)$(MANDIR)/man1/

clean:
	rm -f $(OBJS) agent/main.o $(BIN) $(UNIT_TESTS)
	rm -rf build

.PHONY: all deps check check-vm check-asan check-valgrind check-stress check-unit \
	check-deb lint demo bench install deb clean \
	fuzz fuzz-run
