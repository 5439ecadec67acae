#!/usr/bin/env python3
# This file contains the generator of the hand-made seed corpus in fuzz/corpus/:
# small inputs, one scenario each, written in the byte encodings the targets
# decode (see the comments of fuzz_api_sequence.cpp, api_ops.h, api_select.cpp,
# fuzz_handle_decode.cpp and fuzz_options.cpp). Run it from anywhere:
#   python3 fuzz/make_seeds.py
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return bytes([v & 0xFF])


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# --- fuzz_api_sequence ---------------------------------------------------------
# Opcodes (fuzz_api_sequence.cpp, OPERATIONS).
ALLOCATE, FREE_BLOCK, FREE_INTERIOR, FREE_GARBAGE, CONVERT, REALLOC = range(6)
CREATE_ALLOCATOR, DESTROY_ALLOCATOR, STALE_CALL = 6, 7, 8
ADVANCE, CLOSE, METADATA, COLLECT_CHECK = 9, 10, 11, 12
DOMAIN_CREATE, DOMAIN_ENTER, DOMAIN_EXIT, DOMAIN_DESTROY, DOMAIN_MISUSE = 13, 14, 15, 16, 17
ARENA_CREATE, ARENA_ALLOC, ARENA_RESET, ARENA_DESTROY, ARENA_STATS, THREAD_ARENA = 18, 19, 20, 21, 22, 23

SLOT0, SLOT1, SLOT2, HOST, NULL_ALLOCATOR = u8(0), u8(1), u8(2), u8(5), u8(7)
CURRENT_EPOCH = u8(0)
API_HANDLE, API_POINTER, API_ALIGNED = 0, 1, 2


def epoch(e):
    return u8(160) + u8(e)


def epoch_out_of_range():
    return u8(162)


def size_small(n):
    return u8(3) + u16(n - 1)


def size_zero():
    return u8(0)


def size_large(extra):
    return u8(10) + u32(extra)


def size_class_boundary(cls, where):
    return u8(6) + u8(cls) + u8(where)


def size_big(log2_above_mib):
    return u8(12) + u8(log2_above_mib)


def size_refused():
    return u8(13) + u8(0)


def align_pow2(log2):
    return u8(5) + u8(log2)


def live_block(i):
    return u16(2 * i)


def any_block(i):
    return u16(2 * i + 1)


def allocate(api, allocator, size, align=b"", at=CURRENT_EPOCH, worker=False):
    v = api | (0xE0 if worker else 0)
    return u8(ALLOCATE) + u8(v) + allocator + size + align + at


def free_block(allocator, block, by_handle=False, worker=False, void_call=False):
    how = (1 if by_handle else 0) | (6 if worker else 0) | (8 if void_call else 0)
    return u8(FREE_BLOCK) + allocator + block + u8(how)


def arena_alloc(arena, size, align_log2):
    # A power-of-two alignment up to a page is followed by a "smaller alignment" flag.
    return u8(ARENA_ALLOC) + u8(arena) + size + align_pow2(align_log2) + u8(0)


def label(text):
    return u8(len(text)) + text


def scenario(first_count_index, *ops):
    return u8(first_count_index) + b"".join(ops)


