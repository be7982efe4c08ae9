"""The diskcache peer of store-bench, run as `python3 -c <this file>`.

Speaks the line protocol of peers/denokv/src/main.rs on stdin and stdout: `open`, `fill`,
`run` (one latency in nanoseconds per operation) and `close`. Keys are `(group, key)`
tuples, values 100-byte `bytes`; the key scheme is store-bench's (src/keys.rs). diskcache
keeps values this small in its SQLite file (WAL); `synchronous` follows the durability
(FULL = 2, NORMAL = 1, diskcache's own default). It has no in-memory mode.
"""

import sys
import time

import diskcache

PERMUTATION_MULTIPLIER = 1_000_003
VALUE = b"value-" + b"x" * 94


def permuted(index, keys):
    if keys == 0 or keys % PERMUTATION_MULTIPLIER == 0:
        return index
    return (index % keys) * PERMUTATION_MULTIPLIER % keys


def group_name(index, groups):
    return "group-%04d" % (index % max(groups, 1))


class Peer:
    def __init__(self):
        self.cache = None

    def open(self, durability, path):
        synchronous = {"full": 2, "normal": 1}[durability]
        self.cache = diskcache.Cache(path, sqlite_synchronous=synchronous)
        return []

    def fill(self, keys, groups):
        with self.cache.transact():
            for index in range(keys):
                self.cache.set((group_name(index, groups), "key-%08d" % index), VALUE)
        return []

    def run(self, operation, keys, groups, start, end):
        names = []
        for op in range(start, end):
            index = permuted(op, keys)
            prefix = "missing-" if operation == "get_miss" else "key-"
            names.append((group_name(index, groups), "%s%08d" % (prefix, index)))
        cache = self.cache
        clock = time.perf_counter_ns
        latencies = []
        last = clock()
        for name in names:
            if operation == "set":
                cache.set(name, VALUE)
            elif operation == "delete":
                cache.delete(name)
            elif operation == "get_hit":
                if cache.get(name) is None:
                    raise KeyError("key %r is missing" % (name,))
            elif operation == "get_miss":
                if cache.get(name) is not None:
                    raise KeyError("key %r was found" % (name,))
            else:
                raise ValueError("unknown operation %r" % operation)
            now = clock()
            latencies.append(now - last)
            last = now
        return latencies

    def close(self):
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        return []

    def handle(self, line):
        words = line.split()
        command = words[0] if words else ""
        if command == "open":
            _, durability, path = line.split(" ", 2)
            return self.open(durability, path)
        if command == "fill":
            return self.fill(int(words[1]), int(words[2]))
        if command == "run":
            return self.run(words[1], *(int(word) for word in words[2:6]))
        if command == "close":
            return self.close()
        raise ValueError("unknown command %r" % command)


def main():
    peer = Peer()
    for line in sys.stdin:
        try:
            numbers = peer.handle(line.rstrip("\n"))
            reply = " ".join(["ok"] + [str(number) for number in numbers])
        except Exception as error:  # every failure is reported to store-bench
            reply = "err " + str(error).replace("\n", " ")
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()
    peer.close()


main()
