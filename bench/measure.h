/* bench/measure: what the benchmarks share: clocks, a process's CPU over all
 * its threads, and latency summaries. */
#ifndef AB_BENCH_MEASURE_H
#define AB_BENCH_MEASURE_H

#include <stdint.h>
#include <sys/types.h>

struct result {
	const char *name;
	double mean_us, p50_us, p99_us, cpu_us;	/* cpu_us < 0: not measured */
};

int64_t now_ns(void);
/* CPU time of every thread of `pid`, in ns (from schedstat). */
int64_t cpu_ns(pid_t pid);
/* Sorts `lat` (ns) and fills `r`; `cpu` ns over the n items, or -1. */
void summarise(struct result *r, int64_t *lat, int n, int64_t cpu);
/* Exits with a message when `p` is NULL. */
void need(void *p, const char *what);

#endif