def api_seeds():
    seeds = {}
    seeds["alloc-free-pointer"] = scenario(
        4,
        allocate(API_POINTER, SLOT0, size_small(24)),
        allocate(API_POINTER, SLOT0, size_zero()),
        allocate(API_POINTER, SLOT0, size_class_boundary(20, 2)),
        allocate(API_POINTER, SLOT0, size_large(5000)),
        allocate(API_POINTER, SLOT0, size_big(4)),
        allocate(API_POINTER, SLOT0, size_refused()),
        free_block(SLOT0, live_block(0)),
        free_block(SLOT0, live_block(1), void_call=True),
        free_block(SLOT0, any_block(0)),  # a double free
        free_block(SLOT0, live_block(0)),
    )
    seeds["alloc-free-handle"] = scenario(
        4,
        allocate(API_HANDLE, SLOT0, size_small(100)),
        allocate(API_HANDLE, SLOT0, size_small(1000)),
        allocate(API_HANDLE, SLOT0, size_zero()),
        allocate(API_HANDLE, SLOT0, size_large(70000)),
        free_block(SLOT0, live_block(0), by_handle=True),
        free_block(SLOT0, any_block(0), by_handle=True),  # a double free
        free_block(SLOT0, live_block(0), by_handle=True),
        free_block(SLOT0, any_block(2), by_handle=True),
    )
    seeds["aligned"] = scenario(
        4,
        allocate(API_ALIGNED, SLOT0, size_small(100), align_pow2(6)),
        allocate(API_ALIGNED, SLOT0, size_small(100), align_pow2(12)),
        allocate(API_ALIGNED, SLOT0, size_small(100), u8(4) + u8(16)),
        allocate(API_ALIGNED, SLOT0, size_small(100), u8(0)),
        allocate(API_ALIGNED, SLOT0, size_small(100), u8(1) + u16(5)),
        allocate(API_ALIGNED, SLOT0, size_small(100), u8(3) + u8(9)),
        free_block(SLOT0, live_block(0)),
        free_block(SLOT0, live_block(0), by_handle=True),
        free_block(SLOT0, live_block(0)),
    )
    seeds["wrong-allocator"] = scenario(
        4,
        u8(CREATE_ALLOCATOR) + u8(1) + u8(0),
        allocate(API_POINTER, SLOT0, size_small(64)),
        allocate(API_HANDLE, SLOT1, size_small(64)),
        free_block(SLOT1, live_block(0)),
        free_block(SLOT0, live_block(1), by_handle=True),
        free_block(NULL_ALLOCATOR, live_block(0)),
        free_block(SLOT0, live_block(0), worker=True),
        free_block(SLOT1, live_block(0), by_handle=True, worker=True),
    )
    seeds["interior-garbage-convert"] = scenario(
        4,
        allocate(API_POINTER, SLOT0, size_small(256)),
        allocate(API_POINTER, SLOT0, size_large(100000)),
        u8(FREE_INTERIOR) + SLOT0 + live_block(0) + u8(3) + u32(17) + u8(0),
        u8(FREE_INTERIOR) + SLOT0 + live_block(1) + u8(3) + u32(4096) + u8(0),
        u8(FREE_INTERIOR) + SLOT0 + live_block(0) + u8(0) + u8(15) + u8(0),
        u8(FREE_GARBAGE) + SLOT0 + u8(0) + u8(2) + live_block(0) + u8(0x10) + u8(0) + u8(0x80),
        u8(FREE_GARBAGE) + SLOT0 + u8(1) + u8(3) + live_block(0) + u8(1),
        u8(FREE_GARBAGE) + SLOT0 + u8(1) + u8(0) + live_block(0) + u64(0x123456789ABCDEF),
        u8(CONVERT) + SLOT0 + u8(1) + live_block(0),
        u8(CONVERT) + SLOT0 + u8(0) + live_block(0) + u8(3) + live_block(0) + u8(8) + u8(2) + live_block(0) + u16(7),
        free_block(SLOT0, live_block(0)),
    )
    seeds["epochs"] = scenario(
        1,
        allocate(API_POINTER, SLOT0, size_small(48)),
        allocate(API_HANDLE, SLOT0, size_small(48), at=epoch(1)),
        u8(ADVANCE) + SLOT0,
        allocate(API_POINTER, SLOT0, size_small(48), at=epoch(0)),  # closing: refused
        free_block(SLOT0, live_block(0)),  # a free into a closing epoch succeeds
        u8(CLOSE) + SLOT0 + u8(0) + epoch(1),
        u8(CLOSE) + SLOT0 + u8(0) + epoch_out_of_range(),
        u8(CLOSE) + SLOT0 + u8(1) + epoch(0) + u8(0),  # a stale era
        u8(CLOSE) + SLOT0 + u8(1) + epoch(1) + u8(5),
        u8(METADATA) + SLOT0 + u8(0) + epoch(0),
        u8(METADATA) + SLOT0 + u8(1) + epoch(0),
        u8(METADATA) + SLOT0 + u8(3) + epoch(1) + label(b"a label longer than thirty-one bytes\xc3\xa9"),
        u8(COLLECT_CHECK) + SLOT0,
        free_block(SLOT0, live_block(0), by_handle=True),
        u8(COLLECT_CHECK) + SLOT0,
    )
    seeds["domains"] = scenario(
        4,
        u8(DOMAIN_CREATE) + SLOT0 + u8(0),
        u8(DOMAIN_CREATE) + SLOT0 + u8(3) + epoch(2),
        u8(DOMAIN_ENTER) + u8(128),
        u8(DOMAIN_ENTER) + u8(129),
        allocate(API_POINTER, SLOT0, size_small(32)),
        u8(DOMAIN_EXIT) + u8(128),  # not the innermost: refused
        u8(DOMAIN_MISUSE) + u8(0) + u8(0),
        u8(DOMAIN_MISUSE) + u8(0) + u8(1),
        u8(DOMAIN_EXIT) + u8(0),
        u8(DOMAIN_DESTROY) + u8(129) + u8(0),
        u8(DOMAIN_DESTROY) + u8(129) + u8(0),  # a second destroy
        u8(DOMAIN_EXIT) + u8(0),
        u8(DOMAIN_DESTROY) + u8(128) + u8(1),  # force close
        u8(DOMAIN_DESTROY) + u8(128) + u8(0),
        u8(DOMAIN_ENTER) + u8(128),  # destroyed: refused
        free_block(SLOT0, live_block(0)),
    )
    seeds["arenas"] = scenario(
        4,
        # host with 4 epochs; zeroing, current epoch; 64 KiB chunks; grow; no buffer
        u8(ARENA_CREATE) + u8(3) + u8(0x09) + u8(2) + u8(1) + u8(7) + u16(0),
        arena_alloc(0, u8(1) + u8(40), 4),
        arena_alloc(0, u8(4) + u16(3000), 6),
        arena_alloc(0, u8(6) + u32(100000), 3),
        arena_alloc(0, u8(7) + u16(0), 3),  # beyond the largest request: refused
        u8(ARENA_STATS) + u8(0) + u8(0),
        u8(ARENA_RESET) + u8(0),
        u8(ARENA_ALLOC) + u8(0) + u8(0) + u8(0),  # alignment 0: refused
        # NULL allocator, zeroing; 1 KiB chunks; error policy; a 2001-byte caller buffer
        u8(ARENA_CREATE) + u8(0xF9) + u8(0) + u8(0) + u8(0) + u16(2000),
        arena_alloc(1, u8(4) + u16(1500), 4),
        arena_alloc(1, u8(4) + u16(1500), 4),  # does not fit: full
        u8(ARENA_RESET) + u8(1),
        u8(ARENA_DESTROY) + u8(0),
        u8(ARENA_DESTROY) + u8(0),  # a second destroy
        u8(ARENA_STATS) + u8(0) + u8(0),
        u8(THREAD_ARENA) + u8(3) + u8(3) + u16(200) + align_pow2(4),
        u8(THREAD_ARENA) + u8(2),
        u8(THREAD_ARENA) + u8(0),
        u8(THREAD_ARENA) + u8(1),
    )
    seeds["realloc"] = scenario(
        4,
        allocate(API_POINTER, SLOT0, size_small(40)),
        u8(REALLOC) + live_block(0) + size_small(400) + CURRENT_EPOCH,
        u8(REALLOC) + live_block(0) + size_large(30000) + CURRENT_EPOCH,
        u8(REALLOC) + live_block(0) + size_small(8) + CURRENT_EPOCH,
    )
    seeds["allocators"] = scenario(
        0,
        u8(CREATE_ALLOCATOR) + u8(1) + u8(8),
        u8(CREATE_ALLOCATOR) + u8(2) + u8(9) + u16(3),  # too many epochs: refused
        allocate(API_HANDLE, SLOT1, size_small(64), at=epoch(200)),
        u8(CREATE_ALLOCATOR) + u8(1) + u8(3),  # re-created: the old one is destroyed
        allocate(API_POINTER, SLOT1, size_small(64)),
        free_block(SLOT0, live_block(0)),
        u8(DESTROY_ALLOCATOR) + u8(1),
    )
    return seeds


