/* bench/measure: what the benchmarks share: clocks, a process's CPU over all
 * its threads, and latency summaries. */
#ifndef AB_BENCH_MEASURE_H
#define AB_BENCH_MEASURE_H

#include <stdint.h>
#include <sys/types.h>

struct result {
	const char *name;
	double mean_us, p50_us, p90_us, p99_us, max_us, cpu_us;	/* cpu_us < 0: not measured */
};

/* What a process wrote to storage (/proc/PID/io write_bytes). */
long long io_write_bytes(pid_t pid);

/* Counts a process's fsync and fdatasync calls with `perf stat` on the
 * kernel's syscall tracepoints; n/a (-1) where perf cannot. */
struct sync_counter {
	pid_t perf;		/* 0: not counting */
	char dir[64];
};
void sync_count_start(struct sync_counter *c, pid_t target);
/* The calls since the start, or -1. */
long sync_count_stop(struct sync_counter *c);

int64_t now_ns(void);
/* CPU time of every thread of `pid`, in ns (from schedstat). */
int64_t cpu_ns(pid_t pid);
/* Sorts `lat` (ns) and fills `r`; `cpu` ns over the n items, or -1. */
void summarise(struct result *r, int64_t *lat, int n, int64_t cpu);
/* Exits with a message when `p` is NULL. */
void need(void *p, const char *what);

#endif
