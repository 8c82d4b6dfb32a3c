# zcq build. Plain make: `make` builds ./zcq (release, gcc by default).
#   make CC=clang            the same with clang (objects go to their own directory)
#   make check               unit tests under ASan + UBSan, then the CLI tests
#   make BUILD=asan zcq      a sanitizer build of the binary
# Every object goes under build/<compiler>-<variant>/, so gcc, clang, release and asan builds
# never mix.

CC      ?= cc
BUILD   ?= release
CCNAME  := $(notdir $(firstword $(CC)))
O       := build/$(CCNAME)-$(BUILD)

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GITREV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Werror
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g -Isrc $(WARN) \
                 -DZCQ_VERSION='"$(VERSION)"' -DZCQ_GITREV='"$(GITREV)"'
ifeq ($(BUILD),asan)
  CFLAGS_VARIANT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                    -fno-sanitize-recover=all
  LDFLAGS_VARIANT := -fsanitize=address,undefined
else ifeq ($(BUILD),release)
  CFLAGS_VARIANT := -O2
else
  $(error BUILD must be release or asan)
endif

# Quiet by default; `make V=1` shows every command.
ifeq ($(V),1)
  Q :=
  SAY := @true
else
  Q := @
  SAY := @printf '  %-6s %s\n'
endif

ALL_CFLAGS  := $(CFLAGS_COMMON) $(CFLAGS_VARIANT) $(CFLAGS)
ALL_LDFLAGS := $(LDFLAGS_VARIANT) $(LDFLAGS)
LIBS        := -luring -lxxhash -lisal -lrdkafka -lpthread -lm

# Everything but the CLI entry point is library code the tests link against.
SRC_ALL  := $(sort $(wildcard src/*/*.c))
SRC_MAIN := src/cli/main.c
SRC_LIB  := $(filter-out $(SRC_MAIN),$(SRC_ALL))
OBJ_LIB  := $(SRC_LIB:%.c=$(O)/%.o)
OBJ_MAIN := $(SRC_MAIN:%.c=$(O)/%.o)

TEST_SRC := $(sort $(wildcard tests/unit/*_test.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(O)/tests/%)
TEST_HARNESS := $(O)/tests/harness.o

BENCH_BIN := $(O)/bench/xfer_ref $(O)/bench/store_bench $(O)/bench/bare_ref $(O)/bench/commit_bench \
             $(O)/bench/loop_bench

# Fuzz targets: tests/fuzz/<name>_fuzz.c. The test build links each with a replay driver (no
# libFuzzer needed, so gcc ASan builds it) to run its corpus, tests/fuzz/corpus/<name>/;
# `make fuzz` builds the real libFuzzer binaries with clang.
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/*_fuzz.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%_fuzz.c=$(O)/tests/fuzz/%_replay)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%_fuzz.c=build/fuzz/%_fuzz)

.PHONY: all zcq tests bench check clean format format-check fuzz

all: zcq

zcq: $(O)/zcq
	@cp $(O)/zcq ./zcq.tmp && mv -f ./zcq.tmp ./zcq

$(O)/zcq: $(OBJ_LIB) $(OBJ_MAIN)
	$(SAY) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(SAY) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(TEST_HARNESS): tests/harness.c tests/harness.h
	@mkdir -p $(dir $@)
	$(SAY) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -MMD -MP -c -o $@ $<

$(O)/tests/%: tests/unit/%.c $(TEST_HARNESS) $(OBJ_LIB)
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -MMD -MP -MF $@.d $(ALL_LDFLAGS) -o $@ $< $(TEST_HARNESS) \
		$(OBJ_LIB) $(LIBS)

$(O)/tests/fuzz/%_replay: tests/fuzz/%_fuzz.c tests/fuzz/replay.c $(OBJ_LIB)
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/fuzz/replay.c $< $(OBJ_LIB) $(LIBS)

# Integration test programs (tests/integration/*.c, run by their .sh scripts) use librdkafka
# against a running broker; they link no zcq code.
ITEST_SRC := $(sort $(wildcard tests/integration/*.c))
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(O)/tests/%)

$(O)/tests/%: tests/integration/%.c
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -MF $@.d $(ALL_LDFLAGS) -o $@ $< -lrdkafka -lpthread

tests: $(TEST_BIN) $(FUZZ_REPLAY) $(ITEST_BIN)

build/fuzz/%_fuzz: tests/fuzz/%_fuzz.c $(SRC_LIB)
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)clang $(CFLAGS_COMMON) -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $< $(SRC_LIB) $(LIBS)

# Fuzz each target for FUZZ_SECONDS (default 60) from a scratch copy of its corpus.
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f _fuzz); mkdir -p build/fuzz/work-$$n; \
		$$f -max_total_time=$${FUZZ_SECONDS:-60} -max_len=65536 build/fuzz/work-$$n \
		tests/fuzz/corpus/$$n || exit 1; done

# The storage benchmark measures the library itself, so it links it (and tests/batchgen.h).
$(O)/bench/store_bench: bench/store_bench.c tests/batchgen.h $(OBJ_LIB)
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(ALL_LDFLAGS) -o $@ $< $(OBJ_LIB) $(LIBS)

# The reference program is deliberately independent of zcq's code.
$(O)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -lxxhash -lpthread -luring

bench: $(BENCH_BIN)

check:
	$(MAKE) BUILD=asan tests
	tests/run.sh build/$(CCNAME)-asan/tests

FORMAT_FILES := $(SRC_ALL) $(wildcard src/*/*.h) $(wildcard tests/*.c tests/*.h tests/unit/*.c \
		tests/fuzz/*.c tests/integration/*.c bench/*.c)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build zcq

-include $(shell find build -name '*.d' 2>/dev/null)