# --- fuzz_handle_decode ----------------------------------------------------------
# Each probe: a mode byte, then the mode's arguments (fuzz_handle_decode.cpp).


def handle_seeds():
    return {
        "raw-values": u8(0) + u64(0) + u8(0) + u64(0xFFFFFFFFFFFFFFFF) + u8(0) + u64(0x1000),
        "live-handle-bits": u8(1) + u8(3) + u8(17) + u8(1) + u8(9) + u8(40) + u8(1) + u8(0) + u8(5),
        "live-pointer-deltas": u8(2) + u8(1) + u16(16) + u8(2) + u8(4) + u16(0xFFF0) + u8(2) + u8(0) + u16(1),
        "stale-and-foreign": u8(3) + u8(0) + u8(3) + u8(5) + u8(5) + u8(1) + u16(16) + u8(4) + u8(2) + u16(1),
        "field-swaps": u8(6) + u8(1) + u8(2) + u32(5) + u8(6) + u8(7) + u8(0) + u32(100),
        "masks": u8(7) + u8(2) + u8(12) + u8(1) + u8(7) + u8(9) + u8(4) + u8(0),
        "on-the-worker": u8(0x82) + u8(3) + u16(0) + u8(0x81) + u8(5) + u8(0),
    }


# --- fuzz_options ------------------------------------------------------------------


