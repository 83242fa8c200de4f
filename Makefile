# smqtt — secure MQTT toolkit for smart-grid metering.
# make            build bin/smqtt-*
# make demo       install missing Debian packages, build, run the whole system once
# make check      install missing Debian packages, build, run the bats suite, and
#                 the registry tests again with the registry on PostgreSQL
# make sanitize   the same suite against an ASan + UBSan build
# make faults     the fault-injection suite (tests/fault/)
# make memcheck   a full pipeline under valgrind
# make bench      benchmarks against openssl speed and sqlite3 .import, and end to end;
#                 BLS12-381 beside @noble/curves; FAME beside published figures
# make install PREFIX=/usr/local DESTDIR=   programs, pages, completions, the
#                 cron helper (libexec) and the deployment examples (share/doc)
# make deb        the Debian package, in build/deb/ (make deb-test: build, install, purge)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
LIBEXECDIR ?= $(PREFIX)/libexec
DOCDIR ?= $(PREFIX)/share/doc/smqtt
DESTDIR ?=

CC ?= cc
PKG_CONFIG ?= pkg-config
# One program per cmd/smqtt-*.c.
PROGRAMS = $(patsubst cmd/%.c,%,$(wildcard cmd/smqtt-*.c))
MAN1 = $(PROGRAMS:%=man/%.1)
MAN5 = $(wildcard man/*.5)
MAN7 = man/smqtt.7
# The deployment examples. They name the programs and the cron helper where
# the default PREFIX puts them; make install gives them the paths of its own.
EXAMPLE_DIRS = examples/cron examples/systemd examples/mosquitto examples
EXAMPLES = examples/smqtt.yaml examples/cron/smqtt-send-drops.cron \
	examples/systemd/smqtt-sink.service examples/systemd/smqtt-send-drops.service \
	examples/systemd/smqtt-send-drops.timer examples/systemd/smqtt-sink@.service \
	examples/mosquitto/mosquitto.conf examples/mosquitto/edge.conf examples/mosquitto/acl

PKGS = libssl libcrypto sqlite3 libpq libmosquitto yaml-0.1
# Without pkg-config, libpq's headers are where pg_config says.
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null || pg_config --includedir 2>/dev/null | sed 's/^/-I/')
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lsqlite3 -lpq -lmosquitto -lyaml)

WARN = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif

ifeq ($(SANITIZE),1)
BUILD = build/sanitize
BIN = $(BUILD)/bin
OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDOPT = -fsanitize=address,undefined
else
BUILD = build/release
BIN = bin
OPT = -O2 -g -D_FORTIFY_SOURCE=2
LDOPT =
endif

HARDEN = -fstack-protector-strong -fPIE
CPPFLAGS += -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Icommon
CFLAGS += -std=c11 -pthread $(OPT) $(HARDEN) $(WARN) $(PKG_CFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDOPT)

COMMON_SRC = $(wildcard common/*.c common/bls12_381/*.c common/fame/*.c)
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB = $(BUILD)/libsmqtt.a
BINS = $(PROGRAMS:%=$(BIN)/%)

.PHONY: all deps demo check faults sanitize memcheck bench install uninstall clean lint deb deb-test
all: $(BINS) $(BUILD)/tests/bls-driver $(BUILD)/tests/fame-driver

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(BUILD)/cmd/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# Test driver for common/bls12_381 (tests/bls12_381.bats), built with the same
# flags as the programs, so the sanitizer build checks it too.
$(BUILD)/tests/bls-driver: tests/bls/driver.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(LIB) $(PKG_LIBS)

# Test driver for common/fame (tests/fame.bats), built the same way.
$(BUILD)/tests/fame-driver: tests/fame/driver.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(LIB) $(PKG_LIBS)

-include $(COMMON_OBJ:.o=.d) $(PROGRAMS:%=$(BUILD)/cmd/%.d) $(BUILD)/tests/bls-driver.d $(BUILD)/tests/fame-driver.d

# Debian packages the build, the tests and the benchmarks need; installed when missing.
deps:
	@sh tests/deps.sh

# The whole system once, in a new workspace: examples/demo.sh.
demo: deps
	$(MAKE) all
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash examples/demo.sh

# The registry tests, each run on an SQLite file in the suite, run once more
# with the registry on a PostgreSQL server (tests/registry_helper.bash). Both
# runs end with their counts; check fails if either failed.
REGISTRY_TESTS = tests/smqtt-register.bats tests/registry-verify.bats tests/issue-registry.bats \
	tests/shared-registry.bats tests/rollover.bats tests/smqtt-pkg.bats

check: deps
	$(MAKE) all
	@status=0; \
	echo 'SMQTT_BIN="$(CURDIR)/$(BIN)" sh tests/run.sh'; \
	SMQTT_BIN="$(CURDIR)/$(BIN)" sh tests/run.sh || status=1; \
	echo 'SMQTT_BIN="$(CURDIR)/$(BIN)" SMQTT_TEST_REGISTRY=postgresql sh tests/run.sh $(REGISTRY_TESTS)'; \
	SMQTT_BIN="$(CURDIR)/$(BIN)" SMQTT_TEST_REGISTRY=postgresql sh tests/run.sh $(REGISTRY_TESTS) || status=1; \
	exit $$status

sanitize:
	$(MAKE) check SANITIZE=1

# Brokers and pipeline stages killed, a full disk, a locked database, a slow consumer.
faults: deps all
	SMQTT_BIN="$(CURDIR)/$(BIN)" sh tests/run.sh tests/fault

memcheck: deps all
	SMQTT_BIN="$(CURDIR)/$(BIN)" sh tests/memcheck.sh

bench: deps all
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/registry.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/issue.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/mqtt.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/pipeline.sh
	bash tests/bench/bls.sh
	bash tests/bench/fame.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/abe.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/pg.sh
	SMQTT_BIN="$(CURDIR)/$(BIN)" bash tests/bench/ingest.sh

lint:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN5) $(MAN7)

install: all
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man5" \
		"$(DESTDIR)$(MANDIR)/man7" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)" \
		"$(DESTDIR)$(LIBEXECDIR)/smqtt" $(EXAMPLE_DIRS:%="$(DESTDIR)$(DOCDIR)/%")
	install -m 755 $(BINS) "$(DESTDIR)$(BINDIR)"
	install -m 644 $(MAN1) "$(DESTDIR)$(MANDIR)/man1"
	install -m 644 $(MAN5) "$(DESTDIR)$(MANDIR)/man5"
	install -m 644 $(MAN7) "$(DESTDIR)$(MANDIR)/man7"
	for p in $(PROGRAMS); do install -m 644 completions/smqtt.bash "$(DESTDIR)$(BASHCOMPDIR)/$$p"; done
	install -m 644 completions/_smqtt "$(DESTDIR)$(ZSHCOMPDIR)/_smqtt"
	install -m 755 examples/cron/smqtt-send-drops "$(DESTDIR)$(LIBEXECDIR)/smqtt/smqtt-send-drops"
	for f in $(EXAMPLES); do \
		sed -e 's|/usr/local/libexec/|$(LIBEXECDIR)/|g' -e 's|/usr/local/bin|$(BINDIR)|g' \
			-e 's|/usr/local/share/doc/smqtt/|$(DOCDIR)/|g' -e 's|PATH=/usr/bin:/usr/bin:|PATH=/usr/bin:|' \
			"$$f" > "$(DESTDIR)$(DOCDIR)/$$f" && chmod 644 "$(DESTDIR)$(DOCDIR)/$$f" || exit 1; \
	done

uninstall:
	for p in $(PROGRAMS); do rm -f "$(DESTDIR)$(BINDIR)/$$p" "$(DESTDIR)$(MANDIR)/man1/$$p.1" \
		"$(DESTDIR)$(BASHCOMPDIR)/$$p"; done
	rm -f $(MAN5:man/%="$(DESTDIR)$(MANDIR)/man5/%") "$(DESTDIR)$(MANDIR)/man7/smqtt.7" \
		"$(DESTDIR)$(ZSHCOMPDIR)/_smqtt" "$(DESTDIR)$(LIBEXECDIR)/smqtt/smqtt-send-drops" \
		$(EXAMPLES:%="$(DESTDIR)$(DOCDIR)/%")
	for d in "$(DESTDIR)$(LIBEXECDIR)/smqtt" $(EXAMPLE_DIRS:%="$(DESTDIR)$(DOCDIR)/%") "$(DESTDIR)$(DOCDIR)"; do \
		[ ! -d "$$d" ] || rmdir "$$d" 2> /dev/null || true; \
	done

# The Debian package (debian/), built with dpkg-buildpackage from a copy of the
# tree: installs the build dependencies, leaves build/deb/smqtt_VERSION_ARCH.deb.
deb:
	sh tests/deb/build.sh

# Build, lint, install, use and purge the package (root; CI).
deb-test:
	bash tests/deb/test.sh

clean:
	rm -rf build bin

# libFuzzer harnesses for every parser (clang); FUZZ_SECONDS each, seed corpus in tests/fuzz/corpus.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = frame record config manifest bls_point fame_decode abe_record
FUZZ_CC ?= clang
FUZZ_FLAGS = -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(CPPFLAGS) $(PKG_CFLAGS) -pthread
FUZZ_COMMON = common/frame.c common/keys.c common/error.c common/record.c common/config.c common/manifest.c common/devmap.c common/abemsg.c \
	$(wildcard common/bls12_381/*.c common/fame/*.c)

build/fuzz/%: tests/fuzz/%.c $(FUZZ_COMMON) $(wildcard common/*.h common/bls12_381/*.h common/fame/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_COMMON) $(PKG_LIBS)

.PHONY: fuzz
fuzz: deps $(FUZZ_TARGETS:%=build/fuzz/%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t && \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s" && \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4400 -print_final_stats=1 \
			build/fuzz/corpus-$$t tests/fuzz/corpus/$$t 2>build/fuzz/$$t.log || \
			{ tail -n 60 build/fuzz/$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' build/fuzz/$$t.log; \
	done