def options_seeds():
    # Actions (fuzz_options.cpp): 0 bool, 1 size, 2 whole number, 3 set, 4 environment,
    # 5 load and check, 6 reset, 7 echo; bits 3.. choose the option.
    def entry(action, text, option=0):
        return u8(action | (option << 3)) + u8(len(text)) + text

    port, verbose, show, size, zero, overflow, unknown = range(7)
    return {
        "bools": entry(0, b"yes") + entry(0, b"Off") + entry(0, b"2") + entry(0, b""),
        "sizes": entry(1, b"64k") + entry(1, b"1MiB") + entry(1, b"18446744073709551615g") + entry(1, b"4Kb")
        + entry(1, b"1ib"),
        "uints": entry(2, b"65535") + entry(2, b"18446744073709551616") + entry(2, b"007") + entry(2, b"+1"),
        "table-set": entry(3, b"fallback", overflow) + entry(3, b"2g", size) + entry(3, b"65536", port)
        + entry(3, b"on", zero) + entry(3, b"x", unknown) + entry(5, b"")
        + entry(3, b"grow", overflow),
        "environment": entry(4, b"\x1b[31mred", size) + entry(4, b"Fallback", overflow) + entry(4, b"", zero)
        + entry(4, b"9" * 80, port) + entry(5, b"\x10") + entry(6, b"") + entry(4, b"yes", verbose) + entry(5, b""),
        "echo": entry(7, b"plain") + entry(7, b'quote " and \\ backslash') + entry(7, b"\xff\x01" * 30),
    }


# --- fuzz_http_request ----------------------------------------------------------------
MAX_HEAD = 8 * 1024


def http_seeds():
    def exact_size_head(total):
        start = b"GET /metrics HTTP/1.1\r\nX-Pad: "
        end = b"\r\n\r\n"
        return start + b"a" * (total - len(start) - len(end)) + end

    return {
        "metrics": b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "metrics-query": b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n",
        "not-found": b"GET /metricsX HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n",
        "bad-method": b"get /metrics HTTP/1.1\r\n\r\n",
        "post-with-body": b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        "incomplete": b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r",
        "nul-bytes": b"GET /met\x00rics HTTP/1.1\r\n\r\n",
        "exactly-max-head": exact_size_head(MAX_HEAD),
        "one-byte-over-max": exact_size_head(MAX_HEAD + 1),
    }


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("fuzz_api_sequence", api_seeds())
    write("fuzz_handle_decode", handle_seeds())
    write("fuzz_options", options_seeds())
    write("fuzz_http_request", http_seeds())
